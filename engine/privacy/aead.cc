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
