// api/http/open311.cc: Open311 GeoReport v2 (docs/open311.md), for civic apps: the catalogue's topics as
// services, the appeals view as service requests, and registration through the one registration path
// (register_from_body, with the checks and idempotency an operator's registration gets). JSON only.
//
// What leaves here is the public data: a request carries its topic, stage, agency, dates and the coarsened
// location (street and district, as the engine keeps it), never the applicant nor the resident's free text.
#include <algorithm>
#include <cctype>
#include <chrono>

#include <boost/json.hpp>

#include "api/http/form.h"
#include "api/http/problem.h"
#include "api/http/resource_support.h"
#include "api/http/service.h"
#include "engine/views.h"
#include "examples/city/city_catalogue.h"

namespace otinish::api {

namespace json = boost::json;
using engine::AppealRow;
using engine::Stage;

namespace {

constexpr std::string_view kSpecification = "http://wiki.open311.org/GeoReport_v2";
// When this endpoint's answers last changed shape (discovery's changeset): raise it with every such change.
constexpr std::string_view kChangeset = "2026-03-01T00:00:00Z";
// GeoReport's defaults for GET requests: the last 90 days, at most 1000 requests.
constexpr auto kDefaultWindow = std::chrono::days(90);
constexpr std::size_t kMaxRequests = 1000;

// ---- errors: [{"code": <HTTP status>, "description": "..."}] --------------------------------------------------

HttpResponse georeport_error(int status, const std::string& description) {
  return json_response(status, json::array{json::object{{"code", status}, {"description", description}}});
}

// The Open311 name of a field the shared registration code names by its JSON Pointer.
std::string_view open311_field(std::string_view pointer) {
  static constexpr std::pair<std::string_view, std::string_view> kNames[] = {
      {"/centre", "jurisdiction_id"}, {"/topic", "service_code"},          {"/text", "description"},
      {"/location", "address_string"}, {"/applicant/name", "first_name"}, {"/applicant/phone", "phone"},
      {"/applicant", "first_name"}};
  for (const auto& [from, to] : kNames)
    if (pointer.starts_with(from)) return to;
  return pointer;
}

// A problem+json answer of the shared code (auth, idempotency, registration, views) in GeoReport's shape, with
// its status and headers (WWW-Authenticate, Retry-After) kept. Any other answer is returned as it is.
HttpResponse as_georeport(HttpResponse r) {
  if (r.later) {  // answered later (a registration): converted when it is given
    r.later->then([](HttpResponse& answer) { answer = as_georeport(std::move(answer)); });
    return r;
  }
  if (r.content_type != "application/problem+json") return r;
  boost::system::error_code ec;
  const json::value v = json::parse(r.body, ec);
  std::string description = "request failed";
  if (!ec && v.is_object()) {
    const json::object& o = v.as_object();
    if (const json::value* d = o.if_contains("detail"); d != nullptr && d->is_string()) description = d->as_string();
    const json::value* f = o.if_contains("field");
    if (f != nullptr && f->is_string() && f->as_string().starts_with("/")) {
      // "/centre: must be 2..8 letters" reads "jurisdiction_id: must be 2..8 letters" to an Open311 client.
      const std::string pointer(f->as_string());
      if (description.starts_with(pointer + ": ")) description.erase(0, pointer.size() + 2);
      description = std::string(open311_field(pointer)) + ": " + description;
    }
  }
  HttpResponse out = georeport_error(r.status, description);
  out.headers = std::move(r.headers);
  return out;
}

HttpResponse no_catalogue() {
  return georeport_error(404, "this server runs without a topic catalogue (otinish serve --catalogue DIR), so it "
                              "offers no Open311 services");
}

// ---- language ----------------------------------------------------------------------------------------------------

enum class Lang { kKk, kRu, kEn };

std::optional<Lang> lang_of(std::string_view tag) {
  std::string t(tag.substr(0, 2));
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (tag.size() > 2 && tag[2] != '-' && tag[2] != '_') return std::nullopt;
  if (t == "kk") return Lang::kKk;
  if (t == "ru") return Lang::kRu;
  if (t == "en") return Lang::kEn;
  return std::nullopt;
}

// ?locale= (GeoReport's parameter; kk, ru or en, a region allowed: ru_KZ), else the first of Accept-Language's
// tags that is one of them, else English. An explicit locale we do not have is a 400, not a silent English.
std::variant<Lang, HttpResponse> language(const HttpRequest& q, const FormFields& in) {
  if (auto it = in.find("locale"); it != in.end() && !it->second.empty()) {
    if (auto l = lang_of(it->second)) return *l;
    return georeport_error(400, "locale: '" + it->second + "' is not served; use kk, ru or en");
  }
  std::string_view accept = q.header("accept-language");
  while (!accept.empty()) {
    const std::size_t comma = accept.find(',');
    std::string_view tag = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view{} : accept.substr(comma + 1);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    if (auto l = lang_of(tag.substr(0, tag.find(';')))) return *l;
  }
  return Lang::kEn;
}

const std::string& name_in(Lang l, const std::string& kk, const std::string& ru, const std::string& en) {
  return l == Lang::kKk ? kk : l == Lang::kRu ? ru : en;
}

// ---- lowercase and district names ---------------------------------------------------------------------------

// Lower case for ASCII and the Cyrillic letters of Kazakh and Russian (U+0400..U+04FF), enough to compare a
// district's name as residents type it with the catalogue's. Other bytes are kept.
std::string fold(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out += static_cast<char>(std::tolower(b));
      continue;
    }
    if ((b == 0xD0 || b == 0xD1 || b == 0xD2 || b == 0xD3) && i + 1 < s.size()) {
      unsigned cp = ((b & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
      // Ѐ..Џ and А..Я have their lower case 0x50 and 0x20 further; from Ѡ on, letters come in (upper, lower)
      // pairs, upper even, except Ӂ..Ӎ where the upper one is odd (and Ӏ, left as it is).
      const bool odd_pairs = cp >= 0x4C1 && cp <= 0x4CE;
      if (cp >= 0x400 && cp <= 0x40F) cp += 0x50;
      else if (cp >= 0x410 && cp <= 0x42F) cp += 0x20;
      else if (cp >= 0x460 && cp != 0x4C0 && cp % 2 == (odd_pairs ? 1u : 0u)) cp += 1;
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
      ++i;
      continue;
    }
    out += static_cast<char>(b);
  }
  return out;
}

std::vector<std::string> words_of(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const std::size_t space = s.find(' ');
    if (space != 0) out.emplace_back(s.substr(0, space));
    s = space == std::string_view::npos ? std::string_view{} : s.substr(space + 1);
  }
  return out;
}

// A place name compared loosely: lower case, '-', '_' and '.' as spaces, the word for "district" dropped, so
// "Al-Farabi district", "al_farabi" and "Әл-Фараби ауданы" / "әл-фараби" each meet their catalogue entry.
std::string place_key(std::string_view s) {
  std::string f = fold(s);
  for (char& ch : f)
    if (ch == '-' || ch == '_' || ch == '.') ch = ' ';
  static const std::string_view kDistrictWords[] = {"district", "ауданы", "аудан", "район"};
  const std::vector<std::string> words = words_of(f);
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    bool drop = false;
    for (auto w : kDistrictWords) drop = drop || words[i] == w;
    if (words[i] == "р" && i + 1 < words.size() && words[i + 1] == "н") {  // "р-н", the short "район"
      ++i;
      continue;
    }
    if (!drop) out += (out.empty() ? "" : " ") + words[i];
  }
  return out;
}

