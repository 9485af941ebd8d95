#include "api/http/service.h"

#include <algorithm>
#include <cctype>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>

#include <boost/json.hpp>

#include "api/http/json_codec.h"
#include "api/http/log_verification.h"
#include "api/http/openapi.h"
#include "api/http/problem.h"
#include "api/http/publications.h"
#include "api/http/resource_support.h"
#include "engine/privacy/retention.h"
#include "engine/sla_events.h"
#include "engine/views.h"
#include "engine/what_if.h"
#include "api/http/calendar_outlook.h"
#include "rules/calendar_spec.h"
#include "rules/diagnostics.h"
#include "rules/rule_set.h"
#include "store/event.h"

namespace otinish::api {

namespace json = boost::json;
using engine::AppealState;
using engine::CommandKind;
using SteadyClock = std::chrono::steady_clock;

HttpResponse json_response(int status, const json::value& v) {
  HttpResponse r;
  r.status = status;
  r.body = json::serialize(v);
  return r;
}

HttpResponse status_problem(const Status& s) {
  auto [field, message] = split_field_error(s.message());
  Problem p = problem_from_status(s, field);
  if (!field.empty()) p.detail = field + ": " + message;
  return problem_response(p);
}

namespace {

// An appeal's ETag is its decision version (AppealState::decision_version, docs/http.md "Concurrency: If-Match");
// a rule set's or a calendar's is its publication number.
std::string etag_of(std::uint64_t version) { return "\"" + std::to_string(version) + "\""; }

// Parses an If-Match / If-None-Match value: "3", W/"3" or 3. Returns false if it is not a version.
bool parse_etag(std::string_view v, std::uint64_t* out) {
  if (v.starts_with("W/")) v.remove_prefix(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.empty() || v.size() > 19) return false;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  *out = n;
  return true;
}

bool parse_u64(std::string_view s, std::uint64_t* out) { return parse_etag(s, out) && !s.starts_with("W/"); }

std::chrono::microseconds since(SteadyClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - t);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Idempotency-Key: the first answer per (token, key), in memory, bounded.

class IdempotencyCache {
 public:
  explicit IdempotencyCache(std::size_t capacity) : capacity_(capacity) {}

  enum class Begin { kNew, kReplay, kMismatch, kInFlight };
  Begin begin(const std::string& key, const Hash256& digest, HttpResponse* replay) {
    std::lock_guard lock(mu_);
    auto [it, inserted] = entries_.try_emplace(key);
    if (inserted) {
      it->second.digest = digest;
      order_.push_back(key);
      evict();
      return Begin::kNew;
    }
    if (it->second.digest != digest) return Begin::kMismatch;
    if (!it->second.done) return Begin::kInFlight;
    *replay = it->second.response;
    return Begin::kReplay;
  }
  void finish(const std::string& key, const HttpResponse& r) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    // Only an answer that did something is replayed. A 4xx changed nothing (a missing or stale If-Match, a
    // conflict, a refused field) and a 5xx is not an answer: the retry runs for real, e.g. with the If-Match
    // the 428 asked for, instead of getting the same refusal back.
    if (r.status < 200 || r.status >= 300) {
      entries_.erase(it);
      return;
    }
    it->second.done = true;
    it->second.response = r;
  }

