#include "api/http/auth_throttle.h"

#include <algorithm>

namespace otinish::api {

std::string peer_of(std::string_view remote) {
  // "1.2.3.4:5678", "::1:5678" (the server writes IPv6 addresses without brackets): the port is after the last ':'.
  const std::size_t colon = remote.rfind(':');
  return std::string(colon == std::string_view::npos ? remote : remote.substr(0, colon));
}

std::optional<std::chrono::seconds> AuthThrottle::refused(const std::string& peer, Timestamp now) {
  if (options_.max_failures == 0 || peers_.load(std::memory_order_acquire) == 0) return std::nullopt;
  std::lock_guard lock(mu_);
  auto it = entries_.find(peer);
  if (it == entries_.end() || it->second.failures < options_.max_failures) return std::nullopt;
  const Timestamp until = it->second.last_failure + options_.window;
  if (now >= until) {
    lru_.erase(it->second.lru);
    entries_.erase(it);
    peers_.store(entries_.size(), std::memory_order_release);
    return std::nullopt;
  }
  // Rounded up, so that a client that waits Retry-After seconds is not refused again.
  const auto left = std::chrono::ceil<std::chrono::seconds>(until - now);
  return std::max(left, std::chrono::seconds(1));
}

std::uint32_t AuthThrottle::record_failure(const std::string& peer, Timestamp now) {
  if (options_.max_failures == 0) return 0;
  std::lock_guard lock(mu_);
  auto it = entries_.find(peer);
  if (it == entries_.end()) {
    if (entries_.size() >= options_.max_peers) forget_oldest_locked(now);
    lru_.push_front(peer);
    it = entries_.emplace(peer, Entry{.window_start = now, .lru = lru_.begin()}).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    if (now - it->second.window_start >= options_.window) {
      it->second.window_start = now;
      it->second.failures = 0;
    }
  }
  it->second.last_failure = now;
  peers_.store(entries_.size(), std::memory_order_release);
  return ++it->second.failures;
}

void AuthThrottle::forget_oldest_locked(Timestamp now) {
  // Peers whose window has passed first; if none has, the one that failed longest ago (a spray of addresses
  // must not grow the table, and the peer it costs is the one least likely to be refused anyway).
  while (!lru_.empty()) {
    auto it = entries_.find(lru_.back());
    const bool expired = now - it->second.last_failure >= options_.window;
    if (!expired && entries_.size() < options_.max_peers) return;
    entries_.erase(it);
    lru_.pop_back();
    if (!expired) return;
  }
}

std::size_t AuthThrottle::peers() const { return peers_.load(std::memory_order_acquire); }

}  // namespace otinish::api
