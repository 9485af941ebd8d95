#include "engine/privacy/kek.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/hash.h"

namespace otinish::engine::privacy {

namespace fs = std::filesystem;

namespace {

void ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  (void)ok;
}

// Whether `file` lies inside `dir` (both made absolute and normal; symbolic links resolved where they exist).
bool inside(const fs::path& file, std::string_view dir) {
  if (dir.empty()) return false;
  std::error_code ec;
  fs::path f = fs::weakly_canonical(fs::absolute(file, ec), ec);
  fs::path d = fs::weakly_canonical(fs::absolute(fs::path(dir), ec), ec);
  auto [di, fi] = std::mismatch(d.begin(), d.end(), f.begin(), f.end());
  // A trailing empty element (a path ending in '/') does not count.
  while (di != d.end() && di->empty()) ++di;
  return di == d.end();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

Result<KeyEncryptionKey> read_file_kek(const fs::path& path, std::string source, std::string_view data_dir) {
  if (inside(path, data_dir)) {
    return Status::InvalidArgument(source + " is inside the data directory " + std::string(data_dir) +
                                   ": keep the key-encryption key elsewhere (a key beside the data protects nothing)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(source + " cannot be read: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  std::string material = trim(text.str());
  auto kek = kek_from_hex(material, source);
  sodium_memzero(material.data(), material.size());
  return kek;
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
  const auto colon = spec.find(':');
  const std::string_view kind = colon == std::string_view::npos ? std::string_view() : spec.substr(0, colon);
  const std::string arg(colon == std::string_view::npos ? std::string_view() : spec.substr(colon + 1));
  if (kind == "file" && !arg.empty()) return read_file_kek(arg, "key-encryption key file " + arg, data_dir);
  if (kind == "env" && !arg.empty()) {
    const std::string source = "environment variable " + arg;
    const char* value = std::getenv(arg.c_str());
    if (!value) return Status::NotFound(source + " is not set");
    return kek_from_hex(trim(value), source);
  }
  if (kind == "credential" && !arg.empty()) {
    const std::string source = "systemd credential " + arg;
    const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
    if (!dir) return Status::NotFound(source + ": $CREDENTIALS_DIRECTORY is not set (is LoadCredential= configured?)");
    return read_file_kek(fs::path(dir) / arg, source + " (" + (fs::path(dir) / arg).string() + ")", data_dir);
  }
  return Status::InvalidArgument("key-encryption key source '" + std::string(spec) +
                                 "' is not file:PATH, env:NAME or credential:NAME");
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
  if (inside(path, data_dir)) {
    return Status::InvalidArgument("key-encryption key file " + path + " is inside the data directory " +
                                   std::string(data_dir) + ": keep it elsewhere");
  }
  KeyEncryptionKey k{SecretKey::random(), "key-encryption key file " + path};
  std::string hex = to_hex(std::span<const std::uint8_t>(k.key.data(), SecretKey::kSize)) + "\n";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    sodium_memzero(hex.data(), hex.size());
    if (err == EEXIST) return Status::AlreadyExists(path + " already exists; a key-encryption key is never overwritten");
    return Status::IOError("cannot create " + path + ": " + std::strerror(err));
  }
  const bool written = ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size()) && ::fsync(fd) == 0;
  ::close(fd);
  sodium_memzero(hex.data(), hex.size());
  if (!written) return Status::IOError("cannot write " + path + ": " + std::strerror(errno));
  return k;
}

}  // namespace otinish::engine::privacy
