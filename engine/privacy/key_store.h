// engine/privacy/key_store.h: the applicants' data keys, wrapped by the key-encryption key, apart from the log
// so that a key can be physically destroyed while the log keeps every event and its hash chain: in a key log
// of their own (`DIR/keys`, engine/privacy/key_log.h) on one node, or in a JetStream bucket that several engine nodes on one NATS
// cluster share (engine/privacy/jetstream_keys.h; the records' two kinds in engine/privacy/key_records.h).
//
// What it holds (layout in docs/privacy.md):
//   - one data key per applicant and its nonce key, wrapped together (XChaCha20-Poly1305 under the KEK, bound
//     to the applicant's id);
//   - the identity index: a keyed BLAKE2b of the applicant's identity (the phone, a messenger id, or what the
//     desk entered) -> the applicant's id, so that one person's appeals share one key; the hashing key is
//     itself wrapped by the KEK, so the index cannot be searched for a phone without it;
//   - the batches of keys made ahead that are not all linked yet (see Guarantees);
//   - which applicants were erased. Which appeals an applicant has is not kept here: the log says it (each
//     AppealRegistered names its sealed applicant's id), so sealing a returning applicant writes nothing.
// An applicant id is random ("ap-" and 16 hex characters): it says nothing about the person.
//
// Guarantees:
//   - An appeal in the log never refers to a key a power loss (or a killed process) could take. Over a key log
//     the key store's thread makes keys ahead, in batches each written and synced before any of its keys is
//     handed out, so a new applicant takes a key that is durable already and writes only its identity's link,
//     which waits in the buffer (synced within KeyStoreOptions::link_sync_within). A link a crash takes is
//     restored from the log at the next start (unlinked(), restore_identity_links()); its key is never handed
//     to anyone else, nor is a key made ahead in a parent process handed out by a forked child.
//   - When no key made ahead is left (and over shared records), a new applicant's key is made as it comes and
//     written and synced by sync() or sync_async(), which the engine calls before it appends the appeal that
//     names the key. Until then it waits in the key store's buffer with the other new applicants' (a process
//     killed meanwhile loses only keys nothing names yet), so that concurrent new applicants share one write
//     and one fsync, and a registration's thread need not wait for it (sync_async).
//   - Erasure is two synced steps: begin_erasure() (after it, the key is never handed out again and the
//     identity no longer finds the applicant), finish_erasure() (the key and every trace of the applicant but
//     the erased mark are deleted). purge() then overwrites them where they lie in the key log (or writes it
//     anew), so that the wrapped key is in no file of the directory (engine/privacy/key_log.h).
//   - rotate() rewraps every key under a new KEK in one atomic, synced write: a crash leaves either the old
//     or the new KEK working, never a mix, and purge() removes the copies wrapped by the old one.
//   - open() with a KEK other than the one the store was written with fails with kFailedPrecondition naming
//     both key ids and the source; it never falls back to anything.
//
// Thread-safety: thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "engine/privacy/kek.h"

namespace rocksdb {
class FileSystem;
}

