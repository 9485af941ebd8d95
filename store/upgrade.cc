// Upgrading a log to this build's format: store/upgrade.h.
#include "store/upgrade.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <unordered_map>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "store/coding.h"
#include "store/envelope_codec.h"
#include "store/event_store.h"
#include "store/key_layout.h"
#include "store/rocks_store.h"

namespace otinish::store {

namespace fs = std::filesystem;

namespace {

// The lock RocksDB takes on a database (its LOCK file), held while the old log is read and renamed: an older
// otinish still serving it would otherwise go on writing events the copy never sees, and the read-only open
// that reads the old log takes no lock of its own.
class DatabaseLock {
 public:
  static Result<std::unique_ptr<DatabaseLock>> take(const fs::path& dir) {
    auto lock = std::unique_ptr<DatabaseLock>(new DatabaseLock);
    rocksdb::Status s = lock->env_->LockFile((dir / "LOCK").string(), &lock->lock_);
    if (!s.ok()) {
      return Status::FailedPrecondition("the log at " + dir.string() + " is in use (" + s.ToString() +
                                        "); is an `otinish serve` running on it? Stop it first");
    }
    return lock;
  }
  ~DatabaseLock() {
    if (lock_ != nullptr) env_->UnlockFile(lock_).PermitUncheckedError();
  }
  DatabaseLock(const DatabaseLock&) = delete;
  DatabaseLock& operator=(const DatabaseLock&) = delete;

 private:
  DatabaseLock() = default;
  rocksdb::Env* const env_ = rocksdb::Env::Default();
  rocksdb::FileLock* lock_ = nullptr;
};

Status rocks_error(const rocksdb::Status& s, const std::string& what) {
  if (s.IsCorruption()) return Status::Corruption(what + ": " + s.ToString());
  return Status::IOError(what + ": " + s.ToString());
}

// A RocksDB database opened with all of its column families, by name.
struct RawDb {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  std::vector<std::string> names;
  rocksdb::ColumnFamilyHandle* cf(const std::string& name) const {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i] == name) return handles[i];
    }
    return nullptr;
  }
  ~RawDb() {
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    if (db) db->Close().PermitUncheckedError();
  }
};

Result<std::unique_ptr<RawDb>> open_raw(const std::string& path, bool read_only) {
  auto raw = std::make_unique<RawDb>();
  rocksdb::DBOptions options;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(options, path, &raw->names);
  if (!s.ok()) return Status::NotFound("no otinish log at " + path + " (" + s.ToString() + ")");
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& n : raw->names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  rocksdb::DB* db = nullptr;
  s = read_only ? rocksdb::DB::OpenForReadOnly(options, path, cfs, &raw->handles, &db)
                : rocksdb::DB::Open(options, path, cfs, &raw->handles, &db);
  if (!s.ok()) return rocks_error(s, "opening " + path);
  raw->db.reset(db);
  return raw;
}

Result<int> format_of(const RawDb& raw, const std::string& path) {
  std::string marker;
  const rocksdb::Status s = raw.db->Get(rocksdb::ReadOptions(), raw.db->DefaultColumnFamily(), keys::kFormatKey, &marker);
  if (s.IsNotFound()) return Status::InvalidArgument(path + " is a RocksDB database but not an otinish log (no format marker)");
  if (!s.ok()) return rocks_error(s, "reading the format marker of " + path);
  constexpr std::string_view kPrefix = "otinish-log/";
  if (!marker.starts_with(kPrefix)) {
    return Status::InvalidArgument(path + " has format marker '" + marker + "', not an otinish log's");
  }
  try {
    std::size_t used = 0;
    const int n = std::stoi(marker.substr(kPrefix.size()), &used);
    if (used == marker.size() - kPrefix.size() && n >= 1) return n;
  } catch (const std::exception&) {
  }
  return Status::InvalidArgument(path + " has format marker '" + marker + "', not an otinish log's");
}

Status sync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("opening " + dir.string() + " to sync it");
  const int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::Ok() : Status::IOError("syncing " + dir.string());
}

