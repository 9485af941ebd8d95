// The group commit's leader/follower protocol, with a fake write and sync: every append is written exactly once,
// by one leader at a time, answered only after a sync that began after its write (unless it asked not to wait),
// and a lone appender writes on its own thread.
#include "store/write_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace otinish::store {
namespace {

// A write function and a sync function that record what they did.
struct FakeLog {
  std::atomic<bool> in_write{false};
  std::atomic<int> overlapping_writes{0};
  std::atomic<std::uint64_t> written{0};  // appends written so far; an append's sequence is its count at its write
  std::atomic<std::uint64_t> synced{0};   // every append with a sequence up to this is durable
  std::atomic<int> syncs{0};
  std::chrono::microseconds sync_time{200};
  std::atomic<int> fail_next_sync{0};
  std::mutex mu;
  std::unordered_map<const AppendRequest*, std::thread::id> writer_of;  // guarded by mu

  void write(std::span<AppendRequest* const> group) {
    if (in_write.exchange(true)) overlapping_writes.fetch_add(1);
    for (AppendRequest* r : group) {
      const std::uint64_t seq = written.fetch_add(1) + 1;
      r->result = AppendResult{seq, seq, seq, false};
      std::lock_guard lock(mu);
      writer_of[r] = std::this_thread::get_id();
    }
    std::this_thread::sleep_for(std::chrono::microseconds(20));
    in_write.store(false);
  }
  std::atomic<bool> hold_syncs{false};  // while set, a sync does not end
  Status sync() {
    const std::uint64_t covered = written.load();
    std::this_thread::sleep_for(sync_time);
    while (hold_syncs.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    syncs.fetch_add(1);
    if (fail_next_sync.exchange(0) != 0) return Status::IOError("fake fsync failed");
    synced.store(covered);
    return Status::Ok();
  }
};

std::unique_ptr<WriteQueue> make_queue(FakeLog& log, std::size_t max_group_events = 64) {
  return std::make_unique<WriteQueue>([&log](std::span<AppendRequest* const> g) { log.write(g); },
                                      [&log] { return log.sync(); }, max_group_events);
}

TEST(WriteQueueTest, ALoneAppenderWritesOnItsOwnThread) {
  FakeLog log;
  auto queue = make_queue(log);
  EventData e;
  AppendOptions options;
  for (int i = 0; i < 3; ++i) {
    AppendRequest r;
    r.events = {&e, 1};
    r.options = &options;
    queue->submit(&r);
    ASSERT_TRUE(r.result.ok()) << r.result.status().ToString();
    EXPECT_LE(r.result->first_position, log.synced.load()) << "answered before the sync that covers it";
    std::lock_guard lock(log.mu);
    EXPECT_EQ(log.writer_of.at(&r), std::this_thread::get_id()) << "a lone appender must lead, not hand off";
    log.writer_of.clear();
  }
}

TEST(WriteQueueTest, ManyAppendersAreWrittenOnceByOneLeaderAtATimeAndAnsweredAfterTheirSync) {
  FakeLog log;
  auto queue = make_queue(log, /*max_group_events=*/5);  // small groups: leaders hand over often
  constexpr int kThreads = 16, kAppends = 300;
  std::atomic<int> early{0}, errors{0}, led_by_others{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      EventData e;
      AppendOptions wait, no_wait;
      no_wait.wait_for_sync = false;
      for (int i = 0; i < kAppends; ++i) {
        AppendRequest r;
        r.events = {&e, 1};
        r.options = (i + t) % 7 == 0 ? &no_wait : &wait;
        queue->submit(&r);
        if (!r.result.ok()) {
          errors.fetch_add(1);
          continue;
        }
        if (r.options->wait_for_sync && r.result->first_position > log.synced.load()) early.fetch_add(1);
        std::lock_guard lock(log.mu);
        if (log.writer_of.at(&r) != std::this_thread::get_id()) led_by_others.fetch_add(1);
        log.writer_of.erase(&r);
      }
    });
  }
  for (auto& th : threads) th.join();
  queue.reset();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(early.load(), 0) << "an append was answered before a sync covered it";
  EXPECT_EQ(log.overlapping_writes.load(), 0) << "two leaders wrote at once";
  EXPECT_EQ(log.written.load(), std::uint64_t{kThreads * kAppends}) << "every append is written exactly once";
  EXPECT_GT(led_by_others.load(), 0) << "with 16 appenders, followers' appends are written by a leader";
  EXPECT_LT(log.syncs.load(), kThreads * kAppends) << "no group commit happened";
}

TEST(WriteQueueTest, ClosingSyncsWhatWasOnlyWritten) {
  FakeLog log;
  log.sync_time = std::chrono::milliseconds(5);
  auto queue = make_queue(log);
  EventData e;
  AppendOptions no_wait;
  no_wait.wait_for_sync = false;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      AppendRequest r;
      r.events = {&e, 1};
      r.options = &no_wait;
      queue->submit(&r);  // answered once written, before its sync
      EXPECT_TRUE(r.result.ok());
    });
  }
  for (auto& th : threads) th.join();
  queue.reset();
  EXPECT_EQ(log.written.load(), 8u);
  EXPECT_EQ(log.synced.load(), 8u) << "the queue closed with written appends not synced";
}

