#include "api/http/openapi.h"

#include <boost/json.hpp>

namespace otinish::api {

namespace json = boost::json;

namespace {

json::object problem_ref(std::string_view description) {
  return {{"description", description},
          {"content", {{"application/problem+json", {{"schema", {{"$ref", "#/components/schemas/Problem"}}}}}}}};
}

json::object json_ref(std::string_view description, std::string_view schema) {
  return {{"description", description},
          {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/" + std::string(schema)}}}}}}}};
}

json::object param(std::string_view name, std::string_view in, std::string_view description, bool required,
                   std::string_view type = "string") {
  return {{"name", name}, {"in", in}, {"description", description}, {"required", required},
          {"schema", {{"type", type}}}};
}

json::object op(std::string_view summary, std::string_view roles, json::array params, json::object responses) {
  json::object o{{"summary", summary}, {"description", "Roles: " + std::string(roles) + "."},
                 {"parameters", std::move(params)}, {"responses", std::move(responses)}};
  return o;
}

json::object common_errors(json::object r) {
  r["401"] = problem_ref("No token, or an unknown or revoked one.");
  r["403"] = problem_ref("The token's role may not do this.");
  r["429"] = problem_ref("too-many-auth-failures: this address presented too many invalid tokens within the window "
                         "(otinish serve --max-auth-failures, --auth-failure-window); Retry-After says when to retry.");
  return r;
}

// The answers of a resource that takes an Idempotency-Key, added to (or beside) its own 409 and 422.
json::object idempotent_errors(json::object r) {
  auto add = [&r](const char* code, std::string_view what) {
    if (!r.contains(code)) {
      r[code] = problem_ref(what);
      return;
    }
    json::value& d = r[code].as_object()["description"];
    d = std::string(d.as_string()) + " Or " + std::string(what);
  };
  add("409", "request-in-progress: a request with this Idempotency-Key is still running; Retry-After: 1.");
  add("422", "idempotency-key-reused: this Idempotency-Key was used for another request (method, path, query or "
             "body).");
  return r;
}

// A resource served from the views.
json::object views_503() {
  return problem_ref("views-unavailable: the server runs without projections; or view-behind: the views have not "
                     "reached the log position the answer must show within 2 s (Retry-After: 1).");
}

json::object string_props(std::initializer_list<std::string_view> names) {
  json::object props;
  for (auto n : names) props[n] = {{"type", "string"}};
  return props;
}

// Open311 GeoReport v2 (docs/open311.md): its own error shape, [{code, description}], and `api_key` beside the
// bearer token.
void add_open311(json::object& paths, json::object& schemas) {
  const json::object key = param("api_key", "query", "The token, when not sent as 'Authorization: Bearer'.", false);
  const json::object locale = param("locale", "query", "kk, ru or en (default: Accept-Language, else en).", false);
  auto errors = [](json::object r) {
    for (const char* code : {"400", "401", "403", "404", "409", "422", "429", "503"}) {
      if (r.contains(code)) continue;
      r[code] = {{"description", "GeoReport error."},
                 {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/GeoReportErrors"}}}}}}}};
    }
    return r;
  };
  auto array_of = [](std::string_view description, std::string_view schema) {
    return json::object{
        {"description", description},
        {"content", {{"application/json", {{"schema", {{"type", "array"},
                                                        {"items", {{"$ref", "#/components/schemas/" + std::string(schema)}}}}}}}}}};
  };
  paths["/open311/v2/discovery.json"] = {
      {"get", op("GeoReport service discovery: the endpoint, its specification and formats.", "none (no token)", {},
                 {{"200", {{"description", "changeset, contact, key_service, endpoints[]."}}}})}};
  paths["/open311/v2/services.json"] = {
      {"get", op("The catalogue's topics as GeoReport services (404 without a catalogue).", "every role",
                 {key, locale}, errors({{"200", array_of("Services.", "GeoReportService")}}))}};
  paths["/open311/v2/services/{service_code}.json"] = {
      {"get", op("A service definition: no service takes attributes.", "every role",
                 {param("service_code", "path", "A topic code.", true), key},
                 errors({{"200", {{"description", "{service_code, attributes: []}."}}}}))}};
  paths["/open311/v2/requests.json"] = {
      {"get", op("Service requests: the appeals as public data (no personal data, no free text), newest first, at "
                 "most 1000; by default those registered in the last 90 days.",
                 "every role",
                 {param("service_request_id", "query", "Comma-separated ids; the other filters are then ignored.",
                        false),
                  param("service_code", "query", "Comma-separated topic codes.", false),
                  param("start_date", "query", "Registered at or after (ISO 8601 with a zone, or a date).", false),
                  param("end_date", "query", "Registered before (a date: the end of that day).", false),
                  param("status", "query", "open, closed or both comma-separated.", false), key, locale},
                 errors({{"200", array_of("Service requests.", "GeoReportRequest")}}))},
      {"post", op("Register an appeal from a GeoReport request (form-encoded, or JSON): the topic's default "
                  "category, channel web, the district and street read from address_string.",
                  "civic_app, operator",
                  {param("Idempotency-Key", "header", "A retry with the same key gets the first answer.", false)},
                  errors({{"201", array_of("[{service_request_id, service_notice, account_id}].",
                                           "GeoReportCreated")}}))}};
  paths["/open311/v2/requests.json"].as_object()["post"].as_object()["requestBody"] = {
      {"required", true},
      {"content",
       {{"application/x-www-form-urlencoded",
         {{"schema",
           {{"type", "object"},
            {"properties",
             string_props({"api_key", "jurisdiction_id", "service_code", "lat", "long", "address_string",
                           "address_id", "email", "device_id", "account_id", "first_name", "last_name", "phone",
                           "description", "media_url"})},
            {"required", json::array{"service_code"}}}}}}}}};
  paths["/open311/v2/requests/{service_request_id}.json"] = {
      {"get", op("One service request, as a one-element array.", "every role",
                 {param("service_request_id", "path", "Appeal number, e.g. SHY-2026-0000123.", true), key, locale},
                 errors({{"200", array_of("The request.", "GeoReportRequest")}}))}};

  schemas["GeoReportErrors"] = {
      {"type", "array"},
      {"items", {{"type", "object"},
                 {"properties", {{"code", {{"type", "integer"}}}, {"description", {{"type", "string"}}}}},
                 {"required", json::array{"code", "description"}}}}};
  json::object service = string_props({"service_code", "service_name", "description", "type", "keywords", "group"});
  service["metadata"] = {{"type", "boolean"}};
  schemas["GeoReportService"] = {{"type", "object"}, {"properties", std::move(service)}};
  json::object request = string_props({"service_request_id", "status", "status_notes", "service_name",
                                       "service_code", "description", "agency_responsible", "service_notice",
                                       "requested_datetime", "updated_datetime", "expected_datetime", "address",
                                       "address_id", "zipcode", "media_url"});
  for (auto& [name, schema] : request) {
    if (name != "service_request_id" && name != "status" && name != "service_code" && name != "service_name" &&
        name != "requested_datetime") {
      schema = {{"type", json::array{"string", "null"}}};
    }
  }
  request["lat"] = {{"type", json::array{"number", "null"}}};
  request["long"] = {{"type", json::array{"number", "null"}}};
  schemas["GeoReportRequest"] = {{"type", "object"}, {"properties", std::move(request)}};
  schemas["GeoReportCreated"] = {{"type", "object"},
                                 {"properties", string_props({"service_request_id", "service_notice", "account_id"})}};
}

std::string build() {
  json::object paths;
  const json::object idem = param("Idempotency-Key", "header",
                                  "Any unique string (a UUID): a retry with the same key gets the first answer; "
                                  "the same key with another body is 422.", false);
  const json::object appeal_id = param("id", "path", "Appeal number, e.g. SHY-2026-0000123.", true);

  paths["/healthz"] = {{"get", op("Liveness and the log's head position. status is 'degraded', with reasons, "
                                  "when a calendar in force runs onto a provisional year (its yearly inputs not "
                                  "published) in fewer than 60 days; the answer is still 200.",
                                  "none (no token)", {}, {{"200", {{"description", "Serving."}}}})}};
  paths["/metrics"] = {{"get", op("Prometheus metrics (text format 0.0.4).", "admin, auditor", {},
                                  common_errors({{"200", {{"description", "Metrics."}}}}))}};
  paths["/v1/openapi.json"] = {{"get", op("This document.", "none (no token)", {},
                                          {{"200", {{"description", "OpenAPI 3.1."}}}})}};

  json::object post_appeals = op("Register an appeal. The engine allocates its number.", "operator, civic_app", {idem},
                                 idempotent_errors(common_errors(
                                     {{"201", json_ref("Registered; Location and ETag set.", "CommandResult")},
                                      {"400", problem_ref("Body is not a JSON object.")},
                                      {"422", problem_ref("A field is missing or invalid (see `field`).")}})));
  post_appeals["requestBody"] = {{"required", true},
                                 {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/RegisterAppeal"}}}}}}}};
  json::object list = op(
      "List appeals with filters, in appeal-number order, with cursor paging (pass next_after as after).",
      "operator, inspector, controller, auditor, agency (its own appeals only)",
      {param("stage", "query", "A lifecycle stage, e.g. assigned.", false),
       param("status", "query", "Another name for stage.", false),
       param("category", "query", "consultation, incident, proposal, complaint or gratitude.", false),
       param("topic", "query", "A topic code.", false), param("agency", "query", "An agency code.", false),
       param("district", "query", "A district.", false),
       param("overdue", "query", "true: only unresolved appeals past their deadline.", false, "boolean"),
       param("after", "query", "The cursor from the previous page.", false),
       param("limit", "query", "Page size (default 50, max 1000).", false, "integer")},
      common_errors({{"200", {{"description", "appeals, next_after (absent on the last page), checkpoint. A row's "
                                              "stream_version is not an ETag: GET the appeal for it."}}},
                     {"400", problem_ref("A filter is not a known value.")},
                     {"503", views_503()}}));
  paths["/v1/appeals"] = {{"post", std::move(post_appeals)}, {"get", std::move(list)}};
  paths["/v1/scorecards"] = {
      {"get", op("Agency scorecards: on time %, reopen rate, satisfaction; ranked above a minimum sample.",
                 "inspector, controller, auditor, agency (its own card)",
                 {param("min_sample", "query", "Resolved appeals needed to be ranked (default 30).", false, "integer")},
                 common_errors({{"200", {{"description", "ranked and too_small lists."}}}, {"503", views_503()}}))}};
  paths["/v1/public/feed"] = {
      {"get", op("The anonymised public feed: what happened to which kind of appeal where; never a name, phone, "
                 "exact address or free text.",
                 "every role",
                 {param("after", "query", "Continue after this feed position.", false, "integer"),
                  param("limit", "query", "At most this many (default 100).", false, "integer")},
                 common_errors({{"200", {{"description", "entries and next_after."}}}, {"503", views_503()}}))}};
  paths["/v1/projections/{name}/rebuild"] = {
      {"post", op("Rebuild a projection from position 0 into a new generation while the old one serves, then swap. "
                  "With an Idempotency-Key a retry gets the first answer and does not rebuild again (remembered in "
                  "memory only: after a restart the retry rebuilds).",
                  "admin", {param("name", "path", "appeals, timeline, public, scorecards or repeats.", true), idem},
                  idempotent_errors(common_errors({{"200", {{"description", "events scanned, generation, seconds."}}},
                                                   {"404", problem_ref("No such projection.")},
                                                   {"503", problem_ref("views-unavailable: the server runs without "
                                                                       "projections.")}})))}};

  paths["/v1/appeals/{id}"] = {
      {"get", op("The appeal now. ETag is its decision version (`version`): every event but the SLA service's timing "
                 "facts moves it (docs/http.md, Concurrency: If-Match). If-None-Match gives 304 while nothing at all "
                 "was appended since.",
                 "operator, inspector, controller, auditor, agency (its own appeals)",
                 {appeal_id, param("If-None-Match", "header", "An ETag previously read.", false)},
                 common_errors({{"200", json_ref("The appeal.", "Appeal")},
                                {"304", {{"description", "Not modified."}}},
                                {"404", problem_ref("No such appeal (or not visible to this agency).")}}))}};

  json::object post_cmd = op(
      "Run a command on an appeal: answer_on_first_contact, classify, reclassify, send_for_review, "
      "return_to_operator, assign, redirect, accept, start_work, hold, resume, request_extension, "
      "grant_extension, resolve, record_callback, close, reopen, merge, comment.",
      "depends on the command (docs/http.md#roles)",
      {appeal_id, param("command", "path", "The command's snake_case name.", true),
       param("If-Match", "header",
             "The appeal's decision version the command was decided on (its ETag, its `version`). SLA deadlines and "
             "warnings written since do not make it stale; another command, or a rung that reassigns the appeal or "
             "raises its priority, does.", true), idem},
      idempotent_errors(common_errors(
          {{"200", json_ref("Applied; ETag is the new decision version.", "CommandResult")},
           {"400", problem_ref("Body is not a JSON object, or If-Match is not a version.")},
           {"404", problem_ref("No such appeal or command.")},
           {"409", problem_ref("If-Match is stale (current_version says the decision version now), or the "
                               "lifecycle does not allow the command in the appeal's stage.")},
           {"422", problem_ref("A field is missing or invalid.")},
           {"428", problem_ref("If-Match is missing.")}})));
  post_cmd["requestBody"] = {{"required", false},
                             {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}};
  paths["/v1/appeals/{id}/{command}"] = {{"post", std::move(post_cmd)}};

  paths["/v1/appeals/{id}/timeline"] = {
      {"get", op("Every event of the appeal: who, when, what.",
                 "operator, inspector, controller, auditor, agency (its own appeals)", {appeal_id},
                 common_errors({{"200", {{"description", "Timeline entries in order, each with its stream version; "
                                                         "the appeal's version (ETag) and stream_version."}}},
                                {"404", problem_ref("No such appeal.")},
                                {"503", problem_ref("view-behind: the timeline view has not reached the appeal's "
                                                    "last event within 2 s (Retry-After: 1).")}}))}};
  paths["/v1/events"] = {
      {"get", op("The global event log from a position.", "operator, inspector, controller, auditor",
                 {param("from", "query", "First position (default 1).", false, "integer"),
                  param("limit", "query", "At most this many events (default 100, max 1000).", false, "integer")},
                 common_errors({{"200", json_ref("A page; next_from continues.", "EventPage")},
                                {"400", problem_ref("from or limit is not a number in range.")}}))}};
  paths["/v1/events/stream"] = {
      {"get", op("The log live, as Server-Sent Events (id = position). Reconnect with Last-Event-ID to resume "
                 "without gaps or duplicates. A client that does not read is disconnected once the server holds "
                 "more than 4 MiB for it beyond the socket buffers, or a write stalls for 10 s.",
                 "operator, inspector, controller, auditor",
                 {param("Last-Event-ID", "header", "Position of the last event received.", false),
                  param("from", "query", "First position wanted (when no Last-Event-ID); default: only new events.",
                        false, "integer")},
                 common_errors({{"200", {{"description", "text/event-stream"}}},
                                {"503", problem_ref("Too many streams open.")}}))}};
  json::object policy = param("policy", "query",
                              "What the publication does to appeals in flight: keep (default), reevaluate, stricter.",
                              false);
  json::object put_rules = op("Publish a rule set (YAML) through the rule registry (stream sla-rules). Invalid YAML, "
                              "or a calendar it names that is not published, leaves the rules in force untouched.",
                              "admin",
                              {param("If-Match", "header", "The rule-set version replaced (its publication number).",
                                     false),
                               policy,
                               param("file", "query", "The file name recorded and cited by the rules "
                                                      "(default rules.yaml).", false)},
                              common_errors({{"200", {{"description", "Published: version, position, content hash, "
                                                                      "policy, lint warnings."}}},
                                             {"400", problem_ref("policy or If-Match is malformed.")},
                                             {"409", problem_ref("If-Match is stale (current_version says the one in "
                                                                 "force).")},
                                             {"422", problem_ref("Every error, with line and column; or the calendars "
                                                                 "not published, each named.")}}));
  put_rules["requestBody"] = {{"required", true}, {"content", {{"application/yaml", {{"schema", {{"type", "string"}}}}}}}};
  paths["/v1/rules"] = {
      {"get", op("The rule set in force (YAML); ETag is its version (publication number in sla-rules), "
                 "X-Content-Hash its BLAKE2b-256, X-Rebind-Policy the policy it was published with.",
                 "operator, inspector, controller, agency, admin, auditor", {},
                 common_errors({{"200", {{"description", "application/yaml"}}},
                                {"404", problem_ref("None published yet.")}}))},
      {"put", std::move(put_rules)}};
  json::object simulate = op("What a candidate rule set (YAML body) would have done to the recorded history: "
                             "breaches added and removed per agency and category, deadlines moved, escalations. "
                             "Reads the log only; nothing is published.",
                             "admin",
                             {param("from", "query", "Only appeals registered at or after this instant.", false),
                              param("to", "query", "Only appeals registered before this instant.", false),
                              param("as_of", "query", "Decide as of this instant (default: to, else now).", false),
                              param("Idempotency-Key", "header",
                                    "A retry with the same key, body and query gets the first answer (remembered in "
                                    "memory only); another request under the key is 422.", false)},
                             idempotent_errors(common_errors(
                                 {{"200", {{"description", "The what-if report (JSON)."}}},
                                  {"400", problem_ref("from, to or as_of is not an instant.")},
                                  {"422", problem_ref("Every error, with line and column; or a calendar "
                                                      "that is not published.")}})));
  simulate["requestBody"] = {{"required", true},
                             {"content", {{"application/yaml", {{"schema", {{"type", "string"}}}}}}}};
  paths["/v1/rules/simulate"] = {{"post", std::move(simulate)}};
  json::object calendar_name = param("name", "path", "The calendar's name (kz, shymkent, round-the-clock).", true);
  json::object put_calendar = op("Publish a calendar (YAML) through the rule registry (stream sla-calendars). Its "
                                 "parent (inherits:) must be published first. Publishing a year's inputs (Kurban Ait, "
                                 "the transfer decree) re-decides the provisional deadlines they change.",
                                 "admin",
                                 {calendar_name,
                                  param("If-Match", "header", "The calendar version replaced (publication number).",
                                        false),
                                  param("policy", "query",
                                        "What the publication does to appeals in flight: provisional (default: only "
                                        "the deadlines computed on a year it makes final, where they change), keep, "
                                        "reevaluate, stricter.",
                                        false)},
                                 common_errors({{"200", {{"description", "Published: name, version, position, "
                                                                         "content hash, policy."}}},
                                                {"400", problem_ref("policy or If-Match is malformed.")},
                                                {"409", problem_ref("If-Match is stale.")},
                                                {"422", problem_ref("Every error, with line and column; the body names "
                                                                    "another calendar; the parent is not published.")}}));
  put_calendar["requestBody"] = {{"required", true},
                                 {"content", {{"application/yaml", {{"schema", {{"type", "string"}}}}}}}};
  paths["/v1/calendars/{name}"] = {
      {"get", op("The calendar in force under this name (YAML); ETag is its version, X-Content-Hash its BLAKE2b-256.",
                 "operator, inspector, controller, agency, admin, auditor", {calendar_name},
                 common_errors({{"200", {{"description", "application/yaml"}}},
                                {"404", problem_ref("Not published.")}}))},
      {"put", std::move(put_calendar)}};

  paths["/v1/appeals/{id}/applicant"] = {
      {"get", op("The applicant's contact (name, phone, address) and applicant_id, to call them back. Each read is "
                 "recorded (who, when, which appeal, the stated purpose): GET .../access-log. Cache-Control: no-store.",
                 "operator, controller, privacy_officer",
                 {appeal_id, param("Access-Purpose", "header", "Why you read it (1..200 characters), e.g. 'callback "
                                                               "with the result'; shown to the applicant on request.",
                                   true)},
                 common_errors({{"200", {{"description", "appeal_id, applicant_id, name, phone, address, sealed."}}},
                                {"400", problem_ref("Access-Purpose is missing (purpose-required).")},
                                {"404", problem_ref("No such appeal.")},
                                {"410", problem_ref("The applicant was erased (applicant-erased); the appeal "
                                                    "remains.")}}))}};
  paths["/v1/appeals/{id}/access-log"] = {
      {"get", op("Who read the applicant's personal data: each read's time, token, role, what and purpose.",
                 "auditor, privacy_officer", {appeal_id},
                 common_errors({{"200", {{"description", "appeal_id, reads[], as_of_position."}}},
                                {"404", problem_ref("No such appeal.")},
                                {"503", problem_ref("Views are off.")}}))}};
  json::object erase = op("Erase an applicant: every appeal of theirs records ApplicantErased, their data key is "
                          "destroyed and purged from the key store. The appeals and their history remain. "
                          "Erasing again answers 200 with already_erased.",
                          "privacy_officer, admin",
                          {param("id", "path", "The applicant id (ap-...), from GET /v1/appeals/{id}/applicant.", true)},
                          common_errors({{"200", {{"description", "applicant_id, erased, already_erased, appeals[]."}}},
                                         {"400", problem_ref("No reason given, or the body is not JSON.")},
                                         {"404", problem_ref("No such applicant.")},
                                         {"503", problem_ref("This server does not seal applicants (not-sealed).")}}));
  erase["requestBody"] = {
      {"required", true},
      {"content", {{"application/json", {{"schema", {{"type", "object"},
                                                     {"properties", string_props({"reason"})},
                                                     {"required", json::array{"reason"}}}}}}}}};
  paths["/v1/applicants/{id}"] = {{"delete", std::move(erase)}};
  json::object backup = op("Write a backup of the data directory while serving (the log, the applicants' keys, the "
                           "tokens, the checkpoints), verified (chain and indexes) before it answers. Every event "
                           "acknowledged before the request is in it.",
                           "admin",
                           {},
                           common_errors({{"201", {{"description", "The backup's manifest and its dir."}}},
                                          {"409", problem_ref("Backups are off (backups-off), or one is running "
                                                              "(backup-running).")},
                                          {"422", problem_ref("`to` is outside --backup-dir, or exists.")},
                                          {"503", problem_ref("The backup failed; nothing was left (backup-failed).")}}));
  backup["requestBody"] = {
      {"required", false},
      {"content", {{"application/json", {{"schema", {{"type", "object"}, {"properties", string_props({"to"})}}}}}}}};
  paths["/v1/backups"] = {{"post", std::move(backup)}};
  const std::string everyone = "every role (hashes of the log, meant to be published)";
  paths["/v1/checkpoint"] = {
      {"get", op("The newest checkpoint the server signed (C2SP tlog-checkpoint in a signed note, text/plain): the "
                 "log's origin, tree size and Merkle root, with Ed25519 signature lines. Verify it with the server's "
                 "verifier key, obtained from the operator out of band (docs/proof.md).",
                 everyone, {param("size", "query", "A kept checkpoint of this tree size instead of the newest.", false,
                                  "integer")},
                 common_errors({{"200", {{"description", "The signed note (text/plain)."}}},
                                {"404", problem_ref("No checkpoint signed yet, or none kept of that size.")}}))}};
  paths["/v1/proofs/inclusion"] = {
      {"get", op("RFC 6962 inclusion proof of the event at a position in the tree of a size (default: the head).",
                 everyone,
                 {param("position", "query", "The event's global position (1-based; leaf index = position - 1).", true,
                        "integer"),
                  param("size", "query", "The tree size, e.g. a checkpoint's.", false, "integer")},
                 common_errors({{"200", {{"description", "position, leaf_index, size, event_hash (hex), leaf_hash, "
                                                         "root, proof[] (base64 SHA-256 hashes, bottom-up)."}}},
                                {"400", problem_ref("position or size is not a number.")},
                                {"422", problem_ref("The position is past the size, or the size past the log.")}}))}};
  auto ok = [](std::string_view d) { return json::object{{"description", d}}; };
  const json::object page = {{"description", "The console's page or file (text/html, JavaScript, CSS)."}};
  paths["/"] = {{"get", op("Redirects (302) to the browser console, /console/.", "none (no token)", {},
                           {{"302", ok("To /console/.")}})}};
  paths["/console"] = {{"get", op("The browser console's page (docs/console.md); it calls this API with the "
                                  "user's token.", "none (no token)", {}, {{"200", page}})}};
  paths["/console/{file}"] = {{"get", op("One of the console's files, compiled into the server; ETag, "
                                         "If-None-Match -> 304.", "none (no token)",
                                         {param("file", "path", "app.js, i18n.js, style.css, index.html", true)},
                                         {{"200", page}, {"404", problem_ref("No such file.")}})}};
  paths["/v1/session"] = {{"get", op("Who the token is: role, agency, permissions and the commands it may send "
                                     "(what a client shows).", "every role", {},
                                     common_errors({{"200", ok("{token_id, role, agency?, permissions[], commands[]}")}}))}};
  paths["/v1/catalogue"] = {{"get", op("Topics with kk/ru/en names, category, agency and danger flag; agencies; "
                                       "districts. ETag; If-None-Match -> 304.", "every role", {},
                                       common_errors({{"200", ok("The catalogue.")}, {"304", ok("Unchanged.")},
                                                      {"404", problem_ref("The server runs without a catalogue.")}}))}};
  paths["/v1/repeats/check"] = {{"post", op("Before registering: the appeals a registration by this applicant on "
                                            "this topic would repeat (30 days). Body {topic, applicant{name?, phone?, "
                                            "address?}}.", "operator", {},
                                            common_errors({{"200", ok("{repeats[{appeal_id, registered_at, reason}]}")},
                                                           {"400", problem_ref("No topic, or not JSON.")},
                                                           {"503", views_503()}}))}};
  paths["/v1/public/appeals/{id}"] = {{"get", op("An appeal's public status by its number: stage, topic, agency, "
                                                 "deadline, outcome; no personal data.", "every role", {appeal_id},
                                                 common_errors({{"200", ok("The status.")},
                                                                {"404", problem_ref("No such appeal.")},
                                                                {"503", views_503()}}))}};
  paths["/v1/calendars"] = {{"get", op("The calendars the rules in force run on, with their versions and "
                                       "provisional years.", "operator, inspector, controller, agency, admin, auditor",
                                       {}, common_errors({{"200", ok("{calendars[...]}")}}))}};
  paths["/v1/calendars/{name}/days"] = {
      {"get", op("One year of a calendar in force, day by day: working or not, minutes, why, provisional.",
                 "operator, inspector, controller, agency, admin, auditor",
                 {param("name", "path", "The calendar.", true), param("year", "query", "The year.", true, "integer")},
                 common_errors({{"200", ok("{calendar, version, year, working_days, days[]}")},
                                {"400", problem_ref("No year.")}, {"404", problem_ref("No such calendar in force.")}}))}};
  paths["/v1/log/verify"] = {
      {"get", op("The newest run of verify over the whole log (chain, Merkle tree, indexes) and the newest checkpoint.",
                 "auditor", {}, common_errors({{"200", ok("{state, ok?, events?, tree_root?, problem?, ...}")}}))},
      {"post", op("Start verify over the whole log in the background.", "auditor", {},
                  common_errors({{"202", ok("Started; GET reports progress.")},
                                 {"409", problem_ref("A run is already going.")}}))}};
  paths["/v1/appeals/{id}/evidence"] = {
      {"get", op("The appeal's evidence bundle (docs/evidence.md) against the newest signed checkpoint: its events "
                 "and the rule sets and calendars they cite, each with an inclusion proof. Check it offline with "
                 "`otinish evidence verify`.",
                 "auditor", {appeal_id},
                 common_errors({{"200", {{"description", "The bundle (JSON, format otinish-evidence/1)."}}},
                                {"404", problem_ref("No such appeal, or no checkpoint signed yet.")}}))}};
  paths["/v1/proofs/consistency"] = {
      {"get", op("RFC 6962 consistency proof that the tree of size `to` (default: the head) extends the tree of size "
                 "`from`.",
                 everyone,
                 {param("from", "query", "The earlier tree size (a checkpoint's).", true, "integer"),
                  param("to", "query", "The later tree size.", false, "integer")},
                 common_errors({{"200", {{"description", "from, to, from_root, to_root, proof[] (base64)."}}},
                                {"400", problem_ref("from or to is not a number.")},
                                {"422", problem_ref("from > to, or to past the log.")}}))}};

  json::object schemas;
  schemas["Problem"] = {
      {"type", "object"},
      {"description", "RFC 9457 problem details."},
      {"properties",
       {{"type", {{"type", "string"}}}, {"title", {{"type", "string"}}}, {"status", {{"type", "integer"}}},
        {"detail", {{"type", "string"}}}, {"field", {{"type", "string"}}},
        {"current_version", {{"type", "integer"}}}, {"errors", {{"type", "array"}}}}},
      {"required", json::array{"type", "title", "status", "detail"}}};
  json::object reg_props = string_props({"centre", "category", "topic", "priority", "channel", "text"});
  reg_props["location"] = {{"type", "object"}, {"properties", string_props({"district", "street"})}};
  reg_props["applicant"] = {{"type", "object"}, {"properties", string_props({"name", "phone", "address"})}};
  schemas["RegisterAppeal"] = {{"type", "object"},
                               {"properties", std::move(reg_props)},
                               {"required", json::array{"centre", "category", "topic", "text"}}};
  schemas["CommandResult"] = {{"type", "object"},
                              {"properties",
                               {{"id", {{"type", "string"}}}, {"stage", {{"type", "string"}}},
                                {"version", {{"type", "integer"}, {"description", "The decision version (the ETag)."}}},
                                {"stream_version", {{"type", "integer"}, {"description", "The stream's version."}}},
                                {"position", {{"type", "integer"}}}}}};
  schemas["Appeal"] = {{"type", "object"},
                       {"properties",
                        {{"id", {{"type", "string"}}},
                         {"version", {{"type", "integer"}, {"description", "The decision version (the ETag)."}}},
                         {"stream_version", {{"type", "integer"}, {"description", "The last event's stream version, "
                                                                                  "SLA facts included."}}},
                         {"stage", {{"type", "string"}}},
                         {"category", {{"type", "string"}}}, {"topic", {{"type", "string"}}},
                         {"agency", {{"type", "string"}}},
                         {"allowed_commands", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}};
  schemas["EventPage"] = {{"type", "object"},
                          {"properties",
                           {{"events", {{"type", "array"}}}, {"next_from", {{"type", "integer"}}},
                            {"head_position", {{"type", "integer"}}}}}};

  add_open311(paths, schemas);

  json::object doc{
      {"openapi", "3.1.0"},
      {"info",
       {{"title", "otinish"},
        {"version", "0.1.0"},
        {"description", "Workflow and SLA rules engine for city appeal centres (109 lines). Errors are RFC 9457 "
                        "problem+json. Authenticate with 'Authorization: Bearer <token>'."}}},
      {"paths", std::move(paths)},
      {"components",
       {{"schemas", std::move(schemas)},
        {"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}}}},
      {"security", json::array{json::object{{"bearer", json::array{}}}}}};
  return json::serialize(doc);
}

}  // namespace

const std::string& openapi_document() {
  static const std::string doc = build();
  return doc;
}

}  // namespace otinish::api
