// Idempotency-Key beyond registrations and commands: a retry while the first request still runs, and the
// POSTs whose answers are remembered in memory only (a projection rebuild, a what-if simulation).
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/api/gated_service.h"
#include "tests/api/test_node.h"

namespace otinish::api::testing {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string header(const HttpResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

std::string problem_type(std::string_view body) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("type")) return "";
  return std::string(v.at("type").as_string());
}

// --- registrations, whose checks run on the server's I/O thread -------------------------------------------

// A registration is answered in two parts (ApiService::answers_inline): its authentication, parsing and checks
// where the server calls it, and what may block (the SLA intake wait, the engine) on a worker, through the
// offload function. A refusal needs no worker; an accepted registration writes nothing until its worker part
// runs, and a retry under the same key meanwhile is told the first is in progress.
TEST(InlineRegistrationTest, ARefusalNeedsNoWorkerAndAnAcceptedRegistrationIsWrittenByItsWorkerPart) {
  GatedService svc;
  std::vector<std::function<void()>> offloaded;
  svc.service().set_offload([&](std::function<void()> work) { offloaded.push_back(std::move(work)); });
  EXPECT_TRUE(ApiService::answers_inline(GatedService::request("POST", "/v1/appeals", svc.op())));
  EXPECT_FALSE(ApiService::answers_inline(GatedService::request("GET", "/v1/appeals", svc.op())));
  EXPECT_FALSE(ApiService::answers_inline(GatedService::request("POST", "/v1/appeals/SHY-2026-0000001/comment", svc.op())));

  const std::string valid =
      R"({"centre":"SHY","category":"complaint","topic":"lifts.stuck","channel":"phone",)"
      R"("location":{"district":"Abay","street":"Tauke khan"},"text":"the lift is stuck"})";
  HttpResponse refused = svc.service().serve(GatedService::request("POST", "/v1/appeals", svc.op(), "{\"centre\":"));
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(refused.later, nullptr);
  HttpResponse no_token = svc.service().serve(GatedService::request("POST", "/v1/appeals", "otn_wrong", valid));
  EXPECT_EQ(no_token.status, 401) << no_token.body;
  EXPECT_TRUE(offloaded.empty());

  const std::uint64_t head = svc.store().head_position();
  HttpResponse promised =
      svc.service().serve(GatedService::request("POST", "/v1/appeals", svc.op(), valid, {{"idempotency-key", "reg-1"}}));
  ASSERT_NE(promised.later, nullptr);
  ASSERT_EQ(offloaded.size(), 1u);
  EXPECT_EQ(svc.store().head_position(), head);  // nothing written before the worker part
  HttpResponse retry =
      svc.service().serve(GatedService::request("POST", "/v1/appeals", svc.op(), valid, {{"idempotency-key", "reg-1"}}));
  EXPECT_EQ(retry.status, 409) << retry.body;
  EXPECT_EQ(problem_type(retry.body), "urn:otinish:problem:request-in-progress") << retry.body;
  EXPECT_EQ(offloaded.size(), 1u);

  offloaded.front()();  // the worker's part
  HttpResponse answer = promised.later->wait();
  EXPECT_EQ(answer.status, 201) << answer.body;
  EXPECT_GT(svc.store().head_position(), head);
  HttpResponse replay =
      svc.service().serve(GatedService::request("POST", "/v1/appeals", svc.op(), valid, {{"idempotency-key", "reg-1"}}));
  EXPECT_EQ(replay.status, 201) << replay.body;
  EXPECT_EQ(header(replay, "Idempotent-Replayed"), "true");
}

// --- with a rebuild the test holds ------------------------------------------------------------------------

TEST(IdempotencyInFlightTest, ARetryWhileTheFirstRequestRunsIs409RequestInProgress) {
  GatedService svc;
  svc.views().hold_rebuilds();
  HttpResponse first;
  std::thread t([&] {
    first = svc.call("POST", "/v1/projections/appeals/rebuild", svc.admin(), "", {{"idempotency-key", "rb-1"}});
  });
  svc.views().wait_until_rebuilds_entered(1);

  HttpResponse retry = svc.call("POST", "/v1/projections/appeals/rebuild", svc.admin(), "", {{"idempotency-key", "rb-1"}});
  EXPECT_EQ(retry.status, 409) << retry.body;
  EXPECT_EQ(retry.content_type, "application/problem+json");
  EXPECT_EQ(problem_type(retry.body), "urn:otinish:problem:request-in-progress") << retry.body;
  EXPECT_EQ(header(retry, "Retry-After"), "1");

  svc.views().release_rebuilds();
  t.join();
  EXPECT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(svc.views().rebuilds(), 1) << "the 409 must not have started a rebuild of its own";
}

