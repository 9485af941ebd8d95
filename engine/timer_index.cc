#include "engine/timer_index.h"

#include <rocksdb/db.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "store/info_log.h"
#include "store/table_options.h"

namespace otinish::engine {

namespace {

constexpr char kOpen = 'a';
constexpr char kQueue = 'd';
constexpr char kCheckpoint[] = "c";
constexpr char kCounts[] = "n";

void put_be64(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint64_t get_be64(std::string_view s) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}
// Due instants are after 1970 in practice; negative ones are clamped so that the order stays right.
std::uint64_t due_key_part(Timestamp t) {
  const std::int64_t us = micros_since_epoch(t);
  return us < 0 ? 0 : static_cast<std::uint64_t>(us);
}

std::string open_key(std::string_view appeal) { return std::string(1, kOpen) + std::string(appeal); }
std::string queue_key(Timestamp due, std::string_view appeal) {
  std::string k(1, kQueue);
  put_be64(k, due_key_part(due));
  k += appeal;
  return k;
}

Status io(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  return Status::IOError("SLA timer index: " + std::string(what) + ": " + s.ToString());
}

}  // namespace

Result<std::unique_ptr<TimerIndex>> TimerIndex::open(const std::string& path, const TimerIndexOptions& options) {
  rocksdb::Options o;
  o.create_if_missing = options.create_if_missing;
  o.info_log = store::open_info_log(path);
  // Every decision first looks up its appeal's entry, and a new appeal's is in no file: bloom filters (in the
  // table files and over the memtable's whole keys) answer those misses without a search.
  rocksdb::BlockBasedTableOptions table =
      store::bounded_table_options(store::new_block_cache(options.block_cache_mb), /*bloom=*/true);
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  store::filter_memtable_misses(o);
  o.write_buffer_size = 16 << 20;
  o.max_write_buffer_number = 2;  // at most 32 MiB of memtables
  rocksdb::DB* raw = nullptr;
  OTINISH_RETURN_IF_ERROR(io(rocksdb::DB::Open(o, path, &raw), "open " + path));
  std::unique_ptr<TimerIndex> index(new TimerIndex(std::unique_ptr<rocksdb::DB>(raw), path, options));
  std::string cp;
  rocksdb::Status s = index->db_->Get({}, kCheckpoint, &cp);
  if (s.ok() && cp.size() == 8) index->checkpoint_ = get_be64(cp);
  else if (!s.IsNotFound()) OTINISH_RETURN_IF_ERROR(io(s, "read checkpoint"));
  // The counts are written with every batch, so start-up reads one key instead of the open set.
  std::string counts;
  s = index->db_->Get({}, kCounts, &counts);
  if (s.ok() && counts.size() == 16) {
    index->open_count_ = get_be64(counts);
    index->timer_count_ = get_be64(std::string_view(counts).substr(8));
  } else if (!s.IsNotFound()) {
    OTINISH_RETURN_IF_ERROR(io(s, "read counts"));
  }
  return index;
}

TimerIndex::TimerIndex(std::unique_ptr<rocksdb::DB> db, const std::string& path, const TimerIndexOptions& options)
    : options_(options),
      db_(std::move(db)),
      space_(std::make_unique<store::DiskSpaceGuard>(path, "the SLA timer index", options.min_free_disk_mb << 20)) {}

TimerIndex::~TimerIndex() {
  // A clean close flushes, so the next open need not replay the WAL (start-up time with millions of timers).
  db_->Flush(rocksdb::FlushOptions()).PermitUncheckedError();
}

std::uint64_t TimerIndex::checkpoint() const {
  std::lock_guard lock(mu_);
  return checkpoint_;
}

Status TimerIndex::apply(std::span<const Change> changes, std::optional<std::uint64_t> checkpoint) {
  std::lock_guard lock(mu_);
  rocksdb::WriteBatch batch;
  std::int64_t open_delta = 0, timer_delta = 0;
  for (const Change& c : changes) {
    const std::string ok = open_key(c.appeal_id);
    std::string old;
    rocksdb::Status s = db_->Get({}, ok, &old);
    if (!s.ok() && !s.IsNotFound()) return io(s, "read " + c.appeal_id);
    const bool was_open = s.ok();
    const bool had_timer = was_open && old.size() == 8;
    if (had_timer) {
      batch.Delete(queue_key(timestamp_from_micros(static_cast<std::int64_t>(get_be64(old))), c.appeal_id));
    }
    const bool has_timer = c.open && c.due.has_value();
    if (c.open) {
      std::string v;
      if (has_timer) {
        put_be64(v, due_key_part(*c.due));
        batch.Put(queue_key(*c.due, c.appeal_id), "");
        scan_from_ = std::min(scan_from_, due_key_part(*c.due));
      }
      batch.Put(ok, v);
    } else if (was_open) {
      batch.Delete(ok);
    }
    open_delta += (c.open ? 1 : 0) - (was_open ? 1 : 0);
    timer_delta += (has_timer ? 1 : 0) - (had_timer ? 1 : 0);
  }
  // Never backwards: the SLA service's workers write checkpoints computed at different moments, in any order.
  if (checkpoint && *checkpoint <= checkpoint_) checkpoint.reset();
  if (checkpoint) {
    std::string v;
    put_be64(v, *checkpoint);
    batch.Put(kCheckpoint, v);
  }
  const std::uint64_t open_after = static_cast<std::uint64_t>(static_cast<std::int64_t>(open_count_) + open_delta);
  const std::uint64_t timers_after = static_cast<std::uint64_t>(static_cast<std::int64_t>(timer_count_) + timer_delta);
  if (!changes.empty()) {
    std::string v;
    put_be64(v, open_after);
    put_be64(v, timers_after);
    batch.Put(kCounts, v);
  }
  OTINISH_RETURN_IF_ERROR(space_->check());
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  OTINISH_RETURN_IF_ERROR(io(db_->Write(wo, &batch), "write"));
  if (checkpoint) checkpoint_ = *checkpoint;
  open_count_ = open_after;
  timer_count_ = timers_after;
  return Status::Ok();
}

Result<std::vector<std::pair<Timestamp, std::string>>> TimerIndex::due_until(Timestamp t, std::size_t limit) const {
  std::vector<std::pair<Timestamp, std::string>> out;
  const std::uint64_t bound = due_key_part(t);
  std::lock_guard lock(mu_);  // apply() lowers scan_from_ under the same lock
  if (bound < scan_from_) return out;
  std::string start(1, kQueue), upper(1, kQueue);
  put_be64(start, scan_from_);
  put_be64(upper, bound + 1);
  rocksdb::ReadOptions ro;
  const rocksdb::Slice upper_slice(upper);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek(start); it->Valid() && out.size() < limit; it->Next()) {
    const rocksdb::Slice k = it->key();
    if (k.size() < 9 || k[0] != kQueue) break;
    const std::uint64_t due = get_be64(std::string_view(k.data() + 1, 8));
    out.emplace_back(timestamp_from_micros(static_cast<std::int64_t>(due)), std::string(k.data() + 9, k.size() - 9));
  }
  OTINISH_RETURN_IF_ERROR(io(it->status(), "scan timers"));
  // Everything before the first live entry (or, if none is due, up to the bound) is tombstones.
  scan_from_ = out.empty() ? bound + 1 : due_key_part(out.front().first);
  return out;
}

