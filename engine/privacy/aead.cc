#include "engine/privacy/aead.h"

#include <sodium.h>

namespace otinish::engine::privacy {

static_assert(kAeadNonceBytes == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(kAeadTagBytes == crypto_aead_xchacha20poly1305_ietf_ABYTES);

namespace {
const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
}  // namespace

AeadNonce random_nonce() {
  AeadNonce n;
  randombytes_buf(n.data(), n.size());
  return n;
}

void aead_seal_into(std::string& out, const SecretKey& key, const AeadNonce& nonce, std::string_view ad,
                    std::string_view plain) {
  const std::size_t at = out.size();
  out.resize(at + kAeadNonceBytes + plain.size() + kAeadTagBytes);
  auto* o = reinterpret_cast<unsigned char*>(out.data() + at);
  std::copy(nonce.begin(), nonce.end(), o);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(o + kAeadNonceBytes, &written, bytes(plain), plain.size(), bytes(ad),
                                             ad.size(), nullptr, o, key.data());
}

AeadBatchSealer::AeadBatchSealer(const SecretKey& key, const std::array<std::uint8_t, kPrefixBytes>& prefix)
    : prefix_(prefix) {
  static_assert(kPrefixBytes == crypto_core_hchacha20_INPUTBYTES);
  static_assert(kAeadNonceBytes == kPrefixBytes + 8 && crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12);
  crypto_core_hchacha20(subkey_.data(), prefix_.data(), key.data(), nullptr);
}

AeadBatchSealer::~AeadBatchSealer() = default;  // SecretKey wipes itself

void AeadBatchSealer::seal_into(std::string& out, std::uint64_t n, std::string_view ad, std::string_view plain) const {
  const std::size_t at = out.size();
  out.resize(at + kAeadNonceBytes + plain.size() + kAeadTagBytes);
  auto* o = reinterpret_cast<unsigned char*>(out.data() + at);
  std::copy(prefix_.begin(), prefix_.end(), o);
  for (std::size_t i = 0; i < 8; ++i) o[kPrefixBytes + i] = static_cast<unsigned char>(n >> (8 * i));
  // What crypto_aead_xchacha20poly1305_ietf_encrypt does after HChaCha20: the IETF construction with the
  // nonce's last 8 bytes after 4 zero bytes.
  unsigned char ietf_nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES] = {};
  std::copy(o + kPrefixBytes, o + kAeadNonceBytes, ietf_nonce + 4);
  unsigned long long written = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(o + kAeadNonceBytes, &written, bytes(plain), plain.size(), bytes(ad),
                                            ad.size(), nullptr, ietf_nonce, subkey_.data());
}

std::string aead_seal(const SecretKey& key, const AeadNonce& nonce, std::string_view ad, std::string_view plain) {
  std::string out;
  aead_seal_into(out, key, nonce, ad, plain);
  return out;
}

bool aead_open(const SecretKey& key, std::string_view sealed, std::string_view ad, std::string& plain) {
  if (sealed.size() < kAeadNonceBytes + kAeadTagBytes) {
    plain.clear();
    return false;
  }
  plain.assign(sealed.size() - kAeadNonceBytes - kAeadTagBytes, '\0');
  unsigned long long n = 0;
  const bool ok = crypto_aead_xchacha20poly1305_ietf_decrypt(
                      reinterpret_cast<unsigned char*>(plain.data()), &n, nullptr, bytes(sealed) + kAeadNonceBytes,
                      sealed.size() - kAeadNonceBytes, bytes(ad), ad.size(), bytes(sealed), key.data()) == 0;
  if (!ok) {
    sodium_memzero(plain.data(), plain.size());
    plain.clear();
  }
  return ok;
}

}  // namespace otinish::engine::privacy
