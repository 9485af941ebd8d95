// engine/privacy/jetstream_keys.h: the applicants' keys in a JetStream key-value bucket on the NATS cluster
// that holds the log (store/jetstream_store.h), so that every engine node on that cluster opens the appeals
// any of them sealed, and an erasure made on one node holds on all. docs/jetstream.md says more.
//
// The bucket (`KV_<bucket>` stream) keeps `replicas` copies; a write returns once a quorum stored it, which
// takes the place of the RocksDB key store's fsync (as for the log: docs/jetstream.md, "Durability"). Each key
// keeps one value. A deleted value (an erased applicant's wrapped key, the link from their identity) is erased
// on every server: JetStream overwrites the message's bytes in its file and replicates the erasure; the
// servers' replication logs hold the message until their next snapshot (minutes), as a RocksDB WAL holds a
// deleted key until purge().
//
// Differences from the RocksDB key store, all documented in docs/jetstream.md:
//   - writes are one by one, not in one batch (KeyStore orders them so that a stop between two is harmless
//     or finished at the next start);
//   - KeyStore::rotate() and checkpoint_to() are not available (the cluster's stream backup copies the bucket);
//   - an erasure on one node reaches the other nodes' caches through a watch on the bucket, within
//     milliseconds: an appeal a second node seals meanwhile for the person being erased is erased with them.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"
#include "engine/privacy/key_records.h"
#include "engine/privacy/key_store.h"

namespace otinish::engine::privacy {

struct JetStreamKeyOptions {
  // The cluster's servers, as store::JetStreamOptions::urls.
  std::string urls = "nats://127.0.0.1:4222";
  // The bucket: letters, digits, '_' and '-'. A deployment's nodes name the same one.
  std::string bucket = "OTINISH_KEYS";
  int replicas = 3;
  std::chrono::milliseconds timeout{10'000};
  // Create the bucket when it is missing (else kNotFound).
  bool create_if_missing = true;
};

// The records alone (for KeyStore::open). Errors: kNotFound (no bucket and create_if_missing off),
// kInvalidArgument (bad options), kFailedPrecondition (the bucket's stream denies deleting messages, so an
// erasure could not destroy a key), kUnavailable (no quorum), kIOError.
Result<std::unique_ptr<KeyRecords>> open_jetstream_key_records(const JetStreamKeyOptions& options);

// The key store over them: open_jetstream_key_records, then KeyStore::open with `kek`.
Result<std::unique_ptr<KeyStore>> open_jetstream_key_store(const JetStreamKeyOptions& options,
                                                           const KeyEncryptionKey& kek);

}  // namespace otinish::engine::privacy
