#include "engine/projection.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/options_util.h>
#include <rocksdb/write_batch.h>

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

// Buffered writes of one projection generation, with a read cache that survives commits.
class RocksViewTx final : public ViewTx {
 public:
  RocksViewTx(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::size_t cache_rows)
      : db_(db), cf_(cf), cache_rows_(cache_rows) {}

  std::optional<std::string> get(std::string_view key) override {
    key_.assign(key);
    if (auto it = dirty_.find(key_); it != dirty_.end()) return it->second;
    if (auto it = clean_.find(key_); it != clean_.end()) return it->second;
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), cf_, rocksdb::Slice(key.data(), key.size()), &value);
    std::optional<std::string> out;
    if (s.ok()) out = std::move(value);
    else if (!s.IsNotFound()) error_ = io(s, "read");
    if (cache_rows_ > 0) clean_.emplace(key_, out);
    return out;
  }
  void put(std::string_view key, std::string_view value) override {
    dirty_[std::string(key)] = std::string(value);
  }
  void del(std::string_view key) override { dirty_[std::string(key)] = std::nullopt; }

  void write_into(rocksdb::WriteBatch& batch) const {
    for (const auto& [k, v] : dirty_) {
      if (v) batch.Put(cf_, k, *v).PermitUncheckedError();
      else batch.Delete(cf_, k).PermitUncheckedError();
    }
  }
  void committed() {
    if (cache_rows_ == 0) {
      dirty_.clear();
      return;
    }
    if (clean_.size() + dirty_.size() > cache_rows_) clean_.clear();
    for (auto& [k, v] : dirty_) clean_[k] = std::move(v);
    dirty_.clear();
  }
  Status take_error() { return std::exchange(error_, Status::Ok()); }

 private:
  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const cf_;
  const std::size_t cache_rows_;
  std::string key_;
  std::unordered_map<std::string, std::optional<std::string>> dirty_;
  std::unordered_map<std::string, std::optional<std::string>> clean_;
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
  std::unique_ptr<RocksViewTx> tx;         // GUARDED_BY(Runner::apply_mu_)
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
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = rocksdb::NewLRUCache(options_.block_cache_mb << 20);
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));  // most rebuild reads are of absent rows
    options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    cf_options_ = rocksdb::ColumnFamilyOptions(options);

    std::vector<std::string> existing;
    if (!rocksdb::DB::ListColumnFamilies(options, dir, &existing).ok()) existing = {rocksdb::kDefaultColumnFamilyName};
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& n : existing) descriptors.emplace_back(n, cf_options_);
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    OTINISH_RETURN_IF_ERROR(io(rocksdb::DB::Open(options, dir, descriptors, &handles, &raw), "open " + dir));
    db_.reset(raw);
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
      slot->tx = std::make_unique<RocksViewTx>(db_.get(), cf, options_.cache_rows);
      std::string cp;
      if (db_->Get(rocksdb::ReadOptions(), cf, kCheckpointKey, &cp).ok()) slot->written = std::stoull(cp);
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
    set_error(commit(all, options_.sync, false));
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
    OTINISH_RETURN_IF_ERROR(scan_into(all, min_applied() + 1, as_of, false));
    return commit(all, options_.sync, false);
  }

  Result<RebuildReport> rebuild(std::string_view name) override {
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
    fresh.tx = std::make_unique<RocksViewTx>(db_.get(), cf, options_.cache_rows);
    std::vector<Slot*> just_fresh{&fresh};

    // Phase 1: the bulk, without the apply lock (the live generation keeps serving and updating).
    OTINISH_RETURN_IF_ERROR(scan_into(just_fresh, 1, Timestamp::max(), true));
    OTINISH_RETURN_IF_ERROR(commit(just_fresh, false, true));
    // Phase 2: under the apply lock, the tail that arrived meanwhile; then make it durable and swap.
    std::lock_guard apply(apply_mu_);
    OTINISH_RETURN_IF_ERROR(scan_into(just_fresh, fresh.applied + 1, Timestamp::max(), true));
    OTINISH_RETURN_IF_ERROR(commit(just_fresh, false, true));
    OTINISH_RETURN_IF_ERROR(io(db_->Flush(rocksdb::FlushOptions(), cf), "flush the rebuilt generation"));
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
    report.events = rebuild_events_;
    report.generation = gen;
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
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

  // Decodes once and hands the event to every slot that has not applied it yet.
  Status apply(const store::RecordedEvent& e, const std::vector<Slot*>& slots) {
    std::optional<AppealEvent> decoded;
    if (std::string_view(e.stream).starts_with(kAppealStreamPrefix)) {
      auto d = decode_event(e.type, e.schema_version, e.payload);
      if (d.ok()) decoded = std::move(d).value();
      else if (d.status().code() != StatusCode::kNotFound) {
        return Status(d.status().code(), "views: position " + std::to_string(e.position) + " (" + e.stream + "): " +
                                             d.status().message());
      }
    }
    for (Slot* s : slots) {
      if (e.position <= s->applied) continue;
      auto st = s->projection->apply(e, decoded ? &*decoded : nullptr, *s->tx);
      if (st.ok()) st = s->tx->take_error();
      if (!st.ok()) {
        return Status(st.code(), "views: projection " + std::string(s->projection->name()) + " at position " +
                                     std::to_string(e.position) + ": " + st.message());
      }
      s->applied = e.position;
    }
    return Status::Ok();
  }

  Status commit(const std::vector<Slot*>& slots, bool sync, bool bulk) {
    rocksdb::WriteBatch batch;
    bool any = false;
    for (Slot* s : slots) {
      if (s->applied == s->written) continue;
      s->tx->write_into(batch);
      batch.Put(s->generation->cf, kCheckpointKey, std::to_string(s->applied)).PermitUncheckedError();
      any = true;
    }
    if (!any) return Status::Ok();
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    wo.disableWAL = bulk;  // a rebuilt generation is flushed before it is swapped in
    OTINISH_RETURN_IF_ERROR(io(db_->Write(wo, &batch), "write"));
    for (Slot* s : slots) {
      s->tx->committed();
      s->written = s->applied;
      s->committed = s->applied;
    }
    std::lock_guard lock(error_mu_);
    committed_cv_.notify_all();
    return Status::Ok();
  }

  // Applies the log from `from` to its head (or the first event after `as_of`), committing in batches.
  Status scan_into(const std::vector<Slot*>& slots, std::uint64_t from, Timestamp as_of, bool bulk) {
    Status failed;
    std::size_t pending = 0;
    const std::size_t batch = bulk ? options_.rebuild_batch_events : options_.live_batch_events * 16;
    if (bulk && from == 1) rebuild_events_ = 0;
    auto visited = store_.scan(from, ~std::uint64_t{0}, [&](const store::RecordedEvent& e) {
      if (e.recorded_at > as_of) return false;
      failed = apply(e, slots);
      if (!failed.ok()) return false;
      if (bulk) ++rebuild_events_;
      if (++pending >= batch) {
        pending = 0;
        failed = commit(slots, false, bulk);
        if (!failed.ok()) return false;
      }
      return true;
    });
    OTINISH_RETURN_IF_ERROR(failed);
    OTINISH_RETURN_IF_ERROR(visited.status());
    return commit(slots, false, bulk);
  }

  Status on_live_event(const store::RecordedEvent& e) {
    std::lock_guard apply_lock(apply_mu_);
    std::vector<Slot*> all = all_slots();
    Status s = apply(e, all);
    if (s.ok() && (++live_pending_ >= options_.live_batch_events || e.position >= store_.head_position())) {
      live_pending_ = 0;
      s = commit(all, options_.sync, false);
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
  std::vector<std::unique_ptr<Projection>> projections_;  // fixed after open()
  std::vector<std::unique_ptr<Slot>> slots_;              // fixed after open()

  std::mutex life_mu_;  // start/stop
  std::unique_ptr<store::Subscription> subscription_;  // GUARDED_BY(life_mu_)
  std::mutex apply_mu_;  // one applier at a time: the live subscription, catch_up, a rebuild's final phase
  std::size_t live_pending_ = 0;  // GUARDED_BY(apply_mu_)
  std::mutex rebuild_mu_;  // one rebuild at a time
  std::map<std::string, std::uint64_t> max_generation_;  // GUARDED_BY(rebuild_mu_) after open()
  std::uint64_t rebuild_events_ = 0;                     // GUARDED_BY(rebuild_mu_)
  mutable std::mutex gen_mu_;  // swaps of Slot::generation against reader()
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
