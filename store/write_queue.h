// store/write_queue.h (internal): group commit, the one place where concurrent appends become durable writes.
//
// Appenders call submit() from any thread and block until their request is durable. Two threads do the work,
// like a two-stage pipeline (RocksDB's WriteThread with pipelined writes does the same with leaders):
//   - the writer takes everything queued (up to a cap) as one group and hands it to `write`, which decides
//     the group (versions, positions, hashes) and writes it in ONE RocksDB write without syncing;
//   - the syncer takes every group written so far and calls `sync`, which makes all of them durable with one
//     flush and fsync of the WAL (the flush alone with StoreOptions::sync_writes off) and publishes the new head;
//     only then are the group's (waiting) appenders woken.
// While one fsync runs the writer already writes the next group, so the disk is never idle while appenders
// wait, and one fsync covers every group written before it began. An appender is answered only after its
// append is synced, with one exception: an append with AppendOptions::wait_for_sync = false is answered as
// soon as its group is written. It is durable once the next sync has run, no later than the answer to any
// waiting append submitted after it was answered (that append's group is written after it, so its sync covers
// it). Readers never see anything before it is synced: they stop at the published head.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "store/event_store.h"

namespace otinish::store {

struct AppendRequest {
  std::string_view stream;
  ExpectedVersion expected = ExpectedVersion::any();
  std::span<const EventData> events;
  const AppendOptions* options = nullptr;
  // Filled in by the write function (and replaced by the sync's error if the sync fails before the request is
  // answered; a wait_for_sync = false request is answered before its sync).
  Result<AppendResult> result = Status::Internal("append request was never committed");
  // Owned by the queue: each appender is woken on its own (no thundering herd of 32 desks per sync), through
  // a bare futex word: no mutex for the woken appender to contend on while the queue wakes the next one.
  void acknowledge();
  // 0 waiting, 2 waiting asleep (in FUTEX_WAIT), 1 answered. The appender spins briefly, then marks itself
  // asleep; the queue makes a wake-up syscall only for an appender that is asleep.
  std::atomic<std::uint32_t> done{0};
};

// Thread-safe.
class WriteQueue {
 public:
  // Decides and writes a group without syncing: every request's `result` must be set. Writer thread only.
  using WriteFn = std::function<void(std::span<AppendRequest* const>)>;
  // Makes every group `write` has returned from durable, and publishes it. Syncer thread only. On error the
  // error becomes the result of every request not yet acknowledged.
  using SyncFn = std::function<Status()>;

  // `max_group_events`: a group stops growing once it holds this many events (a single larger request still
  // forms a group of its own).
  WriteQueue(WriteFn write, SyncFn sync, std::size_t max_group_events);
  // Writes and syncs what is queued, then stops both threads.
  ~WriteQueue();
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  // Blocks until the request is durable, or only written if its options say not to wait for the sync (or
  // until it is refused because the queue is closing: kUnavailable).
  void submit(AppendRequest* request);

  // Counters of the syncs run so far (see CommitStats).
  CommitStats stats() const;

 private:
  void write_loop();
  void sync_loop();

  // Longest the syncer waits for the appenders it just answered to come back (see sync_loop).
  static constexpr std::chrono::microseconds kMaxGather{50};

  const WriteFn write_;
  const SyncFn sync_;
  const std::size_t max_group_events_;

  std::mutex mu_;
  std::condition_variable work_cv_;  // the writer waits for requests
  std::condition_variable sync_cv_;  // the syncer waits for written groups
  std::deque<AppendRequest*> queue_;     // guarded by mu_: submitted, not yet written
  std::vector<AppendRequest*> written_;  // guarded by mu_: written, not yet synced, not yet answered
  bool unsynced_ = false;                // guarded by mu_: something was written since the last sync began
  bool closing_ = false;                 // guarded by mu_
  bool writer_done_ = false;             // guarded by mu_
  std::atomic<std::uint64_t> syncs_{0};        // written by the syncer, read by stats()
  std::atomic<std::uint64_t> synced_appends_{0};
  std::atomic<std::uint64_t> sync_micros_{0};
  std::thread syncer_;                   // started after the members above
  std::thread writer_;
};

}  // namespace otinish::store
