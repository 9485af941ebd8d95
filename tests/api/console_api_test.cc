// The resources the console is built on (api/http/session.cc, console.cc and the additions to service.cc and
// proofs.cc): who a token is, the catalogue, the repeat check before registering, an appeal's public status,
// calendars day by day, verify in the background, an agency's own event stream, the SLA decisions in a
// timeline, and the console's files themselves.
#include <gtest/gtest.h>

#include <thread>

#include "tests/api/test_node.h"

namespace otinish::api::testing {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

const char* kHeatingIncident =
    R"({"centre":"SHY","category":"incident","topic":"utilities.heating.no_heat","channel":"phone",)"
    R"("location":{"district":"abay","street":"Tauke khan"},"text":"no heating since morning, children at home",)"
    R"("applicant":{"name":"Aigerim Saparova","phone":"+7 701 555 0142","address":"Tauke khan 17, flat 42"}})";

std::string body_id(const ClientResponse& r) { return TestNode::json(r).at("id").as_string().c_str(); }

TEST(ConsoleApiTest, SessionSaysWhoTheTokenIsAndWhatItMayDo) {
  TestNode node;
  ClientResponse op = node.as(Role::kOperator, "GET", "/v1/session");
  ASSERT_EQ(op.status, 200) << op.body;
  json::object o = TestNode::json(op).as_object();
  EXPECT_EQ(o.at("role"), "operator");
  const auto& perms = o.at("permissions").as_array();
  EXPECT_NE(std::find(perms.begin(), perms.end(), json::value("register_appeals")), perms.end());
  EXPECT_EQ(std::find(perms.begin(), perms.end(), json::value("write_rules")), perms.end());
  const auto& cmds = o.at("commands").as_array();
  EXPECT_NE(std::find(cmds.begin(), cmds.end(), json::value("classify")), cmds.end());
  EXPECT_EQ(std::find(cmds.begin(), cmds.end(), json::value("assign")), cmds.end()) << "an operator does not assign";
  json::object ag = TestNode::json(node.as(Role::kAgency, "GET", "/v1/session")).as_object();
  EXPECT_EQ(ag.at("agency"), kAgency);
  EXPECT_EQ(node.call("GET", "/v1/session").status, 401);
  EXPECT_EQ(node.call("GET", "/v1/session", "", {{"Authorization", "Bearer otn_nope"}}).status, 401);
}

TEST(ConsoleApiTest, CatalogueInThreeLanguagesWithAnETag) {
  TestNode node(make_temp_dir(), {}, {.catalogue = true});
  ClientResponse r = node.as(Role::kPublic, "GET", "/v1/catalogue");
  ASSERT_EQ(r.status, 200) << r.body;
  json::object c = TestNode::json(r).as_object();
  bool found = false;
  for (const auto& t : c.at("topics").as_array()) {  // `c` is a copy: safe
    if (t.at("code") != "utilities.heating.no_heat") continue;
    found = true;
    EXPECT_EQ(t.at("names").at("ru"), "Нет отопления");
    EXPECT_EQ(t.at("names").at("kk"), "Жылу жоқ");
    EXPECT_EQ(t.at("names").at("en"), "No heating");
    EXPECT_EQ(t.at("dangerous"), true);
    EXPECT_EQ(t.at("category"), "incident");
  }
  EXPECT_TRUE(found);
  EXPECT_GT(c.at("agencies").as_array().size(), 10u);
  EXPECT_EQ(c.at("districts").as_array().size(), 5u);
  const std::string etag = r.header("etag");
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(node.as(Role::kPublic, "GET", "/v1/catalogue", "", {{"If-None-Match", etag}}).status, 304);
  TestNode bare;
  ClientResponse none = bare.as(Role::kPublic, "GET", "/v1/catalogue");
  EXPECT_EQ(none.status, 404);
  EXPECT_NE(none.body.find("no-catalogue"), std::string::npos) << none.body;
}

// The desk asks before registering; the answer matches the link the repeats view records after it.
void expect_repeat_check(bool plain) {
  TestNode node(make_temp_dir(), {}, {.catalogue = true, .plain_personal_data = plain});
  ClientResponse first = node.as(Role::kOperator, "POST", "/v1/appeals", kHeatingIncident);
  ASSERT_EQ(first.status, 201) << first.body;
  const std::string id = body_id(first);
  auto check = [&](std::string_view phone, std::string_view topic) {
    const std::string body = std::string(R"({"topic":")") + std::string(topic) +
                             R"(","applicant":{"name":"Aigerim Saparova","phone":")" + std::string(phone) + R"("}})";
    ClientResponse r = node.as(Role::kOperator, "POST", "/v1/repeats/check", body);
    EXPECT_EQ(r.status, 200) << r.body;
    return TestNode::json(r).at("repeats").as_array();
  };
  auto same = check("8 701 555 0142", "utilities.heating.no_heat");  // the same number written another way
  ASSERT_EQ(same.size(), 1u);
  EXPECT_EQ(same[0].at("appeal_id"), json::value(id));
  EXPECT_TRUE(check("+7 702 000 0000", "utilities.heating.no_heat").empty()) << "another phone";
  EXPECT_TRUE(check("+7 701 555 0142", "lifts.stuck").empty()) << "another topic";
  // Only a desk that may read the applicant asks: the answer ties a phone number to appeals.
  EXPECT_EQ(node.as(Role::kInspector, "POST", "/v1/repeats/check", R"({"topic":"x"})").status, 403);
  EXPECT_EQ(node.as(Role::kAgency, "POST", "/v1/repeats/check", R"({"topic":"x"})").status, 403);
  EXPECT_EQ(node.as(Role::kOperator, "POST", "/v1/repeats/check", R"({"applicant":{}})").status, 400);
  EXPECT_EQ(node.as(Role::kOperator, "POST", "/v1/repeats/check", "{not json").status, 400);
  // Registered, the second appeal carries the link for the desk, not for roles without the applicant.
  ClientResponse second = node.as(Role::kOperator, "POST", "/v1/appeals", kHeatingIncident);
  ASSERT_EQ(second.status, 201);
  const std::string id2 = body_id(second);
  json::object seen = TestNode::json(node.as(Role::kOperator, "GET", "/v1/appeals/" + id2)).as_object();
  ASSERT_TRUE(seen.contains("repeat_of")) << json::serialize(seen);
  EXPECT_EQ(seen.at("repeat_of").at(0).at("appeal_id"), json::value(id));
  EXPECT_FALSE(TestNode::json(node.as(Role::kInspector, "GET", "/v1/appeals/" + id2)).as_object().contains("repeat_of"));
}

