#include "collector/http_session.h"

#include <malloc.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <functional>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

#include "collector/client_cert.h"
#include "picket/common/log.h"
#include "picket/common/wire.h"

namespace picket::collector {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;

// SessionRegistry --------------------------------------------------------------

std::uint64_t SessionRegistry::Add(std::weak_ptr<SessionBase> session) {
  std::lock_guard lock(mu_);
  std::uint64_t id = next_id_++;
  sessions_.emplace(id, std::move(session));
  return id;
}

void SessionRegistry::Remove(std::uint64_t id) {
  std::function<void()> notify;
  {
    std::lock_guard lock(mu_);
    sessions_.erase(id);
    evicting_.erase(id);
    if (draining_ && sessions_.empty() && on_empty_) notify = std::exchange(on_empty_, nullptr);
  }
  if (notify) notify();
}

std::vector<std::shared_ptr<SessionBase>> SessionRegistry::Live() {
  std::vector<std::shared_ptr<SessionBase>> live;
  std::lock_guard lock(mu_);
  for (auto& [id, weak] : sessions_) {
    if (auto s = weak.lock()) live.push_back(std::move(s));
  }
  return live;
}

void SessionRegistry::Drain(std::function<void()> on_empty) {
  bool empty = false;
  {
    std::lock_guard lock(mu_);
    draining_ = true;
    empty = sessions_.empty();
    if (!empty) on_empty_ = on_empty;
  }
  // Dropping `live` may run session destructors, which call Remove: outside the lock.
  for (auto& s : Live()) s->CloseIfIdle();
  if (empty) on_empty();
}

void SessionRegistry::CloseAll() {
  for (auto& s : Live()) s->ForceClose();
}

bool SessionRegistry::CloseOldestIdle() {
  std::shared_ptr<SessionBase> victim;
  // Sessions looked at hold a reference until the lock is released: the last
  // reference dropped runs the destructor, which calls Remove (takes mu_).
  std::vector<std::shared_ptr<SessionBase>> looked_at;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, weak] : sessions_) {  // ids grow: oldest first
      auto s = weak.lock();
      if (!s) continue;
      if (evicting_.count(id)) {  // told to close already: it makes room for one newcomer only
        if (!s->IdleNow()) evicting_.erase(id);  // a request came first: it stays open
        looked_at.push_back(std::move(s));
        continue;
      }
      if (s->IdleNow()) {
        victim = std::move(s);
        evicting_.insert(id);
        break;
      }
      looked_at.push_back(std::move(s));
    }
  }
  if (!victim) return false;
  victim->CloseIfIdle();  // outside the lock: dropping it may run its destructor
  return true;
}

// HttpSession ------------------------------------------------------------------

namespace {

// A device upload with a body (chunk, results, logs); heartbeats are not.
bool IsUpload(const RequestHead& head) {
  const wire::RouteMatch match = wire::MatchRoute(head.method, head.target);
  if (!match.matched()) return false;
  switch (match.route.endpoint) {
    case wire::Endpoint::kPutChunk:
    case wire::Endpoint::kPostResults:
    case wire::Endpoint::kPostLogs:
      return true;
    default:
      return false;
  }
}

constexpr auto kHandshakeTimeout = std::chrono::seconds(15);
constexpr auto kIdleTimeout = std::chrono::seconds(60);   // between requests
// A body must arrive at kMinBodyRate or better, within [kMinBodyTime, kMaxBodyTime]:
// 2 bytes of a declared 1 MB hold a slot for 64 s, not 300 s; slow uplinks
// still get 300 s for a big chunk.
constexpr auto kMinBodyTime = std::chrono::seconds(30);
constexpr auto kMaxBodyTime = std::chrono::seconds(300);
constexpr std::uint64_t kMinBodyRate = 16 * 1024;  // bytes per second
constexpr std::size_t kBodyReadBuffer = 256 * 1024;  // per read call while a body arrives
constexpr auto kWriteTimeout = std::chrono::seconds(60);
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr std::size_t kLingerMaxBytes = 8u << 20;
constexpr std::size_t kTrimAfterBodyBytes = 256 * 1024;  // a device write this large: malloc_trim
constexpr std::uint32_t kHeaderLimit = 16 * 1024;
// Log followers: a comment line this often keeps proxies and NAT state alive
// and finds dead peers; a write stuck longer than kWriteTimeout ends the stream.
constexpr auto kHeartbeatInterval = std::chrono::seconds(15);

// PUT chunk bodies go into a ChunkIntake (file, hash, record count) as they
// arrive, never into a string: a 64 MiB chunk costs ~200 KiB of memory.
struct IntakeBody {
  using value_type = ChunkIntake*;
  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type& intake) : intake_(*intake) {}
    void init(const boost::optional<std::uint64_t>&, beast::error_code& ec) { ec = {}; }
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      ec = {};
      std::size_t taken = 0;
      for (auto piece : beast::buffers_range_ref(buffers)) {
        if (!intake_.Write({static_cast<const char*>(piece.data()), piece.size()}).ok()) {
          ec = beast::errc::make_error_code(beast::errc::invalid_argument);  // why: intake.error()
          return taken;
        }
        taken += piece.size();
      }
      return taken;
    }
    void finish(beast::error_code& ec) { ec = {}; }

   private:
    ChunkIntake& intake_;
  };
};

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

