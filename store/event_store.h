// store/event_store.h: the append-only event log, as every other part of otinish sees it.
//
// The store owns durable, ordered, verifiable storage of event envelopes: streams, one global order, expected
// versions, idempotency, the hash chain, subscriptions. It knows bytes and envelopes and nothing of appeals,
// rules or HTTP. The interface is deliberately narrow (append, read a stream, read all, subscribe) so that a
// distributed log (NATS JetStream, see DESIGN.md "Scale-out") can implement it later; the embedded default is
// RocksDB (store/rocks_store.h).
//
// Usage:
//   auto store = otinish::store::open_rocks_store("/var/lib/otinish/log", {}, clock);
//   if (!store.ok()) { /* store.status().ToString() says what and where */ }
//   EventData e{.type = "AppealRegistered", .payload = bytes};
//   auto r = (*store)->append("appeal-SHY-2026-0000001", ExpectedVersion::no_stream(), {&e, 1});
//   if (r.status().code() == StatusCode::kConflict) { /* r.status().current_version() */ }
//
//   auto sub = (*store)->subscribe(checkpoint, [&](const RecordedEvent& ev) { ...; return Status::Ok(); });
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/event.h"
#include "store/merkle.h"

namespace otinish::store {

// What the appender believes about the stream's current version.
class ExpectedVersion {
 public:
  // No check.
  static constexpr ExpectedVersion any() noexcept { return ExpectedVersion(kAny); }
  // The stream must not exist (no event yet).
  static constexpr ExpectedVersion no_stream() noexcept { return ExpectedVersion(0); }
  // The stream's last event must have version `v` (v == 0 is the same as no_stream()).
  static constexpr ExpectedVersion exact(std::uint64_t v) noexcept { return ExpectedVersion(v); }

  constexpr bool is_any() const noexcept { return v_ == kAny; }
  // REQUIRES: !is_any().
  constexpr std::uint64_t version() const noexcept { return v_; }
  friend constexpr bool operator==(ExpectedVersion, ExpectedVersion) = default;

 private:
  static constexpr std::uint64_t kAny = ~std::uint64_t{0};
  constexpr explicit ExpectedVersion(std::uint64_t v) noexcept : v_(v) {}
  std::uint64_t v_;
};

struct AppendOptions {
  // If non-empty: an append with a key the store has seen returns the first append's result without writing
  // (AppendResult::deduplicated). The same key with a different stream or different events (type, schema
  // version, payload) is refused with kAlreadyExists. At most 256 bytes. Keys are kept forever.
  std::string idempotency_key;
  // true (the default): append() returns only after the fsync that makes the append durable.
  // false: the one exception to "acknowledged means durable". append() returns as soon as the append is
  // written to RocksDB and ordered in the log (its positions and version are final), before the fsync. What it
  // guarantees:
  //   - order: it precedes every append submitted after it returned;
  //   - durability no later than the acknowledgement of the next waiting (wait_for_sync = true) append
  //     submitted after it returned, by any caller: that append's fsync covers everything written before it.
  //     A crash before that may lose it, but only together with everything after it (the log recovers as a
  //     prefix). If that fsync fails, the waiting append gets the kIOError; this one's result was already
  //     returned;
  //   - visibility: readers still never see it before it is synced (reads, subscriptions, stream_version() and
  //     the version a waiting append's kConflict reports all stop at the synced head).
  // For a step whose result only matters if a following durable append succeeds (the engine takes the next
  // appeal number this way, then registers the appeal with a waiting append).
  bool wait_for_sync = true;
};

struct AppendResult {
  std::uint64_t first_position = 0;  // global position of the first appended event
  std::uint64_t last_position = 0;
  std::uint64_t stream_version = 0;  // the stream's version after the append (its last event's version)
  bool deduplicated = false;         // true: nothing was written, this is the original append's result
  friend bool operator==(const AppendResult&, const AppendResult&) = default;
};

enum class Direction { kForward, kBackward };

// Given the outcome of EventStore::append_async, exactly once.
using AppendCallback = std::function<void(Result<AppendResult>)>;

// Called for each event a subscription delivers, in global order, on the subscription's own thread.
// Return a non-OK status to stop the subscription (Subscription::status() then returns it).
using EventHandler = std::function<Status(const RecordedEvent&)>;

// A running subscription. Destroying it stops it (and waits for the handler to return). Thread-safe.
class Subscription {
 public:
  virtual ~Subscription() = default;
  // Stops delivery; returns after the handler's last call has returned. Idempotent.
  virtual void stop() = 0;
  // The position of the last event the handler accepted (the checkpoint to resume from).
  virtual std::uint64_t position() const = 0;
  // OK while running or after stop(); the handler's or the store's error if delivery ended on its own.
  virtual Status status() const = 0;
  // Blocks until position() >= p or the subscription ended; false on timeout or end.
  virtual bool wait_for(std::uint64_t p, std::chrono::milliseconds timeout) const = 0;
};

// The outcome of verifying the log (verify_chain, verify_log, EventStore::verify_indexes).
struct VerifyReport {
  bool ok = true;
  std::uint64_t events = 0;        // events whose hash chain verified
  Hash256 head_hash{};             // hash of the last event checked (when the chain verified)
  std::uint64_t bad_position = 0;  // the first position that does not match (when !ok; 0: an index entry
                                   // that concerns no position, e.g. a stream head of a stream not in the log)
  std::string problem;             // what is wrong there, e.g. "hash mismatch: stored ab12…, computed 9f3c…"
  bool indexes_checked = false;    // the indexes were checked too (VerifyOptions::indexes, after the chain)
  bool tree_checked = false;       // the store's Merkle tree root at `events` matched the one recomputed
  merkle::Hash tree_root{};        // that root (when tree_checked)
  std::uint64_t streams = 0;       // streams whose index and head were checked (when indexes_checked)