const city::CityDistrict* find_district(const city::CityCatalogue& city, std::string_view part) {
  const std::string key = place_key(part);
  if (key.empty()) return nullptr;
  for (const auto& d : city.districts) {
    for (const std::string* n : {&d.id, &d.name_kk, &d.name_ru, &d.name_en})
      if (place_key(*n) == key) return &d;
  }
  return nullptr;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

bool has_digit(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); });
}

// The words of `part` before its house or flat number: "Tauke khan 5" -> "Tauke khan", "ул. Байтурсынова д. 12
// кв. 4" -> "ул. Байтурсынова". Cut at the first word with a digit or a word that announces one.
std::string street_words(std::string_view part) {
  static const std::string_view kNumberWords[] = {"д", "д.", "дом", "house", "no", "no.", "№", "кв", "кв.",
                                                  "квартира", "flat", "apt", "apt.", "пәтер", "үй"};
  std::string out;
  std::size_t i = 0;
  const std::string s = trim(part);
  while (i < s.size()) {
    const std::size_t j = std::min(s.find(' ', i), s.size());
    const std::string_view word(s.data() + i, j - i);
    const std::string folded = fold(word);
    bool stop = has_digit(word);
    for (auto w : kNumberWords) stop = stop || folded == w;
    if (stop) break;
    if (!word.empty()) out += (out.empty() ? "" : " ") + std::string(word);
    i = j + 1;
  }
  return out;
}

