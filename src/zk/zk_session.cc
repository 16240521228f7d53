#include "picket/zk/zk_session.h"

#include <zookeeper/zookeeper.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <chrono>
#include <thread>

#include "picket/common/backoff.h"
#include "picket/common/log.h"
#include "picket/zk/zk_errors.h"

namespace picket::zk {

std::string_view SessionStateName(SessionState state) {
  switch (state) {
    case SessionState::kConnecting: return "connecting";
    case SessionState::kConnected: return "connected";
    case SessionState::kExpired: return "expired";
    case SessionState::kAuthFailed: return "auth_failed";
    case SessionState::kClosed: return "closed";
  }
  return "unknown";
}

namespace {

constexpr int kFirstBuffer = 64 * 1024;

std::string HexId(std::int64_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(id));
  return buf;
}

// Reads a node into `out`; grows the buffer when the node is larger than it
// (zoo_get/zoo_wget report ZOK and truncate silently).
template <typename ReadFn>
int ReadNode(ReadFn read, NodeData& out) {
  int size = kFirstBuffer;
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::string buffer(static_cast<std::size_t>(size), '\0');
    int len = size;
    Stat stat{};
    int rc = read(buffer.data(), &len, &stat);
    if (rc != ZOK) return rc;
    if (stat.dataLength <= size) {
      buffer.resize(len < 0 ? 0 : static_cast<std::size_t>(len));
      out.data = std::move(buffer);
      out.version = stat.version;
      return ZOK;
    }
    if (static_cast<std::size_t>(stat.dataLength) > kMaxNodeBytes) return ZBADARGUMENTS;
    size = stat.dataLength;  // changed meanwhile or bigger than the first buffer: read again
  }
  return ZSYSTEMERROR;
}

// An ACL in the client library's layout; the strings stay alive with it.
class ZooAcl {
 public:
  explicit ZooAcl(const std::vector<AclEntry>& entries) : entries_(entries) {
    acls_.reserve(entries_.size());
    for (auto& e : entries_) acls_.push_back({e.perms, {e.scheme.data(), e.id.data()}});
    vector_.count = static_cast<std::int32_t>(acls_.size());
    vector_.data = acls_.data();
  }
  ZooAcl(const ZooAcl&) = delete;
  ZooAcl& operator=(const ZooAcl&) = delete;
  struct ACL_vector* get() { return &vector_; }

 private:
  std::vector<AclEntry> entries_;
  std::vector<ACL> acls_;
  struct ACL_vector vector_{};
};

struct Ephemeral {
  std::string data;
};

struct WatchEntry {
  std::string path;
  bool children = false;               // WatchChildren: the listing, not the data
  ZkSession::WatchCallback callback;
  bool pending = true;                 // needs a (re-)read
  std::optional<WatchEvent> last;      // last delivered
};

struct Event {
  enum Kind { kSession, kNode, kArm } kind;
  int state = 0;
  std::string path;
  zhandle_t* zh = nullptr;
};

}  // namespace

struct ZkSession::Impl {
  ZkOptions options;

  // The handle: shared for calls, exclusive to replace it (session thread only).
  mutable std::shared_mutex handle_mu;
  zhandle_t* zh = nullptr;
  // A new handle with credentials, until its first CONNECTED event: there the
  // credentials are added (sent before anything else) and it becomes zh
  // (session thread). Meanwhile calls see zh == nullptr ("no session"). Added
  // at once instead, they were refused whenever the server was down: the
  // library marks the handle closed (state 0) between two connect attempts,
  // and zoo_add_auth answers ZINVALIDSTATE then.
  zhandle_t* pending_zh = nullptr;

  std::mutex mu;  // queue, state, watches, ephemerals
  std::condition_variable cv;
  std::deque<Event> queue;
  bool stop = false;
  SessionState state = SessionState::kConnecting;
  bool needs_setup = false;      // new session: re-create ephemerals
  int sessions = 0;
  std::map<std::string, Ephemeral> ephemerals;
  std::map<WatchId, std::shared_ptr<WatchEntry>> watches;
  WatchId next_watch = 1;
  bool retry_pending = false;
  // A node watched while missing is also looked for every kAbsentPoll: the
  // server may never send its NodeCreated. Seen with Debian 12's ZooKeeper
  // 3.8.0-11+deb12u2 (CVE-2024-23944 patch): a device watching its config
  // node under ancestors it may not read got no event when sync created it,
  // and ran on its group's config alone until restarted.
  static constexpr std::chrono::seconds kAbsentPoll{2};
  std::chrono::steady_clock::time_point next_absent_poll{};
  std::function<void(SessionState)> state_listener;
  AclProvider acl_provider;  // guarded by mu

