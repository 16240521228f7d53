// Internals shared by HttpServer and its connections: the in-flight limit,
// the registry used for graceful shutdown, and the session factory. Sessions
// are Beast HTTP/1.1 connections (plain or TLS) that live as long as an
// asynchronous operation holds them (enable_shared_from_this).
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <vector>

#include "collector/api_handler.h"
#include "collector/connection_limits.h"

namespace picket::collector {

// Counts requests between "header read" and "response written". Lock-free;
// any thread.
class InflightLimit {
 public:
  explicit InflightLimit(int max) : max_(max) {}
  bool TryAcquire() {
    int now = count_.fetch_add(1, std::memory_order_acq_rel);
    if (now < max_) return true;
    count_.fetch_sub(1, std::memory_order_acq_rel);
    return false;
  }
  void Release() { count_.fetch_sub(1, std::memory_order_acq_rel); }

 private:
  const int max_;
  std::atomic<int> count_{0};
};

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection if it is between requests; a request in progress
  // finishes and then the connection closes. Any thread.
  virtual void CloseIfIdle() = 0;
  // Closes the connection now, cancelling whatever it was doing. Any thread.
  virtual void ForceClose() = 0;
  // Waiting for a request (or for its TLS handshake): closing loses nothing.
  virtual bool IdleNow() const = 0;
};

// Live sessions, so shutdown can close idle keep-alive connections and learn
// when the last one is gone. Thread-safe.
class SessionRegistry {
 public:
  std::uint64_t Add(std::weak_ptr<SessionBase> session);
  void Remove(std::uint64_t id);
  // Closes every idle session now and calls on_empty once no session is left
  // (immediately if none is). Called once, at shutdown.
  void Drain(std::function<void()> on_empty);
  // ForceClose on every session (the drain timeout ran out).
  void CloseAll();
  // Closes the idle session that was opened first; false when none is idle.
  bool CloseOldestIdle();

 private:
  std::mutex mu_;
  std::uint64_t next_id_ = 1;
  std::vector<std::shared_ptr<SessionBase>> Live();  // takes mu_

  std::map<std::uint64_t, std::weak_ptr<SessionBase>> sessions_;
  // Chosen by CloseOldestIdle and closing on their strand: still listed (and
  // still idle) until then, but each makes room for one newcomer only; without
  // this a burst of accepts picked the same victim and ran out of descriptors.
  std::set<std::uint64_t> evicting_;
  bool draining_ = false;
  std::function<void()> on_empty_;
};

struct ServerShared {
  ApiHandler* handler = nullptr;
  boost::asio::ssl::context* tls = nullptr;  // null: plain HTTP
  // Device uploads with a body (chunks, results, logs) and everything else
  // (operator reads, heartbeats, the web page) each have --max-inflight slots:
  // a flood of uploads never makes an operator's read or a heartbeat wait.
  InflightLimit inflight;
  InflightLimit control_inflight;
  std::atomic<bool> stopping{false};
  SessionRegistry registry;
  ConnectionLimits limits;
  // Chunk bodies' file writes (ChunkIntake::WriteOffThread), so a disk that blocks write()
  // never blocks an I/O thread. Declared before `storage`, so joined after it: a storage job
  // finishing a chunk waits for that chunk's writes, which must still be able to run.
  // Four: eight gave one faster 1 MiB run (611 chunks/s against 511-560, direct I/O) but
  // more malloc arenas, and a device flooding log rows then peaked the collector at 286-342 MiB
  // (e2e.hostile_clients: limit 256; 201-230 with four).
  boost::asio::thread_pool body_writes{kBodyWriteThreads};
  // Device writes are stored here, off the I/O threads: writing a chunk and
  // waiting for its group commit block, and an I/O thread must keep reading
  // the other connections meanwhile. A thread waits in PutChunk until the
  // commit that holds its chunk, so the thread count bounds a commit's batch:
  // 4 made batches of ~2 chunks, 16 doubled 64 KiB ingest (ingest_bench, 50
  // devices). Each job holds work on its session's executor, so the I/O
  // threads outlive it.
  boost::asio::thread_pool storage{kStorageThreads};

  static constexpr int kStorageThreads = 16;
  static constexpr int kBodyWriteThreads = 4;

  ServerShared(int max_inflight, ConnectionCaps caps)
      : inflight(max_inflight), control_inflight(max_inflight), limits(caps) {}
};

// Takes over an accepted connection (its executor must be a strand), which
// holds `ticket` (its place under the connection caps) until it closes.
void StartSession(boost::asio::ip::tcp::socket socket, ServerShared& shared,
                  std::unique_ptr<ConnectionLimits::Ticket> ticket);

}  // namespace picket::collector
