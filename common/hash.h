// common/hash.h: the one place otinish hashes anything security-relevant.
//
// BLAKE2b-256 through libsodium's crypto_generichash: the log's hash chain, rule-set content hashes,
// idempotency digests. Thread-safe (pure functions).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace otinish {

using Hash256 = std::array<std::uint8_t, 32>;

// Incremental BLAKE2b-256. Usage: Blake2b h; h.update(a); h.update(b); Hash256 d = h.finish();
class Blake2b {
 public:
  Blake2b() noexcept;
  void update(std::span<const std::uint8_t> bytes) noexcept;
  void update(std::string_view bytes) noexcept;
  // REQUIRES: called once.
  Hash256 finish() noexcept;

 private:
  alignas(64) unsigned char state_[384];
};

Hash256 blake2b_256(std::string_view bytes) noexcept;
// Lower-case hexadecimal, 64 characters.
std::string to_hex(std::span<const std::uint8_t> bytes);
// The same into `out`, which has room for 2*bytes.size() characters (no allocation, for hot paths).
void to_hex(std::span<const std::uint8_t> bytes, char* out) noexcept;
// Returns false if `hex` is not exactly 2*out.size() hexadecimal characters.
bool from_hex(std::string_view hex, std::span<std::uint8_t> out) noexcept;

}  // namespace otinish
