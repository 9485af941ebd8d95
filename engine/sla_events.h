// engine/sla_events.h: the SLA facts recorded in the log, and their one codec.
//
// Where they live (docs/sla.md "Streams"):
//   "sla-rules"      RuleSetPublished, SlaPolicyApplied      one event per publication of a rule set
//   "sla-calendars"  CalendarPublished                       one event per publication of a calendar
//   "appeal-<id>"    SlaBound, SlaRebound, SlaClock*         the appeal's own stream, after the facts they
//                                                            were decided on
// An SLA event in an appeal's stream is appended with the expected version of the appeal event it was decided
// on, so the stream itself proves which facts the decision saw. Every clock event cites the rule (id and
// file:line), the rule set's content hash, the calendar and its version: replay reads decisions, it never
// re-derives them from today's rules. Payloads are deterministic (no wall time inside), so a retried or
// doubled firing produces byte-identical events that the store deduplicates; the lateness of a firing is the
// envelope's recorded_at minus the payload's `at`.
//
// The engine's AppealState skips these types: they advance its stream version, and only a rung that raises the
// priority or reassigns the appeal advances its decision version (moves_decision_version() in engine/appeal.h,
// the appeal's ETag). Projections should use them as described in docs/sla.md "What projections do with SLA
// events".
//
// Thread-safety: pure functions and value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "store/event.h"

namespace otinish::engine {

inline constexpr std::string_view kRulesStream = "sla-rules";
inline constexpr std::string_view kCalendarsStream = "sla-calendars";

// What publishing new rules (or a new calendar) does to appeals whose clocks are already running.
enum class RebindPolicy : std::uint8_t {
  kKeep,        // appeals in flight stay on the version that bound them; new appeals take the new one
  kReevaluate,  // appeals in flight move to the new version; their clocks are decided again over their history
  kStricter,    // per appeal, whichever version gives the earlier open deadline (ties keep the old one)
  // Calendars only (the default for them): appeals whose deadlines were computed across a provisional year
  // move to the new version when it decides them differently (the year's inputs were published); the others
  // keep their binding, and move later if a clock of theirs would otherwise start on a provisional year the
  // new version made final.
  kProvisional,
};
std::string_view to_string(RebindPolicy p) noexcept;
Result<RebindPolicy> parse_rebind_policy(std::string_view s);

// In "sla-rules". The YAML text as published, so an auditor can rebuild the exact rule set from the log.
struct RuleSetPublished {
  std::string name;           // "city-109"
  std::string version_label;  // "2026.1" (a label, not part of the hash)
  std::string content_hash;   // hex BLAKE2b-256 of the canonical text (rules/rule_set.h)
  std::string file;           // the file name it was published from, for diagnostics
  std::string yaml;
  RebindPolicy policy = RebindPolicy::kKeep;
  friend bool operator==(const RuleSetPublished&, const RuleSetPublished&) = default;
};

// In "sla-calendars".
struct CalendarPublished {
  std::string name;          // "kz"
  std::string version;       // the file's version label
  std::string content_hash;  // hex BLAKE2b-256 of the spec's canonical text
  std::string file;
  std::string yaml;
  RebindPolicy policy = RebindPolicy::kKeep;
  friend bool operator==(const CalendarPublished&, const CalendarPublished&) = default;
};

// A bundle names one compiled version of everything a decision depends on: the `rules_version`-th
// RuleSetPublished of "sla-rules" (publication numbers count publications only, from 1; the stream also holds
// SlaPolicyApplied) and the calendars as published by the first `calendars_version` CalendarPublished events,
// compiled with the amendments dated on or before the later publication's UTC day.
struct BundleRef {
  std::uint64_t rules_version = 0;
  std::uint64_t calendars_version = 0;
  std::string rule_set_hash;                   // hex, for readers without the registry
  std::vector<std::string> calendar_versions;  // "shymkent=shymkent@2026-1+kz@2026-03-18", sorted by name
  friend bool operator==(const BundleRef&, const BundleRef&) = default;
};

// In "sla-rules", after the service applied a publication's policy to every appeal in flight.
struct SlaPolicyApplied {
  std::uint64_t publication_position = 0;  // the RuleSetPublished / CalendarPublished it answers
  BundleRef bundle;
  RebindPolicy policy = RebindPolicy::kKeep;
  std::uint64_t appeals_examined = 0;
  std::uint64_t appeals_rebound = 0;
  friend bool operator==(const SlaPolicyApplied&, const SlaPolicyApplied&) = default;
};

// In "appeal-<id>": the bundle that binds the appeal's clocks (the one in force at registration).
struct SlaBound {
  BundleRef bundle;
  std::string rule_id;  // the rule that matched ("" if none)
  friend bool operator==(const SlaBound&, const SlaBound&) = default;
};

// One clock's deadline before and after a rebinding.
struct DeadlineChange {
  std::string clock;
  std::optional<Timestamp> old_deadline;
  std::optional<Timestamp> new_deadline;
  std::string old_provisional;  // ClockReport::provisional of each side ("" = final)
  std::string new_provisional;
  friend bool operator==(const DeadlineChange&, const DeadlineChange&) = default;
};

// In "appeal-<id>": a publication's policy moved the appeal to another bundle (or, for kStricter, examined it
// and kept the old one: then `changed` is false and the event is not written).
struct SlaRebound {
  BundleRef from;
  BundleRef to;
  RebindPolicy policy = RebindPolicy::kKeep;
  std::uint64_t publication_position = 0;
  std::vector<DeadlineChange> deadlines;
  // Why, in words, when a calendar's yearly inputs caused it: which versions changed, e.g.
  // "kz@2025-12 -> kz@2027-01: provisional deadlines re-decided". Empty for a plain rule or calendar change.
  std::string cause;
  friend bool operator==(const SlaRebound&, const SlaRebound&) = default;
};

// The kinds of clock events, each its own event type ("SlaClockStarted", ...).
enum class SlaClockKind : std::uint8_t {
  kStarted,
  kPaused,
  kResumed,
  kStopped,
  kDeadlineSet,  // the deadline of a running clock is (now) `deadline`
  kWarning,      // a percentage rung
  kBreached,     // the breach rung (or the deadline passed on a clock without a breach rung)
  kEscalated,    // a breach+delay rung
};
inline constexpr int kSlaClockKindCount = 8;
std::string_view event_type(SlaClockKind k) noexcept;
// The kind in a word, as timelines and the API show it: "started", "paused", "resumed", "stopped", "deadline",
// "warning", "breached", "escalated".
std::string_view to_string(SlaClockKind k) noexcept;

// In "appeal-<id>": one decision about one clock.
struct SlaClockEvent {
  SlaClockKind kind = SlaClockKind::kStarted;
  std::string rule_id;
  std::string rule_where;     // "city.yaml:121:9"
  std::string rule_set_hash;  // hex
  std::string clock;          // "law.answer"
  std::string calendar;
  std::string calendar_version;
  std::int32_t cycle = 0;     // 0 for the first run, +1 after each reset
  Timestamp at;               // when it happened or was due (a rung's instant); lateness = recorded_at - at
  std::optional<Timestamp> deadline;
  // Non-empty when the deadline was computed across a provisional calendar year (rules::ClockReport).
  std::string provisional;
  // Rungs (warning, breached, escalated) only:
  std::int32_t step = -1;     // index in the clock's ladder (-1: not a rung)
  std::string label;          // "75%", "breach", "breach+1wd"
  std::vector<std::string> notify;
  std::string raise_priority, reassign_agency, reassign_role;