TEST(ConsoleApiTest, RepeatCheckBeforeRegisteringSealed) { expect_repeat_check(false); }
TEST(ConsoleApiTest, RepeatCheckBeforeRegisteringPlain) { expect_repeat_check(true); }

TEST(ConsoleApiTest, PublicStatusByNumberWithoutPersonalData) {
  TestNode node(make_temp_dir(), {}, {.calendars = true, .city_rules = true, .catalogue = true});
  const std::string id = body_id(node.as(Role::kOperator, "POST", "/v1/appeals", kHeatingIncident));
  ClientResponse r;
  json::object o;
  for (int i = 0; i < 300; ++i) {  // the SLA service sets the deadline just after the registration
    r = node.as(Role::kPublic, "GET", "/v1/public/appeals/" + id);
    ASSERT_EQ(r.status, 200) << r.body;
    o = TestNode::json(r).as_object();
    if (o.contains("due_at")) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(o.at("stage"), "registered");
  EXPECT_EQ(o.at("topic"), "utilities.heating.no_heat");
  EXPECT_TRUE(o.contains("due_at")) << r.body;
  for (const char* secret : {"Aigerim", "555", "flat 42", "children", "Tauke khan 17"}) {
    EXPECT_EQ(r.body.find(secret), std::string::npos) << secret << " in " << r.body;
  }
  EXPECT_EQ(node.as(Role::kPublic, "GET", "/v1/public/appeals/SHY-2026-9999999").status, 404);
  // The public page's charts: scorecards are aggregates, the public may read them.
  EXPECT_EQ(node.as(Role::kPublic, "GET", "/v1/scorecards").status, 200);
}

TEST(ConsoleApiTest, CalendarsInForceAndAYearDayByDay) {
  TestNode node(make_temp_dir(), {}, {.calendars = true, .city_rules = true});
  ClientResponse list = node.as(Role::kAdmin, "GET", "/v1/calendars");
  ASSERT_EQ(list.status, 200) << list.body;
  std::set<std::string> names;
  const json::value listed = TestNode::json(list);
  for (const auto& c : listed.at("calendars").as_array()) {
    names.insert(c.at("name").as_string().c_str());
    EXPECT_FALSE(c.at("publications").as_array().empty()) << json::serialize(c);
  }
  EXPECT_EQ(names, (std::set<std::string>{"kz", "round-the-clock", "shymkent"}));
  ClientResponse year = node.as(Role::kAdmin, "GET", "/v1/calendars/kz/days?year=2026");
  ASSERT_EQ(year.status, 200) << year.body;
  const json::value year_json = TestNode::json(year);
  const auto& days = year_json.at("days").as_array();
  ASSERT_EQ(days.size(), 365u);
  // 1 January is a public holiday, 5 January 2026 a Monday at work, 3 January a Saturday.
  EXPECT_EQ(days[0].at("working"), false);
  EXPECT_TRUE(days[0].as_object().contains("reason"));
  EXPECT_EQ(days[4].at("working"), true);
  EXPECT_EQ(days[2].at("working"), false);
  EXPECT_EQ(node.as(Role::kAdmin, "GET", "/v1/calendars/kz/days?year=abc").status, 400);
  EXPECT_EQ(node.as(Role::kAdmin, "GET", "/v1/calendars/nowhere/days?year=2026").status, 404);
  EXPECT_EQ(node.as(Role::kPublic, "GET", "/v1/calendars").status, 403);
}

TEST(ConsoleApiTest, VerifyRunsInTheBackgroundAndReports) {
  TestNode node(make_temp_dir(), {}, {.calendars = true});
  for (int i = 0; i < 3; ++i) node.register_appeal();
  json::object before = TestNode::json(node.as(Role::kAuditor, "GET", "/v1/log/verify")).as_object();
  EXPECT_EQ(before.at("state"), "never");
  ClientResponse start = node.as(Role::kAuditor, "POST", "/v1/log/verify");
  EXPECT_TRUE(start.status == 202 || start.status == 409) << start.body;
  json::object done;
  for (int i = 0; i < 500; ++i) {
    done = TestNode::json(node.as(Role::kAuditor, "GET", "/v1/log/verify")).as_object();
    if (done.at("state") == "done") break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(done.at("state"), "done") << json::serialize(done);
  EXPECT_EQ(done.at("ok"), true) << json::serialize(done);
  EXPECT_GE(done.at("events").to_number<std::uint64_t>(), 9u);
  EXPECT_TRUE(done.contains("tree_root"));
  EXPECT_EQ(node.as(Role::kOperator, "GET", "/v1/log/verify").status, 403);
  EXPECT_EQ(node.as(Role::kAdmin, "POST", "/v1/log/verify").status, 403);
}

TEST(ConsoleApiTest, TimelineCarriesEachSlaDecisionAsData) {
  TestNode node(make_temp_dir(), {}, {.calendars = true, .city_rules = true, .catalogue = true});
  const std::string id = body_id(node.as(Role::kOperator, "POST", "/v1/appeals", kHeatingIncident));
  bool deadline = false;
  for (int i = 0; i < 300 && !deadline; ++i) {
    json::object tl = TestNode::json(node.as(Role::kAuditor, "GET", "/v1/appeals/" + id + "/timeline")).as_object();
    for (const auto& e : tl.at("entries").as_array()) {
      const auto* sla = e.as_object().if_contains("sla");
      if (!sla || sla->at("kind") != "deadline") continue;
      deadline = true;
      EXPECT_NE(std::string(sla->at("rule_where").as_string().c_str()).find("city.yaml:"), std::string::npos);
      EXPECT_EQ(sla->at("rule_set_hash").as_string().size(), 64u);
      EXPECT_FALSE(sla->at("calendar").as_string().empty());
      EXPECT_TRUE(sla->as_object().contains("deadline"));
    }
    if (!deadline) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(deadline) << "the SLA service set a deadline and the timeline shows it as data";
}

TEST(ConsoleApiTest, AnAgencysStreamCarriesOnlyItsOwnAppeals) {
  TestNode node;
  const std::string other = node.register_appeal();  // never assigned to the agency
  const std::string mine = node.assigned_appeal();
  const std::string request = "GET /v1/events/stream?from=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                              node.token(Role::kAgency) + "\r\n\r\n";
  HttpClient c("127.0.0.1", node.port());
  std::thread later([&] {
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(node.command(Role::kOperator, other, "comment", R"({"text":"still waiting"})").status, 200);
    EXPECT_EQ(node.command(Role::kAgency, mine, "accept").status, 200);
  });
  auto got = c.stream(request, [](std::string_view g) { return g.find("AppealAccepted") != std::string_view::npos; }, 5s);
  later.join();
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->starts_with("HTTP/1.1 200")) << *got;
  EXPECT_NE(got->find("appeal-" + mine), std::string::npos) << "its own appeal, from before the stream and live";
  EXPECT_NE(got->find("AppealAccepted"), std::string::npos);
  EXPECT_EQ(got->find("appeal-" + other), std::string::npos) << "another appeal leaked into the agency's stream";
  // Roles that read neither the log nor appeals get no stream.
  EXPECT_EQ(node.as(Role::kAdmin, "GET", "/v1/events/stream").status, 403);
}

TEST(ConsoleApiTest, ConsoleFilesAreServedWithoutATokenAndCached) {
  TestNode node;
  ClientResponse root = node.call("GET", "/");
  EXPECT_EQ(root.status, 302);
  EXPECT_EQ(root.header("location"), "/console/");
  ClientResponse page = node.call("GET", "/console/");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.header("content-type").find("text/html"), std::string::npos);
  EXPECT_NE(page.body.find("/console/app.js"), std::string::npos);
  EXPECT_NE(page.header("content-security-policy").find("default-src 'none'"), std::string::npos);
  std::size_t total = page.body.size();
  for (const char* f : {"app.js", "i18n.js", "style.css"}) {
    ClientResponse r = node.call("GET", std::string("/console/") + f);
    ASSERT_EQ(r.status, 200) << f;
    total += r.body.size();
    EXPECT_EQ(node.call("GET", std::string("/console/") + f, "", {{"If-None-Match", r.header("etag")}}).status, 304);
  }
  EXPECT_NE(node.call("GET", "/console/app.js").header("content-type").find("javascript"), std::string::npos);
  EXPECT_LT(total, 150'000u) << "the console's own files, before the catalogue";
  EXPECT_EQ(node.call("GET", "/console/nothing.js").status, 404);
  EXPECT_EQ(node.call("GET", "/console/..%2Fkeys").status, 404);
}

}  // namespace
}  // namespace otinish::api::testing
