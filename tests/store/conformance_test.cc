// The EventStore contract, run unchanged against both implementations: the embedded RocksDB log and the log
// on a three-server NATS JetStream cluster (started by scripts/nats-cluster.sh on loopback for this process,
// stopped at its end). Then what only a shared log has: two nodes on one cluster.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "store/jetstream_store.h"
#include "store/merkle.h"
#include "store/nats_client.h"
#include "store/rocks_store.h"
#include "tests/store/nats_cluster.h"
#include "tests/store/store_test_util.h"

namespace otinish::store {
namespace {

using testing::Cluster;
using testing::make_event;
using testing::TempDir;

std::string unique_name(const std::string& base) {
  static std::atomic<int> n{0};
  return base + std::to_string(getpid()) + "x" + std::to_string(++n);
}

// A fresh, empty log of the backend under test; `node` opens another node on the same log (JetStream only).
struct Backend {
  std::string name;
  std::function<std::unique_ptr<EventStore>(const std::string& log)> open;
};

std::unique_ptr<EventStore> open_jetstream(const std::string& log, std::chrono::seconds window = std::chrono::seconds(120),
                                           std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  Cluster& c = Cluster::get();
  if (!c.ok()) return nullptr;
  JetStreamOptions o;
  o.urls = c.urls();
  o.stream = "T" + log;
  o.subject_prefix = "t" + log;
  o.replicas = 3;
  o.duplicate_window = window;
  o.timeout = timeout;
  auto s = open_jetstream_store(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

class Conformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    log_ = unique_name("L");
    store_ = GetParam().open(log_);
    if (!store_ && GetParam().name == "jetstream") {
      GTEST_FAIL() << "no JetStream cluster: " << Cluster::get().error();
    }
    ASSERT_NE(store_, nullptr);
  }
  EventStore& store() { return *store_; }
  TempDir dir_;
  std::string log_;
  std::unique_ptr<EventStore> store_;
};

TEST_P(Conformance, PositionsAndVersionsAreDenseAndReadsGiveBackWhatWasAppended) {
  const std::vector<EventData> two{make_event("A", "one"), make_event("B", "two")};
  auto r = store().append("appeal-SHY-2026-0000001", ExpectedVersion::no_stream(), two);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->first_position, 1u);
  EXPECT_EQ(r->last_position, 2u);
  EXPECT_EQ(r->stream_version, 2u);
  const EventData other = make_event("C", "three");
  auto r2 = store().append("numbers.SHY 2026/x", ExpectedVersion::any(), {&other, 1});
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r2->first_position, 3u);
  EXPECT_EQ(r2->stream_version, 1u);
  auto read = store().read_stream("appeal-SHY-2026-0000001", 1, Direction::kForward, 10);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[1].type, "B");
  EXPECT_EQ((*read)[1].payload, "two");
  EXPECT_EQ((*read)[1].stream_version, 2u);
  EXPECT_EQ((*read)[1].actor.role, "operator");
  auto back = store().read_stream("appeal-SHY-2026-0000001", UINT64_MAX, Direction::kBackward, 1);
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].stream_version, 2u);
  auto odd = store().read_stream("numbers.SHY 2026/x", 1, Direction::kForward, 10);
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->at(0).stream, "numbers.SHY 2026/x");
  EXPECT_EQ(store().read_stream("nothing-here", 1, Direction::kForward, 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*store().stream_version("appeal-SHY-2026-0000001"), 2u);
  EXPECT_EQ(*store().stream_version("nothing-here"), 0u);
  EXPECT_EQ(store().head_position(), 3u);
  auto all = store().read_all(1, 100);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  for (std::size_t i = 0; i < all->size(); ++i) EXPECT_EQ((*all)[i].position, i + 1);
  auto report = verify_chain(store());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->to_string();
  EXPECT_EQ(report->events, 3u);
  EXPECT_EQ(report->head_hash, store().head_hash());
  EXPECT_TRUE(report->tree_checked) << "the store keeps the Merkle tree, and its root is the one recomputed";
  auto proof = store().inclusion_proof(2, 3);
  ASSERT_TRUE(proof.ok()) << proof.status().ToString();
  EXPECT_TRUE(merkle::verify_inclusion(1, 3, merkle::leaf_hash((*all)[1].hash), *proof, *store().tree_root(3)));
}

