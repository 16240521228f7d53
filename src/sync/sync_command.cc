#include "picket/sync/sync_command.h"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <thread>

#include "picket/common/log.h"
#include "sync/sync_service.h"

namespace picket::sync {

int RunSyncCommand(std::span<char* const> args) {
  auto options = ParseSyncOptions(args);
  if (!options.ok()) {
    std::fprintf(stderr, "picket sync: %s\n", options.status().message().c_str());
    return 2;
  }
  if (auto level = log::ParseLevel(options->log_level); level.ok()) log::SetLevel(*level);

  // SIGTERM/SIGINT are taken by one thread with sigwait, so no signal ever
  // lands inside ZooKeeper's or MariaDB's threads. Blocked before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGUSR1);  // used below to end the waiter
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  SyncService service(std::move(options).value());
  std::thread waiter([&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    if (signal_number != SIGUSR1) {
      PICKET_LOG(kInfo, "sync", "stopping", {"signal", signal_number});
    }
    service.Stop();
  });
  Status st = service.Run();
  pthread_kill(waiter.native_handle(), SIGUSR1);  // no-op if it already returned from sigwait
  waiter.join();
  if (!st.ok()) {
    std::fprintf(stderr, "picket sync: %s\n", st.message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace picket::sync
