#include "store/rocks_store.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/utilities/options_util.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/thread_name.h"
#include "store/append_rules.h"
#include "store/coding.h"
#include "store/disk_space.h"
#include "store/envelope_codec.h"
#include "store/info_log.h"
#include "store/key_layout.h"
#include "store/merkle_tiles.h"
#include "store/table_options.h"
#include "store/upgrade.h"
#include "store/write_queue.h"

namespace otinish::store {
namespace {

// Streams whose version the writer keeps in memory (~100 bytes each, ~10 MiB); past it the map starts over and
// versions are read back from the stream index (a prefix-bloomed seek for the stream's newest run).
constexpr std::size_t kStreamCacheLimit = 100'000;

Status from_rocks(const rocksdb::Status& s, std::string_view what) {
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return Status::Corruption(std::move(msg));
  if (s.IsNotFound()) return Status::NotFound(std::move(msg));
  if (s.IsInvalidArgument()) return Status::InvalidArgument(std::move(msg));
  return Status::IOError(std::move(msg));
}

// A `streams` entry that points at an event of another stream or version (the index is not hash-chained).
Status index_mismatch(std::string_view stream, std::uint64_t version, std::uint64_t position,
                      const RecordedEvent& found) {
  return Status::Corruption("the stream index entry for " + std::string(stream) + " version " +
                            std::to_string(version) + " points at position " + std::to_string(position) +
                            ", which holds " + found.stream + " version " + std::to_string(found.stream_version) +
                            "; run `otinish verify`");
}

// The part of a `streams` key before the version: the stream name and its 0x00. The stream index's bloom
// filters (in its table files and memtable) are built over it, so that finding a stream's newest run (a seek for
// the last key of the prefix) skips every file that holds no run of the stream, as most do for a new appeal.
class StreamPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "otinish.StreamPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    // RocksDB may ask for the prefix of a key out of the domain (a malformed entry beside the one read): the
    // whole key then, never a length computed from a null pointer.
    const void* nul = std::memchr(key.data(), 0, key.size());
    if (nul == nullptr) return key;
    return {key.data(), static_cast<std::size_t>(static_cast<const char*>(nul) - key.data()) + 1};
  }
  bool InDomain(const rocksdb::Slice& key) const override { return std::memchr(key.data(), 0, key.size()) != nullptr; }
};

// One `streams` entry: the events of one append, versions first_version.. at positions first_position..
struct Run {
  std::uint64_t first_version = 0;
  std::uint64_t first_position = 0;
  std::uint64_t events = 0;
  std::uint64_t last_version() const { return first_version + events - 1; }
  std::uint64_t position_of(std::uint64_t version) const { return first_position + (version - first_version); }
};

enum class RunRead { kRun, kOtherStream, kMalformed };

// Decodes the entry at `key` if it is a run of the stream whose key prefix (name and 0x00) is `prefix`.
RunRead decode_run(const rocksdb::Slice& key, const rocksdb::Slice& value, std::string_view prefix, Run* out) {
  if (!key.starts_with(rocksdb::Slice(prefix.data(), prefix.size()))) return RunRead::kOtherStream;
  if (key.size() != prefix.size() + 8 || value.size() != 12) return RunRead::kMalformed;
  out->first_version = coding::decode_big_endian64(key.data() + prefix.size());
  out->first_position = coding::decode_big_endian64(value.data());
  std::uint32_t events = 0;
  coding::Reader r(std::string_view(value.data() + 8, 4));
  r.get_fixed32(&events);
  out->events = events;
  // A run whose last version or position would pass 2^64 - 1 is damage (it would wrap and hide in the checks).
  const bool fits = events >= 1 && out->first_version <= UINT64_MAX - (events - 1) &&
                    out->first_position <= UINT64_MAX - (events - 1);
  return out->first_version >= 1 && out->first_position >= 1 && fits ? RunRead::kRun : RunRead::kMalformed;
}

Status malformed_run(std::string_view stream, const rocksdb::Slice& key, const rocksdb::Slice& value) {
  return Status::Corruption("the stream index holds a malformed entry of " + std::string(stream) + " (key of " +
                            std::to_string(key.size()) + " bytes, value of " + std::to_string(value.size()) +
                            " bytes; a run of no events or from version or position 0); run `otinish verify`");
}

std::string format1_message(const std::string& path) {
  return path + " holds an otinish log of format 1 (" + keys::kFormat1Value + "); this build reads format 2 (" +
         keys::kFormatValue + "), whose stream index has one entry per append and no `heads`. Upgrade it in "
         "place with `otinish upgrade --data DIR` (it keeps the old log beside the new one, as log.format1). Or "
         "export it with the build that wrote it (`otinish export --data DIR --out log.jsonl`) and import the "
         "export with this one (`otinish import --data NEW_DIR log.jsonl`); the events and their hashes are the "
         "same either way";
}

// A marker "otinish-log/N" with N above this build's: written by a newer otinish.
std::string format_message(const std::string& path, const std::string& format) {
  constexpr std::string_view kPrefix = "otinish-log/";
  if (format.starts_with(kPrefix) && format.size() > kPrefix.size() &&
      format.find_first_not_of("0123456789", kPrefix.size()) == std::string::npos &&
      format.size() - kPrefix.size() < 9 && std::stoi(format.substr(kPrefix.size())) > 2) {
    return path + " is of log format " + format.substr(kPrefix.size()) + " ('" + format +
           "'), written by a newer otinish; this build reads format 2. Run the newer otinish (data is never "
           "downgraded)";
  }
  return path + " has log format '" + format + "'; this build reads '" + keys::kFormatValue + "'";
}

// What an idempotency key remembers: the result and a digest of what was appended.
struct IdempotencyRecord {
  AppendResult result;
  Hash256 digest{};

  std::string encode() const {
    std::string v;
    coding::put_fixed64(&v, result.first_position);
    coding::put_fixed64(&v, result.last_position);
    coding::put_fixed64(&v, result.stream_version);
    v.append(reinterpret_cast<const char*>(digest.data()), digest.size());
    return v;
  }
  static bool decode(std::string_view bytes, IdempotencyRecord* out) {
    coding::Reader r(bytes);
    std::string_view d;
    if (!r.get_fixed64(&out->result.first_position) || !r.get_fixed64(&out->result.last_position) ||
        !r.get_fixed64(&out->result.stream_version) || !r.get_bytes(32, &d) || r.remaining() != 0) {
      return false;
    }
    std::copy(d.begin(), d.end(), out->digest.begin());
    return true;
  }
};

class RocksEventStore;

// How many scan callbacks (a subscription's handler is one) this thread is inside: it then holds a store's
// db_mu_ shared. An append from such a callback may make this thread the group commit's leader, and a leader
// must not try to take db_mu_ alone to recover from a disk failure (a thread may not wait for a lock it holds).
thread_local int t_in_scan_callback = 0;
struct InScanCallback {
  InScanCallback() { ++t_in_scan_callback; }
  ~InScanCallback() { --t_in_scan_callback; }
  InScanCallback(const InScanCallback&) = delete;
  InScanCallback& operator=(const InScanCallback&) = delete;
};

// Wakes subscriptions when the head moves. Shared with subscriptions so that each can unregister itself.
struct HeadSignal {
  std::mutex mu;
  std::condition_variable cv;
  std::uint64_t generation = 0;  // guarded by mu; bumped on every publish and on close
  bool closed = false;           // guarded by mu
  std::atomic<int> live_subscriptions{0};
};

class RocksSubscription final : public Subscription {
 public:
  RocksSubscription(const RocksEventStore* store, std::shared_ptr<HeadSignal> signal, std::uint64_t after,
                    EventHandler handler);
  ~RocksSubscription() override {
    stop();
    signal_->live_subscriptions.fetch_sub(1);
  }

  void stop() override;
  std::uint64_t position() const override { return position_.load(std::memory_order_acquire); }
  Status status() const override {
    std::lock_guard lock(mu_);
    return status_;
  }
  bool wait_for(std::uint64_t p, std::chrono::milliseconds timeout) const override {
    std::unique_lock lock(mu_);
    return progress_cv_.wait_for(lock, timeout, [&] { return position() >= p || ended_; }) && position() >= p;
  }

 private:
  void run();
  void end_with(Status s);

  const RocksEventStore* const store_;
  const std::shared_ptr<HeadSignal> signal_;
  const EventHandler handler_;
  std::atomic<std::uint64_t> position_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable progress_cv_;
  Status status_;      // guarded by mu_
  bool ended_ = false;  // guarded by mu_
  std::thread thread_;  // started last
};

class RocksEventStore final : public EventStore {
 public:
  RocksEventStore(const StoreOptions& options, const Clock& clock) : options_(options), clock_(clock) {}
  ~RocksEventStore() override;

  Status open(const std::string& path);