std::uint64_t dir_bytes(const fs::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

// Copies every entry of one column family, in batches.
Status copy_cf(const RawDb& from, const RawDb& to, const char* name) {
  rocksdb::ColumnFamilyHandle* src = from.cf(name);
  rocksdb::ColumnFamilyHandle* dst = to.cf(name);
  if (src == nullptr) return Status::Ok();  // an old log without it (written before it existed)
  if (dst == nullptr) return Status::Internal(std::string("the new log has no column family ") + name);
  std::unique_ptr<rocksdb::Iterator> it(from.db->NewIterator(rocksdb::ReadOptions(), src));
  rocksdb::WriteBatch batch;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    batch.Put(dst, it->key(), it->value());
    if (batch.GetDataSize() > (4u << 20)) {
      if (auto s = to.db->Write(rocksdb::WriteOptions(), &batch); !s.ok()) return rocks_error(s, "writing the new log");
      batch.Clear();
    }
  }
  if (!it->status().ok()) return rocks_error(it->status(), std::string("reading the old log's ") + name);
  if (auto s = to.db->Write(rocksdb::WriteOptions(), &batch); !s.ok()) return rocks_error(s, "writing the new log");
  return Status::Ok();
}

// Writes the format-2 stream index of the old log's events: one run per maximal sequence of consecutive
// positions of one stream with consecutive versions (a run need not be one original append: format 1 did not
// record appends, and the reader only needs runs that cover each stream's versions without gap or overlap).
Status write_runs(const RawDb& from, const RawDb& to, UpgradeReport* report,
                  const std::function<void(std::uint64_t)>& progress) {
  std::unique_ptr<rocksdb::Iterator> it(from.db->NewIterator(rocksdb::ReadOptions(), from.cf(keys::kLogCf)));
  rocksdb::ColumnFamilyHandle* streams = to.cf(keys::kStreamsCf);
  rocksdb::WriteBatch batch;
  std::unordered_map<std::string, std::uint64_t> next_version;
  struct Run {
    std::string stream;
    std::uint64_t first_version = 0, first_position = 0;
    std::uint32_t events = 0;
  } run;
  auto emit = [&] {
    if (run.events == 0) return;
    batch.Put(streams, keys::stream_key(run.stream, run.first_version),
              keys::stream_run_value(run.first_position, run.events));
    ++report->runs;
  };
  RecordedEvent e;
  std::uint64_t expected_position = 1;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    if (k.size() != 8) return Status::Corruption("the old log holds a key of " + std::to_string(k.size()) + " bytes");
    const std::uint64_t position = coding::decode_big_endian64(k.data());
    OTINISH_RETURN_IF_ERROR(decode_envelope(std::string_view(it->value().data(), it->value().size()), &e));
    if (position != expected_position) {
      return Status::Corruption("the old log has no event at position " + std::to_string(expected_position) +
                                "; run `otinish verify` with the build that wrote it");
    }
    ++expected_position;
    std::uint64_t& want = next_version[e.stream];
    if (e.stream_version != want + 1) {
      return Status::Corruption("at position " + std::to_string(position) + ": " + e.stream + " version " +
                                std::to_string(e.stream_version) + " follows version " + std::to_string(want));
    }
    want = e.stream_version;
    const bool extends = run.events > 0 && run.events < UINT32_MAX && run.stream == e.stream &&
                         run.first_version + run.events == e.stream_version &&
                         run.first_position + run.events == position;
    if (extends) {
      ++run.events;
    } else {
      emit();
      run = {e.stream, e.stream_version, position, 1};
    }
    ++report->events;
    if (progress && report->events % 65'536 == 0) progress(report->events);
    if (batch.GetDataSize() > (4u << 20)) {
      if (auto s = to.db->Write(rocksdb::WriteOptions(), &batch); !s.ok()) return rocks_error(s, "writing the new log");
      batch.Clear();
    }
  }
  if (!it->status().ok()) return rocks_error(it->status(), "reading the old log's events");
  emit();
  report->streams = next_version.size();
  if (auto s = to.db->Write(rocksdb::WriteOptions(), &batch); !s.ok()) return rocks_error(s, "writing the new log");
  return Status::Ok();
}

