// api/http/session.cc: what a client needs to know before it shows a screen: who the token is (role, agency,
// what it may do), the catalogue of topics, agencies and districts in three languages, and, while an operator
// is still on the phone, whether this resident already asked about the same thing recently.
#include <boost/json.hpp>

#include <mutex>

#include "api/http/problem.h"
#include "api/http/resource_support.h"
#include "api/http/service.h"
#include "common/hash.h"
#include "engine/privacy/key_store.h"
#include "engine/views.h"
#include "examples/city/city_catalogue.h"

namespace otinish::api {

namespace json = boost::json;

namespace {

json::object names(const std::string& kk, const std::string& ru, const std::string& en) {
  return {{"kk", kk}, {"ru", ru}, {"en", en}};
}

}  // namespace

HttpResponse ApiService::session(Call& c) {
  json::array perms, commands;
  for (Permission p : kAllPermissions) {
    if (role_has(c.who.role, p)) perms.emplace_back(permission_key(p));
  }
  for (int k = 0; k < engine::kCommandKindCount; ++k) {
    const auto kind = static_cast<engine::CommandKind>(k);
    if (kind == engine::CommandKind::kRegister || kind == engine::CommandKind::kApplyParentResolution) continue;
    if (role_may_run(c.who.role, kind)) commands.emplace_back(to_string(kind));
  }
  json::object o{{"token_id", c.who.token_id},
                 {"role", std::string(to_string(c.who.role))},
                 {"permissions", std::move(perms)},
                 {"commands", std::move(commands)}};
  if (!c.who.agency.empty()) o["agency"] = c.who.agency;
  HttpResponse r = json_response(200, o);
  r.set_header("Cache-Control", "no-store");
  return r;
}

HttpResponse ApiService::catalogue(Call& c) {
  if (city_ == nullptr) {
    return problem_response(Problem{.status = 404, .type = "no-catalogue", .title = "No catalogue",
                                    .detail = "this server runs without a topic catalogue (otinish serve --catalogue DIR)"});
  }
  // The catalogue is immutable while the server runs: build its JSON once, with an ETag of its bytes so a
  // console that already holds it gets a 304.
  std::call_once(catalogue_once_, [this] {
    json::array topics, agencies, districts;
    for (const city::CityTopic& t : city_->topics) {
      json::object o{{"code", t.topic.code},
                     {"area", t.area},
                     {"names", names(t.topic.name_kk, t.topic.name_ru, t.topic.name_en)},
                     {"category", std::string(to_string(t.topic.default_category))},
                     {"agency", t.topic.default_agency}};
      if (t.topic.dangerous) o["dangerous"] = true;
      topics.push_back(std::move(o));
    }
    for (const city::CityAgency& a : city_->agencies) {
      json::array ds;
      for (const auto& d : a.districts) ds.emplace_back(d);
      agencies.push_back(json::object{{"id", a.id},
                                      {"names", names(a.name_kk, a.name_ru, a.name_en)},
                                      {"kind", a.kind},
                                      {"districts", std::move(ds)}});
    }
    for (const city::CityDistrict& d : city_->districts) {
      districts.push_back(json::object{{"id", d.id}, {"names", names(d.name_kk, d.name_ru, d.name_en)}});
    }
    catalogue_json_ = json::serialize(json::object{{"version", city_->version},
                                                   {"topics", std::move(topics)},
                                                   {"agencies", std::move(agencies)},
                                                   {"districts", std::move(districts)}});
    const Hash256 h = blake2b_256(catalogue_json_);
    catalogue_etag_ = "\"" + to_hex(std::span<const std::uint8_t>(h.data(), 8)) + "\"";
  });
  HttpResponse r;
  if (c.q.header("if-none-match") == catalogue_etag_) {
    r.status = 304;
  } else {
    r.status = 200;
    r.body = catalogue_json_;
    r.content_type = "application/json";
  }
  r.set_header("ETag", catalogue_etag_);
  r.set_header("Cache-Control", "no-cache");
  return r;
}

HttpResponse ApiService::repeat_check(Call& c) {
  // The answer links a phone number to appeals: only a desk that may read the applicant's data asks it.
  if (!role_has(c.who.role, Permission::kReadPersonalData)) {
    return problem_response(Problem{.status = 403, .type = "forbidden", .title = "Not allowed for this role",
                                    .detail = "role " + std::string(to_string(c.who.role)) +
                                              " may not look up an applicant's earlier appeals"});
  }
  if (views_ == nullptr) return views_unavailable();
  json::object body;
  if (auto bad = parse_body(c.q, false, &body)) return *bad;
  auto text = [&body](const char* k) -> std::string {
    auto* v = body.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  const std::string topic = text("topic");
  if (topic.empty()) return problem_response(bad_request("topic is required", "/topic"));
  engine::Applicant applicant;
  if (auto* a = body.if_contains("applicant"); a && a->is_object()) {
    auto field = [a](const char* k) {
      auto* v = a->as_object().if_contains(k);
      return v && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    applicant.name = field("name");
    applicant.phone = field("phone");
    applicant.address = field("address");
  }
  // Link as the repeats view does: a sealing server by the applicant's id, which the key store's identity
  // index gives without creating one; a plain server by phone and address digests.
  std::string person, address;
  if (privacy_.keys != nullptr) {
    const std::string identity = engine::applicant_identity(applicant);
    if (!identity.empty()) {
      auto found = privacy_.keys->find(identity);
      if (!found.ok()) return status_problem(found.status());
      if (*found) person = **found;
    }
  } else {
    person = engine::normalise_phone(applicant.phone);
    address = engine::normalise_address(applicant.address);
  }
  if (auto behind = await_views(*views_, store_)) return *behind;
  auto reader = views_->reader("repeats");
  if (!reader.ok()) return status_problem(reader.status());
  auto found = engine::find_repeat_candidates(**reader, person, address, topic, clock_.now());
  if (!found.ok()) return status_problem(found.status());
  json::array out;
  for (const auto& f : *found) {
    out.push_back(json::object{{"appeal_id", f.earlier_id}, {"registered_at", format_utc(f.at)}, {"reason", f.reason}});
  }
  HttpResponse r = json_response(200, json::object{{"repeats", std::move(out)}});
  r.set_header("Cache-Control", "no-store");
  return r;
}

}  // namespace otinish::api