  Result<AppendResult> append(std::string_view stream, ExpectedVersion expected,
                              std::span<const EventData> events, const AppendOptions& options) override;
  void append_async(std::string stream, ExpectedVersion expected, std::vector<EventData> events,
                    AppendOptions options, AppendCallback done) override;
  Result<std::vector<RecordedEvent>> read_stream(std::string_view stream, std::uint64_t from_version,
                                                 Direction direction, std::size_t limit) const override;
  Result<std::vector<RecordedEvent>> read_all(std::uint64_t from_position, std::size_t limit) const override;
  Result<std::uint64_t> scan(std::uint64_t from_position, std::uint64_t limit,
                             const std::function<bool(const RecordedEvent&)>& visit) const override;
  Result<std::uint64_t> stream_version(std::string_view stream) const override;
  std::uint64_t head_position() const override { return head_position_.load(std::memory_order_acquire); }
  std::uint64_t recoveries() const override { return recoveries_.load(std::memory_order_acquire); }
  bool exclusive() const override { return true; }  // RocksDB locks the directory (its LOCK file)
  Hash256 head_hash() const override {
    std::lock_guard lock(head_mu_);
    return head_hash_;
  }
  std::unique_ptr<Subscription> subscribe(std::uint64_t after_position, EventHandler handler) override;
  Result<VerifyReport> verify_indexes(const std::function<void(std::uint64_t)>& progress) const override;
  Status checkpoint_to(const std::string& dir) override;
  CommitStats commit_stats() const override { return queue_->stats(); }
  MemoryUsage memory_usage() const override;
  Result<merkle::Hash> tree_node(int level, std::uint64_t index) const override;
  merkle::NodeReader tree_reader() const override;
  // tree_reader's nodes; without taking db_mu_ for the leader's own reads (it may hold it alone, in recover()).
  merkle::NodeReader node_reader(bool lock_db) const;

 private:
  // Everything the leader decides for one group before the write.
  struct GroupState;

  Status open_db();
  void close_db();
  // Takes db_mu_ shared into `lock`; kUnavailable if RocksDB is closed (a reopen after a disk failure failed).
  Status lock_for_read(std::shared_lock<std::shared_timed_mutex>& lock) const;
  Result<std::uint64_t> scan_unlocked(std::uint64_t from_position, std::uint64_t limit,
                                      const std::function<bool(const RecordedEvent&)>& visit) const;
  Status check_tail();
  Status open_tree();
  Status load_open_tiles();
  void add_tree_node(int level, std::uint64_t index, const merkle::Hash& h, rocksdb::WriteBatch& batch);
  void write_open_tiles(rocksdb::WriteBatch& batch);
  Result<tiles::Tile> read_tile(const rocksdb::ReadOptions& ro, int row, std::uint64_t tile) const;
  // read_tile through the shared cache of hot tiles (below); `need` a node the tile must hold if it can.
  Result<std::shared_ptr<const tiles::Tile>> cached_tile(const tiles::Place& need) const;
  Result<VerifyReport> verify_tree(const rocksdb::ReadOptions& ro, std::uint64_t head,
                                   const std::function<void(std::uint64_t)>& progress) const;
  void write_group(std::span<AppendRequest* const> group);
  Status sync_written();
  // The newest version of `stream`, written or synced (the leader's view; 0 for a new stream).
  Result<std::uint64_t> lookup_stream_version(std::string_view stream) const;
  // The run of `stream` with the greatest first version <= `version` (the one that holds it, if any does),
  // read with `ro`; NotFound if the stream has none. UINT64_MAX finds the stream's newest run.
  Result<Run> seek_run(const rocksdb::ReadOptions& ro, std::string_view stream, std::uint64_t version) const;
  Status read_position(std::uint64_t position, RecordedEvent* out) const;
  Status validate(std::string_view stream, std::span<const EventData> events, const AppendOptions& options) const;

  const StoreOptions options_;
  const Clock& clock_;
  std::unique_ptr<rocksdb::Env> env_;  // over options_.file_system, when one is given; outlives db_
  std::string path_;
  rocksdb::Options db_options_;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs_;
  // Readers hold it shared; recover() holds it alone while it closes and reopens RocksDB (db_ and the column
  // family handles change then; db_ is null if the reopen failed, and reads answer kUnavailable).
  mutable std::shared_timed_mutex db_mu_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* default_cf_ = nullptr;  // owned by db_
  rocksdb::ColumnFamilyHandle* log_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* streams_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* idem_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* tree_cf_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;

  // The published head: the newest synced position. Set by the syncer after each fsync (sync_written).
  std::atomic<std::uint64_t> head_position_{0};
  mutable std::mutex head_mu_;
  Hash256 head_hash_{};  // guarded by head_mu_

  // The leader's state (touched by write_group alone, which the write queue runs for one leader at a time, each
  // call after the previous one returned: so it needs no lock).
  Timestamp last_recorded_at_{};
  std::unordered_map<std::string, std::uint64_t> stream_versions_;
  merkle::Frontier tree_;  // the Merkle tree's right edge as written
  // The newest tile of each row (store/merkle_tiles.h), as written, and whether the current group changed it.
  std::array<tiles::Tile, 16> open_tiles_{};
  std::array<std::uint64_t, 16> open_tile_index_{};
  std::array<bool, 16> open_tile_used_{};
  std::array<bool, 16> open_tile_dirty_{};
  // Tiles that proofs read again and again: every row above the leaves (40,000 tiles for 10M events; the leaves'
  // own row, 16 times larger, is left to RocksDB's block cache) and the newest tile of each row (the right edge of
  // every tree size near the head). A stored node never changes, so a cached
  // tile is never stale, only perhaps short of nodes added since (then it is read again). Cleared when full.
  mutable std::shared_mutex tile_cache_mu_;
  // By row and tile index (rows above the leaves are dense and small: a slot per tile); the leaves' row keeps
  // only its newest tile, in slot 0 of row 0 with its index in leaf_tile_index_.
  mutable std::array<std::vector<std::shared_ptr<const tiles::Tile>>, 16> tile_cache_;  // GUARDED_BY(tile_cache_mu_)
  mutable std::uint64_t leaf_tile_index_ = 0;                                            // GUARDED_BY(tile_cache_mu_)
  mutable std::size_t tiles_cached_ = 0;                                                 // GUARDED_BY(tile_cache_mu_)
  static constexpr std::size_t kTileCacheLimit = 65'536;  // about 64 MB: every row but the leaves of 16M events

  // Held by the writer around its RocksDB write and by the syncer while it writes the WAL's buffer to the file:
  // once that write has failed (the disk is full), RocksDB's WAL file must see no further append until the DB
  // is reopened (Debian's RocksDB asserts on one), so the writer has to see the failure before its next write.
  // The fsync itself runs outside it, so the writer still writes the next group while the disk syncs.
  std::mutex wal_mu_;
  // The head as written (maybe not yet synced): set by the leader, published by the syncer.
  std::mutex written_mu_;
  std::uint64_t written_position_ = 0;  // guarded by written_mu_
  Hash256 written_hash_{};              // guarded by written_mu_
  // Set when a write or a sync failed (the disk is full, an fsync reported EIO, ...): what was written since
  // the last good sync may or may not be on the disk, so nothing more is appended until recover() succeeds.
  mutable std::mutex failed_mu_;
  Status failed_;             // guarded by failed_mu_
  std::vector<std::string> failed_causes_;  // guarded by failed_mu_: what failed, up to three distinct causes
  // When recover() may next be tried: recovery_interval after the failure, then after each attempt.
  std::chrono::steady_clock::time_point next_recovery_{};  // guarded by failed_mu_
  std::atomic<std::uint64_t> recoveries_{0};              // successful recover() calls (recoveries())
  // Enters the failed state (or adds a distinct cause to it) and returns the error that refused appends get.
  Status fail(const Status& cause);
  // What failed_ says: the causes and what to do. Caller holds failed_mu_.
  std::string failure_message() const;
  // On the leader's thread, while failed: closes RocksDB and opens it again, as PostgreSQL restarts into crash
  // recovery after a failed fsync. The open reads the WAL back (a torn tail is dropped) and writes what it
  // recovered into new, synced table files before it serves, so nothing depends any longer on the file whose
  // write or fsync failed (its pages may be lost whatever a later fsync says: PostgreSQL's "fsyncgate"). Then
  // the head and the tree's edge are read again from what is stored. True if appends may go on.
  bool recover();
  Status probe_disk() const;

  std::unique_ptr<DiskSpaceGuard> space_;  // set in open()
  std::shared_ptr<HeadSignal> signal_ = std::make_shared<HeadSignal>();
  std::unique_ptr<WriteQueue> queue_;  // created last in open(), destroyed first
};

RocksEventStore::~RocksEventStore() {
  if (int n = signal_->live_subscriptions.load(); n != 0) {
    std::fprintf(stderr, "otinish: an EventStore was destroyed while %d of its subscriptions were alive; destroy "
                         "(or stop) every Subscription before its store\n", n);
    std::abort();
  }
  queue_.reset();  // drains pending appends
  {
    std::lock_guard lock(signal_->mu);
    signal_->closed = true;
    ++signal_->generation;
  }
  signal_->cv.notify_all();
  close_db();
}

