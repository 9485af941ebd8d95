#include "engine/rule_registry.h"

#include <algorithm>

#include <date/date.h>

#include "rules/calendar_spec.h"
#include "rules/diagnostics.h"

namespace otinish::engine {

namespace {

std::string join_errors(const std::vector<rules::Diagnostic>& diags) {
  std::string out;
  for (const auto& d : diags) {
    if (d.severity != rules::Severity::kError) continue;
    if (!out.empty()) out += "\n";
    out += rules::format_diagnostic(d);
  }
  return out;
}

date::sys_days day_of(Timestamp t) { return date::floor<date::days>(t); }

}  // namespace

RuleRegistry::RuleRegistry(store::EventStore& store) : store_(store) {}

Status RuleRegistry::load() {
  for (std::string_view stream : {kCalendarsStream, kRulesStream}) {
    std::uint64_t from = 1;
    for (;;) {
      auto batch = store_.read_stream(stream, from, store::Direction::kForward, 256);
      if (!batch.ok()) {
        if (batch.status().code() == StatusCode::kNotFound) break;
        return batch.status();
      }
      if (batch->empty()) break;
      for (const auto& e : *batch) OTINISH_RETURN_IF_ERROR(ingest(e));
      from = batch->back().stream_version + 1;
    }
  }
  return Status::Ok();
}

Status RuleRegistry::ingest(const store::RecordedEvent& e) {
  const bool is_rules = e.stream == kRulesStream && e.type == kRuleSetPublishedType;
  const bool is_calendar = e.stream == kCalendarsStream && e.type == kCalendarPublishedType;
  if (!is_rules && !is_calendar) return Status::Ok();
  Published p;
  p.position = e.position;
  p.recorded_at = e.recorded_at;
  if (is_rules) {
    auto r = decode_rule_set_published(e.payload);
    if (!r.ok()) return r.status();
    p.name = r->name, p.file = r->file, p.yaml = r->yaml, p.hash = r->content_hash;
    p.version_label = r->version_label, p.policy = r->policy;
  } else {
    auto c = decode_calendar_published(e.payload);
    if (!c.ok()) return c.status();
    p.name = c->name, p.file = c->file, p.yaml = c->yaml, p.hash = c->content_hash;
    p.version_label = c->version, p.policy = c->policy;
  }
  std::lock_guard lock(mu_);
  std::vector<Published>& v = is_rules ? rules_ : calendars_;
  if (!v.empty() && e.position <= v.back().position) return Status::Ok();  // already folded
  v.push_back(std::move(p));
  return Status::Ok();
}

Result<rules::CalendarLibrary> RuleRegistry::library_locked(std::uint64_t c, std::vector<std::string>* names) const {
  std::map<std::string, const Published*> latest;
  for (std::uint64_t i = 0; i < c && i < calendars_.size(); ++i) latest[calendars_[i].name] = &calendars_[i];
  rules::CalendarLibrary lib;
  for (const auto& [name, p] : latest) {
    std::vector<rules::Diagnostic> diags;
    auto spec = rules::parse_calendar(p->yaml, p->file, &diags);
    if (!spec || !lib.add(std::move(*spec), &diags)) {
      return Status::Corruption("published calendar '" + name + "' does not load: " + join_errors(diags));
    }
    if (names) names->push_back(name);
  }
  return lib;
}

Result<std::shared_ptr<const Bundle>> RuleRegistry::compile_locked(std::uint64_t r, std::uint64_t c) {
  if (auto it = cache_.find({r, c}); it != cache_.end()) return it->second;
  if (r == 0 || r > rules_.size() || c > calendars_.size()) {
    return Status::NotFound("no SLA bundle (rules version " + std::to_string(r) + ", calendars version " +
                            std::to_string(c) + ") was published");
  }
  const Published& pr = rules_[r - 1];
  std::vector<rules::Diagnostic> diags;
  auto rs = rules::parse_rule_set(pr.yaml, pr.file, &diags);
  if (!rs) return Status::Corruption("published rule set " + pr.hash + " does not parse: " + join_errors(diags));
  OTINISH_ASSIGN_OR_RETURN(rules::CalendarLibrary lib, library_locked(c, nullptr));
  Timestamp as_of = pr.recorded_at;
  if (c > 0) as_of = std::max(as_of, calendars_[c - 1].recorded_at);
  OTINISH_ASSIGN_OR_RETURN(rules::CalendarSet cals, rules::compile_calendars(*rs, lib, day_of(as_of)));
  auto b = std::make_shared<Bundle>();
  b->ref.rules_version = r;
  b->ref.calendars_version = c;
  b->ref.rule_set_hash = to_hex(rs->content_hash);
  for (const auto& [name, cal] : cals) b->ref.calendar_versions.push_back(name + "=" + cal.version());
  b->rules = std::move(*rs);
  b->calendars = std::move(cals);
  b->clock_facts = rules::ClockFacts(b->rules);
  cache_.emplace(std::pair(r, c), b);
  return std::shared_ptr<const Bundle>(std::move(b));
}

std::uint64_t RuleRegistry::latest_before_locked(const std::vector<Published>& v, std::uint64_t position) const {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < v.size() && v[i].position < position; ++i) n = i + 1;
  return n;
}

