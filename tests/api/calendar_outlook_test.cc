// What the server says about provisional calendar years: /healthz, /metrics, the appeals view's
// due_provisional, and the default policy of a calendar publication. The node runs on a manual clock so that
// the answers do not depend on the day the test runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/time.h"
#include "tests/api/test_node.h"

namespace otinish::api {
namespace {

using namespace std::chrono_literals;
using testing::make_temp_dir;
using testing::source_dir;
using testing::TestNode;
namespace json = boost::json;

Timestamp utc(const std::string& s) {
  Timestamp t;
  EXPECT_TRUE(parse_utc(s, &t)) << s;
  return t;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class CalendarOutlookTest : public ::testing::Test {
 protected:
  ManualClock clock_{utc("2026-12-04T06:00:00Z")};
  TestNode node_{make_temp_dir(), {}, {.city_rules = true, .clock = &clock_}};
};

TEST_F(CalendarOutlookTest, HealthzIsDegradedFewerThan60DaysBeforeAProvisionalYear) {
  ClientResponse r = node_.call("GET", "/healthz");
  ASSERT_EQ(r.status, 200) << r.body;
  const json::value v = TestNode::json(r);
  EXPECT_EQ(v.at("status").as_string(), "degraded") << r.body;
  ASSERT_TRUE(v.as_object().contains("reasons")) << r.body;
  const std::string reason(v.at("reasons").as_array().at(0).as_string());
  EXPECT_NE(reason.find("calendar kz: 2027 is provisional (kurban_ait, transfer_decree not published) in 28 days"),
            std::string::npos)
      << reason;
}

TEST_F(CalendarOutlookTest, HealthzIsOkWhenTheProvisionalYearIsFarAway) {
  clock_.set(utc("2026-10-01T06:00:00Z"));
  const json::value v = TestNode::json(node_.call("GET", "/healthz"));
  EXPECT_EQ(v.at("status").as_string(), "ok");
  EXPECT_FALSE(v.as_object().contains("reasons"));
}

TEST_F(CalendarOutlookTest, MetricsGiveEachCalendarsFirstProvisionalDayAndDaysUntilIt) {
  const std::string m = node_.as(Role::kAdmin, "GET", "/metrics").body;
  EXPECT_NE(m.find("otinish_calendar_days_until_provisional{calendar=\"kz\",year=\"2027\"} 28\n"), std::string::npos)
      << m;
  // 2027-01-01T00:00:00Z
  EXPECT_NE(m.find("otinish_calendar_first_provisional_day_timestamp_seconds{calendar=\"kz\",year=\"2027\"} 1798761600\n"),
            std::string::npos)
      << m;
  // The 24/7 calendar ignores holidays: it has no provisional year, hence no series.
  EXPECT_EQ(m.find("calendar=\"round-the-clock\""), std::string::npos) << m;
}

TEST_F(CalendarOutlookTest, AnAppealsDeadlineIntoAProvisionalYearIsMarkedInTheView) {
  // Registered on 5 January 2027: every working-time deadline of it lies in 2027, whose inputs are unpublished.
  clock_.set(utc("2027-01-05T05:00:00Z"));
  const std::string id = node_.register_appeal();
  // The SLA service decides strictly before now (more facts could still be recorded at this instant).
  clock_.advance(1s);
  std::string body;
  for (auto until = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < until;) {
    body = node_.as(Role::kAuditor, "GET", "/v1/appeals?limit=10").body;
    if (body.find("due_provisional") != std::string::npos) break;
    std::this_thread::sleep_for(20ms);
  }
  const json::value v = json::parse(body);
  const json::array& rows = v.at("appeals").as_array();
  ASSERT_EQ(rows.size(), 1u) << body;
  EXPECT_EQ(rows[0].at("id").as_string(), id);
  ASSERT_TRUE(rows[0].as_object().contains("due_provisional")) << body;
  EXPECT_NE(std::string(rows[0].at("due_provisional").as_string()).find(" 2027 is provisional"), std::string::npos) << body;
}

TEST_F(CalendarOutlookTest, ACalendarPublishedWithoutAPolicyRebindsProvisionalDeadlinesOnly) {
  // MADE-UP TEST DATA, not a real decree: 2027's inputs, published as an amendment.
  const std::string kz = read_file(source_dir() + "/examples/calendars/kz.yaml") + R"(
  - version: "2027-test"
    published: 2026-12-04
    note: made-up test data
    yearly:
      - {year: 2027, kurban_ait: 2027-05-17, transfer_decree: []}
)";
  ClientResponse cur = node_.as(Role::kAuditor, "GET", "/v1/calendars/kz");
  ClientResponse put = node_.as(Role::kAdmin, "PUT", "/v1/calendars/kz", kz,
                                {{"Content-Type", "application/yaml"}, {"If-Match", cur.header("etag")}});
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(TestNode::json(put).at("policy").as_string(), "provisional");
  // 2027 is final now; 2028 is the next provisional year, far away: healthy again.
  const json::value v = TestNode::json(node_.call("GET", "/healthz"));
  EXPECT_EQ(v.at("status").as_string(), "ok") << boost::json::serialize(v);
}

TEST_F(CalendarOutlookTest, AHolidayMarkedWorkingIs422WithItsLineAndColumnAndNothingIsPublished) {
  const std::string kz = read_file(source_dir() + "/examples/calendars/kz.yaml");
  const std::string amendment = R"(
  - version: "typo"
    published: 2026-12-04
    working_days:
      - {date: 2027-03-08, name: meant 2027-03-06}
)";
  const std::string body = kz + amendment;
  const int line = static_cast<int>(std::count(body.begin(), body.begin() + body.find("{date: 2027-03-08"), '\n')) + 1;
  ClientResponse put = node_.as(Role::kAdmin, "PUT", "/v1/calendars/kz", body, {{"Content-Type", "application/yaml"}});
  ASSERT_EQ(put.status, 422) << put.body;
  const json::value v = TestNode::json(put);
  const json::array& errors = v.at("errors").as_array();
  ASSERT_FALSE(errors.empty()) << put.body;
  EXPECT_EQ(errors[0].at("code").as_string(), "working-day-on-holiday") << put.body;
  EXPECT_EQ(errors[0].at("line").as_int64(), line) << put.body;
  EXPECT_GT(errors[0].at("column").as_int64(), 0);
  // The calendar in force is the one published at start.
  EXPECT_EQ(node_.as(Role::kAuditor, "GET", "/v1/calendars/kz").body, kz);
}

}  // namespace
}  // namespace otinish::api