// The engine's location from GeoReport's address_string: the district when a comma-separated part names one
// of the catalogue's districts; the street from the part that carries the house number ("Tauke khan 5"), else
// the first part with a word that is not a district, without its house and flat numbers. Coarse on purpose:
// the exact address goes only into the sealed applicant.
engine::Location location_of(const city::CityCatalogue& city, std::string_view address) {
  engine::Location loc;
  std::vector<std::string> parts;
  while (!address.empty()) {
    const std::size_t comma = address.find(',');
    parts.push_back(trim(address.substr(0, comma)));
    address = comma == std::string_view::npos ? std::string_view{} : address.substr(comma + 1);
  }
  std::string numbered, first;
  for (const std::string& p : parts) {
    if (const city::CityDistrict* d = find_district(city, p)) {
      if (loc.district.empty()) loc.district = d->id;
      continue;
    }
    const std::string street = street_words(p);
    if (street.empty()) continue;
    if (first.empty()) first = street;
    if (numbered.empty() && street.size() < p.size() && has_digit(p)) numbered = street;
  }
  loc.street = numbered.empty() ? first : numbered;
  return loc;
}

// ---- service requests ---------------------------------------------------------------------------------------

// "2026-03-20T09:15:00Z": the W3C subset of ISO 8601 GeoReport asks for (seconds, a zone).
std::string w3c_datetime(Timestamp t) {
  std::string s = format_utc(std::chrono::floor<std::chrono::seconds>(t));
  if (s.size() == 27) s.erase(19, 7);  // ".000000"
  return s;
}

json::value datetime_or_null(Timestamp t) {
  return t == Timestamp{} ? json::value(nullptr) : json::value(w3c_datetime(t));
}

// GeoReport's status has two values; the stage in words goes into status_notes. An appeal is closed for a
// resident once its agency resolved it (the call back that follows, and a reopening, are noted), or once it was
// merged into the appeal that carries on.
bool closed_for_open311(Stage s) {
  return s == Stage::kResolved || s == Stage::kVerified || s == Stage::kClosed || s == Stage::kMerged;
}

std::string outcome_words(engine::Outcome o) {
  switch (o) {
    case engine::Outcome::kNone: return "";
    case engine::Outcome::kDone: return " (fixed)";
    case engine::Outcome::kExplained: return " (explained)";
    case engine::Outcome::kNotConfirmed: return " (not confirmed on site)";
    case engine::Outcome::kProposalAccepted: return " (proposal accepted)";
    case engine::Outcome::kProposalDeclined: return " (proposal declined)";
  }
  return "";
}

std::string status_notes(const AppealRow& r) {
  switch (r.stage) {
    case Stage::kRegistered: return "registered: the 109 centre reviews it and routes it to an agency";
    case Stage::kUnderReview: return "under review at the 109 centre";
    case Stage::kReturnedToOperator: return "back with the 109 centre's operator for details";
    case Stage::kAssigned: return "assigned to the responsible agency";
    case Stage::kAccepted: return "accepted by the responsible agency";
    case Stage::kInProgress: return "in progress at the responsible agency";
    case Stage::kOnHold: return "on hold at the responsible agency";
    case Stage::kResolved:
      return "resolved" + outcome_words(r.outcome) + "; the 109 centre calls the resident back to check";
    case Stage::kVerified: return "resolved" + outcome_words(r.outcome) + " and checked with the resident";
    case Stage::kClosed: return "closed" + outcome_words(r.outcome);
    case Stage::kReopened: return "reopened: the problem is back with the 109 centre";
    case Stage::kMerged:
      return "a duplicate: merged into " + (r.parent.empty() ? std::string("another request") : r.parent) +
             ", which carries on";
  }
  return std::string(to_string(r.stage));
}

std::string service_name(const city::CityCatalogue* city, const std::string& code, Lang l) {
  const city::CityTopic* t = city ? city->topic(code) : nullptr;
  return t ? name_in(l, t->topic.name_kk, t->topic.name_ru, t->topic.name_en) : code;
}

