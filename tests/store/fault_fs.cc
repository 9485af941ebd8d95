#include "tests/store/fault_fs.h"

#include <filesystem>
#include <thread>

namespace otinish::store::testing {
namespace {

using rocksdb::IOStatus;

IOStatus power_is_off() { return IOStatus::IOError("injected fault: the power is off"); }

// A file opened through FaultFs: every append, sync and truncate goes through it first.
class FaultFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultFile(FaultFs* fs, std::string name, std::unique_ptr<rocksdb::FSWritableFile> target)
      : FSWritableFileOwnerWrapper(std::move(target)), fs_(fs), name_(std::move(name)) {}

  IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    IOStatus s = fs_->on_append(name_, data.size());
    return s.ok() ? FSWritableFileOwnerWrapper::Append(data, o, d) : s;
  }
  IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o, const rocksdb::DataVerificationInfo& v,
                  rocksdb::IODebugContext* d) override {
    IOStatus s = fs_->on_append(name_, data.size());
    return s.ok() ? FSWritableFileOwnerWrapper::Append(data, o, v, d) : s;
  }
  IOStatus PositionedAppend(const rocksdb::Slice&, std::uint64_t, const rocksdb::IOOptions&,
                            rocksdb::IODebugContext*) override {
    return IOStatus::NotSupported("FaultFs tracks appends only (RocksDB uses positioned appends for direct I/O)");
  }
  IOStatus PositionedAppend(const rocksdb::Slice&, std::uint64_t, const rocksdb::IOOptions&,
                            const rocksdb::DataVerificationInfo&, rocksdb::IODebugContext*) override {
    return IOStatus::NotSupported("FaultFs tracks appends only (RocksDB uses positioned appends for direct I/O)");
  }
  IOStatus Truncate(std::uint64_t size, const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    if (fs_->power_off()) return IOStatus::OK();
    IOStatus s = FSWritableFileOwnerWrapper::Truncate(size, o, d);
    if (s.ok()) fs_->on_truncate(name_, size);
    return s;
  }
  IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    IOStatus s = fs_->on_sync(name_);
    return s.ok() ? FSWritableFileOwnerWrapper::Sync(o, d) : s;
  }
  IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    IOStatus s = fs_->on_sync(name_);
    return s.ok() ? FSWritableFileOwnerWrapper::Fsync(o, d) : s;
  }
  IOStatus RangeSync(std::uint64_t offset, std::uint64_t n, const rocksdb::IOOptions& o,
                     rocksdb::IODebugContext* d) override {
    // Starts writeback only; it makes nothing durable, so it does not move the synced length.
    if (fs_->power_off()) return IOStatus::OK();
    return FSWritableFileOwnerWrapper::RangeSync(offset, n, o, d);
  }

 private:
  FaultFs* fs_;
  std::string name_;
};

}  // namespace

FaultFs::FaultFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}