TEST(WriteQueueTest, AFailedSyncIsTheAnswerOfEveryAppendItCovered) {
  FakeLog log;
  log.sync_time = std::chrono::milliseconds(2);
  auto queue = make_queue(log);
  log.fail_next_sync = 1;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      EventData e;
      AppendOptions wait;
      AppendRequest r;
      r.events = {&e, 1};
      r.options = &wait;
      queue->submit(&r);
      if (!r.result.ok()) {
        EXPECT_EQ(r.result.status().code(), StatusCode::kIOError);
        failed.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_GE(failed.load(), 1) << "the failed sync answered no append";
}

// An asynchronous append as RocksEventStore makes one: owns what it appends, answered through `complete`.
struct AsyncAppend : AppendRequest {
  EventData event;
  AppendOptions opts;
  FakeLog* log = nullptr;
  std::atomic<int>* answered = nullptr;
  std::atomic<int>* early = nullptr;
  std::atomic<int>* errors = nullptr;

  static AsyncAppend* make(FakeLog& log, bool wait_for_sync, std::atomic<int>& answered, std::atomic<int>& early,
                           std::atomic<int>& errors) {
    auto* a = new AsyncAppend;
    a->opts.wait_for_sync = wait_for_sync;
    a->events = {&a->event, 1};
    a->options = &a->opts;
    a->log = &log;
    a->answered = &answered;
    a->early = &early;
    a->errors = &errors;
    a->complete = [](AppendRequest* base) {
      std::unique_ptr<AsyncAppend> self(static_cast<AsyncAppend*>(base));
      if (!self->result.ok()) {
        self->errors->fetch_add(1);
      } else if (self->opts.wait_for_sync && self->result->first_position > self->log->synced.load()) {
        self->early->fetch_add(1);
      }
      self->answered->fetch_add(1);
    };
    return a;
  }
};

TEST(WriteQueueTest, AsynchronousAppendsAreAnsweredOnceAfterTheirSyncWithoutWaitingForIt) {
  FakeLog log;
  log.sync_time = std::chrono::milliseconds(1);
  auto queue = make_queue(log, /*max_group_events=*/5);
  constexpr int kThreads = 8, kAppends = 200;
  std::atomic<int> answered{0}, early{0}, errors{0}, sync_answered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      EventData e;
      AppendOptions wait;
      for (int i = 0; i < kAppends; ++i) {
        if ((i + t) % 3 == 0) {  // a waiting appender now and then: leaders hand over between the two kinds
          AppendRequest r;
          r.events = {&e, 1};
          r.options = &wait;
          queue->submit(&r);
          if (r.result.ok() && r.result->first_position <= log.synced.load()) sync_answered.fetch_add(1);
          continue;
        }
        queue->submit_async(AsyncAppend::make(log, /*wait_for_sync=*/(i % 5) != 0, answered, early, errors));
      }
    });
  }
  for (auto& th : threads) th.join();
  queue.reset();  // writes and syncs what is still queued: every asynchronous append is answered by then
  int asynchronous = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kAppends; ++i) asynchronous += (i + t) % 3 == 0 ? 0 : 1;
  }
  EXPECT_EQ(answered.load(), asynchronous) << "an asynchronous append was answered never, or twice";
  EXPECT_EQ(sync_answered.load(), kThreads * kAppends - asynchronous);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(early.load(), 0) << "an asynchronous append was answered before a sync covered it";
  EXPECT_EQ(log.overlapping_writes.load(), 0) << "two leaders wrote at once";
  EXPECT_EQ(log.written.load(), std::uint64_t{kThreads * kAppends}) << "every append is written exactly once";
}

TEST(WriteQueueTest, AnAsynchronousAppenderDoesNotWaitForTheSync) {
  FakeLog log;
  log.hold_syncs = true;  // no sync ends until the test says so
  auto queue = make_queue(log);
  std::atomic<int> answered{0}, early{0}, errors{0};
  // On a thread of its own, so that a submit_async that waited for the sync fails the test instead of hanging it.
  auto submitted = std::async(std::launch::async, [&] {
    for (int i = 0; i < 3; ++i) queue->submit_async(AsyncAppend::make(log, true, answered, early, errors));
  });
  const bool returned = submitted.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  EXPECT_TRUE(returned) << "submit_async waited for a sync";
  EXPECT_EQ(log.written.load(), 3u) << "the caller leads: its appends are written before it returns";
  EXPECT_EQ(answered.load(), 0) << "answered before any sync ended";
  log.hold_syncs = false;
  submitted.wait();
  queue.reset();
  EXPECT_EQ(answered.load(), 3);
  EXPECT_EQ(early.load(), 0);
}

TEST(WriteQueueTest, AFailedSyncIsTheAnswerOfAnAsynchronousAppend) {
  FakeLog log;
  log.sync_time = std::chrono::milliseconds(2);
  auto queue = make_queue(log);
  log.fail_next_sync = 1;
  std::atomic<int> answered{0}, early{0}, errors{0};
  queue->submit_async(AsyncAppend::make(log, true, answered, early, errors));
  queue.reset();
  EXPECT_EQ(answered.load(), 1);
  EXPECT_EQ(errors.load(), 1) << "the failed sync was not the asynchronous append's answer";
}

}  // namespace
}  // namespace otinish::store
