// Capped exponential backoff with full jitter: attempt n waits a uniform random
// time in [base, min(cap, base * 2^n)]. Used for upload retries, worker restarts
// and ZooKeeper reconnects, so a fleet that lost its collector does not come
// back in lockstep. Not thread-safe: one instance per retrying thing.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace picket {

// The delay before retry number `attempt` (0-based) of something that failed
// `attempt` times: uniform in [base, min(cap, base * 2^attempt)]. Stateless, for
// items whose attempt count lives elsewhere (a buffer row).
std::chrono::milliseconds JitteredDelay(std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap, int attempt,
                                        std::mt19937_64& rng);

class JitteredBackoff {
 public:
  JitteredBackoff(std::chrono::milliseconds base, std::chrono::milliseconds cap,
                  std::uint64_t seed = std::random_device{}());

  // The delay before the next attempt; each call doubles the ceiling up to cap.
  std::chrono::milliseconds Next();
  // Like Next(), but never shorter than what the server asked for (Retry-After).
  std::chrono::milliseconds NextAtLeast(std::chrono::milliseconds server_hint);
  // After a success: start again from base.
  void Reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  std::chrono::milliseconds base_;
  std::chrono::milliseconds cap_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace picket
