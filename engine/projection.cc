#include "engine/projection.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <thread>

#include <boost/unordered/unordered_flat_map.hpp>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/options_util.h>
#include <rocksdb/write_batch.h>

#include "store/disk_space.h"
#include "store/info_log.h"
#include "store/table_options.h"

namespace otinish::engine {
namespace {

// In every projection column family: the last applied log position, written with the rows it covers.
// "\0" sorts before every row key, so prefix scans never meet it.
const std::string kCheckpointKey("\0checkpoint", 11);
constexpr std::string_view kActivePrefix = "active/";  // default CF: "active/<name>" -> generation

Status io(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  return Status::IOError("views: " + std::string(what) + ": " + s.ToString());
}

std::string cf_name(std::string_view projection, std::uint64_t generation) {
  return std::string(projection) + "@" + std::to_string(generation);
}

// A column family that readers may still hold; dropped when the last holder lets go, if marked.
struct Generation {
  rocksdb::DB* db;
  rocksdb::ColumnFamilyHandle* cf;
  std::uint64_t number;
  std::atomic<bool> drop_when_released{false};
  ~Generation() {
    if (drop_when_released) db->DropColumnFamily(cf).PermitUncheckedError();
    db->DestroyColumnFamilyHandle(cf).PermitUncheckedError();
  }
};

// One row as a transaction holds it.
struct Row {
  std::optional<std::string> bytes;        // the value when `object` is null; nullopt: absent
  std::unique_ptr<ViewTx::Object> object;  // the value, decoded, when set
  bool dirty = false;                      // changed since the last write
};

// Rows by key: an open-addressing index over nodes that never move (the index's keys are views of the nodes'
// own keys, and a transaction keeps pointers to changed nodes).
class RowMap {
 public:
  struct Node {
    std::string first;  // the key
    Row second;
  };
  Node* find(std::string_view key) {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : it->second;
  }
  Node* insert(std::string_view key, Row row) {  // REQUIRES: !find(key)
    Node& n = nodes_.emplace_back(Node{std::string(key), std::move(row)});
    index_.emplace(n.first, &n);
    return &n;
  }
  std::size_t size() const { return nodes_.size(); }
  void clear() {
    decltype(index_)().swap(index_);
    std::deque<Node>().swap(nodes_);
  }

 private:
  boost::unordered_flat_map<std::string_view, Node*, std::hash<std::string_view>> index_;
  std::deque<Node> nodes_;
};

// Rows to write as they are: appended rows, derived rows, and at a bulk write all of a batch. The bytes live
// in blocks that never move, so that a large bulk batch is not copied as it grows.
class RowBuffer final : public ViewTx::RowSink {
 public:
  struct Entry {
    // The key's first 48 bytes as big-endian words, zero-padded: sorting compares these and rarely the key.
    // (Rows of one family share long prefixes, such as "i/t/<topic>\x1f", so a short head would tie.)
    std::array<std::uint64_t, 6> head;
    const char* data;  // key, then value
    std::uint32_t key_size, value_size;
    bool del;
  };
  void put(std::string_view key, std::string_view value) override { add(key, value, false); }
  void del(std::string_view key) override { add(key, {}, true); }

  static std::string_view key(const Entry& e) { return std::string_view(e.data, e.key_size); }
  static std::string_view value(const Entry& e) { return std::string_view(e.data + e.key_size, e.value_size); }
  const std::vector<Entry>& entries() const { return entries_; }
  // Sorts the entries by key (bytewise, as RocksDB's default comparator).
  void sort() {
    std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
      for (std::size_t i = 0; i < a.head.size(); ++i) {
        if (a.head[i] != b.head[i]) return a.head[i] < b.head[i];
      }
      return key(a) < key(b);
    });
  }
  void clear() {
    if (blocks_.size() > 1) blocks_.resize(1);  // a bulk write's blocks are not kept for live batches
    if (!blocks_.empty()) blocks_.front().clear();
    if (entries_.capacity() > (kBlockBytes / sizeof(Entry))) std::vector<Entry>().swap(entries_);
    entries_.clear();
  }

 private:
  static constexpr std::size_t kBlockBytes = std::size_t{1} << 20;

  void add(std::string_view key, std::string_view value, bool del) {
    const std::size_t size = key.size() + value.size();
    if (blocks_.empty() || blocks_.back().capacity() - blocks_.back().size() < size) {
      blocks_.emplace_back().reserve(std::max(kBlockBytes, size));
    }
    std::string& block = blocks_.back();
    const char* data = block.data() + block.size();  // reserved: appending never reallocates
    block.append(key);
    block.append(value);
    Entry e{{}, data, static_cast<std::uint32_t>(key.size()), static_cast<std::uint32_t>(value.size()), del};
    const std::size_t n = std::min<std::size_t>(key.size(), 8 * e.head.size());
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, key.data() + i, 8);
      e.head[i / 8] = std::endian::native == std::endian::little ? __builtin_bswap64(w) : w;
    }
    for (; i < n; ++i) e.head[i / 8] |= std::uint64_t{static_cast<unsigned char>(key[i])} << (8 * (7 - i % 8));
    entries_.push_back(e);
  }

  std::vector<std::string> blocks_;
  std::vector<Entry> entries_;
};

