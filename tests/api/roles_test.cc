// Every endpoint with every role: 401 without a token, 403 outside the role, served inside it. The expected
// roles are written out here (the specification), not read from api/http/auth.cc.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "api/http/router.h"
#include "tests/api/test_node.h"

namespace otinish::api::testing {
namespace {

using namespace std::chrono_literals;
using R = Role;

struct Endpoint {
  std::string method;
  std::string target;  // {id} is replaced by an appeal assigned to kAgency
  std::string body;
  std::set<Role> allowed;  // empty: no token needed
  bool stream = false;
  HeaderList headers = {};  // sent with every call
};

const std::set<Role> kAppealReaders = {R::kOperator, R::kInspector, R::kController, R::kAgency, R::kAuditor,
                                       R::kPrivacyOfficer};
const std::set<Role> kLogReaders = {R::kOperator, R::kInspector, R::kController, R::kAuditor};
const std::set<Role> kEveryone = {R::kOperator, R::kInspector, R::kController,      R::kAgency,  R::kAdmin,
                                  R::kAuditor,  R::kPublic,    R::kPrivacyOfficer, R::kCivicApp};

std::vector<Endpoint> endpoints() {
  return {
      {"GET", "/healthz", "", {}},
      {"GET", "/v1/openapi.json", "", {}},
      {"GET", "/metrics", "", {R::kAdmin, R::kAuditor}},
      {"POST", "/v1/appeals", R"({"centre":"SHY","category":"complaint","topic":"t","text":"x"})",
       {R::kOperator, R::kCivicApp}},
      {"GET", "/v1/appeals", "", kAppealReaders},
      {"GET", "/v1/appeals/{id}", "", kAppealReaders},
      {"GET", "/v1/appeals/{id}/timeline", "", kAppealReaders},
      {"GET", "/v1/events", "", kLogReaders},
      // An agency reads a stream of its own appeals' events only.
      {"GET", "/v1/events/stream", "", {R::kOperator, R::kInspector, R::kController, R::kAgency, R::kAuditor}, true},
      {"GET", "/v1/scorecards", "", {R::kInspector, R::kController, R::kAgency, R::kAuditor, R::kPublic}},
      // What the console asks first: who the token is, and the catalogue (404 on a node without one).
      {"GET", "/v1/session", "", kEveryone},
      {"GET", "/v1/catalogue", "", kEveryone},
      // It ties a phone number to appeals: the desk that registers and reads applicants, nobody else.
      {"POST", "/v1/repeats/check", R"({"topic":"lifts.stuck","applicant":{"phone":"+77001234567"}})", {R::kOperator}},
      {"GET", "/v1/public/appeals/{id}", "", kEveryone},
      {"GET", "/v1/log/verify", "", {R::kAuditor}},
      {"POST", "/v1/log/verify", "", {R::kAuditor}},
      {"GET", "/v1/calendars", "", {R::kOperator, R::kInspector, R::kController, R::kAgency, R::kAdmin, R::kAuditor}},
      {"GET", "/v1/calendars/kz/days?year=2026", "",
       {R::kOperator, R::kInspector, R::kController, R::kAgency, R::kAdmin, R::kAuditor}},
      {"GET", "/", "", {}},  // redirects to the console
      {"GET", "/console/", "", {}},
      {"GET", "/console/app.js", "", {}},
      {"GET", "/v1/public/feed", "", kEveryone},
      {"GET", "/v1/rules", "", {R::kOperator, R::kInspector, R::kController, R::kAgency, R::kAdmin, R::kAuditor}},
      {"PUT", "/v1/rules", "rules: [", {R::kAdmin}},
      {"POST", "/v1/rules/simulate", "rules: [", {R::kAdmin}},
      {"GET", "/v1/calendars/kz", "", {R::kOperator, R::kInspector, R::kController, R::kAgency, R::kAdmin, R::kAuditor}},
      {"PUT", "/v1/calendars/kz", "calendar: [", {R::kAdmin}},
      {"POST", "/v1/projections/public/rebuild", "", {R::kAdmin}},
      {"GET", "/v1/appeals/{id}/applicant", "", {R::kOperator, R::kController, R::kPrivacyOfficer}, false,
       {{"Access-Purpose", "callback"}}},
      {"GET", "/v1/appeals/{id}/access-log", "", {R::kAuditor, R::kPrivacyOfficer}},
      // An unknown applicant: 404 inside the role (the table checks who may ask, not the erasure itself).
      {"DELETE", "/v1/applicants/ap-0000000000000000", R"({"reason":"test"})", {R::kAdmin, R::kPrivacyOfficer}},
      // Backups are off on the test node: 409 backups-off inside the role.
      {"POST", "/v1/backups", "{}", {R::kAdmin}},
      // Hashes of the log, meant to be published.
      {"GET", "/v1/checkpoint", "", kEveryone},
      {"GET", "/v1/proofs/inclusion?position=1", "", kEveryone},
      {"GET", "/v1/proofs/consistency?from=1", "", kEveryone},
      // No checkpoint is kept by the table's node: 404 inside the role.
      {"GET", "/v1/appeals/{id}/evidence", "", {R::kAuditor}},
      // Open311 (docs/open311.md): the public data for any token, registration for a civic app or an operator.
      // The table's node has no catalogue: services answer 404 inside the role.
      {"GET", "/open311/v2/discovery.json", "", {}},
      {"GET", "/open311/v2/services.json", "", kEveryone},
      {"GET", "/open311/v2/services/lifts.operation.not_working.json", "", kEveryone},
      {"GET", "/open311/v2/requests.json", "", kEveryone},
      {"GET", "/open311/v2/requests/{id}.json", "", kEveryone},
      {"POST", "/open311/v2/requests.json", "service_code=lifts.operation.not_working&address_string=Abay",
       {R::kOperator, R::kCivicApp}, false, {{"Content-Type", "application/x-www-form-urlencoded"}}},
  };
}

int status_of(TestNode& node, const Endpoint& e, const std::string& target, HeaderList h) {
  h.insert(h.end(), e.headers.begin(), e.headers.end());
  if (!e.stream) return node.call(e.method, target, e.body, h).status;
  std::string req = e.method + " " + target + " HTTP/1.1\r\nHost: x\r\n";
  for (const auto& [k, v] : h) req += k + ": " + v + "\r\n";
  req += "\r\n";
  HttpClient c("127.0.0.1", node.port());
  auto got = c.stream(req, [](std::string_view g) { return g.find("\r\n\r\n") != std::string_view::npos; }, 5s);
  if (!got.ok() || got->size() < 12) return 0;
  return std::stoi(got->substr(9, 3));
}

TEST(RolesTest, EveryEndpointWithEveryRole) {
  TestNode node;
  const std::string id = node.assigned_appeal();
  for (const Endpoint& e : endpoints()) {
    std::string target = e.target;
    if (auto at = target.find("{id}"); at != std::string::npos) target.replace(at, 4, id);
    const int anonymous = status_of(node, e, target, {});
    if (e.allowed.empty()) {
      EXPECT_EQ(anonymous, e.target == "/" ? 302 : 200) << e.method << " " << e.target;
      continue;
    }
    EXPECT_EQ(anonymous, 401) << e.method << " " << e.target << " without a token";
    for (Role r : kAllRoles) {
      const int s = status_of(node, e, target, node.auth(r));
      if (e.allowed.count(r)) {
        EXPECT_NE(s, 401) << e.method << " " << e.target << " as " << to_string(r);
        EXPECT_NE(s, 403) << e.method << " " << e.target << " as " << to_string(r);
        EXPECT_LT(s, 500) << e.method << " " << e.target << " as " << to_string(r);
      } else {
        EXPECT_EQ(s, 403) << e.method << " " << e.target << " as " << to_string(r);
      }
    }
  }
}

// True when `target` (a path) matches a router pattern such as /v1/calendars/{name} or
// /open311/v2/requests/{service_request_id}.json.
bool matches(const std::string& pattern, const std::string& target) {
  const auto p = split_path(pattern);
  const auto t = split_path(target);
  if (p.size() != t.size()) return false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const std::size_t close = p[i].find('}');
    if (p[i].starts_with("{") && close != std::string_view::npos) {
      if (!t[i].ends_with(p[i].substr(close + 1))) return false;
    } else if (p[i] != t[i]) {
      return false;
    }
  }
  return true;
}

// The table above is the specification: a route added to the server without a row here fails this test, so
// no endpoint escapes the role check. (POST /v1/appeals/{id}/{command} is the command table's, below.)
TEST(RolesTest, TheTableCoversEveryRouteOfTheServer) {
  TestNode node;
  for (const auto& route : node.node().service().router().entries()) {
    if (route.method == "POST" && route.pattern == "/v1/appeals/{id}/{command}") continue;
    bool covered = false;
    for (const Endpoint& e : endpoints()) {
      std::string target = e.target;
      if (auto at = target.find("{id}"); at != std::string::npos) target.replace(at, 4, "SHY-2026-0000001");
      target = target.substr(0, target.find('?'));
      if (e.method == route.method && matches(route.pattern, target)) covered = true;
    }
    EXPECT_TRUE(covered) << route.method << " " << route.pattern << " has no row in the roles table";
  }
}

// Which role sends which command: the three desks, the agency, and nobody else.
const std::map<std::string, std::set<Role>> kCommandRoles = {
    {"answer_on_first_contact", {R::kOperator}},
    {"classify", {R::kOperator, R::kInspector}},
    {"reclassify", {R::kInspector, R::kController}},
    {"send_for_review", {R::kOperator}},
    {"return_to_operator", {R::kInspector}},
    {"assign", {R::kInspector, R::kController}},
    {"redirect", {R::kInspector, R::kController, R::kAgency}},
    {"accept", {R::kAgency}},
    {"start_work", {R::kAgency}},
    {"hold", {R::kAgency}},
    {"resume", {R::kAgency}},
    {"request_extension", {R::kAgency}},
    {"grant_extension", {R::kController}},
    {"resolve", {R::kAgency}},
    {"record_callback", {R::kOperator}},
    {"close", {R::kOperator, R::kController}},
    {"reopen", {R::kOperator, R::kController}},
    {"merge", {R::kOperator, R::kInspector}},
    {"comment", {R::kOperator, R::kInspector, R::kController, R::kAgency}},
};

TEST(RolesTest, EveryCommandWithEveryRole) {
  TestNode node;
  const std::string id = node.assigned_appeal();
  for (const auto& [command, allowed] : kCommandRoles) {
    EXPECT_EQ(node.call("POST", "/v1/appeals/" + id + "/" + command, "{}", {{"If-Match", "\"1\""}}).status, 401)
        << command << " without a token";
    for (Role r : kAllRoles) {
      const int s = node.command(r, id, command, "{}").status;
      if (allowed.count(r)) {
        EXPECT_NE(s, 403) << command << " as " << to_string(r);
        EXPECT_LT(s, 500) << command << " as " << to_string(r);
      } else {
        EXPECT_EQ(s, 403) << command << " as " << to_string(r);
      }
    }
  }
  EXPECT_EQ(node.command(R::kController, id, "apply_parent_resolution").status, 404) << "engine-internal command";
}

}  // namespace
}  // namespace otinish::api::testing

