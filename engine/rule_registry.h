// engine/rule_registry.h: the SLA rule sets and calendars in force, as published in the log.
//
// Publishing appends the YAML text with its content hash to "sla-rules" or "sla-calendars" (engine/
// sla_events.h), so the log alone can rebuild every version an appeal was ever bound to. A *bundle* is one
// compiled version of both: the r-th rule set publication and the calendars of the first c calendar
// publications, compiled with the amendments dated on or before the later publication's day (BundleRef).
// The bundle in force at a log position is the newest (r, c) published before it.
//
// What a publication does to appeals in flight (its RebindPolicy) is applied by the SLA service when it meets
// the publication in the log (engine/sla_service.h), not here.
//
// Usage:
//   RuleRegistry reg(store);
//   OTINISH_RETURN_IF_ERROR(reg.load());
//   reg.publish_calendar(kz_yaml, "kz.yaml", RebindPolicy::kKeep, actor);
//   reg.publish_rule_set(city_yaml, "city.yaml", RebindPolicy::kStricter, actor);
//   auto b = reg.bundle_at(position);   // what bound an appeal registered at `position`
//
// Thread-safety: thread-safe; bundles are immutable and shared.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "engine/sla_events.h"
#include "rules/diagnostics.h"
#include "rules/rule_set.h"
#include "rules/sla.h"
#include "store/event_store.h"

namespace otinish::engine {

// One compiled version of the rules and their calendars. Immutable.
struct Bundle {
  BundleRef ref;
  rules::RuleSet rules;
  rules::CalendarSet calendars;
  // The facts `rules` can react to (rules::ClockFacts(rules)); left default, every fact counts (slower, same
  // decisions).
  rules::ClockFacts clock_facts;
};

struct PublishResult {
  std::uint64_t position = 0;       // of the publication event
  std::uint64_t stream_version = 0;  // the publication's number in its stream
  std::string content_hash;         // hex
  std::vector<std::string> lint;    // warnings (formatted diagnostics); errors refuse the publication
};

class RuleRegistry {
 public:
  // `store` must outlive the registry.
  explicit RuleRegistry(store::EventStore& store);

  // Reads "sla-rules" and "sla-calendars" from the log. Call once before use (a service calls it at start).
  Status load();
  // Folds one event of the log if it is a publication (others are ignored). Idempotent per position.
  Status ingest(const store::RecordedEvent& e);

  // Validates and appends a rule set. Its calendars must be published already (same names as the file's
  // `calendars:` section). Errors: kInvalidArgument with every diagnostic (file:line:column) for invalid
  // YAML, kNotFound naming a calendar that is not published; the store's errors. Nothing is appended on error.
  Result<PublishResult> publish_rule_set(std::string_view yaml, const std::string& file, RebindPolicy policy,
                                         const store::Actor& actor);
  // Every error of a calendar file against what is published: YAML and schema errors, a parent not published
  // (code "calendar-not-published"), and what compiling any of its versions refuses (a working day on a
  // statutory holiday, an undeclared yearly input, ...), each with file:line:column. Empty when it may be
  // published.
  std::vector<rules::Diagnostic> check_calendar(std::string_view yaml, const std::string& file) const;
  // Validates (check_calendar) and appends a calendar (parents must be published first). Errors:
  // kInvalidArgument with the diagnostics, kNotFound for a parent not published; the store's.
  Result<PublishResult> publish_calendar(std::string_view yaml, const std::string& file, RebindPolicy policy,
                                         const store::Actor& actor);

  // The bundle in force just before global position `position`; nullptr (not an error) if no rule set was
  // published before it. Errors: those of compiling (a published version that no longer compiles is
  // kCorruption).
  Result<std::shared_ptr<const Bundle>> bundle_at(std::uint64_t position);
  // The bundle (r, c). Errors: kNotFound for a version never published.
  Result<std::shared_ptr<const Bundle>> bundle(std::uint64_t rules_version, std::uint64_t calendars_version);
  // The newest bundle; nullptr if nothing is published.
  Result<std::shared_ptr<const Bundle>> current();
  // A candidate rule set compiled against the newest calendars, never appended (what-if).
  // Errors: kInvalidArgument with the diagnostics; kNotFound for a missing calendar.
  Result<std::shared_ptr<const Bundle>> candidate(std::string_view yaml, const std::string& file);

  // The publication at `position`, if it is one, as (stream, publication number).
  std::optional<std::pair<std::string, std::uint64_t>> publication_at(std::uint64_t position) const;
  // The policy of the publication (stream, publication number).
  RebindPolicy policy_of(std::string_view stream, std::uint64_t version) const;

  // The newest calendar publication: its number in "sla-calendars" (0 if none), log position and policy.
  struct CalendarPublication {
    std::uint64_t number = 0;
    std::uint64_t position = 0;
    RebindPolicy policy = RebindPolicy::kKeep;
  };
  CalendarPublication latest_calendar_publication() const;

 private:
  struct Published {
    std::uint64_t position = 0;
    Timestamp recorded_at;
    std::string name, file, yaml, hash, version_label;
    RebindPolicy policy = RebindPolicy::kKeep;
  };
  Result<std::shared_ptr<const Bundle>> compile_locked(std::uint64_t r, std::uint64_t c);
  Result<rules::CalendarLibrary> library_locked(std::uint64_t c, std::vector<std::string>* names) const;
  std::uint64_t latest_before_locked(const std::vector<Published>& v, std::uint64_t position) const;

  store::EventStore& store_;

  mutable std::mutex mu_;
  std::vector<Published> rules_;      // GUARDED_BY(mu_): index = publication number - 1
  std::vector<Published> calendars_;  // GUARDED_BY(mu_)
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::shared_ptr<const Bundle>> cache_;  // GUARDED_BY(mu_)
};

// The centre's local time of an appeal: the calendar its SLA clocks run on, as the bundle it was bound to
// compiled it (so a replay of any year uses that year's UTC offset). Empty when no clock is bound.
class AppealLocalTime {
 public:
  // `events`: the appeal's stream (its SlaBound and first clock event name the bundle and the calendar).
  static AppealLocalTime of(RuleRegistry& registry, const std::vector<store::RecordedEvent>& events);
  bool known() const noexcept { return calendar_ != nullptr; }
  // "2026-09-11T18:00:00+05:00"; "" when not known.
  std::string format(Timestamp t) const;

 private:
  std::shared_ptr<const Bundle> bundle_;
  const rules::Calendar* calendar_ = nullptr;  // in *bundle_
};

}  // namespace otinish::engine