namespace otinish::engine::privacy {

class KeyRecords;

struct KeyStoreOptions {
  // Create the key store if `path` holds none.
  bool create_if_missing = true;
  // Sync new keys and erasures before returning. Leave on (an acknowledged appeal must never refer to a key a
  // power loss could take). Off only for simulations, as store::StoreOptions::sync_writes: the WAL still
  // reaches the OS first, so a killed process loses nothing.
  bool sync = true;
  // Writes are refused (kUnavailable, nothing written) while the key store's file system has less than this
  // many MiB free (store/disk_space.h); 0 disables the check. Below the log's reserve, so that the keys of
  // appeals the log took can still be written.
  std::uint64_t min_free_disk_mb = 16;
  // The file system under the key store (RocksDB's; null: the default). As store::StoreOptions::file_system:
  // for the tests that fail, slow down or cut the power of the data directory's disk.
  std::shared_ptr<rocksdb::FileSystem> file_system;
  // How many keys the key store makes ahead at most (in one batch; the first batches are smaller) over a key
  // log, so that a new applicant waits for no fsync (see Guarantees). 0: none, each key made as it comes.
  std::size_t keys_ahead = 1024;
  // How long the link of a new applicant to a key made ahead may wait in the buffer before the key store's
  // thread syncs it (with every link written meanwhile). A link a crash takes is restored from the log at the
  // next start, so this bounds only how much there is to restore.
  std::chrono::milliseconds link_sync_within{200};
  // The log's head position now (store::EventStore::head_position). Kept with each batch of keys made ahead,
  // so that restore_identity_links() reads the log only from there after a crash; null: from its start.
  std::function<std::uint64_t()> log_position;
};

// A key made ahead by a process that stopped without closing the store (KeyStore::unlinked).
struct UnlinkedKey {
  std::string applicant_id;
  std::uint64_t after_position = 0;  // the log's head when it was made: an appeal naming it comes after
};

enum class ApplicantKeyState : std::uint8_t {
  kUnknown,  // no such applicant id
  kActive,   // its key opens its appeals
  kErasing,  // erasure began (a crash may have interrupted it): the key is never handed out again
  kErased,   // the key is destroyed
};
std::string_view to_string(ApplicantKeyState s) noexcept;

struct ApplicantKey {
  std::string applicant_id;
  SecretKey key;
  // The key of a sealer's synthetic nonces (engine/privacy/sealer.h): drawn at random with the data key and
  // wrapped with it; for a key made before December 2026, or over shared records, nonce_subkey(key).
  SecretKey nonce_key;
  bool created = false;  // this call made the applicant
};

// The nonce key of a data key stored alone (made before December 2026, or over shared records): BLAKE2b-256
// keyed with the data key over the label "otinish applicant nonce key v1". A key of its own, not the data key
// itself: one key, one purpose.
SecretKey nonce_subkey(const SecretKey& data_key);

struct KeyStoreStats {
  std::uint64_t applicants = 0;  // with a live key
  std::uint64_t erasing = 0;
  std::uint64_t erased = 0;
};

class KeyStore {
 public:
  // Opens (or creates) the key store at `path`, checking that `kek` is the key it was written with.
  // Errors: kFailedPrecondition (another KEK: the message names both ids and kek.source), kNotFound (no key
  // store and create_if_missing off), kIOError (cannot open, locked by another process), kCorruption.
  static Result<std::unique_ptr<KeyStore>> open(const std::string& path, const KeyEncryptionKey& kek,
                                                const KeyStoreOptions& options = {});
  // The same over other records (engine/privacy/jetstream_keys.h opens JetStream's); a new store is created in
  // empty records. Of `options`, only `sync` applies.
  static Result<std::unique_ptr<KeyStore>> open(std::unique_ptr<KeyRecords> records, const KeyEncryptionKey& kek,
                                                const KeyStoreOptions& options = {});
  // True when `path` holds a key store (of this build's format or an earlier one open() converts).
  static bool exists(const std::string& path);
  ~KeyStore();

  // The applicant `identity` (already normalised by the caller, never empty) belongs to, and its data key;
  // creates both the first time (buffered, not yet durable: call sync() or sync_async() before anything that
  // names the key is made durable). An applicant whose erasure began is never returned: the same identity then
  // gets a new applicant. Errors: kUnavailable (the disk is nearly full: nothing written), kIOError.
  Result<ApplicantKey> key_for(std::string_view identity);

  // Makes every key key_for() created before the call durable: one write and one fsync of the key log, shared
  // by whoever calls meanwhile; nothing when nothing new was written (or KeyStoreOptions::sync is off).
  // Errors: kUnavailable (no space: nothing was written, a later call retries), kIOError (the fsync failed:
  // the keys are not known to be durable, and the key store refuses writes until it is opened again).
  Status sync();
  // sync() without blocking: `done` is called once, with sync()'s result, on this thread when nothing is left
  // to sync, else on the key store's sync thread (started on first need) after the fsync that covers the
  // call. `done` must be short: the next fsync waits for it.
  void sync_async(std::function<void(Status)> done);
  // sync_async() for the key of `applicant_id` alone: `done` is called at once, on this thread, when that key
  // is already durable (made and synced earlier, or read back from the store), so that a returning applicant
  // does not wait for the sync of other people's new keys; else as sync_async(done).
  void sync_async(std::string_view applicant_id, std::function<void(Status)> done);

