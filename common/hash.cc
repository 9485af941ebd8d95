#include "common/hash.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>

namespace otinish {

static_assert(sizeof(crypto_generichash_state) <= 384, "Blake2b::state_ too small for libsodium's state");

namespace {
void ensure_sodium() noexcept {
  static const bool ok = sodium_init() >= 0;
  if (!ok) std::abort();  // libsodium cannot initialise: nothing safe can be done
}
}  // namespace

Blake2b::Blake2b() noexcept {
  ensure_sodium();
  crypto_generichash_init(reinterpret_cast<crypto_generichash_state*>(state_), nullptr, 0, 32);
}

void Blake2b::update(std::span<const std::uint8_t> bytes) noexcept {
  crypto_generichash_update(reinterpret_cast<crypto_generichash_state*>(state_), bytes.data(), bytes.size());
}

void Blake2b::update(std::string_view bytes) noexcept {
  update(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

Hash256 Blake2b::finish() noexcept {
  Hash256 out;
  crypto_generichash_final(reinterpret_cast<crypto_generichash_state*>(state_), out.data(), out.size());
  return out;
}

Hash256 blake2b_256(std::string_view bytes) noexcept {
  Blake2b h;
  h.update(bytes);
  return h.finish();
}

void to_hex(std::span<const std::uint8_t> bytes, char* out) noexcept {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (std::uint8_t b : bytes) {
    *out++ = kDigits[b >> 4];
    *out++ = kDigits[b & 0xF];
  }
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  std::string out(bytes.size() * 2, '\0');
  to_hex(bytes, out.data());
  return out;
}

bool from_hex(std::string_view hex, std::span<std::uint8_t> out) noexcept {
  if (hex.size() != out.size() * 2) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

}  // namespace otinish