// Derived rows of a live write go straight into its WriteBatch.
class BatchSink final : public ViewTx::RowSink {
 public:
  BatchSink(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* cf) : batch_(batch), cf_(cf) {}
  void put(std::string_view key, std::string_view value) override {
    batch_.Put(cf_, rocksdb::Slice(key.data(), key.size()), rocksdb::Slice(value.data(), value.size()))
        .PermitUncheckedError();
  }
  void del(std::string_view key) override {
    batch_.Delete(cf_, rocksdb::Slice(key.data(), key.size())).PermitUncheckedError();
  }

 private:
  rocksdb::WriteBatch& batch_;
  rocksdb::ColumnFamilyHandle* const cf_;
};

// The rows of one projection generation that changed since the last write, and a read cache that survives
// writes. A write is either a WriteBatch (live) or a sorted table file that RocksDB ingests (bulk).
class MemViewTx final : public ViewTx {
 public:
  // `persisted`: the generation may already hold rows. False only for a generation never written to: its
  // misses need no database read and its deletes no tombstone.
  MemViewTx(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, bool persisted)
      : db_(db), cf_(cf), persisted_(persisted) {}

  std::optional<std::string> get(std::string_view key) override {
    if (auto* n = rows_.find(key)) {
      const Row& r = n->second;
      if (!r.object) return r.bytes;
      std::string out;
      r.object->encode(out);
      return out;
    }
    if (!persisted_) return std::nullopt;
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), cf_, rocksdb::Slice(key.data(), key.size()), &value);
    std::optional<std::string> out;
    if (s.ok()) out = std::move(value);
    else if (!s.IsNotFound()) return error_ = io(s, "read"), std::nullopt;
    rows_.insert(key, Row{out, nullptr, false});
    return out;
  }
  void put(std::string_view key, std::string_view value) override {
    Row& r = touch(key);
    r.bytes.emplace(value);
    r.object.reset();
  }
  void del(std::string_view key) override {
    if (persisted_) {
      Row& r = touch(key);
      r.bytes.reset();
      r.object.reset();
    } else if (auto* n = rows_.find(key)) {
      // Never written, so nothing to delete: it stays as a known absence.
      n->second.bytes.reset();
      n->second.object.reset();
    }
  }
  void append(std::string_view key, std::string_view value) override {
    appended_.put(key, value);
  }
  Object* object(std::string_view key) override {
    auto* n = rows_.find(key);
    if (!n || !n->second.object) return nullptr;
    mark_dirty(*n);
    return n->second.object.get();
  }
  Object* put_object(std::string_view key, std::unique_ptr<Object> object) override {
    Row& r = touch(key);
    r.bytes.reset();
    r.object = std::move(object);
    return r.object.get();
  }

  // Live write: the changed rows into `batch`, in key order. RocksDB's memtable starts each insert from where
  // the previous one landed, so a sorted run of keys is inserted several times faster than the same keys in
  // hash-map order (the live views' writes were the largest single cost of the HTTP server).
  // Like ingest(), the changed rows join the appended ones in one buffer, which is then sorted.
  void write_into(rocksdb::WriteBatch& batch) {
    RowBuffer& rows = appended_;
    emit_dirty(rows);
    rows.sort();  // stable: of two writes of one key, the later still lands last
    BatchSink sink(batch, cf_);
    for (const auto& e : rows.entries()) {
      if (e.del) {
        sink.del(rows.key(e));
      } else {
        sink.put(rows.key(e), rows.value(e));
      }
    }
  }

  // Every changed row into `sink`: objects encoded (with their derived rows), raw bytes, or deletions.
  void emit_dirty(ViewTx::RowSink& sink) {
    std::string scratch;
    for (auto* kv : dirty_) {
      const Row& r = kv->second;
      if (!r.dirty) continue;
      if (r.object) {
        scratch.clear();
        r.object->encode(scratch);
        sink.put(kv->first, scratch);
        r.object->write_derived(sink);
      } else if (r.bytes) {
        sink.put(kv->first, *r.bytes);
      } else if (persisted_) {
        sink.del(kv->first);
      }
    }
  }

  // Bulk write: the changed rows and `checkpoint` into a new table file at `path`, which RocksDB then ingests
  // (and moves into the database): all of it becomes visible at once, or none of it.
  Status ingest(const rocksdb::Options& options, const std::string& path, std::uint64_t checkpoint) {
    RowBuffer& rows = appended_;
    emit_dirty(rows);
    rows.put(kCheckpointKey, std::to_string(checkpoint));
    rows.sort();
    // Keeps the file in the page cache (no fadvise as it grows): it is read right after it is ingested.
    rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), options, cf_, /*invalidate_page_cache=*/false);
    OTINISH_RETURN_IF_ERROR(io(writer.Open(path), "create " + path));
    std::string_view previous;
    for (const auto& e : rows.entries()) {
      const std::string_view key = rows.key(e);
      if (&e != &rows.entries().front() && key == previous) {
        return Status::Internal("views: one batch writes key '" + std::string(key) +
                                "' twice (appended or derived rows must have keys of their own)");
      }
      previous = key;
      const rocksdb::Slice k(key.data(), key.size());
      const std::string_view v = rows.value(e);
      OTINISH_RETURN_IF_ERROR(
          io(e.del ? writer.Delete(k) : writer.Put(k, rocksdb::Slice(v.data(), v.size())), "write " + path));
    }
    OTINISH_RETURN_IF_ERROR(io(writer.Finish(), "finish " + path));
    rocksdb::IngestExternalFileOptions ingest;
    ingest.move_files = true;
    return io(db_->IngestExternalFile(cf_, {path}, ingest), "ingest " + path);
  }

  // After a write: nothing is dirty; the cache is dropped when it holds more than `cache_rows` rows.
  void committed(std::size_t cache_rows) {
    for (auto* kv : dirty_) kv->second.dirty = false;
    dirty_.clear();
    appended_.clear();
    persisted_ = true;
    if (rows_.size() > cache_rows) rows_.clear();
  }
  Status take_error() { return error_.ok() ? Status::Ok() : std::exchange(error_, Status::Ok()); }

 private:
  void mark_dirty(RowMap::Node& kv) {
    if (kv.second.dirty) return;
    kv.second.dirty = true;
    dirty_.push_back(&kv);  // nodes never move; rows_ only shrinks in committed()
  }
  Row& touch(std::string_view key) {
    auto* n = rows_.find(key);
    if (!n) n = rows_.insert(key, Row{});
    mark_dirty(*n);
    return n->second;
  }

  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const cf_;
  bool persisted_;
  RowMap rows_;
  std::vector<RowMap::Node*> dirty_;  // rows changed since the last write, each once
  RowBuffer appended_;                // appended rows since the last write
  Status error_;
};

