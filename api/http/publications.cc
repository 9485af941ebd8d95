#include "api/http/publications.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/hash.h"
#include "engine/sla_events.h"
#include "rules/calendar_spec.h"
#include "rules/diagnostics.h"
#include "rules/rule_set.h"

namespace otinish::api {

namespace {

// Reads every event of `stream`; calls `fold` for those of `type`.
template <typename Fold>
Status scan_stream(const store::EventStore& store, std::string_view stream, std::string_view type, Fold fold) {
  std::uint64_t from = 1;
  for (;;) {
    auto batch = store.read_stream(stream, from, store::Direction::kForward, 256);
    if (!batch.ok()) return batch.status().code() == StatusCode::kNotFound ? Status::Ok() : batch.status();
    if (batch->empty()) return Status::Ok();
    for (const auto& e : *batch) {
      if (e.type == type) OTINISH_RETURN_IF_ERROR(fold(e));
    }
    from = batch->back().stream_version + 1;
  }
}

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path + ": no such file or not readable");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string errors_of(const std::vector<rules::Diagnostic>& diags) {
  std::string out;
  for (const auto& d : diags) {
    if (d.severity != rules::Severity::kError) continue;
    out += "\n" + rules::format_diagnostic(d);
  }
  return out;
}

}  // namespace

Result<std::vector<Publication>> read_rule_set_publications(const store::EventStore& store) {
  std::vector<Publication> out;
  OTINISH_RETURN_IF_ERROR(scan_stream(store, engine::kRulesStream, engine::kRuleSetPublishedType,
                                      [&out](const store::RecordedEvent& e) -> Status {
    auto r = engine::decode_rule_set_published(e.payload);
    if (!r.ok()) return r.status();
    out.push_back({out.size() + 1, e.position, r->name, r->version_label, r->content_hash, r->file, r->yaml,
                   r->policy, e.recorded_at});
    return Status::Ok();
  }));
  return out;
}

Result<std::vector<Publication>> read_calendar_publications(const store::EventStore& store) {
  std::vector<Publication> out;
  OTINISH_RETURN_IF_ERROR(scan_stream(store, engine::kCalendarsStream, engine::kCalendarPublishedType,
                                      [&out](const store::RecordedEvent& e) -> Status {
    auto c = engine::decode_calendar_published(e.payload);
    if (!c.ok()) return c.status();
    out.push_back({out.size() + 1, e.position, c->name, c->version, c->content_hash, c->file, c->yaml, c->policy,
                   e.recorded_at});
    return Status::Ok();
  }));
  return out;
}

Result<std::optional<Publication>> latest_rule_set(const store::EventStore& store) {
  OTINISH_ASSIGN_OR_RETURN(std::vector<Publication> all, read_rule_set_publications(store));
  if (all.empty()) return std::optional<Publication>();
  return std::optional<Publication>(std::move(all.back()));
}

Result<std::optional<Publication>> latest_calendar(const store::EventStore& store, std::string_view name) {
  OTINISH_ASSIGN_OR_RETURN(std::vector<Publication> all, read_calendar_publications(store));
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->name == name) return std::optional<Publication>(std::move(*it));
  }
  return std::optional<Publication>();
}

Result<std::set<std::string>> published_calendar_names(const store::EventStore& store) {
  OTINISH_ASSIGN_OR_RETURN(std::vector<Publication> all, read_calendar_publications(store));
  std::set<std::string> names;
  for (const auto& p : all) names.insert(p.name);
  return names;
}

Result<bool> publish_calendar_file(engine::RuleRegistry& registry, const store::EventStore& store,
                                   const std::string& path, engine::RebindPolicy policy, const store::Actor& actor) {
  OTINISH_ASSIGN_OR_RETURN(std::string yaml, read_text(path));
  const std::string file = std::filesystem::path(path).filename().string();
  std::vector<rules::Diagnostic> diags;
  auto spec = rules::parse_calendar(yaml, file, &diags);
  if (!spec) return Status::InvalidArgument("calendar " + path + " is invalid:" + errors_of(diags));
  const std::string hash = to_hex(blake2b_256(rules::canonical_text(*spec)));
  OTINISH_ASSIGN_OR_RETURN(std::optional<Publication> cur, latest_calendar(store, spec->name));
  if (cur && cur->content_hash == hash) return false;
  OTINISH_RETURN_IF_ERROR(registry.publish_calendar(yaml, file, policy, actor).status());
  return true;
}

Result<bool> publish_rule_set_file(engine::RuleRegistry& registry, const store::EventStore& store,
                                   const std::string& path, engine::RebindPolicy policy, const store::Actor& actor) {
  OTINISH_ASSIGN_OR_RETURN(std::string yaml, read_text(path));
  const std::string file = std::filesystem::path(path).filename().string();
  std::vector<rules::Diagnostic> diags;
  auto rs = rules::parse_rule_set(yaml, file, &diags);
  if (!rs) return Status::InvalidArgument("rule set " + path + " is invalid:" + errors_of(diags));
  OTINISH_ASSIGN_OR_RETURN(std::optional<Publication> cur, latest_rule_set(store));
  if (cur && cur->content_hash == to_hex(rs->content_hash)) return false;
  OTINISH_RETURN_IF_ERROR(registry.publish_rule_set(yaml, file, policy, actor).status());
  return true;
}

}  // namespace otinish::api