  // "ok, 8640 events, head hash 3a7f…" (with the indexes: "…, head hash 3a7f…; indexes ok, 1200 streams")
  // or "FAILED at position 412: hash mismatch: …".
  std::string to_string() const;
};

// What the group commit did since the store was opened (EventStore::commit_stats): how well concurrent
// appends share an fsync. appends / syncs is the group size; sync_micros / syncs the fsync's latency.
struct CommitStats {
  std::uint64_t syncs = 0;        // the syncer's rounds: each one WAL flush covering every group written before
                                  // it began, with an fsync unless StoreOptions::sync_writes is off (a round that
                                  // found nothing new to flush, or failed, is counted too)
  std::uint64_t appends = 0;      // waiting appends answered after those fsyncs
  std::uint64_t sync_micros = 0;  // time spent in them
};

// What the store holds in memory (EventStore::memory_usage), in bytes: each part has a bound that does not
// grow with the log (docs/http.md "Memory").
struct MemoryUsage {
  std::uint64_t memtables = 0;      // writes not yet in table files (StoreOptions::memtable_mb)
  std::uint64_t block_cache = 0;    // cached data, index and filter blocks (StoreOptions::block_cache_mb)
  std::uint64_t table_readers = 0;  // what the open table files hold outside the cache (their pinned top levels)
};

// The log. Implementations are thread-safe: any number of threads may append, read and subscribe at once.
class EventStore {
 public:
  virtual ~EventStore() = default;

  // Appends `events` to `stream` atomically (all or none), after checking `expected`.
  // By default the call returns only after the events are durable (synced): an acknowledged append survives
  // kill -9 and power loss. The one exception is AppendOptions::wait_for_sync = false, which returns once the
  // append is written and ordered, before the fsync (see there for what that still guarantees). Concurrent
  // appends are committed together (group commit).
  // Errors:
  //   kInvalidArgument: empty `events`, an empty or malformed stream name (1..256 bytes, no NUL), an empty
  //                     or oversized type, an idempotency key over 256 bytes;
  //   kResourceExhausted: an event over StoreOptions::max_event_bytes, or more than max_events_per_append;
  //   kConflict: `expected` does not match; status().current_version() is the stream's version now;
  //   kAlreadyExists: the idempotency key was used for a different append;
  //   kIOError: the write or the sync failed. Nothing of this append is visible; after a failed sync it may or
  //             may not be in the log when the store is reopened (retry with the same idempotency key), and the
  //             store refuses every further append until it is reopened;
  //   kUnavailable: the store is closing.
  virtual Result<AppendResult> append(std::string_view stream, ExpectedVersion expected,
                                      std::span<const EventData> events, const AppendOptions& options = {}) = 0;

