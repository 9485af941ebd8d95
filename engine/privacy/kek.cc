#include "engine/privacy/kek.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/hash.h"
#include "common/secret.h"

namespace otinish::engine::privacy {

namespace fs = std::filesystem;

namespace {

void ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  (void)ok;
}

}  // namespace

SecretKey::SecretKey() noexcept { bytes_.fill(0); }
SecretKey::SecretKey(const std::uint8_t* bytes) noexcept { std::memcpy(bytes_.data(), bytes, kSize); }
SecretKey::SecretKey(const SecretKey& other) noexcept : bytes_(other.bytes_) {}
SecretKey& SecretKey::operator=(const SecretKey& other) noexcept {
  bytes_ = other.bytes_;
  return *this;
}
SecretKey::~SecretKey() { sodium_memzero(bytes_.data(), bytes_.size()); }

SecretKey SecretKey::random() {
  ensure_sodium();
  SecretKey k;
  randombytes_buf(k.bytes_.data(), k.bytes_.size());
  return k;
}

std::string KeyEncryptionKey::id() const {
  ensure_sodium();
  static constexpr std::string_view kLabel = "otinish key-encryption key id v1";
  std::array<std::uint8_t, 8> out{};
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(kLabel.data()), kLabel.size(),
                     key.data(), SecretKey::kSize);
  return to_hex(out);
}

Result<KeyEncryptionKey> kek_from_hex(std::string_view hex, std::string source) {
  std::array<std::uint8_t, SecretKey::kSize> raw{};
  if (!from_hex(hex, raw)) {
    return Status::InvalidArgument(source + " does not hold a key-encryption key: expected 64 hexadecimal characters "
                                   "(as `otinish keys generate` writes), found " + std::to_string(hex.size()) +
                                   " characters");
  }
  KeyEncryptionKey k{SecretKey(raw.data()), std::move(source)};
  sodium_memzero(raw.data(), raw.size());
  return k;
}

Result<KeyEncryptionKey> load_kek(std::string_view spec, std::string_view data_dir) {
  OTINISH_ASSIGN_OR_RETURN(SecretText secret, load_secret(spec, "key-encryption key", data_dir));
  return kek_from_hex(secret.text, secret.source);
}

Result<KeyEncryptionKey> load_default_kek(std::string_view data_dir) {
  if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY"); dir && fs::exists(fs::path(dir) / "otinish-kek")) {
    return load_kek("credential:otinish-kek", data_dir);
  }
  if (std::getenv("OTINISH_KEK")) return load_kek("env:OTINISH_KEK", data_dir);
  return Status::NotFound(
      "no key-encryption key: pass --kek file:PATH (see `otinish keys generate`), set OTINISH_KEK, or give the "
      "systemd credential otinish-kek");
}

Result<KeyEncryptionKey> generate_kek_file(const std::string& path, std::string_view data_dir) {
  KeyEncryptionKey k{SecretKey::random(), "key-encryption key file " + path};
  std::string hex = to_hex(std::span<const std::uint8_t>(k.key.data(), SecretKey::kSize));
  Status st = write_secret_file(path, hex, "key-encryption key", data_dir);
  sodium_memzero(hex.data(), hex.size());
  OTINISH_RETURN_IF_ERROR(st);
  return k;
}

}  // namespace otinish::engine::privacy