  std::recursive_mutex callback_mu;  // held while a watch callback runs
  std::thread::id thread_id;
  std::thread thread;
  JitteredBackoff reopen_backoff{std::chrono::milliseconds(200), std::chrono::seconds(10)};

  static void SessionWatcher(zhandle_t* zh, int type, int state, const char* path, void* ctx) {
    auto* self = static_cast<Impl*>(ctx);
    if (type == ZOO_SESSION_EVENT) {
      self->Push({Event::kSession, state, "", zh});
    } else if (path != nullptr && *path != '\0') {
      self->Push({Event::kNode, state, path, zh});
    }
  }
  // Per-read watcher: session events also reach it; the session watcher has them.
  static void NodeWatcher(zhandle_t* zh, int type, int state, const char* path, void* ctx) {
    if (type == ZOO_SESSION_EVENT || path == nullptr) return;
    static_cast<Impl*>(ctx)->Push({Event::kNode, state, path, zh});
  }

  static void LibraryLog(const char* message) {
    std::string_view line(message ? message : "");
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    PICKET_LOG(kDebug, "zk", "client library", {"line", line});
  }

  void Push(Event e) {
    {
      std::lock_guard lock(mu);
      queue.push_back(std::move(e));
    }
    cv.notify_all();
  }

  bool HasCredentials() const { return !options.auth_user.empty() || !options.more_auth.empty(); }

  // zoo_add_auth for every credential (a connected handle accepts them).
  int AddCredentials(zhandle_t* h) {
    std::vector<ZkOptions::Credential> auths = options.more_auth;
    if (!options.auth_user.empty()) {
      auths.insert(auths.begin(), {options.auth_user, options.auth_password});
    }
    for (const auto& auth : auths) {
      std::string cred = auth.user + ":" + auth.password;
      const int rc =
          zoo_add_auth(h, "digest", cred.data(), static_cast<int>(cred.size()), nullptr, nullptr);
      if (rc != ZOK) return rc;
    }
    return ZOK;
  }

  // Session thread, on CONNECTED from `from`: a pending handle gets its
  // credentials (sent before anything else on the connection) and is used
  // from now on. False when they were refused (the handle is closed).
  bool PromotePending(zhandle_t* from) {
    std::unique_lock handle_lock(handle_mu);
    if (pending_zh == nullptr || from != pending_zh) return true;
    zhandle_t* h = std::exchange(pending_zh, nullptr);
    const int rc = AddCredentials(h);
    if (rc != ZOK) {
      PICKET_LOG(kError, "zk", "cannot add credentials",
                 {"error", ZkStatus(rc, "zoo_add_auth " + options.auth_user, options.hosts)});
      zookeeper_close(h);
      return false;
    }
    zh = h;
    return true;
  }

  Status OpenHandle() {  // caller holds handle_mu exclusively (or no thread runs yet)
    // The library's own lines (a "connection refused" every ~70 ms while the
    // server is down) go to our log at debug level: the session's state
    // changes are logged by us, once each.
    zh = zookeeper_init2(options.hosts.c_str(), &Impl::SessionWatcher, options.session_timeout_ms,
                         nullptr, this, ZOO_NO_LOG_CLIENTENV,  // no getpwuid_r (static builds)
                         &Impl::LibraryLog);
    if (zh == nullptr) {
      return Status::InvalidArgument("zookeeper_init " + options.hosts + ": " +
                                     std::strerror(errno));
    }
    if (HasCredentials()) pending_zh = std::exchange(zh, nullptr);  // PromotePending
    std::lock_guard lock(mu);
    ++sessions;
    needs_setup = sessions > 1;
    state = SessionState::kConnecting;
    return Status::Ok();
  }