Result<std::shared_ptr<const Bundle>> RuleRegistry::bundle_at(std::uint64_t position) {
  std::lock_guard lock(mu_);
  const std::uint64_t r = latest_before_locked(rules_, position);
  if (r == 0) return std::shared_ptr<const Bundle>();
  return compile_locked(r, latest_before_locked(calendars_, position));
}

Result<std::shared_ptr<const Bundle>> RuleRegistry::bundle(std::uint64_t r, std::uint64_t c) {
  std::lock_guard lock(mu_);
  return compile_locked(r, c);
}

Result<std::shared_ptr<const Bundle>> RuleRegistry::current() {
  std::lock_guard lock(mu_);
  if (rules_.empty()) return std::shared_ptr<const Bundle>();
  return compile_locked(rules_.size(), calendars_.size());
}

Result<std::shared_ptr<const Bundle>> RuleRegistry::candidate(std::string_view yaml, const std::string& file) {
  std::vector<rules::Diagnostic> diags;
  auto rs = rules::parse_rule_set(yaml, file, &diags);
  if (!rs) return Status::InvalidArgument("rule set " + file + " is invalid:\n" + join_errors(diags));
  std::lock_guard lock(mu_);
  OTINISH_ASSIGN_OR_RETURN(rules::CalendarLibrary lib, library_locked(calendars_.size(), nullptr));
  Timestamp as_of = calendars_.empty() ? Timestamp{} : calendars_.back().recorded_at;
  if (!rules_.empty()) as_of = std::max(as_of, rules_.back().recorded_at);
  auto cals = rules::compile_calendars(*rs, lib, day_of(as_of));
  if (!cals.ok()) {
    return Status::NotFound("rule set " + file + ": " + cals.status().message() +
                            " (publish its calendars first: otinish rules publish CALENDAR.yaml)");
  }
  auto b = std::make_shared<Bundle>();
  b->ref.rules_version = 0;  // not published
  b->ref.calendars_version = calendars_.size();
  b->ref.rule_set_hash = to_hex(rs->content_hash);
  for (const auto& [name, cal] : *cals) b->ref.calendar_versions.push_back(name + "=" + cal.version());
  b->rules = std::move(*rs);
  b->calendars = std::move(*cals);
  b->clock_facts = rules::ClockFacts(b->rules);
  return std::shared_ptr<const Bundle>(std::move(b));
}

Result<PublishResult> RuleRegistry::publish_rule_set(std::string_view yaml, const std::string& file,
                                                     RebindPolicy policy, const store::Actor& actor) {
  OTINISH_ASSIGN_OR_RETURN(std::shared_ptr<const Bundle> b, candidate(yaml, file));
  PublishResult out;
  out.content_hash = b->ref.rule_set_hash;
  for (const auto& d : rules::lint(b->rules, &b->calendars)) out.lint.push_back(rules::format_diagnostic(d));
  RuleSetPublished e{b->rules.name, b->rules.version, b->ref.rule_set_hash, file, std::string(yaml), policy};
  store::EventData data = encode_rule_set_published(e);
  data.actor = actor;
  OTINISH_ASSIGN_OR_RETURN(store::AppendResult r,
                           store_.append(kRulesStream, store::ExpectedVersion::any(), {&data, 1}));
  out.position = r.last_position;
  out.stream_version = r.stream_version;
  // Fold our own publication at once (the subscription would too; ingest is idempotent).
  auto back = store_.read_stream(kRulesStream, r.stream_version, store::Direction::kForward, 1);
  if (back.ok() && !back->empty()) OTINISH_RETURN_IF_ERROR(ingest(back->front()));
  return out;
}

