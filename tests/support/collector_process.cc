#include "support/collector_process.h"

#include <cstdlib>

#include "picket/common/digest.h"
#include "support/http_client.h"

namespace picket::testing {

std::string HashTokenLines(std::string_view plaintext) {
  std::string out;
  while (!plaintext.empty()) {
    const std::size_t nl = plaintext.find('\n');
    std::string_view line = plaintext.substr(0, nl);
    plaintext = nl == std::string_view::npos ? std::string_view() : plaintext.substr(nl + 1);
    const std::size_t space = line.find(' ');
    std::string_view owner = line.substr(0, space);
    std::string_view token =
        space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    if (owner.empty() || owner[0] == '#' || token.empty() || token.rfind("sha256:", 0) == 0) {
      out.append(line);
    } else {
      out.append(owner).append(" sha256:").append(Sha256Hex(token));
    }
    out += '\n';
  }
  return out;
}

std::string PicketBinary() {
  if (const char* env = std::getenv("PICKET_BINARY"); env != nullptr && *env != '\0') return env;
#ifdef PICKET_BINARY_PATH
  return PICKET_BINARY_PATH;
#else
  return "picket";
#endif
}

Result<std::unique_ptr<CollectorProcess>> CollectorProcess::Start(const CollectorConfig& config) {
  std::unique_ptr<CollectorProcess> c(new CollectorProcess());
  const std::string ready = c->dir() + "/ready";
  std::vector<std::string> argv = {PicketBinary(), "collector",   "--listen",     config.listen,
                                   "--data",       c->data_dir(), "--ready-file", ready};
  if (config.tokens.empty()) {
    argv.push_back("--insecure-no-auth");
  } else {
    const std::string tokens = c->dir() + "/tokens";
    PICKET_RETURN_IF_ERROR(WriteWholeFile(tokens, HashTokenLines(config.tokens)));
    argv.push_back("--tokens");
    argv.push_back(tokens);
  }
  argv.insert(argv.end(), config.extra_args.begin(), config.extra_args.end());

  auto child = ChildProcess::Spawn(argv, c->dir() + "/collector.log");
  if (!child.ok()) return child.status();
  c->process_.emplace(std::move(*child));
  auto url = WaitForFile(ready, After(std::chrono::seconds(20)), &*c->process_);
  if (!url.ok()) return url.status().WithContext("collector log:\n" + c->Log());
  c->url_ = *url;
  while (!c->url_.empty() && (c->url_.back() == '\n' || c->url_.back() == '\r')) c->url_.pop_back();
  PICKET_RETURN_IF_ERROR(SplitBaseUrl(c->url_, &c->host_, &c->port_));
  return c;
}

CollectorProcess::~CollectorProcess() {
  if (process_) (void)process_->Stop(After(std::chrono::seconds(10)));
}

std::string CollectorProcess::Log() const {
  auto text = ReadWholeFile(dir_.path() + "/collector.log");
  return text.ok() ? *text : std::string("(no log)");
}

}  // namespace picket::testing