  void SetState(SessionState s, std::int64_t session_id) {
    SessionState old;
    std::function<void(SessionState)> listener;
    {
      std::lock_guard lock(mu);
      old = state;
      state = s;
      listener = state_listener;
    }
    cv.notify_all();
    if (old == s) return;
    if (listener) listener(s);
    if (s == SessionState::kConnected) {
      PICKET_LOG(kInfo, "zk", "session state changed", {"from", SessionStateName(old)},
                 {"to", SessionStateName(s)}, {"session", HexId(session_id)},
                 {"hosts", options.hosts});
    } else {
      PICKET_LOG(kWarn, "zk", "session state changed", {"from", SessionStateName(old)},
                 {"to", SessionStateName(s)}, {"session", HexId(session_id)},
                 {"hosts", options.hosts});
    }
  }

  std::unique_ptr<ZooAcl> Acl(const std::string& path) {
    AclProvider provider;
    {
      std::lock_guard lock(mu);
      provider = acl_provider;
    }
    if (provider) return std::make_unique<ZooAcl>(provider(path));
    const bool anonymous = options.auth_user.empty() && options.more_auth.empty();
    return std::make_unique<ZooAcl>(anonymous
                                        ? std::vector<AclEntry>{{kPermAll, "world", "anyone"}}
                                        : std::vector<AclEntry>{{kPermAll, "auth", ""}});
  }

  // --- session thread -----------------------------------------------------

  bool AnyAbsent() const {  // caller holds mu
    for (const auto& [id, w] : watches) {
      if (w->last && !w->last->exists) return true;
    }
    return false;
  }

  void Run() {
    thread_id = std::this_thread::get_id();
    std::unique_lock lock(mu);
    while (!stop) {
      if (queue.empty()) {
        if (retry_pending && state == SessionState::kConnected) {
          cv.wait_for(lock, std::chrono::milliseconds(250));
          if (queue.empty() && retry_pending && !stop) {
            retry_pending = false;
            lock.unlock();
            ReadWatches(/*all=*/false, "");
            lock.lock();
          }
        } else if (state == SessionState::kConnected && AnyAbsent()) {
          const auto now = std::chrono::steady_clock::now();
          if (now < next_absent_poll) {
            cv.wait_until(lock, next_absent_poll);
            continue;
          }
          next_absent_poll = now + kAbsentPoll;
          for (auto& [id, w] : watches) {
            if (w->last && !w->last->exists) w->pending = true;
          }
          lock.unlock();
          ReadWatches(/*all=*/false, "");
          lock.lock();
        } else {
          cv.wait(lock);
        }
        continue;
      }
      Event e = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      Handle(e);
      lock.lock();
    }
  }

  void Handle(const Event& e) {
    {
      std::shared_lock handle_lock(handle_mu);
      if (e.kind != Event::kArm && e.zh != zh && e.zh != pending_zh) return;  // from a closed handle
    }
    switch (e.kind) {
      case Event::kArm:
        ReadWatches(false, "");
        break;
      case Event::kNode:
        ReadWatches(false, e.path);
        break;
      case Event::kSession:
        HandleSession(e.state, e.zh);
        break;
    }
  }

  void HandleSession(int zstate, zhandle_t* from) {
    if (zstate == ZOO_CONNECTED_STATE && !PromotePending(from)) {
      SetState(SessionState::kAuthFailed, 0);
      return;
    }
    std::int64_t id = 0;
    {
      std::shared_lock handle_lock(handle_mu);
      if (zh != nullptr) id = zoo_client_id(zh)->client_id;
    }
    if (zstate == ZOO_CONNECTED_STATE) {
      SetState(SessionState::kConnected, id);
      reopen_backoff.Reset();
      bool setup;
      {
        std::lock_guard lock(mu);
        setup = needs_setup;
        needs_setup = false;
      }
      if (setup) RecreateEphemerals();
      ReadWatches(/*all=*/true, "");  // a reconnect: re-read everything
    } else if (zstate == ZOO_EXPIRED_SESSION_STATE) {
      SetState(SessionState::kExpired, id);
      Reopen();
    } else if (zstate == ZOO_AUTH_FAILED_STATE) {
      SetState(SessionState::kAuthFailed, id);
    } else {
      SetState(SessionState::kConnecting, id);  // 0, CONNECTING, ASSOCIATING
    }
  }

