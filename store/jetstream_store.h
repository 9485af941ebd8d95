// store/jetstream_store.h: the event log on a NATS JetStream cluster, behind the same EventStore interface as
// the embedded RocksDB log (store/rocks_store.h). docs/jetstream.md says how it maps and what an acknowledgement
// means; scripts/nats-cluster.sh starts a three-server cluster on loopback.
//
// The mapping, in short:
//   - One JetStream stream per deployment (JetStreamOptions::stream), file storage, `replicas` copies,
//     deletes and purges denied: the stream is append-only like the log. One subject per log stream
//     (`<subject_prefix>.<stream name, escaped>`), one message per append: the append's events travel together,
//     so an append is atomic.
//   - The expected version is enforced by the server: the message carries Nats-Expected-Last-Subject-Sequence,
//     the sequence of the stream's last message as this store knows it (0: the subject must hold none).
//     Another node's append in between makes the server refuse: kConflict.
//   - The global order is the stream sequence. Positions (dense, per event), stream versions, the hash chain
//     and the idempotency index are derived from that order by every node the same way: each store follows
//     the stream from its first message (an ordered consumer) and applies each message in sequence. Two nodes
//     that append concurrently therefore compute the same chain; an auditor recomputes it from an export.
//   - Idempotency past JetStream's duplicate window: the first message in the stream carrying an idempotency
//     key wins; a later message with the same key (another node re-sent it after the window) is skipped by
//     every node when it applies the stream, and its appender gets the first append's result.
//   - An append returns once this node has applied its message (its positions and version are final, and a
//     read on this node sees it). Reads of one stream (read_stream, stream_version) first catch up with the
//     stream's last sequence on the server, so that a node reads what any node acknowledged before the read
//     began. read_all, scan and subscribe deliver what this node has applied, in order, without gaps.
//
// What this store does not do yet (named in docs/jetstream.md): keep its derived indexes on disk (a node
// re-reads the whole stream when it starts, and holds the log's events in memory), the Merkle tree, checkpoints.
//
// Thread-safety: thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "common/status.h"
#include "common/time.h"
#include "store/event_store.h"

namespace otinish::store {

struct JetStreamOptions {
  // The servers, comma-separated: "nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222". The client
  // connects to any and reconnects to another when it goes.
  std::string urls = "nats://127.0.0.1:4222";
  // The JetStream stream (created when missing) and the subjects it holds.
  std::string stream = "OTINISH";
  std::string subject_prefix = "otinish.log";
  // Copies the cluster keeps of each message (1 on a single server, 3 on the production cluster). An append is
  // acknowledged once a majority of them stored it.
  int replicas = 3;
  // How long an append waits for the cluster's acknowledgement, and a read for this node to catch up.
  std::chrono::milliseconds timeout{10'000};
  // JetStream's own duplicate window (Nats-Msg-Id): a re-sent append within it is not even stored twice.
  std::chrono::seconds duplicate_window{120};
  // As store::StoreOptions.
  std::size_t max_event_bytes = 1 << 20;
  std::size_t max_events_per_append = 10'000;
};

// Connects to the cluster, creates the stream when missing (or checks that the existing one is append-only),
// and applies the stream's messages up to its last sequence before returning. `clock` gives each event's
// recorded time (never decreasing along the log) and must outlive the store.
// Errors: kUnavailable (no server answers, or JetStream has no quorum), kInvalidArgument (bad options),
// kCorruption (a message in the stream is not an otinish append).
Result<std::unique_ptr<EventStore>> open_jetstream_store(const JetStreamOptions& options,
                                                         const Clock& clock = SystemClock::instance());

// The server that leads the log's JetStream stream now (its server_name, e.g. "otinish-n2"), asked of the cluster
// at options.urls: for operators and for the tests and benchmark that stop it. Errors: kUnavailable (no answer or
// no leader), kNotFound (no such stream).
Result<std::string> jetstream_stream_leader(const JetStreamOptions& options);

// The subject of a log stream: the prefix, a dot, and the name with every byte outside [A-Za-z0-9_-] written
// as '~' and two hex digits (NATS subjects reserve '.', '*', '>' and white space).
std::string jetstream_subject(std::string_view prefix, std::string_view stream);

}  // namespace otinish::store
