#include "picket/supervisor/daemon.h"

#include <fcntl.h>
#include <uv.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <fstream>
#include <sstream>

#include "picket/buffer/buffer_store.h"
#include "picket/common/c_handle.h"
#include "picket/common/file_io.h"
#include "picket/common/log.h"
#include "log_shipper.h"
#include "upload_scheduler.h"
#include "worker_process.h"

namespace picket::supervisor {

namespace {

Result<std::string> ReadToken(const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read token_file " + path);
  std::string token;
  std::getline(in, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty()) return Status::InvalidArgument("token_file " + path + " is empty");
  return token;
}

struct Daemon {
  uv_loop_t loop{};
  uv_signal_t sigterm{}, sigint{};
  std::unique_ptr<buffer::BufferStore> store;
  std::unique_ptr<WorkerProcess> worker;
  std::unique_ptr<UploadScheduler> uploads;
  std::unique_ptr<LogShipper> logs;
  bool shutting_down = false;

  void Shutdown(int signum) {
    if (shutting_down) return;
    shutting_down = true;
    PICKET_LOG(kInfo, "supervisor", "shutting down", {"signal", signum});
    auto stop_uploads = [this] {
      if (logs) logs->Stop();  // what is queued goes into the buffer, shipped at next start
      if (uploads) {
        uploads->Stop([this] { CloseSignals(); });
      } else {
        CloseSignals();
      }
    };
    if (worker) {
      worker->Stop(stop_uploads);  // the worker seals its open chunk first
    } else {
      stop_uploads();
    }
  }

  void CloseSignals() {
    uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigint), nullptr);
    worker.reset();   // closes its timers
    uploads.reset();
    logs.reset();
  }

  static void OnSignal(uv_signal_t* handle, int signum) {
    static_cast<Daemon*>(handle->data)->Shutdown(signum);
  }
};

}  // namespace

std::string WorkerConfigPath(const DaemonConfig& config) {
  return config.buffer.dir + "/worker-config.json";
}

int RunDaemon(const RunOptions& options) {
  const DaemonConfig& config = options.config;
  auto fail = [](const std::string& what, const Status& st) {
    PICKET_LOG(kError, "supervisor", "cannot start", {"what", what}, {"error", st});
    return 1;
  };
  auto token = ReadToken(config.upload.token_file);
  if (!token.ok()) return fail("upload.token_file", token.status());

  Daemon d;
  // The worker, under its lock, removes orphan chunk files; the supervisor must not.
  auto store = buffer::OpenSqliteBuffer({config.buffer.dir, config.buffer.max_bytes, false});
  if (!store.ok()) return fail("buffer " + config.buffer.dir, store.status());
  d.store = std::move(*store);
  if (Status st = WriteFileAtomically(WorkerConfigPath(config), DaemonConfigToJson(config));
      !st.ok()) {
    return fail("worker config", st);
  }

  // libuv's pool size is process-global and read at its first use.
  const std::string pool = std::to_string(config.upload.threads);
  ::setenv("UV_THREADPOOL_SIZE", pool.c_str(), 1);
  uv_loop_init(&d.loop);
  d.sigterm.data = d.sigint.data = &d;
  uv_signal_init(&d.loop, &d.sigterm);
  uv_signal_init(&d.loop, &d.sigint);
  uv_signal_start(&d.sigterm, &Daemon::OnSignal, SIGTERM);
  uv_signal_start(&d.sigint, &Daemon::OnSignal, SIGINT);
  ::signal(SIGPIPE, SIG_IGN);

  UploadSchedulerOptions up;
  up.collectors = config.upload.collectors;
  up.settings.device_id = config.device.id;
  up.settings.token = *token;
  up.settings.ca_file = config.upload.ca_file;
  up.settings.gzip = config.upload.gzip;
  up.settings.connect_timeout = config.upload.connect_timeout;
  up.settings.low_speed_time = config.upload.low_speed_time;
  up.settings.low_speed_bytes = config.upload.low_speed_bytes;
  up.max_in_flight = config.upload.threads;
  up.retry_base = config.upload.retry_base;
  up.retry_max = config.upload.retry_max;
  d.uploads = std::make_unique<UploadScheduler>(&d.loop, d.store.get(), std::move(up));
  if (Status st = d.uploads->Start(); !st.ok()) return fail("uploads", st);

  if (config.log.ship) {
    d.logs = std::make_unique<LogShipper>(&d.loop, d.store.get());
    d.logs->Start();
  }
  if (config.capture.enabled || !config.scans.empty()) {
    WorkerProcessOptions wo;
    wo.argv = {options.self_executable, "worker", "--config", WorkerConfigPath(config)};
    if (d.logs) {
      LogShipper* shipper = d.logs.get();
      wo.on_stderr = [shipper](std::string_view bytes) { shipper->FeedWorkerOutput(bytes); };
    }
    d.worker = std::make_unique<WorkerProcess>(&d.loop, std::move(wo));
    if (Status st = d.worker->Start(); !st.ok()) return fail("worker", st);
  }
  PICKET_LOG(kInfo, "supervisor", "running", {"config", options.config_source},
             {"device", config.device.id}, {"buffer", config.buffer.dir},
             {"collectors", config.upload.collectors.size()},
             {"capture", config.capture.enabled ? config.capture.interface : "off"});
  uv_run(&d.loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&d.loop);
  PICKET_LOG(kInfo, "supervisor", "stopped", {"loop_close", rc});
  return 0;
}

}  // namespace picket::supervisor
