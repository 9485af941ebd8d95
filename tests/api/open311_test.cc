// Open311 GeoReport v2 (docs/open311.md) against a real server with the example catalogue: every answer has
// GeoReport's fields with their JSON types, a civic app registers and follows a request, no answer carries the
// resident's personal data, and stages map to open and closed.
#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "tests/api/test_node.h"

namespace otinish::api::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using R = Role;

// ---- GeoReport v2's field lists, with the JSON types an answer may give each field ------------------------------

enum class T { kString, kStringOrNull, kNumberOrNull, kScalarOrNull, kBool, kInt, kArray };

bool has_type(const json::value& v, T t) {
  switch (t) {
    case T::kString: return v.is_string();
    case T::kStringOrNull: return v.is_string() || v.is_null();
    case T::kNumberOrNull: return v.is_number() || v.is_null();
    case T::kScalarOrNull: return v.is_string() || v.is_number() || v.is_null();
    case T::kBool: return v.is_bool();
    case T::kInt: return v.is_int64() || v.is_uint64();
    case T::kArray: return v.is_array();
  }
  return false;
}

using FieldList = std::vector<std::pair<const char*, T>>;

void expect_fields(const json::value& v, const FieldList& fields, const std::string& what) {
  ASSERT_TRUE(v.is_object()) << what << " is not an object: " << json::serialize(v);
  const json::object& o = v.as_object();
  for (const auto& [name, type] : fields) {
    const json::value* f = o.if_contains(name);
    ASSERT_NE(f, nullptr) << what << " has no " << name << ": " << json::serialize(v);
    EXPECT_TRUE(has_type(*f, type)) << what << "." << name << " has the wrong type: " << json::serialize(*f);
  }
}

const FieldList kServiceFields = {{"service_code", T::kString}, {"service_name", T::kString},
                                  {"description", T::kString},  {"metadata", T::kBool},
                                  {"type", T::kString},         {"keywords", T::kString},
                                  {"group", T::kString}};
const FieldList kDefinitionFields = {{"service_code", T::kString}, {"attributes", T::kArray}};
const FieldList kRequestFields = {
    {"service_request_id", T::kString}, {"status", T::kString},
    {"status_notes", T::kStringOrNull}, {"service_name", T::kString},
    {"service_code", T::kString},       {"description", T::kStringOrNull},
    {"agency_responsible", T::kStringOrNull}, {"service_notice", T::kStringOrNull},
    {"requested_datetime", T::kString}, {"updated_datetime", T::kStringOrNull},
    {"expected_datetime", T::kStringOrNull}, {"address", T::kStringOrNull},
    {"address_id", T::kScalarOrNull},   {"zipcode", T::kScalarOrNull},
    {"lat", T::kNumberOrNull},          {"long", T::kNumberOrNull},
    {"media_url", T::kStringOrNull}};
const FieldList kPostFields = {{"service_request_id", T::kString}, {"service_notice", T::kStringOrNull},
                               {"account_id", T::kStringOrNull}};
const FieldList kErrorFields = {{"code", T::kInt}, {"description", T::kString}};
const FieldList kDiscoveryFields = {{"changeset", T::kString}, {"contact", T::kString},
                                    {"key_service", T::kString}, {"endpoints", T::kArray}};
const FieldList kEndpointFields = {{"specification", T::kString}, {"url", T::kString}, {"changeset", T::kString},
                                   {"type", T::kString}, {"formats", T::kArray}};

// GeoReport's date-times: the W3C subset of ISO 8601, with a zone.
bool is_w3c_datetime(const json::value& v) {
  static const std::regex re(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d))");
  return v.is_string() && std::regex_match(std::string(v.as_string()), re);
}

void expect_request(const json::value& v) {
  expect_fields(v, kRequestFields, "request");
  const json::object& o = v.as_object();
  const std::string status(o.at("status").as_string());
  EXPECT_TRUE(status == "open" || status == "closed") << status;
  EXPECT_TRUE(is_w3c_datetime(o.at("requested_datetime"))) << o.at("requested_datetime");
  for (const char* f : {"updated_datetime", "expected_datetime"})
    EXPECT_TRUE(o.at(f).is_null() || is_w3c_datetime(o.at(f))) << f << " " << o.at(f);
}

