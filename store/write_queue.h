// store/write_queue.h (internal): group commit, the one place where concurrent appends become one write.
//
// Appenders call submit() from any thread; a single writer thread takes everything queued (up to a cap),
// hands the group to the commit function, which must make it durable in ONE synced write and fill in each
// request's result, then wakes the appenders. While one group is being synced the next one gathers, so
// throughput grows with the number of writers while each appender waits about one sync (RocksDB's
// WriteThread does the same with a leader instead of a thread).
//
// Closed-loop appenders (a desk that appends, waits, appends again) come back right after their group is
// acknowledged. Without care they split into two cohorts that alternate, each group holding half of them. So
// after releasing N appenders the writer waits a little (at most `gather_wait`) until about N requests are
// queued: one sync then serves everyone. A lone appender never waits (N = 1 is already queued).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "common/status.h"
#include "store/event_store.h"

namespace otinish::store {

struct AppendRequest {
  std::string_view stream;
  ExpectedVersion expected = ExpectedVersion::any();
  std::span<const EventData> events;
  const AppendOptions* options = nullptr;
  // Filled in by the commit function.
  Result<AppendResult> result = Status::Internal("append request was never committed");
  // Owned by the queue.
  bool done = false;
};

// Thread-safe.
class WriteQueue {
 public:
  // Commits a group: every request's `result` must be set. Called on the writer thread only.
  using CommitFn = std::function<void(std::span<AppendRequest* const>)>;

  // `max_group_events`: a group stops growing once it holds this many events (a single larger request still
  // forms a group of its own). `gather_wait`: how long the writer may wait for the appenders it just released
  // to come back before it forms the next group (0: never wait).
  WriteQueue(CommitFn commit, std::size_t max_group_events, std::chrono::microseconds gather_wait);
  // Drains what is queued, then stops the writer thread.
  ~WriteQueue();
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  // Blocks until the request is committed (or refused because the queue is closing: kUnavailable).
  void submit(AppendRequest* request);

 private:
  void run();

  const CommitFn commit_;
  const std::size_t max_group_events_;
  const std::chrono::microseconds gather_wait_;

  std::mutex mu_;
  std::condition_variable work_cv_;  // writer waits for requests
  std::condition_variable done_cv_;  // appenders wait for their request's `done`
  std::deque<AppendRequest*> queue_;  // guarded by mu_
  bool closing_ = false;              // guarded by mu_
  std::thread writer_;                // started last
};

}  // namespace otinish::store
