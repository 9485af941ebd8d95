// engine/projection.h: projections and the runner that keeps them up to date with the log.
//
// A projection turns the log into a queryable view. Its rows live in the engine's own RocksDB "views" database
// (a directory next to the log), in a column family per projection *generation* ("appeals@3"). Each write the
// runner makes holds a projection's rows and its checkpoint (the last log position applied) together, so a
// crash never leaves rows and checkpoint apart: live, one WriteBatch; in bulk (a rebuild, or a catch_up far
// behind), one sorted table file that RocksDB ingests whole. The layout is in docs/events.md ("Views").
//
// Bulk builds read and decode the log once, in batches that several threads apply (each projection on one
// thread at a time, in log order), and keep a batch's rows in memory, decoded, until its one write.
//
// Rebuild: a projection is rebuilt from position 0 into a fresh generation while the current one keeps
// serving; the runner then catches the new generation up under its apply lock, swaps the active generation
// (one meta write) and drops the old one. Readers hold a ViewReader, which keeps the generation it opened
// alive until it is destroyed.
//
// Usage:
//   auto runner = ProjectionRunner::open(store, dir + "/views", standard_projections(), {});
//   OTINISH_RETURN_IF_ERROR((*runner)->start());
//   (*runner)->wait_for(result.position, 1s);
//   auto page = query_appeals(*(*runner)->reader("appeals"), {.stage = Stage::kAssigned});
//
// Thread-safety: ProjectionRunner is thread-safe. Projection::apply must be thread-safe: a rebuild applies an
// instance beside its live updates, and bulk builds apply different projections on different threads. Each
// call gets the ViewTx of one generation, used by one thread at a time; instances keep all their state in it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/events.h"
#include "store/event_store.h"

namespace otinish::engine {

// Reads and writes of one projection inside a batch: reads see the batch's own writes.
//
// Besides bytes, a transaction can hold a row as a decoded *object*, so that a row changed by many events is
// decoded at most once and encoded once per write of the batch, not once per event:
//
//   if (ViewTx::Object* o = tx.object(key)) ...modify the object in place...   // a read for update
//   else { bytes = tx.get(key); decode; tx.put_object(key, std::move(decoded)); }
//
// An object's bytes (Object::encode) are what the row holds in the database, exactly as if the projection had
// put() them; get() of a key held as an object returns those bytes. One key is held by one type of object.
// An object may also own rows derived from it (index entries), written with it (Object::write_derived).
class ViewTx {
 public:
  // Where an object writes its derived rows.
  class RowSink {
   public:
    virtual ~RowSink() = default;
    virtual void put(std::string_view key, std::string_view value) = 0;
    virtual void del(std::string_view key) = 0;
  };
  class Object {
   public:
    virtual ~Object() = default;
    // Appends the row's bytes to `out`. Deterministic.
    virtual void encode(std::string& out) const = 0;
    // Called each time the row is written: puts the derived rows that changed since the previous call (or
    // since the object was decoded from the database) and deletes those no longer derived. A derived key
    // belongs to one object and is never put, appended or read through the ViewTx. Default: none.
    virtual void write_derived(RowSink& out) { (void)out; }
  };