// A GeoReport error answer: the status, and [{code, description}] with the same code.
void expect_error(const ClientResponse& r, int status) {
  EXPECT_EQ(r.status, status) << r.body;
  const json::value v = TestNode::json(r);
  ASSERT_TRUE(v.is_array() && !v.as_array().empty()) << r.body;
  for (const json::value& e : v.as_array()) {
    expect_fields(e, kErrorFields, "error");
    EXPECT_EQ(e.at("code").to_number<int>(), status) << r.body;
  }
}

// ---- requests ---------------------------------------------------------------------------------------------------

std::string url_encode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string form(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) out += (out.empty() ? "" : "&") + url_encode(k) + "=" + url_encode(v);
  return out;
}

const HeaderList kForm = {{"Content-Type", "application/x-www-form-urlencoded"}};

constexpr const char* kTopic = "lifts.operation.not_working";

class Open311Test : public ::testing::Test {
 protected:
  ClientResponse get(Role role, const std::string& target, HeaderList extra = {}) {
    return node_.as(role, "GET", target, "", extra);
  }
  // POST /open311/v2/requests.json as `role`, the form's other fields as given.
  ClientResponse post(Role role, std::vector<std::pair<std::string, std::string>> fields, HeaderList extra = {}) {
    HeaderList h = kForm;
    h.insert(h.end(), extra.begin(), extra.end());
    return node_.as(role, "POST", "/open311/v2/requests.json", form(fields), h);
  }
  // Registers a request as the civic app; returns its id.
  std::string registered(std::string address = "Tauke khan 5, Abay district") {
    ClientResponse r = post(R::kCivicApp, {{"service_code", kTopic},
                                           {"address_string", address},
                                           {"description", "the lift has not worked since Monday"}});
    EXPECT_EQ(r.status, 201) << r.body;
    return std::string(TestNode::json(r).at(0).at("service_request_id").as_string());
  }
  json::value request(const std::string& id) {
    ClientResponse r = get(R::kPublic, "/open311/v2/requests/" + id + ".json");
    EXPECT_EQ(r.status, 200) << r.body;
    const json::value v = TestNode::json(r);
    EXPECT_TRUE(v.is_array() && v.as_array().size() == 1) << r.body;
    return v.as_array().empty() ? json::value() : v.at(0);
  }

  TestNode node_{make_temp_dir(), {}, {.catalogue = true}};
};

TEST_F(Open311Test, DiscoveryNeedsNoTokenAndNamesTheJsonEndpoint) {
  ClientResponse r = node_.call("GET", "/open311/v2/discovery.json");
  ASSERT_EQ(r.status, 200) << r.body;
  const json::value v = TestNode::json(r);
  expect_fields(v, kDiscoveryFields, "discovery");
  ASSERT_EQ(v.at("endpoints").as_array().size(), 1u);
  const json::value& e = v.at("endpoints").at(0);
  expect_fields(e, kEndpointFields, "endpoint");
  EXPECT_EQ(e.at("specification").as_string(), "http://wiki.open311.org/GeoReport_v2");
  EXPECT_EQ(e.at("type").as_string(), "production");
  EXPECT_EQ(e.at("formats"), json::array{"application/json"});
  EXPECT_TRUE(std::string(e.at("url").as_string()).ends_with("/open311/v2")) << e.at("url");
}

TEST_F(Open311Test, ServicesAreTheCatalogueTopicsWithGeoReportFields) {
  ClientResponse r = get(R::kPublic, "/open311/v2/services.json");
  ASSERT_EQ(r.status, 200) << r.body;
  const json::value v = TestNode::json(r);
  ASSERT_TRUE(v.is_array());
  EXPECT_GT(v.as_array().size(), 300u) << "the example catalogue has 359 topics";
  bool found = false;
  for (const json::value& s : v.as_array()) {
    expect_fields(s, kServiceFields, "service");
    EXPECT_EQ(s.at("metadata"), false);
    EXPECT_EQ(s.at("type").as_string(), "realtime");
    if (s.at("service_code") == kTopic) {
      found = true;
      EXPECT_EQ(s.at("group").as_string(), "Lifts");
      EXPECT_NE(std::string(s.at("keywords").as_string()).find("lifts"), std::string::npos);
    }
  }
  EXPECT_TRUE(found) << kTopic;
}

TEST_F(Open311Test, ServicesSpeakTheRequestedLanguage) {
  const std::string en(TestNode::json(get(R::kPublic, "/open311/v2/services.json")).at(0).at("group").as_string());
  const std::string ru(
      TestNode::json(get(R::kPublic, "/open311/v2/services.json?locale=ru")).at(0).at("group").as_string());
  const std::string kk(TestNode::json(get(R::kPublic, "/open311/v2/services.json", {{"Accept-Language", "kk-KZ, ru;q=0.8"}}))
                           .at(0)
                           .at("group")
                           .as_string());
  EXPECT_EQ(en, "Reference information");
  EXPECT_EQ(ru, "Справочная информация");
  EXPECT_EQ(kk, "Анықтамалық ақпарат");
  expect_error(get(R::kPublic, "/open311/v2/services.json?locale=fr"), 400);
}