Status RocksEventStore::open(const std::string& path) {
  path_ = path;
  if (options_.max_events_per_append > UINT32_MAX) {
    return Status::InvalidArgument("StoreOptions::max_events_per_append is " +
                                   std::to_string(options_.max_events_per_append) + "; an append's index entry counts "
                                   "its events in 4 bytes, so the limit is 4,294,967,295");
  }
  if (options_.create_if_missing) {
    std::error_code ec;
    // A log that `otinish upgrade` is moving aside must not be replaced by a new, empty one: a server started
    // between the upgrade's two renames would otherwise begin a second history in the old one's place.
    if (!std::filesystem::exists(std::filesystem::path(path) / "CURRENT", ec)) {
      if (std::filesystem::exists(path + ".upgrading", ec)) {
        return Status::FailedPrecondition("no log at " + path + ", but " + path + ".upgrading is there: an "
                                          "`otinish upgrade` of this log was interrupted. Run `otinish upgrade "
                                          "--data DIR` again to finish it; no new log is created in its place");
      }
      if (std::filesystem::exists(path + ".format1", ec)) {
        return Status::FailedPrecondition("no log at " + path + ", only " + path + ".format1, the old log an "
                                          "`otinish upgrade` keeps: the upgraded log is missing. Move " + path +
                                          ".format1 back to " + path + " and run `otinish upgrade --data DIR`; no new "
                                          "log is created in its place");
      }
    }
    std::filesystem::create_directories(path, ec);
    if (ec) return Status::IOError("cannot create the log directory " + path + ": " + ec.message());
  }
  rocksdb::Options& db_options = db_options_;
  db_options.create_if_missing = options_.create_if_missing;
  db_options.create_missing_column_families = options_.create_if_missing;
  // A record torn at the WAL's tail was never synced, so no waiting append in it or after it was acknowledged
  // (a wait_for_sync = false append may have been, without the promise of durability): it is dropped. Damage
  // anywhere else fails the open instead of silently losing what follows it.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  db_options.paranoid_checks = true;
  db_options.info_log = open_info_log(path);
  // What the WAL holds is written into synced table files during the open (the default, stated because
  // recover() relies on it).
  db_options.avoid_flush_during_recovery = false;
  if (options_.file_system) {
    env_ = rocksdb::NewCompositeEnv(options_.file_system);
    db_options.env = env_.get();
  }
  db_options.IncreaseParallelism(2);
  db_options.db_write_buffer_size = options_.memtable_mb << 20;
  db_options.max_total_wal_size = 256 << 20;
  db_options.manual_wal_flush = true;
  if (std::getenv("OTINISH_MMAP_READS")) db_options.allow_mmap_reads = true;

  // One block cache for every column family, which holds their index and filter partitions too
  // (store/table_options.h): the memory stays within it as the log grows.
  const auto cache = new_block_cache(options_.block_cache_mb);
  rocksdb::BlockBasedTableOptions table = bounded_table_options(cache, /*bloom=*/true);
  rocksdb::ColumnFamilyOptions indexed;
  indexed.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::ColumnFamilyOptions streams_options = indexed;
  streams_options.prefix_extractor = std::make_shared<StreamPrefix>();
  streams_options.memtable_prefix_bloom_size_ratio = 0.05;
  rocksdb::ColumnFamilyOptions log_options;
  rocksdb::BlockBasedTableOptions log_table = bounded_table_options(cache, /*bloom=*/false);
  log_table.block_size = 64 << 10;
  log_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(log_table));

  // Nearly every lookup in the idempotency index misses: a command's key is new.
  rocksdb::ColumnFamilyOptions idempotency_options = indexed;
  filter_memtable_misses(idempotency_options);
  // The Merkle tree's tiles: random hashes, nothing to compress.
  rocksdb::ColumnFamilyOptions tree_options = indexed;
  tree_options.compression = rocksdb::kNoCompression;
  cfs_ = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
      {keys::kLogCf, log_options},
      {keys::kStreamsCf, streams_options},
      {keys::kIdempotencyCf, idempotency_options},
      {keys::kTreeCf, tree_options},
  };
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(db_options, path, &existing).ok()) {
    for (const auto& name : existing) {
      if (name == keys::kFormat1HeadsCf) return Status::InvalidArgument(format1_message(path));
      if (std::none_of(cfs_.begin(), cfs_.end(), [&](const auto& d) { return d.name == name; })) {
        // A newer format may have column families this build does not know: its marker says so first.
        if (auto format = log_format(path); format.ok() && *format > kLogFormat) {
          return Status::InvalidArgument(format_message(path, "otinish-log/" + std::to_string(*format)));
        }
        return Status::InvalidArgument(path + " holds column family '" + name +
                                       "', which is not part of an otinish log; is this the right directory?");
      }
    }
    if (existing.size() == 1 && !options_.create_if_missing) {
      return Status::InvalidArgument(path + " is a RocksDB database but not an otinish log");
    }
  } else if (!options_.create_if_missing) {
    return Status::NotFound("no otinish log at " + path + " (create_if_missing is off)");
  }

  OTINISH_RETURN_IF_ERROR(open_db());
  space_ = std::make_unique<DiskSpaceGuard>(path, "the log", options_.min_free_disk_mb << 20);
  queue_ = std::make_unique<WriteQueue>([this](std::span<AppendRequest* const> g) { write_group(g); },
                                        [this] { return sync_written(); }, options_.max_group_events);
  return Status::Ok();
}

Status RocksEventStore::lock_for_read(std::shared_lock<std::shared_timed_mutex>& lock) const {
  lock = std::shared_lock(db_mu_);
  if (db_) return Status::Ok();
  std::lock_guard failed(failed_mu_);
  return Status::Unavailable("the log is closed while the store recovers from a disk failure: " + failed_.message());
}

void RocksEventStore::close_db() {
  if (!db_) return;
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  handles_.clear();
  db_->Close().PermitUncheckedError();
  db_.reset();
}

// Opens RocksDB on the configured directory and reads the log's state from it: at open, and again when the
// store recovers from a failed disk.
Status RocksEventStore::open_db() {
  const std::string& path = path_;
  rocksdb::DB* raw = nullptr;
  handles_.clear();
  rocksdb::Status s = rocksdb::DB::Open(db_options_, path, cfs_, &handles_, &raw);
  if (!s.ok()) return from_rocks(s, "opening the log at " + path);
  db_.reset(raw);
  default_cf_ = handles_[0];
  log_cf_ = handles_[1];
  streams_cf_ = handles_[2];
  idem_cf_ = handles_[3];
  tree_cf_ = handles_[4];

  std::string format;
  s = db_->Get(rocksdb::ReadOptions(), default_cf_, keys::kFormatKey, &format);
  if (s.IsNotFound()) {
    rocksdb::WriteOptions w;
    w.sync = true;
    s = db_->Put(w, default_cf_, keys::kFormatKey, keys::kFormatValue);
    if (!s.ok()) return from_rocks(s, "writing the log's format marker");
  } else if (!s.ok()) {
    return from_rocks(s, "reading the log's format marker");
  } else if (format == keys::kFormat1Value) {
    return Status::InvalidArgument(format1_message(path));
  } else if (format != keys::kFormatValue) {
    return Status::InvalidArgument(format_message(path, format));
  }

  OTINISH_RETURN_IF_ERROR(check_tail());
  OTINISH_RETURN_IF_ERROR(open_tree());
  {
    std::lock_guard lock(written_mu_);
    written_position_ = head_position();
    written_hash_ = head_hash();
  }
  return Status::Ok();
}

// Finds the head, and re-verifies the chain over the last tail_check_events events.
Status RocksEventStore::check_tail() {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), log_cf_));
  it->SeekToLast();
  if (!it->status().ok()) return from_rocks(it->status(), "reading the log's tail");
  if (!it->Valid()) return Status::Ok();  // empty log
  if (it->key().size() != 8) {
    return Status::Corruption("log key of " + std::to_string(it->key().size()) + " bytes at the tail (expected 8)");
  }
  const std::uint64_t head = coding::decode_big_endian64(it->key().data());
  const std::uint64_t check = std::min<std::uint64_t>(head, options_.tail_check_events);
  const std::uint64_t first = head - check + 1;  // first position whose hash is re-verified
  RecordedEvent e;
  Hash256 prev{};
  if (first > 1) {
    OTINISH_RETURN_IF_ERROR(read_position(first - 1, &e));
    prev = e.hash;
  }
  it->Seek(keys::log_key(first > 1 ? first : 1));
  std::uint64_t expected = first > 1 ? first : 1;
  for (; it->Valid(); it->Next(), ++expected) {
    const std::uint64_t pos = coding::decode_big_endian64(it->key().data());
    auto where = [&] { return "the log's tail does not verify at position " + std::to_string(expected) + ": "; };
    if (pos != expected) {
      return Status::Corruption(where() + "the next stored position is " + std::to_string(pos) +
                                " (a gap); run `otinish verify` for a full report");
    }
    Status d = decode_envelope(std::string_view(it->value().data(), it->value().size()), &e);
    if (!d.ok()) return Status::Corruption(where() + d.message());
    if (e.position != pos) {
      return Status::Corruption(where() + "the envelope says position " + std::to_string(e.position));
    }
    if (e.prev_hash != prev) return Status::Corruption(where() + "prev_hash does not match the previous event");
    if (compute_event_hash(e) != e.hash) {
      return Status::Corruption(where() + "the stored hash does not match the envelope (altered bytes)");
    }
    auto run = seek_run(rocksdb::ReadOptions(), e.stream, e.stream_version);
    if (!run.ok() || run->last_version() < e.stream_version || run->position_of(e.stream_version) != pos) {
      return Status::Corruption(where() + "the stream index for " + e.stream + " version " +
                                std::to_string(e.stream_version) + " does not point at it" +
                                (run.ok() || run.status().code() == StatusCode::kNotFound
                                     ? std::string()
                                     : " (" + run.status().message() + ")"));
    }
    prev = e.hash;
  }
  if (!it->status().ok()) return from_rocks(it->status(), "reading the log's tail");
  head_position_.store(head, std::memory_order_release);
  {
    std::lock_guard lock(head_mu_);
    head_hash_ = prev;
  }
  last_recorded_at_ = e.recorded_at;
  return Status::Ok();
}

