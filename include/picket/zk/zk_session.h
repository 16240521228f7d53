// One ZooKeeper session (libzookeeper_mt) with synchronous node operations,
// re-armed watches and recovery from connection loss and session expiry.
//
// Threads: ZooKeeper's completion thread only enqueues events; one thread
// owned by the session handles them and runs every watch callback in order.
// Callbacks may call the synchronous methods (they go to ZooKeeper's IO
// thread) but should stay short. Never destroy the session from a callback.
//
// Connection loss (CONNECTING) keeps the session: the library reconnects and
// on CONNECTED every watch is re-read. Session expiry (EXPIRED) closes the
// handle from the session's thread, opens a new session, re-creates the
// ephemerals made with CreateEphemeral and re-arms every watch.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "picket/common/status.h"
#include "picket/zk/acl_policy.h"

namespace picket::zk {

struct ZkOptions {
  std::string hosts;                 // "h1:2181,h2:2181[/chroot]"
  int session_timeout_ms = 10'000;
  std::string auth_user;             // digest auth when non-empty
  std::string auth_password;
  struct Credential {
    std::string user, password;
  };
  std::vector<Credential> more_auth;  // added too (a device's fleet identity)
};

// The ACL of a node this session creates (zk/acl_policy.h AclFor). Without
// one: world:anyone when the session has no credentials, else the creator's.
using AclProvider = std::function<std::vector<AclEntry>(const std::string& path)>;

struct NodeData {
  std::string data;
  std::int32_t version = 0;          // znode data version (Stat.version)
};

// What a watch callback receives: the node's current content, or exists=false.
struct WatchEvent {
  std::string path;
  bool exists = false;
  std::string data;
  std::int32_t version = -1;         // -1 when the node does not exist
  // WatchChildren only: the node's children, sorted; `version` is then its
  // child version (Stat.cversion) and `data` is empty.
  std::vector<std::string> children;
};

enum class SessionState { kConnecting, kConnected, kExpired, kAuthFailed, kClosed };
std::string_view SessionStateName(SessionState state);

// Largest value Get reads (ZooKeeper's jute.maxbuffer default is just under it).
inline constexpr std::size_t kMaxNodeBytes = 1u << 20;

class ZkSession {
 public:
  using WatchCallback = std::function<void(const WatchEvent&)>;
  using WatchId = std::uint64_t;

  // Starts connecting in the background and returns at once; InvalidArgument
  // when the client refuses the host string. Use WaitConnected to block.
  static Result<std::unique_ptr<ZkSession>> Open(ZkOptions options);
  ~ZkSession();
  ZkSession(const ZkSession&) = delete;
  ZkSession& operator=(const ZkSession&) = delete;

  // True once CONNECTED (now or before the deadline).
  bool WaitConnected(std::chrono::milliseconds timeout);
  SessionState state() const;
  // The current session id and 16-byte password (for tests that force expiry).
  std::int64_t session_id() const;
  std::string session_password() const;
  // How many sessions this object has opened (1 + expiries recovered).
  int session_count() const;

  // Called on the session's thread on every state change (kExpired comes
  // before the ephemerals and watches are rebuilt: drop claims there). Set it
  // before the session connects to see the first change.
  void SetStateListener(std::function<void(SessionState)> listener);
  // Any thread; applies to nodes created from now on.
  void SetAclProvider(AclProvider provider);

  // A node's ACL, and its replacement (version -1: any).
  Result<std::vector<AclEntry>> GetAcl(const std::string& path);
  Status SetAcl(const std::string& path, const std::vector<AclEntry>& acl,
                std::int32_t expected_version = -1);

  // Reads up to kMaxNodeBytes; re-reads with a bigger buffer when the node
  // is larger than the first buffer (zoo_get truncates silently).
  Result<NodeData> Get(const std::string& path);
  Result<bool> Exists(const std::string& path);
  // Many reads pipelined (up to 512 in flight instead of one round trip each):
  // one entry per path, nullopt where the node is missing; the first other
  // error fails the whole call. For listings of a fleet (picket devices).
  Result<std::vector<std::optional<NodeData>>> GetMany(const std::vector<std::string>& paths);
  // A persistent node (missing parents are not created).
  Status Create(const std::string& path, std::string_view data);
  // An ephemeral node. kRebuilt: re-created with its latest data after
  // session expiry until Delete removes it (status, registrations).
  // kThisSession: gone with the session, never re-created (shard claims,
  // leadership: whoever held them must win them again).
  enum class Lifetime { kRebuilt, kThisSession };
  Status CreateEphemeral(const std::string& path, std::string_view data,
                         Lifetime lifetime = Lifetime::kRebuilt);
  // Creates `path` and its missing ancestors as empty persistent nodes; a
  // node that exists already is fine (checked first: creating below a parent
  // this identity may not create in is NoAuth even when the node exists).
  Status EnsurePath(const std::string& path);
  // expected_version -1: any version. Conflict on a version mismatch.
  Status Set(const std::string& path, std::string_view data, std::int32_t expected_version = -1);
  Status Delete(const std::string& path, std::int32_t expected_version = -1);
  Result<std::vector<std::string>> GetChildren(const std::string& path);

  // One atomic transaction (zoo_multi): all operations apply or none does.
  // On failure the status names the first operation that failed.
  struct Op {
    enum Kind { kCreate, kDelete, kSet, kCheck } kind;
    std::string path;
    std::string data;               // kCreate, kSet
    std::int32_t version = -1;      // kDelete, kSet, kCheck; -1: any
  };
  Status Multi(const std::vector<Op>& ops);

  // Calls `callback` on the session's thread with the node's current state:
  // once after arming, then after every change seen (changes made in quick
  // succession may be coalesced: ZooKeeper watches are one-shot), after a
  // reconnect if the node changed meanwhile, and after session recovery.
  WatchId Watch(const std::string& path, WatchCallback callback);
  // The same for the node's list of children (a child created or deleted):
  // one listing per change instead of polling it.
  WatchId WatchChildren(const std::string& path, WatchCallback callback);
  // After it returns the callback is not running and will not run again
  // (may be called from the callback itself).
  void Unwatch(WatchId id);

  struct Impl;

 private:
  explicit ZkSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace picket::zk