  // append() without waiting for the fsync: `done` gets exactly what append() would have returned, once the
  // append is durable (or only written, with wait_for_sync = false), or refused. The store takes the stream,
  // the events and the options (moved in), so the caller keeps nothing alive. The calling thread may still do
  // the group commit's CPU work (write a group, as a leader) but never waits for an fsync: a server completes
  // a request from `done` instead of holding a thread per request.
  // `done` runs on the calling thread before append_async returns (a refusal, or a store without its own
  // completion: the default below calls append() and then `done`), on a thread that leads the group commit
  // (wait_for_sync = false), or on the store's completion thread, which calls the completions in order. So it
  // must be short and must not throw: hand the result to your own executor. It must not call append() with
  // wait_for_sync = true, nor close the store: the completion thread would wait for itself.
  virtual void append_async(std::string stream, ExpectedVersion expected, std::vector<EventData> events,
                            AppendOptions options, AppendCallback done);
  // Reads up to `limit` events of `stream`, starting at `from_version` (inclusive) and going forward (towards
  // newer) or backward. Backward from UINT64_MAX starts at the newest event.
  // Errors: kNotFound if the stream has no events; kInvalidArgument for a malformed name.
  virtual Result<std::vector<RecordedEvent>> read_stream(std::string_view stream, std::uint64_t from_version,
                                                         Direction direction, std::size_t limit) const = 0;

  // Reads up to `limit` events of the global log with position >= `from_position`, in order. Returns fewer
  // (possibly none) at the end of the log. Only synced events are returned (the head below): every
  // acknowledged waiting append, and a wait_for_sync = false one once the fsync after it ran.
  virtual Result<std::vector<RecordedEvent>> read_all(std::uint64_t from_position, std::size_t limit) const = 0;

  // Calls `visit` for each synced event with position >= `from_position`, in order, until it returns
  // false or `limit` events were visited. The event passed is reused between calls (no copy per event): the
  // fast path for rebuilds and verification. Returns the number of events visited.
  virtual Result<std::uint64_t> scan(std::uint64_t from_position, std::uint64_t limit,
                                     const std::function<bool(const RecordedEvent&)>& visit) const = 0;

  // The stream's current version as of the synced head: 0 if it has no synced events.
  virtual Result<std::uint64_t> stream_version(std::string_view stream) const = 0;

  // The position of the newest synced event (0 for an empty log), and its hash. Every event up to it is
  // durable; it may be behind an append acknowledged with wait_for_sync = false (until the next fsync).
  virtual std::uint64_t head_position() const = 0;
  virtual Hash256 head_hash() const = 0;
  // How many times the store recovered in place from a failed write or fsync (RocksStoreOptions's recovery)
  // since it was opened. A recovery may drop appends acknowledged with wait_for_sync = false that were not yet
  // durable, and the positions and stream versions they had are then given to later appends: a reader that
  // keeps state derived from such appends (the SLA service's kept views) reads it again when this moves.
  // 0 for a store that never recovers in place; a store that wraps another must forward it.
  virtual std::uint64_t recoveries() const { return 0; }
  // True when every append to this log goes through this object: no other process can append to it (the
  // embedded RocksDB store holds its directory's lock). Then a reader that appends too (the SLA service) knows
  // that whatever was appended after it started went through it. False for a log shared by several nodes (a
  // JetStream cluster), and the default: a store that wraps another may forward it.
  virtual bool exclusive() const { return false; }

  // Delivers every event with position > `after_position`, in order, without gaps or duplicates: first the
  // stored ones (catch-up), then new ones as they are synced (live). Runs on its own thread, reading
  // from the log, so a slow handler never slows appenders.
  virtual std::unique_ptr<Subscription> subscribe(std::uint64_t after_position, EventHandler handler) = 0;

