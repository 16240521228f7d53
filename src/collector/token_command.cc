#include "picket/collector/token_command.h"

#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "collector/token_table.h"
#include "picket/common/command_line.h"

namespace picket::collector {

namespace {

// Enough for any old tokens file; a token on its own is far smaller.
constexpr std::size_t kMaxStdin = 1 << 20;

int Fail(const Status& st, int code = 1) {
  std::fprintf(stderr, "picket token: %s\n", st.message().c_str());
  return code;
}

Result<std::string> ReadStdin() {
  std::string text;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) {
    text.append(buf, n);
    if (text.size() > kMaxStdin) {
      return Status::ResourceExhausted("standard input is over " + std::to_string(kMaxStdin) +
                                       " bytes");
    }
  }
  if (std::ferror(stdin)) return Status::Internal("cannot read standard input");
  return text;
}

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsBlank(line[i])) ++i;
    std::size_t start = i;
    while (i < line.size() && !IsBlank(line[i])) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

Status CheckOwner(std::string_view owner) {
  if (IsValidTokenOwner(owner)) return Status::Ok();
  return Status::InvalidArgument("bad owner '" + std::string(owner) +
                                 "': expected a device id ([A-Za-z0-9._-]{1,64}), @operator or "
                                 "@admin");
}

int RunAdd(const std::string& owner, std::span<char* const> flag_args) {
  FlagParser flags({"tokens"}, {});
  if (Status st = flags.Parse(flag_args); !st.ok())
    return ReportFlagError("picket", "token add", st);
  auto path = flags.Value("tokens");
  if (!path) return Fail(Status::InvalidArgument("add: --tokens FILE is required"), 2);
  if (Status st = CheckOwner(owner); !st.ok()) return Fail(st, 2);
  auto token = NewToken();
  if (!token.ok()) return Fail(token.status());
  if (Status st = AppendTokenFileLine(*path, TokenFileLine(owner, *token)); !st.ok()) {
    return Fail(st);
  }
  std::printf("%s\n", token->c_str());
  std::fflush(stdout);
  std::fprintf(stderr,
               "picket token: added a token for %s to %s (shown once, only its hash is kept); "
               "send the collector SIGHUP to load it\n",
               owner.c_str(), path->c_str());
  return 0;
}

// One token on stdin → its line.
int RunHashOne(const std::string& owner) {
  if (Status st = CheckOwner(owner); !st.ok()) return Fail(st, 2);
  auto text = ReadStdin();
  if (!text.ok()) return Fail(text.status());
  auto words = Words(*text);
  if (words.size() != 1) {
    return Fail(Status::InvalidArgument("expected one token on standard input, got " +
                                        std::to_string(words.size()) + " word(s)"));
  }
  std::printf("%s\n", TokenFileLine(owner, words[0]).c_str());
  return 0;
}

// An old plaintext tokens file on stdin → the same file with hashes.
int RunHashFile() {
  auto text = ReadStdin();
  if (!text.ok()) return Fail(text.status());
  std::string out;
  std::string_view rest = *text;
  std::size_t line_no = 0;
  while (!rest.empty()) {
    std::size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    ++line_no;
    auto words = Words(line);
    if (words.empty() || words[0][0] == '#') {  // blank or comment: kept as is
      out.append(line);
      out += '\n';
      continue;
    }
    const std::string where = "stdin:" + std::to_string(line_no);
    if (words.size() < 2 || (words.size() > 2 && words[2][0] != '#')) {
      return Fail(Status::InvalidArgument(where + ": expected 'OWNER TOKEN'"));
    }
    if (Status st = CheckOwner(words[0]); !st.ok()) return Fail(st.WithContext(where));
    if (words[1].substr(0, kTokenHashPrefix.size()) == kTokenHashPrefix) {
      out.append(line);  // already hashed
    } else {
      out += TokenFileLine(words[0], words[1]);
    }
    out += '\n';
  }
  // What we print must load: same checks as the collector's.
  if (auto parsed = TokenTable::Parse(out, "the output", /*allow_empty=*/true); !parsed.ok()) {
    return Fail(parsed.status());
  }
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace

int RunTokenCommand(std::span<char* const> args) {
  if (args.empty()) return Fail(Status::InvalidArgument("usage: picket token add|hash ..."), 2);
  const std::string verb = args[0];
  auto rest = args.subspan(1);
  // The owner is the first argument that is not a flag (flags take their value after them).
  std::optional<std::string> owner;
  std::vector<char*> flag_args;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    std::string_view a = rest[i];
    if (!owner && (a.empty() || a[0] != '-')) {
      owner = std::string(a);
      continue;
    }
    flag_args.push_back(rest[i]);
    if (a.rfind("--", 0) == 0 && a.find('=') == std::string_view::npos && i + 1 < rest.size()) {
      flag_args.push_back(rest[++i]);
    }
  }
  if (verb == "add") {
    if (!owner)
      return Fail(Status::InvalidArgument("usage: picket token add OWNER --tokens FILE"), 2);
    return RunAdd(*owner, flag_args);
  }
  if (verb == "hash") {
    if (!flag_args.empty()) {
      return Fail(
          Status::InvalidArgument("hash takes no flags (usage: picket token hash [OWNER])"),
          2);
    }
    return owner ? RunHashOne(*owner) : RunHashFile();
  }
  return Fail(Status::InvalidArgument("unknown subcommand '" + verb + "' (add or hash)"), 2);
}

}  // namespace picket::collector
