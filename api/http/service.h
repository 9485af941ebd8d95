// api/http/service.h: the otinish HTTP API: authentication, roles, and every resource, on top of the engine.
//
// ApiService turns an HttpRequest into an HttpResponse (it is the server's Handler) and observes finished
// requests (metrics, one JSON log line each). It owns no socket; tests call handle() directly or through a
// real HttpServer (tests/api/).
//
// Resources (docs/http.md has every field and error; GET /v1/openapi.json describes them as OpenAPI 3.1):
//   GET  /healthz                          liveness and the log's head position (no token)
//   GET  /metrics                          Prometheus text
//   GET  /v1/openapi.json                  this API (no token)
//   POST /v1/appeals                       register an appeal (201, Location, ETag)
//   GET  /v1/appeals/{id}                  the appeal now (ETag = its version; If-None-Match -> 304)
//   POST /v1/appeals/{id}/{command}        run a command (If-Match required: 428 without, 409 if stale)
//   GET  /v1/appeals?stage=&category=&topic=&agency=&district=&overdue=&after=&limit=   list, cursor paging
//   GET  /v1/appeals/{id}/timeline         who did what and when (the audit timeline view)
//   GET  /v1/scorecards                    agency scorecards (an agency sees its own)
//   GET  /v1/public/feed?after=&limit=     the anonymised public feed
//   POST /v1/projections/{name}/rebuild    rebuild a view from position 0 while serving (admin)
//   GET  /v1/events?from=&limit=           the global log from a position
//   GET  /v1/events/stream                 the same, live, as Server-Sent Events (Last-Event-ID resumes)
//   GET  /v1/rules, PUT /v1/rules          the SLA rule set in force (YAML), published through the RuleRegistry
//                                          ("sla-rules"); ?policy=keep|reevaluate|stricter; 422 lists every
//                                          error's line:column, or names a calendar that is not published
//   POST /v1/rules/simulate?from=&to=&as_of=  what a candidate rule set (YAML body) would have done to the
//                                          recorded history (engine/what_if.h); nothing is written
//   GET  /v1/calendars/{name}, PUT ...     a calendar (YAML), published through the registry ("sla-calendars")
//   GET  /v1/calendars, /v1/calendars/{name}/days?year=   the calendars in force with their versions; a year
//                                          day by day (working or not, why, provisional)
//   GET  /v1/appeals/{id}/applicant        the applicant's contact, for the callback (Access-Purpose required;
//                                          each read is recorded; 410 once erased)   api/http/applicants.cc
//   GET  /v1/appeals/{id}/access-log       who read the applicant's data, when and why
//   DELETE /v1/applicants/{id}             erase an applicant: the data key is destroyed, the appeals stay
//   GET  /v1/session                       who the token is: role, agency, permissions, commands it may run
//   GET  /v1/catalogue                     topics (kk/ru/en names), agencies and districts; ETag
//   POST /v1/repeats/check                 before registering: the resident's recent appeals on the topic
//   GET  /v1/public/appeals/{id}           an appeal's public status by its number (no personal data)
//   GET  /v1/log/verify, POST ...          the newest run of verify over the whole log; POST starts one
//   GET  /console/...                      the browser console (static files; it calls this API with the
//                                          user's token)                              api/http/console.cc
//   /open311/v2/...                        Open311 GeoReport v2 for civic apps: discovery, services,
//                                          requests (the public data), POST requests   api/http/open311.cc
// Every POST that changes or computes something (registrations, commands, Open311 requests, rebuilds,
// simulations) takes an Idempotency-Key: a retry gets the first answer (Idempotent-Replayed: true); another
// request (method, path, query or body) under the key is 422; a retry while the first runs is 409.
//
// Thread-safety: thread-safe; handle() runs on many worker threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <variant>

#include <boost/json/fwd.hpp>

#include "api/http/auth.h"
#include "api/http/backup.h"
#include "api/http/auth_throttle.h"
#include "api/http/form.h"
#include "api/http/http_types.h"
#include "api/http/metrics.h"
#include "api/http/router.h"
#include "common/time.h"
#include "engine/engine.h"
#include "engine/projection.h"
#include "engine/rule_registry.h"
#include "store/event_store.h"

namespace otinish::engine::privacy {
class KeyStore;
class AccessRecorder;
}  // namespace otinish::engine::privacy

namespace otinish::engine::proof {
class CheckpointDirectory;
}  // namespace otinish::engine::proof

namespace otinish::city {
struct CityCatalogue;
}  // namespace otinish::city

