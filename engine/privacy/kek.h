// engine/privacy/kek.h: the key-encryption key (KEK) that wraps every applicant's data key.
//
// The KEK is 32 random bytes that never live in the data directory: it comes from a file (e.g. /etc/otinish/kek,
// mode 0600), an environment variable, or a systemd credential (LoadCredential=otinish-kek:/path, read from
// $CREDENTIALS_DIRECTORY). Whoever holds the data directory without the KEK holds only ciphertext.
//
// A source is written as "file:PATH", "env:NAME" or "credential:NAME". The material is 64 hexadecimal characters
// (a trailing newline is allowed), as `otinish keys generate` writes it.
//
// Usage:
//   auto kek = load_kek("file:/etc/otinish/kek", "/var/lib/otinish");
//   if (!kek.ok()) { /* the message names the source and what is wrong with it */ }
//   std::string id = kek->id();  // "5f0c9a1e42d7b3c8": safe to log, tells keys apart
//
// Thread-safety: a value type; the functions are thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace otinish::engine::privacy {

// 32 secret bytes, wiped when destroyed. Copyable (a copy is wiped too).
class SecretKey {
 public:
  static constexpr std::size_t kSize = 32;
  SecretKey() noexcept;
  explicit SecretKey(const std::uint8_t* bytes) noexcept;
  SecretKey(const SecretKey& other) noexcept;
  SecretKey& operator=(const SecretKey& other) noexcept;
  ~SecretKey();
  // A fresh random key (libsodium's randombytes).
  static SecretKey random();
  const std::uint8_t* data() const noexcept { return bytes_.data(); }
  std::uint8_t* data() noexcept { return bytes_.data(); }

 private:
  std::array<std::uint8_t, kSize> bytes_;
};

struct KeyEncryptionKey {
  SecretKey key;
  // Where it came from, for messages: "file /etc/otinish/kek", "environment variable OTINISH_KEK", "systemd
  // credential otinish-kek".
  std::string source;
  // A fingerprint that names the key without revealing it (16 hex characters of a keyed BLAKE2b of a fixed
  // label): the key store records it, so a wrong key is told apart from a damaged store.
  std::string id() const;
};

// Loads the KEK from `spec` ("file:PATH", "env:NAME", "credential:NAME"). A file inside `data_dir` is refused:
// a key stored beside the data it protects protects nothing.
// Errors: kInvalidArgument (a malformed spec, material that is not 64 hex characters, a file in the data
// directory), kNotFound (no such file, variable or credential). Each message names the source.
Result<KeyEncryptionKey> load_kek(std::string_view spec, std::string_view data_dir);

// Where `otinish serve` looks when no --kek is given: the systemd credential "otinish-kek" if
// $CREDENTIALS_DIRECTORY holds it, else the environment variable OTINISH_KEK if set.
// Errors: kNotFound naming the three ways to give a KEK; load_kek's.
Result<KeyEncryptionKey> load_default_kek(std::string_view data_dir);

// Writes a new random KEK to `path` as 64 hex characters and a newline, mode 0600, refusing to overwrite.
// Errors: kAlreadyExists, kIOError, kInvalidArgument (a path inside `data_dir`).
Result<KeyEncryptionKey> generate_kek_file(const std::string& path, std::string_view data_dir);

// A KEK from 64 hex characters (tests, tools). Errors: kInvalidArgument.
Result<KeyEncryptionKey> kek_from_hex(std::string_view hex, std::string source);

}  // namespace otinish::engine::privacy
