// engine/proof/note.h: signed notes (C2SP signed-note, the format of Go's golang.org/x/mod/sumdb/note) with
// Ed25519 keys, so that a checkpoint we sign is checked by any implementation of that standard.
//
//   a note:       text (UTF-8, ends in a newline) + "\n" + one or more signature lines
//   a signature:  "— " NAME " " base64(key hash (4 bytes, big-endian) || Ed25519 signature of the text)
//   key hash:     the first 4 bytes of SHA-256(NAME "\n" 0x01 public key), big-endian
//   verifier key: NAME "+" 8 hex digits of the key hash "+" base64(0x01 || 32-byte public key)
//   signer key:   "PRIVATE+KEY+" NAME "+" 8 hex digits "+" base64(0x01 || 32-byte seed)
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace otinish::engine::proof {

struct NoteSignature {
  std::string name;
  std::uint32_t key_hash = 0;
  std::string signature;  // the raw signature bytes (64 for Ed25519)

  // "— NAME base64\n"
  std::string line() const;
};

struct SignedNote {
  std::string text;  // ends in "\n"
  std::vector<NoteSignature> signatures;

  std::string format() const;  // text, a blank line, the signature lines
};

// Parses a note (signatures not checked). Errors: kInvalidArgument naming what is malformed.
Result<SignedNote> parse_signed_note(std::string_view bytes);

// True iff `name` is a valid key name: non-empty UTF-8 without spaces or '+'.
bool valid_key_name(std::string_view name);

class NoteVerifier {
 public:
  // Parses a verifier key "NAME+HASH+BASE64". Errors: kInvalidArgument.
  static Result<NoteVerifier> parse(std::string_view vkey);
  const std::string& name() const noexcept { return name_; }
  std::uint32_t key_hash() const noexcept { return key_hash_; }
  std::string key() const;  // the verifier key string
  bool verify(std::string_view text, const NoteSignature& sig) const;

 private:
  std::string name_;
  std::uint32_t key_hash_ = 0;
  std::array<std::uint8_t, 32> public_key_{};
};

class NoteSigner {
 public:
  // Parses a signer key "PRIVATE+KEY+NAME+HASH+BASE64". Errors: kInvalidArgument (the message never contains
  // the key).
  static Result<NoteSigner> parse(std::string_view skey);
  // A new random key: {signer key, verifier key}.
  static std::pair<std::string, std::string> generate(std::string_view name);
  NoteSigner(const NoteSigner&);
  NoteSigner& operator=(const NoteSigner&);
  ~NoteSigner();

  const std::string& name() const noexcept { return name_; }
  std::uint32_t key_hash() const noexcept { return key_hash_; }
  std::string verifier_key() const;
  NoteVerifier verifier() const;
  NoteSignature sign(std::string_view text) const;

 private:
  NoteSigner() = default;
  std::string name_;
  std::uint32_t key_hash_ = 0;
  std::array<std::uint8_t, 64> secret_key_{};  // libsodium's Ed25519 secret key: seed || public key
};

// Base64 (standard alphabet, padded), as the formats above use it.
std::string base64(std::span<const std::uint8_t> bytes);
bool from_base64(std::string_view text, std::string* out);

// Opens a note: every signature by a key in `verifiers` must verify (one that does not fails the whole note:
// someone altered it); signatures by unknown keys are ignored. Returns the names of the verifiers whose
// signature verified, in the order given. Errors: kFailedPrecondition ("the signature by NAME does not
// verify").
Result<std::vector<std::string>> verify_note(const SignedNote& note, std::span<const NoteVerifier> verifiers);

}  // namespace otinish::engine::proof