  // On the session thread, never in ZooKeeper's completion thread.
  void Reopen() {
    while (true) {
      Status status;
      {
        std::unique_lock handle_lock(handle_mu);
        if (zh != nullptr) zookeeper_close(zh);
        if (pending_zh != nullptr) zookeeper_close(pending_zh);
        zh = pending_zh = nullptr;
        status = OpenHandle();
      }
      if (status.ok()) {
        PICKET_LOG(kInfo, "zk", "opened a new session after expiry", {"hosts", options.hosts});
        return;
      }
      auto delay = reopen_backoff.Next();
      PICKET_LOG(kError, "zk", "cannot open a new session", {"error", status},
                 {"retry_ms", delay.count()});
      std::unique_lock lock(mu);
      if (cv.wait_for(lock, delay, [this] { return stop; })) return;
    }
  }

  void RecreateEphemerals() {
    std::map<std::string, Ephemeral> copy;
    {
      std::lock_guard lock(mu);
      copy = ephemerals;
    }
    for (const auto& [path, eph] : copy) {
      int rc;
      auto acl = Acl(path);
      {
        std::shared_lock handle_lock(handle_mu);
        rc = zh == nullptr ? ZINVALIDSTATE
                           : zoo_create(zh, path.c_str(), eph.data.data(),
                                        static_cast<int>(eph.data.size()), acl->get(),
                                        ZOO_EPHEMERAL, nullptr, 0);
      }
      Status s = ZkStatus(rc, "re-create ephemeral", path);
      if (s.ok()) {
        PICKET_LOG(kInfo, "zk", "ephemeral re-created", {"path", path});
      } else if (s.code() != StatusCode::kAlreadyExists) {
        PICKET_LOG(kWarn, "zk", "cannot re-create ephemeral", {"error", s});
      }
    }
  }

  // Reads (and so re-arms) the watches on `path`, or all pending ones, or all.
  void ReadWatches(bool all, const std::string& path) {
    std::vector<std::pair<WatchId, std::shared_ptr<WatchEntry>>> todo;
    {
      std::lock_guard lock(mu);
      if (state != SessionState::kConnected) {
        // Calls would block until a connection exists; CONNECTED re-reads them all.
        for (auto& [id, w] : watches) {
          if (all || path.empty() || w->path == path) w->pending = true;
        }
        return;
      }
      for (auto& [id, w] : watches) {
        if (all || (path.empty() ? w->pending : w->path == path)) todo.emplace_back(id, w);
      }
    }
    // One read per path and kind.
    std::map<std::pair<std::string, bool>, std::optional<WatchEvent>> read_cache;
    for (auto& [id, w] : todo) {
      const auto key = std::make_pair(w->path, w->children);
      auto cached = read_cache.find(key);
      if (cached == read_cache.end()) {
        cached = read_cache.emplace(key, w->children ? ListAndArm(w->path) : ReadAndArm(w->path)).first;
      }
      const std::optional<WatchEvent>& current = cached->second;
      if (!current) {
        std::lock_guard lock(mu);
        w->pending = true;
        retry_pending = true;
        continue;
      }
      std::lock_guard callback_lock(callback_mu);
      {
        std::lock_guard lock(mu);
        w->pending = false;
        if (!watches.count(id)) continue;  // unwatched meanwhile
        const auto& last = w->last;
        if (last && last->exists == current->exists && last->version == current->version &&
            last->data == current->data && last->children == current->children) {
          continue;
        }
        w->last = current;
      }
      w->callback(*current);
    }
  }

  WatchId AddWatch(const std::string& path, bool children, WatchCallback callback);