// The whole new log at `target`, checked as `otinish verify --indexes` would (its chain, and its index against
// its events), and that it ends at `old_head`, the old log's newest position: it holds every event, no more.
Status check_new_log(const std::string& target, std::uint64_t old_head) {
  StoreOptions o;
  o.create_if_missing = false;
  OTINISH_ASSIGN_OR_RETURN(auto store, open_rocks_store(target, o));
  OTINISH_ASSIGN_OR_RETURN(auto verified, verify_log(*store, {.indexes = true}));
  if (!verified.ok) return Status::Corruption("the upgraded log does not verify: " + verified.to_string());
  if (verified.events != old_head) {
    return Status::Corruption("the upgraded log ends at position " + std::to_string(verified.events) +
                              ", the old log at " + std::to_string(old_head));
  }
  return Status::Ok();
}

// The newest position in the log column family of the database at `path` (0: none), read without the store.
Result<std::uint64_t> last_position(const std::string& path) {
  OTINISH_ASSIGN_OR_RETURN(auto raw, open_raw(path, /*read_only=*/true));
  if (raw->cf(keys::kLogCf) == nullptr) return Status::InvalidArgument(path + " has no `log` column family");
  std::unique_ptr<rocksdb::Iterator> it(raw->db->NewIterator({}, raw->cf(keys::kLogCf)));
  it->SeekToLast();
  if (!it->status().ok()) return rocks_error(it->status(), "reading " + path);
  return it->Valid() ? coding::decode_big_endian64(it->key().data()) : 0;
}

// Writes the new log at `target` from the old one at `path`, then verifies it.
Status build_new_log(const std::string& path, const std::string& target, UpgradeReport* report,
                     const std::function<void(std::uint64_t)>& progress) {
  {
    // The store itself makes the new log: its column families, their options and its format marker.
    auto fresh = open_rocks_store(target, {});
    if (!fresh.ok()) return fresh.status();
    if ((*fresh)->head_position() != 0) return Status::Internal(target + " was not empty");
  }
  {
    OTINISH_ASSIGN_OR_RETURN(auto old_log, open_raw(path, /*read_only=*/true));
    OTINISH_ASSIGN_OR_RETURN(auto new_log, open_raw(target, /*read_only=*/false));
    if (old_log->cf(keys::kLogCf) == nullptr) return Status::InvalidArgument(path + " has no `log` column family");
    OTINISH_RETURN_IF_ERROR(copy_cf(*old_log, *new_log, keys::kLogCf));
    OTINISH_RETURN_IF_ERROR(copy_cf(*old_log, *new_log, keys::kIdempotencyCf));
    OTINISH_RETURN_IF_ERROR(copy_cf(*old_log, *new_log, keys::kTreeCf));
    OTINISH_RETURN_IF_ERROR(write_runs(*old_log, *new_log, report, progress));
    rocksdb::FlushOptions f;
    if (auto s = new_log->db->Flush(f, new_log->handles); !s.ok()) return rocks_error(s, "flushing the new log");
  }
  return check_new_log(target, report->events);
}

}  // namespace

Result<int> log_format(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(fs::path(path) / "CURRENT", ec)) return Status::NotFound("no otinish log at " + path);
  OTINISH_ASSIGN_OR_RETURN(auto raw, open_raw(path, /*read_only=*/true));
  return format_of(*raw, path);
}