namespace otinish::api {

// The personal-data parts of a server. `keys` is null when applicants are not sealed (plain, tests only):
// erasure then answers 503. `access` records every read of personal data; REQUIRED for the applicant resource.
struct ServicePrivacy {
  engine::privacy::KeyStore* keys = nullptr;
  engine::privacy::AccessRecorder* access = nullptr;
};

// The proof parts of a server: the checkpoints it signed (null: none kept; GET /v1/checkpoint answers 404).
struct ServiceProof {
  const engine::proof::CheckpointDirectory* checkpoints = nullptr;
};

// The User-Agent of `otinish serve`'s own liveness probe under systemd (a GET /healthz every half watchdog
// period). Its successful answers are counted in the metrics but not written to the access log, which would
// otherwise hold a line every 15 seconds of every day.
inline constexpr std::string_view kWatchdogUserAgent = "otinish-watchdog";

struct ServiceOptions {
  // Page size of /v1/events when ?limit is absent, and the largest accepted.
  std::size_t default_page = 100;
  std::size_t max_page = 1000;
  // The largest page of GET /v1/appeals (the view's own limit): a queue of 10,000 open appeals in one request.
  std::size_t max_appeal_page = 10'000;
  // Commands must carry If-Match with the appeal's version (428 without). Off only for trusted tools.
  bool require_if_match = true;
  // Idempotency keys remembered (with their first answer) in memory; older ones fall back to the engine's
  // command-id deduplication, which still returns the same appeal but cannot spot a changed body.
  std::size_t idempotency_entries = 100'000;
  // Write one JSON line per request to the log stream.
  bool access_log = true;
  // Threads deciding appeals in POST /v1/rules/simulate (what-if over the whole history; 0: all cores).
  unsigned simulate_threads = 1;
  // The centre an appeal registered through Open311 belongs to when the request names no jurisdiction_id.
  std::string open311_centre = "SHY";
  // Failed authentications per peer before it is refused with 429 (api/http/auth_throttle.h).
  AuthThrottleOptions auth_throttle;
  // Called before a registration or a command is decided; may block to slow intake down. The node waits here
  // while the SLA service is too far behind (NodeOptions::max_sla_lag). Null: nothing.
  std::function<void()> intake_gate;
  // Writes a backup into the directory named (empty: one the node names) and reports it: POST /v1/backups
  // (the node checks where it may write; api/http/backup.h). Null: backups over HTTP are off (409).
  std::function<Result<BackupReport>(const std::string& to)> backup;
};

class IdempotencyCache;
class LogVerification;

class ApiService {
 public:
  // Everything passed must outlive the service. `registry` must be loaded (the SLA service loads it at its
  // start). `views` may be null (then the list, scorecard and public-feed resources answer 503); `catalogue`
  // may be null (topics are not checked; with one, an unknown topic is 422 naming /topic); `log` may be null.
  // `city` is the catalogue's full directory (topic names in kk/ru/en, agencies, districts) behind
  // GET /v1/catalogue and Open311's services; null: those answer 404 `no-catalogue`.
  ApiService(engine::Engine& engine, store::EventStore& store, engine::RuleRegistry& registry, TokenStore& tokens,
             const Clock& clock, engine::ProjectionRunner* views, const engine::TopicCatalogue* catalogue,
             ServiceOptions options = {}, std::ostream* log = nullptr, ServicePrivacy privacy = {},
             ServiceProof proof = {}, const city::CityCatalogue* city = nullptr);
  ~ApiService();

  // The server's handler: the response, or one answered later (HttpResponse::later; a registration is answered
  // once durable, from the store's completion).
  HttpResponse serve(const HttpRequest& request);
  // serve(), waiting for a later answer: the whole response (for callers without a server: tests, fuzzers).
  HttpResponse handle(const HttpRequest& request);
  // The requests serve() answers without blocking, which a server may run on its I/O threads
  // (HttpServer's InlineRequests): registrations, POST /v1/appeals. Their authentication, parsing and checks
  // run there, so that a refusal costs no hand-off; what may block (the SLA intake wait, the engine) goes to
  // the offload function.
  static bool answers_inline(const HttpRequest& request);
  // Where serve() sends the work of an inline request that may block (HttpServer::offload); `offload` runs
  // what it is given on a thread that may block, and must not drop it. Unset: that work runs on the calling
  // thread. Set before serving.
  void set_offload(std::function<void(std::function<void()>)> offload);
  void observe(const RequestRecord& record);
  Metrics& metrics() noexcept { return metrics_; }
  const Router& router() const noexcept { return router_; }

  // Writes one structured log line ({"ts":..,"level":..,"msg":..} plus `fields`, a JSON object's members).
  void log_line(std::string_view level, std::string_view msg, std::string_view fields_json = "{}");

