#include "store/event.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <cstdlib>

#include "common/fork.h"

namespace otinish::store {

namespace {

// Random ids without a system call each: a per-thread ChaCha20 key stream, keyed once from the system's CSPRNG
// (and keyed again in a forked child, which must not repeat its parent's ids). An id needs to be unique, not
// secret; getrandom() per event was a system call on the append path's only writer thread.
class IdStream {
 public:
  void fill(std::uint8_t* out, std::size_t n) {
    if (!keyed_ || generation_ != fork_generation()) rekey();
    if (used_ + n > block_.size()) refill();
    std::memcpy(out, block_.data() + used_, n);
    used_ += n;
  }

 private:
  void rekey() {
    static const bool sodium_ready = sodium_init() >= 0;
    if (!sodium_ready) std::abort();  // no CSPRNG: nothing safe can be done
    randombytes_buf(key_.data(), key_.size());
    nonce_ = 0;
    keyed_ = true;
    generation_ = fork_generation();
    used_ = block_.size();
  }
  void refill() {
    std::array<std::uint8_t, crypto_stream_chacha20_NONCEBYTES> nonce{};
    std::memcpy(nonce.data(), &nonce_, sizeof nonce_);
    ++nonce_;
    crypto_stream_chacha20(block_.data(), block_.size(), nonce.data(), key_.data());
    used_ = 0;
  }

  std::array<std::uint8_t, crypto_stream_chacha20_KEYBYTES> key_{};
  std::array<std::uint8_t, 512> block_{};
  std::size_t used_ = 0;
  std::uint64_t nonce_ = 0;
  bool keyed_ = false;
  std::uint64_t generation_ = 0;  // fork_generation() when keyed
};

}  // namespace

EventId EventId::random() {
  thread_local IdStream stream;
  EventId id;
  stream.fill(id.bytes.data(), id.bytes.size());
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
