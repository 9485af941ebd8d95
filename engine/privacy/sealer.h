// engine/privacy/sealer.h: the applicant's personal data sealed with the applicant's own key (scheme 1).
//
// seal() finds the applicant by identity (engine/domain.h applicant_identity) in the key store, creating the
// applicant and its data key the first time, and encrypts the Applicant (cereal bytes) with
// XChaCha20-Poly1305: bytes = 24-byte nonce || ciphertext || 16-byte tag, associated data = the scheme, the
// applicant id and the appeal id, so sealed bytes cannot be moved to another appeal or applicant unnoticed. The
// nonce is synthetic (SipHash-2-4-128 of the associated data and plaintext keyed by the applicant's nonce key,
// ApplicantKey::nonce_key; docs/privacy.md spells it out): sealing is
// deterministic, so a retried registration writes the same event. An applicant without any identity (no phone,
// contact, name or address) is keyed by its appeal ("appeal:<id>"): a key of its own.
// The event then holds only ciphertext; the log's hashes cover it, so the log verifies with or without keys,
// and destroying the key (KeyStore erasure) leaves bytes nobody can open.
//
// open() opens scheme 1 with the key store and scheme 0 (plain, written before sealing was on) as plain.
//
// Thread-safety: thread-safe.
#pragma once

#include "engine/domain.h"
#include "engine/privacy/key_store.h"
#include "store/event_store.h"

namespace otinish::engine::privacy {

inline constexpr std::uint8_t kAeadScheme = 1;

class AeadApplicantSealer final : public ApplicantSealer {
 public:
  // `keys` must outlive the sealer.
  explicit AeadApplicantSealer(KeyStore& keys) : keys_(keys) {}
  // Errors: the key store's (kIOError).
  Result<SealedApplicant> seal(const Applicant& a, std::string_view appeal_id) const override;
  // Errors: kNotFound (the applicant was erased, or is being erased), kCorruption (the bytes do not open
  // with the applicant's key: altered, or sealed for another appeal).
  Result<Applicant> open(const SealedApplicant& s, std::string_view appeal_id) const override;
  // The key store's sync() and sync_async(): a new applicant's key is synced before its appeal is appended.
  Status make_durable() const override { return keys_.sync(); }
  void make_durable_async(const SealedApplicant& sealed, std::function<void(Status)> done) const override {
    keys_.sync_async(sealed.key_id, std::move(done));
  }

 private:
  KeyStore& keys_;
};

// The identity a sealer finds an applicant's key by: applicant_identity(a), or "appeal:<id>" for an applicant
// without any.
std::string sealing_identity(const Applicant& a, std::string_view appeal_id);

// After a process stopped without closing the key store: relinks each key it made ahead and may have handed out
// unlinked (KeyStore::unlinked) to the identity of the appeals that name it, read in the log from where the key
// was made, then settles them (KeyStore::settle_unlinked). Run it at start, before registrations, with the log
// the key store serves (the server and the demo do). Returns how many it relinked.
// Errors: the key store's and the log's (nothing is settled then: the next start tries again).
Result<std::size_t> restore_identity_links(KeyStore& keys, const store::EventStore& log);

}  // namespace otinish::engine::privacy