std::string_view View(beast::string_view s) { return {s.data(), s.size()}; }

bool IsQuietDisconnect(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message ||
         ec == net::error::operation_aborted || ec == beast::error::timeout ||
         ec == net::error::eof || ec == net::error::connection_reset ||
         ec == ssl::error::stream_truncated;
}

template <class Stream>
class HttpSession final : public SessionBase,
                          public std::enable_shared_from_this<HttpSession<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  template <class... TlsContext>
  HttpSession(ServerShared& shared, std::unique_ptr<ConnectionLimits::Ticket> ticket,
              tcp::socket&& socket, TlsContext&... tls)
      : stream_(std::move(socket), tls...),
        shared_(shared),
        ticket_(std::move(ticket)),
        heartbeat_(stream_.get_executor()) {
    beast::error_code ec;
    auto peer = Lowest().socket().remote_endpoint(ec);
    if (!ec) peer_ = peer.address().to_string() + ":" + std::to_string(peer.port());
  }

  ~HttpSession() override {
    StopFollowing();
    ReleaseSlot();
    if (registry_id_ != 0) shared_.registry.Remove(registry_id_);
  }

  void Start() {
    registry_id_ = shared_.registry.Add(this->weak_from_this());
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->Begin(); });
  }

  void CloseIfIdle() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->idle_) self->Lowest().cancel();
      if (self->following_) self->FinishFollow();
    });
  }

  void ForceClose() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] { self->Close(); });
  }

  bool IdleNow() const override { return idle_.load(std::memory_order_relaxed); }

 private:
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }
  auto Self() { return this->shared_from_this(); }

  void Begin() {
    if constexpr (kTls) {
      idle_ = true;
      Lowest().expires_after(kHandshakeTimeout);
      stream_.async_handshake(ssl::stream_base::server,
                              beast::bind_front_handler(&HttpSession::OnHandshake, Self()));
    } else {
      ReadHeader();
    }
  }

  void OnHandshake(beast::error_code ec) {
    idle_ = false;
    if (ec) {
      PICKET_LOG(kDebug, "collector", "TLS handshake failed", {"peer", peer_},
                 {"error", ec.message()});
      return Close();
    }
    if constexpr (kTls) cert_device_ = DeviceFromVerifiedPeer(stream_.native_handle());
    ReadHeader();
  }

  void ReadHeader() {
    if (shared_.stopping.load()) return Shutdown();
    idle_ = true;
    parser_.reset();
    intake_parser_.reset();
    intake_.reset();
    request_keep_alive_ = false;
    header_parser_.emplace();
    header_parser_->header_limit(kHeaderLimit);
    // Unlimited until admitted: Admit answers 413 itself, naming the limit.
    header_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    Lowest().expires_after(kIdleTimeout);
    http::async_read_header(stream_, buffer_, *header_parser_,
                            beast::bind_front_handler(&HttpSession::OnHeader, Self()));
  }

  void OnHeader(beast::error_code ec, std::size_t) {
    idle_ = false;
    started_ = std::chrono::steady_clock::now();
    head_ = RequestHead();
    head_.client_cert_device = cert_device_;
    device_.clear();
    route_label_ = "unmatched";
    bytes_in_ = 0;
    if (ec) {
      if (IsQuietDisconnect(ec)) return Close();
      head_.method = "?";
      head_.target = "?";
      int status =
          ec == http::error::header_limit ? wire::kHttpHeaderTooLarge : wire::kHttpBadRequest;
      return Respond(JsonError(status, "malformed request: " + ec.message()), /*body_unread=*/true);
    }
    const auto& req = header_parser_->get();
    request_keep_alive_ = req.keep_alive();
    head_.method = std::string(View(req.method_string()));
    head_.target = std::string(View(req.target()));
    for (const auto& field : req) head_.headers.Add(View(field.name_string()), View(field.value()));
    if (auto length = header_parser_->content_length()) head_.content_length = *length;
    const bool body_unread = !header_parser_->is_done();

    InflightLimit& budget = IsUpload(head_) ? shared_.inflight : shared_.control_inflight;
    if (!budget.TryAcquire()) {
      Reply busy =
          JsonError(wire::kHttpTooManyRequests, "too many requests in flight; retry later");
      busy.headers.emplace_back(wire::kRetryAfterHeader, "1");
      return Respond(std::move(busy), body_unread);
    }
    slot_ = &budget;
    shared_.handler->metrics().RequestStarted();
    admission_ = shared_.handler->Admit(head_);
    device_ = admission_.route.device;
    if (admission_.matched) route_label_ = wire::EndpointName(admission_.route.endpoint);
    if (admission_.reject) return Respond(std::move(*admission_.reject), body_unread);
    if (wire::IsDeviceWrite(admission_.route.endpoint)) {
      if (!shared_.limits.TryAcquireDevice(device_)) {
        Reply busy = JsonError(
            wire::kHttpTooManyRequests,
            "device '" + device_ + "' already has " +
                std::to_string(shared_.limits.caps().max_inflight_per_device) +
                " requests in flight (--max-inflight-per-device); retry later");
        busy.headers.emplace_back(wire::kRetryAfterHeader, "1");
        return Respond(std::move(busy), body_unread);
      }
      device_slot_ = device_;
    }
    if (!body_unread) return Dispatch(std::string());

    const bool wants_continue = beast::iequals(req[http::field::expect], "100-continue");
    if (admission_.route.endpoint == wire::Endpoint::kPutChunk) return OpenIntake(wants_continue);
    parser_.emplace(std::move(*header_parser_));
    parser_->body_limit(admission_.body_limit);
    header_parser_.reset();
    StartBody(wants_continue);
  }

  // A chunk's file is created (its device directory made and synced the first time) and the
  // chunk looked up off the I/O thread: either can block while the disk is busy (a syncfs),
  // and an I/O thread that blocks stalls every connection it serves, operators' reads
  // included, for seconds. The session waits meanwhile; admission_ is the job's until then.
  void OpenIntake(bool wants_continue) {
    OnPoolThen(
        shared_.body_writes, [this] { return shared_.handler->OpenChunkIntake(admission_); },
        [wants_continue](HttpSession& self, std::optional<std::unique_ptr<ChunkIntake>> intake) {
          if (!intake) return self.Respond(StorageFailed(), /*body_unread=*/true);
          self.OnIntakeOpen(std::move(*intake), wants_continue);
        });
  }

  void OnIntakeOpen(std::unique_ptr<ChunkIntake> intake, bool wants_continue) {
    intake_ = std::move(intake);
    if (!intake_) return Respond(std::move(*admission_.reject), /*body_unread=*/true);
    // Its file writes too: write() blocks while the disk is busy.
    intake_->WriteOffThread([&pool = shared_.body_writes](std::function<void()> task) {
      net::post(pool, std::move(task));
    });
    intake_parser_.emplace(std::move(*header_parser_), intake_.get());
    intake_parser_->body_limit(admission_.body_limit);
    header_parser_.reset();
    StartBody(wants_continue);
  }

  void StartBody(bool wants_continue) {
    if (wants_continue) {
      continue_ = http::response<http::empty_body>(http::status::continue_, 11);
      Lowest().expires_after(kWriteTimeout);
      http::async_write(stream_, continue_, [self = Self()](beast::error_code wec, std::size_t) {
        if (wec) return self->Abort(wec);
        self->ReadBody();
      });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    // Beast reads max(512, free capacity) bytes per call: without room a 1 MiB
    // body took ~2,000 recvmsg calls. Given back after the body (idle sockets).
    buffer_.reserve(kBodyReadBuffer);
    const std::uint64_t declared = head_.content_length.value_or(admission_.body_limit);
    Lowest().expires_after(std::clamp<std::chrono::steady_clock::duration>(
        std::chrono::seconds(declared / kMinBodyRate), kMinBodyTime, kMaxBodyTime));
    if (intake_parser_) return ReadChunkSome();
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::OnBody, Self()));
  }

  Reply BodyTooLarge() const {
    return JsonError(wire::kHttpPayloadTooLarge, "body exceeds the limit of " +
                                                     std::to_string(admission_.body_limit) +
                                                     " bytes");
  }

  // A chunk body is read a buffer at a time, so that reading can pause while its file writes
  // lag (ChunkIntake::PauseReading): memory stays bounded, and the thread serves others.
  void ReadChunkSome() {
    http::async_read_some(stream_, buffer_, *intake_parser_,
                          beast::bind_front_handler(&HttpSession::OnChunkSome, Self()));
  }

  void OnChunkSome(beast::error_code ec, std::size_t n) {
    if (ec || intake_parser_->is_done()) return OnChunkBody(ec, n);
    const bool paused = intake_->PauseReading([self = Self()] {
      auto executor = self->stream_.get_executor();
      net::post(executor, [self = std::move(self)] { self->ReadChunkSome(); });
    });
    if (!paused) ReadChunkSome();
  }

  void OnChunkBody(beast::error_code ec, std::size_t) {
    bytes_in_ = intake_->received_bytes();
    buffer_.shrink_to_fit();
    // Refused: the temp file goes now, not when the connection ends (the
    // answer is followed by a linger of up to 2 s).
    auto drop_intake = [this] {
      intake_parser_.reset();
      intake_.reset();
    };
    if (ec == http::error::body_limit) {
      drop_intake();
      return Respond(BodyTooLarge(), /*body_unread=*/true);
    }
    // The intake refused the body (too large inflated, not a capture, disk
    // error): FinishChunk answers with its reason; the rest is not read.
    if (ec && !intake_->error().ok()) {
      Reply refusal = shared_.handler->FinishChunk(admission_, *intake_);
      drop_intake();
      return Respond(std::move(refusal), /*body_unread=*/true);
    }
    if (ec) {
      drop_intake();
      return Abort(ec);
    }
    intake_parser_.reset();  // it points at intake_, which moves to the storage thread
    // Finished (last write, hash) on a storage thread, then into the group commit without a
    // thread waiting for it: a batch can then hold every chunk in flight. With a thread
    // blocked per chunk, 64 KiB chunks from 1,000 devices made batches of ~8 with 16 threads
    // (1,440-1,500 chunks/s) and ~22 with 64 threads (2,030-2,070), but the extra threads'
    // malloc caches raised a log flood's peak RSS from 230 to 257 MiB (e2e.hostile_clients).
    auto executor = stream_.get_executor();
    net::post(shared_.storage, [self = Self(), executor, intake = std::move(intake_),
                                work = net::make_work_guard(executor)]() mutable {
      // Once: the catch below answers a throw before the commit took the chunk; after its
      // answer (the group commit answers even a commit that throws) it must not answer again.
      auto answered = std::make_shared<std::atomic<bool>>(false);
      auto respond = [self, executor, work, answered](Reply reply) {
        if (answered->exchange(true)) return;
        net::post(executor, [self, reply = std::move(reply)]() mutable {
          self->Respond(std::move(reply), /*body_unread=*/false);
        });
      };
      try {
        self->shared_.handler->FinishChunkAsync(self->admission_, *intake, respond);
      } catch (const std::exception& e) {  // before the commit took it: answered here
        PICKET_LOG(kError, "collector", "unexpected exception storing a request",
                   {"path", self->head_.target}, {"what", e.what()});
        respond(StorageFailed());
      }
      intake.reset();  // an unpublished temp file goes now
    });
  }

  // Runs `job` on `pool` (it may block: the disk, the database), then `then(*this, result)` on
  // this session's strand; the result is nullopt when the job threw (logged). The session
  // waits meanwhile: it reads nothing, and admission_ is the job's until `then` runs. The work
  // guard keeps the I/O threads running until the answer is posted.
  template <class Job, class Then>
  void OnPoolThen(net::thread_pool& pool, Job job, Then then) {
    auto executor = stream_.get_executor();
    net::post(pool, [self = Self(), executor, job = std::move(job), then = std::move(then),
                     work = net::make_work_guard(executor)]() mutable {
      std::optional<decltype(job())> result;
      try {
        result.emplace(job());
      } catch (const std::exception& e) {
        PICKET_LOG(kError, "collector", "unexpected exception storing a request",
                   {"path", self->head_.target}, {"what", e.what()});
      }
      net::post(executor, [self = std::move(self), result = std::move(result),
                           then = std::move(then)]() mutable { then(*self, std::move(result)); });
    });
  }

  static Reply StorageFailed() { return JsonError(wire::kHttpInternalError, "storage failed"); }

  // Runs `store` (returns the Reply) on a storage thread, then answers it.
  template <class Store>
  void OffTheIoThread(Store store) {
    OnPoolThen(shared_.storage, std::move(store),
               [](HttpSession& self, std::optional<Reply> reply) {
                 self.Respond(reply ? std::move(*reply) : StorageFailed(), /*body_unread=*/false);
               });
  }

  void OnBody(beast::error_code ec, std::size_t) {
    if (ec == http::error::body_limit) return Respond(BodyTooLarge(), /*body_unread=*/true);
    if (ec) return Abort(ec);
    std::string body = std::move(parser_->get().body());
    bytes_in_ = body.size();
    buffer_.shrink_to_fit();
    Dispatch(std::move(body));
  }

  // Reads run on this I/O thread (short, on the database's read connection);
  // device writes commit a transaction and go to a storage thread.
  void Dispatch(std::string body) {
    if (admission_.follow) return StartFollow();
    if (wire::IsDeviceWrite(admission_.route.endpoint)) {  // a transaction to commit
      return OffTheIoThread([this, body = std::move(body)]() mutable {
        const bool large = body.size() >= kTrimAfterBodyBytes;
        Reply reply = shared_.handler->Handle(std::move(admission_), std::move(body));
        // A large batch of results or log lines is parsed into many small allocations in this
        // thread's malloc arena, and glibc keeps what is freed there: a device flooding
        // 1,000,000 log rows left the peak RSS at 259 MiB (e2e.hostile_clients, limit 256),
        // 229 MiB with this. (M_ARENA_MAX 4 gave 145 MiB, but operators' reads under 1 MiB
        // chunk ingest then waited longer, p50 0.4-1.6 s in three runs: not kept.)
        if (large) malloc_trim(0);
        return reply;
      });
    }
    Reply reply = shared_.handler->Handle(std::move(admission_), std::move(body));
    Respond(std::move(reply), /*body_unread=*/false);
  }

  void Respond(Reply reply, bool body_unread) {
    if (reply.stream && !body_unread) return RespondStreamed(std::move(reply));
    status_ = reply.status;
    response_.emplace();
    auto& res = *response_;
    res.version(11);
    res.result(static_cast<unsigned>(reply.status));
    res.set(http::field::server, "picket-collector");
    res.set(http::field::content_type, reply.content_type);
    for (const auto& [name, value] : reply.headers) res.set(name, value);
    res.body() = std::move(reply.body);
    bytes_out_ = res.body().size();
    // After an early answer the rest of the body is still on the wire: close.
    keep_alive_ =
        !body_unread && !shared_.stopping.load() && request_keep_alive_;
    res.keep_alive(keep_alive_);
    res.prepare_payload();
    Lowest().expires_after(kWriteTimeout);
    http::async_write(stream_, res,
                      [self = Self(), body_unread](beast::error_code ec, std::size_t) {
                        self->OnWrite(ec, body_unread);
                      });
  }

  void OnWrite(beast::error_code ec, bool body_unread) {
    LogRequest(ec);
    ReleaseSlot();
    response_.reset();
    if (ec) return Close();
    if (body_unread) return Linger();
    if (!keep_alive_) return Shutdown();
    ReadHeader();
  }

  void LogRequest(const beast::error_code& ec) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started_)
                        .count();
    shared_.handler->metrics().ObserveRequest(
        route_label_, status_,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    PICKET_LOG(kInfo, "collector", "request", {"method", head_.method}, {"path", head_.target},
               {"device", device_.empty() ? std::string("-") : device_}, {"status", status_},
               {"bytes", bytes_in_}, {"sent", bytes_out_}, {"ms", static_cast<std::int64_t>(ms)},
               {"peer", peer_});
    if (ec) {
      PICKET_LOG(kInfo, "collector", "response not delivered", {"path", head_.target},
                 {"peer", peer_}, {"error", ec.message()});
    }
  }

  // The client vanished mid-request: nobody to answer.
  void Abort(const beast::error_code& ec) {
    PICKET_LOG(kInfo, "collector", "request aborted", {"method", head_.method},
               {"path", head_.target}, {"device", device_.empty() ? std::string("-") : device_},
               {"peer", peer_}, {"error", ec.message()});
    Close();
  }

  // Reads and drops what the client still sends after an early answer, so
  // closing does not reset the connection before it has read the response.
  void Linger() {
    idle_ = true;  // a shutdown may cut this short
    Lowest().expires_after(kLingerTimeout);
    LingerRead();
  }

  void LingerRead() {
    buffer_.consume(buffer_.size());
    stream_.async_read_some(buffer_.prepare(64 * 1024),
                            [self = Self()](beast::error_code ec, std::size_t n) {
                              self->lingered_ += n;
                              if (ec || self->lingered_ > kLingerMaxBytes) return self->Close();
                              self->LingerRead();
                            });
  }

  void Shutdown() {
    idle_ = true;
    if constexpr (kTls) {
      Lowest().expires_after(kLingerTimeout);
      stream_.async_shutdown([self = Self()](beast::error_code) { self->Close(); });
    } else {
      beast::error_code ec;
      Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
      Close();
    }
  }

  // Streamed answers (Reply::stream) ----------------------------------------------
  // A chunked response: the head, then one piece per producer call, each
  // written before the next is produced, then the last chunk; keep-alive as usual.

  void RespondStreamed(Reply reply) {
    status_ = reply.status;
    producer_ = std::move(reply.stream);
    stream_head_.emplace(static_cast<http::status>(reply.status), 11);
    stream_head_->set(http::field::server, "picket-collector");
    stream_head_->set(http::field::content_type, reply.content_type);
    for (const auto& [name, value] : reply.headers) stream_head_->set(name, value);
    keep_alive_ = !shared_.stopping.load() && request_keep_alive_;
    stream_head_->keep_alive(keep_alive_);
    stream_head_->chunked(true);
    stream_serializer_.emplace(*stream_head_);
    Lowest().expires_after(kWriteTimeout);
    http::async_write_header(stream_, *stream_serializer_,
                             [self = Self()](beast::error_code ec, std::size_t n) {
                               self->bytes_out_ += n;
                               if (ec) return self->EndStreamed(ec);
                               self->WriteNextPiece();
                             });
  }

  void WriteNextPiece() {
    Result<std::string> piece = Status::Internal("no producer");
    try {
      piece = producer_();
    } catch (const std::exception& e) {
      piece = Status::Internal(std::string("streamed answer: ") + e.what());
    }
    if (!piece.ok()) {
      PICKET_LOG(kError, "collector", "streamed answer cut short", {"path", head_.target},
                 {"peer", peer_}, {"status", piece.status()});
      return EndStreamed(beast::error_code(beast::errc::io_error, beast::generic_category()));
    }
    Lowest().expires_after(kWriteTimeout);
    if (piece->empty()) {
      return net::async_write(stream_, http::make_chunk_last(),
                              [self = Self()](beast::error_code ec, std::size_t n) {
                                self->bytes_out_ += n;
                                self->EndStreamed(ec);
                              });
    }
    chunk_text_ = std::move(*piece);
    net::async_write(stream_, http::make_chunk(net::buffer(chunk_text_)),
                     [self = Self()](beast::error_code ec, std::size_t n) {
                       self->bytes_out_ += n;
                       if (ec) return self->EndStreamed(ec);
                       self->WriteNextPiece();
                     });
  }

  void EndStreamed(const beast::error_code& ec) {
    producer_ = nullptr;
    chunk_text_.clear();
    chunk_text_.shrink_to_fit();
    stream_serializer_.reset();
    stream_head_.reset();
    if (ec) keep_alive_ = false;
    OnWrite(ec, /*body_unread=*/false);
  }

  // GET /v1/logs?follow=1 ------------------------------------------------------
  // A chunked text/event-stream response that lasts until the client goes, the
  // collector stops or a write fails. New rows are read from the database from
  // follow_cursor_ whenever the LogFeed says the device has some, one write at
  // a time (all on this session's strand).

  void StartFollow() {
    follow_ = std::move(*admission_.follow);
    ReleaseSlot();  // a stream that lasts hours must not hold a --max-inflight slot
    std::weak_ptr<HttpSession> weak = Self();
    auto executor = stream_.get_executor();
    feed_id_ = shared_.handler->log_feed().Subscribe(follow_.device, [weak, executor] {
      net::post(executor, [weak] {
        if (auto self = weak.lock()) self->SendNewEvents();
      });
    });
    if (feed_id_ == 0) {
      Reply busy = JsonError(wire::kHttpUnavailable,
                             "too many log followers (limit " +
                                 std::to_string(shared_.handler->log_feed().max_followers()) +
                                 "); retry later");
      busy.headers.emplace_back(wire::kRetryAfterHeader, "5");
      return Respond(std::move(busy), /*body_unread=*/false);
    }
    auto cursor = shared_.handler->StartCursor(follow_);
    if (!cursor.ok()) {
      StopFollowing();
      return Respond(JsonError(wire::kHttpInternalError, "query: " + cursor.status().message()),
                     false);
    }
    follow_cursor_ = *cursor;
    following_ = true;
    // Subscribed before stopping is read: either this sees it, or Drain's
    // CloseIfIdle runs after and sees following_.
    if (shared_.stopping.load()) return Close();
    status_ = wire::kHttpOk;
    Lowest().expires_never();  // the heartbeat timer watches writes instead
    sse_head_.emplace(http::status::ok, 11);
    sse_head_->set(http::field::server, "picket-collector");
    sse_head_->set(http::field::content_type, std::string(wire::kEventStreamContentType));
    sse_head_->set(http::field::cache_control, "no-cache");
    sse_head_->keep_alive(false);
    sse_head_->chunked(true);
    sse_serializer_.emplace(*sse_head_);
    writing_ = true;
    write_started_ = std::chrono::steady_clock::now();
    http::async_write_header(stream_, *sse_serializer_,
                             [self = Self()](beast::error_code ec, std::size_t n) {
                               self->writing_ = false;
                               self->bytes_out_ += n;
                               if (ec) return self->EndFollow(ec);
                               if (self->finishing_) return self->WriteLastChunk();
                               self->WatchPeer();
                               self->ArmHeartbeat();
                               self->SendNewEvents();
                             });
  }

  // The client sends nothing while following: any read completion (EOF,
  // reset, stray bytes) ends the stream.
  void WatchPeer() {
    buffer_.consume(buffer_.size());
    stream_.async_read_some(
        buffer_.prepare(512), [self = Self()](beast::error_code ec, std::size_t) {
          if (!self->following_) return;
          self->EndFollow(ec ? ec : beast::error_code(http::error::unexpected_body));
        });
  }

  void ArmHeartbeat() {
    heartbeat_.expires_after(kHeartbeatInterval);
    heartbeat_.async_wait([self = Self()](beast::error_code ec) {
      if (ec || !self->following_) return;
      if (self->writing_) {
        if (std::chrono::steady_clock::now() - self->write_started_ > kWriteTimeout) {
          return self->EndFollow(beast::error::timeout);
        }
      } else {
        self->WriteChunk(": ping\n\n");
      }
      self->ArmHeartbeat();
    });
  }

  void SendNewEvents() {
    if (!following_ || finishing_) return;
    if (writing_) {
      more_pending_ = true;
      return;
    }
    more_pending_ = false;
    auto events = shared_.handler->NextLogEvents(follow_, follow_cursor_);
    if (!events.ok()) {
      PICKET_LOG(kError, "collector", "log follow query failed", {"peer", peer_},
                 {"status", events.status()});
      return FinishFollow();
    }
    follow_cursor_ = events->cursor;
    more_pending_ = events->more;
    if (!events->text.empty()) WriteChunk(std::move(events->text));
  }

  void WriteChunk(std::string text) {
    chunk_text_ = std::move(text);
    writing_ = true;
    write_started_ = std::chrono::steady_clock::now();
    net::async_write(stream_, http::make_chunk(net::buffer(chunk_text_)),
                     [self = Self()](beast::error_code ec, std::size_t n) {
                       self->writing_ = false;
                       self->bytes_out_ += n;
                       if (ec) return self->EndFollow(ec);
                       if (self->finishing_) return self->WriteLastChunk();
                       if (self->more_pending_) self->SendNewEvents();
                     });
  }

  // Collector shutdown: end the chunked body properly, then close.
  void FinishFollow() {
    if (!following_ || finishing_) return;
    finishing_ = true;
    heartbeat_.cancel();
    if (!writing_) WriteLastChunk();
  }

  void WriteLastChunk() {
    Lowest().expires_after(kLingerTimeout);
    writing_ = true;
    net::async_write(stream_, http::make_chunk_last(),
                     [self = Self()](beast::error_code ec, std::size_t n) {
                       self->writing_ = false;
                       self->bytes_out_ += n;
                       self->LogFollowEnd(ec);
                       // No TLS close_notify exchange: the peer-watch read is still
                       // pending, and the chunked body has already ended cleanly.
                       beast::error_code ignored;
                       self->Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
                       self->Close();
                     });
  }

  // The client went away or a write failed.
  void EndFollow(const beast::error_code& ec) {
    if (!following_) return;
    LogFollowEnd(IsQuietDisconnect(ec) ? beast::error_code() : ec);
    Close();
  }

  void LogFollowEnd(const beast::error_code& ec) {
    if (follow_logged_) return;
    follow_logged_ = true;
    LogRequest(ec);
  }

  // Unsubscribes and stops the heartbeat; idempotent, any state.
  void StopFollowing() {
    following_ = false;
    if (feed_id_ != 0) {
      shared_.handler->log_feed().Unsubscribe(std::exchange(feed_id_, 0));
    }
  }

  void Close() {
    StopFollowing();
    heartbeat_.cancel();
    ReleaseSlot();
    beast::error_code ec;
    Lowest().socket().close(ec);
  }

  void ReleaseSlot() {
    if (slot_) {
      std::exchange(slot_, nullptr)->Release();
      shared_.handler->metrics().RequestFinished();
    }
    if (!device_slot_.empty()) shared_.limits.ReleaseDevice(std::exchange(device_slot_, {}));
  }

  Stream stream_;
  ServerShared& shared_;
  std::unique_ptr<ConnectionLimits::Ticket> ticket_;  // released when the session ends
  std::string device_slot_;  // the device whose in-flight count this request holds
  beast::flat_buffer buffer_;
  // A request's head is read with header_parser_, then its body with parser_
  // (in memory) or, for a chunk, intake_parser_ into intake_.
  std::optional<http::request_parser<http::empty_body>> header_parser_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::unique_ptr<ChunkIntake> intake_;
  std::optional<http::request_parser<IntakeBody>> intake_parser_;  // destroyed before intake_
  bool request_keep_alive_ = false;
  std::optional<http::response<http::string_body>> response_;
  http::response<http::empty_body> continue_;
  net::steady_timer heartbeat_;
  std::optional<http::response<http::empty_body>> sse_head_;
  std::optional<http::response_serializer<http::empty_body>> sse_serializer_;
  std::string chunk_text_;  // the chunk being written
  std::optional<http::response<http::empty_body>> stream_head_;
  std::optional<http::response_serializer<http::empty_body>> stream_serializer_;
  BodyProducer producer_;
  LogFollow follow_;
  std::uint64_t follow_cursor_ = 0;
  std::uint64_t feed_id_ = 0;
  std::chrono::steady_clock::time_point write_started_;
  bool following_ = false;     // streaming log events
  bool finishing_ = false;     // shutdown: the last chunk goes out after the current write
  bool writing_ = false;       // one write at a time
  bool more_pending_ = false;  // new rows were announced (or a page was full) during a write
  bool follow_logged_ = false;
  RequestHead head_;
  std::string cert_device_;  // mTLS: set once, after the handshake
  Admission admission_;
  std::string device_;
  std::string_view route_label_ = "unmatched";  // metrics: wire::EndpointName or "unmatched"
  std::string peer_ = "?";
  std::chrono::steady_clock::time_point started_;
  std::uint64_t registry_id_ = 0;
  std::uint64_t bytes_in_ = 0, bytes_out_ = 0;
  std::size_t lingered_ = 0;
  int status_ = 0;
  // Waiting for a request (or lingering): safe to close at shutdown or to make
  // room under --max-connections (read from other threads by IdleNow).
  std::atomic<bool> idle_{false};
  InflightLimit* slot_ = nullptr;  // the --max-inflight budget this request holds a slot of
  bool keep_alive_ = false;
};

}  // namespace

void StartSession(tcp::socket socket, ServerShared& shared,
                  std::unique_ptr<ConnectionLimits::Ticket> ticket) {
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  if (shared.tls != nullptr) {
    std::make_shared<HttpSession<TlsStream>>(shared, std::move(ticket), std::move(socket),
                                             *shared.tls)
        ->Start();
  } else {
    std::make_shared<HttpSession<PlainStream>>(shared, std::move(ticket), std::move(socket))
        ->Start();
  }
}

}  // namespace picket::collector