class RocksViewReader final : public ViewReader {
 public:
  RocksViewReader(rocksdb::DB* db, std::shared_ptr<Generation> gen)
      : db_(db), gen_(std::move(gen)), snapshot_(db_->GetSnapshot()) {
    options_.snapshot = snapshot_;
  }
  ~RocksViewReader() override { db_->ReleaseSnapshot(snapshot_); }

  std::optional<std::string> get(std::string_view key) const override {
    std::string value;
    if (db_->Get(options_, gen_->cf, rocksdb::Slice(key.data(), key.size()), &value).ok()) return value;
    return std::nullopt;
  }
  Status scan(std::string_view prefix, std::string_view after,
              const std::function<bool(std::string_view, std::string_view)>& visit) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options_, gen_->cf));
    std::string start = after.empty() ? std::string(prefix) : std::string(after);
    for (it->Seek(start); it->Valid(); it->Next()) {
      auto k = it->key();
      std::string_view key(k.data(), k.size());
      if (!key.starts_with(prefix)) break;
      if (!after.empty() && key == after) continue;
      auto v = it->value();
      if (!visit(key, std::string_view(v.data(), v.size()))) break;
    }
    return io(it->status(), "scan");
  }
  std::uint64_t checkpoint() const override {
    auto v = get(kCheckpointKey);
    return v ? std::stoull(*v) : 0;
  }

 private:
  rocksdb::DB* const db_;
  const std::shared_ptr<Generation> gen_;
  const rocksdb::Snapshot* const snapshot_;
  rocksdb::ReadOptions options_;
};

// One projection and where it writes now.
struct Slot {
  const Projection* projection = nullptr;   // owned by Runner::projections_
  std::shared_ptr<Generation> generation;  // GUARDED_BY(Runner::gen_mu_) for swaps; read under apply_mu_
  std::unique_ptr<MemViewTx> tx;           // GUARDED_BY(Runner::apply_mu_); a bulk build under that lock
                                           // hands each slot to one of its threads at a time
  std::uint64_t applied = 0;               // GUARDED_BY(Runner::apply_mu_): last position put into tx
  std::uint64_t written = 0;               // GUARDED_BY(Runner::apply_mu_): last position committed
  std::atomic<std::uint64_t> committed{0}; // mirror of `written` for wait_for()/checkpoint()
};

class Runner final : public ProjectionRunner {
 public:
  Runner(store::EventStore& store, const RunnerOptions& options) : store_(store), options_(options) {}
  ~Runner() override {
    stop();
    slots_.clear();  // generations release their column family handles before the DB closes
    if (db_ && default_cf_) db_->DestroyColumnFamilyHandle(default_cf_).PermitUncheckedError();
    db_.reset();
  }