  // As ReadAndArm, for the node's children (a child watch).
  std::optional<WatchEvent> ListAndArm(const std::string& path) {
    std::shared_lock handle_lock(handle_mu);
    if (zh == nullptr) return std::nullopt;
    for (int attempt = 0; attempt < 3; ++attempt) {
      String_vector names{};
      Stat stat{};
      int rc = zoo_wget_children2(zh, path.c_str(), &Impl::NodeWatcher, this, &names, &stat);
      if (rc == ZOK) {
        WatchEvent e{path, true, "", stat.cversion, {}};
        e.children.reserve(static_cast<std::size_t>(names.count));
        for (int i = 0; i < names.count; ++i) e.children.emplace_back(names.data[i]);
        deallocate_String_vector(&names);
        std::sort(e.children.begin(), e.children.end());
        return e;
      }
      if (rc != ZNONODE) {
        PICKET_LOG(kDebug, "zk", "child watch failed",
                   {"error", ZkStatus(rc, "zoo_wget_children2", path)});
        return std::nullopt;
      }
      rc = zoo_wexists(zh, path.c_str(), &Impl::NodeWatcher, this, &stat);
      if (rc == ZNONODE) return WatchEvent{path, false, "", -1, {}};
      if (rc != ZOK) {
        PICKET_LOG(kDebug, "zk", "watch exists failed",
                   {"error", ZkStatus(rc, "zoo_wexists", path)});
        return std::nullopt;
      }
    }
    return std::nullopt;
  }

  // nullopt on an error (retried later); exists=false when the node is missing
  // (then an exists watch fires when it is created).
  std::optional<WatchEvent> ReadAndArm(const std::string& path) {
    std::shared_lock handle_lock(handle_mu);
    if (zh == nullptr) return std::nullopt;
    for (int attempt = 0; attempt < 3; ++attempt) {
      NodeData node;
      int rc = ReadNode(
          [&](char* buf, int* len, Stat* stat) {
            return zoo_wget(zh, path.c_str(), &Impl::NodeWatcher, this, buf, len, stat);
          },
          node);
      if (rc == ZOK) return WatchEvent{path, true, std::move(node.data), node.version};
      if (rc != ZNONODE) {
        PICKET_LOG(kDebug, "zk", "watch read failed", {"error", ZkStatus(rc, "zoo_wget", path)});
        return std::nullopt;
      }
      Stat stat{};
      rc = zoo_wexists(zh, path.c_str(), &Impl::NodeWatcher, this, &stat);
      if (rc == ZNONODE) return WatchEvent{path, false, "", -1};
      if (rc != ZOK) {
        PICKET_LOG(kDebug, "zk", "watch exists failed",
                   {"error", ZkStatus(rc, "zoo_wexists", path)});
        return std::nullopt;
      }
      // Created between the two calls: read it.
    }
    return std::nullopt;
  }
};

ZkSession::ZkSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<ZkSession>> ZkSession::Open(ZkOptions options) {
  static std::once_flag log_once;
  std::call_once(log_once, [] { zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR); });
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  {
    std::unique_lock handle_lock(impl->handle_mu);
    PICKET_RETURN_IF_ERROR(impl->OpenHandle());
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<ZkSession>(new ZkSession(std::move(impl)));
}

ZkSession::~ZkSession() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
  std::unique_lock handle_lock(impl_->handle_mu);
  if (impl_->zh != nullptr) zookeeper_close(impl_->zh);  // joins ZooKeeper's threads
  if (impl_->pending_zh != nullptr) zookeeper_close(impl_->pending_zh);
  impl_->zh = impl_->pending_zh = nullptr;
}

bool ZkSession::WaitConnected(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout,
                            [this] { return impl_->state == SessionState::kConnected; });
}

SessionState ZkSession::state() const {
  std::lock_guard lock(impl_->mu);
  return impl_->state;
}

std::int64_t ZkSession::session_id() const {
  std::shared_lock lock(impl_->handle_mu);
  return impl_->zh == nullptr ? 0 : zoo_client_id(impl_->zh)->client_id;
}

std::string ZkSession::session_password() const {
  std::shared_lock lock(impl_->handle_mu);
  if (impl_->zh == nullptr) return {};
  const clientid_t* id = zoo_client_id(impl_->zh);
  return std::string(id->passwd, sizeof id->passwd);
}

int ZkSession::session_count() const {
  std::lock_guard lock(impl_->mu);
  return impl_->sessions;
}