TEST_P(Conformance, AWrongExpectedVersionIsAConflictThatSaysTheVersionNow) {
  const EventData e = make_event("A", "x");
  ASSERT_TRUE(store().append("s", ExpectedVersion::no_stream(), {&e, 1}).ok());
  auto again = store().append("s", ExpectedVersion::no_stream(), {&e, 1});
  EXPECT_EQ(again.status().code(), StatusCode::kConflict);
  EXPECT_EQ(again.status().current_version(), 1u);
  auto stale = store().append("s", ExpectedVersion::exact(5), {&e, 1});
  EXPECT_EQ(stale.status().code(), StatusCode::kConflict);
  EXPECT_EQ(stale.status().current_version(), 1u);
  auto next = store().append("s", ExpectedVersion::exact(1), {&e, 1});
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->stream_version, 2u);
  EXPECT_EQ(store().head_position(), 2u);
}

TEST_P(Conformance, ARepeatedIdempotencyKeyAnswersTheFirstAppendAndRefusesADifferentOne) {
  const EventData e = make_event("A", "x");
  auto first = store().append("s", ExpectedVersion::any(), {&e, 1}, {.idempotency_key = "desk-7/call-12"});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto again = store().append("s", ExpectedVersion::any(), {&e, 1}, {.idempotency_key = "desk-7/call-12"});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->deduplicated);
  EXPECT_EQ(again->first_position, first->first_position);
  EXPECT_EQ(again->stream_version, first->stream_version);
  const EventData other = make_event("A", "y");
  EXPECT_EQ(store().append("s", ExpectedVersion::any(), {&other, 1}, {.idempotency_key = "desk-7/call-12"}).status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(store().head_position(), 1u);
}

TEST_P(Conformance, BadAppendsAreRefusedBeforeAnythingIsWritten) {
  const EventData e = make_event("A", "x");
  EXPECT_EQ(store().append("", ExpectedVersion::any(), {&e, 1}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store().append("s", ExpectedVersion::any(), {}).status().code(), StatusCode::kInvalidArgument);
  const EventData untyped = make_event("", "x");
  EXPECT_EQ(store().append("s", ExpectedVersion::any(), {&untyped, 1}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store().append("s", ExpectedVersion::any(), {&e, 1}, {.idempotency_key = std::string(300, 'k')})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store().head_position(), 0u);
}

TEST_P(Conformance, ASubscriptionDeliversEveryEventOnceInOrderWhileFourThreadsAppend) {
  std::mutex mu;
  std::vector<std::uint64_t> seen;
  auto sub = store().subscribe(0, [&](const RecordedEvent& e) {
    std::lock_guard lock(mu);
    seen.push_back(e.position);
    return Status::Ok();
  });
  constexpr int kThreads = 4, kEach = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const EventData e = make_event("A", std::to_string(t * 100 + i));
        auto r = store().append("stream-" + std::to_string(t), ExpectedVersion::exact(i), {&e, 1});
        ASSERT_TRUE(r.ok()) << r.status().ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(sub->wait_for(kThreads * kEach, std::chrono::seconds(20)));
  sub->stop();
  std::lock_guard lock(mu);
  ASSERT_EQ(seen.size(), std::size_t{kThreads * kEach});
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], i + 1);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(*store().stream_version("stream-" + std::to_string(t)), std::uint64_t{kEach});
}

INSTANTIATE_TEST_SUITE_P(
    Backends, Conformance,
    ::testing::Values(Backend{"rocksdb",
                              [](const std::string& log) -> std::unique_ptr<EventStore> {
                                static TempDir dir;
                                auto s = open_rocks_store(dir.sub(log));
                                EXPECT_TRUE(s.ok()) << s.status().ToString();
                                return s.ok() ? std::move(s).value() : nullptr;
                              }},
                      Backend{"jetstream", [](const std::string& log) { return open_jetstream(log); }}),
    [](const ::testing::TestParamInfo<Backend>& info) { return info.param.name; });