TEST(IdempotencyInFlightTest, ARetryAfterTheFirstRequestFinishedGetsItsAnswer) {
  GatedService svc;
  svc.views().hold_rebuilds();
  HttpResponse first;
  std::thread t([&] {
    first = svc.call("POST", "/v1/projections/appeals/rebuild", svc.admin(), "", {{"idempotency-key", "rb-2"}});
  });
  svc.views().wait_until_rebuilds_entered(1);
  EXPECT_EQ(svc.call("POST", "/v1/projections/appeals/rebuild", svc.admin(), "", {{"idempotency-key", "rb-2"}}).status,
            409);
  svc.views().release_rebuilds();
  t.join();

  HttpResponse later = svc.call("POST", "/v1/projections/appeals/rebuild", svc.admin(), "", {{"idempotency-key", "rb-2"}});
  EXPECT_EQ(later.status, 200);
  EXPECT_EQ(later.body, first.body);
  EXPECT_EQ(header(later, "Idempotent-Replayed"), "true");
  EXPECT_EQ(svc.views().rebuilds(), 1);
}

// Keys are scoped to the token: another token's request under the same key is another request.
TEST(IdempotencyInFlightTest, TheSameKeyUnderAnotherTokenIsNotInProgress) {
  GatedService svc;
  svc.views().hold_rebuilds();
  HttpResponse first;
  std::thread t([&] {
    first = svc.call("POST", "/v1/projections/appeals/rebuild", svc.admin(), "", {{"idempotency-key", "shared"}});
  });
  svc.views().wait_until_rebuilds_entered(1);
  EXPECT_FALSE(svc.register_appeal({{"idempotency-key", "shared"}}).empty());
  svc.views().release_rebuilds();
  t.join();
  EXPECT_EQ(first.status, 200) << first.body;
}

TEST(RebuildIdempotencyTest, RebuildOfAnotherProjectionUnderAUsedKeyIs422) {
  GatedService svc;
  ASSERT_EQ(svc.call("POST", "/v1/projections/appeals/rebuild", svc.admin(), "", {{"idempotency-key", "rb-3"}}).status,
            200);
  HttpResponse other = svc.call("POST", "/v1/projections/timeline/rebuild", svc.admin(), "", {{"idempotency-key", "rb-3"}});
  EXPECT_EQ(other.status, 422) << other.body;
  EXPECT_EQ(problem_type(other.body), "urn:otinish:problem:idempotency-key-reused");
  EXPECT_EQ(svc.views().rebuilds(), 1);
}

// A refusal is not remembered: the retry runs (here: it is refused again, and the runner was asked twice).
TEST(RebuildIdempotencyTest, ARefusedRebuildIsNotReplayed) {
  GatedService svc;
  const HeaderMap key{{"idempotency-key", "rb-4"}};
  EXPECT_EQ(svc.call("POST", "/v1/projections/nonesuch/rebuild", svc.admin(), "", key).status, 404);
  HttpResponse again = svc.call("POST", "/v1/projections/nonesuch/rebuild", svc.admin(), "", key);
  EXPECT_EQ(again.status, 404);
  EXPECT_EQ(header(again, "Idempotent-Replayed"), "");
  EXPECT_EQ(svc.views().rebuilds(), 2);
}

// --- on a real node ---------------------------------------------------------------------------------------