  // Makes a batch of keys ahead now (synced), unless half a batch or more is left: at start, so that the first
  // new applicants need not make their own keys. Nothing over shared records, or with keys_ahead 0.
  // Errors: kUnavailable (no space), kIOError.
  Status make_keys_ahead();

  // Keys made ahead (see Guarantees) by a process that stopped without closing the store (killed, or the power
  // failed) that no identity links to: each was taken by a new applicant whose link had not reached the disk,
  // or by nobody. Their appeals open; the person's next appeal would not find them. Never handed out again.
  // restore_identity_links() (engine/privacy/sealer.h) reads their appeals in the log and relinks them.
  std::vector<UnlinkedKey> unlinked();
  // Links `identity` to `applicant_id`, one of unlinked() not linked since, unless the identity belongs to
  // another live applicant already (the person came back after the stop) or the applicant's erasure began; says
  // whether it linked. An erasure's first step waits for it.
  // Errors: kInvalidArgument (not an applicant id), kUnavailable, kIOError.
  Result<bool> relink(std::string_view identity, std::string_view applicant_id);
  // Once the log was read: forgets unlinked() (synced, after the links relink() wrote). The keys no appeal
  // named stay, as applicants nobody can find: a key opens nothing by itself, and a log read from the wrong
  // place must not cost an appeal its applicant.
  Status settle_unlinked();

  // The data key of `applicant_id`. Errors: kNotFound (unknown, erasing or erased: the message says which).
  Result<SecretKey> data_key(std::string_view applicant_id);
  ApplicantKeyState state(std::string_view applicant_id);
  // The applicant an identity belongs to now, if any.
  Result<std::optional<std::string>> find(std::string_view identity);

  // Erasure, step one (synced): marks the applicants erasing and removes them from the identity index.
  // `request` (no personal data: why, which rule, who) is kept with the mark so that an erasure a crash
  // interrupted is finished as it was asked. Unknown ids are kNotFound (nothing is marked); erased ones are
  // skipped.
  Status begin_erasure(std::span<const std::string> applicant_ids, std::string_view request);
  // Step two (synced): deletes the keys and marks the applicants erased. Then call purge().
  Status finish_erasure(std::span<const std::string> applicant_ids);
  // Applicants whose erasure began and did not finish (a crash in between), with their requests: finish them.
  Result<std::vector<std::pair<std::string, std::string>>> pending_erasures();
  // Overwrites deleted and rewrapped keys where they lie in the key log, so that they are physically gone (the
  // cost follows what was deleted: engine/privacy/key_log.h).
  Status purge();
  // purge(), then the key log written anew without the holes purges left once they are an eighth of its
  // records or more: for the end of a large erasure (a retention run), a copy of the live records.
  Status compact();

  // Backups. While the returned lock lives, no erasure finishes (finish_erasure waits): a backup copies the log
  // and then the key store under it, so that a key missing from the backup's key store was destroyed only
  // after ApplicantErased events the backup's log holds (an erasure's events come before its keys go).
  std::unique_lock<std::mutex> hold_erasures();
  // Writes a consistent copy of the key store into the new directory `dir` (a copy of the key log), purging
  // first when a purge is pending, so that no key destroyed before the call is in the copy.
  // Errors: kAlreadyExists (`dir` exists), kIOError.
  Status checkpoint_to(const std::string& dir);

  Result<KeyStoreStats> stats();
  // The key log's directory (empty over other records), and what to call the store in messages.
  const std::string& path() const noexcept;
  const std::string& where() const noexcept;
  // The id of the KEK the store is written with.
  std::string kek_id() const;
  // True when other nodes share the store's records (a JetStream bucket): then everything written or derived
  // stays as the builds before December 2026 made it (format 1, BLAKE2b hashes), since nodes of such a build
  // may be running on the same bucket during an upgrade.
  bool shared() const noexcept;

  // Rewraps every key of the (closed) key store at `path` from `from` to `to`, in one synced write, then
  // purges. Errors: open()'s (with `from`), kInvalidArgument when `to` is `from`.
  static Status rotate(const std::string& path, const KeyEncryptionKey& from, const KeyEncryptionKey& to);

  struct Impl;

 private:
  explicit KeyStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace otinish::engine::privacy
