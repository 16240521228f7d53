// A real `picket collector` for integration tests: started on 127.0.0.1 port
// 0 in a temp directory, ready once it has written its --ready-file, stopped
// by PID (SIGTERM, then SIGKILL) when the object goes away.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/process_harness.h"

namespace picket::testing {

// The picket binary: $PICKET_BINARY, else the path compiled into the test.
std::string PicketBinary();

// '<owner> <token>' lines as the tests write them → the '<owner> sha256:<hex>'
// lines the collector's --tokens file holds (comments and hashed lines kept).
std::string HashTokenLines(std::string_view plaintext);

struct CollectorConfig {
  std::string tokens;  // '<owner> <token>' lines, written hashed; empty: --insecure-no-auth
  std::vector<std::string> extra_args;  // e.g. {"--max-body", "1MiB"}
  std::string listen = "127.0.0.1:0";
};

class CollectorProcess {
 public:
  // Starts the collector and waits (with a deadline) for its ready file.
  // On failure the status carries the collector's log.
  static Result<std::unique_ptr<CollectorProcess>> Start(const CollectorConfig& config);
  ~CollectorProcess();

  const std::string& url() const { return url_; }  // "http://127.0.0.1:41234"
  const std::string& host() const { return host_; }
  std::uint16_t port() const { return port_; }
  std::string data_dir() const { return dir_.path() + "/data"; }
  std::string dir() const { return dir_.path(); }
  std::string Log() const;  // everything the collector printed so far
  ChildProcess& process() { return *process_; }

 private:
  CollectorProcess() = default;
  TempDir dir_;
  std::optional<ChildProcess> process_;
  std::string url_, host_;
  std::uint16_t port_ = 0;
};

}  // namespace picket::testing
