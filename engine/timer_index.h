// engine/timer_index.h: the SLA service's durable state: the next due moment of every open appeal and the
// log position the service has processed, in a RocksDB of its own (e.g. DIR/sla, next to DIR/log).
//
// Key layout (docs/sla.md "Timer index"):
//   'a' appeal_id                 -> "" (open, nothing due: a paused clock) or 8 bytes big-endian due µs
//   'd' due_us(8, big-endian) appeal_id -> ""    (the timer queue, ordered by due time then appeal id)
//   'c'                           -> 8 bytes big-endian: the checkpoint (last log position processed)
//   'n'                           -> 16 bytes big-endian: open appeals, pending timers (start-up reads this,
//                                    not the open set)
// Every change and the checkpoint go in one WriteBatch, so after any crash the index and the checkpoint agree:
// the service re-processes the log after the checkpoint and re-derives whatever the lost batches held. The
// WAL is not synced per batch (the log is the truth; the index is derived and catches up from the checkpoint).
//
// Thread-safety: thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "store/disk_space.h"

namespace rocksdb {
class DB;
}

namespace otinish::engine {

struct TimerIndexOptions {
  // Create the index if the directory holds none.
  bool create_if_missing = true;
  // Sync the WAL on every write. Off by default: the index is re-derivable from the log after the checkpoint.
  bool sync = false;
  // RocksDB block cache, in MiB (the queue's head is what is read; a small cache is enough).
  std::size_t block_cache_mb = 32;
  // Writes are refused (kUnavailable, nothing written) while the index's file system has less than this many
  // MiB free (store/disk_space.h); 0 disables the check. The SLA service retries them.
  std::uint64_t min_free_disk_mb = 16;
};

class TimerIndex {
 public:
  // One appeal's new entry.
  struct Change {
    std::string appeal_id;
    bool open = true;               // false: the appeal is closed for the SLA (no clock can fire): remove it
    std::optional<Timestamp> due;   // the next moment something can fire; absent while nothing is due
  };

  // Errors: kIOError naming the path (RocksDB's message).
  static Result<std::unique_ptr<TimerIndex>> open(const std::string& path, const TimerIndexOptions& options = {});
  ~TimerIndex();
  TimerIndex(const TimerIndex&) = delete;
  TimerIndex& operator=(const TimerIndex&) = delete;

  // The last log position processed (0 for a new index).
  std::uint64_t checkpoint() const;
  // Applies `changes` and, if given, the new checkpoint, atomically. A checkpoint at or before the current one
  // is not written (the checkpoint never goes back). Errors: kIOError.
  Status apply(std::span<const Change> changes, std::optional<std::uint64_t> checkpoint);
  // Timers with due <= `t`, in (due, appeal id) order, at most `limit`. Errors: kIOError.
  Result<std::vector<std::pair<Timestamp, std::string>>> due_until(Timestamp t, std::size_t limit) const;
  // The earliest due moment, if any.
  std::optional<Timestamp> next_due() const;
  // The appeal's entry: nullopt if not open; else its due moment (nullopt inside: nothing due).
  std::optional<std::optional<Timestamp>> find(const std::string& appeal_id) const;
  // Calls `visit` for every open appeal in id order; stops when it returns false.
  Status for_each_open(const std::function<bool(const std::string&, std::optional<Timestamp>)>& visit) const;
  // Open appeals and pending timers (stored with every batch).
  std::uint64_t open_count() const;
  std::uint64_t timer_count() const;

 private:
  TimerIndex(std::unique_ptr<rocksdb::DB> db, const std::string& path, const TimerIndexOptions& options);

  const TimerIndexOptions options_;
  const std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<store::DiskSpaceGuard> space_;

  mutable std::mutex mu_;       // serialises read-modify-write of entries
  std::uint64_t checkpoint_ = 0;  // GUARDED_BY(mu_)
  std::uint64_t open_count_ = 0;  // GUARDED_BY(mu_)
  std::uint64_t timer_count_ = 0; // GUARDED_BY(mu_)
  // No live queue entry is due before this (queue keys below it are only tombstones of fired timers), so
  // scans seek here instead of wading through the tombstones at the head of the queue. GUARDED_BY(mu_)
  mutable std::uint64_t scan_from_ = 0;
};

}  // namespace otinish::engine
