#include "engine/privacy/sealer.h"

#include <sodium.h>

#include <algorithm>
#include <unordered_set>

#include "engine/privacy/erasure.h"
#include "engine/privacy/aead.h"
#include "engine/serialization.h"

namespace otinish::engine::privacy {

namespace {

void append_associated(std::string& out, std::string_view key_id, std::string_view appeal_id) {
  out += "otinish applicant v1\x1f";
  out += key_id;
  out += '\x1f';
  out += appeal_id;
}

std::string associated(std::string_view key_id, std::string_view appeal_id) {
  std::string ad;
  append_associated(ad, key_id, appeal_id);
  return ad;
}

}  // namespace

std::string sealing_identity(const Applicant& a, std::string_view appeal_id) {
  std::string identity = applicant_identity(a);
  // An anonymous applicant is known by its appeal: a key of its own, found again when the registration is retried.
  if (identity.empty()) identity = "appeal:" + std::string(appeal_id);
  return identity;
}

Result<SealedApplicant> AeadApplicantSealer::seal(const Applicant& a, std::string_view appeal_id) const {
  OTINISH_ASSIGN_OR_RETURN(ApplicantKey key, keys_.key_for(sealing_identity(a, appeal_id)));
  SealedApplicant s;
  s.scheme = kAeadScheme;
  s.key_id = std::move(key.applicant_id);
  // A synthetic nonce (a keyed hash of what is sealed and where), not a random one: sealing the same applicant
  // into the same appeal again gives the same bytes, so a retried registration is the same append (the log's
  // idempotency compares events) instead of a "different request". A nonce repeats only with the same
  // associated data and plaintext, which reveals nothing but that equality.
  // The hash is SipHash-2-4 with its 128-bit output ("a fast short-input PRF", which is all a synthetic nonce
  // needs: distinct inputs give unrelated outputs to whoever lacks the key), keyed with half of the applicant's
  // nonce key, a key kept for this one purpose (key_store.h ApplicantKey::nonce_key), over the associated
  // data's length, the associated data and the plaintext (the length, so that no other split of the same bytes
  // gives the same input). Its 16 bytes are the first 16 of the nonce, the 8 after them zero: the first 16 are
  // what XChaCha20 derives its subkey from. Until December 2026 the nonce was a keyed BLAKE2b (of the associated
  // data and the plaintext, all 24 bytes): three compressions, 0.65 us against SipHash's 0.05, an eighth of
  // sealing a new applicant. Nothing reads a nonce's derivation back (the nonce is in the bytes), so applicants
  // sealed either way open alike; a registration retried across the upgrade seals other bytes and is refused
  // as a different request. A key store shared by nodes (JetStream) keeps the BLAKE2b nonce: nodes of the older
  // build may be running beside this one during a rolling upgrade, and a retry that reaches the other build must
  // still seal the same bytes.
  // The hash's input is built in one buffer, the associated data and the plaintext sealed from views of it.
  // Room for all of it first (the fields, their length prefixes and the labels): a buffer that grew would free
  // plaintext unwiped.
  std::string input;
  input.reserve(128 + s.key_id.size() + appeal_id.size() + a.name.size() + a.phone.size() + a.address.size() +
                a.original_text.size());
  input.append(8, '\0');
  append_associated(input, s.key_id, appeal_id);
  const std::size_t ad_size = input.size() - 8;
  for (int i = 0; i < 8; ++i) input[i] = static_cast<char>((std::uint64_t{ad_size} >> (8 * i)) & 0xff);
  append_bytes(a, input);
  const std::string_view ad(input.data() + 8, ad_size);
  const std::string_view plain = std::string_view(input).substr(8 + ad_size);
  static_assert(crypto_shorthash_siphashx24_BYTES == 16 && crypto_shorthash_siphashx24_KEYBYTES <= SecretKey::kSize);
  AeadNonce nonce{};
  if (keys_.shared()) {
    crypto_generichash_state h;
    crypto_generichash_init(&h, key.nonce_key.data(), SecretKey::kSize, nonce.size());
    crypto_generichash_update(&h, reinterpret_cast<const unsigned char*>(ad.data()), ad.size());
    crypto_generichash_update(&h, reinterpret_cast<const unsigned char*>(plain.data()), plain.size());
    crypto_generichash_final(&h, nonce.data(), nonce.size());
    sodium_memzero(&h, sizeof h);
  } else {
    crypto_shorthash_siphashx24(nonce.data(), reinterpret_cast<const unsigned char*>(input.data()), input.size(),
                                key.nonce_key.data());
  }
  s.bytes = aead_seal(key.key, nonce, ad, plain);
  sodium_memzero(input.data(), input.size());
  return s;
}

Result<Applicant> AeadApplicantSealer::open(const SealedApplicant& s, std::string_view appeal_id) const {
  if (s.scheme == 0) return PlainApplicantSealer::instance().open(s, appeal_id);
  if (s.scheme != kAeadScheme) {
    return Status::FailedPrecondition("applicant sealed with scheme " + std::to_string(s.scheme) +
                                      ", which this build cannot open");
  }
  OTINISH_ASSIGN_OR_RETURN(SecretKey key, keys_.data_key(s.key_id));
  std::string plain;
  if (!aead_open(key, s.bytes, associated(s.key_id, appeal_id), plain)) {
    return Status::Corruption("sealed applicant of " + std::string(appeal_id) + " does not open with the key of " +
                              s.key_id + " (too short, altered, or sealed for another appeal)");
  }
  Applicant a;
  Status st = from_bytes(plain, a, "applicant");
  sodium_memzero(plain.data(), plain.size());
  OTINISH_RETURN_IF_ERROR(st);
  return a;
}

Result<std::size_t> restore_identity_links(KeyStore& keys, const store::EventStore& log) {
  const std::vector<UnlinkedKey> unlinked = keys.unlinked();
  // Batch records whose keys were all linked (or erased) before the stop only need forgetting.
  if (unlinked.empty()) {
    OTINISH_RETURN_IF_ERROR(keys.settle_unlinked());
    return std::size_t{0};
  }
  std::unordered_set<std::string> ids;
  std::uint64_t from = UINT64_MAX;
  for (const UnlinkedKey& u : unlinked) {
    ids.insert(u.applicant_id);
    from = std::min(from, u.after_position + 1);
  }
  const AeadApplicantSealer sealer(keys);
  std::size_t relinked = 0;
  OTINISH_RETURN_IF_ERROR(for_each_registration(log, from, [&](std::string_view appeal, const SealedApplicant& sealed) {
    if (sealed.scheme != kAeadScheme || !ids.contains(sealed.key_id)) return Status::Ok();
    auto applicant = sealer.open(sealed, appeal);
    // Erased since (an erasure needs no link): nothing to restore.
    if (!applicant.ok() && applicant.status().code() == StatusCode::kNotFound) return Status::Ok();
    OTINISH_RETURN_IF_ERROR(applicant.status());
    OTINISH_ASSIGN_OR_RETURN(bool done, keys.relink(sealing_identity(*applicant, appeal), sealed.key_id));
    relinked += done;
    return Status::Ok();
  }));
  OTINISH_RETURN_IF_ERROR(keys.settle_unlinked());
  return relinked;
}

}  // namespace otinish::engine::privacy