 private:
  void evict() {  // REQUIRES: mu_ held
    while (order_.size() > capacity_) {
      auto it = entries_.find(order_.front());
      if (it != entries_.end() && !it->second.done) break;  // never drop a request still running
      if (it != entries_.end()) entries_.erase(it);
      order_.pop_front();
    }
  }
  struct Entry {
    Hash256 digest{};
    bool done = false;
    HttpResponse response;
  };
  const std::size_t capacity_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // GUARDED_BY(mu_)
  std::deque<std::string> order_;                   // GUARDED_BY(mu_): insertion order, for eviction
};

// ---------------------------------------------------------------------------------------------------------

ApiService::ApiService(engine::Engine& engine, store::EventStore& store, engine::RuleRegistry& registry,
                       TokenStore& tokens, const Clock& clock, engine::ProjectionRunner* views,
                       const engine::TopicCatalogue* catalogue, ServiceOptions options, std::ostream* log,
                       ServicePrivacy privacy, ServiceProof proof, const city::CityCatalogue* city)
    : engine_(engine),
      store_(store),
      registry_(registry),
      catalogue_(catalogue),
      views_(views),
      tokens_(tokens),
      clock_(clock),
      options_(std::move(options)),
      log_(log),
      privacy_(privacy),
      proof_(proof),
      city_(city),
      idempotency_(std::make_unique<IdempotencyCache>(options_.idempotency_entries)),
      auth_throttle_(options_.auth_throttle),
      verification_(std::make_unique<LogVerification>(store, clock)) {
  add_routes();
  metrics_.add_gauge("otinish_log_head_position", "Position of the newest acknowledged event.",
                     [this] { return static_cast<double>(store_.head_position()); });
  metrics_.add_gauge_family("otinish_log_memory_bytes",
                            "What the log holds in memory, by part: memtables, block_cache (data, index and filter "
                            "blocks), table_readers (outside the cache). Each has a bound (docs/http.md \"Memory\").",
                            [this] {
                              const store::MemoryUsage m = store_.memory_usage();
                              return Metrics::Series{{"part=\"memtables\"", static_cast<double>(m.memtables)},
                                                     {"part=\"block_cache\"", static_cast<double>(m.block_cache)},
                                                     {"part=\"table_readers\"", static_cast<double>(m.table_readers)}};
                            });
  if (views_ != nullptr) {
    metrics_.add_gauge("otinish_projection_lag_events", "Events in the log not yet applied by every projection.",
                       [this] {
                         const std::uint64_t head = store_.head_position(), cp = views_->checkpoint();
                         return static_cast<double>(head > cp ? head - cp : 0);
                       });
  }
  // Per calendar of the rules in force: when its first provisional year begins (a calendar whose covered years
  // are all final has no series), so an alert can fire weeks before deadlines start depending on it.
  auto outlook_series = [this](bool days) {
    Metrics::Series out;
    auto outlook = calendar_outlook(registry_, clock_.now());
    if (!outlook.ok()) return out;
    for (const CalendarOutlook& o : *outlook) {
      if (!o.first_provisional) continue;
      const std::string labels = "calendar=\"" + escape_label(o.calendar) + "\",year=\"" + std::to_string(o.year) + "\"";
      const double value = days ? static_cast<double>(o.days_until)
                                : static_cast<double>(o.first_provisional->time_since_epoch().count()) * 86400.0;
      out.emplace_back(labels, value);
    }
    return out;
  };
  metrics_.add_gauge_family("otinish_calendar_first_provisional_day_timestamp_seconds",
                            "Start (UTC midnight) of the first provisional day of each calendar in force: a year "
                            "whose yearly inputs are not published.",
                            [outlook_series] { return outlook_series(false); });
  metrics_.add_gauge_family("otinish_calendar_days_until_provisional",
                            "Days from today until the first provisional day of each calendar in force (<= 0: "
                            "deadlines are already computed on the statutory base).",
                            [outlook_series] { return outlook_series(true); });
}

ApiService::~ApiService() = default;

void ApiService::add_routes() {
  using P = Permission;
  auto open = [this](HttpResponse (ApiService::*fn)(Call&)) {
    return [this, fn](const HttpRequest& q, const PathParams& p) {
      Call c{q, p, {}};
      return (this->*fn)(c);
    };
  };
  auto guarded = [this](std::initializer_list<Permission> any_of, HttpResponse (ApiService::*fn)(Call&)) {
    std::vector<Permission> perms(any_of);
    return [this, perms, fn](const HttpRequest& q, const PathParams& p) {
      Call c{q, p, {}};
      const std::string_view auth = q.header("authorization");
      if (auth.empty()) {
        HttpResponse r = problem_response(Problem{
            .status = 401, .type = "unauthenticated", .title = "Authentication required",
            .detail = "send 'Authorization: Bearer <token>'; an admin creates tokens with `otinish token create`",
            .field = "Authorization"});
        r.set_header("WWW-Authenticate", "Bearer realm=\"otinish\"");
        return r;
      }
      std::string_view token;  // another scheme presents no valid token: a failure like a wrong one
      if (auth.size() > 7 && (auth.substr(0, 7) == "Bearer " || auth.substr(0, 7) == "bearer ")) {
        token = auth.substr(7);
      }
      const Authentication a = authenticate(q, token);
      if (a.retry_after) return too_many_auth_failures(*a.retry_after, auth_throttle_.options());
      const std::optional<Principal>& who = a.who;
      if (!who) {
        HttpResponse r = problem_response(Problem{
            .status = 401, .type = "invalid-token", .title = "Invalid token",
            .detail = "the bearer token is unknown, malformed or revoked; ask an admin for a new one",
            .field = "Authorization"});
        r.set_header("WWW-Authenticate", "Bearer realm=\"otinish\", error=\"invalid_token\"");
        return r;
      }
      c.who = *who;
      c.authenticated = true;
      bool allowed = perms.empty();
      for (Permission perm : perms) allowed = allowed || role_has(who->role, perm);
      HttpResponse r;
      if (!allowed) {
        r = problem_response(Problem{
            .status = 403, .type = "forbidden", .title = "Not allowed for this role",
            .detail = "role " + std::string(to_string(who->role)) + " may not " +
                      std::string(to_string(perms.front())) + "; use a token of a role that may (docs/http.md#roles)"});
      } else {
        r = (this->*fn)(c);
      }
      r.principal = who->token_id;
      r.role = std::string(to_string(who->role));
      return r;
    };
  };
  router_.add("GET", "/healthz", open(&ApiService::healthz));
  router_.add("GET", "/v1/openapi.json", open(&ApiService::openapi));
  router_.add("GET", "/metrics", guarded({P::kReadMetrics}, &ApiService::metrics_text));
  router_.add("POST", "/v1/appeals", guarded({P::kRegisterAppeal}, &ApiService::register_appeal));
  router_.add("GET", "/v1/appeals/{id}", guarded({P::kReadAppeals}, &ApiService::get_appeal));
  // Each command checks role_may_run itself (the permission depends on the command).
  router_.add("POST", "/v1/appeals/{id}/{command}", guarded({}, &ApiService::run_command));
  router_.add("GET", "/v1/appeals/{id}/timeline", guarded({P::kReadAppeals}, &ApiService::timeline));
  router_.add("GET", "/v1/events", guarded({P::kReadEvents}, &ApiService::events));
  // An agency reads a stream of its own appeals' events only (events_stream).
  router_.add("GET", "/v1/events/stream", guarded({P::kReadEvents, P::kReadAppeals}, &ApiService::events_stream));
  router_.add("GET", "/v1/appeals", guarded({P::kReadAppeals}, &ApiService::list_appeals));
  router_.add("GET", "/v1/scorecards", guarded({P::kReadScorecards}, &ApiService::scorecards));
  router_.add("GET", "/v1/public/feed", guarded({P::kReadPublicFeed}, &ApiService::public_feed));
  router_.add("POST", "/v1/projections/{name}/rebuild", guarded({P::kRebuildViews}, &ApiService::rebuild_projection));
  router_.add("GET", "/v1/rules", guarded({P::kReadRules}, &ApiService::get_rules));
  router_.add("PUT", "/v1/rules", guarded({P::kWriteRules}, &ApiService::put_rules));
  router_.add("POST", "/v1/rules/simulate", guarded({P::kWriteRules}, &ApiService::simulate_rules));
  router_.add("GET", "/v1/calendars", guarded({P::kReadRules}, &ApiService::list_calendars));
  router_.add("GET", "/v1/calendars/{name}", guarded({P::kReadRules}, &ApiService::get_calendar));
  router_.add("GET", "/v1/calendars/{name}/days", guarded({P::kReadRules}, &ApiService::calendar_days));
  router_.add("PUT", "/v1/calendars/{name}", guarded({P::kWriteRules}, &ApiService::put_calendar));
  router_.add("GET", "/v1/appeals/{id}/applicant", guarded({P::kReadPersonalData}, &ApiService::get_applicant));
  router_.add("GET", "/v1/appeals/{id}/access-log", guarded({P::kReadAccessLog}, &ApiService::access_log));
  router_.add("DELETE", "/v1/applicants/{id}", guarded({P::kEraseApplicants}, &ApiService::erase_applicant));
  router_.add("POST", "/v1/backups", guarded({P::kWriteBackups}, &ApiService::create_backup));
  router_.add("GET", "/v1/checkpoint", guarded({P::kReadProofs}, &ApiService::get_checkpoint));
  router_.add("GET", "/v1/proofs/inclusion", guarded({P::kReadProofs}, &ApiService::inclusion_proof));
  router_.add("GET", "/v1/proofs/consistency", guarded({P::kReadProofs}, &ApiService::consistency_proof));
  router_.add("GET", "/v1/appeals/{id}/evidence", guarded({P::kReadEvidence}, &ApiService::evidence));
  router_.add("GET", "/v1/log/verify", guarded({P::kReadEvidence}, &ApiService::verify_status));
  router_.add("POST", "/v1/log/verify", guarded({P::kReadEvidence}, &ApiService::verify_start));
  router_.add("GET", "/v1/session", guarded({}, &ApiService::session));
  router_.add("GET", "/v1/catalogue", guarded({}, &ApiService::catalogue));
  router_.add("POST", "/v1/repeats/check", guarded({P::kRegisterAppeal}, &ApiService::repeat_check));
  router_.add("GET", "/v1/public/appeals/{id}", guarded({P::kReadPublicFeed}, &ApiService::public_appeal));
  router_.add("GET", "/", open(&ApiService::console_root));
  router_.add("GET", "/console", open(&ApiService::console_asset));  // and /console/: the page itself
  router_.add("GET", "/console/{file}", open(&ApiService::console_asset));
  add_open311_routes();
}

HttpResponse ApiService::serve(const HttpRequest& request) { return router_.route(request); }

bool ApiService::answers_inline(const HttpRequest& request) {
  return request.method == "POST" && request.path == "/v1/appeals";
}

void ApiService::set_offload(std::function<void(std::function<void()>)> offload) { offload_ = std::move(offload); }

HttpResponse ApiService::handle(const HttpRequest& request) {
  HttpResponse r = serve(request);
  if (!r.later) return r;
  HttpResponse answer = r.later->wait();
  answer.label_as(r);
  return answer;
}

ApiService::Authentication ApiService::authenticate(const HttpRequest& q, std::string_view token) {
  const std::string peer = peer_of(q.remote);
  // A valid token is served even from a refused address: its secret is 32 random bytes, which no number of
  // attempts guesses, and the desks of one centre often share one NAT address, so one broken client must not
  // lock the whole call centre out. The limit is for what presents bad tokens: it stops them being checked,
  // counted and logged one by one.
  std::optional<Principal> who = token.empty() ? std::nullopt : tokens_.authenticate(token);
  if (who) return {.who = std::move(who), .retry_after = std::nullopt};
  if (auto wait = auth_throttle_.refused(peer, clock_.now())) return {.who = std::nullopt, .retry_after = wait};
  const std::uint32_t failures = auth_throttle_.record_failure(peer, clock_.now());
  // What identifies the attempt, never the token: a token in a log is a token handed to whoever reads logs. A
  // well-formed token's id is not secret (it names the token in every request line and in `token list`).
  json::object fields{{"remote", peer}, {"path", q.path}, {"request_id", q.request_id}, {"failures", failures}};
  if (const std::string id = token_id_of(token); !id.empty()) fields["token"] = id;
  log_line("warning", "authentication failed", json::serialize(fields));
  const AuthThrottleOptions& limits = auth_throttle_.options();
  if (failures == limits.max_failures) {
    log_line("warning", "peer refused after failed authentications",
             json::serialize(json::object{{"remote", peer},
                                          {"failures", failures},
                                          {"refused_for_s", limits.window.count()}}));
  }
  return {.who = std::nullopt, .retry_after = std::nullopt};
}

void ApiService::log_line(std::string_view level, std::string_view msg, std::string_view fields_json) {
  if (log_ == nullptr) return;
  boost::system::error_code ec;
  json::value fields = json::parse(fields_json, ec);
  json::object o{{"ts", format_utc(clock_.now())}, {"level", level}, {"msg", msg}};
  if (!ec && fields.is_object())
    for (auto& kv : fields.as_object()) o[kv.key()] = kv.value();
  const std::string line = json::serialize(o) + "\n";
  std::lock_guard lock(log_mu_);
  *log_ << line << std::flush;
}

void ApiService::observe(const RequestRecord& rec) {
  const std::string_view method = rec.request ? std::string_view(rec.request->method) : std::string_view("-");
  metrics_.observe_request(method, rec.route, rec.status, rec.duration);
  if (!options_.access_log || log_ == nullptr) return;
  if (rec.status == 200 && rec.request != nullptr && rec.request->path == "/healthz" &&
      rec.request->header("user-agent") == kWatchdogUserAgent) {
    return;
  }
  json::object o{{"ts", format_utc(clock_.now())},
                 {"level", rec.status >= 500 ? "error" : "info"},
                 {"msg", "request"},
                 {"method", method},
                 {"route", rec.route},
                 {"status", rec.status},
                 {"duration_ms", static_cast<double>(rec.duration.count()) / 1000.0},
                 {"bytes", rec.response_bytes}};
  if (rec.request) {
    o["path"] = rec.request->path;
    o["request_id"] = rec.request->request_id;
    o["remote"] = rec.request->remote;
  }
  if (!rec.principal.empty()) o["token"] = rec.principal;
  if (!rec.role.empty()) o["role"] = rec.role;
  const std::string line = json::serialize(o) + "\n";
  std::lock_guard lock(log_mu_);
  *log_ << line;
}

// ---------------------------------------------------------------------------------------------------------

HttpResponse ApiService::healthz(Call&) {
  // Liveness stays 200: a provisional year ahead is the admin's to fix, not a reason to restart the server.
  json::object body{{"status", "ok"}, {"head_position", store_.head_position()}};
  auto outlook = calendar_outlook(registry_, clock_.now());
  json::array reasons;
  if (!outlook.ok()) {
    reasons.push_back(json::string("calendars in force do not compile: " + outlook.status().message()));
  } else {
    for (auto& r : provisional_reasons(*outlook)) reasons.push_back(json::string(r));
  }
  if (!reasons.empty()) {
    body["status"] = "degraded";
    body["reasons"] = std::move(reasons);
  }
  return json_response(200, body);
}

HttpResponse ApiService::metrics_text(Call&) {
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = metrics_.render();
  return r;
}

HttpResponse ApiService::openapi(Call&) {
  HttpResponse r;
  r.body = openapi_document();
  return r;
}

namespace {

// What an Idempotency-Key stands for: the method, the path, the query and the body of its first request. The
// query is hashed only when there is one, so that the digests of commands (which take none), recorded on
// appeals' events, stay those of the requests that made them.
Hash256 request_digest(const HttpRequest& q) {
  Blake2b h;
  h.update(q.method);
  h.update("\n");
  h.update(q.path);
  h.update("\n");
  if (!q.query.empty()) {
    // Decoded and sorted: "?a=1&b=2" and "?b=2&a=1" are one request; "?from=A" and "?from=B" are two. Each
    // name and value with its length, so that no two queries hash alike.
    for (const auto& [k, v] : q.query) {
      for (const std::string& part : {k, v}) {
        h.update(std::to_string(part.size()) + ":");
        h.update(part);
      }
    }
    h.update("\n");
  }
  h.update(q.body);
  return h.finish();
}

}  // namespace

HttpResponse ApiService::idempotent(Call& c, const std::function<HttpResponse()>& run) {
  const std::string_view key = c.q.header("idempotency-key");
  if (key.empty()) return run();
  if (key.size() > 200) {
    return problem_response(invalid_field("Idempotency-Key is " + std::to_string(key.size()) +
                                              " characters; use at most 200 (a UUID is 36)",
                                          "Idempotency-Key"));
  }
  const std::string scoped = c.who.token_id + "\n" + std::string(key);
  const Hash256 digest = request_digest(c.q);
  HttpResponse replay;
  switch (idempotency_->begin(scoped, digest, &replay)) {
    case IdempotencyCache::Begin::kReplay:
      replay.set_header("Idempotent-Replayed", "true");
      return replay;
    case IdempotencyCache::Begin::kMismatch:
      return problem_response(Problem{
          .status = 422, .type = "idempotency-key-reused", .title = "Idempotency key reused",
          .detail = "Idempotency-Key '" + std::string(key) +
                    "' was used for a different request; use a new key for a new request",
          .field = "Idempotency-Key"});
    case IdempotencyCache::Begin::kInFlight: {
      HttpResponse r = problem_response(Problem{
          .status = 409, .type = "request-in-progress", .title = "Request in progress",
          .detail = "a request with Idempotency-Key '" + std::string(key) +
                    "' is still being processed; retry in a moment to get its answer",
          .field = "Idempotency-Key"});
      r.set_header("Retry-After", "1");
      return r;
    }
    case IdempotencyCache::Begin::kNew: break;
  }
  HttpResponse r;
  try {
    r = run();
  } catch (...) {
    idempotency_->finish(scoped, HttpResponse{.status = 500});  // forget the key: the client may retry
    throw;
  }
  if (r.later) {
    // Kept once given (the answer is complete before anyone can read it back under the key).
    r.later->then([this, scoped](HttpResponse& answer) { idempotency_->finish(scoped, answer); });
    return r;
  }
  idempotency_->finish(scoped, r);
  return r;
}

std::optional<HttpResponse> parse_body(const HttpRequest& q, bool empty_ok, json::object* out) {
  if (q.body.empty() && empty_ok) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(q.body, ec);
  if (ec) return problem_response(bad_request("the body is not valid JSON: " + ec.message(), "/"));
  if (!v.is_object()) return problem_response(bad_request("the body must be a JSON object", "/"));
  *out = std::move(v.as_object());
  return std::nullopt;
}

store::Actor actor_of(const Principal& who) {
  return {.user = "token:" + who.token_id, .role = std::string(to_string(who.role)), .agency = who.agency};
}

namespace {

// The engine's command id: the token's Idempotency-Key, or else one of its own, never the client's
// X-Request-Id (a correlation label that any client may send and several may share: as a command id it would
// make one desk's request a "retry" of another's).
std::string command_id_for(const Principal& who, const HttpRequest& q) {
  const std::string_view key = q.header("idempotency-key");
  if (key.empty()) return "http/" + who.token_id + "/once/" + store::EventId::random().to_hex();
  return "http/" + who.token_id + "/" + std::string(key);
}

// The command id of a command on an appeal: command_id_for plus '#' and the request's digest (16 hex digits),
// so that the appeal's own history remembers what each key stood for, past a restart and past the in-memory
// cache. Looked up in `applied` (the appeal's applied command ids): the id to send to the engine (the one
// already applied when this is a retry: the engine then answers with the first result), or nullopt when the
// key was already used on this appeal for another request (422). A retry of a command applied before ids
// carried the digest matches its plain id.
std::optional<std::string> appeal_command_id(const Principal& who, const HttpRequest& q,
                                             const decltype(AppealState::applied_commands)& applied) {
  std::string plain = command_id_for(who, q);
  if (q.header("idempotency-key").empty()) return plain;
  if (applied.contains(plain)) return plain;
  const std::string prefix = plain + "#";
  std::string full = prefix + to_hex(request_digest(q)).substr(0, 16);
  if (applied.contains(full)) return full;
  auto it = applied.lower_bound(prefix);
  if (it != applied.end() && std::string_view(it->first).starts_with(prefix)) return std::nullopt;
  return full;
}

json::object command_result_json(const engine::CommandResult& r) {
  return {{"id", r.appeal_id},
          {"stage", std::string(to_string(r.stage))},
          {"version", r.decision_version},
          {"stream_version", r.version},
          {"position", r.position}};
}

}  // namespace

HttpResponse ApiService::register_from_body(Call& c, const json::object& body, RegisteredResponder respond) {
  if (auto bad = check_topic(body)) return *bad;
  auto cmd = register_from_json(body);
  if (!cmd.ok()) return status_problem(cmd.status());
  // Answered from the registration's completion, once it is durable: no worker thread waits for the fsync.
  auto later = LaterResponse::make();
  engine::CommandMeta meta{.command_id = command_id_for(c.who, c.q), .actor = actor_of(c.who),
                           .correlation_id = c.q.request_id};
  // The SLA intake wait and the engine may block: on a worker (this request may be on an I/O thread).
  auto work = [this, later, cmd = std::move(cmd).value(), meta = std::move(meta), respond = std::move(respond)] {
    try {
      if (options_.intake_gate) options_.intake_gate();
      const auto started = SteadyClock::now();
      engine_.register_appeal_async(cmd, meta, [this, later, started, respond](Result<engine::CommandResult> r) {
        metrics_.observe_command("register", since(started));
        if (!r.ok()) return later->complete(status_problem(r.status()));
        if (!r->duplicate) metrics_.add_appended(1);
        later->complete(respond(*r));
      });
    } catch (const std::exception& e) {
      later->complete(problem_response(Problem{.status = 500, .type = "internal", .title = "Internal error",
                                               .detail = std::string("the registration failed: ") + e.what()}));
    }
  };
  if (offload_) {
    offload_(std::move(work));
  } else {
    work();
  }
  return LaterResponse::response(std::move(later));
}

HttpResponse ApiService::register_appeal(Call& c) {
  return idempotent(c, [&]() -> HttpResponse {
    json::object body;
    if (auto bad = parse_body(c.q, false, &body)) return *bad;
    return register_from_body(c, body, [](const engine::CommandResult& r) {
      HttpResponse res = json_response(201, command_result_json(r));
      res.set_header("Location", "/v1/appeals/" + r.appeal_id);
      res.set_header("ETag", etag_of(r.decision_version));
      return res;
    });
  });
}

std::variant<AppealState, HttpResponse> load_visible(engine::Engine& eng, const std::string& id, const Principal& who) {
  auto parsed = engine::AppealId::parse(id);
  if (!parsed.ok()) return problem_response(not_found("no appeal '" + id + "': " + parsed.status().message()));
  auto s = eng.load(id);
  if (!s.ok()) {
    if (s.status().code() == StatusCode::kNotFound) {
      return problem_response(not_found("no appeal " + id + "; check the number (e.g. SHY-2026-0000123)"));
    }
    return status_problem(s.status());
  }
  if (who.role == Role::kAgency && s->agency != who.agency) {
    return problem_response(not_found("no appeal " + id + " assigned to agency " + who.agency));
  }
  return std::move(s).value();
}

HttpResponse ApiService::get_appeal(Call& c) {
  auto loaded = load_visible(engine_, c.p.at("id"), c.who);
  if (auto* r = std::get_if<HttpResponse>(&loaded)) return *r;
  const AppealState& s = std::get<AppealState>(loaded);
  std::uint64_t seen = 0;
  // The body also shows SLA facts that leave the ETag alone (due_at, sla_alert, stream_version): a 304 only when
  // nothing at all was appended since the ETag's event, so that a cached body is never stale.
  if (parse_etag(c.q.header("if-none-match"), &seen) && seen == s.decision_version &&
      s.version == s.decision_stream_version) {
    HttpResponse r;
    r.status = 304;
    r.set_header("ETag", etag_of(s.decision_version));
    return r;
  }
  json::object body = appeal_state_to_json(s);
  // The earlier appeals this one repeats (same applicant, or same address, on the same topic), so a desk sees
  // the resident's history at once. Only for roles that may read the applicant: a link is about the person.
  // From the appeals view: the earliest open deadline and the SLA alert, as lists show them.
  const bool views_ready = views_ != nullptr && views_->wait_for(s.last_position, kViewWait);
  if (views_ready) {
    if (auto reader = views_->reader("appeals"); reader.ok()) {
      if (auto row = engine::get_appeal_row(**reader, s.id); row.ok()) {
        if (row->due_at != Timestamp{}) body["due_at"] = format_utc(row->due_at);
        if (!row->due_provisional.empty()) body["due_provisional"] = row->due_provisional;
        if (!row->sla_alert.empty()) body["sla_alert"] = row->sla_alert;
      }
    }
  }
  if (views_ready && role_has(c.who.role, Permission::kReadPersonalData)) {
    if (auto reader = views_->reader("repeats"); reader.ok()) {
      if (auto links = engine::read_repeats(**reader, s.id); links.ok() && !links->empty()) {
        json::array a;
        for (const auto& l : *links) a.push_back(json::object{{"appeal_id", l.earlier_id}, {"reason", l.reason}});
        body["repeat_of"] = std::move(a);
      }
    }
  }
  HttpResponse r = json_response(200, body);
  r.set_header("ETag", etag_of(s.decision_version));
  return r;
}

HttpResponse ApiService::run_command(Call& c) {
  const std::string& name = c.p.at("command");
  auto kind = engine::parse_command_kind(name);
  if (!kind.ok() || *kind == CommandKind::kRegister || *kind == CommandKind::kApplyParentResolution) {
    return problem_response(not_found("no command '" + name + "' on appeals; " +
                                      "GET /v1/appeals/{id} lists the allowed_commands"));
  }
  if (!role_may_run(c.who.role, *kind)) {
    return problem_response(Problem{.status = 403, .type = "forbidden", .title = "Not allowed for this role",
                                    .detail = "role " + std::string(to_string(c.who.role)) + " may not send " +
                                              name + " (docs/http.md#roles)"});
  }
  return idempotent(c, [&]() -> HttpResponse {
    json::object body;
    if (auto bad = parse_body(c.q, true, &body)) return *bad;
    if (auto bad = check_topic(body)) return *bad;
    auto cmd = command_from_json(*kind, body);
    if (!cmd.ok()) return status_problem(cmd.status());
    const std::string& id = c.p.at("id");
    auto loaded = load_visible(engine_, id, c.who);
    if (auto* r = std::get_if<HttpResponse>(&loaded)) return *r;
    const AppealState& s = std::get<AppealState>(loaded);
    const std::optional<std::string> command_id = appeal_command_id(c.who, c.q, s.applied_commands);
    if (!command_id) {
      return problem_response(Problem{
          .status = 422, .type = "idempotency-key-reused", .title = "Idempotency key reused",
          .detail = "Idempotency-Key '" + std::string(c.q.header("idempotency-key")) + "' was used on appeal " + id +
                    " for a different request; use a new key for a new request",
          .field = "Idempotency-Key"});
    }
    // A retry of a command this appeal already applied gets the first answer from the engine, whatever the
    // appeal's version is now (the If-Match it carries is the one the first request was decided on).
    const bool retry = s.applied_commands.contains(*command_id);
    const std::string_view if_match = c.q.header("if-match");
    std::optional<std::uint64_t> expected_version;  // the engine re-checks it under its stream lock
    if (retry) {
      // no precondition: the engine answers with the first result
    } else if (if_match.empty()) {
      if (options_.require_if_match) {
        return problem_response(Problem{
            .status = 428, .type = "if-match-required", .title = "Precondition required",
            .detail = "send 'If-Match: \"" + std::to_string(s.decision_version) +
                      "\"' with the version you last read (the ETag of GET /v1/appeals/" + id + ")",
            .field = "If-Match"});
      }
    } else if (if_match != "*") {
      std::uint64_t expected = 0;
      if (!parse_etag(if_match, &expected)) {
        return problem_response(bad_request("If-Match must be an appeal version such as \"3\"", "If-Match"));
      }
      expected_version = expected;
      if (expected != s.decision_version) {
        Problem p{.status = 409, .type = "version-conflict", .title = "Version conflict",
                  .detail = "appeal " + id + " is at version " + std::to_string(s.decision_version) +
                            ", If-Match said " + std::to_string(expected) + ": reload it, check the change, and retry",
                  .field = "If-Match", .current_version = s.decision_version};
        HttpResponse r = problem_response(p);
        r.set_header("ETag", etag_of(s.decision_version));
        return r;
      }
    }
    if (options_.intake_gate) options_.intake_gate();
    const auto started = SteadyClock::now();
    // Answered from the command's completion, once durable: no worker thread waits for the fsync.
    auto later = LaterResponse::make();
    engine_.execute_async(
        id, *cmd,
        {.command_id = *command_id, .actor = actor_of(c.who), .correlation_id = c.q.request_id,
         .expected_version = expected_version},
        [this, later, started, name = std::string(name), loaded = s.version](Result<engine::CommandResult> r) {
          metrics_.observe_command(name, since(started));
          if (!r.ok()) {
            HttpResponse res = status_problem(r.status());
            if (r.status().current_version()) res.set_header("ETag", etag_of(*r.status().current_version()));
            return later->complete(std::move(res));
          }
          if (!r->duplicate) metrics_.add_appended(r->version > loaded ? r->version - loaded : 0);
          HttpResponse res = json_response(200, command_result_json(*r));
          res.set_header("ETag", etag_of(r->decision_version));
          later->complete(std::move(res));
        });
    return LaterResponse::response(std::move(later));
  });
}

namespace {

// The timeline's entries carry stream versions (`version` of each event); the appeal's own versions beside them.
json::object timeline_json(const AppealState& s, json::array entries) {
  return {{"id", s.id},
          {"version", s.decision_version},
          {"stream_version", s.version},
          {"entries", std::move(entries)}};
}

}  // namespace

HttpResponse ApiService::timeline(Call& c) {
  const std::string& id = c.p.at("id");
  auto loaded = load_visible(engine_, id, c.who);
  if (auto* r = std::get_if<HttpResponse>(&loaded)) return *r;
  const AppealState& s = std::get<AppealState>(loaded);
  json::array entries;
  if (views_ != nullptr) {
    // Read-your-writes: the view has applied the appeal's last event before it is read.
    if (!views_->wait_for(s.last_position, kViewWait)) return view_behind(s.last_position);
    auto reader = views_->reader("timeline");
    if (!reader.ok()) return status_problem(reader.status());
    auto rows = engine::read_timeline(**reader, id);
    if (!rows.ok()) return status_problem(rows.status());
    // The centre's local time beside UTC: the calendar the appeal's SLA clocks run on.
    engine::AppealLocalTime local;
    // The SLA decisions in structured form, by stream version, so that a client can show each deadline as of any
    // moment (the summary says the same in words).
    std::map<std::uint64_t, json::object> sla_by_version;
    if (auto events = store_.read_stream(std::string(engine::kAppealStreamPrefix) + id, 1, store::Direction::kForward,
                                         SIZE_MAX);
        events.ok()) {
      local = engine::AppealLocalTime::of(registry_, *events);
      for (const auto& e : *events) {
        if (e.type == "AppealExtensionGranted") {
          // An extension is the appeal's own deadline (APC art. 76), beside the SLA clocks' ones.
          if (auto ev = engine::decode_event(e.type, e.schema_version, e.payload); ev.ok()) {
            if (const auto* g = std::get_if<engine::AppealExtensionGranted>(&ev->body)) {
              sla_by_version.emplace(e.stream_version,
                                     json::object{{"kind", "extension"},
                                                  {"clock", "extension"},
                                                  {"deadline", format_utc(g->new_deadline)},
                                                  {"cap", format_utc(g->cap)}});
            }
          }
          continue;
        }
        if (!engine::is_sla_event_type(e.type)) continue;
        auto sla = engine::decode_sla_event(e.type, e.schema_version, e.payload);
        if (sla.ok()) sla_by_version.emplace(e.stream_version, sla_event_to_json(*sla));
      }
    }
    for (const auto& t : *rows) {
      json::object o{{"version", t.version},          {"position", t.position},
                     {"at", format_utc(t.at)},        {"type", t.type},
                     {"actor", {{"user", t.user}, {"role", t.role}, {"agency", t.agency}}},
                     {"from", std::string(to_string(t.from))}, {"to", std::string(to_string(t.to))},
                     {"summary", t.summary}};
      if (local.known()) o["at_local"] = local.format(t.at);
      if (!t.rule.empty()) o["rule"] = t.rule;
      if (auto it = sla_by_version.find(t.version); it != sla_by_version.end()) o["sla"] = std::move(it->second);
      entries.push_back(std::move(o));
    }
    HttpResponse r = json_response(200, timeline_json(s, std::move(entries)));
    r.set_header("ETag", etag_of(s.decision_version));
    return r;
  }
  const std::string stream = std::string(engine::kAppealStreamPrefix) + id;
  for (std::uint64_t from = 1; from <= s.version;) {
    auto batch = store_.read_stream(stream, from, store::Direction::kForward, 1024);
    if (!batch.ok()) return status_problem(batch.status());
    if (batch->empty()) break;
    for (const auto& e : *batch) {
      json::object o = envelope_to_json(e, EnvelopeForm::kFeed);
      o.erase("stream");
      entries.push_back(std::move(o));
      from = e.stream_version + 1;
    }
  }
  HttpResponse r = json_response(200, timeline_json(s, std::move(entries)));
  r.set_header("ETag", etag_of(s.decision_version));
  return r;
}

HttpResponse ApiService::events(Call& c) {
  std::uint64_t from = 1, limit = options_.default_page;
  if (auto it = c.q.query.find("from"); it != c.q.query.end() && !parse_u64(it->second, &from)) {
    return problem_response(bad_request("from must be a log position (an integer >= 1)", "from"));
  }
  if (auto it = c.q.query.find("limit"); it != c.q.query.end()) {
    if (!parse_u64(it->second, &limit) || limit == 0 || limit > options_.max_page) {
      return problem_response(bad_request("limit must be 1.." + std::to_string(options_.max_page), "limit"));
    }
  }
  auto batch = store_.read_all(std::max<std::uint64_t>(from, 1), limit);
  if (!batch.ok()) return status_problem(batch.status());
  json::array events;
  std::uint64_t next = std::max<std::uint64_t>(from, 1);
  for (const auto& e : *batch) {
    events.push_back(envelope_to_json(e, EnvelopeForm::kFeed));
    next = e.position + 1;
  }
  return json_response(200, json::object{{"events", std::move(events)},
                                         {"next_from", next},
                                         {"head_position", store_.head_position()}});
}

namespace {

class SubscriptionProducer final : public StreamProducer {
 public:
  explicit SubscriptionProducer(std::unique_ptr<store::Subscription> sub) : sub_(std::move(sub)) {}
  ~SubscriptionProducer() override { sub_->stop(); }