  Status open(const std::string& dir, std::vector<std::unique_ptr<Projection>> projections) {
    std::set<std::string, std::less<>> names;
    for (auto& p : projections) {
      if (!names.insert(std::string(p->name())).second) {
        return Status::InvalidArgument("views: two projections are named '" + std::string(p->name()) + "'");
      }
    }
    rocksdb::Options options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    options.info_log = store::open_info_log(dir);
    options.db_write_buffer_size = options_.memtable_mb << 20;
    space_ = std::make_unique<store::DiskSpaceGuard>(dir, "the views", options_.min_free_disk_mb << 20);
    // Most rebuild reads are of absent rows: a Bloom filter. Indexes and filters stay within the block cache.
    rocksdb::BlockBasedTableOptions table =
        store::bounded_table_options(store::new_block_cache(options_.block_cache_mb), /*bloom=*/true);
    options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    cf_options_ = rocksdb::ColumnFamilyOptions(options);
    table_file_options_ = options;
    bulk_dir_ = dir + "/bulk";  // table files of bulk writes before RocksDB ingests them

    std::vector<std::string> existing;
    if (!rocksdb::DB::ListColumnFamilies(options, dir, &existing).ok()) existing = {rocksdb::kDefaultColumnFamilyName};
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& n : existing) descriptors.emplace_back(n, cf_options_);
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    OTINISH_RETURN_IF_ERROR(io(rocksdb::DB::Open(options, dir, descriptors, &handles, &raw), "open " + dir));
    db_.reset(raw);
    // Under RocksDB's lock now: files left in bulk_dir_ are from a build that crashed before ingesting them.
    std::error_code ec;
    std::filesystem::remove_all(bulk_dir_, ec);
    if (!std::filesystem::create_directories(bulk_dir_, ec) && ec) {
      return Status::IOError("views: cannot create " + bulk_dir_ + ": " + ec.message());
    }
    std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name;
    for (auto* h : handles) {
      if (h->GetName() == rocksdb::kDefaultColumnFamilyName) default_cf_ = h;
      else by_name[h->GetName()] = h;
    }
    for (auto& p : projections) {
      auto slot = std::make_unique<Slot>();
      const std::string name(p->name());
      std::string active;
      std::uint64_t gen = 1;
      if (db_->Get(rocksdb::ReadOptions(), default_cf_, std::string(kActivePrefix) + name, &active).ok()) {
        gen = std::stoull(active);
      }
      rocksdb::ColumnFamilyHandle* cf = nullptr;
      if (auto it = by_name.find(cf_name(name, gen)); it != by_name.end()) {
        cf = it->second;
        by_name.erase(it);
      } else {
        OTINISH_RETURN_IF_ERROR(io(db_->CreateColumnFamily(cf_options_, cf_name(name, gen), &cf), "create " + name));
        OTINISH_RETURN_IF_ERROR(io(db_->Put(rocksdb::WriteOptions(), default_cf_,
                                            std::string(kActivePrefix) + name, std::to_string(gen)),
                                   "record generation"));
      }
      slot->generation = std::shared_ptr<Generation>(new Generation{db_.get(), cf, gen});
      std::string cp;
      if (db_->Get(rocksdb::ReadOptions(), cf, kCheckpointKey, &cp).ok()) slot->written = std::stoull(cp);
      slot->tx = std::make_unique<MemViewTx>(db_.get(), cf, /*persisted=*/slot->written > 0);
      slot->applied = slot->written;
      slot->committed = slot->written;
      slot->projection = p.get();
      projections_.push_back(std::move(p));
      max_generation_[name] = gen;
      slots_.push_back(std::move(slot));
    }
    // Anything left is an abandoned rebuild or a projection no longer configured: drop it.
    for (auto& [n, h] : by_name) {
      auto at = n.rfind('@');
      if (at != std::string::npos && names.count(std::string_view(n).substr(0, at))) {
        db_->DropColumnFamily(h).PermitUncheckedError();
      }
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    return Status::Ok();
  }

  Status start() override {
    std::lock_guard lock(life_mu_);
    if (subscription_) return Status::Ok();
    std::uint64_t from;
    {
      std::lock_guard apply(apply_mu_);
      from = min_applied();
    }
    subscription_ = store_.subscribe(from, [this](const store::RecordedEvent& e) { return on_live_event(e); });
    return Status::Ok();
  }

  void stop() override {
    std::lock_guard lock(life_mu_);
    if (!subscription_) return;
    subscription_->stop();
    subscription_.reset();
    std::lock_guard apply(apply_mu_);
    std::vector<Slot*> all = all_slots();
    set_error(commit(all, options_.sync));
  }

  Status status() const override {
    std::lock_guard lock(error_mu_);
    return error_;
  }

  bool wait_for(std::uint64_t position, std::chrono::milliseconds timeout) const override {
    std::unique_lock lock(error_mu_);
    return committed_cv_.wait_for(lock, timeout, [&] { return !error_.ok() || checkpoint() >= position; }) &&
           error_.ok();
  }

  Status catch_up(Timestamp as_of) override {
    std::lock_guard apply(apply_mu_);
    std::vector<Slot*> all = all_slots();
    const std::uint64_t from = min_applied() + 1;
    if (store_.head_position() >= from + options_.bulk_min_events) {
      OTINISH_RETURN_IF_ERROR(bulk_build(all, from, as_of));
    }
    OTINISH_RETURN_IF_ERROR(scan_into(all, min_applied() + 1, as_of));
    return commit(all, options_.sync);
  }

