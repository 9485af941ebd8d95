// The server on a failing disk: a registration whose fsync fails answers 503 problem+json with Retry-After
// and leaves nothing half-done; reads go on; the same request retried with its Idempotency-Key after the
// store recovered registers the appeal exactly once; a restart finds everything acknowledged.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "tests/api/test_node.h"
#include "tests/store/fault_fs.h"

namespace otinish::api {
namespace {

using testing::TestNode;
using testing::TestNodeSetup;
using FaultFs = store::testing::FaultFs;

constexpr std::string_view kBody =
    R"({"centre":"SHY","category":"complaint","topic":"lifts.stuck","channel":"phone",)"
    R"("location":{"district":"Abay","street":"Tauke khan"},"text":"the lift is stuck",)"
    R"("applicant":{"name":"Aigerim","phone":"+7 700 123 4567","address":"Tauke khan 5, flat 12"}})";

std::set<std::string> appeal_ids(TestNode& node) {
  std::set<std::string> ids;
  // A list waits until the views hold every appeal the log has.
  ClientResponse r = node.as(Role::kAuditor, "GET", "/v1/appeals?limit=1000");
  EXPECT_EQ(r.status, 200) << r.body;
  const boost::json::value list = TestNode::json(r);
  for (const auto& a : list.at("appeals").as_array()) ids.insert(a.at("id").as_string().c_str());
  return ids;
}

class DiskFaultTest : public ::testing::Test {
 protected:
  std::shared_ptr<FaultFs> fs = std::make_shared<FaultFs>();
  TestNodeSetup setup() {
    TestNodeSetup s;
    s.file_system = fs;
    s.store_recovery_interval = std::chrono::milliseconds(0);
    return s;
  }
};

TEST_F(DiskFaultTest, FailedFsyncAnswers503AndTheRetryRegistersOnce) {
  TestNode node(testing::make_temp_dir(), {}, setup());
  const std::string first = node.register_appeal();

  // Every WAL fsync fails until the disk is mended: background appends (the read audit, the SLA service)
  // cannot use the one failure up, nor recover the store before the registration arrives.
  fs->fail_syncs(FaultFs::Files::kWal, 0, -1);
  ClientResponse failed = node.as(Role::kOperator, "POST", "/v1/appeals", kBody, {{"Idempotency-Key", "desk-7-0001"}});
  ASSERT_EQ(failed.status, 503) << failed.body;
  EXPECT_EQ(failed.header("content-type"), "application/problem+json");
  EXPECT_EQ(failed.header("retry-after"), "1");
  const auto problem = TestNode::json(failed);
  EXPECT_EQ(problem.at("type").as_string(), "urn:otinish:problem:unavailable");
  EXPECT_NE(std::string(problem.at("detail").as_string().c_str()).find("fsync failed"), std::string::npos)
      << failed.body;

  // Reads go on while the store is failed.
  EXPECT_EQ(node.as(Role::kAuditor, "GET", "/v1/appeals/" + first).status, 200);

  fs->fail_syncs(FaultFs::Files::kWal, 0, 0);
  // The retry (same key, same body) after recovery registers the appeal once, whatever became of the first try.
  ClientResponse retried = node.as(Role::kOperator, "POST", "/v1/appeals", kBody, {{"Idempotency-Key", "desk-7-0001"}});
  ASSERT_EQ(retried.status, 201) << retried.body;
  const std::string second = TestNode::json(retried).at("id").as_string().c_str();
  ClientResponse again = node.as(Role::kOperator, "POST", "/v1/appeals", kBody, {{"Idempotency-Key", "desk-7-0001"}});
  EXPECT_EQ(TestNode::json(again).at("id").as_string(), second);
  EXPECT_EQ(appeal_ids(node), (std::set<std::string>{first, second}));

  node.restart();
  EXPECT_EQ(appeal_ids(node), (std::set<std::string>{first, second}));
  ClientResponse verify = node.as(Role::kAuditor, "GET", "/v1/log/verify");
  EXPECT_NE(verify.status, 500) << verify.body;
}

// A full disk: registrations answer 503 and reads 200 while it lasts; registrations resume when space returns.
TEST_F(DiskFaultTest, DiskFullRefusesThenResumes) {
  TestNode node(testing::make_temp_dir(), {}, setup());
  const std::string first = node.register_appeal();
  fs->set_no_space(true);
  for (int i = 0; i < 3; ++i) {
    ClientResponse r = node.as(Role::kOperator, "POST", "/v1/appeals", kBody,
                               {{"Idempotency-Key", "full-" + std::to_string(i)}});
    ASSERT_EQ(r.status, 503) << r.body;
    EXPECT_NE(r.body.find("no space"), std::string::npos) << r.body;
  }
  EXPECT_EQ(node.as(Role::kAuditor, "GET", "/v1/appeals/" + first).status, 200);
  fs->set_no_space(false);
  const std::string after = node.register_appeal();
  EXPECT_EQ(appeal_ids(node).count(after), 1u);
}

// A registration is answered from its append's completion, not by a worker waiting for the fsync: with ONE
// worker thread and a 200 ms fsync, eight registrations sent at once share the fsyncs. A worker that waited
// would take them one after another, each with an fsync of its own (eight or more).
TEST_F(DiskFaultTest, ASlowFsyncHoldsNoWorkerThread) {
  TestNodeSetup s = setup();
  s.worker_threads = 1;
  TestNode node(testing::make_temp_dir(), {}, s);
  node.register_appeal();  // the applicant's key is written now: the eight below are a returning applicant's
  fs->set_sync_delay(std::chrono::milliseconds(200));
  const store::CommitStats before = node.node().store().commit_stats();
  constexpr int kDesks = 8;
  std::vector<ClientResponse> answers(kDesks);
  std::vector<std::thread> desks;
  for (int i = 0; i < kDesks; ++i) {
    desks.emplace_back([&, i] {
      answers[i] = node.as(Role::kOperator, "POST", "/v1/appeals", kBody,
                           {{"Idempotency-Key", "desk-" + std::to_string(i)}});
    });
  }
  for (auto& d : desks) d.join();
  const store::CommitStats after = node.node().store().commit_stats();
  fs->set_sync_delay(std::chrono::microseconds(0));
  std::set<std::string> ids;
  for (const ClientResponse& r : answers) {
    ASSERT_EQ(r.status, 201) << r.body;
    ids.insert(TestNode::json(r).at("id").as_string().c_str());
  }
  EXPECT_EQ(ids.size(), std::size_t{kDesks});
  EXPECT_LT(after.syncs - before.syncs, std::uint64_t{kDesks})
      << "each registration had an fsync of its own: the one worker waited for each";
  // Every registration answered is in the log, after a restart too.
  node.restart();
  const std::set<std::string> listed = appeal_ids(node);
  for (const std::string& id : ids) EXPECT_EQ(listed.count(id), 1u) << id;
}

// The same for commands on appeals: with ONE worker and a 200 ms fsync, eight desks sending a command each to
// its own appeal at once share the fsyncs; each is answered 200 and is in the log after a restart.
TEST_F(DiskFaultTest, ASlowFsyncHoldsNoWorkerThreadForCommands) {
  TestNodeSetup s = setup();
  s.worker_threads = 1;
  TestNode node(testing::make_temp_dir(), {}, s);
  constexpr int kDesks = 8;
  std::vector<std::string> ids;
  for (int i = 0; i < kDesks; ++i) ids.push_back(node.register_appeal());
  fs->set_sync_delay(std::chrono::milliseconds(200));
  const store::CommitStats before = node.node().store().commit_stats();
  std::vector<ClientResponse> answers(kDesks);
  std::vector<std::thread> desks;
  for (int i = 0; i < kDesks; ++i) {
    desks.emplace_back([&, i] {
      answers[i] = node.as(Role::kOperator, "POST", "/v1/appeals/" + ids[i] + "/send_for_review", "",
                           {{"Idempotency-Key", "review-" + std::to_string(i)}, {"If-Match", "\"1\""}});
    });
  }
  for (auto& d : desks) d.join();
  const store::CommitStats after = node.node().store().commit_stats();
  fs->set_sync_delay(std::chrono::microseconds(0));
  for (const ClientResponse& r : answers) {
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(TestNode::json(r).at("stage").as_string(), "under_review") << r.body;
  }
  EXPECT_LT(after.syncs - before.syncs, std::uint64_t{kDesks})
      << "each command had an fsync of its own: the one worker waited for each";
  node.restart();
  for (const std::string& id : ids) {
    ClientResponse r = node.as(Role::kAuditor, "GET", "/v1/appeals/" + id);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(TestNode::json(r).at("stage").as_string(), "under_review") << id;
  }
}

// Eight desks commenting on ONE appeal at once, with one worker and a 200 ms fsync: the comments are taken in
// turn (each decided on what the one before left, so none is refused as a conflict), and meanwhile the worker
// is free: a command on another appeal, sent after them, is answered before they are all done. A worker that
// waited for each comment's fsync would answer it after all eight.
TEST_F(DiskFaultTest, CommandsOnOneAppealTakeTurnsWithoutHoldingTheWorker) {
  TestNodeSetup s = setup();
  s.worker_threads = 1;
  TestNode node(testing::make_temp_dir(), {}, s);
  const std::string busy = node.register_appeal();
  const std::string other = node.register_appeal();
  fs->set_sync_delay(std::chrono::milliseconds(200));
  constexpr int kDesks = 8;
  std::vector<ClientResponse> answers(kDesks);
  std::vector<std::thread> desks;
  std::atomic<int> commented{0};
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kDesks; ++i) {
    desks.emplace_back([&, i] {
      answers[i] = node.as(Role::kOperator, "POST", "/v1/appeals/" + busy + "/comment",
                           R"({"text":"desk )" + std::to_string(i) + R"( called back"})",
                           {{"Idempotency-Key", "note-" + std::to_string(i)}, {"If-Match", "*"}});
      commented.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the eight are in
  ClientResponse review = node.as(Role::kOperator, "POST", "/v1/appeals/" + other + "/send_for_review", "",
                                  {{"Idempotency-Key", "review-other"}, {"If-Match", "*"}});
  const int commented_before_review = commented.load();
  for (auto& d : desks) d.join();
  const auto all_took = std::chrono::steady_clock::now() - t0;
  fs->set_sync_delay(std::chrono::microseconds(0));
  ASSERT_EQ(review.status, 200) << review.body;
  std::set<std::int64_t> versions;
  for (const ClientResponse& r : answers) {
    ASSERT_EQ(r.status, 200) << r.body;
    versions.insert(TestNode::json(r).at("stream_version").as_int64());
  }
  EXPECT_EQ(versions.size(), std::size_t{kDesks});
  EXPECT_GE(all_took, std::chrono::milliseconds(200 * kDesks)) << "the comments did not take turns";
  EXPECT_LT(commented_before_review, kDesks)
      << "the other appeal's command waited for every comment: the one worker was held";
}

// The same for eight new applicants: each one's key is written when it is sealed and synced before its appeal
// is appended, and the worker must not wait for that fsync either. Waiting, the one worker would make the eight
// keys durable one at a time: eight fsyncs of the key store.
TEST_F(DiskFaultTest, ANewApplicantsKeySyncHoldsNoWorkerThread) {
  TestNodeSetup s = setup();
  s.worker_threads = 1;
  TestNode node(testing::make_temp_dir(), {}, s);
  node.register_appeal();
  fs->set_sync_delay(std::chrono::milliseconds(200));
  const std::uint64_t log_syncs = node.node().store().commit_stats().syncs;
  const std::uint64_t all_syncs = fs->syncs();
  constexpr int kDesks = 8;
  std::vector<ClientResponse> answers(kDesks);
  std::vector<std::thread> desks;
  for (int i = 0; i < kDesks; ++i) {
    desks.emplace_back([&, i] {
      std::string body(kBody);
      body.replace(body.find("123 4567"), 8, "987 650" + std::to_string(i));  // another person each
      answers[i] = node.as(Role::kOperator, "POST", "/v1/appeals", body, {{"Idempotency-Key", "new-" + std::to_string(i)}});
    });
  }
  for (auto& d : desks) d.join();
  const std::uint64_t key_syncs = (fs->syncs() - all_syncs) - (node.node().store().commit_stats().syncs - log_syncs);
  fs->set_sync_delay(std::chrono::microseconds(0));
  std::set<std::string> ids;
  for (const ClientResponse& r : answers) {
    ASSERT_EQ(r.status, 201) << r.body;
    ids.insert(TestNode::json(r).at("id").as_string().c_str());
  }
  EXPECT_EQ(ids.size(), std::size_t{kDesks});
  EXPECT_LE(key_syncs, std::uint64_t{kDesks / 2}) << "each new applicant's key had an fsync of its own on the one worker";
  node.restart();
  const std::set<std::string> listed = appeal_ids(node);
  for (const std::string& id : ids) EXPECT_EQ(listed.count(id), 1u) << id;
}

}  // namespace
}  // namespace otinish::api