void ZkSession::SetStateListener(std::function<void(SessionState)> listener) {
  std::lock_guard lock(impl_->mu);
  impl_->state_listener = std::move(listener);
}

void ZkSession::SetAclProvider(AclProvider provider) {
  std::lock_guard lock(impl_->mu);
  impl_->acl_provider = std::move(provider);
}

Result<std::vector<AclEntry>> ZkSession::GetAcl(const std::string& path) {
  std::shared_lock lock(impl_->handle_mu);
  if (impl_->zh == nullptr) return Status::Unavailable("zoo_get_acl " + path + ": no session");
  struct ACL_vector acl {};
  Stat stat{};
  int rc = zoo_get_acl(impl_->zh, path.c_str(), &acl, &stat);
  if (rc != ZOK) return ZkStatus(rc, "zoo_get_acl", path);
  std::vector<AclEntry> out;
  for (int i = 0; i < acl.count; ++i) {
    out.push_back({acl.data[i].perms, acl.data[i].id.scheme ? acl.data[i].id.scheme : "",
                   acl.data[i].id.id ? acl.data[i].id.id : ""});
  }
  deallocate_ACL_vector(&acl);
  return out;
}

Status ZkSession::SetAcl(const std::string& path, const std::vector<AclEntry>& acl,
                         std::int32_t expected_version) {
  ZooAcl zacl(acl);
  std::shared_lock lock(impl_->handle_mu);
  if (impl_->zh == nullptr) return Status::Unavailable("zoo_set_acl " + path + ": no session");
  return ZkStatus(zoo_set_acl(impl_->zh, path.c_str(), expected_version, zacl.get()),
                  "zoo_set_acl", path);
}

Result<NodeData> ZkSession::Get(const std::string& path) {
  std::shared_lock lock(impl_->handle_mu);
  if (impl_->zh == nullptr) return Status::Unavailable("zoo_get " + path + ": no session");
  NodeData node;
  int rc = ReadNode(
      [&](char* buf, int* len, Stat* stat) {
        return zoo_get(impl_->zh, path.c_str(), 0, buf, len, stat);
      },
      node);
  if (rc != ZOK) return ZkStatus(rc, "zoo_get", path);
  return node;
}

namespace {

// The replies of one GetMany; completions run on the client library's thread.
struct PipelinedReads {
  static constexpr std::size_t kWindow = 512;
  std::mutex mu;
  std::condition_variable cv;
  std::size_t in_flight = 0;
  std::vector<std::optional<NodeData>> nodes;
  std::vector<int> codes;

  struct Slot {
    PipelinedReads* reads;
    std::size_t index;
  };
  static void Done(int rc, const char* value, int value_len, const Stat* stat, const void* data) {
    auto* slot = static_cast<const Slot*>(data);
    PipelinedReads& r = *slot->reads;
    std::lock_guard lock(r.mu);
    if (rc == ZOK && stat != nullptr && static_cast<std::size_t>(stat->dataLength) > kMaxNodeBytes) {
      rc = ZBADARGUMENTS;
    }
    r.codes[slot->index] = rc;
    if (rc == ZOK) {
      r.nodes[slot->index] = NodeData{std::string(value ? value : "", value_len < 0 ? 0 : value_len),
                                      stat ? stat->version : 0};
    }
    // The sender waits for half a window or for the end: one wake-up per
    // half window, not one per reply.
    if (--r.in_flight == kWindow / 2 || r.in_flight == 0) r.cv.notify_all();
  }
};

}  // namespace

