// engine/appeal.h: an appeal's state, folded from its stream.
//
// AppealState is what the command handler decides on and what replay returns. It is a pure function of the
// appeal's events: evolve() never reads the catalogue, the clock or the rules.
//
// Usage:
//   AppealState s;
//   for (const auto& recorded : stream) OTINISH_RETURN_IF_ERROR(evolve(s, recorded));
//
// Thread-safety: a value type (thread-compatible).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "engine/domain.h"
#include "engine/events.h"
#include "engine/lifecycle.h"
#include "store/event.h"

namespace otinish::engine {

// What a command's events left behind: the appeal's versions after its last event.
struct AppliedCommand {
  std::uint64_t version = 0;           // stream version
  std::uint64_t decision_version = 0;  // AppealState::decision_version
};

struct AppealState {
  bool exists = false;           // false until AppealRegistered
  std::string id;                // "SHY-2026-0012345"
  std::uint64_t version = 0;     // stream version of the last event folded in (any event, the SLA service's too)
  // The decision version: how many events of the stream a desk's decision can depend on, i.e. every event but
  // the SLA service's timing facts (moves_decision_version()). It is what a desk holds between reading the
  // appeal and sending a command (HTTP's ETag, CommandMeta::expected_version), so that a deadline or a warning
  // written meanwhile does not make the desk's decision stale, while another desk's command does.
  std::uint64_t decision_version = 0;
  std::uint64_t decision_stream_version = 0;  // stream version of the event that last moved decision_version
  std::uint64_t last_position = 0;
  Stage stage = Stage::kRegistered;
  Category category = Category::kConsultation;
  std::string topic;
  Priority priority = Priority::kNormal;
  Channel channel = Channel::kPhone;
  Location location;
  bool dangerous_topic = false;
  std::string agency;            // the agency the appeal is assigned to now (empty before assignment)
  Timestamp registered_at{};
  Timestamp updated_at{};
  Timestamp resolved_at{};       // of the latest resolution (zero if none)
  Timestamp closed_at{};         // of the latest closing (zero if none)
  Outcome outcome = Outcome::kNone;
  std::string result;
  std::optional<Timestamp> requested_deadline;  // a pending extension request
  std::optional<Timestamp> extended_deadline;   // the latest granted extension
  int extensions_granted = 0;
  std::optional<bool> callback_satisfied;  // of the latest callback
  int reopen_count = 0;
  int redirect_count = 0;
  std::string parent;                    // non-empty once merged into a parent
  std::vector<std::string> children;     // appeals merged into this one, in order
  SealedApplicant applicant;
  // command id -> the versions after that command's events: a retried command is answered from here.
  std::map<std::string, AppliedCommand, std::less<>> applied_commands;
};

// True when `recorded`, an event of an appeal's stream, moves the appeal's decision version. Every event does
// except the SLA service's facts about time, which no command's guard, no role's right to act and nothing a
// desk decides on depends on: SlaBound, SlaRebound, SlaClockStarted/Paused/Resumed/Stopped, SlaDeadlineSet, and
// the rungs (SlaWarning, SlaBreached, SlaEscalated) that carry no action. A rung that asks to raise the
// priority or to reassign the appeal (to an agency or a role) moves it: it changes who should act and what
// the guards will see, so a desk that decided before it must look again. Types this build does not know (and
// an SLA rung it cannot decode) move it: a desk is asked to look again rather than decide past a fact unseen.
bool moves_decision_version(const store::RecordedEvent& recorded);

// Folds one recorded event of the appeal's stream into `state`.
// Events of types this build does not know (e.g. SLA events of another module) only advance the versions.
// Errors: kCorruption when a known event does not decode or the versions are not consecutive (the message
// names the stream and version).
Status evolve(AppealState& state, const store::RecordedEvent& recorded);
// Folds an already decoded event (`recorded` gives version, time and causation id).
void evolve_decoded(AppealState& state, const store::RecordedEvent& recorded, const AppealEvent& event);

// The guard facts of `state` (category, priority, danger, pending extension); the caller adds the command's.
GuardFacts guard_facts(const AppealState& state);

// Registration + two calendar months in Kazakhstan's time (UTC+5), the law's cap on an extended deadline
// (Administrative Procedural Code, art. 76). A day past the month's end clamps to its last day.
Timestamp extension_cap(Timestamp registered_at);

}  // namespace otinish::engine