TEST_F(Open311Test, ServiceDefinitionHasNoAttributesAndAnUnknownCodeIs404) {
  ClientResponse r = get(R::kPublic, std::string("/open311/v2/services/") + kTopic + ".json");
  ASSERT_EQ(r.status, 200) << r.body;
  expect_fields(TestNode::json(r), kDefinitionFields, "service definition");
  EXPECT_EQ(TestNode::json(r).at("service_code"), kTopic);
  EXPECT_TRUE(TestNode::json(r).at("attributes").as_array().empty());
  expect_error(get(R::kPublic, "/open311/v2/services/lifts.teleported.json"), 404);
  EXPECT_EQ(get(R::kPublic, std::string("/open311/v2/services/") + kTopic + ".xml").status, 404) << "JSON only";
  EXPECT_EQ(get(R::kPublic, "/open311/v2/services/.json").status, 404);
}

TEST_F(Open311Test, ACivicAppRegistersThenFollowsItsRequest) {
  // services -> POST requests -> GET requests/{id} -> GET requests with filters
  ClientResponse services = get(R::kCivicApp, "/open311/v2/services.json");
  ASSERT_EQ(services.status, 200);
  ClientResponse posted = post(R::kCivicApp, {{"service_code", kTopic},
                                              {"address_string", "Tauke khan 5, Abay district"},
                                              {"description", "the lift has not worked since Monday"},
                                              {"account_id", "portal-user-77"}});
  ASSERT_EQ(posted.status, 201) << posted.body;
  const json::value created = TestNode::json(posted);
  ASSERT_TRUE(created.is_array() && created.as_array().size() == 1) << posted.body;
  expect_fields(created.at(0), kPostFields, "POST answer");
  EXPECT_EQ(created.at(0).at("account_id"), "portal-user-77");
  const std::string id(created.at(0).at("service_request_id").as_string());
  EXPECT_EQ(posted.header("location"), "/open311/v2/requests/" + id + ".json");

  const json::value one = request(id);
  expect_request(one);
  EXPECT_EQ(one.at("service_request_id").as_string(), id);
  EXPECT_EQ(one.at("service_code"), kTopic);
  EXPECT_EQ(one.at("status"), "open");
  EXPECT_EQ(one.at("address"), "Tauke khan, Abay district") << "street and district, no house number";

  // The engine registered what a desk would: the topic's category, the web channel, the coarsened location.
  const json::value appeal = TestNode::json(node_.as(R::kAuditor, "GET", "/v1/appeals/" + id));
  EXPECT_EQ(appeal.at("topic"), kTopic);
  EXPECT_EQ(appeal.at("channel"), "web");

  const std::string other = registered("Baitursynov street 12, Al-Farabi");
  for (const std::string& target :
       {std::string("/open311/v2/requests.json"), "/open311/v2/requests.json?service_code=" + std::string(kTopic),
        std::string("/open311/v2/requests.json?status=open"), std::string("/open311/v2/requests.json?start_date=2020-01-01"),
        "/open311/v2/requests.json?service_request_id=" + id + "," + other + ",SHY-2026-9999999"}) {
    ClientResponse r = get(R::kCivicApp, target);
    ASSERT_EQ(r.status, 200) << target << " " << r.body;
    const json::value list = TestNode::json(r);
    ASSERT_EQ(list.as_array().size(), 2u) << target << " " << r.body;
    for (const json::value& x : list.as_array()) expect_request(x);
  }
  for (const std::string& target :
       {std::string("/open311/v2/requests.json?status=closed"),
        std::string("/open311/v2/requests.json?service_code=roads.surface.potholes"),
        std::string("/open311/v2/requests.json?end_date=2020-01-01"),
        std::string("/open311/v2/requests.json?start_date=2099-01-01T00:00:00Z")}) {
    ClientResponse r = get(R::kCivicApp, target);
    ASSERT_EQ(r.status, 200) << target << " " << r.body;
    EXPECT_TRUE(TestNode::json(r).as_array().empty()) << target << " " << r.body;
  }
  expect_error(get(R::kCivicApp, "/open311/v2/requests.json?status=pending"), 400);
  expect_error(get(R::kCivicApp, "/open311/v2/requests.json?start_date=yesterday"), 400);
  expect_error(get(R::kCivicApp, "/open311/v2/requests/SHY-2026-9999999.json"), 404);
}

