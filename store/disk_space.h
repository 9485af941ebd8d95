// store/disk_space.h (internal): refuse writes before the disk is full, not after.
//
// Every RocksDB database otinish keeps (the log, the key store, the views, the SLA timers) checks the free space
// of its file system before it writes, and refuses the write while less than a reserve is left. A RocksDB that
// did hit ENOSPC stops taking writes until it is reopened, and a log that ran out of space in the middle of a
// WAL record must start a new WAL: refusing early keeps every database healthy, so writes resume by themselves
// once space is freed (the same idea as PostgreSQL's and Elasticsearch's disk watermarks). The log keeps the
// largest reserve, so that when it stops, the views and timers still have room to catch up with it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "common/status.h"

namespace otinish::store {

class DiskSpaceGuard {
 public:
  // `what` names the database in messages ("the log"); `reserve_bytes` 0 disables the check.
  DiskSpaceGuard(std::string path, std::string what, std::uint64_t reserve_bytes);

  // Ok, or kUnavailable ("the disk holding the log at DIR has 12 MiB free, under its reserve of 64 MiB; ...")
  // while the file system has less than the reserve available. Asks the file system at most every 100 ms.
  // Thread-safe.
  Status check();

 private:
  const std::string path_;
  const std::string what_;
  const std::uint64_t reserve_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point next_{};  // guarded by mu_
  Status last_;                                   // guarded by mu_
};

}  // namespace otinish::store
