#include "engine/proof/note.h"

#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>

#include "common/utf8.h"

namespace otinish::engine::proof {

namespace {

constexpr std::string_view kSigPrefix = "\xE2\x80\x94 ";  // an em dash (U+2014) and a space
constexpr std::uint8_t kEd25519 = 1;

void ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  (void)ok;
}

std::uint32_t key_hash_of(std::string_view name, std::span<const std::uint8_t> key) {
  crypto_hash_sha256_state s;
  crypto_hash_sha256_init(&s);
  crypto_hash_sha256_update(&s, reinterpret_cast<const unsigned char*>(name.data()), name.size());
  crypto_hash_sha256_update(&s, reinterpret_cast<const unsigned char*>("\n"), 1);
  crypto_hash_sha256_update(&s, key.data(), key.size());
  std::array<std::uint8_t, 32> h;
  crypto_hash_sha256_final(&s, h.data());
  return std::uint32_t{h[0]} << 24 | std::uint32_t{h[1]} << 16 | std::uint32_t{h[2]} << 8 | h[3];
}

std::string hex8(std::uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

bool parse_hex8(std::string_view s, std::uint32_t* out) {
  if (s.size() != 8) return false;
  std::uint32_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return false;
    v = v << 4 | static_cast<std::uint32_t>(d);
  }
  *out = v;
  return true;
}

// Splits "A+B+C" at its first `parts - 1` pluses: the last part, base64, may hold '+' itself.
std::vector<std::string_view> split_plus(std::string_view s, std::size_t parts) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < parts) {
    const auto plus = s.find('+');
    if (plus == std::string_view::npos) break;
    out.push_back(s.substr(0, plus));
    s.remove_prefix(plus + 1);
  }
  out.push_back(s);
  return out;
}

// Valid UTF-8 with no control characters but newline (what a note may hold).
bool clean_utf8(std::string_view s) {
  const bool control = std::any_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\n') || c == 0x7f;
  });
  return !control && is_utf8(s);
}

}  // namespace

std::string base64(std::span<const std::uint8_t> bytes) {
  ensure_sodium();
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.pop_back();  // the terminating NUL
  return out;
}

bool from_base64(std::string_view text, std::string* out) {
  ensure_sodium();
  std::string bin(text.size(), '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bin.data()), bin.size(), text.data(), text.size(), nullptr,
                        &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return false;
  }
  bin.resize(len);
  // Canonical only: text whose unused bits are not zero would decode to the same bytes as another text, and a
  // changed character must never go unnoticed.
  if (base64(std::span(reinterpret_cast<const std::uint8_t*>(bin.data()), bin.size())) != text) return false;
  *out = std::move(bin);
  return true;
}