TEST(RebuildIdempotencyTest, RebuildWithTheSameKeyReplaysTheFirstAnswerWithoutRebuildingAgain) {
  TestNode node;
  node.register_appeal();
  ClientResponse a = node.as(Role::kAdmin, "POST", "/v1/projections/appeals/rebuild", "", {{"Idempotency-Key", "r1"}});
  ASSERT_EQ(a.status, 200) << a.body;
  ClientResponse b = node.as(Role::kAdmin, "POST", "/v1/projections/appeals/rebuild", "", {{"Idempotency-Key", "r1"}});
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(b.body, a.body);
  EXPECT_EQ(b.header("idempotent-replayed"), "true");
  // Had the retry rebuilt, the next rebuild would be two generations on.
  ClientResponse c = node.as(Role::kAdmin, "POST", "/v1/projections/appeals/rebuild");
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(TestNode::json(c).at("generation").to_number<std::uint64_t>(),
            TestNode::json(a).at("generation").to_number<std::uint64_t>() + 1);
}

class SimulateIdempotencyTest : public ::testing::Test {
 protected:
  SimulateIdempotencyTest() : node_(make_temp_dir(), {}, {.city_rules = true}) {
    city_ = read_file(source_dir() + "/examples/rules/city.yaml");
    node_.register_appeal();
  }
  TestNode node_;
  std::string city_;
};

// Without as_of the simulation is decided as of now (to the microsecond, in the answer): a second run would
// say a later instant, so an equal body is the first answer replayed.
TEST_F(SimulateIdempotencyTest, SimulateWithTheSameKeyReplaysTheFirstAnswer) {
  ClientResponse a = node_.as(Role::kAdmin, "POST", "/v1/rules/simulate", city_, {{"Idempotency-Key", "s1"}});
  ASSERT_EQ(a.status, 200) << a.body;
  ClientResponse b = node_.as(Role::kAdmin, "POST", "/v1/rules/simulate", city_, {{"Idempotency-Key", "s1"}});
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(b.body, a.body);
  EXPECT_EQ(b.header("idempotent-replayed"), "true");
  ClientResponse fresh = node_.as(Role::kAdmin, "POST", "/v1/rules/simulate", city_);
  ASSERT_EQ(fresh.status, 200);
  EXPECT_NE(TestNode::json(fresh).at("as_of"), TestNode::json(a).at("as_of")) << "a fresh run is decided anew";
}

TEST_F(SimulateIdempotencyTest, SimulateWithAnotherBodyUnderAUsedKeyIs422) {
  ASSERT_EQ(node_.as(Role::kAdmin, "POST", "/v1/rules/simulate", city_, {{"Idempotency-Key", "s2"}}).status, 200);
  ClientResponse changed = node_.as(Role::kAdmin, "POST", "/v1/rules/simulate", city_ + "\n# changed\n",
                                    {{"Idempotency-Key", "s2"}});
  EXPECT_EQ(changed.status, 422) << changed.body;
  EXPECT_EQ(problem_type(changed.body), "urn:otinish:problem:idempotency-key-reused");
  // Even a body that would not parse: the key is checked first.
  ClientResponse broken = node_.as(Role::kAdmin, "POST", "/v1/rules/simulate", "rules: [", {{"Idempotency-Key", "s2"}});
  EXPECT_EQ(broken.status, 422);
  EXPECT_EQ(problem_type(broken.body), "urn:otinish:problem:idempotency-key-reused") << broken.body;
}

// The window is part of the request: the same body over another window under a used key is another request.
TEST_F(SimulateIdempotencyTest, SimulateOverAnotherWindowUnderAUsedKeyIs422) {
  const std::string first = "/v1/rules/simulate?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z";
  const std::string second = "/v1/rules/simulate?from=2025-01-01T00:00:00Z&to=2027-01-01T00:00:00Z";
  ASSERT_EQ(node_.as(Role::kAdmin, "POST", first, city_, {{"Idempotency-Key", "s3"}}).status, 200);
  ClientResponse other = node_.as(Role::kAdmin, "POST", second, city_, {{"Idempotency-Key", "s3"}});
  EXPECT_EQ(other.status, 422) << other.body;
  EXPECT_EQ(problem_type(other.body), "urn:otinish:problem:idempotency-key-reused");
  ClientResponse same = node_.as(Role::kAdmin, "POST", first, city_, {{"Idempotency-Key", "s3"}});
  EXPECT_EQ(same.status, 200);
  EXPECT_EQ(same.header("idempotent-replayed"), "true");
}

}  // namespace
}  // namespace otinish::api::testing
