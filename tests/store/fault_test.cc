// The store on a failing disk (tests/store/fault_fs.h): a failed fsync, a full disk, a power cut, a slow disk.
// What must hold every time: no acknowledged append is lost, nothing is acknowledged that is not durable, the
// caller gets a clear error, reads go on, and the log verifies after recovery or a restart.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "store/rocks_store.h"
#include "tests/store/fault_fs.h"
#include "tests/store/store_test_util.h"

namespace otinish::store {
namespace {

using testing::FaultFs;
using testing::TempDir;
using testing::make_event;

struct Appended {
  std::uint64_t position;
  std::string stream;
  std::uint64_t version;
  EventId id;
};

class FaultTest : public ::testing::Test {
 protected:
  std::unique_ptr<EventStore> open(std::chrono::milliseconds recovery_interval, bool faulty = true) {
    StoreOptions o;
    if (faulty) o.file_system = fs;
    o.recovery_interval = recovery_interval;
    auto s = open_rocks_store(dir.sub("log"), o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // One event with a fixed id, so that a retry can be told from a new append.
  Result<AppendResult> append(EventStore& store, const std::string& stream, const std::string& key,
                              std::size_t payload_bytes = 64) {
    EventData e = make_event("Noted", std::string(payload_bytes, 'x'));
    e.id = EventId::random();
    AppendOptions opts;
    opts.idempotency_key = key;
    auto r = store.append(stream, ExpectedVersion::any(), std::span<const EventData>(&e, 1), opts);
    if (r.ok() && !r->deduplicated) acked.push_back({r->first_position, stream, r->stream_version, e.id});
    return r;
  }

  // Every acknowledged append is in the log, at its position, with its id; the chain and indexes verify.
  void expect_intact(const EventStore& store) {
    for (const Appended& a : acked) {
      auto events = store.read_all(a.position, 1);
      ASSERT_TRUE(events.ok()) << events.status().ToString();
      ASSERT_EQ(events->size(), 1u) << "acknowledged position " << a.position << " is missing";
      EXPECT_EQ((*events)[0].id, a.id) << "position " << a.position;
      EXPECT_EQ((*events)[0].stream, a.stream);
      EXPECT_EQ((*events)[0].stream_version, a.version);
    }
    VerifyOptions vo;
    vo.indexes = true;
    auto report = verify_log(store, vo);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(report->ok) << report->to_string();
    EXPECT_EQ(report->events, store.head_position());
  }

  // How many events of `stream` carry idempotency key `key` (a retried append must be there exactly once).
  static std::size_t count_key(const EventStore& store, const std::string& stream, const std::string& key) {
    auto events = store.read_stream(stream, 1, Direction::kForward, 1'000'000);
    EXPECT_TRUE(events.ok());
    std::size_t n = 0;
    for (const auto& e : *events) n += e.idempotency_key == key;
    return n;
  }

  // One line per fault for docs/reliability.md (scripts/reliability.sh collects them): kind, faults injected,
  // acknowledged appends checked afterwards, how many of them were lost (always 0, or the test failed), outcome.
  void report(const std::string& kind, std::uint64_t injected, const std::string& outcome) {
    if (HasFailure()) return;
    std::printf("FAULT|%s|%llu|%zu|0|%s\n", kind.c_str(), static_cast<unsigned long long>(injected), acked.size(),
                outcome.c_str());
  }

  TempDir dir;
  std::shared_ptr<FaultFs> fs = std::make_shared<FaultFs>();
  std::vector<Appended> acked;
};

// A failed fsync: the waiting append fails with a message that says what to do, later appends are refused
// without touching the disk, reads go on up to the last durable event, and a restart recovers.
TEST_F(FaultTest, FailedFsyncRefusesAppendsUntilRestart) {
  auto store = open(std::chrono::hours(1));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(append(*store, "appeal-" + std::to_string(i % 3), "k" + std::to_string(i)).ok());
  fs->fail_syncs(FaultFs::Files::kWal, 0, 1);

  auto failed = append(*store, "appeal-x", "retry-me");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(failed.status().message().find("fsync failed (EIO)"), std::string::npos) << failed.status().message();
  EXPECT_NE(failed.status().message().find("same idempotency key"), std::string::npos);
  EXPECT_EQ(fs->failed_syncs(), 1u);

  const auto syncs = fs->syncs();
  for (int i = 0; i < 5; ++i) {
    auto refused = append(*store, "appeal-y", "refused-" + std::to_string(i));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  }
  EXPECT_EQ(fs->syncs(), syncs) << "a refused append must not reach the disk";

  // Reads stop at the last durable event: the failed append is not visible.
  EXPECT_EQ(store->head_position(), 20u);
  auto all = store->read_all(1, 100);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 20u);
  EXPECT_TRUE(verify_chain(*store).ok());

  store.reset();
  store = open(std::chrono::hours(1));
  ASSERT_TRUE(store);
  expect_intact(*store);
  // The failed append's outcome was unknown: retried with its key it is in the log exactly once.
  ASSERT_TRUE(append(*store, "appeal-x", "retry-me").ok());
  EXPECT_EQ(count_key(*store, "appeal-x", "retry-me"), 1u);
  ASSERT_TRUE(append(*store, "appeal-z", "after").ok());
  expect_intact(*store);
  report("fsync fails with EIO (once)", fs->failed_syncs(),
         "the waiting append got 503 unavailable; 5 more were refused without touching the disk; reads went on; "
         "a restart recovered and the retried append landed once");
}

// The same failure, recovered without a restart: the next append after the interval resumes the store, whose
// memtables RocksDB writes afresh into new synced files (nothing relies on the file whose fsync failed).
TEST_F(FaultTest, FailedFsyncRecoversInPlace) {
  auto store = open(std::chrono::milliseconds(0));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(append(*store, "appeal-a", "k" + std::to_string(i)).ok());
  fs->fail_syncs(FaultFs::Files::kWal, 0, 1);
  ASSERT_FALSE(append(*store, "appeal-a", "retry-me").ok());
  EXPECT_EQ(store->recoveries(), 0u);

  auto after = append(*store, "appeal-b", "after");
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(store->recoveries(), 1u);  // readers that keep state derived from unsynced appends read it again
  ASSERT_TRUE(append(*store, "appeal-a", "retry-me").ok());
  EXPECT_EQ(count_key(*store, "appeal-a", "retry-me"), 1u);
  // The stream's versions stay dense whatever became of the failed append.
  auto versions = store->read_stream("appeal-a", 1, Direction::kForward, 100);
  ASSERT_TRUE(versions.ok());
  for (std::size_t i = 0; i < versions->size(); ++i) EXPECT_EQ((*versions)[i].stream_version, i + 1);
  expect_intact(*store);

  // What recovery made durable survives a power cut right after it.
  fs->power_cut();
  store.reset();
  fs->drop_unsynced();
  store = open(std::chrono::milliseconds(0), /*faulty=*/false);
  expect_intact(*store);
  report("fsync fails with EIO, recovery in place", fs->failed_syncs(),
         "the waiting append got 503 unavailable; the next append reopened the store (after a synced probe) and "
         "landed; a power cut right after lost nothing acknowledged");
}

// A subscription's handler runs under the store's read lock. An append from it may make its thread the group
// commit's leader, and that leader must not try to recover (it would wait for a lock it holds itself): it is
// refused at once, and the next append from another thread recovers.
TEST_F(FaultTest, AnAppendFromASubscriptionHandlerLeavesRecoveryToAnotherThread) {
  auto store = open(std::chrono::milliseconds(0));
  ASSERT_TRUE(append(*store, "appeal-a", "k0").ok());
  fs->fail_syncs(FaultFs::Files::kWal, 0, 1);
  ASSERT_FALSE(append(*store, "appeal-a", "fails").ok());
  std::promise<Status> in_handler;
  auto sub = store->subscribe(0, [&](const RecordedEvent& e) {
    if (e.position == 1) {
      EventData d = make_event("Noted", "from a handler");
      in_handler.set_value(store->append("appeal-h", ExpectedVersion::any(), std::span<const EventData>(&d, 1))
                               .status());
    }
    return Status::Ok();
  });
  auto answered = in_handler.get_future();
  ASSERT_EQ(answered.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  const Status st = answered.get();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  EXPECT_EQ(st.message().find("last attempt to recover"), std::string::npos)
      << "the handler's thread tried to recover: " << st.message();
  auto after = append(*store, "appeal-b", "after");
  EXPECT_TRUE(after.ok()) << "another thread's append recovers: " << after.status().ToString();
  sub->stop();
  sub.reset();
  expect_intact(*store);
}

// A disk that stays broken: every attempt to recover fails and says so; appends stay refused.
TEST_F(FaultTest, RecoveryThatKeepsFailingKeepsRefusing) {
  auto store = open(std::chrono::milliseconds(0));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(append(*store, "appeal-a", "k" + std::to_string(i)).ok());
  fs->fail_syncs(FaultFs::Files::kAny, 0, -1);
  for (int i = 0; i < 5; ++i) {
    auto r = append(*store, "appeal-a", "broken-" + std::to_string(i));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  }
  EXPECT_EQ(store->head_position(), 5u);
  fs->fail_syncs(FaultFs::Files::kAny, 0, 0);
  auto healed = append(*store, "appeal-a", "healed");
  ASSERT_TRUE(healed.ok()) << healed.status().ToString();
  expect_intact(*store);
  report("every fsync fails with EIO", fs->failed_syncs(),
         "appends refused while the disk kept failing (each recovery attempt failed on its probe); resumed when "
         "it healed");
}

// A full disk: appends fail with a clear error and write nothing, reads go on, and appends resume once space
// is freed, without a restart.
TEST_F(FaultTest, DiskFullRefusesThenResumes) {
  auto store = open(std::chrono::milliseconds(0));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(append(*store, "appeal-a", "k" + std::to_string(i)).ok());
  fs->set_no_space(true);
  for (int i = 0; i < 20; ++i) {
    auto r = append(*store, "appeal-b", "full-" + std::to_string(i), 16 << 10);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(r.status().message().find("no space"), std::string::npos) << r.status().message();
  }
  EXPECT_GT(fs->failed_writes(), 0u);
  auto all = store->read_all(1, 100);
  ASSERT_TRUE(all.ok());
  EXPECT_GE(all->size(), 10u);
  EXPECT_EQ(store->read_stream("appeal-a", 1, Direction::kForward, 100)->size(), 10u);

  fs->set_no_space(false);
  auto resumed = append(*store, "appeal-b", "after");
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  expect_intact(*store);
  store.reset();
  store = open(std::chrono::milliseconds(0));
  expect_intact(*store);
  report("writes fail with ENOSPC", fs->failed_writes(),
         "appends got 503 unavailable (no space), nothing half-written; reads went on; appends resumed by "
         "themselves when space returned");
}

// Power cuts at random moments under concurrent appends (some rounds on a slow disk): whatever was
// acknowledged survives; what was not synced is dropped, and the log still verifies.
TEST_F(FaultTest, PowerCutKeepsEveryAcknowledgedAppend) {
  constexpr int kRounds = 8;
  constexpr int kWriters = 8;
  std::mt19937_64 rng(::testing::UnitTest::GetInstance()->random_seed());
  std::uint64_t dropped = 0;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    fs->set_sync_delay(std::chrono::microseconds(round % 2 ? 2'000 : 0));
    auto store = open(std::chrono::hours(1));
    ASSERT_TRUE(store);
    std::mutex mu;
    std::atomic<bool> stop{false};
    std::atomic<int> acks{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        for (int i = 0; !stop.load(); ++i) {
          EventData e = make_event("Noted", std::string(200, static_cast<char>('a' + w)));
          e.id = EventId::random();
          const std::string stream = "appeal-" + std::to_string(round) + "-" + std::to_string(w);
          auto r = store->append(stream, ExpectedVersion::any(), std::span<const EventData>(&e, 1), {});
          // Acknowledged after the cut: its sync "succeeded" on a machine that is off (fault_fs.h).
          if (!r.ok() || fs->power_off()) return;
          std::lock_guard lock(mu);
          acked.push_back({r->first_position, stream, r->stream_version, e.id});
          ++acks;
        }
      });
    }
    const int cut_after = std::uniform_int_distribution<int>(1, 400)(rng);
    while (acks.load() < cut_after) std::this_thread::yield();
    fs->power_cut();
    stop = true;
    for (auto& t : writers) t.join();
    store.reset();
    fs->drop_unsynced();
    store = open(std::chrono::hours(1));
    ASSERT_TRUE(store);
    expect_intact(*store);
    dropped += fs->dropped_bytes();
  }
  // The cuts did drop unsynced data (else the test proves nothing about it).
  EXPECT_GT(dropped, 0u);
  report("power cut under 8 writers (half the rounds on a 2 ms fsync)", kRounds,
         std::to_string(dropped) + " unsynced bytes dropped; every acknowledged append present, chain and "
         "indexes verified after each cut");
}

}  // namespace
}  // namespace otinish::store