  using ProjectionRunner::rebuild;
  Result<RebuildReport> rebuild(std::string_view name, const RebuildProgress& progress) override {
    Slot* slot = find(name);
    if (!slot) return Status::NotFound("views: no projection named '" + std::string(name) + "'");
    std::lock_guard one_rebuild(rebuild_mu_);
    const auto started = std::chrono::steady_clock::now();
    const std::uint64_t gen = ++max_generation_[std::string(name)];
    rocksdb::ColumnFamilyHandle* cf = nullptr;
    OTINISH_RETURN_IF_ERROR(io(db_->CreateColumnFamily(cf_options_, cf_name(name, gen), &cf), "create generation"));
    auto generation = std::shared_ptr<Generation>(new Generation{db_.get(), cf, gen});
    generation->drop_when_released = true;  // until it is swapped in

    Slot fresh;
    fresh.projection = slot->projection;
    fresh.generation = generation;
    fresh.tx = std::make_unique<MemViewTx>(db_.get(), cf, /*persisted=*/false);
    std::vector<Slot*> just_fresh{&fresh};

    // Phase 1: the bulk, without the apply lock (the live generation keeps serving and updating), written as
    // ingested table files (durable once ingested).
    std::uint64_t reported = ~std::uint64_t{0};  // the bulk's calls, then the last one here, never repeat a `done`
    const RebuildProgress bulk_progress = [&](std::uint64_t done, std::uint64_t total) {
      reported = done;
      progress(done, total);
    };
    OTINISH_RETURN_IF_ERROR(bulk_build(just_fresh, 1, Timestamp::max(), progress ? &bulk_progress : nullptr));
    // Phase 2: under the apply lock, the tail that arrived meanwhile (a logged write); then swap.
    std::lock_guard apply(apply_mu_);
    OTINISH_RETURN_IF_ERROR(scan_into(just_fresh, fresh.applied + 1, Timestamp::max()));
    OTINISH_RETURN_IF_ERROR(commit(just_fresh, false));
    rocksdb::WriteOptions sync;
    sync.sync = true;
    OTINISH_RETURN_IF_ERROR(io(db_->Put(sync, default_cf_, std::string(kActivePrefix) + std::string(name),
                                        std::to_string(gen)),
                               "swap generations"));
    generation->drop_when_released = false;
    {
      std::lock_guard swap(gen_mu_);
      slot->generation->drop_when_released = true;  // dropped when its last reader goes
      slot->generation = generation;
    }
    slot->tx = std::move(fresh.tx);
    slot->applied = slot->written = fresh.applied;
    slot->committed = fresh.applied;
    RebuildReport report;
    report.events = fresh.applied;  // positions are dense from 1
    report.generation = gen;
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (progress && report.events != reported) progress(report.events, report.events);
    return report;
  }

  Result<std::unique_ptr<ViewReader>> reader(std::string_view name) const override {
    for (const auto& s : slots_) {
      if (s->projection->name() == name) {
        std::lock_guard lock(gen_mu_);
        return std::unique_ptr<ViewReader>(new RocksViewReader(db_.get(), s->generation));
      }
    }
    return Status::NotFound("views: no projection named '" + std::string(name) + "'");
  }

  std::uint64_t checkpoint() const override {
    std::uint64_t m = ~std::uint64_t{0};
    for (const auto& s : slots_) m = std::min<std::uint64_t>(m, s->committed.load());
    return slots_.empty() ? 0 : m;
  }

 private:
  std::vector<Slot*> all_slots() {
    std::vector<Slot*> v;
    for (auto& s : slots_) v.push_back(s.get());
    return v;
  }
  Slot* find(std::string_view name) {
    for (auto& s : slots_) {
      if (s->projection->name() == name) return s.get();
    }
    return nullptr;
  }
  // REQUIRES: apply_mu_ held.
  std::uint64_t min_applied() const {
    std::uint64_t m = ~std::uint64_t{0};
    for (const auto& s : slots_) m = std::min(m, s->applied);
    return slots_.empty() ? 0 : m;
  }

  // The appeal event in `e`, decoded; nullopt for other streams' events and types this build does not know.
  static Status decode(const store::RecordedEvent& e, std::optional<AppealEvent>& out) {
    out.reset();
    if (!std::string_view(e.stream).starts_with(kAppealStreamPrefix)) return Status::Ok();
    auto d = decode_event(e.type, e.schema_version, e.payload);
    if (d.ok()) {
      out.emplace(std::move(*d));
      return Status::Ok();
    }
    if (d.status().code() == StatusCode::kNotFound) return Status::Ok();
    return Status(d.status().code(),
                  "views: position " + std::to_string(e.position) + " (" + e.stream + "): " + d.status().message());
  }

  // Hands the event to every slot that has not applied it yet.
  static Status apply_decoded(const store::RecordedEvent& e, const AppealEvent* decoded,
                              std::span<Slot* const> slots) {
    for (Slot* s : slots) {
      if (e.position <= s->applied) continue;
      auto st = s->projection->apply(e, decoded, *s->tx);
      if (st.ok()) st = s->tx->take_error();
      if (!st.ok()) {
        return Status(st.code(), "views: projection " + std::string(s->projection->name()) + " at position " +
                                     std::to_string(e.position) + ": " + st.message());
      }
      s->applied = e.position;
    }
    return Status::Ok();
  }