 private:
  // One request, with its caller once authenticated (resources live in service.cc and api/http/<family>.cc).
  struct Call {
    const HttpRequest& q;
    const PathParams& p;
    Principal who;
    bool authenticated = false;
  };
  void add_routes();
  HttpResponse healthz(Call& c);
  HttpResponse metrics_text(Call& c);
  HttpResponse openapi(Call& c);
  HttpResponse register_appeal(Call& c);
  HttpResponse get_appeal(Call& c);
  HttpResponse run_command(Call& c);
  HttpResponse timeline(Call& c);
  HttpResponse events(Call& c);
  HttpResponse events_stream(Call& c);
  HttpResponse list_appeals(Call& c);
  HttpResponse scorecards(Call& c);
  HttpResponse public_feed(Call& c);
  HttpResponse rebuild_projection(Call& c);
  HttpResponse get_rules(Call& c);
  HttpResponse put_rules(Call& c);
  HttpResponse simulate_rules(Call& c);
  HttpResponse get_calendar(Call& c);
  HttpResponse list_calendars(Call& c);
  HttpResponse calendar_days(Call& c);
  HttpResponse put_calendar(Call& c);
  HttpResponse get_applicant(Call& c);   // api/http/applicants.cc
  HttpResponse access_log(Call& c);      // api/http/applicants.cc
  HttpResponse erase_applicant(Call& c);  // api/http/applicants.cc
  HttpResponse create_backup(Call& c);    // api/http/backups.cc
  HttpResponse get_checkpoint(Call& c);     // api/http/proofs.cc
  HttpResponse inclusion_proof(Call& c);    // api/http/proofs.cc
  HttpResponse consistency_proof(Call& c);  // api/http/proofs.cc
  HttpResponse evidence(Call& c);           // api/http/proofs.cc
  HttpResponse verify_status(Call& c);      // api/http/proofs.cc
  HttpResponse verify_start(Call& c);       // api/http/proofs.cc
  HttpResponse session(Call& c);       // api/http/session.cc
  HttpResponse catalogue(Call& c);     // api/http/session.cc
  HttpResponse repeat_check(Call& c);  // api/http/session.cc
  HttpResponse public_appeal(Call& c);
  HttpResponse console_asset(Call& c);  // api/http/console.cc
  HttpResponse console_root(Call& c);   // api/http/console.cc
  // Open311 GeoReport v2 (api/http/open311.cc): routes with their own authentication (a bearer token or
  // GeoReport's api_key) and GeoReport's error shape; `in` holds the query's fields and, for a POST, the body's.
  void add_open311_routes();
  HttpResponse open311_discovery(Call& c, const FormFields& in);
  HttpResponse open311_services(Call& c, const FormFields& in);
  HttpResponse open311_service(Call& c, const FormFields& in);
  HttpResponse open311_requests(Call& c, const FormFields& in);
  HttpResponse open311_request(Call& c, const FormFields& in);
  HttpResponse open311_post_request(Call& c, const FormFields& in);
  std::optional<HttpResponse> check_topic(const boost::json::object& body) const;
  // Registers the appeal a POST /v1/appeals body describes, for the caller: the catalogue's topic check, the
  // intake gate, the engine command and its id (from the Idempotency-Key). Answered later, once the
  // registration is durable (from the store's completion: no worker waits for the fsync): `respond` makes the
  // answer from the engine's result, on that thread; a refusal is the problem to answer. Both registration
  // resources (theirs and Open311's) call it inside idempotent().
  using RegisteredResponder = std::function<HttpResponse(const engine::CommandResult&)>;
  HttpResponse register_from_body(Call& c, const boost::json::object& body, RegisteredResponder respond);
  HttpResponse idempotent(Call& c, const std::function<HttpResponse()>& run);
  // The principal of the `token` request `q` presents (both doors: the bearer token and Open311's api_key),
  // or why there is none: `retry_after` is set when the peer is refused for failing too often (its token is not
  // checked), else the token is not valid. Counts and logs each failure, never with the token itself.
  struct Authentication {
    std::optional<Principal> who;
    std::optional<std::chrono::seconds> retry_after;
  };
  Authentication authenticate(const HttpRequest& q, std::string_view token);

  engine::Engine& engine_;
  store::EventStore& store_;
  engine::RuleRegistry& registry_;
  const engine::TopicCatalogue* const catalogue_;
  engine::ProjectionRunner* const views_;
  TokenStore& tokens_;
  const Clock& clock_;
  const ServiceOptions options_;
  std::ostream* const log_;
  const ServicePrivacy privacy_;
  const ServiceProof proof_;
  const city::CityCatalogue* const city_;
  Router router_;
  Metrics metrics_;
  std::unique_ptr<IdempotencyCache> idempotency_;
  std::function<void(std::function<void()>)> offload_;  // set_offload; empty: run at once
  AuthThrottle auth_throttle_;
  std::mutex log_mu_;      // guards writes to *log_
  std::mutex publish_mu_;  // serialises If-Match checks and publications of rules and calendars
  std::once_flag catalogue_once_;   // builds catalogue_json_ and catalogue_etag_ on the first request
  std::string catalogue_json_, catalogue_etag_;
  std::unique_ptr<LogVerification> verification_;  // the newest run of verify over the log (api/http/proofs.cc)
};

}  // namespace otinish::api
