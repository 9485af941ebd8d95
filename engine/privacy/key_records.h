// engine/privacy/key_records.h: where a KeyStore (engine/privacy/key_store.h) keeps its records, a small map
// of byte strings ("k/<applicant>" -> wrapped key, ...). Two kinds:
//   - a key log of its own (`DIR/keys`, engine/privacy/key_log.h), for one node: KeyStore::open(path, ...) makes it;
//   - a JetStream key-value bucket on the NATS cluster that holds the log (engine/privacy/jetstream_keys.h),
//     for several engine nodes that must open each other's applicants.
// The KeyStore's logic (wrapping, the identity index, erasure) is the same over both; what differs is said
// here, and the KeyStore orders its writes so that both kinds keep its guarantees.
//
// Thread-safety: implementations are thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace otinish::engine::privacy {

class KeyRecords {
 public:
  struct Op {
    enum class Kind {
      kPut,     // set the value
      kCreate,  // set the value only if the key holds none: else the write stops there with kAlreadyExists
      kDelete,  // remove the key and physically destroy its value (see purge())
    };
    Kind kind = Kind::kPut;
    std::string key;
    std::string value;
  };

  virtual ~KeyRecords() = default;

  // For messages: "the key store at PATH", "the key store in JetStream bucket NAME".
  virtual const std::string& where() const noexcept = 0;

  virtual Result<std::optional<std::string>> get(std::string_view key) = 0;
  // A hint that `key` will be read or written soon: a key log starts loading its index's line for it, so that
  // the cache miss overlaps with the caller's work before the get() or write(). Never blocks; may do nothing.
  virtual void prefetch(std::string_view /*key*/) noexcept {}
  // Every key starting with `prefix` (which ends with '/'), with its value, in the keys' order.
  virtual Status scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& visit) = 0;
  // Every key starting with any of `prefixes` (each ending with '/', none a prefix of another), with its value,
  // in no particular order: what counts or collects needs no order, and a key log then reads its file once for
  // all of them, instead of once a prefix and a sort of what each holds (a million applicants' key store: 5 s of
  // stats() to about 1). `visit` may be called while the records are locked: it must not call back into them.
  virtual Status scan_unordered(std::span<const std::string_view> prefixes,
                                const std::function<void(std::string_view, std::string_view)>& visit) {
    for (std::string_view prefix : prefixes) OTINISH_RETURN_IF_ERROR(scan(prefix, visit));
    return Status::Ok();
  }

  // Applies `ops`. A key log: atomically. JetStream: in order, each acknowledged by a quorum before the next, so
  // a stopped process can leave a prefix of them applied (the KeyStore orders its ops so that such a prefix is
  // harmless or repaired at the next start). `durable` false: the write may wait for sync() to be durable
  // (a key log: it waits in the buffer, and a killed process loses it; JetStream acknowledges every write
  // from a quorum anyway).
  // Errors: kAlreadyExists (a kCreate met a value), kUnavailable (no room on the disk, no quorum), kIOError.
  virtual Status write(const std::vector<Op>& ops, bool durable) = 0;
  // Makes every write so far durable.
  virtual Status sync() = 0;
  // True when every write is durable once write() returns, `durable` or not (JetStream's quorum): then a new
  // applicant's key needs no sync() at all, and the KeyStore skips it.
  virtual bool durable_on_write() const noexcept { return false; }
  // Physically destroys deleted and overwritten values still in files (a key log: written anew without them).
  // JetStream erases each one as it is deleted or overwritten, so there is nothing left to do.
  virtual Status purge() = 0;
  // purge(), and then the records written anew without the room what was purged still takes (a key log: its
  // holes, once they are an eighth of its records or more), so that a large erasure (a retention run) leaves
  // the store compacted. Records that keep nothing of what was purged need nothing more.
  virtual Status compact() { return purge(); }
  // A consistent copy into the new directory `dir` (a key log: its file). Errors: kFailedPrecondition (JetStream:
  // the cluster's own stream backup copies the bucket), kAlreadyExists, kIOError.
  virtual Status checkpoint_to(const std::string& dir) = 0;

  // True when other processes write these records too. Then watch() reports their writes, so that a node's
  // caches learn of an erasure another node made.
  virtual bool shared() const noexcept { return false; }
  // Calls `changed(key, value)` for every key under `prefix` that holds a value now, then for each later write
  // under it by anyone, on a thread of the records', until they close. Nothing for unshared records.
  virtual Status watch(std::string_view /*prefix*/, std::function<void(std::string_view, std::string_view)> /*changed*/) {
    return Status::Ok();
  }
};

}  // namespace otinish::engine::privacy
