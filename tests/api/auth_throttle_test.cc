// Failed authentications: limited per address (429 with Retry-After once the limit is reached, on both doors:
// the bearer token and Open311's api_key), logged without the token, with a bounded table of addresses.
#include <gtest/gtest.h>

#include <mutex>
#include <ostream>
#include <sstream>
#include <streambuf>

#include "api/http/auth_throttle.h"
#include "tests/api/test_node.h"

namespace otinish::api::testing {
namespace {

using std::chrono::seconds;

const Timestamp kT0 = timestamp_from_micros(1'780'000'000'000'000);

// --- the table --------------------------------------------------------------------------------------------

TEST(AuthThrottleTest, APeerIsRefusedOnlyOnceItReachesTheLimit) {
  AuthThrottle t({.max_failures = 3, .window = seconds(60)});
  for (int i = 0; i < 2; ++i) t.record_failure("10.0.0.1", kT0);
  EXPECT_FALSE(t.refused("10.0.0.1", kT0));
  EXPECT_EQ(t.record_failure("10.0.0.1", kT0 + seconds(1)), 3u);
  auto wait = t.refused("10.0.0.1", kT0 + seconds(1));
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, seconds(60));
  EXPECT_EQ(t.refused("10.0.0.1", kT0 + seconds(31)), seconds(30));
}

TEST(AuthThrottleTest, ARefusedPeerMayTryAgainAWindowAfterItsLastFailure) {
  AuthThrottle t({.max_failures = 2, .window = seconds(60)});
  t.record_failure("10.0.0.1", kT0);
  t.record_failure("10.0.0.1", kT0 + seconds(10));
  EXPECT_TRUE(t.refused("10.0.0.1", kT0 + seconds(69)));
  EXPECT_FALSE(t.refused("10.0.0.1", kT0 + seconds(70)));
  EXPECT_EQ(t.peers(), 0u) << "a peer whose time is up is forgotten";
  EXPECT_EQ(t.record_failure("10.0.0.1", kT0 + seconds(71)), 1u) << "and starts counting afresh";
}

TEST(AuthThrottleTest, FailuresOlderThanTheWindowDoNotCount) {
  AuthThrottle t({.max_failures = 3, .window = seconds(60)});
  t.record_failure("10.0.0.1", kT0);
  t.record_failure("10.0.0.1", kT0 + seconds(30));
  EXPECT_EQ(t.record_failure("10.0.0.1", kT0 + seconds(61)), 1u);
  EXPECT_FALSE(t.refused("10.0.0.1", kT0 + seconds(61)));
}

TEST(AuthThrottleTest, OnePeersFailuresDoNotRefuseAnother) {
  AuthThrottle t({.max_failures = 1, .window = seconds(60)});
  t.record_failure("10.0.0.1", kT0);
  EXPECT_TRUE(t.refused("10.0.0.1", kT0));
  EXPECT_FALSE(t.refused("10.0.0.2", kT0));
}

TEST(AuthThrottleTest, TheTableNeverHoldsMoreThanMaxPeers) {
  AuthThrottle t({.max_failures = 3, .window = seconds(60), .max_peers = 100});
  for (int i = 0; i < 10'000; ++i) {
    t.record_failure("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), kT0 + seconds(i / 1000));
    ASSERT_LE(t.peers(), 100u);
  }
  // The most recent peers are the ones kept.
  t.record_failure("10.0.39.15", kT0 + seconds(10));
  t.record_failure("10.0.39.15", kT0 + seconds(10));
  EXPECT_TRUE(t.refused("10.0.39.15", kT0 + seconds(10)));
}

TEST(AuthThrottleTest, ZeroFailuresMeansNoLimit) {
  AuthThrottle t({.max_failures = 0});
  for (int i = 0; i < 100; ++i) t.record_failure("10.0.0.1", kT0);
  EXPECT_FALSE(t.refused("10.0.0.1", kT0));
  EXPECT_EQ(t.peers(), 0u);
}

TEST(AuthThrottleTest, ThePeerIsTheAddressWithoutThePort) {
  EXPECT_EQ(peer_of("10.1.2.3:51234"), "10.1.2.3");
  EXPECT_EQ(peer_of("::1:51234"), "::1");
  EXPECT_EQ(peer_of(""), "");
}

// --- on a node --------------------------------------------------------------------------------------------

// A log sink that the node's threads write to while the test reads it.
class CapturedLog : public std::ostream {
 public:
  CapturedLog() : std::ostream(&buf_) {}
  std::string text() {
    std::lock_guard lock(buf_.mu);
    return buf_.str();
  }

 private:
  struct Buf : std::stringbuf {
    std::recursive_mutex mu;  // stringbuf::xsputn calls overflow()
    std::streamsize xsputn(const char* s, std::streamsize n) override {
      std::lock_guard lock(mu);
      return std::stringbuf::xsputn(s, n);
    }
    int_type overflow(int_type c) override {
      std::lock_guard lock(mu);
      return std::stringbuf::overflow(c);
    }
  } buf_;
};

// A token of the right shape that no store issued: "otn_" + 16 hex + "_" + 64 hex.
const std::string kForged = "otn_0123456789abcdef_" + std::string(64, 'e');

class AuthThrottleNodeTest : public ::testing::Test {
 protected:
  AuthThrottleNodeTest()
      : clock_(kT0),
        node_(make_temp_dir(), {},
              {.clock = &clock_, .log = &log_, .access_log = true,
               .auth_throttle = {.max_failures = 3, .window = seconds(60)}}) {}
  ClientResponse with_token(const std::string& token, const std::string& target = "/v1/session") {
    return node_.call("GET", target, "", {{"Authorization", "Bearer " + token}});
  }
  ManualClock clock_;
  CapturedLog log_;
  TestNode node_;
};

TEST_F(AuthThrottleNodeTest, AfterTheLimitOfInvalidTokensTheAddressGets429WithRetryAfter) {
  for (int i = 0; i < 3; ++i) EXPECT_EQ(with_token(kForged).status, 401) << i;
  ClientResponse r = with_token(kForged);
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/problem+json");
  EXPECT_EQ(TestNode::json(r).at("type").as_string(), "urn:otinish:problem:too-many-auth-failures");
  EXPECT_EQ(r.header("retry-after"), "60");
  // A valid token is still served: desks behind one NAT share the address, and a secret cannot be guessed.
  EXPECT_EQ(with_token(node_.token(Role::kAuditor)).status, 200);
  EXPECT_EQ(with_token(kForged).status, 429);
  clock_.advance(seconds(45));
  EXPECT_EQ(with_token(kForged).header("retry-after"), "15");
}

TEST_F(AuthThrottleNodeTest, TheAddressIsServedAgainOnceTheWindowHasPassed) {
  for (int i = 0; i < 3; ++i) with_token(kForged);
  ASSERT_EQ(with_token(kForged).status, 429);
  clock_.advance(seconds(60));
  EXPECT_EQ(with_token(kForged).status, 401);
}

// Valid tokens are not counted, however many; and failures below the limit do not stand in their way.
TEST_F(AuthThrottleNodeTest, SuccessfulAuthenticationsAreNeverLimited) {
  for (int i = 0; i < 20; ++i) ASSERT_EQ(with_token(node_.token(Role::kAuditor)).status, 200) << i;
  EXPECT_EQ(with_token(kForged).status, 401);
  EXPECT_EQ(with_token(kForged).status, 401);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(with_token(node_.token(Role::kOperator)).status, 200) << i;
}

// A request without a token presents nothing to guess with: 401 unauthenticated, not counted.
TEST_F(AuthThrottleNodeTest, RequestsWithoutATokenAreNotCounted) {
  for (int i = 0; i < 10; ++i) EXPECT_EQ(node_.call("GET", "/v1/session").status, 401);
  EXPECT_EQ(with_token(node_.token(Role::kAuditor)).status, 200);
}

// Open311's api_key is the same token through another door, and counts with the bearer token's failures.
TEST_F(AuthThrottleNodeTest, Open311ApiKeysCountAndAreRefusedInGeoReportsShape) {
  for (int i = 0; i < 2; ++i) with_token(kForged);
  EXPECT_EQ(node_.call("GET", "/open311/v2/services.json?api_key=" + kForged).status, 401);
  ClientResponse r = node_.call("GET", "/open311/v2/services.json?api_key=" + kForged);
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.header("retry-after"), "60");
  boost::json::value v = TestNode::json(r);
  ASSERT_TRUE(v.is_array()) << r.body;
  EXPECT_EQ(v.as_array().at(0).at("code").to_number<int>(), 429);
}

TEST_F(AuthThrottleNodeTest, FailuresAreLoggedWithoutTheToken) {
  const std::string secret = kForged.substr(21);
  const std::string junk = "correct-horse-battery-staple";
  for (const std::string& t : {kForged, junk, kForged, kForged}) with_token(t);
  node_.call("GET", "/open311/v2/services.json?api_key=" + junk + "2");
  const std::string log = log_.text();
  EXPECT_NE(log.find("\"msg\":\"authentication failed\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"msg\":\"peer refused after failed authentications\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"remote\":\"127.0.0.1\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"token\":\"0123456789abcdef\""), std::string::npos) << "a well-formed token's id: " << log;
  EXPECT_EQ(log.find(secret), std::string::npos) << "the secret of a presented token is in the log: " << log;
  EXPECT_EQ(log.find(junk), std::string::npos) << "a presented token is in the log: " << log;
  EXPECT_EQ(log.find(node_.token(Role::kAuditor)), std::string::npos);
}

// The server's own liveness probe under systemd asks every 15 seconds; its answers stay out of the access log,
// while everyone else's /healthz, and a failing probe, are logged.
TEST_F(AuthThrottleNodeTest, TheWatchdogsOwnProbeIsNotAccessLogged) {
  const std::string probe(kWatchdogUserAgent);
  ASSERT_EQ(node_.call("GET", "/healthz", "", {{"User-Agent", probe}}).status, 200);
  EXPECT_EQ(log_.text().find("\"path\":\"/healthz\""), std::string::npos) << log_.text();
  ASSERT_EQ(node_.call("GET", "/healthz", "", {{"User-Agent", "curl/7.88"}}).status, 200);
  EXPECT_NE(log_.text().find("\"path\":\"/healthz\""), std::string::npos) << log_.text();
  // Another path with the same agent is logged as any request is.
  node_.call("GET", "/v1/session", "", {{"User-Agent", probe}});
  EXPECT_NE(log_.text().find("\"path\":\"/v1/session\""), std::string::npos) << log_.text();
}

}  // namespace
}  // namespace otinish::api::testing