std::vector<rules::Diagnostic> RuleRegistry::check_calendar(std::string_view yaml, const std::string& file) const {
  std::vector<rules::Diagnostic> diags;
  auto spec = rules::parse_calendar(yaml, file, &diags);
  if (!spec) return diags;
  std::lock_guard lock(mu_);
  // It must compile, in every version, with what is published (its parent must be there).
  std::vector<std::string> names;
  auto lib = library_locked(calendars_.size(), &names);
  if (!lib.ok()) {
    diags.push_back({rules::Severity::kError, {file, 0, 0}, "calendar", lib.status().message()});
    return diags;
  }
  rules::CalendarLibrary with;
  for (const auto& n : names) {
    if (n != spec->name) with.add(*lib->find(n), &diags);
  }
  const std::string name = spec->name;
  if (!spec->inherits.empty() && with.find(spec->inherits) == nullptr) {
    diags.push_back({rules::Severity::kError, spec->where, "calendar-not-published",
                     "calendar '" + name + "' inherits '" + spec->inherits +
                         "', which is not published; publish its parent first"});
    return diags;
  }
  if (!with.add(std::move(*spec), &diags)) return diags;
  for (auto& d : with.validate(name)) {
    if (d.severity == rules::Severity::kError) diags.push_back(std::move(d));
  }
  // The published calendars that inherit it, however deep, must still validate with the new version.
  for (const std::string& child : with.names()) {
    bool inherits = false;
    for (const rules::CalendarSpec* c = with.find(child); c != nullptr && !c->inherits.empty() && !inherits;
         c = with.find(c->inherits)) {
      inherits = c->inherits == name;
      if (c->inherits == child) break;  // a cycle; validate reports it
    }
    if (!inherits) continue;
    for (auto& d : with.validate(child)) {
      if (d.severity != rules::Severity::kError) continue;
      d.message = "with this version of '" + name + "', the published calendar '" + child + "' fails: " + d.message;
      diags.push_back(std::move(d));
    }
  }
  return diags;
}

Result<PublishResult> RuleRegistry::publish_calendar(std::string_view yaml, const std::string& file,
                                                     RebindPolicy policy, const store::Actor& actor) {
  const std::vector<rules::Diagnostic> diags = check_calendar(yaml, file);
  if (rules::has_errors(diags)) {
    const bool missing_parent = std::any_of(diags.begin(), diags.end(), [](const rules::Diagnostic& d) {
      return d.code == "calendar-not-published";
    });
    if (missing_parent) return Status::NotFound("calendar " + file + ": " + join_errors(diags));
    return Status::InvalidArgument("calendar " + file + " is invalid:\n" + join_errors(diags));
  }
  std::vector<rules::Diagnostic> ignored;
  auto spec = rules::parse_calendar(yaml, file, &ignored);
  PublishResult out;
  out.content_hash = to_hex(blake2b_256(rules::canonical_text(*spec)));
  CalendarPublished e{spec->name, spec->version, out.content_hash, file, std::string(yaml), policy};
  store::EventData data = encode_calendar_published(e);
  data.actor = actor;
  OTINISH_ASSIGN_OR_RETURN(store::AppendResult r,
                           store_.append(kCalendarsStream, store::ExpectedVersion::any(), {&data, 1}));
  out.position = r.last_position;
  out.stream_version = r.stream_version;
  auto back = store_.read_stream(kCalendarsStream, r.stream_version, store::Direction::kForward, 1);
  if (back.ok() && !back->empty()) OTINISH_RETURN_IF_ERROR(ingest(back->front()));
  return out;
}

std::optional<std::pair<std::string, std::uint64_t>> RuleRegistry::publication_at(std::uint64_t position) const {
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    if (rules_[i].position == position) return std::pair(std::string(kRulesStream), std::uint64_t{i + 1});
  }
  for (std::size_t i = 0; i < calendars_.size(); ++i) {
    if (calendars_[i].position == position) return std::pair(std::string(kCalendarsStream), std::uint64_t{i + 1});
  }
  return std::nullopt;
}

RebindPolicy RuleRegistry::policy_of(std::string_view stream, std::uint64_t version) const {
  std::lock_guard lock(mu_);
  const auto& v = stream == kRulesStream ? rules_ : calendars_;
  return version >= 1 && version <= v.size() ? v[version - 1].policy : RebindPolicy::kKeep;
}

RuleRegistry::CalendarPublication RuleRegistry::latest_calendar_publication() const {
  std::lock_guard lock(mu_);
  if (calendars_.empty()) return {};
  return {calendars_.size(), calendars_.back().position, calendars_.back().policy};
}

AppealLocalTime AppealLocalTime::of(RuleRegistry& registry, const std::vector<store::RecordedEvent>& events) {
  AppealLocalTime out;
  std::optional<BundleRef> ref;
  std::string calendar;
  for (const auto& e : events) {
    if (!is_sla_event_type(e.type)) continue;
    auto sla = decode_sla_event(e.type, e.schema_version, e.payload);
    if (!sla.ok()) continue;
    if (const auto* b = std::get_if<SlaBound>(&*sla); b && !ref) ref = b->bundle;
    if (const auto* c = std::get_if<SlaClockEvent>(&*sla); c && calendar.empty()) calendar = c->calendar;
    if (ref && !calendar.empty()) break;
  }
  if (!ref || calendar.empty()) return out;
  auto bundle = registry.bundle(ref->rules_version, ref->calendars_version);
  if (!bundle.ok()) return out;
  out.bundle_ = *bundle;
  if (auto it = out.bundle_->calendars.find(calendar); it != out.bundle_->calendars.end()) out.calendar_ = &it->second;
  return out;
}

std::string AppealLocalTime::format(Timestamp t) const { return calendar_ ? calendar_->format_local(t) : std::string(); }

}  // namespace otinish::engine