// "street, district": the location as the engine keeps it, the district by its name in `l`.
std::string address_of(const city::CityCatalogue* city, const AppealRow& r, Lang l) {
  std::string district = r.district;
  if (city != nullptr) {
    for (const auto& d : city->districts)
      if (d.id == r.district) district = name_in(l, d.name_kk, d.name_ru, d.name_en);
  }
  if (r.street.empty()) return district;
  return district.empty() ? r.street : r.street + ", " + district;
}

json::object request_json(const city::CityCatalogue* city, const AppealRow& r, Lang l) {
  const std::string name = service_name(city, r.topic, l);
  json::value agency = nullptr;
  if (!r.agency.empty()) {
    const city::CityAgency* a = city ? city->agency(r.agency) : nullptr;
    agency = a ? name_in(l, a->name_kk, a->name_ru, a->name_en) : r.agency;
  }
  const std::string address = address_of(city, r, l);
  // description is a summary of what the appeal is about, never the resident's text (it may name people).
  return {{"service_request_id", r.id},
          {"status", closed_for_open311(r.stage) ? "closed" : "open"},
          {"status_notes", status_notes(r)},
          {"service_name", name},
          {"service_code", r.topic},
          {"description", std::string(to_string(r.category)) + ": " + name},
          {"agency_responsible", std::move(agency)},
          {"service_notice", nullptr},
          {"requested_datetime", w3c_datetime(r.registered_at)},
          {"updated_datetime", w3c_datetime(r.updated_at)},
          {"expected_datetime", datetime_or_null(r.due_at)},
          {"address", address.empty() ? json::value(nullptr) : json::value(address)},
          {"address_id", nullptr},
          {"zipcode", nullptr},
          {"lat", nullptr},
          {"long", nullptr},
          {"media_url", nullptr}};
}

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const std::size_t comma = s.find(',');
    if (std::string item = trim(s.substr(0, comma)); !item.empty()) out.push_back(std::move(item));
    s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
  }
  return out;
}

// start_date / end_date: an instant with a zone, or a date (2026-03-01: its midnight UTC; as an end_date, the
// midnight that ends it).
std::optional<HttpResponse> date_param(const FormFields& in, const char* name, bool end, std::optional<Timestamp>* out) {
  auto it = in.find(name);
  if (it == in.end() || it->second.empty()) return std::nullopt;
  Timestamp t;
  const bool date_only = it->second.size() == 10;
  if (!parse_utc(date_only ? it->second + "T00:00:00Z" : it->second, &t)) {
    return georeport_error(400, std::string(name) + ": '" + it->second +
                                    "' is not a date-time such as 2026-03-01T00:00:00Z or 2026-03-01T05:00:00+05:00");
  }
  if (date_only && end) t += std::chrono::days(1);
  *out = t;
  return std::nullopt;
}

// The fields of a POST: the form body (GeoReport's encoding) or a JSON object, over the query's.
std::optional<HttpResponse> post_fields(const HttpRequest& q, FormFields* in) {
  std::string type(q.header("content-type"));
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (type.starts_with("application/json")) {
    boost::system::error_code ec;
    const json::value v = json::parse(q.body, ec);
    if (ec || !v.is_object()) return georeport_error(400, "the body is not a JSON object");
    for (const auto& kv : v.as_object()) {
      const json::value& x = kv.value();
      if (x.is_null()) continue;
      if (x.is_string()) (*in)[kv.key()] = x.as_string();
      else if (x.is_number() || x.is_bool()) (*in)[kv.key()] = json::serialize(x);
      else return georeport_error(400, std::string(kv.key()) + ": must be a string or a number");
    }
    return std::nullopt;
  }
  if (!type.empty() && !type.starts_with("application/x-www-form-urlencoded")) {
    return georeport_error(415, "send the request as application/x-www-form-urlencoded (or application/json); "
                                "media are linked with media_url, not uploaded");
  }
  if (!parse_form(q.body, in)) return georeport_error(400, "the form body has a malformed %-escape or is not UTF-8");
  return std::nullopt;
}

std::string field(const FormFields& in, std::string_view name) {
  auto it = in.find(name);
  return it == in.end() ? std::string() : trim(it->second);
}

}  // namespace

// -------------------------------------------------------------------------------------------------------------

