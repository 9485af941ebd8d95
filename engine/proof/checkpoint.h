// engine/proof/checkpoint.h: checkpoints of the log (C2SP tlog-checkpoint): the Merkle tree's size and root,
// named by the log's origin, in a signed note (engine/proof/note.h).
//
//   ORIGIN "\n" SIZE "\n" base64(ROOT) "\n"        the note's text; then a blank line and the signatures
//
// A checkpoint published outside the operator's control (sent to an auditor, posted on the city's site) fixes
// the first SIZE events of the log: a later log that does not extend it fails `otinish verify --since`.
// The server keeps every checkpoint it signs in DIR/checkpoints, one file per size.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/proof/note.h"
#include "store/event_store.h"

namespace otinish::engine::proof {

struct Checkpoint {
  std::string origin;
  std::uint64_t size = 0;
  store::merkle::Hash root{};
  std::vector<std::string> extensions;  // further lines of the text, kept as they are

  std::string text() const;
};

// Parses a checkpoint's text (the note's text). Errors: kInvalidArgument.
Result<Checkpoint> parse_checkpoint(std::string_view text);

// A signed checkpoint, opened: what it says, the note, and which of the given verifiers signed it.
struct OpenedCheckpoint {
  Checkpoint checkpoint;
  SignedNote note;
  std::vector<std::string> signed_by;
};

// Parses a signed checkpoint and checks its signatures: at least `required` of `verifiers` must have signed
// it (and every signature by one of them must verify). Errors: kInvalidArgument (malformed),
// kFailedPrecondition (a bad signature, or fewer than `required` signers, named).
Result<OpenedCheckpoint> open_checkpoint(std::string_view bytes, std::span<const NoteVerifier> verifiers,
                                         std::size_t required = 1);

// The checkpoint of `store` at `size` (default: its head), signed by `signer`.
Result<std::string> sign_checkpoint(const store::EventStore& store, std::string_view origin, const NoteSigner& signer,
                                    std::optional<std::uint64_t> size = std::nullopt);

// Adds `signer`'s signature to a signed checkpoint (a witness's cosignature), replacing an earlier one by the
// same key. The caller has checked what it signs. Errors: kInvalidArgument (malformed).
Result<std::string> cosign(std::string_view bytes, const NoteSigner& signer);

// The checkpoints a server signed, one file per size in a directory (DIR/checkpoints): "<size, 20 digits>.ckpt".
// Each is written to a temporary file, synced, then renamed: a crash leaves the old set or the new one.
class CheckpointDirectory {
 public:
  explicit CheckpointDirectory(std::string path) : path_(std::move(path)) {}
  const std::string& path() const noexcept { return path_; }
  // The sizes kept, ascending.
  Result<std::vector<std::uint64_t>> sizes() const;
  // Errors: kNotFound.
  Result<std::string> at(std::uint64_t size) const;
  Result<std::string> latest() const;
  Status write(std::uint64_t size, std::string_view bytes) const;
  // Thins the kept checkpoints (one a minute is half a million files a year): every one written in the last
  // `keep_all` (by the file's time) stays, and of older ones the newest of each UTC day. The newest checkpoint
  // always stays. Returns how many were removed.
  Result<std::size_t> prune(std::chrono::system_clock::time_point now, std::chrono::hours keep_all) const;

 private:
  std::string path_;
};

// What comparing a checkpoint with the log found.
struct ConsistencyReport {
  bool ok = false;
  std::uint64_t checkpoint_size = 0;
  std::uint64_t log_size = 0;
  std::vector<store::merkle::Hash> proof;  // checkpoint_size -> log_size, verified (when ok)
  std::string problem;                     // when !ok
  // When the log does not extend the checkpoint: the smallest size among the kept checkpoints whose root the
  // log no longer gives (the rewrite lies at or before it), or the checkpoint's own size.
  std::uint64_t first_differing_size = 0;
  std::uint64_t last_matching_size = 0;  // the largest kept size below it whose root still matches (0: none)

  std::string to_string() const;
};

// Checks that the log extends `checkpoint`: its root at the checkpoint's size is the checkpoint's root, and a
// consistency proof to the head verifies. `kept`, if given, narrows down where a rewritten log first differs.
Result<ConsistencyReport> check_consistency(const store::EventStore& store, const Checkpoint& checkpoint,
                                            const CheckpointDirectory* kept = nullptr);

// The signing key of `otinish serve`: from `spec` if given, else the systemd credential
// "otinish-checkpoint-key", else $OTINISH_CHECKPOINT_KEY. Errors: kNotFound (none given anywhere: the caller
// warns that checkpoints are not signed), kInvalidArgument (malformed, or a file in the data directory).
Result<NoteSigner> load_signer(std::string_view spec, std::string_view data_dir);

}  // namespace otinish::engine::proof
