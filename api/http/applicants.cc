// api/http/applicants.cc: the applicant's personal data at the HTTP edge: the audited read of the contact for the
// callback, the access log of an appeal, and erasure.
#include <boost/json.hpp>

#include "api/http/problem.h"
#include "api/http/resource_support.h"
#include "api/http/service.h"
#include "engine/privacy/access_log.h"
#include "engine/privacy/erasure.h"
#include "engine/privacy/key_store.h"
#include "engine/privacy/redact.h"

namespace otinish::api {

namespace json = boost::json;
namespace privacy = engine::privacy;

namespace {

// The purpose a caller states for reading personal data: what the access log shows the applicant.
constexpr std::size_t kMaxPurpose = 200;

HttpResponse no_store(HttpResponse r) {
  r.set_header("Cache-Control", "no-store");
  return r;
}

HttpResponse erased_problem(const std::string& appeal) {
  return problem_response(Problem{
      .status = 410, .type = "applicant-erased", .title = "The applicant's personal data was erased",
      .detail = "the personal data of the applicant of " + appeal +
                " was erased (its key is destroyed); the appeal and its history remain: GET /v1/appeals/" + appeal +
                "/timeline"});
}

}  // namespace

HttpResponse ApiService::get_applicant(Call& c) {
  const std::string purpose(c.q.header("access-purpose"));
  if (purpose.empty() || purpose.size() > kMaxPurpose) {
    return problem_response(Problem{
        .status = 400, .type = "purpose-required", .title = "State why you read personal data",
        .detail = "send 'Access-Purpose: <why>' (1.." + std::to_string(kMaxPurpose) +
                  " characters, e.g. 'callback with the result'); every read of personal data is recorded with it and "
                  "the applicant may ask who read their data and why",
        .field = "Access-Purpose"});
  }
  auto loaded = load_visible(engine_, c.p.at("id"), c.who);
  if (auto* r = std::get_if<HttpResponse>(&loaded)) return *r;
  const engine::AppealState& s = std::get<engine::AppealState>(loaded);
  // An erased (or erasing) applicant's key is gone from the key store's memory too: opening says kNotFound.
  // A read that cannot be recorded is not served: personal data never leaves unrecorded.
  if (privacy_.access == nullptr || !privacy_.access->healthy()) {
    HttpResponse r = problem_response(Problem{
        .status = 503, .type = "unavailable", .title = "Reads of personal data cannot be recorded now",
        .detail = "the log refuses the access records (or none can be kept); personal data is served again once "
                  "they are written"});
    r.set_header("Retry-After", "5");
    return r;
  }
  auto applicant = engine_.applicant(s);
  if (!applicant.ok()) {
    if (applicant.status().code() == StatusCode::kNotFound) {
      // Erased, or being erased: 410. A key that is simply missing is damage, not an erasure.
      const privacy::ApplicantKeyState state =
          privacy_.keys ? privacy_.keys->state(s.applicant.key_id) : privacy::ApplicantKeyState::kUnknown;
      if (state == privacy::ApplicantKeyState::kErased || state == privacy::ApplicantKeyState::kErasing) {
        return erased_problem(s.id);
      }
      return status_problem(Status::Corruption("the key of the applicant of " + s.id + " (" + s.applicant.key_id +
                                               ") is missing from the key store: restore DIR/keys from its backup"));
    }
    return status_problem(applicant.status());
  }
  // Recorded before the answer leaves: a read that is served is a read that is queued for the log. The purpose
  // is free text written in plain bytes: the person's own data is taken out of it.
  privacy_.access->record(actor_of(c.who), {s.id, s.applicant.key_id, "contact",
                                            privacy::redact_personal_data(purpose, *applicant)});
  json::object o{{"appeal_id", s.id},
                 {"applicant_id", s.applicant.key_id},
                 {"name", applicant->name},
                 {"phone", applicant->phone},
                 {"address", applicant->address},
                 {"sealed", s.applicant.scheme != 0}};
  if (!applicant->original_text.empty()) o["original_text"] = applicant->original_text;
  return no_store(json_response(200, o));
}

HttpResponse ApiService::access_log(Call& c) {
  auto loaded = load_visible(engine_, c.p.at("id"), c.who);
  if (auto* r = std::get_if<HttpResponse>(&loaded)) return *r;
  const engine::AppealState& s = std::get<engine::AppealState>(loaded);
  if (views_ == nullptr) {
    return problem_response(Problem{.status = 503, .type = "unavailable", .title = "Views are off",
                                    .detail = "this server runs without projections; the access log is one"});
  }
  auto reader = views_->reader("access");
  if (!reader.ok()) return status_problem(reader.status());
  auto entries = privacy::read_access_log(**reader, s.id);
  if (!entries.ok()) return status_problem(entries.status());
  json::array reads;
  for (const privacy::AccessEntry& e : *entries) {
    reads.push_back(json::object{{"at", format_utc(e.at)},
                                 {"position", e.position},
                                 {"token", e.token_id},
                                 {"role", e.role},
                                 {"what", e.what},
                                 {"purpose", e.purpose}});
  }
  json::object o{{"appeal_id", s.id}, {"reads", std::move(reads)}, {"as_of_position", (*reader)->checkpoint()}};
  return no_store(json_response(200, o));
}

HttpResponse ApiService::erase_applicant(Call& c) {
  const std::string& id = c.p.at("id");
  if (privacy_.keys == nullptr) {
    return problem_response(Problem{
        .status = 503, .type = "not-sealed", .title = "Personal data is not sealed on this server",
        .detail = "this server stores applicants in plain text (--plain-personal-data); there is no key to destroy. "
                  "Run it with a key-encryption key (--kek)"});
  }
  json::object body;
  if (auto bad = parse_body(c.q, false, &body)) return *bad;
  const json::value* reason = body.if_contains("reason");
  if (!reason || !reason->is_string() || reason->as_string().empty()) {
    return problem_response(bad_request("an erasure needs a reason, e.g. {\"reason\": \"request of the applicant\"}",
                                        "/reason"));
  }
  privacy::ErasureRequest r{{id}, privacy::redact_personal_data(reason->as_string()), "", actor_of(c.who)};
  auto erased = privacy::erase_applicants(*privacy_.keys, store_, r);
  if (!erased.ok()) {
    if (erased.status().code() == StatusCode::kNotFound) {
      return problem_response(not_found("no applicant " + id + "; GET /v1/appeals/{id}/applicant gives an appeal's "
                                        "applicant_id"));
    }
    return status_problem(erased.status());
  }
  const privacy::ErasedApplicant& e = erased->front();
  json::array appeals;
  for (const std::string& a : e.appeals) appeals.emplace_back(a);
  log_line("info", "applicant erased",
           json::serialize(json::object{{"applicant_id", id}, {"token", c.who.token_id}, {"appeals", e.appeals.size()}}));
  return json_response(200, json::object{{"applicant_id", id},
                                         {"erased", true},
                                         {"already_erased", e.already_erased},
                                         {"appeals", std::move(appeals)}});
}

}  // namespace otinish::api