  virtual ~ViewTx() = default;
  virtual std::optional<std::string> get(std::string_view key) = 0;
  virtual void put(std::string_view key, std::string_view value) = 0;
  virtual void del(std::string_view key) = 0;
  // A row written once and then never read, changed or deleted through this ViewTx (an entry of a timeline
  // or of a feed, keyed by position or version). Cheaper than put(): the transaction does not index it.
  virtual void append(std::string_view key, std::string_view value) = 0;
  // The object held for `key`, or nullptr if the transaction holds the row only as bytes (or not at all: then
  // read it with get()). A non-null result is a read for update: the row is written with the next batch, so
  // the caller may change the object in place until its apply() returns.
  virtual Object* object(std::string_view key) = 0;
  // Replaces the row at `key` with `object` and returns it (owned by the transaction).
  virtual Object* put_object(std::string_view key, std::unique_ptr<Object> object) = 0;
};

class Projection {
 public:
  virtual ~Projection() = default;
  // The projection's name: "appeals", "timeline", "public", "scorecards", "repeats". [a-z_]+.
  virtual std::string_view name() const = 0;
  // Applies one event of the log. `decoded` is non-null for appeal events this build knows (it is null for
  // other streams' events and unknown types). Must be deterministic: a rebuild must give the same rows.
  // An error stops the runner (status() then says which projection and position).
  virtual Status apply(const store::RecordedEvent& event, const AppealEvent* decoded, ViewTx& tx) const = 0;
};

// A read-only view of one projection's active generation (committed rows only). Keeps that generation alive
// while it exists. Thread-compatible; create one per reading thread.
class ViewReader {
 public:
  virtual ~ViewReader() = default;
  virtual std::optional<std::string> get(std::string_view key) const = 0;
  // Calls `visit(key, value)` for keys starting with `prefix` that are > `after` (or all if `after` is empty),
  // in key order, until it returns false.
  virtual Status scan(std::string_view prefix, std::string_view after,
                      const std::function<bool(std::string_view, std::string_view)>& visit) const = 0;
  // The last log position this generation has applied.
  virtual std::uint64_t checkpoint() const = 0;
};

struct RunnerOptions {
  // Live: events per write (a write also happens whenever the runner reaches the head of the log).
  std::size_t live_batch_events = 1024;
  // Bulk builds (rebuild(), and catch_up() at least `bulk_min_events` behind): events per write. A bulk write
  // is one sorted table file per projection, rows and checkpoint together, ingested into RocksDB atomically;
  // until then every row the batch touched stays in memory, decoded (the five standard views take about
  // 1 KB per event at the peak), and after it up to as many rows as this, as a read cache for the next batch;
  // all of it is freed when the build ends. Larger is faster: each write after the first one turns the next
  // batches' reads of rows not in the cache into database reads.
  std::size_t rebuild_batch_events = 1'000'000;
  // catch_up() builds in bulk when it is at least this many events behind.
  std::size_t bulk_min_events = 50'000;
  // Threads of a bulk build, the calling one included: each reads and decodes batches of the log, applies them
  // to one projection at a time or writes a projection's table file, whichever is due. 1: the caller alone.
  std::size_t bulk_threads = 2;
  // Rows kept in memory between writes (a read cache for the next batches); 0 disables it.
  std::size_t cache_rows = 200'000;
  // Sync each live write (the log is the source of truth; a lost view write is re-applied from the
  // checkpoint, so the default does not sync).
  bool sync = false;
  // RocksDB block cache for the views, in MiB.
  std::size_t block_cache_mb = 64;
  // Memtables of every view together, in MiB (RocksDB's db_write_buffer_size).
  std::size_t memtable_mb = 64;
  // Live writes wait (the changes stay in memory, reads answer from what was written) while the views' file
  // system has less than this many MiB free (store/disk_space.h); 0 disables the check.
  std::uint64_t min_free_disk_mb = 16;
};

// How far a rebuild is: `done` events of the log applied out of `total`, the log's head when the rebuild
// started (raised to `done` if the log grows past it meanwhile). Called at most once per batch of events read
// (a few thousand), with `done` increasing, and a last time with done == total once the new generation is
// active (not after an error). Called on one of the rebuild's threads, one call at a time, while the rebuild
// waits: keep it short (a progress bar).
using RebuildProgress = std::function<void(std::uint64_t done, std::uint64_t total)>;

struct RebuildReport {
  std::uint64_t events = 0;     // events scanned
  std::uint64_t generation = 0; // the new active generation
  double seconds = 0;
  double events_per_second() const { return seconds > 0 ? events / seconds : 0; }
};

class ProjectionRunner {
 public:
  virtual ~ProjectionRunner() = default;

  // Opens (or creates) the views database in directory `views_dir`. `store` must outlive the runner.
  // Errors: kIOError (cannot open or locked), kInvalidArgument (duplicate projection names).
  static Result<std::unique_ptr<ProjectionRunner>> open(store::EventStore& store, const std::string& views_dir,
                                                        std::vector<std::unique_ptr<Projection>> projections,
                                                        const RunnerOptions& options = {});

  // Subscribes from the lowest checkpoint and follows the log until stop(). Idempotent.
  virtual Status start() = 0;
  // Stops following (writes what is buffered). Idempotent; the destructor calls it.
  virtual void stop() = 0;
  // OK while running or stopped; the error that stopped the runner otherwise.
  virtual Status status() const = 0;
  // Blocks until every projection has committed position >= `position`; false on timeout or error.
  virtual bool wait_for(std::uint64_t position, std::chrono::milliseconds timeout) const = 0;
  // Applies everything in the log now, synchronously, without start() (tools, tests and --as-of builds).
  // Stops at the first event recorded after `as_of`.
  virtual Status catch_up(Timestamp as_of = Timestamp::max()) = 0;

  // Rebuilds projection `name` from position 0 into a fresh generation while the current one serves, then
  // swaps. Errors: kNotFound (no such projection), the store's and RocksDB's errors (the old generation stays).
  Result<RebuildReport> rebuild(std::string_view name) { return rebuild(name, nullptr); }
  // The same, reporting progress to `progress` (if set): see RebuildProgress.
  virtual Result<RebuildReport> rebuild(std::string_view name, const RebuildProgress& progress) = 0;

  // A reader of the active generation of `name`. Errors: kNotFound.
  virtual Result<std::unique_ptr<ViewReader>> reader(std::string_view name) const = 0;
  // The lowest committed checkpoint over all projections.
  virtual std::uint64_t checkpoint() const = 0;
};

}  // namespace otinish::engine