Result<std::vector<std::optional<NodeData>>> ZkSession::GetMany(const std::vector<std::string>& paths) {
  PipelinedReads reads;
  reads.nodes.resize(paths.size());
  reads.codes.assign(paths.size(), ZOK);
  std::vector<PipelinedReads::Slot> slots(paths.size());
  {
    std::shared_lock lock(impl_->handle_mu);
    if (impl_->zh == nullptr) return Status::Unavailable("zoo_aget: no session");
    for (std::size_t i = 0; i < paths.size(); ++i) {
      slots[i] = {&reads, i};
      std::unique_lock wait(reads.mu);
      if (reads.in_flight >= PipelinedReads::kWindow) {
        reads.cv.wait(wait, [&] { return reads.in_flight <= PipelinedReads::kWindow / 2; });
      }
      ++reads.in_flight;
      wait.unlock();
      int rc = zoo_aget(impl_->zh, paths[i].c_str(), 0, &PipelinedReads::Done, &slots[i]);
      if (rc != ZOK) {  // not sent: no completion will come
        wait.lock();
        --reads.in_flight;
        reads.codes[i] = rc;
        break;
      }
    }
    // Every request sent gets its completion (a lost connection completes them with an error).
    std::unique_lock wait(reads.mu);
    reads.cv.wait(wait, [&] { return reads.in_flight == 0; });
  }
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (reads.codes[i] != ZOK && reads.codes[i] != ZNONODE) return ZkStatus(reads.codes[i], "zoo_aget", paths[i]);
  }
  return std::move(reads.nodes);
}

Result<bool> ZkSession::Exists(const std::string& path) {
  std::shared_lock lock(impl_->handle_mu);
  if (impl_->zh == nullptr) return Status::Unavailable("zoo_exists " + path + ": no session");
  Stat stat{};
  int rc = zoo_exists(impl_->zh, path.c_str(), 0, &stat);
  if (rc == ZNONODE) return false;
  if (rc != ZOK) return ZkStatus(rc, "zoo_exists", path);
  return true;
}

Status ZkSession::Create(const std::string& path, std::string_view data) {
  auto acl = impl_->Acl(path);
  std::shared_lock lock(impl_->handle_mu);
  if (impl_->zh == nullptr) return Status::Unavailable("zoo_create " + path + ": no session");
  int rc = zoo_create(impl_->zh, path.c_str(), data.data(), static_cast<int>(data.size()),
                      acl->get(), ZOO_PERSISTENT, nullptr, 0);
  return ZkStatus(rc, "zoo_create", path);
}

Status ZkSession::CreateEphemeral(const std::string& path, std::string_view data,
                                  Lifetime lifetime) {
  int rc;
  auto acl = impl_->Acl(path);
  {
    std::shared_lock lock(impl_->handle_mu);
    if (impl_->zh == nullptr) return Status::Unavailable("zoo_create " + path + ": no session");
    rc = zoo_create(impl_->zh, path.c_str(), data.data(), static_cast<int>(data.size()),
                    acl->get(), ZOO_EPHEMERAL, nullptr, 0);
  }
  if (rc == ZOK && lifetime == Lifetime::kRebuilt) {
    std::lock_guard lock(impl_->mu);
    impl_->ephemerals[path] = Ephemeral{std::string(data)};
  }
  return ZkStatus(rc, "zoo_create ephemeral", path);
}

Status ZkSession::EnsurePath(const std::string& path) {
  if (path.empty() || path.front() != '/') {
    return Status::InvalidArgument("znode path must start with '/': " + path);
  }
  // Ancestors first; each one may exist already or be created by someone else meanwhile.
  for (std::size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = slash == std::string::npos ? path : path.substr(0, slash);
    auto exists = Exists(prefix);
    if (!exists.ok()) return exists.status();
    Status st = *exists ? Status::Ok() : Create(prefix, "");
    if (!st.ok() && st.code() != StatusCode::kAlreadyExists) return st;
    if (slash == std::string::npos) return Status::Ok();
  }
}