TEST_F(Open311Test, TheNewestComeFirst) {
  const std::string first = registered();
  const std::string second = registered();
  const json::value list = TestNode::json(get(R::kPublic, "/open311/v2/requests.json"));
  ASSERT_EQ(list.as_array().size(), 2u);
  EXPECT_EQ(list.at(0).at("service_request_id").as_string(), second);
  EXPECT_EQ(list.at(1).at("service_request_id").as_string(), first);
}

TEST_F(Open311Test, AddressStringGivesTheDistrictAndTheStreetWithoutNumbers) {
  const std::string id = registered("Шымкент, ул. Байтурсынова 12, кв. 4, Абайский район");
  const json::value appeal = TestNode::json(node_.as(R::kAuditor, "GET", "/v1/appeals/" + id));
  EXPECT_EQ(appeal.at("location").at("district"), "abay") << appeal;
  EXPECT_EQ(appeal.at("location").at("street"), "ул. Байтурсынова") << appeal;
  EXPECT_EQ(request(id).at("address"), "ул. Байтурсынова, Abay district");
  const json::value ru = TestNode::json(get(R::kPublic, "/open311/v2/requests/" + id + ".json?locale=ru")).at(0);
  EXPECT_EQ(ru.at("address"), "ул. Байтурсынова, Абайский район");

  const std::string upper = registered("Тауке хан 5, ӘЛ-ФАРАБИ АУДАНЫ");  // Kazakh, in capitals
  EXPECT_EQ(TestNode::json(node_.as(R::kAuditor, "GET", "/v1/appeals/" + upper)).at("location").at("district"),
            "al_farabi");

  const std::string unknown = registered("somewhere near the big bazaar");
  const json::value a2 = TestNode::json(node_.as(R::kAuditor, "GET", "/v1/appeals/" + unknown));
  EXPECT_EQ(a2.at("location").at("district"), "") << "no district is guessed";
}

TEST_F(Open311Test, AJsonBodyIsAcceptedToo) {
  ClientResponse r = node_.as(R::kCivicApp, "POST", "/open311/v2/requests.json",
                              std::string(R"({"service_code":")") + kTopic +
                                  R"(","lat":42.3,"long":69.6,"description":"lift broken"})",
                              {{"Content-Type", "application/json"}});
  ASSERT_EQ(r.status, 201) << r.body;
  expect_fields(TestNode::json(r).at(0), kPostFields, "POST answer");
}

TEST_F(Open311Test, AnIdempotencyKeyMakesARetryTheSameRequest) {
  const std::vector<std::pair<std::string, std::string>> fields = {{"service_code", kTopic},
                                                                   {"address_string", "Tauke khan 5"}};
  ClientResponse a = post(R::kCivicApp, fields, {{"Idempotency-Key", "k-1"}});
  ClientResponse b = post(R::kCivicApp, fields, {{"Idempotency-Key", "k-1"}});
  ASSERT_EQ(a.status, 201) << a.body;
  EXPECT_EQ(b.status, 201) << b.body;
  EXPECT_EQ(a.body, b.body);
  expect_error(post(R::kCivicApp, {{"service_code", kTopic}, {"address_string", "Abay"}}, {{"Idempotency-Key", "k-1"}}),
               422);
}

TEST_F(Open311Test, RefusalsHaveGeoReportsShape) {
  expect_error(post(R::kCivicApp, {{"address_string", "Tauke khan 5"}}), 400);                 // no service_code
  expect_error(post(R::kCivicApp, {{"service_code", kTopic}}), 400);                          // no location
  expect_error(post(R::kCivicApp, {{"service_code", "lifts.teleported"}, {"address_string", "x"}}), 422);
  ClientResponse bad_centre =
      post(R::kCivicApp, {{"service_code", kTopic}, {"address_string", "x"}, {"jurisdiction_id", "shymkent!"}});
  expect_error(bad_centre, 422);
  EXPECT_NE(bad_centre.body.find("centre code"), std::string::npos) << "jurisdiction_id is the centre's code";
  expect_error(node_.as(R::kCivicApp, "POST", "/open311/v2/requests.json", "service_code=%zz", kForm), 400);
  EXPECT_EQ(node_.node().store().head_position(), 0u) << "no refusal registered anything";
}