Result<tiles::Tile> RocksEventStore::read_tile(const rocksdb::ReadOptions& ro, int row, std::uint64_t tile) const {
  std::string v;
  rocksdb::Status s = db_->Get(ro, tree_cf_, tiles::key(row, tile), &v);
  tiles::Tile t;
  if (s.IsNotFound()) return t;  // empty: every node in it reads as missing
  if (!s.ok()) return from_rocks(s, "reading the Merkle tree");
  if (!tiles::Tile::decode(v, &t)) {
    return Status::Corruption("the Merkle tree's tile " + std::to_string(row) + "/" + std::to_string(tile) + " is malformed (" +
                              std::to_string(v.size()) + " bytes)");
  }
  return t;
}

namespace {

Status missing_node(int level, std::uint64_t index) {
  return Status::Corruption("the Merkle tree has no node at level " + std::to_string(level) + ", index " +
                            std::to_string(index) + ", which the log's size says is complete");
}

}  // namespace

Result<merkle::Hash> RocksEventStore::tree_node(int level, std::uint64_t index) const {
  std::shared_lock<std::shared_timed_mutex> lock;
  OTINISH_RETURN_IF_ERROR(lock_for_read(lock));
  if (!options_.merkle_tree) return Status::FailedPrecondition("this log was opened without its Merkle tree");
  const tiles::Place p = tiles::place_of(level, index);
  OTINISH_ASSIGN_OR_RETURN(tiles::Tile t, read_tile(rocksdb::ReadOptions(), p.row, p.tile));
  if (!t.has(p.level, p.index)) return missing_node(level, index);
  return t.get(p.level, p.index);
}

Result<std::shared_ptr<const tiles::Tile>> RocksEventStore::cached_tile(const tiles::Place& need) const {
  const bool leaves = need.row == 0;
  const std::size_t slot = leaves ? 0 : static_cast<std::size_t>(need.tile);
  // Past the limit (a row above the leaves of a log of over 16M events), tiles are read but not kept.
  const bool cacheable = slot < kTileCacheLimit;
  {
    std::shared_lock lock(tile_cache_mu_);
    const auto& row = tile_cache_[static_cast<std::size_t>(need.row)];
    if (cacheable && slot < row.size() && row[slot] && (!leaves || leaf_tile_index_ == need.tile) &&
        row[slot]->has(need.level, need.index)) {
      return row[slot];
    }
  }
  // A leaf tile is one of many read at random (a proof needs the one under its leaf): RocksDB's block cache is
  // not filled with it, so that the blocks it holds for the upper rows and the log stay.
  rocksdb::ReadOptions ro;
  ro.fill_cache = !leaves;
  OTINISH_ASSIGN_OR_RETURN(tiles::Tile read, read_tile(ro, need.row, need.tile));
  auto tile = std::make_shared<const tiles::Tile>(std::move(read));
  if (cacheable && (!leaves || tile->size() < tiles::kWidth)) {
    std::unique_lock lock(tile_cache_mu_);
    if (tiles_cached_ >= kTileCacheLimit) {
      for (auto& row : tile_cache_) row.clear();
      tiles_cached_ = 0;
    }
    auto& row = tile_cache_[static_cast<std::size_t>(need.row)];
    if (row.size() <= slot) row.resize(slot + 1);
    if (!row[slot]) ++tiles_cached_;
    row[slot] = tile;
    if (leaves) leaf_tile_index_ = need.tile;
  }
  return tile;
}

// A proof reads a few nodes from each of a few tiles: each tile is looked up once per reader.
merkle::NodeReader RocksEventStore::tree_reader() const { return node_reader(/*lock=*/true); }

merkle::NodeReader RocksEventStore::node_reader(bool lock_db) const {
  if (!options_.merkle_tree) return EventStore::tree_reader();
  struct Local {
    std::vector<std::pair<std::pair<int, std::uint64_t>, std::shared_ptr<const tiles::Tile>>> tiles;
  };
  auto local = std::make_shared<Local>();
  return [this, local, lock_db](int level, std::uint64_t index) -> Result<merkle::Hash> {
    const tiles::Place p = tiles::place_of(level, index);
    const std::pair<int, std::uint64_t> id{p.row, p.tile};
    for (const auto& [k, t] : local->tiles) {
      if (k == id && t->has(p.level, p.index)) return t->get(p.level, p.index);
    }
    std::shared_lock<std::shared_timed_mutex> lock;
    if (lock_db) OTINISH_RETURN_IF_ERROR(lock_for_read(lock));
    OTINISH_ASSIGN_OR_RETURN(auto t, cached_tile(p));
    if (!t->has(p.level, p.index)) return missing_node(level, index);
    if (local->tiles.size() >= 64) local->tiles.clear();
    local->tiles.emplace_back(id, t);
    return t->get(p.level, p.index);
  };
}

// Puts `h` in its tile; a tile left behind by a newer one is written first (it is complete).
void RocksEventStore::add_tree_node(int level, std::uint64_t index, const merkle::Hash& h, rocksdb::WriteBatch& batch) {
  const tiles::Place p = tiles::place_of(level, index);
  if (!open_tile_used_[p.row] || open_tile_index_[p.row] != p.tile) {
    if (open_tile_used_[p.row] && open_tile_dirty_[p.row]) {
      batch.Put(tree_cf_, tiles::key(p.row, open_tile_index_[p.row]), open_tiles_[p.row].encode());
    }
    open_tiles_[p.row] = tiles::Tile{};
    open_tile_index_[p.row] = p.tile;
    open_tile_used_[p.row] = true;
  }
  open_tiles_[p.row].set(p.level, p.index, h);
  open_tile_dirty_[p.row] = true;
}

void RocksEventStore::write_open_tiles(rocksdb::WriteBatch& batch) {
  for (std::size_t row = 0; row < open_tiles_.size(); ++row) {
    if (!open_tile_dirty_[row]) continue;
    batch.Put(tree_cf_, tiles::key(static_cast<int>(row), open_tile_index_[row]), open_tiles_[row].encode());
    open_tile_dirty_[row] = false;
  }
}

// The newest tile of each row, and the frontier, as stored: at open, and after a failed write (whose nodes
// were added to the tiles in memory but never stored).
Status RocksEventStore::load_open_tiles() {
  open_tile_used_.fill(false);
  open_tile_dirty_.fill(false);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), tree_cf_));
  for (int row = 0; row < static_cast<int>(open_tiles_.size()); ++row) {
    it->SeekForPrev(tiles::key(row, ~std::uint64_t{0}));
    if (!it->status().ok()) return from_rocks(it->status(), "reading the Merkle tree");
    if (!it->Valid() || it->key().size() != 9 || static_cast<std::uint8_t>(it->key()[0]) != row) continue;
    if (!tiles::Tile::decode(std::string_view(it->value().data(), it->value().size()), &open_tiles_[row])) {
      return Status::Corruption("the Merkle tree's newest tile of row " + std::to_string(row) + " is malformed");
    }
    open_tile_index_[row] = coding::decode_big_endian64(it->key().data() + 1);
    open_tile_used_[row] = true;
  }
  const std::uint64_t size =
      open_tile_used_[0] ? open_tile_index_[0] * tiles::kWidth + static_cast<std::uint64_t>(open_tiles_[0].size()) : 0;
  OTINISH_ASSIGN_OR_RETURN(tree_, merkle::Frontier::load(size, node_reader(/*lock=*/false)));
  return Status::Ok();
}

// The tree's size is its number of leaves. It is written in the same batch as the events, so it equals the
// log's head; a log written before the tree existed (or with StoreOptions::merkle_tree off) gets it built here.
Status RocksEventStore::open_tree() {
  if (!options_.merkle_tree) return Status::Ok();
  OTINISH_RETURN_IF_ERROR(load_open_tiles());
  const std::uint64_t head = head_position();
  const std::uint64_t size = tree_.size();
  if (size > head) {
    return Status::Corruption("the Merkle tree has " + std::to_string(size) + " leaves but the log only " +
                              std::to_string(head) + " events");
  }
  if (size == head) return Status::Ok();
  rocksdb::WriteBatch batch;
  auto flush = [&]() -> Status {
    write_open_tiles(batch);
    rocksdb::Status s = db_->Write(rocksdb::WriteOptions(), &batch);
    if (s.ok()) s = db_->FlushWAL(options_.sync_writes);
    batch.Clear();
    return s.ok() ? Status::Ok() : from_rocks(s, "building the Merkle tree of the log");
  };
  Status st = Status::Ok();
  auto visited = scan_unlocked(size + 1, head - size, [&](const RecordedEvent& e) {
    tree_.append(merkle::leaf_hash(e.hash),
                 [&](int level, std::uint64_t index, const merkle::Hash& h) { add_tree_node(level, index, h, batch); });
    if (batch.Count() >= 1'000 || (e.position & 0x3FFF) == 0) st = flush();
    return st.ok();
  });
  OTINISH_RETURN_IF_ERROR(visited.status());
  OTINISH_RETURN_IF_ERROR(st);
  return flush();
}

Status RocksEventStore::validate(std::string_view stream, std::span<const EventData> events,
                                 const AppendOptions& options) const {
  return validate_append(stream, events, options, {options_.max_event_bytes, options_.max_events_per_append});
}

Result<AppendResult> RocksEventStore::append(std::string_view stream, ExpectedVersion expected,
                                             std::span<const EventData> events, const AppendOptions& options) {
  OTINISH_RETURN_IF_ERROR(validate(stream, events, options));
  AppendRequest request;
  request.stream = stream;
  request.expected = expected;
  request.events = events;
  request.options = &options;
  queue_->submit(&request);
  return std::move(request.result);
}

namespace {

// An asynchronous append's request, holding what it appends: the caller's copies may be gone by the time the
// leader writes it.
struct OwnedAppendRequest : AppendRequest {
  std::string stream_data;
  std::vector<EventData> events_data;
  AppendOptions options_data;
  AppendCallback done;

  static void complete_and_free(AppendRequest* base) {
    std::unique_ptr<OwnedAppendRequest> self(static_cast<OwnedAppendRequest*>(base));
    self->done(std::move(self->result));
  }
};

}  // namespace

void RocksEventStore::append_async(std::string stream, ExpectedVersion expected, std::vector<EventData> events,
                                   AppendOptions options, AppendCallback done) {
  if (Status st = validate(stream, events, options); !st.ok()) return done(st);
  auto request = std::make_unique<OwnedAppendRequest>();
  request->stream_data = std::move(stream);
  request->events_data = std::move(events);
  request->options_data = std::move(options);
  request->done = std::move(done);
  request->stream = request->stream_data;
  request->expected = expected;
  request->events = request->events_data;
  request->options = &request->options_data;
  request->complete = &OwnedAppendRequest::complete_and_free;
  queue_->submit_async(request.release());  // freed by complete_and_free, once answered
}

Result<Run> RocksEventStore::seek_run(const rocksdb::ReadOptions& options, std::string_view stream,
                                     std::uint64_t version) const {
  rocksdb::ReadOptions ro = options;
  ro.prefix_same_as_start = true;  // the stream's bloom filters rule out the files that hold none of its runs
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, streams_cf_));
  const std::string key = keys::stream_key(stream, version);
  it->SeekForPrev(key);
  if (!it->status().ok()) return from_rocks(it->status(), "reading the stream index");
  Run run;
  if (it->Valid()) {
    switch (decode_run(it->key(), it->value(), std::string_view(key).substr(0, stream.size() + 1), &run)) {
      case RunRead::kRun:
        return run;
      case RunRead::kMalformed:
        return malformed_run(stream, it->key(), it->value());
      case RunRead::kOtherStream:
        break;
    }
  }
  return Status::NotFound("the stream index has no run of " + std::string(stream) + " up to version " +
                          std::to_string(version));
}