  // Decodes once and hands the event to every slot that has not applied it yet.
  Status apply(const store::RecordedEvent& e, const std::vector<Slot*>& slots) {
    std::optional<AppealEvent> decoded;
    OTINISH_RETURN_IF_ERROR(decode(e, decoded));
    return apply_decoded(e, decoded ? &*decoded : nullptr, slots);
  }

  // Live write: the slots' changes and checkpoints in one WriteBatch.
  Status commit(const std::vector<Slot*>& slots, bool sync) {
    rocksdb::WriteBatch batch;
    bool any = false;
    for (Slot* s : slots) {
      if (s->applied == s->written) continue;
      s->tx->write_into(batch);
      batch.Put(s->generation->cf, kCheckpointKey, std::to_string(s->applied)).PermitUncheckedError();
      any = true;
    }
    if (!any) return Status::Ok();
    if (space_) OTINISH_RETURN_IF_ERROR(space_->check());
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    OTINISH_RETURN_IF_ERROR(io(db_->Write(wo, &batch), "write"));
    for (Slot* s : slots) {
      s->tx->committed(options_.cache_rows);
      mark_committed(*s);
    }
    return Status::Ok();
  }

  // Bulk write of one slot: its changes and checkpoint as one ingested table file.
  Status ingest(Slot& s) {
    if (s.applied == s.written) return Status::Ok();
    const std::string path = bulk_dir_ + "/" + cf_name(s.projection->name(), s.generation->number) + "-" +
                             std::to_string(++bulk_files_) + ".sst";
    OTINISH_RETURN_IF_ERROR(s.tx->ingest(table_file_options_, path, s.applied));
    // The rows stay as a read cache for the next batch, up to as many rows as a batch has events.
    s.tx->committed(options_.rebuild_batch_events);
    mark_committed(s);
    return Status::Ok();
  }

  void mark_committed(Slot& s) {
    s.written = s.applied;
    s.committed = s.applied;
    std::lock_guard lock(error_mu_);
    committed_cv_.notify_all();
  }

  // Applies the log from `from` to its head (or the first event after `as_of`) to `slots`, in bulk writes of
  // rebuild_batch_events events, on bulk_threads threads (this one and helpers): see BulkBuild. Reports the
  // events all slots have applied to `progress`, if set, after each batch.
  Status bulk_build(const std::vector<Slot*>& slots, std::uint64_t from, Timestamp as_of,
                    const RebuildProgress* progress = nullptr) {
    const std::uint64_t head = store_.head_position();
    BulkBuild build(*this, slots, from, as_of, progress, head >= from ? head - from + 1 : 0);
    std::vector<std::thread> helpers;
    for (std::size_t i = 1; i < options_.bulk_threads; ++i) helpers.emplace_back([&] { build.work(); });
    build.work();
    for (auto& t : helpers) t.join();
    return build.status();
  }

  // A bulk build shared by threads without fixed roles. The log is read (and each event decoded, once) in
  // batches of consecutive positions into a ring; each task is either "read and decode a batch" (batches are
  // read concurrently, published in order), "apply the oldest batch a projection has not applied yet to it"
  // (one thread per projection at a time, so each projection sees the log in order), or "write a projection's
  // last bulk file". Whoever is free takes the next task, so reading, decoding, applying and writing balance
  // over the threads by themselves.
  class BulkBuild {
   public:
    BulkBuild(Runner& runner, const std::vector<Slot*>& slots, std::uint64_t from, Timestamp as_of,
              const RebuildProgress* report, std::uint64_t total)
        : runner_(runner), slots_(slots), from_(from), as_of_(as_of), report_(report), total_(total),
          progress_(slots.size()) {
      for (auto& b : ring_) {
        b.events.resize(kBatchEvents);
        b.decoded.resize(kBatchEvents);
      }
    }

    void work() {
      std::unique_lock lock(mu_);
      while (error_.ok()) {
        if (!read_all_ && claimed_ - oldest_unapplied() < ring_.size()) {
          const std::uint64_t n = claimed_++;
          Batch& b = ring_[n % ring_.size()];  // only this thread touches it until it is read
          lock.unlock();
          Status s = read(b, from_ + n * kBatchEvents);
          lock.lock();
          if (!s.ok()) error_ = s;
          b.ready = true;
          publish();
          cv_.notify_all();
          continue;
        }
        std::size_t task = pick();
        if (task == kNone) {
          if (all_written()) break;
          cv_.wait(lock);
          continue;
        }
        Progress& p = progress_[task];
        p.busy = true;
        const std::uint64_t batch = p.next;
        const bool final_write = batch == published_;
        lock.unlock();
        Status s = final_write ? finish(*slots_[task]) : apply(*slots_[task], p, ring_[batch % ring_.size()]);
        lock.lock();
        p.busy = false;
        if (!s.ok()) {
          error_ = s;
        } else if (final_write) {
          p.written = true;
        } else {
          p.applied += ring_[batch % ring_.size()].count;
          ++p.next;
          report_progress();
        }
        cv_.notify_all();
      }
      cv_.notify_all();
    }

