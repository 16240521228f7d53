// Bounds on JSON from untrusted sources (devices, operators, ZooKeeper,
// stored rows). nlohmann's parser and dump() recurse once per nesting level,
// so a document of 100,000 '[' exhausts a thread's stack: check the nesting
// before parsing, on the text, in one pass that needs no stack.
#pragma once

#include <string_view>

namespace picket {

// The deepest nesting picket accepts anywhere (configs, jobs, NDJSON lines).
inline constexpr int kMaxJsonDepth = 32;

// True when no '[' or '{' outside strings nests deeper than max_depth.
bool JsonNestingWithin(std::string_view text, int max_depth = kMaxJsonDepth);

}  // namespace picket
