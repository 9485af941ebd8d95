// tests/store/fault_fs.h: a RocksDB file system that fails on command, for the store's disk-fault tests.
//
// Debian's RocksDB ships no fault-injection file system (RocksDB's own FaultInjectionTestFS lives in its test
// utilities), so this is ours, built on the public rocksdb::FileSystemWrapper. It passes everything to the
// real (POSIX) file system and can, on command:
//   - fail fsyncs with EIO: the Nth matching sync, or every one from then on;
//   - fail every write with ENOSPC until told to stop (a full disk);
//   - delay every fsync (a slow disk);
//   - cut the power: from then on writes and syncs seem to succeed (the process cannot tell; its machine is
//     off) but nothing more becomes durable, renames and deletes do not happen, and new files cannot be made;
//     drop_unsynced() then truncates every file written through it to the length it had at its last real sync,
//     which is what a power loss leaves of data the kernel had not yet written (the model of RocksDB's own
//     crash tests). Seeming success matters: RocksDB (Debian's build keeps its assertions) aborts when a file
//     it already saw fail is written again, which a dead machine never does.
// Select it with StoreOptions::file_system. It models file contents, not directory entries: a rename or a
// file created before the cut survives it (as on ext4 with data=ordered once the directory was synced, which
// RocksDB does for the files it relies on).
#pragma once

#include <rocksdb/file_system.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace otinish::store::testing {

class FaultFs : public rocksdb::FileSystemWrapper {
 public:
  // Which files a fault applies to, by RocksDB's file names.
  enum class Files { kAny, kWal /* NNNNNN.log */, kTable /* *.sst */, kManifest /* MANIFEST-* */ };

  FaultFs();
  const char* Name() const override { return "OtinishFaultFs"; }

  // The (skip + 1)th sync of a matching file from now on fails with EIO, and so do the `count` - 1 after it
  // (count < 0: every later one). The failed sync does not make anything durable.
  void fail_syncs(Files files, int skip, int count = 1);
  // While on, every write (append) to any file fails with ENOSPC and writes nothing.
  void set_no_space(bool on) { no_space_.store(on); }
  // Every sync waits this long before it is done.
  void set_sync_delay(std::chrono::microseconds d) { sync_delay_us_.store(d.count()); }
  // The power goes off (see above). A test must stop counting acknowledgements from then on: an append
  // acknowledged after power_off() is true was synced after the cut.
  void power_cut() { power_off_.store(true); }
  // After power_cut() and once the store is closed: truncate every file written through this file system to
  // its length at its last successful sync (0 if never synced), then let the power back on.
  void drop_unsynced();

  // Counters for the tests' reports.
  std::uint64_t syncs() const { return syncs_.load(); }
  std::uint64_t failed_syncs() const { return failed_syncs_.load(); }
  std::uint64_t failed_writes() const { return failed_writes_.load(); }
  std::uint64_t dropped_bytes() const { return dropped_bytes_.load(); }

  // Called by the files it opens.
  rocksdb::IOStatus on_append(const std::string& name, std::size_t bytes);
  rocksdb::IOStatus on_sync(const std::string& name);
  void on_truncate(const std::string& name, std::uint64_t size);
  bool power_off() const { return power_off_.load(); }

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& target, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;

 private:
  struct Tracked {
    std::uint64_t size = 0;
    std::uint64_t synced = 0;
  };
  static bool matches(Files files, const std::string& name);
  rocksdb::IOStatus wrap(const std::string& fname, rocksdb::IOStatus s, std::uint64_t initial_size,
                         std::unique_ptr<rocksdb::FSWritableFile>* result);

  std::mutex mu_;
  std::map<std::string, Tracked> files_;  // guarded by mu_
  Files fail_files_ = Files::kAny;        // guarded by mu_
  int fail_skip_ = 0;                     // guarded by mu_
  int fail_count_ = 0;                    // guarded by mu_ (0: no failure armed)

  std::atomic<bool> no_space_{false};
  std::atomic<bool> power_off_{false};
  std::atomic<std::int64_t> sync_delay_us_{0};
  std::atomic<std::uint64_t> syncs_{0}, failed_syncs_{0}, failed_writes_{0}, dropped_bytes_{0};
};

}  // namespace otinish::store::testing