  // Checks the store's own indexes against its log up to the head (what verify_log runs with
  // VerifyOptions::indexes once the chain verified). The RocksDB store checks that each stream's versions in
  // the log are 1, 2, 3, ..., that its `streams` entries (one per append) cover exactly those versions without
  // gap or overlap and lead to each event's position, and that no entry exists that no event accounts for.
  // Reports the first mismatch (bad_position: the event concerned, or where a stray entry points).
  // The default (a store without such indexes): kFailedPrecondition.
  virtual Result<VerifyReport> verify_indexes(const std::function<void(std::uint64_t)>& progress) const;

  // Writes a consistent copy of the whole log into the new directory `dir`: every event acknowledged before
  // the call is in it, and no append is torn. The RocksDB store writes a RocksDB checkpoint (hard links to its
  // table files where `dir` is on the same file system, so it takes about a flush) that opens as a log.
  // Errors: kAlreadyExists (`dir` exists), kIOError; the default (a store that cannot): kFailedPrecondition.
  virtual Status checkpoint_to(const std::string& dir);

  // The group commit's counters (the default, a store without one: zeros).
  virtual CommitStats commit_stats() const { return {}; }

  // What the store holds in memory now (the default, a store that does not say: zeros).
  virtual MemoryUsage memory_usage() const { return {}; }

  // The Merkle tree over the log (store/merkle.h; docs/log-format.md): kept as events are appended, in the same
  // atomic write. Sizes are counts of events from position 1 and may not pass the head; position P is leaf P - 1.
  // tree_node is the stored root of a complete subtree (merkle::NodeReader); the default, a store without a
  // tree: kFailedPrecondition. The three others are computed from it (O(log n) reads each).
  // Errors: kInvalidArgument for a size past the head, a position past the size, or from > to.
  virtual Result<merkle::Hash> tree_node(int level, std::uint64_t index) const;
  // A reader of tree_node for one computation (a proof, a root): a store may cache what it read in it.
  virtual merkle::NodeReader tree_reader() const;
  Result<merkle::Hash> tree_root(std::uint64_t size) const;
  Result<std::vector<merkle::Hash>> inclusion_proof(std::uint64_t position, std::uint64_t size) const;
  Result<std::vector<merkle::Hash>> consistency_proof(std::uint64_t from_size, std::uint64_t to_size) const;
};

// Walks the whole log from position 1 and checks: positions are dense, each event's prev_hash is the previous
// event's hash, each hash is the BLAKE2b-256 of its canonical envelope, and each event decodes. Stops at the
// first problem. Then, if the store keeps a Merkle tree, that its root over the events walked is the root
// recomputed from them (tree_checked, tree_root). `progress`, if set, is called every 65,536 events with the position reached.
// The chain covers the `log` column family only: an altered stream index (which stream reads follow) is not
// seen here; use verify_log with VerifyOptions::indexes for that.
// Errors (as a status, not a report): kIOError when the log cannot be read.
Result<VerifyReport> verify_chain(const EventStore& store,
                                  const std::function<void(std::uint64_t)>& progress = nullptr);

struct VerifyOptions {
  // After the chain verified, also check the store's indexes against the log (EventStore::verify_indexes).
  // The RocksDB store does it in sequential walks, without a lookup per event: about a third of the chain
  // walk's time again (100k events: 0.06 s on top of 0.17 s), and memory of 8 bytes per event plus an entry
  // per stream while it runs.
  bool indexes = false;
  // If set, called every 65,536 events with the position reached (with `indexes`: in both walks).
  std::function<void(std::uint64_t)> progress;
};

// verify_chain, then (with options.indexes and if the chain verified) the indexes. Errors as verify_chain's,
// and kFailedPrecondition if the indexes were asked for and the store has none it can check.
Result<VerifyReport> verify_log(const EventStore& store, const VerifyOptions& options);

// Recomputes an envelope's hash from its fields (including prev_hash). The one definition of the chain.
Hash256 compute_event_hash(const RecordedEvent& e);

}  // namespace otinish::store