void ApiService::add_open311_routes() {
  using Fn = HttpResponse (ApiService::*)(Call&, const FormFields&);
  // Open311's own door: the bearer token or GeoReport's api_key (the same token, as a query parameter or a
  // form field), and every refusal in GeoReport's error shape.
  auto route = [this](std::optional<Permission> need, Fn fn) -> RouteHandler {
    return [this, need, fn](const HttpRequest& q, const PathParams& p) {
      Call c{q, p, {}};
      FormFields in = q.query;
      if (q.method == "POST") {
        if (auto bad = post_fields(q, &in)) return *bad;
      }
      if (!need) return (this->*fn)(c, in);
      std::string_view token;
      const std::string_view auth = q.header("authorization");
      if (auth.size() > 7 && (auth.substr(0, 7) == "Bearer " || auth.substr(0, 7) == "bearer ")) {
        token = auth.substr(7);
      } else if (auto it = in.find("api_key"); auth.empty() && it != in.end()) {
        token = it->second;
      }
      if (auth.empty() && token.empty()) {
        HttpResponse r = georeport_error(401, "api_key: send your token as api_key (or 'Authorization: Bearer "
                                              "<token>'); the city's administrator issues civic apps their key");
        r.set_header("WWW-Authenticate", "Bearer realm=\"otinish\"");
        return r;
      }
      const Authentication a = authenticate(q, token);
      if (a.retry_after) return as_georeport(too_many_auth_failures(*a.retry_after, auth_throttle_.options()));
      const std::optional<Principal>& who = a.who;
      if (!who) {
        HttpResponse r = georeport_error(401, "api_key: the key is unknown, malformed or revoked; ask the city's "
                                              "administrator for a new one");
        r.set_header("WWW-Authenticate", "Bearer realm=\"otinish\", error=\"invalid_token\"");
        return r;
      }
      c.who = *who;
      c.authenticated = true;
      HttpResponse r = role_has(who->role, *need)
                           ? (this->*fn)(c, in)
                           : georeport_error(403, "role " + std::string(to_string(who->role)) + " may not " +
                                                      std::string(to_string(*need)) +
                                                      "; a civic_app (or operator) key registers requests");
      r.principal = who->token_id;
      r.role = std::string(to_string(who->role));
      return r;
    };
  };
  using P = Permission;
  router_.add("GET", "/open311/v2/discovery.json", route(std::nullopt, &ApiService::open311_discovery));
  router_.add("GET", "/open311/v2/services.json", route(P::kReadPublicFeed, &ApiService::open311_services));
  router_.add("GET", "/open311/v2/services/{service_code}.json",
              route(P::kReadPublicFeed, &ApiService::open311_service));
  router_.add("GET", "/open311/v2/requests.json", route(P::kReadPublicFeed, &ApiService::open311_requests));
  router_.add("GET", "/open311/v2/requests/{service_request_id}.json",
              route(P::kReadPublicFeed, &ApiService::open311_request));
  router_.add("POST", "/open311/v2/requests.json", route(P::kRegisterAppeal, &ApiService::open311_post_request));
}

HttpResponse ApiService::open311_discovery(Call& c, const FormFields&) {
  // The endpoint's absolute URL as the client reached it (a proxy in front says its scheme).
  std::string scheme(c.q.header("x-forwarded-proto"));
  if (scheme != "https") scheme = "http";
  const std::string host(c.q.header("host"));
  const std::string url = host.empty() ? "/open311/v2" : scheme + "://" + host + "/open311/v2";
  return json_response(
      200, json::object{{"changeset", kChangeset},
                        {"contact", "the city's 109 centre: call 109"},
                        {"key_service", "the 109 centre's administrator issues keys (a civic_app token: otinish "
                                        "token create --role civic_app); see docs/open311.md"},
                        {"endpoints", json::array{json::object{{"specification", kSpecification},
                                                               {"url", url},
                                                               {"changeset", kChangeset},
                                                               {"type", "production"},
                                                               {"formats", json::array{"application/json"}}}}}});
}