    Status status() {
      std::lock_guard lock(mu_);
      return error_;
    }

   private:
    // Events per batch. Each batch is one store scan with an iterator of its own, which reads the log ahead in
    // chunks of up to 2 MB: larger batches waste less of what it read (1,024 events are a few hundred KB).
    static constexpr std::size_t kBatchEvents = 8192;
    static constexpr std::size_t kNone = ~std::size_t{0};
    struct Batch {
      std::vector<store::RecordedEvent> events;  // the first `count` are this batch's
      std::vector<std::optional<AppealEvent>> decoded;
      std::size_t count = 0;
      bool last = false;   // the log (or `as_of`) ends in this batch
      bool ready = false;  // GUARDED_BY(mu_): read, not yet published
    };
    struct Progress {
      std::uint64_t next = 0;     // the next batch to apply
      std::uint64_t applied = 0;  // events applied
      std::size_t pending = 0;    // events applied since the last bulk write
      bool busy = false;          // a thread works on this slot
      bool written = false;       // the last bulk file is ingested
    };

    // Publishes the read batches that follow the published ones; none after the last. REQUIRES: mu_ held.
    void publish() {
      while (!read_all_ && published_ < claimed_) {
        Batch& b = ring_[published_ % ring_.size()];
        if (!b.ready) return;
        b.ready = false;
        ++published_;
        read_all_ = b.last;
      }
    }
    // Tells `report_` how many events every slot has applied, if more than last time. REQUIRES: mu_ held.
    void report_progress() {
      if (!report_ || !*report_) return;
      std::uint64_t done = ~std::uint64_t{0};
      for (const auto& p : progress_) done = std::min(done, p.applied);
      if (done <= reported_) return;
      reported_ = done;
      (*report_)(done, std::max(total_, done));
    }
    // REQUIRES: mu_ held.
    std::uint64_t oldest_unapplied() const {
      std::uint64_t m = published_;
      for (const auto& p : progress_) m = std::min(m, p.next);
      return m;
    }
    bool all_written() const {
      return std::all_of(progress_.begin(), progress_.end(), [](const Progress& p) { return p.written; });
    }
    // A slot with work to do: the one furthest behind, so that the ring frees up. REQUIRES: mu_ held.
    std::size_t pick() const {
      std::size_t best = kNone;
      for (std::size_t i = 0; i < progress_.size(); ++i) {
        const Progress& p = progress_[i];
        const bool can_apply = p.next < published_;
        const bool can_finish = p.next == published_ && read_all_ && !p.written;
        if (p.busy || !(can_apply || can_finish)) continue;
        if (best == kNone || p.next < progress_[best].next) best = i;
      }
      return best;
    }

    // Reads the batch that starts at `position` (positions are dense) and decodes its events.
    Status read(Batch& b, std::uint64_t position) {
      b.count = 0;
      bool past_as_of = false;
      auto visited = runner_.store_.scan(position, kBatchEvents, [&](const store::RecordedEvent& e) {
        if (e.recorded_at > as_of_) {
          past_as_of = true;
          return false;
        }
        b.events[b.count++] = e;  // assignment keeps the strings' capacity
        return true;
      });
      OTINISH_RETURN_IF_ERROR(visited.status());
      if (b.count > 0 && b.events[0].position != position) {
        return Status::Internal("views: the log read from position " + std::to_string(position) +
                                " starts at " + std::to_string(b.events[0].position));
      }
      for (std::size_t i = 0; i < b.count; ++i) OTINISH_RETURN_IF_ERROR(decode(b.events[i], b.decoded[i]));
      b.last = past_as_of || b.count < kBatchEvents;
      return Status::Ok();
    }

    Status apply(Slot& slot, Progress& p, const Batch& b) {
      Slot* one[] = {&slot};
      for (std::size_t i = 0; i < b.count; ++i) {
        OTINISH_RETURN_IF_ERROR(apply_decoded(b.events[i], b.decoded[i] ? &*b.decoded[i] : nullptr, one));
        if (++p.pending >= runner_.options_.rebuild_batch_events) {
          p.pending = 0;
          OTINISH_RETURN_IF_ERROR(runner_.ingest(slot));
        }
      }
      return Status::Ok();
    }

    Status finish(Slot& slot) {
      OTINISH_RETURN_IF_ERROR(runner_.ingest(slot));
      slot.tx->committed(runner_.options_.cache_rows);  // trims the cache to its live size
      return Status::Ok();
    }

    Runner& runner_;
    const std::vector<Slot*>& slots_;
    const std::uint64_t from_;    // the position of batch 0's first event
    const Timestamp as_of_;
    const RebuildProgress* const report_;  // may be null
    const std::uint64_t total_;            // events from `from_` to the head when the build started
    std::array<Batch, 4> ring_;  // batch n is ring_[n % 4]

