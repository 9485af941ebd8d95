// engine/privacy/aead.h: the one place XChaCha20-Poly1305 is called (libsodium), for the key store's wrapped keys
// and the sealed applicants. Internal to engine/privacy: an integrator never needs it.
//
// The sealed form is nonce (24 bytes) || ciphertext || tag (16 bytes). The caller chooses the nonce: random for a
// wrapped key, synthetic (derived from what is sealed) for an applicant.
//
// Thread-safety: pure functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/privacy/kek.h"

namespace otinish::engine::privacy {

inline constexpr std::size_t kAeadNonceBytes = 24;
inline constexpr std::size_t kAeadTagBytes = 16;
using AeadNonce = std::array<std::uint8_t, kAeadNonceBytes>;

AeadNonce random_nonce();
// nonce || XChaCha20-Poly1305(key, plain, associated data `ad`).
std::string aead_seal(const SecretKey& key, const AeadNonce& nonce, std::string_view ad, std::string_view plain);
// The same, appended to `out` (which the caller may have reserved room in for what follows).
void aead_seal_into(std::string& out, const SecretKey& key, const AeadNonce& nonce, std::string_view ad,
                    std::string_view plain);
// XChaCha20-Poly1305 under one key for many messages whose nonces share their first 16 bytes (`prefix`), the
// last 8 a counter: nonce n = prefix || n as 8 little-endian bytes. XChaCha20 derives a subkey from the key and
// a nonce's first 16 bytes (HChaCha20) and then runs ChaCha20-Poly1305 with the last 8: computed once here, that
// derivation is a fifth of wrapping a batch of keys. The output is aead_seal's, byte for byte (a test holds it
// to that), and opens with aead_open. A prefix must be random and never used again with the key (each batch
// draws its own); n must not repeat within it.
class AeadBatchSealer {
 public:
  static constexpr std::size_t kPrefixBytes = 16;
  AeadBatchSealer(const SecretKey& key, const std::array<std::uint8_t, kPrefixBytes>& prefix);
  ~AeadBatchSealer();  // wipes the subkey
  AeadBatchSealer(const AeadBatchSealer&) = delete;
  AeadBatchSealer& operator=(const AeadBatchSealer&) = delete;
  // nonce n || ciphertext || tag, appended to `out`.
  void seal_into(std::string& out, std::uint64_t n, std::string_view ad, std::string_view plain) const;

 private:
  std::array<std::uint8_t, kPrefixBytes> prefix_;
  SecretKey subkey_;
};

// Opens aead_seal's output into `plain`. False (and `plain` wiped) when it is too short, altered, sealed under
// another key or with other associated data.
bool aead_open(const SecretKey& key, std::string_view sealed, std::string_view ad, std::string& plain);

}  // namespace otinish::engine::privacy
