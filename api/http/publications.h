// api/http/publications.h: the rule sets and calendars published in the log, read back for the API, and the
// start-up publishing of `otinish serve --calendar FILE --rules FILE`.
//
// engine::RuleRegistry is the one place that publishes and compiles rules and calendars ("sla-rules",
// "sla-calendars"); this file never appends by itself. It reads the publications' text back (the registry keeps
// it private) and publishes a file through the registry only when its content differs from the one in force.
//
// Versions are publication numbers: the n-th RuleSetPublished of "sla-rules" is rule-set version n (the
// registry's and BundleRef's numbering). They are not stream versions, because the SLA service also writes
// SlaPolicyApplied to "sla-rules".
//
// Usage:
//   auto cur = latest_rule_set(store);            // Result<std::optional<Publication>>
//   auto did = publish_rule_set_file(registry, store, "examples/rules/city.yaml", RebindPolicy::kKeep, actor);
//
// Thread-safety: free functions; safe wherever the store and the registry are.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "engine/rule_registry.h"
#include "store/event_store.h"

namespace otinish::api {

struct Publication {
  std::uint64_t version = 0;   // publication number in its stream, from 1
  std::uint64_t position = 0;  // global log position
  std::string name;            // rule set or calendar name
  std::string version_label;   // the file's own label ("2026.1")
  std::string content_hash;    // hex BLAKE2b-256 of the canonical form
  std::string file;
  std::string yaml;            // the text as published
  engine::RebindPolicy policy = engine::RebindPolicy::kKeep;
  Timestamp recorded_at{};
};

// Every publication of "sla-rules" (rule sets) or "sla-calendars", oldest first. Errors: the store's;
// kCorruption when a publication does not decode.
Result<std::vector<Publication>> read_rule_set_publications(const store::EventStore& store);
Result<std::vector<Publication>> read_calendar_publications(const store::EventStore& store);

// The newest rule set; nullopt when none is published.
Result<std::optional<Publication>> latest_rule_set(const store::EventStore& store);
// The newest publication of calendar `name`; nullopt when it was never published.
Result<std::optional<Publication>> latest_calendar(const store::EventStore& store, std::string_view name);
// The names of every calendar published.
Result<std::set<std::string>> published_calendar_names(const store::EventStore& store);

// Publishes the calendar in `path` with `policy` unless the calendar of that name in force has the same content
// hash. Returns whether it published. Errors: kNotFound (no such file, or its parent calendar is not
// published), kInvalidArgument with file:line:column, the store's.
Result<bool> publish_calendar_file(engine::RuleRegistry& registry, const store::EventStore& store,
                                   const std::string& path, engine::RebindPolicy policy, const store::Actor& actor);
// The same for a rule set; its calendars must be published first.
Result<bool> publish_rule_set_file(engine::RuleRegistry& registry, const store::EventStore& store,
                                   const std::string& path, engine::RebindPolicy policy, const store::Actor& actor);

}  // namespace otinish::api