Result<std::uint64_t> RocksEventStore::lookup_stream_version(std::string_view stream) const {
  auto run = seek_run(rocksdb::ReadOptions(), stream, UINT64_MAX);
  if (run.status().code() == StatusCode::kNotFound) return std::uint64_t{0};  // a new stream
  if (!run.ok()) return run.status();
  // The index is not covered by the hash chain: a run that claims more events than its append had would make
  // the next append skip versions, a gap then fixed in the chain for good. So the event where the run ends must
  // be there, and be that version (one point read, only when the stream is not in the writer's cache).
  const std::uint64_t version = run->last_version();
  const std::uint64_t position = run->position_of(version);
  RecordedEvent e;
  if (Status st = read_position(position, &e); !st.ok()) {
    return Status::Corruption("the stream index's newest entry of " + std::string(stream) + " says version " +
                              std::to_string(version) + " is at position " + std::to_string(position) + ": " +
                              st.message());
  }
  if (e.stream != stream || e.stream_version != version) return index_mismatch(stream, version, position, e);
  return version;
}

struct RocksEventStore::GroupState {
  std::uint64_t next_position;
  Hash256 prev_hash;
  Timestamp recorded_at;
  std::unordered_map<std::string, std::uint64_t> versions;  // streams touched by this group
  std::unordered_map<std::string, IdempotencyRecord> keys;  // idempotency keys written by this group
};

void RocksEventStore::write_group(std::span<AppendRequest* const> group) {
  bool failed;
  {
    std::lock_guard lock(failed_mu_);
    failed = !failed_.ok();
  }
  if (failed && !recover()) {
    std::lock_guard lock(failed_mu_);
    for (AppendRequest* r : group) r->result = failed_;
    return;
  }
  if (Status space = space_->check(); !space.ok()) {
    for (AppendRequest* r : group) r->result = space;
    return;
  }
  GroupState g;
  {
    std::lock_guard lock(written_mu_);
    g.next_position = written_position_ + 1;
    g.prev_hash = written_hash_;
  }
  g.recorded_at = std::max(clock_.now(), last_recorded_at_);
  rocksdb::WriteBatch batch;
  std::vector<AppendRequest*> written;
  RecordedEvent e;
  std::string value;

  for (AppendRequest* r : group) {
    const std::string& key = r->options->idempotency_key;
    const std::string stream(r->stream);
    Hash256 digest{};
    if (!key.empty()) {
      digest = append_digest(r->stream, r->events);
      IdempotencyRecord seen;
      bool found = false;
      if (auto it = g.keys.find(key); it != g.keys.end()) {
        seen = it->second;
        found = true;
      } else {
        rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), idem_cf_, key, &value);
        if (s.ok()) {
          if (!IdempotencyRecord::decode(value, &seen)) {
            r->result = Status::Corruption("idempotency record for key '" + key + "' is malformed");
            continue;
          }
          found = true;
        } else if (!s.IsNotFound()) {
          r->result = from_rocks(s, "reading the idempotency index");
          continue;
        }
      }
      if (found) {
        if (seen.digest != digest) {
          r->result = Status::AlreadyExists("idempotency key '" + key +
                                            "' was already used for a different append (other stream or events); "
                                            "use a new key for a new request");
        } else {
          seen.result.deduplicated = true;
          r->result = seen.result;
        }
        continue;
      }
    }

    std::uint64_t current;
    if (auto it = g.versions.find(stream); it != g.versions.end()) {
      current = it->second;
    } else if (auto c = stream_versions_.find(stream); c != stream_versions_.end()) {
      current = c->second;
    } else {
      auto looked_up = lookup_stream_version(stream);
      if (!looked_up.ok()) {
        r->result = looked_up.status();
        continue;
      }
      current = *looked_up;
    }
    if (!r->expected.is_any() && r->expected.version() != current) {
      r->result = Status::Conflict("stream " + stream + " is at version " + std::to_string(current) +
                                   ", the append expected " + std::to_string(r->expected.version()) +
                                   "; reload the stream and retry")
                      .with_current_version(current);
      continue;
    }

    AppendResult result{g.next_position, 0, current, false};
    for (const EventData& d : r->events) {
      e.position = g.next_position++;
      e.stream = stream;
      e.stream_version = ++current;
      take_event_data(d, &e);
      e.recorded_at = g.recorded_at;
      e.idempotency_key = key;
      e.prev_hash = g.prev_hash;
      e.hash = compute_event_hash(e);
      g.prev_hash = e.hash;
      batch.Put(log_cf_, keys::log_key(e.position), encode_envelope(e));
      if (options_.merkle_tree) {
        tree_.append(merkle::leaf_hash(e.hash), [&](int level, std::uint64_t index, const merkle::Hash& h) {
          add_tree_node(level, index, h, batch);
        });
      }
    }
    result.last_position = g.next_position - 1;
    result.stream_version = current;
    // One index entry for the whole append: its events have consecutive versions and positions.
    batch.Put(streams_cf_, keys::stream_key(stream, current - r->events.size() + 1),
              keys::stream_run_value(result.first_position, static_cast<std::uint32_t>(r->events.size())));
    g.versions[stream] = current;
    if (!key.empty()) {
      IdempotencyRecord rec{result, digest};
      batch.Put(idem_cf_, key, rec.encode());
      g.keys.emplace(key, rec);
    }
    r->result = result;
    written.push_back(r);
  }

  if (written.empty()) return;
  // Not synced here: the syncer's one fsync covers this write and every other written before it began. Until
  // then nothing of it is readable (reads stop at the published head), and only its wait_for_sync = false
  // appends are answered (by the queue, once this returns).
  if (options_.merkle_tree) write_open_tiles(batch);
  rocksdb::WriteOptions w;
  w.sync = false;
  std::unique_lock wal(wal_mu_);
  {
    std::lock_guard lock(failed_mu_);
    if (!failed_.ok()) {
      // The syncer's WAL write failed since this group began: it must not reach the WAL. The stream cache and
      // the tree's edge in memory count it; recover() reads both back as stored.
      for (AppendRequest* r : written) r->result = failed_;
      return;
    }
  }
  rocksdb::Status s = db_->Write(w, &batch);
  if (!s.ok()) {
    // Nothing of this group is in the log (a RocksDB write is all or nothing), but the WAL may now end in a
    // torn record, so no later group may follow it there: fail (before the syncer may touch the WAL again), and
    // let recover() start a new WAL. The stream cache and the tree's edge in memory already count this group;
    // recover() reads both back as stored.
    const Status err = fail(from_rocks(s, "writing " + std::to_string(written.size()) + " appends to the log"));
    wal.unlock();
    for (AppendRequest* r : written) r->result = err;
    return;
  }
  wal.unlock();
  if (stream_versions_.size() + g.versions.size() > kStreamCacheLimit) stream_versions_.clear();
  for (auto& [stream, version] : g.versions) stream_versions_[stream] = version;
  last_recorded_at_ = g.recorded_at;
  std::lock_guard lock(written_mu_);
  written_position_ = g.next_position - 1;
  written_hash_ = g.prev_hash;
}

Status RocksEventStore::fail(const Status& cause) {
  std::lock_guard lock(failed_mu_);
  // The writer and the syncer may both fail on one fault, in either order (RocksDB answers a write after a
  // failed WAL flush with "Writer has previous error"), so every distinct cause is told, up to three.
  if (failed_.ok()) {
    failed_causes_.clear();
    next_recovery_ = std::chrono::steady_clock::now() + options_.recovery_interval;
  }
  if (failed_causes_.size() < 3 &&
      std::find(failed_causes_.begin(), failed_causes_.end(), cause.message()) == failed_causes_.end()) {
    failed_causes_.push_back(cause.message());
  }
  failed_ = Status::Unavailable(failure_message());
  return failed_;
}

