// store/write_queue.h (internal): group commit, the one place where concurrent appends become durable writes.
//
// Appenders call submit() from any thread and block until their request is durable (or submit_async(), and are
// called back). The work is a two-stage
// pipeline, in the style of RocksDB's WriteThread with pipelined writes:
//   - writing: one appender at a time is the *leader*. It takes everything queued (up to a cap) as one group
//     and hands it to `write`, which decides the group (versions, positions, hashes) and writes it in ONE
//     RocksDB write without syncing. The others (*followers*) only queue their request and sleep: no thread is
//     woken to write it. An appender that finds no leader becomes the leader at once, so a lone writer pays no
//     thread hand-off at all. A leader keeps writing the groups that queue up meanwhile while its own append
//     waits for its sync; once that is answered, it hands the role to the appender at the queue's front (one
//     wake, as RocksDB's leader wakes the next group's leader) and returns.
//   - syncing: a syncer thread takes every group written so far and calls `sync`, which makes all of them
//     durable with one flush and fsync of the WAL (the flush alone with StoreOptions::sync_writes off) and
//     publishes the new head; only then are the group's (waiting) appenders woken, and the asynchronous ones'
//     completions called (on a completion thread, so that they never delay the next fsync).
// While one fsync runs the leader already writes the next group, so the disk is never idle while appenders
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
  // Set for an asynchronous append (WriteQueue::submit_async): the request is answered by calling it, and
  // nobody waits on `done`: on the completion thread once synced, on a leader's thread (wait_for_sync = false),
  // or on the submitting thread (refused while closing). It may free the request.
  void (*complete)(AppendRequest*) = nullptr;
  // Owned by the queue: each appender is woken on its own (no thundering herd of 32 desks per sync), through
  // a bare futex word: no mutex for the woken appender to contend on while the queue wakes the next one.
  void acknowledge();
  // Wakes the appender to take the leader's role (its request is still queued).
  void make_leader();
  static constexpr std::uint32_t kWaiting = 0, kAnswered = 1, kAsleep = 2, kLead = 3;
  // kWaiting, kAsleep (waiting in FUTEX_WAIT), kAnswered, or kLead (told to lead). The appender spins briefly,
  // then marks itself asleep; the queue makes a wake-up syscall only for an appender that is asleep.
  std::atomic<std::uint32_t> done{kWaiting};
};

// Thread-safe.
class WriteQueue {
 public:
  // Decides and writes a group without syncing: every request's `result` must be set. Called by one leader at a
  // time (each call happens-after the previous one returned), on the leader's own thread.
  using WriteFn = std::function<void(std::span<AppendRequest* const>)>;
  // Makes every group `write` has returned from durable, and publishes it. Syncer thread only. On error the
  // error becomes the result of every request not yet acknowledged.
  using SyncFn = std::function<Status()>;

  // `max_group_events`: a group stops growing once it holds this many events (a single larger request still
  // forms a group of its own).
  WriteQueue(WriteFn write, SyncFn sync, std::size_t max_group_events);
  // Writes and syncs what is queued (waiting for the leader), then stops the syncer.
  ~WriteQueue();
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  // Blocks until the request is durable, or only written if its options say not to wait for the sync (or
  // until it is refused because the queue is closing: kUnavailable).
  void submit(AppendRequest* request);

  // Queues the request and returns without waiting: request->complete (set) is called once it is answered, as
  // submit() would have returned. If no appender leads, this thread leads: it writes the groups queued (its
  // own among them) until the queue is empty or a waiting appender is at its front to take the role over; it
  // never waits for a sync. While closing: answered at once with kUnavailable.
  void submit_async(AppendRequest* request);

  // Counters of the syncs run so far (see CommitStats).
  CommitStats stats() const;

 private:
  // The leader's work, on an appender's thread: writes groups while any are queued; returns once its own
  // request is answered (`own` null: an asynchronous appender, which waits for nothing) and the role handed on
  // to a waiting appender at the queue's front, or when the queue is empty and the role released. An
  // asynchronous append at the front has no thread to hand the role to: the leader writes it too.
  // noexcept: a write that throws ends the process, as it did when a writer thread wrote; the group it held
  // could not be answered, and the leader's role would never pass on (every later append would wait forever).
  void lead(AppendRequest* own) noexcept;
  // Sleeps until `request` is answered (true) or made the leader (false).
  static bool wait(AppendRequest* request);
  void sync_loop();
  // Calls the asynchronous appends' completions that the syncer answered, in order, on a thread of their own:
  // what a completion does (an HTTP answer's JSON, its log line) never delays the next fsync.
  void complete_loop();

  // Longest the syncer waits for the appenders it just answered to come back (see sync_loop).
  static constexpr std::chrono::microseconds kMaxGather{50};

  const WriteFn write_;
  const SyncFn sync_;
  const std::size_t max_group_events_;

  std::mutex mu_;
  std::condition_variable sync_cv_;    // the syncer waits for written groups
  std::condition_variable leader_cv_;  // the destructor waits for the last leader
  std::deque<AppendRequest*> queue_;     // guarded by mu_: submitted, not yet written
  std::vector<AppendRequest*> written_;  // guarded by mu_: written, not yet synced, not yet answered
  bool unsynced_ = false;                // guarded by mu_: something was written since the last sync began
  bool closing_ = false;                 // guarded by mu_
  bool leading_ = false;                 // guarded by mu_: some appender holds the leader's role (or is told to)
  bool writer_done_ = false;             // guarded by mu_: closing, and no leader is left to write
  std::atomic<std::uint64_t> syncs_{0};        // written by the syncer, read by stats()
  std::atomic<std::uint64_t> synced_appends_{0};
  std::atomic<std::uint64_t> sync_micros_{0};
  std::mutex complete_mu_;
  std::condition_variable complete_cv_;
  std::vector<AppendRequest*> to_complete_;  // guarded by complete_mu_: synced asynchronous appends
  bool completer_done_ = false;              // guarded by complete_mu_: the syncer has stopped
  std::thread completer_;                // started after the members above
  std::thread syncer_;                   // started after the members above
};

}  // namespace otinish::store