// ---- what only a shared log has: two nodes ------------------------------------------------------------------

// Two nodes append to the same streams with expected versions, as two engine nodes would for one appeal: every
// version is won exactly once (no lost update), the losers get kConflict, and both nodes derive the same log:
// the same positions and the same hash chain.
// A cluster electing a leader or recovering after its servers restarted answers "temporarily unavailable": a
// node opening then retries within its timeout (kUnavailable) instead of failing at once (kIOError).
TEST(JetStreamErrors, TheClustersPassingRefusalsAreUnavailableTheOthersAnIOError) {
  for (jsErrCode passing : {JSClusterNotAvailErr, JSClusterNotLeaderErr, JSStreamOfflineErr, JSConsumerOfflineErr}) {
    const Status s = from_nats(NATS_ERR, passing, "following the JetStream stream X");
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
    EXPECT_NE(s.message().find("[JetStream error " + std::to_string(static_cast<int>(passing)) + "]"),
              std::string::npos);
  }
  EXPECT_EQ(from_nats(NATS_ERR, JSStreamNotFoundErr, "looking up").code(), StatusCode::kIOError);
  EXPECT_EQ(from_nats(NATS_ERR, static_cast<jsErrCode>(0), "looking up").code(), StatusCode::kIOError);
  EXPECT_EQ(from_nats(NATS_TIMEOUT, static_cast<jsErrCode>(0), "appending").code(), StatusCode::kUnavailable);
}

TEST(JetStreamTwoNodes, ExpectedVersionsResolveConcurrentAppendsAndBothNodesDeriveOneChain) {
  const std::string log = unique_name("N");
  auto a = open_jetstream(log);
  auto b = open_jetstream(log);
  ASSERT_TRUE(a && b) << Cluster::get().error();
  std::atomic<int> won{0}, conflicts{0};
  auto desk = [&](EventStore& s, int id) {
    for (int i = 0; i < 30; ++i) {
      auto v = s.stream_version("appeal-SHY-2026-0000042");
      ASSERT_TRUE(v.ok());
      const EventData e = make_event("Commented", "node " + std::to_string(id) + " #" + std::to_string(i));
      auto r = s.append("appeal-SHY-2026-0000042", ExpectedVersion::exact(*v), {&e, 1});
      if (r.ok()) {
        ++won;
      } else {
        ASSERT_EQ(r.status().code(), StatusCode::kConflict) << r.status().ToString();
        ++conflicts;
      }
    }
  };
  std::thread ta([&] { desk(*a, 1); });
  std::thread tb([&] { desk(*b, 2); });
  ta.join();
  tb.join();
  EXPECT_EQ(won + conflicts, 60);
  EXPECT_EQ(*a->stream_version("appeal-SHY-2026-0000042"), std::uint64_t(won.load()));
  EXPECT_EQ(*b->stream_version("appeal-SHY-2026-0000042"), std::uint64_t(won.load()));
  auto versions = a->read_stream("appeal-SHY-2026-0000042", 1, Direction::kForward, 1000);
  ASSERT_TRUE(versions.ok());
  for (std::size_t i = 0; i < versions->size(); ++i) EXPECT_EQ((*versions)[i].stream_version, i + 1);
  EXPECT_EQ(a->head_position(), b->head_position());
  EXPECT_EQ(a->head_hash(), b->head_hash());
  EXPECT_EQ(*a->tree_root(a->head_position()), *b->tree_root(b->head_position()));
  auto report = verify_chain(*b);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->to_string();
}

