// Fuzz target for every request body the HTTP API parses, each through the service as a client sends it (auth,
// idempotency, the resource) and, where a pure parser exists, directly as well.
//
// Input: one byte choosing the resource (its distance from '0', modulo the count), then the body:
//   '0' POST /v1/appeals                       JSON registration (register_from_json)
//   '1' POST /v1/appeals/{id}/{command}        "<command>\n<JSON fields>" (the command as the target's last
//                                              segment; parse_command_kind, command_from_json);
//                                              sent with a stale If-Match, so nothing is written
//   '2' PUT  /v1/rules                         YAML rule set; stale If-Match: parsed and linted, never published
//   '3' POST /v1/rules/simulate                YAML rule set over a window without appeals
//   '4' PUT  /v1/calendars/kz                  YAML calendar; stale If-Match
//   '5' POST /v1/repeats/check                 JSON
//   '6' POST /open311/v2/requests.json         a form body (parse_form)
//   '7' POST /open311/v2/requests.json         a JSON body
//   '8' DELETE /v1/applicants/{id}             JSON {reason} (an erasure; the appeal's applicant once erased,
//                                              later ones answer 410 after the body is read)
// Properties (FuzzNode::check): no crash, sanitizer report or exception; never a 500; JSON where announced.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "api/http/form.h"
#include "api/http/json_codec.h"
#include "tests/fuzz/fuzz_node.h"

namespace {

using namespace otinish;
using api::Role;

struct BodyResource {
  const char* method;
  const char* target;
  Role role;
  const char* content_type;
  const char* if_match;  // "" for none
};

constexpr BodyResource kResources[] = {
    {"POST", "/v1/appeals", Role::kOperator, "application/json", ""},
    {"POST", "/v1/appeals/APPEAL-ID/", Role::kOperator, "application/json", "\"0\""},
    {"PUT", "/v1/rules?policy=keep", Role::kAdmin, "application/yaml", "\"999999\""},
    {"POST", "/v1/rules/simulate?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z", Role::kAdmin, "application/yaml", ""},
    {"PUT", "/v1/calendars/kz", Role::kAdmin, "application/yaml", "\"999999\""},
    {"POST", "/v1/repeats/check", Role::kOperator, "application/json", ""},
    {"POST", "/open311/v2/requests.json", Role::kCivicApp, "application/x-www-form-urlencoded", ""},
    {"POST", "/open311/v2/requests.json", Role::kCivicApp, "application/json", ""},
    {"DELETE", "/v1/applicants/APPEAL-ID", Role::kPrivacyOfficer, "application/json", ""},
};

// The command resource: the pure parsers, then the role that may send the command.
Role command_role(std::string_view name, std::string_view body) {
  auto kind = engine::parse_command_kind(name);
  if (!kind.ok()) return Role::kOperator;
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(body, ec);
  if (!ec && v.is_object()) (void)api::command_from_json(*kind, v.as_object());
  for (Role r : api::kAllRoles) {
    if (api::role_may_run(r, *kind)) return r;
  }
  return Role::kOperator;
}

void parse_directly(std::size_t resource, std::string_view body) {
  if (resource == 0 || resource == 7) {
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(body, ec);
    if (!ec && v.is_object()) (void)api::register_from_json(v.as_object());
  } else if (resource == 6) {
    api::FormFields fields;
    (void)api::parse_form(body, &fields);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  fuzz::FuzzNode& node = fuzz::FuzzNode::get();
  const std::size_t which = static_cast<std::uint8_t>(data[0] - '0') % std::size(kResources);
  const BodyResource& res = kResources[which];
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  api::HttpRequest q;
  q.method = res.method;
  q.target = node.substitute(res.target);
  Role role = res.role;
  if (which == 1) {
    const std::size_t nl = body.find('\n');
    const std::string_view name = body.substr(0, nl);
    body = nl == std::string_view::npos ? std::string_view{} : body.substr(nl + 1);
    role = command_role(name, body);
    q.target += name;
  }
  parse_directly(which, body);
  // The path and query as the server decodes them; a target it refuses (400) reaches no resource.
  const std::size_t query = q.target.find('?');
  if (!api::percent_decode(std::string_view(q.target).substr(0, query), false, &q.path)) return 0;
  if (query != std::string::npos && !api::parse_form(std::string_view(q.target).substr(query + 1), &q.query)) return 0;
  q.headers["authorization"] = "Bearer " + node.token(role);
  q.headers["content-type"] = res.content_type;
  if (*res.if_match != '\0') q.headers["if-match"] = res.if_match;
  q.body = std::string(body);
  q.request_id = "fuzz";
  fuzz::FuzzNode::check(q, node.service().handle(q));
  return 0;
}