std::string RocksEventStore::failure_message() const {
  std::string causes;
  for (const std::string& c : failed_causes_) causes += (causes.empty() ? "" : "; ") + c;
  return "the log's disk failed (" + causes + "); appends not yet acknowledged may or may not be in the log: "
         "retry them with the same idempotency key once the store has recovered. New appends are refused until "
         "then; the store tries to recover on the next append, at most every " +
         std::to_string(options_.recovery_interval.count()) + " ms. Reads go on.";
}

bool RocksEventStore::recover() {
  // This leader appends from inside a scan's callback, holding db_mu_ shared: leave recovery to the next
  // append from another thread (failed_ keeps refusing until one succeeds).
  if (t_in_scan_callback > 0) return false;
  {
    std::lock_guard failed(failed_mu_);
    const auto now = std::chrono::steady_clock::now();
    if (now < next_recovery_) return false;
    next_recovery_ = now + options_.recovery_interval;
  }
  // First a synced 1 MiB probe file: while the disk still fails, RocksDB stays open for reads.
  Status st = probe_disk();
  std::unique_lock<std::shared_timed_mutex> lock(db_mu_, std::defer_lock);
  // A reader that appends from inside a scan's callback would wait for this thread while it waits for the
  // reader: so wait a bounded time, and try again on a later append.
  if (st.ok() && !lock.try_lock_for(std::chrono::milliseconds(200))) {
    st = Status::Unavailable("readers kept the log busy; recovery is tried again on the next append");
  }
  if (st.ok()) {
    close_db();
    stream_versions_.clear();
    st = open_db();
    if (!st.ok()) close_db();
  }
  if (!st.ok()) {
    std::lock_guard failed(failed_mu_);
    failed_ = Status::Unavailable(failure_message() + " The last attempt to recover failed: " + st.message());
    return false;
  }
  recoveries_.fetch_add(1, std::memory_order_acq_rel);  // before appends are taken again
  {
    std::lock_guard failed(failed_mu_);
    failed_ = Status::Ok();
  }
  lock.unlock();
  {
    std::lock_guard signal(signal_->mu);
    ++signal_->generation;
  }
  signal_->cv.notify_all();
  return true;
}

Status RocksEventStore::probe_disk() const {
  rocksdb::FileSystem* fs = options_.file_system ? options_.file_system.get() : rocksdb::FileSystem::Default().get();
  const std::string name = path_ + "/otinish-disk-probe";
  const rocksdb::IOOptions io;
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus s = fs->NewWritableFile(name, rocksdb::FileOptions(), &file, nullptr);
  if (s.ok()) s = file->Append(std::string(1 << 20, '\0'), io, nullptr);
  if (s.ok()) s = file->Sync(io, nullptr);
  if (file) {
    rocksdb::IOStatus c = file->Close(io, nullptr);
    if (s.ok()) s = c;
    fs->DeleteFile(name, io, nullptr).PermitUncheckedError();
  }
  return s.ok() ? Status::Ok() : from_rocks(s, "probing the disk with a synced file");
}

Status RocksEventStore::sync_written() {
  {
    std::lock_guard lock(failed_mu_);
    if (!failed_.ok()) return failed_;
  }
  std::uint64_t position;
  Hash256 hash;
  {
    std::lock_guard lock(written_mu_);
    position = written_position_;
    hash = written_hash_;
  }
  if (position == head_position()) return Status::Ok();  // nothing new was written (e.g. only conflicts)
  {
    std::shared_lock<std::shared_timed_mutex> lock;
    OTINISH_RETURN_IF_ERROR(lock_for_read(lock));
    const std::string what = "writing or syncing the log's WAL after position " + std::to_string(head_position());
    {
      std::lock_guard wal(wal_mu_);
      {
        std::lock_guard failed(failed_mu_);
        if (!failed_.ok()) return failed_;  // the writer's write failed meanwhile: the WAL must not be touched
      }
      if (rocksdb::Status s = db_->FlushWAL(/*sync=*/false); !s.ok()) return fail(from_rocks(s, what));
    }
    rocksdb::Status s = options_.sync_writes ? db_->SyncWAL() : rocksdb::Status::OK();
    if (!s.ok()) {
      // Never retried: after a failed fsync the kernel may have dropped the pages it could not write, and a
      // second fsync would report success for data that is gone. The waiting appends fail; recover() makes
      // what was written durable from memory, into new files.
      return fail(from_rocks(s, what));
    }
  }
  {
    std::lock_guard lock(head_mu_);
    head_hash_ = hash;
    head_position_.store(position, std::memory_order_release);
  }
  {
    std::lock_guard lock(signal_->mu);
    ++signal_->generation;
  }
  signal_->cv.notify_all();
  return Status::Ok();
}

Status RocksEventStore::read_position(std::uint64_t position, RecordedEvent* out) const {
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), log_cf_, keys::log_key(position), &v);
  if (s.IsNotFound()) return Status::Corruption("position " + std::to_string(position) + " is missing from the log");
  if (!s.ok()) return from_rocks(s, "reading position " + std::to_string(position));
  Status d = decode_envelope(v, out);
  if (!d.ok()) return Status::Corruption("position " + std::to_string(position) + ": " + d.message());
  return Status::Ok();
}

Result<std::vector<RecordedEvent>> RocksEventStore::read_stream(std::string_view stream, std::uint64_t from_version,
                                                                Direction direction, std::size_t limit) const {
  std::shared_lock<std::shared_timed_mutex> lock;
  OTINISH_RETURN_IF_ERROR(lock_for_read(lock));
  OTINISH_RETURN_IF_ERROR(validate_stream_name(stream));
  const std::uint64_t head = head_position();
  rocksdb::ReadOptions ro;
  ro.prefix_same_as_start = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, streams_cf_));
  const std::string prefix = keys::stream_key(stream, 0).substr(0, stream.size() + 1);
  const bool forward = direction == Direction::kForward;
  if (forward) from_version = std::max<std::uint64_t>(from_version, 1);
  // The run that holds from_version (or, backwards, the newest one before it); forwards, if the stream has no run
  // that starts at or before it, its first run, which the gap check below then judges.
  it->SeekForPrev(keys::stream_key(stream, from_version));
  if (forward && (!it->Valid() || !it->key().starts_with(prefix))) it->Seek(keys::stream_key(stream, 0));
  std::vector<RecordedEvent> out;
  bool any_version = false;
  // The version the next run must hold next (0: not known yet). The index is not covered by the hash chain, so
  // runs must follow each other without gap or overlap, and each event is checked against the entry that led to
  // it: an altered entry must not show another event.
  std::uint64_t next_version = forward ? from_version : 0;
  bool first_run = true;
  auto gap = [&](std::uint64_t missing, std::uint64_t found) {
    return Status::Corruption("the stream index of " + std::string(stream) + " has no entry for version " +
                              std::to_string(missing) + " (the next entry is version " + std::to_string(found) + ")");
  };
  for (; it->Valid() && out.size() < limit; forward ? it->Next() : it->Prev()) {
    Run run;
    const RunRead read = decode_run(it->key(), it->value(), prefix, &run);
    if (read == RunRead::kOtherStream) break;
    if (read == RunRead::kMalformed) return malformed_run(stream, it->key(), it->value());
    if (forward) {
      if (first_run && run.first_version <= next_version && run.last_version() < next_version) {
        first_run = false;  // the stream's newest run ends before from_version: read on, for a stray entry
        continue;
      }
      if (run.first_version > next_version || (!first_run && run.first_version != next_version)) {
        return gap(next_version, run.first_version);
      }
      first_run = false;
      bool unsynced = false;
      for (std::uint64_t v = next_version; v <= run.last_version() && out.size() < limit; ++v) {
        const std::uint64_t position = run.position_of(v);
        if (position > head) {  // newer events are not synced yet
          unsynced = true;
          break;
        }
        RecordedEvent e;
        OTINISH_RETURN_IF_ERROR(read_position(position, &e));
        if (e.stream != stream || e.stream_version != v) return index_mismatch(stream, v, position, e);
        any_version = true;
        out.push_back(std::move(e));
      }
      if (unsynced) break;
      next_version = run.last_version() + 1;
    } else {
      if (next_version != 0 && run.last_version() != next_version) return gap(next_version, run.last_version());
      for (std::uint64_t v = std::min(from_version, run.last_version()); v >= run.first_version && out.size() < limit;
           --v) {
        const std::uint64_t position = run.position_of(v);
        if (position > head) continue;  // not synced yet
        RecordedEvent e;
        OTINISH_RETURN_IF_ERROR(read_position(position, &e));
        if (e.stream != stream || e.stream_version != v) return index_mismatch(stream, v, position, e);
        any_version = true;
        out.push_back(std::move(e));
      }
      next_version = run.first_version - 1;
      if (next_version == 0) break;
    }
  }
  if (!it->status().ok()) return from_rocks(it->status(), "reading stream " + std::string(stream));
  if (!any_version) {
    OTINISH_ASSIGN_OR_RETURN(std::uint64_t version, stream_version(stream));
    if (version == 0) return Status::NotFound("stream " + std::string(stream) + " has no events");
  }
  return out;
}