bool valid_key_name(std::string_view name) {
  if (name.empty() || !clean_utf8(name)) return false;
  for (char c : name) {
    if (c == '+' || c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f') return false;
  }
  // Unicode spaces the Go implementation also refuses: no-break space, ideographic space and the like.
  for (std::string_view space : {"\xC2\xA0", "\xE3\x80\x80", "\xE2\x80\x80", "\xE2\x80\xA8", "\xE2\x80\xAF"}) {
    if (name.find(space) != std::string_view::npos) return false;
  }
  return true;
}

std::string NoteSignature::line() const {
  std::string raw(4, '\0');
  raw[0] = static_cast<char>(key_hash >> 24);
  raw[1] = static_cast<char>(key_hash >> 16);
  raw[2] = static_cast<char>(key_hash >> 8);
  raw[3] = static_cast<char>(key_hash);
  raw += signature;
  return std::string(kSigPrefix) + name + " " +
         base64(std::span(reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size())) + "\n";
}

std::string SignedNote::format() const {
  std::string out = text + "\n";
  for (const auto& s : signatures) out += s.line();
  return out;
}

Result<SignedNote> parse_signed_note(std::string_view bytes) {
  auto bad = [](std::string what) { return Status::InvalidArgument("not a signed note: " + what); };
  if (bytes.size() > 1'000'000) return bad("over 1 MB");
  if (!clean_utf8(bytes)) return bad("it is not UTF-8 text without control characters");
  const auto split = bytes.rfind("\n\n");
  if (split == std::string_view::npos) return bad("no blank line before the signatures");
  SignedNote note;
  note.text = std::string(bytes.substr(0, split + 1));
  std::string_view sigs = bytes.substr(split + 2);
  if (sigs.empty() || sigs.back() != '\n') return bad("the signature lines do not end in a newline");
  while (!sigs.empty()) {
    const auto nl = sigs.find('\n');
    std::string_view line = sigs.substr(0, nl);
    sigs.remove_prefix(nl + 1);
    if (!line.starts_with(kSigPrefix)) return bad("a signature line does not start with an em dash and a space");
    line.remove_prefix(kSigPrefix.size());
    const auto space = line.find(' ');
    if (space == std::string_view::npos) return bad("a signature line has no signature after the name");
    NoteSignature sig;
    sig.name = std::string(line.substr(0, space));
    std::string raw;
    if (!valid_key_name(sig.name)) return bad("a signature names an invalid key name");
    if (!from_base64(line.substr(space + 1), &raw) || raw.size() < 5) return bad("a signature is not base64 of 5+ bytes");
    const auto* u = reinterpret_cast<const std::uint8_t*>(raw.data());
    sig.key_hash = std::uint32_t{u[0]} << 24 | std::uint32_t{u[1]} << 16 | std::uint32_t{u[2]} << 8 | u[3];
    sig.signature = raw.substr(4);
    if (note.signatures.size() >= 100) return bad("over 100 signatures");
    note.signatures.push_back(std::move(sig));
  }
  return note;
}

Result<NoteVerifier> NoteVerifier::parse(std::string_view vkey) {
  auto parts = split_plus(vkey, 3);
  NoteVerifier v;
  std::string key;
  if (parts.size() != 3 || !valid_key_name(parts[0]) || !parse_hex8(parts[1], &v.key_hash_) ||
      !from_base64(parts[2], &key) || key.size() != 33 || static_cast<std::uint8_t>(key[0]) != kEd25519) {
    return Status::InvalidArgument("not an Ed25519 verifier key (NAME+HASH+BASE64, as `otinish checkpoint keygen` "
                                   "prints): " + std::string(vkey.substr(0, 120)));
  }
  if (key_hash_of(parts[0], std::span(reinterpret_cast<const std::uint8_t*>(key.data()), key.size())) != v.key_hash_) {
    return Status::InvalidArgument("verifier key " + std::string(parts[0]) + ": the key hash does not match the key");
  }
  v.name_ = std::string(parts[0]);
  std::memcpy(v.public_key_.data(), key.data() + 1, 32);
  return v;
}

std::string NoteVerifier::key() const {
  std::array<std::uint8_t, 33> k;
  k[0] = kEd25519;
  std::memcpy(k.data() + 1, public_key_.data(), 32);
  return name_ + "+" + hex8(key_hash_) + "+" + base64(k);
}

bool NoteVerifier::verify(std::string_view text, const NoteSignature& sig) const {
  ensure_sodium();
  if (sig.name != name_ || sig.key_hash != key_hash_ || sig.signature.size() != crypto_sign_BYTES) return false;
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(sig.signature.data()),
                                     reinterpret_cast<const unsigned char*>(text.data()), text.size(),
                                     public_key_.data()) == 0;
}