 private:
  std::unique_ptr<store::Subscription> sub_;
};

}  // namespace

namespace {

// Which events an agency's stream carries (events_stream). Used by one subscription thread at a time.
class AgencyFilter {
 public:
  AgencyFilter(std::string agency, std::set<std::string> held) : agency_(std::move(agency)), held_(std::move(held)) {}

  bool admits(const store::RecordedEvent& e) {
    if (!e.stream.starts_with(engine::kAppealStreamPrefix)) return false;
    const std::string id = e.stream.substr(engine::kAppealStreamPrefix.size());
    const bool had = held_.contains(id);
    std::optional<std::string> now_with;  // the agency the event hands the appeal to, if it does
    if (auto ev = engine::decode_event(e.type, e.schema_version, e.payload); ev.ok()) {
      if (const auto* a = std::get_if<engine::AppealAssigned>(&ev->body)) now_with = a->agency;
      if (const auto* r = std::get_if<engine::AppealRedirected>(&ev->body)) now_with = r->to_agency;
    } else if (engine::is_sla_event_type(e.type)) {
      if (auto sla = engine::decode_sla_event(e.type, e.schema_version, e.payload); sla.ok()) {
        if (const auto* c = std::get_if<engine::SlaClockEvent>(&*sla); c && !c->reassign_agency.empty()) {
          now_with = c->reassign_agency;
        }
      }
    }
    if (now_with) {
      if (*now_with == agency_) {
        held_.insert(id);
      } else {
        held_.erase(id);
      }
    }
    return had || held_.contains(id);
  }