// JetStream forgets a Nats-Msg-Id after its duplicate window; the store does not. A re-send after the window,
// from the same node or from another, answers the first append and adds nothing to the log; a node that starts
// afterwards derives the same log.
TEST(JetStreamTwoNodes, IdempotencyHoldsPastJetStreamsDuplicateWindowOnEveryNode) {
  const std::string log = unique_name("W");
  auto a = open_jetstream(log, std::chrono::seconds(1));
  auto b = open_jetstream(log, std::chrono::seconds(1));
  ASSERT_TRUE(a && b) << Cluster::get().error();
  const EventData e = make_event("AppealRegistered", "the lift is stuck");
  auto first = a->append("appeal-SHY-2026-0000001", ExpectedVersion::any(), {&e, 1}, {.idempotency_key = "call-1"});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto from_b = b->append("appeal-SHY-2026-0000001", ExpectedVersion::any(), {&e, 1}, {.idempotency_key = "call-1"});
  ASSERT_TRUE(from_b.ok()) << from_b.status().ToString();
  EXPECT_TRUE(from_b->deduplicated);
  EXPECT_EQ(from_b->first_position, first->first_position);
  auto from_a = a->append("appeal-SHY-2026-0000001", ExpectedVersion::any(), {&e, 1}, {.idempotency_key = "call-1"});
  ASSERT_TRUE(from_a.ok());
  EXPECT_TRUE(from_a->deduplicated);
  EXPECT_EQ(a->head_position(), 1u);
  EXPECT_EQ(b->head_position(), 1u);
  auto c = open_jetstream(log, std::chrono::seconds(1));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->head_position(), 1u);
  EXPECT_EQ(c->head_hash(), a->head_hash());
}

// ---- servers that die, stop or come back ---------------------------------------------------------------------