Result<std::uint64_t> RocksEventStore::scan(std::uint64_t from_position, std::uint64_t limit,
                                            const std::function<bool(const RecordedEvent&)>& visit) const {
  std::shared_lock<std::shared_timed_mutex> lock;
  OTINISH_RETURN_IF_ERROR(lock_for_read(lock));
  return scan_unlocked(from_position, limit, visit);
}

Result<std::uint64_t> RocksEventStore::scan_unlocked(std::uint64_t from_position, std::uint64_t limit,
                                                     const std::function<bool(const RecordedEvent&)>& visit) const {
  const std::uint64_t head = head_position();
  if (from_position == 0) from_position = 1;
  if (from_position > head || limit == 0) return std::uint64_t{0};
  const std::uint64_t last = std::min(head, from_position + std::min(limit, head) - 1);
  rocksdb::ReadOptions ro;
  ro.readahead_size = 2 << 20;
  ro.adaptive_readahead = true;
  const std::string upper = keys::log_key(last + 1);
  rocksdb::Slice upper_slice(upper);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, log_cf_));
  RecordedEvent e;
  std::uint64_t expected = from_position;
  for (it->Seek(keys::log_key(from_position)); it->Valid(); it->Next(), ++expected) {
    Status d = decode_envelope(std::string_view(it->value().data(), it->value().size()), &e);
    if (!d.ok()) return Status::Corruption("position " + std::to_string(expected) + ": " + d.message());
    if (e.position != expected) {
      return Status::Corruption("position " + std::to_string(expected) + " is missing from the log (next is " +
                                std::to_string(e.position) + ")");
    }
    bool more;
    {
      InScanCallback in_callback;
      more = visit(e);
    }
    if (!more) return expected - from_position + 1;
  }
  if (!it->status().ok()) return from_rocks(it->status(), "scanning the log");
  if (expected != last + 1) {
    return Status::Corruption("position " + std::to_string(expected) + " is missing from the log");
  }
  return expected - from_position;
}

Result<std::vector<RecordedEvent>> RocksEventStore::read_all(std::uint64_t from_position, std::size_t limit) const {
  std::vector<RecordedEvent> out;
  auto n = scan(from_position, limit, [&](const RecordedEvent& e) {
    out.push_back(e);
    return true;
  });
  if (!n.ok()) return n.status();
  return out;
}

Result<std::uint64_t> RocksEventStore::stream_version(std::string_view stream) const {
  std::shared_lock<std::shared_timed_mutex> lock;
  OTINISH_RETURN_IF_ERROR(lock_for_read(lock));
  OTINISH_RETURN_IF_ERROR(validate_stream_name(stream));
  // The newest run may be an append written but not yet synced: walk back to the newest synced version.
  const std::uint64_t head = head_position();
  rocksdb::ReadOptions ro;
  ro.prefix_same_as_start = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, streams_cf_));
  const std::string prefix = keys::stream_key(stream, 0).substr(0, stream.size() + 1);
  for (it->SeekForPrev(keys::stream_key(stream, UINT64_MAX)); it->Valid(); it->Prev()) {
    Run run;
    const RunRead read = decode_run(it->key(), it->value(), prefix, &run);
    if (read == RunRead::kOtherStream) break;
    if (read == RunRead::kMalformed) return malformed_run(stream, it->key(), it->value());
    if (run.first_position > head) continue;
    const std::uint64_t version = run.first_version + std::min(run.events - 1, head - run.first_position);
    // The index is not covered by the hash chain: check the event is what it says.
    const std::uint64_t position = run.position_of(version);
    RecordedEvent e;
    OTINISH_RETURN_IF_ERROR(read_position(position, &e));
    if (e.stream != stream || e.stream_version != version) return index_mismatch(stream, version, position, e);
    return version;
  }
  if (!it->status().ok()) return from_rocks(it->status(), "reading stream " + std::string(stream));
  return std::uint64_t{0};
}

MemoryUsage RocksEventStore::memory_usage() const {
  std::shared_lock<std::shared_timed_mutex> lock;
  if (!lock_for_read(lock).ok()) return {};
  MemoryUsage m;
  // Memtables and table readers summed over the column families; the block cache is one, shared by them all.
  db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &m.memtables);
  db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kEstimateTableReadersMem, &m.table_readers);
  db_->GetIntProperty(default_cf_, rocksdb::DB::Properties::kBlockCacheUsage, &m.block_cache);
  return m;
}

Status RocksEventStore::checkpoint_to(const std::string& dir) {
  if (std::filesystem::exists(dir)) return Status::AlreadyExists(dir + " exists: a copy of the log goes into a new directory");
  std::shared_lock<std::shared_timed_mutex> lock;
  OTINISH_RETURN_IF_ERROR(lock_for_read(lock));
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(db_.get(), &raw);
  if (!s.ok()) return from_rocks(s, "copying the log to " + dir);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // 0: flush the memtables first, always. Every acknowledged append is in a memtable (and synced in the WAL),
  // so the copy's table files hold all of them, and each write batch (an append, with its index and tree
  // entries) is in it whole or not at all.
  s = checkpoint->CreateCheckpoint(dir, 0);
  return s.ok() ? Status::Ok() : from_rocks(s, "copying the log to " + dir);
}

// Two sequential walks over one snapshot, without a point lookup per event: the log (remembering each
// stream's positions), then `streams` against what the log walk saw. Memory: 8 bytes per event and one entry
// per stream. Entries of appends written but not yet synced when the check began (positions past the
// head) are not judged.
Result<VerifyReport> RocksEventStore::verify_indexes(const std::function<void(std::uint64_t)>& progress) const {
  std::shared_lock<std::shared_timed_mutex> lock;
  OTINISH_RETURN_IF_ERROR(lock_for_read(lock));
  const std::uint64_t head = head_position();  // read before the snapshot, so the snapshot holds all of it
  struct SnapshotGuard {
    rocksdb::DB* db;
    const rocksdb::Snapshot* snapshot;
    ~SnapshotGuard() { db->ReleaseSnapshot(snapshot); }
  } snap{db_.get(), db_->GetSnapshot()};
  rocksdb::ReadOptions ro;
  ro.snapshot = snap.snapshot;

  VerifyReport report;
  auto fail = [&](std::uint64_t position, std::string problem) {
    report.ok = false;
    report.bad_position = position;
    report.problem = std::move(problem);
    return report;
  };
  auto what = [](std::string_view stream, std::uint64_t version) {
    return std::string(stream) + " version " + std::to_string(version);
  };
  // What the event at `position` is, for a message.
  auto held_at = [&](std::uint64_t position) -> std::string {
    std::string v;
    RecordedEvent e;
    if (position == 0 || position > head) return "no event up to the head";
    if (!db_->Get(ro, log_cf_, keys::log_key(position), &v).ok() || !decode_envelope(v, &e).ok()) {
      return "no readable event";
    }
    return what(e.stream, e.stream_version);
  };
  struct Seen {
    std::vector<std::uint64_t> positions;  // positions[v - 1]: where the log holds the stream's version v
    bool indexed = false;                  // the stream index holds a run of it
  };
  std::unordered_map<std::string, Seen> streams;

  // 1. The log, in order: each stream's versions are 1, 2, 3, ...
  {
    rocksdb::ReadOptions lro = ro;
    lro.readahead_size = 2 << 20;
    lro.adaptive_readahead = true;
    const std::string upper = keys::log_key(head + 1);
    rocksdb::Slice upper_slice(upper);
    lro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(lro, log_cf_));
    RecordedEvent e;
    std::uint64_t expected = 1;
    for (it->Seek(keys::log_key(1)); it->Valid(); it->Next(), ++expected) {
      Status d = decode_envelope(std::string_view(it->value().data(), it->value().size()), &e);
      if (!d.ok()) return fail(expected, d.message());
      if (e.position != expected) return fail(expected, "the log holds position " + std::to_string(e.position));
      std::vector<std::uint64_t>& positions = streams[e.stream].positions;
      if (e.stream_version != positions.size() + 1) {
        return fail(e.position, "the event is " + what(e.stream, e.stream_version) + ", but the stream's previous "
                                "event in the log is version " + std::to_string(positions.size()));
      }
      positions.push_back(e.position);
      if (progress && (expected & 0xFFFF) == 0) progress(expected);
    }
    if (!it->status().ok()) return from_rocks(it->status(), "reading the log");
    if (expected != head + 1) return fail(expected, "position " + std::to_string(expected) + " is missing from the log");
  }

  // 2. `streams`, in key order (one stream after another, each in version order): each stream's runs cover
  // versions 1, 2, 3, ... without gap or overlap and point where the log walk saw each version; a run past the
  // stream's last synced version belongs to an append in flight (positions past the head). Then every stream of
  // the log must have had its runs.
  {
    rocksdb::ReadOptions sro = ro;
    sro.total_order_seek = true;  // across streams: the stream prefix's bloom filters must not cut the walk short
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(sro, streams_cf_));
    std::string current;         // the stream of the previous run
    Seen* seen = nullptr;        // and what the log walk saw of it (nullptr: nothing)
    std::uint64_t next = 1;      // the version the stream's next run must start at
    // At the end of a stream's runs: every version the log holds must have been covered.
    auto uncovered = [&]() -> std::optional<VerifyReport> {
      if (seen == nullptr || next > seen->positions.size()) return std::nullopt;
      return fail(seen->positions[next - 1], "the stream index has no entry for " + what(current, next) +
                                                 ", the event at this position");
    };
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const rocksdb::Slice k = it->key();
      const char* nul = static_cast<const char*>(std::memchr(k.data(), 0, k.size()));
      const std::string_view stream(k.data(), nul == nullptr ? k.size() : static_cast<std::size_t>(nul - k.data()));
      if (current.empty() || stream != current) {
        if (auto r = uncovered()) return *r;
        current = stream;
        auto found = streams.find(current);
        seen = found == streams.end() ? nullptr : &found->second;
        if (seen != nullptr) seen->indexed = true;
        next = 1;
      }
      Run run;
      if (decode_run(k, it->value(), std::string_view(k.data(), stream.size() + 1), &run) != RunRead::kRun) {
        return fail(0, "the stream index holds a malformed entry of " + std::string(stream) + " (key of " +
                           std::to_string(k.size()) + " bytes, value of " + std::to_string(it->value().size()) +
                           " bytes; a run of no events or from version or position 0)");
      }
      const std::uint64_t known = seen == nullptr ? 0 : seen->positions.size();
      if (run.first_position > head && run.first_version > known) {
        // An append in flight (written, not yet synced when the check began): it must still follow on from the
        // stream's runs, so that a stray entry past the head is not waved through.
        if (run.first_version != next) {
          return fail(0, "the stream index entry for " + what(stream, run.first_version) + " points past the head (" +
                             "position " + std::to_string(run.first_position) + ") and does not follow on from the " +
                             "stream's runs, which end at version " + std::to_string(next - 1));
        }
        next = run.last_version() + 1;
        continue;
      }
      if (run.first_version > next && next <= known) {
        return fail(seen->positions[next - 1], "the stream index has no entry for " + what(current, next) +
                                                   ", the event at this position");
      }
      if (run.first_version < next) {
        return fail(run.first_position, "the stream index entry for " + what(stream, run.first_version) +
                                            " overlaps the run before it, which ends at version " +
                                            std::to_string(next - 1));
      }
      for (std::uint64_t v = run.first_version; v <= run.last_version(); ++v) {
        const std::uint64_t position = run.position_of(v);
        if (v <= known) {
          const std::uint64_t real = seen->positions[v - 1];
          if (position == real) continue;
          return fail(real, "the stream index entry for " + what(stream, v) + " points at position " +
                                std::to_string(position) + ", which holds " + held_at(position) +
                                ", not at this position, which holds that event");
        }
        return fail(position, "the stream index entry for " + what(stream, v) + " points at position " +
                                  std::to_string(position) + ", which holds " + held_at(position) + " (" +
                                  (seen == nullptr ? "the log holds no event of " + std::string(stream)
                                                   : "the stream's last version is " + std::to_string(known)) +
                                  ")");
      }
      next = run.last_version() + 1;
    }
    if (!it->status().ok()) return from_rocks(it->status(), "reading the stream index");
    if (auto r = uncovered()) return *r;
    // A stream of the log with no run at all: name its first event.
    std::uint64_t first = 0;
    std::string missing;
    for (const auto& [stream, s] : streams) {
      if (!s.indexed && (first == 0 || s.positions.front() < first)) {
        first = s.positions.front();
        missing = stream;
      }
    }
    if (first != 0) {
      return fail(first, "the stream index has no entry for " + what(missing, 1) + ", the event at this position");
    }
  }

  // 4. The Merkle tree, level by level.
  if (options_.merkle_tree) {
    OTINISH_ASSIGN_OR_RETURN(VerifyReport tree, verify_tree(ro, head, progress));
    if (!tree.ok) return fail(tree.bad_position, tree.problem);
  }

  report.events = head;
  report.streams = streams.size();
  report.indexes_checked = true;
  return report;
}