bool FaultFs::matches(Files files, const std::string& name) {
  const std::string base = std::filesystem::path(name).filename().string();
  auto ends_with = [&](std::string_view suffix) {
    return base.size() >= suffix.size() && base.compare(base.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  switch (files) {
    case Files::kAny: return true;
    case Files::kWal: return ends_with(".log");
    case Files::kTable: return ends_with(".sst");
    case Files::kManifest: return base.rfind("MANIFEST-", 0) == 0;
  }
  return false;
}

void FaultFs::fail_syncs(Files files, int skip, int count) {
  std::lock_guard lock(mu_);
  fail_files_ = files;
  fail_skip_ = skip;
  fail_count_ = count;
}

IOStatus FaultFs::on_append(const std::string& name, std::size_t bytes) {
  if (power_off()) return IOStatus::OK();  // written to a page cache that is already gone
  if (no_space_.load()) {
    ++failed_writes_;
    return IOStatus::NoSpace("injected fault: no space left on device (ENOSPC) writing " + name);
  }
  std::lock_guard lock(mu_);
  files_[name].size += bytes;
  return IOStatus::OK();
}

IOStatus FaultFs::on_sync(const std::string& name) {
  if (auto us = sync_delay_us_.load(); us > 0) std::this_thread::sleep_for(std::chrono::microseconds(us));
  // Checked after the delay: a power cut during a slow fsync leaves it undone. The process cannot tell (its
  // machine is off): the call "succeeds", and nothing becomes durable.
  if (power_off()) return IOStatus::OK();
  ++syncs_;
  std::lock_guard lock(mu_);
  if (fail_count_ != 0 && matches(fail_files_, name)) {
    if (fail_skip_ > 0) {
      --fail_skip_;
    } else {
      if (fail_count_ > 0) --fail_count_;
      ++failed_syncs_;
      return IOStatus::IOError("injected fault: fsync failed (EIO) on " + name);
    }
  }
  Tracked& t = files_[name];
  t.synced = t.size;
  return IOStatus::OK();
}

void FaultFs::on_truncate(const std::string& name, std::uint64_t size) {
  std::lock_guard lock(mu_);
  Tracked& t = files_[name];
  t.size = size;
  t.synced = std::min(t.synced, size);
}

IOStatus FaultFs::wrap(const std::string& fname, IOStatus s, std::uint64_t initial_size,
                       std::unique_ptr<rocksdb::FSWritableFile>* result) {
  if (!s.ok()) return s;
  {
    std::lock_guard lock(mu_);
    files_[fname] = Tracked{initial_size, initial_size};
  }
  *result = std::make_unique<FaultFile>(this, fname, std::move(*result));
  return s;
}

IOStatus FaultFs::NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                  std::unique_ptr<rocksdb::FSWritableFile>* result, rocksdb::IODebugContext* dbg) {
  if (power_off()) return power_is_off();
  return wrap(fname, target()->NewWritableFile(fname, options, result, dbg), 0, result);
}

IOStatus FaultFs::ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                     std::unique_ptr<rocksdb::FSWritableFile>* result, rocksdb::IODebugContext* dbg) {
  if (power_off()) return power_is_off();
  // What the file already holds was there before; count it as durable.
  std::error_code ec;
  const auto size = std::filesystem::file_size(fname, ec);
  return wrap(fname, target()->ReopenWritableFile(fname, options, result, dbg), ec ? 0 : size, result);
}

IOStatus FaultFs::ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                    const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result, rocksdb::IODebugContext* dbg) {
  if (power_off()) return power_is_off();
  {
    std::lock_guard lock(mu_);
    files_.erase(old_fname);
  }
  return wrap(fname, target()->ReuseWritableFile(fname, old_fname, options, result, dbg), 0, result);
}

IOStatus FaultFs::RenameFile(const std::string& src, const std::string& target_name,
                             const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) {
  if (power_off()) return IOStatus::OK();  // never happened
  IOStatus s = target()->RenameFile(src, target_name, options, dbg);
  if (s.ok()) {
    std::lock_guard lock(mu_);
    if (auto it = files_.find(src); it != files_.end()) {
      files_[target_name] = it->second;
      files_.erase(it);
    } else {
      files_.erase(target_name);
    }
  }
  return s;
}

IOStatus FaultFs::DeleteFile(const std::string& fname, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) {
  if (power_off()) return IOStatus::OK();  // never happened
  IOStatus s = target()->DeleteFile(fname, options, dbg);
  if (s.ok()) {
    std::lock_guard lock(mu_);
    files_.erase(fname);
  }
  return s;
}

void FaultFs::drop_unsynced() {
  std::lock_guard lock(mu_);
  for (auto& [name, t] : files_) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(name, ec);
    if (ec || size <= t.synced) continue;
    dropped_bytes_ += size - t.synced;
    std::filesystem::resize_file(name, t.synced, ec);
    t.size = t.synced;
  }
  power_off_.store(false);
}

}  // namespace otinish::store::testing