Result<NoteSigner> NoteSigner::parse(std::string_view skey) {
  ensure_sodium();
  auto parts = split_plus(skey, 5);
  NoteSigner s;
  std::string seed;
  const bool shape = parts.size() == 5 && parts[0] == "PRIVATE" && parts[1] == "KEY" && valid_key_name(parts[2]) &&
                     parse_hex8(parts[3], &s.key_hash_) && from_base64(parts[4], &seed) && seed.size() == 33 &&
                     static_cast<std::uint8_t>(seed[0]) == kEd25519;
  if (!shape) {
    sodium_memzero(seed.data(), seed.size());
    return Status::InvalidArgument("not an Ed25519 signer key (PRIVATE+KEY+NAME+HASH+BASE64, as `otinish checkpoint "
                                   "keygen` writes)");
  }
  std::array<std::uint8_t, 32> pk;
  crypto_sign_seed_keypair(pk.data(), s.secret_key_.data(), reinterpret_cast<const unsigned char*>(seed.data()) + 1);
  sodium_memzero(seed.data(), seed.size());
  std::array<std::uint8_t, 33> pub;
  pub[0] = kEd25519;
  std::memcpy(pub.data() + 1, pk.data(), 32);
  if (key_hash_of(parts[2], pub) != s.key_hash_) {
    return Status::InvalidArgument("signer key " + std::string(parts[2]) + ": the key hash does not match the key");
  }
  s.name_ = std::string(parts[2]);
  return s;
}

std::pair<std::string, std::string> NoteSigner::generate(std::string_view name) {
  ensure_sodium();
  std::array<std::uint8_t, 33> seed;
  seed[0] = kEd25519;
  randombytes_buf(seed.data() + 1, 32);
  std::array<std::uint8_t, 32> pk;
  std::array<std::uint8_t, 64> sk;
  crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data() + 1);
  sodium_memzero(sk.data(), sk.size());
  std::array<std::uint8_t, 33> pub;
  pub[0] = kEd25519;
  std::memcpy(pub.data() + 1, pk.data(), 32);
  const std::string hash = hex8(key_hash_of(name, pub));
  std::pair<std::string, std::string> out{"PRIVATE+KEY+" + std::string(name) + "+" + hash + "+" + base64(seed),
                                          std::string(name) + "+" + hash + "+" + base64(pub)};
  sodium_memzero(seed.data(), seed.size());
  return out;
}

NoteSigner::NoteSigner(const NoteSigner& o) : name_(o.name_), key_hash_(o.key_hash_), secret_key_(o.secret_key_) {}
NoteSigner& NoteSigner::operator=(const NoteSigner& o) {
  name_ = o.name_;
  key_hash_ = o.key_hash_;
  secret_key_ = o.secret_key_;
  return *this;
}
NoteSigner::~NoteSigner() { sodium_memzero(secret_key_.data(), secret_key_.size()); }

NoteVerifier NoteSigner::verifier() const {
  std::array<std::uint8_t, 33> pub;
  pub[0] = kEd25519;
  std::memcpy(pub.data() + 1, secret_key_.data() + 32, 32);
  return *NoteVerifier::parse(name_ + "+" + hex8(key_hash_) + "+" + base64(pub));
}

std::string NoteSigner::verifier_key() const { return verifier().key(); }

NoteSignature NoteSigner::sign(std::string_view text) const {
  ensure_sodium();
  NoteSignature sig{name_, key_hash_, std::string(crypto_sign_BYTES, '\0')};
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.signature.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(text.data()), text.size(), secret_key_.data());
  return sig;
}

Result<std::vector<std::string>> verify_note(const SignedNote& note, std::span<const NoteVerifier> verifiers) {
  std::vector<std::string> verified;
  std::set<std::pair<std::string, std::uint32_t>> counted;  // a key given twice is one signer, not two
  for (const NoteVerifier& v : verifiers) {
    if (!counted.emplace(v.name(), v.key_hash()).second) continue;
    bool found = false;
    for (const NoteSignature& s : note.signatures) {
      if (s.name != v.name() || s.key_hash != v.key_hash()) continue;
      if (!v.verify(note.text, s)) {
        return Status::FailedPrecondition("the signature by " + v.name() + " does not verify: the note was altered "
                                          "or signed with another key of that name");
      }
      found = true;
    }
    if (found) verified.push_back(v.name());
  }
  return verified;
}

}  // namespace otinish::engine::proof
