// Bounds on JSON from untrusted sources (devices, operators, ZooKeeper,
// stored rows). nlohmann's parser and dump() recurse once per nesting level,
// so a document of 100,000 '[' exhausts a thread's stack: check the nesting
// before parsing, on the text, in one pass that needs no stack.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace picket {

// The deepest nesting picket accepts anywhere (configs, jobs, NDJSON lines).
inline constexpr int kMaxJsonDepth = 32;

// True when no '[' or '{' outside strings nests deeper than max_depth.
bool JsonNestingWithin(std::string_view text, int max_depth = kMaxJsonDepth);

// nlohmann's parse without exceptions, refusing (a discarded value) text that
// nests deeper than kMaxJsonDepth before the parser recurses into it.
nlohmann::json ParseJsonBounded(std::string_view text, int max_depth = kMaxJsonDepth);

// What nlohmann's parse error says, for an error message: its exception tag
// ("[json.exception.parse_error.101] ") cut, and since it quotes the input near
// the error, every byte outside printable ASCII as \xNN (no control bytes
// reach a terminal or a log from a hostile document).
std::string JsonParseErrorText(const nlohmann::json::exception& e);

// The collector's answers wrap stored documents (up to kMaxJsonDepth) in a
// list and a row object: what a client accepts from it.
inline constexpr int kMaxJsonAnswerDepth = kMaxJsonDepth + 4;

}  // namespace picket
