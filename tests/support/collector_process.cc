#include "support/collector_process.h"

#include <cstdlib>

#include "support/http_client.h"

namespace picket::testing {

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
    PICKET_RETURN_IF_ERROR(WriteWholeFile(tokens, config.tokens));
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