// One server alone is a minority of three: with the two others stopped (SIGSTOP, as a machine that hangs), no
// append is acknowledged; it fails within the timeout, and once they continue appends are acknowledged again.
// Nothing is lost or doubled: the log holds what was acknowledged, and the one in doubt at most once.
TEST(JetStreamFaults, AMinorityNeverAcknowledgesAnAppend) {
  Cluster& cluster = Cluster::get();
  auto s = open_jetstream(unique_name("M"), std::chrono::seconds(120), std::chrono::milliseconds(2000));
  ASSERT_TRUE(s) << cluster.error();
  const EventData e = make_event("A", "before");
  ASSERT_TRUE(s->append("s", ExpectedVersion::any(), {&e, 1}).ok());
  ASSERT_TRUE(cluster.signal("stopsig 2"));
  ASSERT_TRUE(cluster.signal("stopsig 3"));
  const EventData during = make_event("A", "during");
  auto r = s->append("s", ExpectedVersion::any(), {&during, 1}, {.idempotency_key = "in-doubt"});
  const StatusCode code = r.status().code();
  ASSERT_TRUE(cluster.signal("cont 2"));
  ASSERT_TRUE(cluster.signal("cont 3"));
  EXPECT_FALSE(r.ok()) << "acknowledged by a minority: " << r->first_position;
  EXPECT_EQ(code, StatusCode::kUnavailable) << r.status().ToString();
  // The cluster recovers; the append in doubt, re-sent with its key, is in the log once.
  Result<AppendResult> again = Status::Unavailable("not tried");
  for (int i = 0; i < 50 && !again.ok(); ++i) {
    again = s->append("s", ExpectedVersion::any(), {&during, 1}, {.idempotency_key = "in-doubt"});
    if (!again.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*s->stream_version("s"), 2u);
}

// A server killed under load and restarted: every acknowledged append is in the log exactly once, stream
// versions stay dense, and appends resume (the client reconnects to another server).
TEST(JetStreamFaults, AKilledServerLosesNoAcknowledgedAppend) {
  Cluster& cluster = Cluster::get();
  const std::string log = unique_name("K");
  auto s = open_jetstream(log, std::chrono::seconds(120), std::chrono::milliseconds(3000));
  ASSERT_TRUE(s) << cluster.error();
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::set<std::string> acknowledged;
  std::atomic<int> failed{0};
  std::vector<std::thread> desks;
  for (int d = 0; d < 4; ++d) {
    desks.emplace_back([&, d] {
      for (int i = 0; !stop.load(); ++i) {
        const std::string id = std::to_string(d) + "-" + std::to_string(i);
        const EventData e = make_event("A", id);
        // Each append is re-sent with its key until acknowledged, as a desk would.
        for (int attempt = 0; attempt < 20; ++attempt) {
          auto r = s->append("desk-" + std::to_string(d), ExpectedVersion::any(), {&e, 1}, {.idempotency_key = id});
          if (r.ok()) {
            std::lock_guard lock(mu);
            acknowledged.insert(id);
            break;
          }
          ++failed;
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(cluster.signal("kill 1"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ASSERT_TRUE(cluster.signal("restart 1"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  stop.store(true);
  for (auto& t : desks) t.join();
  // Read back through a node that starts now.
  auto fresh = open_jetstream(log);
  ASSERT_TRUE(fresh);
  std::multiset<std::string> in_log;
  auto all = fresh->read_all(1, 1'000'000);
  ASSERT_TRUE(all.ok());
  for (const RecordedEvent& e : *all) in_log.insert(e.payload);
  for (const std::string& id : acknowledged) EXPECT_EQ(in_log.count(id), 1u) << id;
  for (int d = 0; d < 4; ++d) {
    auto events = fresh->read_stream("desk-" + std::to_string(d), 1, Direction::kForward, 1'000'000);
    ASSERT_TRUE(events.ok());
    for (std::size_t i = 0; i < events->size(); ++i) EXPECT_EQ((*events)[i].stream_version, i + 1);
  }
  EXPECT_GT(acknowledged.size(), 20u);
  std::printf("acknowledged %zu appends across the kill; %d attempts failed and were re-sent\n", acknowledged.size(),
              failed.load());
  auto report = verify_chain(*fresh);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->to_string();
}

// The stream loses what a node applied (here deleted and created again by another node, as JetStream may lose
// its last acknowledged messages when all its servers are killed at once) and goes on with other messages at
// those sequences. The node does not fork the log: it applies none of them, and refuses appends and reads with
// kCorruption, saying what happened; a node that starts afterwards follows the stream as it now is.
TEST(JetStreamFaults, ANodeWhoseAppliedMessagesTheStreamLostStopsInsteadOfForkingTheLog) {
  const std::string log = unique_name("B");
  // A timeout long enough for the client library to notice that its consumer is gone (missed heartbeats).
  auto a = open_jetstream(log, std::chrono::seconds(120), std::chrono::seconds(30));
  ASSERT_TRUE(a) << Cluster::get().error();
  for (int i = 0; i < 5; ++i) {
    const EventData e = make_event("A", "before " + std::to_string(i));
    ASSERT_TRUE(a->append("s", ExpectedVersion::any(), {&e, 1}).ok());
  }
  const Hash256 head_before = a->head_hash();
  {
    auto admin = connect_nats(Cluster::get().urls(), std::chrono::seconds(5));
    ASSERT_TRUE(admin.ok()) << admin.status().ToString();
    jsErrCode jerr = static_cast<jsErrCode>(0);
    ASSERT_EQ(js_DeleteStream((*admin)->js, ("T" + log).c_str(), nullptr, &jerr), NATS_OK) << jerr;
  }
  auto b = open_jetstream(log);
  ASSERT_TRUE(b);
  for (int i = 0; i < 8; ++i) {
    const EventData e = make_event("A", "after " + std::to_string(i));
    ASSERT_TRUE(b->append("s", ExpectedVersion::any(), {&e, 1}).ok());
  }
  // Node a notices, whether its follower does first or its next append does (this one may be in the stream:
  // it can be published before node a knows).
  const EventData e = make_event("A", "from a");
  Result<AppendResult> r = a->append("s", ExpectedVersion::any(), {&e, 1}, {.idempotency_key = "a-1"});
  ASSERT_FALSE(r.ok()) << "appended at position " << r->first_position;
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
  EXPECT_NE(r.status().message().find("no longer holds the messages this node applied up to message 5"),
            std::string::npos)
      << r.status().ToString();
  auto read = a->read_stream("s", 1, Direction::kForward, 100);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(a->head_position(), 5u) << "node a applied messages of the new stream after its own";
  EXPECT_EQ(a->head_hash(), head_before);
  // A node started now follows the stream as it is, as the node that wrote to it does.
  auto fresh = open_jetstream(log);
  ASSERT_TRUE(fresh);
  EXPECT_GE(fresh->head_position(), 8u);
  EXPECT_EQ(fresh->head_hash(), b->head_hash());
  auto report = verify_chain(*fresh);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->to_string();
}

}  // namespace
}  // namespace otinish::store