Result<UpgradeReport> upgrade_log(const std::string& path, const std::function<void(std::uint64_t)>& progress) {
  const auto started = std::chrono::steady_clock::now();
  const fs::path live = fs::path(path).lexically_normal();
  const fs::path parent = live.parent_path().empty() ? fs::path(".") : live.parent_path();
  const fs::path staging = live.string() + ".upgrading";
  std::error_code ec;
  UpgradeReport report;

  // A crash between the swap's two renames: the new log had verified before the first.
  if (!fs::exists(live, ec) && fs::exists(staging, ec)) {
    fs::path kept;
    for (const fs::path& candidate : fs::directory_iterator(parent, ec)) {
      const std::string name = candidate.filename().string();
      if (name.starts_with(live.filename().string() + ".format")) kept = candidate;
    }
    if (kept.empty()) {
      return Status::NotFound("no log at " + path + ", only an unfinished upgrade at " + staging.string() +
                              " without the old log beside it; move it into place only if you know it is whole");
    }
    // The new log verified before the first rename; checked again, so that nothing but a whole copy of the
    // old log is ever put in place (a directory someone moved or altered meanwhile is not).
    Result<std::uint64_t> old_head = last_position(kept.string());
    const Status whole = old_head.ok() ? check_new_log(staging.string(), *old_head) : old_head.status();
    if (!whole.ok()) {
      return Status::FailedPrecondition("no log at " + path + "; " + staging.string() +
                                        " is not a whole upgraded log (" + whole.ToString() + "). Move " +
                                        kept.string() + " back to " + path +
                                        " and run `otinish upgrade --data DIR` again");
    }
    fs::rename(staging, live, ec);
    if (ec) return Status::IOError("renaming " + staging.string() + " to " + path + ": " + ec.message());
    OTINISH_RETURN_IF_ERROR(sync_dir(parent));
    OTINISH_ASSIGN_OR_RETURN(report.from_format, log_format(path));
    report.finished_interrupted = true;
    report.kept_at = kept.string();
    return report;
  }

  OTINISH_ASSIGN_OR_RETURN(report.from_format, log_format(path));
  if (report.from_format == kLogFormat) {
    report.already_current = true;
    return report;
  }
  if (report.from_format > kLogFormat) {
    return Status::InvalidArgument(path + " is of log format " + std::to_string(report.from_format) +
                                   ", written by a newer otinish; this build reads format " +
                                   std::to_string(kLogFormat) + ". Upgrade otinish; data is never downgraded");
  }
  const fs::path kept = live.string() + ".format" + std::to_string(report.from_format);
  if (fs::exists(kept, ec)) {
    return Status::AlreadyExists(kept.string() + " is there from an earlier upgrade: move it away first");
  }
  struct statvfs fsinfo {};
  const std::uint64_t needed = dir_bytes(live);
  if (::statvfs(parent.c_str(), &fsinfo) == 0 &&
      static_cast<std::uint64_t>(fsinfo.f_bavail) * fsinfo.f_frsize < needed + (needed >> 4)) {
    return Status::ResourceExhausted("upgrading " + path + " writes a copy of about " + std::to_string(needed >> 20) +
                                     " MiB beside it, and its disk has " +
                                     std::to_string((static_cast<std::uint64_t>(fsinfo.f_bavail) * fsinfo.f_frsize) >> 20) +
                                     " MiB free");
  }
  // Held until both renames are done (the lock file moves with the old log).
  OTINISH_ASSIGN_OR_RETURN(auto lock, DatabaseLock::take(live));
  fs::remove_all(staging, ec);  // what an interrupted upgrade left before its swap: rebuilt
  if (Status s = build_new_log(path, staging.string(), &report, progress); !s.ok()) {
    fs::remove_all(staging, ec);
    return s;
  }
  // The swap: the old log is kept under its format's name until the admin deletes it.
  fs::rename(live, kept, ec);
  if (ec) return Status::IOError("renaming " + path + " to " + kept.string() + ": " + ec.message());
  OTINISH_RETURN_IF_ERROR(sync_dir(parent));
  fs::rename(staging, live, ec);
  if (ec) return Status::IOError("renaming " + staging.string() + " to " + path + ": " + ec.message());
  OTINISH_RETURN_IF_ERROR(sync_dir(parent));
  report.kept_at = kept.string();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace otinish::store