// ---- personal data ----------------------------------------------------------------------------------------------

TEST_F(Open311Test, NoAnswerCarriesTheResidentsNameContactOrText) {
  const std::string phone = "+7 701 555 1234";
  ClientResponse posted = post(R::kCivicApp, {{"service_code", kTopic},
                                              {"address_string", "Tauke khan 17, flat 42, Abay district"},
                                              {"first_name", "Aigerim"},
                                              {"last_name", "Nurlanovna"},
                                              {"phone", phone},
                                              {"email", "aigerim.n@example.kz"},
                                              {"device_id", "device-abc"},
                                              {"description", "stuck again, call Aigerim back on " + phone}});
  ASSERT_EQ(posted.status, 201) << posted.body;
  const std::string id(TestNode::json(posted).at(0).at("service_request_id").as_string());
  std::vector<ClientResponse> answers = {
      posted,
      get(R::kPublic, "/open311/v2/requests/" + id + ".json"),
      get(R::kPublic, "/open311/v2/requests.json"),
      get(R::kPublic, "/open311/v2/requests.json?service_request_id=" + id),
      get(R::kPublic, "/open311/v2/requests.json?locale=ru"),
      get(R::kPublic, "/open311/v2/requests.json?locale=kk"),
  };
  for (const ClientResponse& a : answers) {
    ASSERT_LT(a.status, 300) << a.body;
    for (const char* secret : {"Aigerim", "aigerim", "Nurlanovna", "701", "555 1234", "5551234", "example.kz",
                               "device-abc", "flat", "Tauke khan 17", "stuck again"}) {
      EXPECT_EQ(a.body.find(secret), std::string::npos) << "'" << secret << "' in " << a.body;
    }
  }
  // The desk still has them, sealed and read with a purpose.
  ClientResponse who = node_.as(R::kOperator, "GET", "/v1/appeals/" + id + "/applicant", "",
                                {{"Access-Purpose", "callback"}});
  ASSERT_EQ(who.status, 200) << who.body;
  EXPECT_EQ(TestNode::json(who).at("name"), "Aigerim Nurlanovna");
  EXPECT_EQ(TestNode::json(who).at("phone").as_string(), phone);
  EXPECT_EQ(TestNode::json(who).at("address"), "Tauke khan 17, flat 42, Abay district");
}

// ---- authentication ----------------------------------------------------------------------------------------------

TEST_F(Open311Test, ReadsNeedAToken) {
  expect_error(node_.call("GET", "/open311/v2/services.json"), 401);
  expect_error(node_.call("GET", "/open311/v2/requests.json"), 401);
  expect_error(node_.call("GET", "/open311/v2/requests.json?api_key=otn_0000000000000000_00"), 401);
  ClientResponse r = node_.call("GET", "/open311/v2/services.json", "", {{"Authorization", "Bearer nope"}});
  expect_error(r, 401);
  EXPECT_FALSE(r.header("www-authenticate").empty());
  for (Role role : kAllRoles) EXPECT_EQ(get(role, "/open311/v2/requests.json").status, 200) << to_string(role);
}

TEST_F(Open311Test, OnlyACivicAppOrAnOperatorPosts) {
  const std::vector<std::pair<std::string, std::string>> fields = {{"service_code", kTopic},
                                                                   {"address_string", "Tauke khan 5"}};
  expect_error(node_.call("POST", "/open311/v2/requests.json", form(fields), kForm), 401);
  expect_error(post(R::kPublic, fields), 403);
  expect_error(post(R::kAgency, fields), 403);
  EXPECT_EQ(post(R::kCivicApp, fields).status, 201);
  EXPECT_EQ(post(R::kOperator, fields).status, 201);
}

TEST_F(Open311Test, TheApiKeyCarriesTheToken) {
  auto fields = std::vector<std::pair<std::string, std::string>>{
      {"api_key", node_.token(R::kCivicApp)}, {"service_code", kTopic}, {"address_string", "Tauke khan 5"}};
  ClientResponse posted = node_.call("POST", "/open311/v2/requests.json", form(fields), kForm);
  ASSERT_EQ(posted.status, 201) << posted.body;
  const std::string id(TestNode::json(posted).at(0).at("service_request_id").as_string());
  ClientResponse got =
      node_.call("GET", "/open311/v2/requests/" + id + ".json?api_key=" + url_encode(node_.token(R::kPublic)));
  EXPECT_EQ(got.status, 200) << got.body;
  fields[0].second = node_.token(R::kPublic);
  expect_error(node_.call("POST", "/open311/v2/requests.json", form(fields), kForm), 403);
}

