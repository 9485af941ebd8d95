// What the view-backed resources answer when the views cannot serve: 503 views-unavailable on a server run
// without projections, 503 view-behind (with Retry-After) when they lag the log past the wait.
#include <gtest/gtest.h>

#include "tests/api/gated_service.h"
#include "tests/api/test_node.h"

namespace otinish::api::testing {
namespace {

std::string problem_type(std::string_view body) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("type")) return "";
  return std::string(v.at("type").as_string());
}

std::string header(const HttpResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

TEST(ViewsUnavailableTest, WithoutViewsEveryViewResourceAnswers503ViewsUnavailable) {
  TestNode node(make_temp_dir(), {}, {.views = false});
  const std::string id = node.register_appeal();
  struct Case {
    Role role;
    const char* method;
    std::string target;
    std::string body;
  };
  const std::vector<Case> cases = {
      {Role::kAuditor, "GET", "/v1/appeals", ""},
      {Role::kAuditor, "GET", "/v1/scorecards", ""},
      {Role::kAuditor, "GET", "/v1/public/feed", ""},
      {Role::kPublic, "GET", "/v1/public/appeals/" + id, ""},
      {Role::kAdmin, "POST", "/v1/projections/appeals/rebuild", ""},
      {Role::kOperator, "POST", "/v1/repeats/check", R"({"topic":"lifts.stuck","applicant":{"phone":"+7 700 123 4567"}})"},
  };
  for (const Case& c : cases) {
    ClientResponse r = node.as(c.role, c.method, c.target, c.body);
    EXPECT_EQ(r.status, 503) << c.method << " " << c.target << ": " << r.body;
    EXPECT_EQ(r.header("content-type"), "application/problem+json") << c.target;
    EXPECT_EQ(problem_type(r.body), "urn:otinish:problem:views-unavailable") << c.target << ": " << r.body;
  }
}

// The appeal itself and its timeline come from the log, so they still answer without views.
TEST(ViewsUnavailableTest, WithoutViewsTheAppealAndItsTimelineStillAnswer) {
  TestNode node(make_temp_dir(), {}, {.views = false});
  const std::string id = node.register_appeal();
  EXPECT_EQ(node.as(Role::kAuditor, "GET", "/v1/appeals/" + id).status, 200);
  ClientResponse t = node.as(Role::kAuditor, "GET", "/v1/appeals/" + id + "/timeline");
  EXPECT_EQ(t.status, 200) << t.body;
}

TEST(ViewBehindTest, ListsAnswer503ViewBehindWhileTheViewsLagTheLog) {
  GatedService svc;
  svc.register_appeal();
  svc.views().fall_behind(true);
  HttpResponse r = svc.call("GET", "/v1/appeals", svc.auditor());
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.content_type, "application/problem+json");
  EXPECT_EQ(problem_type(r.body), "urn:otinish:problem:view-behind") << r.body;
  EXPECT_EQ(header(r, "Retry-After"), "1");
  const std::string head = std::to_string(svc.store().head_position());
  EXPECT_NE(r.body.find("log position " + head + " "), std::string::npos)
      << "the detail names the position waited for (the head): " << r.body;

  svc.views().fall_behind(false);
  EXPECT_EQ(svc.call("GET", "/v1/appeals", svc.auditor()).status, 200);
}

TEST(ViewBehindTest, TimelineAnswers503ViewBehindWhileItsViewLagsTheAppeal) {
  GatedService svc;
  const std::string id = svc.register_appeal();
  svc.views().fall_behind(true);
  HttpResponse r = svc.call("GET", "/v1/appeals/" + id + "/timeline", svc.auditor());
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(problem_type(r.body), "urn:otinish:problem:view-behind") << r.body;
  EXPECT_EQ(header(r, "Retry-After"), "1");
  svc.views().fall_behind(false);
  EXPECT_EQ(svc.call("GET", "/v1/appeals/" + id + "/timeline", svc.auditor()).status, 200);
}

// The appeal is read from the log: lagging views only leave out what they add (due_at, sla_alert).
TEST(ViewBehindTest, TheAppealStillAnswersWhileTheViewsLag) {
  GatedService svc;
  const std::string id = svc.register_appeal();
  svc.views().fall_behind(true);
  HttpResponse r = svc.call("GET", "/v1/appeals/" + id, svc.auditor());
  EXPECT_EQ(r.status, 200) << r.body;
}

}  // namespace
}  // namespace otinish::api::testing