namespace otinish::api {
namespace {

// A crash in the middle of writing tokens.jsonl leaves a torn last line. It is ignored on load, and the next
// write first cuts it off, so that a revocation appended after it is not swallowed into the torn line.
TEST(TokenFileTest, ARevocationAfterATornLastLineTakesEffect) {
  const std::string dir = ::testing::TempDir() + "/otinish-token-torn-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/tokens.jsonl";
  std::filesystem::remove(path);
  auto tokens = TokenStore::open(path);
  ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
  auto created = (*tokens)->create(Role::kOperator, "", "desk 1");
  ASSERT_TRUE(created.ok());
  {
    std::ofstream torn(path, std::ios::app);
    torn << R"({"op":"create","id":"deadbeefdeadbeef","ha)";  // the crash
  }
  auto reopened = TokenStore::open(path);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  ASSERT_TRUE((*reopened)->authenticate(created->token).has_value());
  ASSERT_TRUE((*reopened)->revoke(created->record.id).ok());
  EXPECT_FALSE((*reopened)->authenticate(created->token).has_value());
  auto after = TokenStore::open(path);  // e.g. the server, reading the file the command line wrote
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_FALSE((*after)->authenticate(created->token).has_value()) << "the revocation was lost";
  auto second = (*after)->create(Role::kAuditor, "", "auditor");
  ASSERT_TRUE(second.ok());
  auto last = TokenStore::open(path);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_TRUE((*last)->authenticate(second->token).has_value());
  EXPECT_EQ((*last)->list().size(), 2u) << "the torn record is gone, the two real ones stay";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace otinish::api
