// store/rocks_store.h: the embedded default EventStore, on RocksDB.
//
// Key layout and envelope bytes: docs/log-format.md. Appends from many threads are committed together: one
// RocksDB write (sync=false, into the WAL's buffer: manual_wal_flush) per group, then one FlushWAL(sync)
// writing and syncing every group written so far (store/write_queue.h is the one place that does it).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "common/time.h"
#include "store/event_store.h"

namespace rocksdb {
class FileSystem;
}

namespace otinish::store {

struct StoreOptions {
  // Create the log if the directory holds none.
  bool create_if_missing = true;
  // Sync the WAL after each group commit before acknowledging its waiting appends (and publishing the head).
  // Leave on: only then does an acknowledged append survive a power loss. Off is for simulations and bulk
  // imports: the WAL is still written to the OS (not synced) before waiting appends are acknowledged, so they
  // survive a killed process and the log stays hash-chained and consistent, but a power loss may lose the newest.
  bool sync_writes = true;
  // Largest accepted event: type + payload + metadata, in bytes.
  std::size_t max_event_bytes = 1 << 20;
  // Most events one append may carry.
  std::size_t max_events_per_append = 10'000;
  // Most events the group commit puts in one RocksDB write (a larger backlog is split over several writes).
  std::size_t max_group_events = 8'192;
  // On open, re-verify the hash chain of this many events at the tail (a torn or altered tail is reported then,
  // not at the first read). 0 disables the check.
  std::size_t tail_check_events = 1'024;
  // RocksDB block cache, in MiB.
  std::size_t block_cache_mb = 64;
  // Memtables of every column family together, in MiB (RocksDB's db_write_buffer_size): past it the largest is
  // written to a table file. Without a bound each of the six column families may hold two 64 MiB memtables.
  std::size_t memtable_mb = 128;
  // Keep the Merkle tree (store/merkle.h) as events are appended. Off only to measure what the tree costs (the
  // store bench runs with and without it); proofs and roots then fail with kFailedPrecondition, and the tree is
  // built for the events written meanwhile when the log is next opened with it on.
  bool merkle_tree = true;
  // The file system RocksDB reads and writes through; null is the operating system's. The disk-fault tests
  // pass one that fails fsyncs, fills up or loses power on command (tests/store/fault_fs.h).
  std::shared_ptr<rocksdb::FileSystem> file_system;
  // After a failed write or fsync the store refuses appends (kUnavailable) until it has recovered: it tries
  // on the next append, at most this often. See "When the disk fails" in docs/reliability.md.
  std::chrono::milliseconds recovery_interval{1000};
  // Appends are refused (kUnavailable, nothing written) while the log's file system has less than this many
  // MiB free, and resume by themselves once there is more; 0 disables the check (store/disk_space.h). A
  // RocksDB that runs into ENOSPC itself must be reopened; this reserve keeps it from getting there.
  std::uint64_t min_free_disk_mb = 64;
};

// Opens (or creates) the log in directory `path`. `clock` gives each event's recorded time and must outlive
// the store; the default is the wall clock.
// Errors: kIOError (cannot open, locked by another process), kCorruption (the tail does not verify: the
// message names the position and what is wrong; nothing is dropped or repaired), kInvalidArgument (the
// directory holds something that is not an otinish log, or a newer format).
Result<std::unique_ptr<EventStore>> open_rocks_store(const std::string& path, const StoreOptions& options = {},
                                                     const Clock& clock = SystemClock::instance());

}  // namespace otinish::store