// Every stored node of the tree up to `head`: the leaves against the log's event hashes, then each level
// against the one below it, in index order (each tile is read a few times, not once per node). Nodes past the
// head (an append in flight) are not judged.
Result<VerifyReport> RocksEventStore::verify_tree(const rocksdb::ReadOptions& ro, std::uint64_t head,
                                                  const std::function<void(std::uint64_t)>& progress) const {
  VerifyReport report;
  auto fail = [&](int level, std::uint64_t index, std::string problem) {
    report.ok = false;
    report.bad_position = (index << level) + 1;
    report.problem = "the Merkle tree's node at level " + std::to_string(level) + ", index " + std::to_string(index) +
                     " (leaves from position " + std::to_string(report.bad_position) + ") " + problem;
    return report;
  };
  // The newest tile of each row, read through the snapshot.
  std::array<std::pair<std::uint64_t, tiles::Tile>, 64> current;
  std::array<bool, 64> loaded{};
  auto node = [&](int level, std::uint64_t index, merkle::Hash* out) -> Result<bool> {
    const tiles::Place p = tiles::place_of(level, index);
    if (!loaded[p.row] || current[p.row].first != p.tile) {
      OTINISH_ASSIGN_OR_RETURN(current[p.row].second, read_tile(ro, p.row, p.tile));
      current[p.row].first = p.tile;
      loaded[p.row] = true;
    }
    if (!current[p.row].second.has(p.level, p.index)) return false;
    *out = current[p.row].second.get(p.level, p.index);
    return true;
  };
  {
    std::unique_ptr<rocksdb::Iterator> log(db_->NewIterator(ro, log_cf_));
    RecordedEvent e;
    std::uint64_t i = 0;
    for (log->Seek(keys::log_key(1)); log->Valid() && i < head; log->Next(), ++i) {
      OTINISH_RETURN_IF_ERROR(decode_envelope(std::string_view(log->value().data(), log->value().size()), &e));
      merkle::Hash stored;
      OTINISH_ASSIGN_OR_RETURN(bool present, node(0, i, &stored));
      if (!present) return fail(0, i, "is missing");
      if (stored != merkle::leaf_hash(e.hash)) {
        return fail(0, i, "is " + merkle::to_hex(stored) + ", but the event's hash gives " +
                              merkle::to_hex(merkle::leaf_hash(e.hash)));
      }
      if (progress && ((i + 1) & 0xFFFF) == 0) progress(i + 1);
    }
    if (!log->status().ok()) return from_rocks(log->status(), "reading the log");
  }
  for (int level = 1; level < 64 && (head >> level) > 0; ++level) {
    for (std::uint64_t i = 0; i < (head >> level); ++i) {
      merkle::Hash left, right, stored;
      OTINISH_ASSIGN_OR_RETURN(bool has_left, node(level - 1, 2 * i, &left));
      OTINISH_ASSIGN_OR_RETURN(bool has_right, node(level - 1, 2 * i + 1, &right));
      OTINISH_ASSIGN_OR_RETURN(bool present, node(level, i, &stored));
      if (!has_left) return fail(level - 1, 2 * i, "is missing");
      if (!has_right) return fail(level - 1, 2 * i + 1, "is missing");
      if (!present) return fail(level, i, "is missing");
      if (stored != merkle::node_hash(left, right)) {
        return fail(level, i, "is " + merkle::to_hex(stored) + ", but its two children give " +
                                  merkle::to_hex(merkle::node_hash(left, right)));
      }
    }
  }
  return report;
}

std::unique_ptr<Subscription> RocksEventStore::subscribe(std::uint64_t after_position, EventHandler handler) {
  return std::make_unique<RocksSubscription>(this, signal_, after_position, std::move(handler));
}

RocksSubscription::RocksSubscription(const RocksEventStore* store, std::shared_ptr<HeadSignal> signal,
                                     std::uint64_t after, EventHandler handler)
    : store_(store), signal_(std::move(signal)), handler_(std::move(handler)), position_(after),
      thread_([this] { run(); }) {
  signal_->live_subscriptions.fetch_add(1);
}

void RocksSubscription::stop() {
  stopping_.store(true, std::memory_order_release);
  {
    std::lock_guard lock(signal_->mu);
    ++signal_->generation;
  }
  signal_->cv.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RocksSubscription::end_with(Status s) {
  {
    std::lock_guard lock(mu_);
    status_ = std::move(s);
    ended_ = true;
  }
  progress_cv_.notify_all();
}

void RocksSubscription::run() {
  name_this_thread("otinish-follow");
  constexpr std::uint64_t kBatch = 4096;
  for (;;) {
    std::uint64_t seen_generation;
    {
      std::lock_guard lock(signal_->mu);
      if (signal_->closed) return end_with(Status::Unavailable("the event store was closed"));
      seen_generation = signal_->generation;
    }
    if (stopping_.load(std::memory_order_acquire)) return end_with(Status::Ok());
    const std::uint64_t from = position_.load(std::memory_order_relaxed) + 1;
    if (from <= store_->head_position()) {
      Status handler_status;
      auto n = store_->scan(from, kBatch, [&](const RecordedEvent& e) {
        if (stopping_.load(std::memory_order_acquire)) return false;
        handler_status = handler_(e);
        if (!handler_status.ok()) return false;
        {
          std::lock_guard lock(mu_);
          position_.store(e.position, std::memory_order_release);
        }
        progress_cv_.notify_all();
        return true;
      });
      if (!n.ok()) return end_with(n.status());
      if (!handler_status.ok()) return end_with(handler_status);
      continue;
    }
    std::unique_lock lock(signal_->mu);
    signal_->cv.wait(lock, [&] { return signal_->generation != seen_generation; });
  }
}

}  // namespace

Result<std::unique_ptr<EventStore>> open_rocks_store(const std::string& path, const StoreOptions& options,
                                                     const Clock& clock) {
  auto store = std::make_unique<RocksEventStore>(options, clock);
  OTINISH_RETURN_IF_ERROR(store->open(path));
  return std::unique_ptr<EventStore>(std::move(store));
}

}  // namespace otinish::store
