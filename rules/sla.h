// rules/sla.h: the SLA decision function.
//
//   decide_sla(rule set, calendars, appeal facts, as_of) -> every clock's state, elapsed time, deadline,
//   the escalations that fired and the next one, each citing the rule (id and file:line) it comes from.
//
// It is a pure function: no clock, no I/O, no global state. The same inputs give the same output forever,
// which is what lets an auditor replay an appeal. The engine (engine/) turns its output into SLA events.
//
// Clock semantics, per clock of the matched rule, walking the history in time order (facts after `as_of` are
// ignored; facts at the same instant keep their given order). For each fact, the first that applies of:
//   reset  (any state)              -> restart now: a new cycle starts running at the fact (elapsed 0, ladder
//                                      re-armed); the running cycle, if any, ends at the fact
//   rearm  (started)                -> stop now and wait: the running cycle ends at the fact (stopped); the
//                                      next `start` fact begins a new cycle
//   start  (stopped by a rearm)     -> a new cycle starts running at the fact
//   stop   (running or paused)      -> stopped
//   pause  (running)                -> paused
//   resume (paused)                 -> running
//   start  (not started)            -> running
// A rearm on a clock that never started does nothing; on a stopped clock it only lets the next start begin a
// new cycle. Between a rearm and the next start the clock reports stopped (the ended cycle's stop, its deadline
// and what fired), so the engine records that cycle's end; a stopped clock without a rearm or reset never starts
// again. Cycles are numbered from 0 and grow by one at every reset and at every start after a rearm.
// Elapsed time is measured in the target's measure on the clock's calendar (wall, business or working days)
// over the running periods of the current cycle. The deadline of a running clock is add(last resume,
// target - elapsed); a paused clock has no deadline until it resumes. A ladder rung fires at the instant the
// elapsed time reaches its share of the target (for working days the share is rounded down to whole days),
// at breach (the deadline), or a delay after breach, provided the clock has not stopped by then.
//
// The law (clock "law.answer"): the first `event:extension_granted` fact extends the deadline to the fact's
// `until` (or to the cap when absent), never beyond start + extension max_total (e.g. 2mo); later extensions
// are refused with a note. After an extension, percentage rungs are shares of the wall time from start to the
// extended deadline. "law.extension_notice" runs from the extension until `event:applicant_notified`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "rules/rule_set.h"

namespace otinish::rules {

// One timestamped fact of an appeal's history.
struct Fact {
  enum class Kind { kStateEntered, kEvent };
  Timestamp at;
  Kind kind = Kind::kStateEntered;
  std::string name;                // a lifecycle state ("resolved") or an event type ("extension_granted")
  std::optional<Timestamp> until;  // event:extension_granted only: the new deadline the head decided
};

// What a rule's `match` looks at.
struct MatchAttributes {
  std::string category;  // consultation, incident, proposal, complaint, gratitude
  std::string topic;     // catalogue path, e.g. "utilities.water.no_supply"
  std::string priority;  // low, normal, high, critical
  std::string channel;   // phone, whatsapp, telegram, facebook, instagram, web
  std::string district;
  std::string agency;
  bool dangerous = false;  // the topic is dangerous (an open manhole)
  friend bool operator==(const MatchAttributes&, const MatchAttributes&) = default;
};

// Everything the rules look at. A plain struct the engine fills from its projection. The attributes it
// inherits are those in force now.
struct AppealFacts : MatchAttributes {
  std::vector<Fact> history;  // in any order; sorted by time (stably) before use

  // A classification, an assignment or a redirect that changed the attributes: `before` was in force until
  // `at`, from which on the next change's `before` (or, after the last, the attributes now) is.
  struct AttributeChange {
    Timestamp at;
    MatchAttributes before;
  };
  std::vector<AttributeChange> changes;  // in time order; empty when nothing changed since registration

  // The attributes in force at `t`: a change at `t` is in force at `t`.
  const MatchAttributes& attributes_at(Timestamp t) const;
};

enum class ClockState { kNotStarted, kRunning, kPaused, kStopped };
std::string_view clock_state_name(ClockState s) noexcept;

// An escalation rung that fired or is due next.
struct EscalationEvent {
  std::size_t step = 0;  // index in the clock's ladder
  std::string at_label;  // "50%", "breach", "breach+1h"
  std::optional<Timestamp> at;  // when it fires (fired) or will fire if nothing changes (next); absent while paused
  std::vector<std::string> notify;
  std::string raise_priority, reassign_agency, reassign_role;
  int cycle = 0;  // 0 for the first run, +1 after every reset and every start after a rearm
};

struct ClockReport {
  std::string rule_id;
  SourceLocation rule_where;  // where the clock is defined
  std::string clock;
  std::string calendar;
  std::string calendar_version;
  Target target;
  ClockState state = ClockState::kNotStarted;  // kStopped after a rearm, until the next start
  std::optional<Timestamp> started_at;  // of the current cycle (after a rearm: of the ended one)
  int cycle = 0;                        // the current cycle's number (EscalationEvent::cycle)
  std::optional<Timestamp> stopped_at;
  std::int64_t elapsed = 0;  // in the target's base quantity: microseconds (wall, business) or working days
  std::optional<Timestamp> deadline;
  // Non-empty when the deadline was computed across a provisional calendar year (its yearly inputs, such as a
  // moving holiday or a transfer decree, are not published): what is provisional, e.g. "kz 2027 is
  // provisional: kurban_ait, transfer_decree not published". Publishing those inputs may move the deadline
  // later (a new day off), never earlier unless the decree makes a day off a working day.
  std::string provisional;
  bool breached = false;  // the deadline passed before the clock stopped (or before as_of)
  bool extended = false;
  std::vector<EscalationEvent> fired;  // of every cycle so far, by cycle then time
  std::optional<EscalationEvent> next;
  std::vector<std::string> notes;  // e.g. "second extension at ... refused: the law allows one"
};

struct SlaDecision {
  std::string rule_id;     // "" if no rule matched
  std::string rule_set_hash;  // hex BLAKE2b-256 of the rule set
  std::vector<ClockReport> clocks;
};

// The facts a rule set's clocks react to: every trigger (start, stop, pause, resume, reset, rearm) of every
// clock of every rule, and `event:extension_granted` when a clock is the law's answer clock. A fact that is
// none of these changes no clock of any rule: deciding at its instant gives the clocks of the instant before
// it. The engine decides an appeal only at the instants of facts that can move a clock, so that a mass
// incident's parent, which collects a `child_attached` fact per merged appeal, costs time linear in them.
// Default-constructed: every fact may move a clock (the safe answer for an unknown rule set).
class ClockFacts {
 public:
  ClockFacts() = default;
  explicit ClockFacts(const RuleSet& rules);
  bool may_move_clocks(const Fact& f) const;

 private:
  bool all_ = true;
  std::vector<std::string> states_, events_;  // sorted, unique
};

// The index of the first rule whose match fits the attributes, or nullopt.
std::optional<std::size_t> match_rule(const RuleSet& rules, const MatchAttributes& appeal);

// Decides every clock of the first rule that matches the attributes in force at `as_of` (an appeal reclassified
// before as_of is decided by its new rule, over its whole history: the new rule's clocks start where its own
// start facts are, as if it had been the rule from the beginning). No matching rule is not an error (no clocks).
// Errors: NotFound if a clock's calendar is missing from `calendars`; FailedPrecondition if a computation
// falls outside a calendar's years.
Result<SlaDecision> decide_sla(const RuleSet& rules, const CalendarSet& calendars, const AppealFacts& appeal,
                               Timestamp as_of);

}  // namespace otinish::rules
