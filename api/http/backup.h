// api/http/backup.h: online backups of a data directory, verified after writing, and restoring one.
//
// A backup is a directory holding what cannot be rebuilt: the log (DIR/log), the applicants' keys (DIR/keys),
// the API tokens and the signed checkpoints, and a manifest (backup.json) written last, after the copy of the
// log verified (chain and indexes) and the copy of the key store opened with the key-encryption key. The views
// and the SLA timers are not copied: a server started on a restored directory rebuilds them from the log.
//
// Consistency while the server runs: the checkpoints are copied first (each is of a tree the log then
// extends), then the log (every event acknowledged before the backup began is in it), then the key store with
// no erasure finishing between the two copies (KeyStore::hold_erasures), then the tokens. A key made after the
// log's copy is in the backup without an event that uses it, which is harmless; a key destroyed before the key
// store's copy went after its ApplicantErased events, which are then in the log's copy; a destroyed key is in
// no backup written afterwards.
//
// Usage (the server's POST /v1/backups and `otinish backup` call Node::backup, which calls this):
//   auto report = write_backup({.log = &store, .keys = keys, .kek = &kek, .data_dir = dir}, "/var/backups/otinish/b1");
//   auto restored = restore_backup("/var/backups/otinish/b1", "/var/lib/otinish-restored", &kek);
#pragma once

#include <cstdint>
#include <string>

#include "common/hash.h"
#include "common/status.h"
#include "common/time.h"
#include "engine/privacy/kek.h"
#include "engine/privacy/key_store.h"
#include "store/event_store.h"

namespace otinish::api {

// The manifest's format; a restore refuses another.
inline constexpr const char* kBackupFormat = "otinish-backup/1";

struct BackupSources {
  store::EventStore* log = nullptr;                           // REQUIRED
  engine::privacy::KeyStore* keys = nullptr;                  // null: personal data is plain, no key store
  const engine::privacy::KeyEncryptionKey* kek = nullptr;     // REQUIRED with keys: the copy must open with it
  std::string data_dir;                                       // tokens.jsonl and checkpoints/ are read here
  const Clock* clock = &SystemClock::instance();
};

struct BackupReport {
  std::string dir;
  Timestamp created{};
  // The log's head when the backup began: every event up to it was acknowledged and is in the backup.
  std::uint64_t head_at_start = 0;
  std::uint64_t events = 0;  // events in the backup's log, whose chain and indexes verified
  Hash256 head_hash{};       // the hash of its last event
  bool key_store = false;    // the backup holds the applicants' keys
  std::uint64_t applicants = 0;
  double seconds = 0;
  // backup.json, as written into the backup.
  std::string manifest() const;
};

// Writes a backup into `to`, which must not exist (its parent must). On any error the partial directory is
// removed and nothing claims to be a backup. Errors: kAlreadyExists (`to` exists), kInvalidArgument (no log,
// or keys without a KEK), kCorruption (the copy did not verify: the message says where), the stores' kIOError.
Result<BackupReport> write_backup(const BackupSources& from, const std::string& to);

struct RestoreReport {
  std::uint64_t events = 0;
  Hash256 head_hash{};
  bool key_store = false;
};

// Restores the backup in `from` into `data_dir`, which must not exist or be empty: copies it beside
// `data_dir` first and renames it into place once the copied log verified and matched the manifest (so a
// crash leaves no half-restored directory). With `kek`, also checks that the key store opens with it.
// Errors: kNotFound (no backup.json: not a backup, or one that did not finish), kInvalidArgument (another
// manifest format), kAlreadyExists (`data_dir` holds something), kCorruption (the copy does not verify or does
// not match the manifest), kFailedPrecondition (the KEK does not open the key store), kIOError.
Result<RestoreReport> restore_backup(const std::string& from, const std::string& data_dir,
                                     const engine::privacy::KeyEncryptionKey* kek);

}  // namespace otinish::api