std::optional<Timestamp> TimerIndex::next_due() const {
  std::lock_guard lock(mu_);
  std::string start(1, kQueue);
  put_be64(start, scan_from_);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}));
  it->Seek(start);
  if (!it->Valid() || it->key().size() < 9 || it->key()[0] != kQueue) return std::nullopt;
  return timestamp_from_micros(static_cast<std::int64_t>(get_be64(std::string_view(it->key().data() + 1, 8))));
}

std::optional<std::optional<Timestamp>> TimerIndex::find(const std::string& appeal_id) const {
  std::string v;
  if (!db_->Get({}, open_key(appeal_id), &v).ok()) return std::nullopt;
  if (v.size() != 8) return std::optional<Timestamp>();
  return std::optional<Timestamp>(timestamp_from_micros(static_cast<std::int64_t>(get_be64(v))));
}

Status TimerIndex::for_each_open(
    const std::function<bool(const std::string&, std::optional<Timestamp>)>& visit) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}));
  for (it->Seek(std::string(1, kOpen)); it->Valid() && it->key()[0] == kOpen; it->Next()) {
    std::optional<Timestamp> due;
    if (it->value().size() == 8) {
      due = timestamp_from_micros(static_cast<std::int64_t>(get_be64(it->value().ToStringView())));
    }
    if (!visit(std::string(it->key().data() + 1, it->key().size() - 1), due)) break;
  }
  return io(it->status(), "scan open appeals");
}

std::uint64_t TimerIndex::open_count() const {
  std::lock_guard lock(mu_);
  return open_count_;
}
std::uint64_t TimerIndex::timer_count() const {
  std::lock_guard lock(mu_);
  return timer_count_;
}

}  // namespace otinish::engine