TEST_F(Open311Test, ACivicAppReadsNothingButThePublicData) {
  const std::string id = registered();
  EXPECT_EQ(get(R::kCivicApp, "/v1/appeals/" + id).status, 403);
  EXPECT_EQ(get(R::kCivicApp, "/v1/appeals").status, 403);
  EXPECT_EQ(get(R::kCivicApp, "/v1/appeals/" + id + "/applicant", {{"Access-Purpose", "x"}}).status, 403);
  EXPECT_EQ(get(R::kCivicApp, "/v1/events").status, 403);
  EXPECT_EQ(get(R::kCivicApp, "/v1/public/feed").status, 200);
  EXPECT_EQ(node_.command(R::kCivicApp, id, "comment", R"({"text":"x"})").status, 403);
}

// ---- status ------------------------------------------------------------------------------------------------------

TEST_F(Open311Test, StagesMapToOpenOrClosedWithTheStageInWords) {
  const std::string id = registered();
  auto expect_status = [&](const char* status, const char* words) {
    const json::value r = request(id);
    EXPECT_EQ(r.at("status"), status) << r;
    EXPECT_NE(std::string(r.at("status_notes").as_string()).find(words), std::string::npos) << r;
  };
  auto run = [&](Role role, const char* command, const char* body) {
    ClientResponse r = node_.command(role, id, command, body);
    ASSERT_EQ(r.status, 200) << command << " " << r.body;
  };
  expect_status("open", "registered");
  run(R::kOperator, "send_for_review", "{}");
  expect_status("open", "under review");
  run(R::kInspector, "assign", std::string(std::string(R"({"agency":")") + kAgency + "\"}").c_str());
  expect_status("open", "assigned");
  EXPECT_EQ(request(id).at("agency_responsible"), kAgency) << "an agency outside the directory shows its code";
  run(R::kAgency, "accept", "{}");
  expect_status("open", "accepted");
  run(R::kAgency, "start_work", "{}");
  expect_status("open", "in progress");
  run(R::kAgency, "resolve", R"({"outcome":"done","result":"the lift was repaired"})");
  expect_status("closed", "resolved (fixed)");
  run(R::kOperator, "record_callback", R"({"satisfied":false})");
  expect_status("closed", "checked with the resident");
  run(R::kOperator, "reopen", R"({"reason":"stopped again"})");
  expect_status("open", "reopened");
  EXPECT_EQ(TestNode::json(get(R::kPublic, "/open311/v2/requests.json?status=open")).as_array().size(), 1u);
  EXPECT_TRUE(TestNode::json(get(R::kPublic, "/open311/v2/requests.json?status=closed")).as_array().empty());
}

TEST(Open311DeadlineTest, ExpectedDatetimeIsTheAppealsDeadline) {
  TestNode node(make_temp_dir(), {}, {.city_rules = true, .catalogue = true});
  ClientResponse posted = node.as(R::kCivicApp, "POST", "/open311/v2/requests.json",
                                  form({{"service_code", kTopic}, {"address_string", "Tauke khan 5"}}), kForm);
  ASSERT_EQ(posted.status, 201) << posted.body;
  const std::string id(TestNode::json(posted).at(0).at("service_request_id").as_string());
  // The SLA service binds the appeal's clocks just after its registration.
  json::value r;
  for (int i = 0; i < 100; ++i) {
    r = TestNode::json(node.as(R::kPublic, "GET", "/open311/v2/requests/" + id + ".json")).at(0);
    if (!r.at("expected_datetime").is_null()) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(is_w3c_datetime(r.at("expected_datetime"))) << r;
  const json::value appeal = TestNode::json(node.as(R::kAuditor, "GET", "/v1/appeals?topic=" + std::string(kTopic)));
  const std::string due(appeal.at("appeals").at(0).at("due_at").as_string());
  EXPECT_EQ(std::string(r.at("expected_datetime").as_string()), due.substr(0, 19) + "Z");
}

TEST(Open311WithoutCatalogueTest, ServicesAnswer404) {
  TestNode node;
  expect_error(node.as(R::kPublic, "GET", "/open311/v2/services.json"), 404);
  expect_error(node.as(R::kCivicApp, "POST", "/open311/v2/requests.json",
                       form({{"service_code", kTopic}, {"address_string", "x"}}), kForm),
               404);
}

}  // namespace
}  // namespace otinish::api::testing