 private:
  const std::string agency_;
  std::set<std::string> held_;
};

// Every appeal the view shows assigned to `agency`.
Result<std::set<std::string>> agency_appeals(engine::ProjectionRunner& views, const std::string& agency) {
  OTINISH_ASSIGN_OR_RETURN(auto reader, views.reader("appeals"));
  std::set<std::string> out;
  engine::AppealQuery q;
  q.agency = agency;
  q.limit = 10'000;
  for (;;) {
    OTINISH_ASSIGN_OR_RETURN(engine::AppealPage page, engine::query_appeals(*reader, q));
    for (const auto& r : page.rows) out.insert(r.id);
    if (page.next_after.empty()) return out;
    q.after = page.next_after;
  }
}

}  // namespace

HttpResponse ApiService::events_stream(Call& c) {
  std::uint64_t after = 0;
  const std::string_view last_id = c.q.header("last-event-id");
  if (!last_id.empty()) {
    if (!parse_u64(last_id, &after)) {
      return problem_response(bad_request("Last-Event-ID must be the position of the last event received",
                                          "Last-Event-ID"));
    }
  } else if (auto it = c.q.query.find("from"); it != c.q.query.end()) {
    std::uint64_t from = 0;
    if (!parse_u64(it->second, &from)) return problem_response(bad_request("from must be a log position", "from"));
    after = from == 0 ? 0 : from - 1;
  } else {
    after = store_.head_position();  // live only
  }
  // An agency's stream: the events of the appeals assigned to it, so its queue stays live without showing it
  // anything else. The appeals it holds now come from the view; assignments, redirections and escalations that
  // reassign are followed as they arrive (the event that takes an appeal away is the last one it gets).
  std::shared_ptr<AgencyFilter> filter;
  if (!role_has(c.who.role, Permission::kReadEvents)) {
    if (c.who.role != Role::kAgency) {
      return problem_response(Problem{.status = 403, .type = "forbidden", .title = "Not allowed for this role",
                                      .detail = "role " + std::string(to_string(c.who.role)) +
                                                " may not read the event log (docs/http.md#roles)"});
    }
    if (views_ == nullptr) return views_unavailable();
    if (auto behind = await_views(*views_, store_)) return *behind;
    auto held = agency_appeals(*views_, c.who.agency);
    if (!held.ok()) return status_problem(held.status());
    filter = std::make_shared<AgencyFilter>(c.who.agency, std::move(held).value());
  }
  HttpResponse r;
  r.content_type = "text/event-stream";
  r.stream = [this, after, filter](std::shared_ptr<StreamSink> sink) -> std::unique_ptr<StreamProducer> {
    std::weak_ptr<StreamSink> weak = sink;
    sink->push("retry: 1000\n\n");
    auto sub = store_.subscribe(after, [weak, filter](const store::RecordedEvent& e) -> Status {
      if (filter && !filter->admits(e)) return Status::Ok();
      auto s = weak.lock();
      std::string chunk = "id: " + std::to_string(e.position) + "\nevent: " + e.type + "\ndata: " +
                          json::serialize(envelope_to_json(e, EnvelopeForm::kFeed)) + "\n\n";
      if (!s || !s->push(std::move(chunk))) return Status::Unavailable("event stream client went away");
      return Status::Ok();
    });
    return std::make_unique<SubscriptionProducer>(std::move(sub));
  };
  return r;
}

// ---------------------------------------------------------------------------------------------------------
// Rules and calendars: published through the RuleRegistry ("sla-rules", "sla-calendars"), read back from the log.
// ETags are publication numbers (api/http/publications.h).

namespace {

// ?policy=keep|reevaluate|stricter (default keep).
// `fallback` when the request names none: keep for rule sets; for calendars, provisional (a publication of a
// year's inputs re-decides exactly the deadlines that were provisional, and nothing else).
std::variant<engine::RebindPolicy, HttpResponse> policy_param(const HttpRequest& q,
                                                               engine::RebindPolicy fallback = engine::RebindPolicy::kKeep) {
  auto it = q.query.find("policy");
  if (it == q.query.end() || it->second.empty()) return fallback;
  auto p = engine::parse_rebind_policy(it->second);
  if (!p.ok()) return problem_response(bad_request(p.status().message(), "policy"));
  return *p;
}

// A problem listing every error diagnostic with its line and column.
HttpResponse diagnostics_problem(std::string type, std::string title, std::string detail,
                                 const std::vector<rules::Diagnostic>& diags) {
  Problem p{.status = 422, .type = std::move(type), .title = std::move(title), .detail = std::move(detail),
            .field = "/"};
  for (const auto& d : diags) {
    if (d.severity != rules::Severity::kError) continue;
    p.errors.push_back({.detail = d.message, .line = d.where.line, .column = d.where.column, .code = d.code});
  }
  return problem_response(p);
}

// If-Match against the current publication number `current` (0: none yet). A problem when stale or malformed.
std::optional<HttpResponse> check_if_match(const HttpRequest& q, std::uint64_t current, std::string_view what) {
  const std::string_view im = q.header("if-match");
  if (im.empty() || im == "*") return std::nullopt;
  std::uint64_t expected = 0;
  if (!parse_etag(im, &expected)) {
    return problem_response(bad_request("If-Match must be a " + std::string(what) + " version such as \"3\"",
                                        "If-Match"));
  }
  if (expected == current) return std::nullopt;
  Problem p{.status = 409, .type = "version-conflict", .title = "Version conflict",
            .detail = std::string(what) + " is at version " + std::to_string(current) + ", If-Match said " +
                      std::to_string(expected) + ": GET it again, check the change, and retry",
            .field = "If-Match", .current_version = current};
  HttpResponse r = problem_response(p);
  r.set_header("ETag", etag_of(current));
  return r;
}

// The registry refused a publication that parsed: a calendar missing or not compiling is the client's to fix.
HttpResponse publish_problem(const Status& s, std::string type, std::string title) {
  if (s.code() == StatusCode::kNotFound || s.code() == StatusCode::kInvalidArgument) {
    return problem_response(Problem{.status = 422, .type = std::move(type), .title = std::move(title),
                                    .detail = s.message() + "; nothing was published", .field = "/"});
  }
  return status_problem(s);
}

HttpResponse publication_yaml(const Publication& p) {
  HttpResponse r;
  r.content_type = "application/yaml";
  r.body = p.yaml;
  r.set_header("ETag", etag_of(p.version));
  r.set_header("X-Content-Hash", p.content_hash);
  r.set_header("X-Rebind-Policy", std::string(engine::to_string(p.policy)));
  // The file name its rules cite (rule_where "city.yaml:24:9"), so an editor publishes the next version under it.
  if (!p.file.empty()) r.set_header("X-File", p.file);
  r.set_header("Last-Modified-UTC", format_utc(p.recorded_at));
  return r;
}

// ?file=city.yaml: the file name the publication records and its rules cite (rule_where "city.yaml:28:15").
std::variant<std::string, HttpResponse> file_param(const HttpRequest& q) {
  auto it = q.query.find("file");
  if (it == q.query.end() || it->second.empty()) return std::string("rules.yaml");
  const std::string& f = it->second;
  const bool plain = f.size() <= 100 && f.front() != '.' &&
                     std::all_of(f.begin(), f.end(), [](char ch) {
                       return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == '_';
                     });
  if (!plain) {
    return problem_response(bad_request("file must be a plain file name such as city.yaml (letters, digits, . - _)",
                                        "file"));
  }
  return f;
}

}  // namespace

HttpResponse ApiService::get_rules(Call&) {
  auto cur = latest_rule_set(store_);
  if (!cur.ok()) return status_problem(cur.status());
  if (!*cur) {
    return problem_response(not_found("no rule set has been published yet; an admin publishes one with PUT /v1/rules"));
  }
  return publication_yaml(**cur);
}

HttpResponse ApiService::put_rules(Call& c) {
  auto policy = policy_param(c.q);
  if (auto* bad = std::get_if<HttpResponse>(&policy)) return *bad;
  if (std::get<engine::RebindPolicy>(policy) == engine::RebindPolicy::kProvisional) {
    return problem_response(bad_request("policy=provisional is for calendars (PUT /v1/calendars/{name}); a rule set "
                                        "takes keep, reevaluate or stricter",
                                        "policy"));
  }
  auto file = file_param(c.q);
  if (auto* bad = std::get_if<HttpResponse>(&file)) return *bad;
  std::vector<rules::Diagnostic> diags;
  std::optional<rules::RuleSet> rs = rules::parse_rule_set(c.q.body, std::get<std::string>(file), &diags);
  rules::sort_diagnostics(diags);
  if (!rs) {
    return diagnostics_problem("invalid-rules", "Invalid rule set",
                               "the rule set has errors (listed with line:column); the rules in force are unchanged",
                               diags);
  }
  std::lock_guard lock(publish_mu_);  // the If-Match check and the publication are one step
  auto cur = latest_rule_set(store_);
  if (!cur.ok()) return status_problem(cur.status());
  if (auto stale = check_if_match(c.q, *cur ? (*cur)->version : 0, "the rule set")) return *stale;
  auto names = published_calendar_names(store_);
  if (!names.ok()) return status_problem(names.status());
  Problem missing{.status = 422, .type = "invalid-rules", .title = "Invalid rule set", .field = "/calendars"};
  for (const auto& [name, file] : rs->calendar_files) {
    if (names->contains(name)) continue;
    missing.errors.push_back({.detail = "calendar '" + name + "' (" + file + ") is not published; publish it " +
                                        "first with PUT /v1/calendars/" + name,
                              .field = "/calendars/" + name, .code = "calendar-not-published"});
    missing.detail += (missing.detail.empty() ? "" : ", ") + name;
  }
  if (!missing.errors.empty()) {
    missing.detail = "the rule set names calendars that are not published: " + missing.detail +
                     "; the rules in force are unchanged";
    return problem_response(missing);
  }
  const engine::RebindPolicy pol = std::get<engine::RebindPolicy>(policy);
  auto r = registry_.publish_rule_set(c.q.body, std::get<std::string>(file), pol, actor_of(c.who));
  if (!r.ok()) return publish_problem(r.status(), "invalid-rules", "Invalid rule set");
  metrics_.add_appended(1);
  const auto pub = registry_.publication_at(r->position);
  const std::uint64_t version = pub ? pub->second : 0;
  json::array warn;
  for (const auto& d : rules::lint(*rs, nullptr)) {
    warn.push_back(json::object{{"line", d.where.line}, {"column", d.where.column}, {"code", d.code},
                                {"detail", d.message}});
  }
  HttpResponse res = json_response(200, json::object{{"version", version},
                                                     {"position", r->position},
                                                     {"content_hash", r->content_hash},
                                                     {"policy", std::string(engine::to_string(pol))},
                                                     {"rules", rs->rules.size()},
                                                     {"warnings", std::move(warn)}});
  res.set_header("ETag", etag_of(version));
  return res;
}

namespace {

json::object what_if_group_json(const engine::WhatIfGroup& g) {
  return {{"appeals", g.appeals},
          {"breaches_before", g.breaches_before},
          {"breaches_after", g.breaches_after},
          {"breaches_added", g.breaches_added},
          {"breaches_removed", g.breaches_removed}};
}

json::object what_if_json(const engine::WhatIfReport& r) {
  json::object by_agency, by_category, added, removed;
  for (const auto& [k, g] : r.by_agency) by_agency[k] = what_if_group_json(g);
  for (const auto& [k, g] : r.by_category) by_category[k] = what_if_group_json(g);
  for (const auto& [k, n] : r.escalations_added) added[k] = n;
  for (const auto& [k, n] : r.escalations_removed) removed[k] = n;
  json::array examples;
  for (const auto& e : r.examples) examples.push_back(json::string(e));
  json::object o{{"candidate_hash", r.candidate_hash},
                 {"events_read", r.events_read},
                 {"appeals", r.appeals},
                 {"appeals_changed", r.appeals_changed},
                 {"errors", r.errors},
                 {"total", what_if_group_json(r.total)},
                 {"by_agency", std::move(by_agency)},
                 {"by_category", std::move(by_category)},
                 {"deadlines_moved", r.deadlines_moved},
                 {"deadlines_earlier", r.deadlines_earlier},
                 {"deadlines_later", r.deadlines_later},
                 {"deadline_shift_total_seconds", r.deadline_shift_total_s},
                 {"escalations_added", std::move(added)},
                 {"escalations_removed", std::move(removed)},
                 {"examples", std::move(examples)},
                 {"read_seconds", r.read_seconds},
                 {"decide_seconds", r.decide_seconds}};
  if (!r.first_error.empty()) o["first_error"] = r.first_error;
  return o;
}

// An optional instant query parameter (RFC 3339); a problem when malformed.
std::optional<HttpResponse> query_instant(const HttpRequest& q, std::string_view name, std::optional<Timestamp>* out) {
  auto it = q.query.find(name);
  if (it == q.query.end() || it->second.empty()) return std::nullopt;
  Timestamp t;
  if (!parse_utc(it->second, &t)) {
    return problem_response(bad_request(std::string(name) + " must be an instant such as 2026-03-01T00:00:00Z or "
                                            "2026-03-01T05:00:00+05:00",
                                        std::string(name)));
  }
  *out = t;
  return std::nullopt;
}

}  // namespace

HttpResponse ApiService::simulate_rules(Call& c) {
  // The key is checked first: another body under a used key is 422 idempotency-key-reused even when that body
  // would not parse, as for every other POST.
  return idempotent(c, [&]() -> HttpResponse {
    engine::WhatIfOptions o;
    std::optional<Timestamp> as_of;
    if (auto bad = query_instant(c.q, "from", &o.from)) return *bad;
    if (auto bad = query_instant(c.q, "to", &o.to)) return *bad;
    if (auto bad = query_instant(c.q, "as_of", &as_of)) return *bad;
    o.as_of = as_of.value_or(o.to.value_or(clock_.now()));
    o.threads = options_.simulate_threads;
    std::vector<rules::Diagnostic> diags;
    std::optional<rules::RuleSet> rs = rules::parse_rule_set(c.q.body, "candidate.yaml", &diags);
    rules::sort_diagnostics(diags);
    if (!rs) {
      return diagnostics_problem("invalid-rules", "Invalid rule set",
                                 "the candidate rule set has errors (listed with line:column)", diags);
    }
    auto candidate = registry_.candidate(c.q.body, "candidate.yaml");
    if (!candidate.ok()) return publish_problem(candidate.status(), "invalid-rules", "Invalid rule set");
    auto report = engine::simulate_what_if(store_, registry_, **candidate, o);
    if (!report.ok()) return status_problem(report.status());
    json::object body = what_if_json(*report);
    body["as_of"] = format_utc(o.as_of);
    auto retention = engine::privacy::plan_retention(store_, (*candidate)->rules, o.as_of);
    if (!retention.ok()) return status_problem(retention.status());
    std::uint64_t appeals = 0;
    for (const auto& d : retention->due) appeals += d.appeals.size();
    json::object by_rule;
    for (const auto& [rule, n] : retention->by_rule) by_rule[rule] = n;
    json::object r{{"applicants_due", retention->due.size()},
                   {"appeals_due", appeals},
                   {"kept_for_open_appeal", retention->with_open_appeal},
                   {"not_yet_due", retention->not_yet_due},
                   {"no_rule", retention->no_rule},
                   {"by_rule", std::move(by_rule)}};
    if (retention->next_due) r["next_due"] = format_utc(*retention->next_due);
    body["retention"] = std::move(r);
    return json_response(200, body);
  });
}

HttpResponse ApiService::get_calendar(Call& c) {
  const std::string& name = c.p.at("name");
  auto cur = latest_calendar(store_, name);
  if (!cur.ok()) return status_problem(cur.status());
  if (!*cur) {
    return problem_response(not_found("calendar '" + name + "' has not been published; an admin publishes it with " +
                                      "PUT /v1/calendars/" + name));
  }
  return publication_yaml(**cur);
}

// The calendars the rules in force run on, each with its versions as published.
HttpResponse ApiService::list_calendars(Call&) {
  auto bundle = registry_.current();
  if (!bundle.ok()) return status_problem(bundle.status());
  auto pubs = read_calendar_publications(store_);
  if (!pubs.ok()) return status_problem(pubs.status());
  json::array out;
  if (*bundle) {
    for (const auto& [name, cal] : (*bundle)->calendars) {
      json::array versions;
      for (const Publication& p : *pubs) {
        if (p.name != name) continue;
        versions.push_back(json::object{{"version", p.version},
                                        {"label", p.version_label},
                                        {"content_hash", p.content_hash},
                                        {"published_at", format_utc(p.recorded_at)},
                                        {"policy", std::string(to_string(p.policy))}});
      }
      json::array provisional;
      for (const auto& y : cal.provisional_years()) {
        json::array missing;
        for (const auto& m : y.missing) missing.emplace_back(m);
        provisional.push_back(json::object{{"year", y.year}, {"missing", std::move(missing)}, {"calendar", y.calendar}});
      }
      out.push_back(json::object{{"name", name},
                                 {"version", cal.version()},
                                 {"time_zone", cal.time_zone()},
                                 {"first_day", date::format("%F", cal.first_day())},
                                 {"last_day", date::format("%F", cal.last_day())},
                                 {"provisional_years", std::move(provisional)},
                                 {"publications", std::move(versions)}});
    }
  }
  return json_response(200, json::object{{"calendars", std::move(out)}});
}

// One year of a calendar in force, day by day: working or not, why, and whether the year is provisional.
HttpResponse ApiService::calendar_days(Call& c) {
  const std::string& name = c.p.at("name");
  std::uint64_t year = 0;
  auto it = c.q.query.find("year");
  if (it == c.q.query.end() || !parse_u64(it->second, &year) || year < 1900 || year > 2200) {
    return problem_response(bad_request("year must be a year, e.g. ?year=2027", "year"));
  }
  auto bundle = registry_.current();
  if (!bundle.ok()) return status_problem(bundle.status());
  const rules::Calendar* cal = nullptr;
  if (*bundle) {
    if (auto f = (*bundle)->calendars.find(name); f != (*bundle)->calendars.end()) cal = &f->second;
  }
  if (cal == nullptr) {
    return problem_response(not_found("no calendar '" + name + "' in the rules in force; GET /v1/calendars lists them"));
  }
  json::array days;
  const date::sys_days first = date::sys_days(date::year(static_cast<int>(year)) / 1 / 1);
  const date::sys_days last = date::sys_days(date::year(static_cast<int>(year)) / 12 / 31);
  for (date::sys_days d = first; d <= last; d += date::days(1)) {
    auto info = cal->day(date::year_month_day(d));
    if (!info.ok()) continue;  // outside the calendar's range: the client shows the day as not covered
    json::object o{{"date", date::format("%F", d)}, {"working", info->working}, {"minutes", info->working_minutes}};
    if (!info->reason.empty()) o["reason"] = info->reason;
    if (info->provisional) o["provisional"] = true;
    days.push_back(std::move(o));
  }
  return json_response(200, json::object{{"calendar", name},
                                         {"version", cal->version()},
                                         {"year", year},
                                         {"working_days", cal->working_days_in_year(static_cast<int>(year))},
                                         {"days", std::move(days)}});
}

HttpResponse ApiService::put_calendar(Call& c) {
  const std::string& name = c.p.at("name");
  auto policy = policy_param(c.q, engine::RebindPolicy::kProvisional);
  if (auto* bad = std::get_if<HttpResponse>(&policy)) return *bad;
  std::vector<rules::Diagnostic> diags;
  auto spec = rules::parse_calendar(c.q.body, name + ".yaml", &diags);
  rules::sort_diagnostics(diags);
  if (!spec) {
    return diagnostics_problem("invalid-calendar", "Invalid calendar",
                               "the calendar has errors (listed with line:column); the calendar in force is unchanged",
                               diags);
  }
  if (spec->name != name) {
    return problem_response(invalid_field("the body is calendar '" + spec->name + "' but the path names '" + name +
                                              "'; PUT it to /v1/calendars/" + spec->name,
                                          "/calendar"));
  }
  std::lock_guard lock(publish_mu_);
  auto cur = latest_calendar(store_, name);
  if (!cur.ok()) return status_problem(cur.status());
  if (auto stale = check_if_match(c.q, *cur ? (*cur)->version : 0, "calendar " + name)) return *stale;
  // What compiling refuses (a working day on a statutory holiday, a year before the first, ...), each error with
  // its line and column; a parent that is not published is answered below by the registry, naming it.
  std::vector<rules::Diagnostic> compiled = registry_.check_calendar(c.q.body, name + ".yaml");
  const bool missing_parent = std::any_of(compiled.begin(), compiled.end(), [](const rules::Diagnostic& d) {
    return d.code == "calendar-not-published";
  });
  if (rules::has_errors(compiled) && !missing_parent) {
    rules::sort_diagnostics(compiled);
    return diagnostics_problem("invalid-calendar", "Invalid calendar",
                               "the calendar has errors (listed with line:column); the calendar in force is unchanged",
                               compiled);
  }
  const engine::RebindPolicy pol = std::get<engine::RebindPolicy>(policy);
  auto r = registry_.publish_calendar(c.q.body, name + ".yaml", pol, actor_of(c.who));
  if (!r.ok()) return publish_problem(r.status(), "invalid-calendar", "Invalid calendar");
  metrics_.add_appended(1);
  const auto pub = registry_.publication_at(r->position);
  const std::uint64_t version = pub ? pub->second : 0;
  HttpResponse res = json_response(200, json::object{{"name", name},
                                                     {"version", version},
                                                     {"position", r->position},
                                                     {"content_hash", r->content_hash},
                                                     {"policy", std::string(engine::to_string(pol))}});
  res.set_header("ETag", etag_of(version));
  return res;
}

std::optional<HttpResponse> ApiService::check_topic(const json::object& body) const {
  if (catalogue_ == nullptr) return std::nullopt;
  const json::value* t = body.if_contains("topic");
  if (t == nullptr || !t->is_string() || catalogue_->find(t->as_string()) != nullptr) return std::nullopt;
  return problem_response(invalid_field("topic '" + std::string(t->as_string()) +
                                            "' is not in the catalogue; use a topic code from the catalogue "
                                            "(e.g. utilities.heating.no_heat)",
                                        "/topic"));
}

HttpResponse too_many_auth_failures(std::chrono::seconds retry_after, const AuthThrottleOptions& limits) {
  HttpResponse r = problem_response(Problem{
      .status = 429, .type = "too-many-auth-failures", .title = "Too many failed authentications",
      .detail = "this address presented " + std::to_string(limits.max_failures) + " invalid tokens within " +
                std::to_string(limits.window.count()) + " s; retry after " + std::to_string(retry_after.count()) +
                " s with a valid token (an admin creates tokens with `otinish token create`)",
      .field = "Authorization"});
  r.set_header("Retry-After", std::to_string(retry_after.count()));
  return r;
}

HttpResponse views_unavailable() {
  return problem_response(Problem{.status = 503, .type = "views-unavailable", .title = "Views not running",
                                  .detail = "this server runs without projections; start it with its --data "
                                            "directory to serve lists, scorecards and the public feed"});
}

HttpResponse view_behind(std::uint64_t position) {
  HttpResponse r = problem_response(Problem{
      .status = 503, .type = "view-behind", .title = "View behind the log",
      .detail = "the views have not caught up with log position " + std::to_string(position) + " within " +
                std::to_string(kViewWait.count()) + " s; retry shortly"});
  r.set_header("Retry-After", "1");
  return r;
}

std::optional<HttpResponse> await_views(const engine::ProjectionRunner& views, const store::EventStore& store) {
  const std::uint64_t head = store.head_position();
  if (views.wait_for(head, kViewWait)) return std::nullopt;
  return view_behind(head);
}

namespace {

json::object appeal_row_json(const engine::AppealRow& r) {
  // The view counts the stream's events only: a row's stream_version is not an ETag (GET the appeal for that).
  json::object o{{"id", r.id},
                 {"stream_version", r.version},
                 {"stage", std::string(to_string(r.stage))},
                 {"category", std::string(to_string(r.category))},
                 {"topic", r.topic},
                 {"priority", std::string(to_string(r.priority))},
                 {"channel", std::string(to_string(r.channel))},
                 {"district", r.district},
                 {"agency", r.agency},
                 {"registered_at", format_utc(r.registered_at)},
                 {"updated_at", format_utc(r.updated_at)},
                 {"outcome", std::string(to_string(r.outcome))},
                 {"reopen_count", r.reopen_count},
                 {"redirect_count", r.redirect_count},
                 {"children", r.children}};
  if (r.due_at != Timestamp{}) o["due_at"] = format_utc(r.due_at);
  if (!r.due_provisional.empty()) o["due_provisional"] = r.due_provisional;
  if (r.applicant_erased) o["applicant_erased"] = true;
  if (!r.sla_alert.empty()) o["sla_alert"] = r.sla_alert;
  if (r.resolved_at != Timestamp{}) o["resolved_at"] = format_utc(r.resolved_at);
  if (r.closed_at != Timestamp{}) o["closed_at"] = format_utc(r.closed_at);
  if (!r.parent.empty()) o["parent"] = r.parent;
  return o;
}

json::object scorecard_json(const engine::AgencyScorecard& c) {
  return {{"agency", c.agency},
          {"assigned", c.assigned},
          {"resolved", c.resolved},
          {"with_deadline", c.with_deadline},
          {"on_time", c.on_time},
          {"on_time_percent", c.on_time_percent()},
          {"reopened", c.reopened},
          {"reopen_rate", c.reopen_rate()},
          {"callbacks", c.callbacks},
          {"satisfaction", c.satisfaction()},
          {"average_hours_to_resolve", c.average_hours_to_resolve()}};
}

// Reads an optional enumeration query parameter; a problem response when malformed.
template <typename T, typename Parse>
std::optional<HttpResponse> query_enum(const HttpRequest& q, std::string_view name, Parse parse,
                                       std::optional<T>* out) {
  auto it = q.query.find(name);
  if (it == q.query.end() || it->second.empty()) return std::nullopt;
  auto v = parse(it->second);
  if (!v.ok()) return problem_response(bad_request(v.status().message(), std::string(name)));
  *out = *v;
  return std::nullopt;
}

}  // namespace

HttpResponse ApiService::list_appeals(Call& c) {
  if (views_ == nullptr) return views_unavailable();
  if (auto behind = await_views(*views_, store_)) return *behind;
  engine::AppealQuery query;
  if (auto bad = query_enum(c.q, "stage", engine::parse_stage, &query.stage)) return *bad;
  // `status` is another name for `stage` (the word a desk uses); both at once must agree.
  std::optional<engine::Stage> status;
  if (auto bad = query_enum(c.q, "status", engine::parse_stage, &status)) return *bad;
  if (status && query.stage && *status != *query.stage) {
    return problem_response(bad_request("status and stage name the same filter; send one", "status"));
  }
  if (status) query.stage = status;
  if (auto bad = query_enum(c.q, "category", engine::parse_category, &query.category)) return *bad;
  auto text = [&c](std::string_view k) -> std::optional<std::string> {
    auto it = c.q.query.find(k);
    if (it == c.q.query.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
  query.topic = text("topic");
  query.agency = text("agency");
  query.district = text("district");
  if (c.who.role == Role::kAgency) {
    if (query.agency && *query.agency != c.who.agency) {
      return problem_response(Problem{.status = 403, .type = "forbidden", .title = "Not allowed for this role",
                                      .detail = "an agency token sees only agency " + c.who.agency,
                                      .field = "agency"});
    }
    query.agency = c.who.agency;
  }
  if (auto o = text("overdue")) {
    if (*o != "true" && *o != "false") return problem_response(bad_request("overdue must be true or false", "overdue"));
    query.overdue_only = *o == "true";
  }
  query.now = clock_.now();
  query.after = text("after").value_or("");
  std::uint64_t limit = 50;
  if (auto l = text("limit"); l && (!parse_u64(*l, &limit) || limit == 0 || limit > options_.max_appeal_page)) {
    return problem_response(bad_request("limit must be 1.." + std::to_string(options_.max_appeal_page), "limit"));
  }
  query.limit = limit;
  auto reader = views_->reader("appeals");
  if (!reader.ok()) return status_problem(reader.status());
  auto page = engine::query_appeals(**reader, query);
  if (!page.ok()) return status_problem(page.status());
  json::array rows;
  for (const auto& r : page->rows) rows.push_back(appeal_row_json(r));
  json::object body{{"appeals", std::move(rows)}, {"checkpoint", (*reader)->checkpoint()}};
  if (!page->next_after.empty()) body["next_after"] = page->next_after;
  return json_response(200, body);
}

HttpResponse ApiService::scorecards(Call& c) {
  if (views_ == nullptr) return views_unavailable();
  if (auto behind = await_views(*views_, store_)) return *behind;
  std::uint64_t min_sample = 30;
  if (auto it = c.q.query.find("min_sample"); it != c.q.query.end() && !parse_u64(it->second, &min_sample)) {
    return problem_response(bad_request("min_sample must be a non-negative integer", "min_sample"));
  }
  auto reader = views_->reader("scorecards");
  if (!reader.ok()) return status_problem(reader.status());
  auto cards = engine::read_scorecards(**reader, min_sample);
  if (!cards.ok()) return status_problem(cards.status());
  auto keep = [&c](const engine::AgencyScorecard& s) { return c.who.role != Role::kAgency || s.agency == c.who.agency; };
  json::array ranked, small;
  for (const auto& s : cards->ranked)
    if (keep(s)) ranked.push_back(scorecard_json(s));
  for (const auto& s : cards->too_small)
    if (keep(s)) small.push_back(scorecard_json(s));
  return json_response(200, json::object{{"ranked", std::move(ranked)},
                                         {"too_small", std::move(small)},
                                         {"min_sample", min_sample},
                                         {"checkpoint", (*reader)->checkpoint()}});
}

// What a resident who holds an appeal's number may see of it: the public feed's fields and the deadline.
// Numbers are dense, so anyone can walk them; this tells no more than the feed already publishes.
HttpResponse ApiService::public_appeal(Call& c) {
  if (views_ == nullptr) return views_unavailable();
  if (auto behind = await_views(*views_, store_)) return *behind;
  auto reader = views_->reader("appeals");
  if (!reader.ok()) return status_problem(reader.status());
  auto row = engine::get_appeal_row(**reader, c.p.at("id"));
  if (!row.ok()) {
    if (row.status().code() == StatusCode::kNotFound) {
      return problem_response(not_found("no appeal " + c.p.at("id") + "; check the number you were given"));
    }
    return status_problem(row.status());
  }
  const engine::AppealRow& r = *row;
  json::object o{{"id", r.id},
                 {"stage", std::string(to_string(r.stage))},
                 {"category", std::string(to_string(r.category))},
                 {"topic", r.topic},
                 {"district", r.district},
                 {"agency", r.agency},
                 {"registered_at", format_utc(r.registered_at)},
                 {"updated_at", format_utc(r.updated_at)},
                 {"outcome", std::string(to_string(r.outcome))}};
  if (r.due_at != Timestamp{} && r.resolved_at == Timestamp{}) o["due_at"] = format_utc(r.due_at);
  if (r.resolved_at != Timestamp{}) o["resolved_at"] = format_utc(r.resolved_at);
  if (r.closed_at != Timestamp{}) o["closed_at"] = format_utc(r.closed_at);
  if (!r.parent.empty()) o["merged_into"] = r.parent;
  return json_response(200, o);
}

HttpResponse ApiService::public_feed(Call& c) {
  if (views_ == nullptr) return views_unavailable();
  if (auto behind = await_views(*views_, store_)) return *behind;
  std::uint64_t after = 0, limit = options_.default_page;
  if (auto it = c.q.query.find("after"); it != c.q.query.end() && !parse_u64(it->second, &after)) {
    return problem_response(bad_request("after must be a feed position", "after"));
  }
  if (auto it = c.q.query.find("limit"); it != c.q.query.end()) {
    if (!parse_u64(it->second, &limit) || limit == 0 || limit > options_.max_page) {
      return problem_response(bad_request("limit must be 1.." + std::to_string(options_.max_page), "limit"));
    }
  }
  auto reader = views_->reader("public");
  if (!reader.ok()) return status_problem(reader.status());
  auto entries = engine::read_public_feed(**reader, after, limit);
  if (!entries.ok()) return status_problem(entries.status());
  json::array out;
  std::uint64_t next = after;
  for (const auto& e : *entries) {
    out.push_back(json::object{{"position", e.position},
                               {"at", format_utc(e.at)},
                               {"appeal_id", e.appeal_id},
                               {"what", e.what},
                               {"category", std::string(to_string(e.category))},
                               {"topic", e.topic},
                               {"district", e.district},
                               {"agency", e.agency},
                               {"stage", std::string(to_string(e.stage))},
                               {"outcome", std::string(to_string(e.outcome))}});
    next = e.position;
  }
  HttpResponse r = json_response(200, json::object{{"entries", std::move(out)}, {"next_after", next}});
  r.set_header("Cache-Control", "public, max-age=5");
  return r;
}

HttpResponse ApiService::rebuild_projection(Call& c) {
  if (views_ == nullptr) return views_unavailable();
  return idempotent(c, [&]() -> HttpResponse {
    auto report = views_->rebuild(c.p.at("name"));
    if (!report.ok()) return status_problem(report.status());
    return json_response(200, json::object{{"projection", c.p.at("name")},
                                           {"events", report->events},
                                           {"generation", report->generation},
                                           {"seconds", report->seconds}});
  });
}

}  // namespace otinish::api
