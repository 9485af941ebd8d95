#include "common/fork.h"

#include <pthread.h>

#include <atomic>

namespace otinish {

namespace {
std::atomic<std::uint64_t> generation{0};
}  // namespace

std::uint64_t fork_generation() noexcept {
  // Registered by the first caller, which is before any fork whose child could share that caller's pools.
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, [] { generation.fetch_add(1, std::memory_order_relaxed); });
    return true;
  }();
  (void)registered;
  return generation.load(std::memory_order_relaxed);
}

}  // namespace otinish
