// api/http/auth_throttle.h: the limit on failed authentications per peer.
//
// A peer (an IP address) that presents `max_failures` unknown, malformed or revoked tokens within `window`
// is refused (429, Retry-After) for every request that presents a token that is not valid, until a window has
// passed since its last counted failure; meanwhile its bad tokens are neither counted nor logged one by one.
// A valid token is still served (the caller checks it first): a token's secret cannot be guessed, and desks
// behind one NAT share an address. A successful authentication is neither counted nor resets the count. The
// table is bounded: at most `max_peers` entries, the least recently failing peer forgotten first; a peer is
// forgotten once its window has passed.
//
// Usage:
//   AuthThrottle throttle({.max_failures = 10, .window = std::chrono::seconds(60)});
//   if (authenticated) serve;
//   if (auto wait = throttle.refused(peer, clock.now())) return too_many_failures(*wait);
//   throttle.record_failure(peer, clock.now());
//
// Thread-safety: thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/time.h"

namespace otinish::api {

struct AuthThrottleOptions {
  // Failed authentications one peer may make within `window`; the next request is refused. 0: no limit.
  std::uint32_t max_failures = 10;
  // How long failures are counted, and how long a refused peer waits after its last failure.
  std::chrono::seconds window{60};
  // Peers remembered at once (about 100 bytes each); beyond it the least recently failing one is forgotten.
  std::size_t max_peers = 10'000;
};

// The peer of a request for the throttle: its remote address without the port ("10.0.0.7", "::1").
std::string peer_of(std::string_view remote);

class AuthThrottle {
 public:
  explicit AuthThrottle(AuthThrottleOptions options) : options_(options) {}

  // How long `peer` must still wait if it is refused now; nullopt if it may authenticate.
  std::optional<std::chrono::seconds> refused(const std::string& peer, Timestamp now);
  // Counts a failed authentication of `peer`. Returns the number of failures counted in its window (this
  // one included): the caller logs the one that reaches the limit.
  std::uint32_t record_failure(const std::string& peer, Timestamp now);

  std::size_t peers() const;
  const AuthThrottleOptions& options() const noexcept { return options_; }

 private:
  struct Entry {
    Timestamp window_start{};
    Timestamp last_failure{};
    std::uint32_t failures = 0;
    std::list<std::string>::iterator lru;  // into lru_
  };
  void forget_oldest_locked(Timestamp now);  // REQUIRES: mu_ held

  const AuthThrottleOptions options_;
  // entries_.size(), readable without mu_: every authenticated request asks refused(), and while no address has
  // failed (the usual case) it answers without taking the lock.
  std::atomic<std::size_t> peers_{0};
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // GUARDED_BY(mu_)
  std::list<std::string> lru_;                      // GUARDED_BY(mu_): peers, most recent failure first
};

}  // namespace otinish::api