Status ZkSession::Multi(const std::vector<Op>& ops) {
  if (ops.empty()) return Status::Ok();
  std::vector<zoo_op_t> zops(ops.size());
  std::vector<zoo_op_result_t> results(ops.size());
  // The client writes created names and stats into these (never pass null).
  std::vector<std::string> created(ops.size());
  std::vector<Stat> stats(ops.size());
  std::vector<std::unique_ptr<ZooAcl>> acls(ops.size());
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    created[i].assign(op.path.size() + 16, '\0');
    switch (op.kind) {
      case Op::kCreate:
        acls[i] = impl_->Acl(op.path);
        zoo_create_op_init(&zops[i], op.path.c_str(), op.data.data(),
                           static_cast<int>(op.data.size()), acls[i]->get(), ZOO_PERSISTENT,
                           created[i].data(), static_cast<int>(created[i].size()));
        break;
      case Op::kDelete:
        zoo_delete_op_init(&zops[i], op.path.c_str(), op.version);
        break;
      case Op::kSet:
        zoo_set_op_init(&zops[i], op.path.c_str(), op.data.data(),
                        static_cast<int>(op.data.size()), op.version, &stats[i]);
        break;
      case Op::kCheck:
        zoo_check_op_init(&zops[i], op.path.c_str(), op.version);
        break;
    }
  }
  int rc;
  {
    std::shared_lock lock(impl_->handle_mu);
    if (impl_->zh == nullptr) return Status::Unavailable("zoo_multi " + ops[0].path + ": no session");
    rc = zoo_multi(impl_->zh, static_cast<int>(zops.size()), zops.data(), results.data());
  }
  if (rc == ZOK) {
    std::lock_guard lock(impl_->mu);
    for (const Op& op : ops) {
      if (op.kind == Op::kDelete) impl_->ephemerals.erase(op.path);
    }
    return Status::Ok();
  }
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (results[i].err != ZOK && results[i].err != ZRUNTIMEINCONSISTENCY) {
      return ZkStatus(results[i].err, "zoo_multi", ops[i].path);
    }
  }
  return ZkStatus(rc, "zoo_multi", ops[0].path);
}

Status ZkSession::Set(const std::string& path, std::string_view data,
                      std::int32_t expected_version) {
  int rc;
  {
    std::shared_lock lock(impl_->handle_mu);
    if (impl_->zh == nullptr) return Status::Unavailable("zoo_set " + path + ": no session");
    rc = zoo_set(impl_->zh, path.c_str(), data.data(), static_cast<int>(data.size()),
                 expected_version);
  }
  if (rc == ZOK) {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->ephemerals.find(path);
    if (it != impl_->ephemerals.end()) it->second.data = std::string(data);
  }
  return ZkStatus(rc, "zoo_set", path);
}

Status ZkSession::Delete(const std::string& path, std::int32_t expected_version) {
  int rc;
  {
    std::shared_lock lock(impl_->handle_mu);
    if (impl_->zh == nullptr) return Status::Unavailable("zoo_delete " + path + ": no session");
    rc = zoo_delete(impl_->zh, path.c_str(), expected_version);
  }
  if (rc == ZOK || rc == ZNONODE) {
    std::lock_guard lock(impl_->mu);
    impl_->ephemerals.erase(path);
  }
  return ZkStatus(rc, "zoo_delete", path);
}

Result<std::vector<std::string>> ZkSession::GetChildren(const std::string& path) {
  std::shared_lock lock(impl_->handle_mu);
  if (impl_->zh == nullptr) return Status::Unavailable("zoo_get_children " + path + ": no session");
  String_vector children{};
  int rc = zoo_get_children(impl_->zh, path.c_str(), 0, &children);
  if (rc != ZOK) return ZkStatus(rc, "zoo_get_children", path);
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(children.count));
  for (int i = 0; i < children.count; ++i) out.emplace_back(children.data[i]);
  deallocate_String_vector(&children);
  return out;
}

ZkSession::WatchId ZkSession::Watch(const std::string& path, WatchCallback callback) {
  return impl_->AddWatch(path, /*children=*/false, std::move(callback));
}

ZkSession::WatchId ZkSession::WatchChildren(const std::string& path, WatchCallback callback) {
  return impl_->AddWatch(path, /*children=*/true, std::move(callback));
}

ZkSession::WatchId ZkSession::Impl::AddWatch(const std::string& path, bool children,
                                             WatchCallback callback) {
  WatchId id;
  {
    std::lock_guard lock(mu);
    id = next_watch++;
    auto entry = std::make_shared<WatchEntry>();
    entry->path = path;
    entry->children = children;
    entry->callback = std::move(callback);
    watches.emplace(id, std::move(entry));
  }
  Push({Event::kArm, 0, "", nullptr});
  return id;
}

void ZkSession::Unwatch(WatchId id) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->watches.erase(id);
  }
  // Wait for a callback in progress (recursive: fine from the callback itself).
  std::lock_guard callback_lock(impl_->callback_mu);
}

}  // namespace picket::zk