    std::mutex mu_;
    std::condition_variable cv_;
    std::uint64_t claimed_ = 0;       // GUARDED_BY(mu_): batches being read or read
    std::uint64_t published_ = 0;     // GUARDED_BY(mu_): batches read, in order, up to the last
    bool read_all_ = false;           // GUARDED_BY(mu_): the last batch is published
    std::vector<Progress> progress_;  // GUARDED_BY(mu_), one per slot; `pending` only by the slot's thread
    std::uint64_t reported_ = 0;      // GUARDED_BY(mu_): the last `done` given to report_
    Status error_;                    // GUARDED_BY(mu_)
  };

  // Applies the log from `from` to its head (or the first event after `as_of`), committing in batches.
  Status scan_into(const std::vector<Slot*>& slots, std::uint64_t from, Timestamp as_of) {
    Status failed;
    std::size_t pending = 0;
    const std::size_t batch = options_.live_batch_events * 16;
    auto visited = store_.scan(from, ~std::uint64_t{0}, [&](const store::RecordedEvent& e) {
      if (e.recorded_at > as_of) return false;
      failed = apply(e, slots);
      if (!failed.ok()) return false;
      if (++pending >= batch) {
        pending = 0;
        failed = commit(slots, false);
        if (!failed.ok()) return false;
      }
      return true;
    });
    OTINISH_RETURN_IF_ERROR(failed);
    OTINISH_RETURN_IF_ERROR(visited.status());
    return commit(slots, false);
  }

  Status on_live_event(const store::RecordedEvent& e) {
    std::lock_guard apply_lock(apply_mu_);
    std::vector<Slot*> all = all_slots();
    Status s = apply(e, all);
    if (s.ok() && (++live_pending_ >= options_.live_batch_events || e.position >= store_.head_position() ||
                   uncommitted_since_failure_ > 0)) {
      if (uncommitted_since_failure_ > 0) db_->Resume().PermitUncheckedError();  // a no-op unless RocksDB stopped
      s = commit(all, options_.sync);
      const bool disk = s.code() == StatusCode::kIOError || s.code() == StatusCode::kUnavailable;
      if (disk && ++uncommitted_since_failure_ <= kMaxUncommittedOnFailure) {
        // The views' disk failed or is full. The changes stay in memory and are written with a later event
        // (the log itself refuses appends while its disk is full, so few come); reads answer from what was
        // committed. Past the bound the views stop, as on any other error, until the server restarts.
        return Status::Ok();
      }
      if (s.ok()) {
        uncommitted_since_failure_ = 0;
        live_pending_ = 0;
      }
    }
    set_error(s);
    return s;
  }

  void set_error(const Status& s) {
    if (s.ok()) return;
    std::lock_guard lock(error_mu_);
    if (error_.ok()) error_ = s;
    committed_cv_.notify_all();
  }

  store::EventStore& store_;
  const RunnerOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* default_cf_ = nullptr;
  rocksdb::ColumnFamilyOptions cf_options_;
  rocksdb::Options table_file_options_;  // for bulk table files: the views' options
  std::string bulk_dir_;
  std::vector<std::unique_ptr<Projection>> projections_;  // fixed after open()
  std::vector<std::unique_ptr<Slot>> slots_;              // fixed after open()

  std::mutex life_mu_;  // start/stop
  std::unique_ptr<store::Subscription> subscription_;  // GUARDED_BY(life_mu_)
  std::mutex apply_mu_;  // one applier at a time: the live subscription, catch_up, a rebuild's final phase
  std::size_t live_pending_ = 0;  // GUARDED_BY(apply_mu_)
  std::mutex rebuild_mu_;  // one rebuild at a time
  std::map<std::string, std::uint64_t> max_generation_;  // GUARDED_BY(rebuild_mu_) after open()
  std::atomic<std::uint64_t> bulk_files_{0};             // names of bulk table files
  mutable std::mutex gen_mu_;  // swaps of Slot::generation against reader()
  std::unique_ptr<store::DiskSpaceGuard> space_;  // set in open()
  // Live events applied since a commit failed with an I/O error or for want of space (0: the last succeeded).
  std::uint64_t uncommitted_since_failure_ = 0;  // GUARDED_BY(apply_mu_)
  static constexpr std::uint64_t kMaxUncommittedOnFailure = 100'000;
  mutable std::mutex error_mu_;
  mutable std::condition_variable committed_cv_;
  Status error_;  // GUARDED_BY(error_mu_)
};

}  // namespace

Result<std::unique_ptr<ProjectionRunner>> ProjectionRunner::open(store::EventStore& store, const std::string& views_dir,
                                                                 std::vector<std::unique_ptr<Projection>> projections,
                                                                 const RunnerOptions& options) {
  auto runner = std::make_unique<Runner>(store, options);
  OTINISH_RETURN_IF_ERROR(runner->open(views_dir, std::move(projections)));
  return std::unique_ptr<ProjectionRunner>(std::move(runner));
}

}  // namespace otinish::engine