HttpResponse ApiService::open311_services(Call& c, const FormFields& in) {
  if (city_ == nullptr) return no_catalogue();
  auto lang = language(c.q, in);
  if (auto* bad = std::get_if<HttpResponse>(&lang)) return *bad;
  const Lang l = std::get<Lang>(lang);
  json::array out;
  for (const city::CityTopic& t : city_->topics) {
    const std::string& name = name_in(l, t.topic.name_kk, t.topic.name_ru, t.topic.name_en);
    const city::CityArea* area = city_->area(t.area);
    const std::string group = area ? name_in(l, area->name_kk, area->name_ru, area->name_en) : t.area;
    // Tags a client can filter on: the default category, the code's segments, and "urgent" for a danger.
    std::string keywords(to_string(t.topic.default_category));
    std::string_view rest = t.topic.code;
    while (!rest.empty()) {
      const std::size_t dot = rest.find('.');
      keywords += "," + std::string(rest.substr(0, dot));
      rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
    }
    if (t.topic.dangerous) keywords += ",urgent";
    out.push_back(json::object{{"service_code", t.topic.code},
                               {"service_name", name},
                               {"description", group + ": " + name},
                               {"metadata", false},
                               {"type", "realtime"},
                               {"keywords", keywords},
                               {"group", group}});
  }
  return json_response(200, out);
}

HttpResponse ApiService::open311_service(Call& c, const FormFields&) {
  if (city_ == nullptr) return no_catalogue();
  const std::string& code = c.p.at("service_code");
  if (city_->topic(code) == nullptr) {
    return georeport_error(404, "service_code: no service '" + code + "'; GET /open311/v2/services.json lists them");
  }
  // No service takes attributes (metadata is false): the topic is the whole question.
  return json_response(200, json::object{{"service_code", code}, {"attributes", json::array{}}});
}

