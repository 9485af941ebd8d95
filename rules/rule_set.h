// rules/rule_set.h: the SLA rule set as written in YAML (schema and a complete example: docs/rules.md).
//
// An ordered list of rules; the first whose `match` fits an appeal wins. A rule defines clocks (a target on a
// named calendar; start, stop, pause, resume, reset and rearm on lifecycle states or event types; an escalation
// ladder) and, optionally, the law's deadlines (Administrative Procedural Code, art. 76), which compile into
// clocks named "law.answer", "law.extension_notice" and "law.redirect".
//
// Usage:
//   std::vector<Diagnostic> diags;
//   CalendarLibrary calendars;
//   std::optional<RuleSet> rs = load_rule_set_file("examples/rules/city.yaml", &calendars, &diags);
//   if (!rs) { for (auto& d : diags) puts(format_diagnostic(d)); return; }   // nothing half-loaded
//   Result<CalendarSet> cals = compile_calendars(*rs, calendars);
//   std::vector<Diagnostic> findings = lint(*rs, &*cals);
//   std::string hash = to_hex(rs->content_hash);
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/hash.h"
#include "common/status.h"
#include "rules/calendar.h"
#include "rules/calendar_spec.h"
#include "rules/diagnostics.h"
#include "rules/duration.h"

namespace otinish::rules {

// The vocabulary rules are checked against.
inline constexpr std::string_view kCategories[] = {"consultation", "incident", "proposal", "complaint", "gratitude"};
inline constexpr std::string_view kChannels[] = {"phone", "whatsapp", "telegram", "facebook", "instagram", "web"};
inline constexpr std::string_view kPriorities[] = {"low", "normal", "high", "critical"};
// Lifecycle states (DESIGN.md "Lifecycle"); a proposal's outcomes are `accepted` and `declined`. `merged`: a
// duplicate folded into a parent appeal, whose clocks then answer for it.
inline constexpr std::string_view kLifecycleStates[] = {
    "registered", "answered", "under_review", "returned", "assigned", "accepted", "in_progress",
    "on_hold",    "resolved", "verified",     "closed",   "reopened", "declined", "merged"};

// A clock transition fires when the appeal enters a lifecycle state ("resolved") or an event of a type
// happens ("event:extension_granted").
struct Trigger {
  enum class Kind { kState, kEvent };
  Kind kind = Kind::kState;
  std::string name;
  friend bool operator==(const Trigger&, const Trigger&) = default;
};

// One rung of an escalation ladder.
struct EscalationStep {
  enum class At { kPercent, kBreach };
  At at = At::kBreach;
  int percent = 0;                       // kPercent: 1..1000 percent of the target
  std::optional<Target> after_breach;    // kBreach: "breach+1h" -> 1h after the deadline
  std::vector<std::string> notify;       // roles to notify
  std::string raise_priority;            // "" or a priority
  std::string reassign_agency;           // "" or the agency to reassign to
  std::string reassign_role;             // "" or the role to reassign to
  SourceLocation where;

  // "50%", "breach", "breach+1h".
  std::string label() const;
};

enum class LawClock { kNone, kAnswer, kExtensionNotice, kRedirect };

struct ClockRule {
  std::string name;
  Target target;
  std::string calendar;  // resolved: never empty after parsing (the rule set's default_calendar if not given)
  std::vector<Trigger> start, stop, pause, resume;
  // reset: restart now. The running cycle ends at the fact and a new one starts at once (the law's answer
  // clock at a reopen: a reopened appeal is a new answer owed).
  std::vector<Trigger> reset;
  // rearm: stop now and wait for the next start. The running cycle ends at the fact; the next `start` fact
  // begins a new cycle (the callback clock at a reopen: no callback is owed until the work is resolved again).
  std::vector<Trigger> rearm;
  std::vector<EscalationStep> escalation;
  LawClock law = LawClock::kNone;
  std::optional<Target> extension_max_total;  // kAnswer: the cap on one extension, from the start ("2mo")
  SourceLocation where;
};

// Empty lists match anything. Patterns may contain '*' (any run of characters): "utilities.*".
struct Match {
  std::vector<std::string> category, topic, priority, channel, district, agency;
  std::optional<bool> dangerous;
};

struct Rule {
  std::string id;
  std::string description;
  Match match;
  std::vector<ClockRule> clocks;
  SourceLocation where;
};

// How long an applicant's personal data is kept after their appeal is closed (the `retention:` section). The
// first rule whose categories match an appeal decides its period; an applicant is erased once every appeal of
// theirs is closed and past its period (engine/privacy/retention.h).
struct RetentionRule {
  std::string id;
  std::vector<std::string> category;  // empty = any
  Target keep;                        // days ("d") or calendar months ("mo") after closure
  SourceLocation where;
};

struct RuleSet {
  std::string name;
  std::string version;  // a label; not part of the content hash
  std::string default_calendar;
  std::map<std::string, std::string> calendar_files;  // name -> path as written (relative to the file)
  std::vector<Rule> rules;
  std::vector<RetentionRule> retention;  // in order; empty: personal data is kept until erased by request
  Hash256 content_hash{};  // BLAKE2b-256 of canonical_text(*this)
  std::string file;
};

// The compiled calendars a rule set's clocks refer to, by name.
using CalendarSet = std::map<std::string, Calendar, std::less<>>;

// Parses and validates a rule set. Every problem goes to `out` with file:line:column; on any error the
// result is nullopt (never a half-loaded rule set). Calendar names are checked against the file's
// `calendars:` section; no file is read. A trigger that is both a clock's reset and its rearm is an error.
// Never throws.
std::optional<RuleSet> parse_rule_set(std::string_view text, const std::string& file, std::vector<Diagnostic>* out);

// Reads `path`, parses it and loads the calendar files it names (relative to its folder) into `calendars`.
std::optional<RuleSet> load_rule_set_file(const std::string& path, CalendarLibrary* calendars,
                                          std::vector<Diagnostic>* out);

// Compiles every calendar the rule set names, as published on `as_of` (latest when absent).
Result<CalendarSet> compile_calendars(const RuleSet& rules, const CalendarLibrary& calendars,
                                      std::optional<date::sys_days> as_of = std::nullopt);

// The canonical form: order-insensitive where order means nothing (match lists, triggers, clocks, ladder
// rungs), order-sensitive where it does (rules), units normalised ("120m" = "2h"), labels, descriptions and
// file paths left out.
std::string canonical_text(const RuleSet& rules);

// Lint findings (warnings): a rule shadowed by an earlier one, a category no rule matches, escalation
// percentages out of order, a clock that never stops, a clock that starts at a state an appeal enters again
// (not `registered`) and is reset at another state (it restarts before that state comes again; `rearm` is
// likely meant), a calendar with no working time in a year it covers.
// `calendars` may be null (then calendars are not checked).
std::vector<Diagnostic> lint(const RuleSet& rules, const CalendarSet* calendars);

// True if `text` matches the glob `pattern` ('*' = any run of characters).
bool glob_match(std::string_view pattern, std::string_view text) noexcept;

}  // namespace otinish::rules