  // Identifies the decision, independent of when it was made: kind, clock, cycle, and the rung's label or the
  // transition's instant or the deadline (and, for a provisional deadline, that it is provisional, so that the
  // same instant confirmed final is a new decision). The SLA service never writes two events with the same key.
  std::string key() const;
  friend bool operator==(const SlaClockEvent&, const SlaClockEvent&) = default;
};

using SlaEvent = std::variant<SlaBound, SlaRebound, SlaClockEvent>;

// True for the types of SlaEvent (the appeal-stream SLA events).
bool is_sla_event_type(std::string_view type) noexcept;

store::EventData encode_sla_event(const SlaEvent& e);
// Errors: kNotFound for a type that is not an SLA event; kInvalidArgument for a newer schema; kCorruption.
Result<SlaEvent> decode_sla_event(std::string_view type, std::uint32_t schema_version, std::string_view payload);

store::EventData encode_rule_set_published(const RuleSetPublished& e);
store::EventData encode_calendar_published(const CalendarPublished& e);
store::EventData encode_policy_applied(const SlaPolicyApplied& e);
inline constexpr std::string_view kRuleSetPublishedType = "RuleSetPublished";
inline constexpr std::string_view kCalendarPublishedType = "CalendarPublished";
inline constexpr std::string_view kSlaPolicyAppliedType = "SlaPolicyApplied";
Result<RuleSetPublished> decode_rule_set_published(std::string_view payload);
Result<CalendarPublished> decode_calendar_published(std::string_view payload);
Result<SlaPolicyApplied> decode_policy_applied(std::string_view payload);

}  // namespace otinish::engine