HttpResponse ApiService::open311_requests(Call& c, const FormFields& in) {
  auto lang = language(c.q, in);
  if (auto* bad = std::get_if<HttpResponse>(&lang)) return *bad;
  if (views_ == nullptr) return as_georeport(views_unavailable());
  if (auto behind = await_views(*views_, store_)) return as_georeport(*behind);
  auto reader = views_->reader("appeals");
  if (!reader.ok()) return as_georeport(status_problem(reader.status()));
  std::vector<AppealRow> rows;
  // Requests by id: GeoReport then ignores every other filter.
  if (const std::string ids = field(in, "service_request_id"); !ids.empty()) {
    for (const std::string& id : split_list(ids)) {
      auto row = engine::get_appeal_row(**reader, id);
      if (row.ok()) rows.push_back(std::move(row).value());
      else if (row.status().code() != StatusCode::kNotFound) return as_georeport(status_problem(row.status()));
    }
  } else {
    std::optional<Timestamp> start, end;
    if (auto bad = date_param(in, "start_date", false, &start)) return *bad;
    if (auto bad = date_param(in, "end_date", true, &end)) return *bad;
    if (!end) end = clock_.now();
    if (!start) start = *end - kDefaultWindow;
    bool want_open = true, want_closed = true;
    if (const std::string status = field(in, "status"); !status.empty()) {
      want_open = want_closed = false;
      for (const std::string& s : split_list(status)) {
        if (s == "open") want_open = true;
        else if (s == "closed") want_closed = true;
        else return georeport_error(400, "status: '" + s + "' is not open or closed");
      }
    }
    std::vector<std::optional<std::string>> codes;
    for (std::string& code : split_list(field(in, "service_code"))) codes.emplace_back(std::move(code));
    if (codes.empty()) codes.emplace_back();
    for (const auto& code : codes) {
      // The view keeps appeals in number order, not by date: every appeal of the topic (or of the city) is read
      // and the newest kMaxRequests in the window kept (docs/open311.md, "Cost").
      engine::AppealQuery query{.topic = code, .limit = 10'000};
      for (;;) {
        auto page = engine::query_appeals(**reader, query);
        if (!page.ok()) return as_georeport(status_problem(page.status()));
        for (AppealRow& r : page->rows) {
          if (r.registered_at < *start || r.registered_at >= *end) continue;
          if (!(closed_for_open311(r.stage) ? want_closed : want_open)) continue;
          rows.push_back(std::move(r));
        }
        if (rows.size() > 4 * kMaxRequests) {  // keep memory bounded: only the newest can be answered
          std::nth_element(rows.begin(), rows.begin() + kMaxRequests, rows.end(),
                           [](const AppealRow& a, const AppealRow& b) { return a.registered_at > b.registered_at; });
          rows.resize(kMaxRequests);
        }
        if (page->next_after.empty()) break;
        query.after = page->next_after;
      }
    }
    std::sort(rows.begin(), rows.end(), [](const AppealRow& a, const AppealRow& b) {
      return a.registered_at != b.registered_at ? a.registered_at > b.registered_at : a.id > b.id;
    });
    if (rows.size() > kMaxRequests) rows.resize(kMaxRequests);
  }
  json::array out;
  for (const AppealRow& r : rows) out.push_back(request_json(city_, r, std::get<Lang>(lang)));
  return json_response(200, out);
}

HttpResponse ApiService::open311_request(Call& c, const FormFields& in) {
  const std::string& id = c.p.at("service_request_id");
  auto lang = language(c.q, in);
  if (auto* bad = std::get_if<HttpResponse>(&lang)) return *bad;
  if (views_ == nullptr) return as_georeport(views_unavailable());
  if (auto behind = await_views(*views_, store_)) return as_georeport(*behind);
  auto reader = views_->reader("appeals");
  if (!reader.ok()) return as_georeport(status_problem(reader.status()));
  auto row = engine::get_appeal_row(**reader, id);
  if (!row.ok() && row.status().code() == StatusCode::kNotFound) {
    return georeport_error(404, "service_request_id: no request '" + id + "'; check its number (SHY-2026-0000123)");
  }
  if (!row.ok()) return as_georeport(status_problem(row.status()));
  return json_response(200, json::array{request_json(city_, *row, std::get<Lang>(lang))});
}

HttpResponse ApiService::open311_post_request(Call& c, const FormFields& in) {
  const std::string code = field(in, "service_code");
  if (code.empty()) return georeport_error(400, "service_code: required; GET /open311/v2/services.json lists them");
  if (field(in, "address_string").empty() && field(in, "address_id").empty() &&
      (field(in, "lat").empty() || field(in, "long").empty())) {
    return georeport_error(400, "a location is required: address_string (street, house, district), or lat and long");
  }
  if (city_ == nullptr) return no_catalogue();
  const city::CityTopic* topic = city_->topic(code);
  if (topic == nullptr) {
    return georeport_error(422, "service_code: no service '" + code + "'; GET /open311/v2/services.json lists them");
  }
  return as_georeport(idempotent(c, [&]() -> HttpResponse {
    // The registration a desk would send for a web form. lat, long, address_id, device_id and media_url are not
    // kept: the engine has no coordinates, and a point can single out a home.
    const std::string address = field(in, "address_string");
    const engine::Location loc = location_of(*city_, address);
    const std::string centre = field(in, "jurisdiction_id");
    std::string text = field(in, "description");
    if (text.empty()) text = topic->topic.name_en;
    std::string name = trim(field(in, "first_name") + " " + field(in, "last_name"));
    // The applicant has one contact: the phone, else the e-mail (the engine treats an '@' contact as such).
    std::string contact = field(in, "phone");
    if (contact.empty()) contact = field(in, "email");
    json::object body{{"centre", centre.empty() ? options_.open311_centre : centre},
                      {"category", std::string(to_string(topic->topic.default_category))},
                      {"topic", code},
                      {"channel", "web"},
                      {"location", {{"district", loc.district}, {"street", loc.street}}},
                      {"text", text}};
    // The exact address as given is sealed with the applicant: the desk reads it with a stated purpose.
    if (!name.empty() || !contact.empty() || !address.empty()) {
      body["applicant"] = {{"name", name}, {"phone", contact}, {"address", address}};
    }
    const city::CityAgency* agency = city_->agency(topic->topic.default_agency);
    const std::string agency_name = agency ? agency->name_en : std::string("the responsible agency");
    const std::string account = field(in, "account_id");
    return register_from_body(c, body, [agency_name, account](const engine::CommandResult& r) {
      const std::string notice = "registered as " + r.appeal_id + "; the 109 centre reviews it and routes it to " +
                                 agency_name + "; follow it at /open311/v2/requests/" + r.appeal_id + ".json";
      HttpResponse res = json_response(
          201, json::array{json::object{{"service_request_id", r.appeal_id},
                                        {"service_notice", notice},
                                        {"account_id", account.empty() ? json::value(nullptr) : json::value(account)}}});
      res.set_header("Location", "/open311/v2/requests/" + r.appeal_id + ".json");
      return res;
    });
  }));
}

}  // namespace otinish::api
