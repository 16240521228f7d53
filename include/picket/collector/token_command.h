// `picket token`: issues collector tokens and hashes old ones, so a tokens
// file (--tokens) never holds a token in plaintext (collector/token_table.h).
#pragma once

#include <span>
#include <string_view>

namespace picket::collector {

inline constexpr std::string_view kTokenSummary =
    "issue collector tokens; the --tokens file keeps only their SHA-256 hashes";

inline constexpr std::string_view kTokenUsage =
    "token add OWNER --tokens FILE\n"
    "       picket token hash [OWNER]\n\n"
    "OWNER is a device id, @operator (read role) or @admin (read + the actions of --db).\n\n"
    "  add OWNER --tokens FILE  make a new random token (32 bytes from OpenSSL's RAND_bytes,\n"
    "                       base64url), print it once on stdout and append only its hash\n"
    "                       ('OWNER sha256:<hex>') to FILE: created mode 0600 when missing,\n"
    "                       rewritten whole under a temp name and renamed, so a collector\n"
    "                       reloading it (SIGHUP) never sees half a file. One writer at a time.\n"
    "  hash OWNER           read one token on stdin, print its tokens-file line\n"
    "  hash                 read a whole old tokens file ('OWNER TOKEN' lines) on stdin and\n"
    "                       print it with every token replaced by its hash (migration:\n"
    "                       picket token hash < old-tokens > tokens; chmod 600 tokens)\n\n"
    "Then send the running collector SIGHUP to load the file.\n";

// Exit codes: 0 done, 2 bad usage, 1 anything else (one line on stderr).
int RunTokenCommand(std::span<char* const> args);

}  // namespace picket::collector
