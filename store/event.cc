#include "store/event.h"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>

namespace otinish::store {

EventId EventId::random() {
  static const bool sodium_ready = sodium_init() >= 0;
  if (!sodium_ready) std::abort();  // no CSPRNG: nothing safe can be done
  EventId id;
  randombytes_buf(id.bytes.data(), id.bytes.size());
  return id;
}

EventId EventId::derived(std::string_view seed) {
  const Hash256 h = blake2b_256(seed);
  EventId id;
  std::copy_n(h.begin(), id.bytes.size(), id.bytes.begin());
  return id;
}

bool EventId::is_nil() const noexcept {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

std::string EventId::to_hex() const { return otinish::to_hex(bytes); }

}  // namespace otinish::store
