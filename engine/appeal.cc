#include "engine/appeal.h"

#include <date/date.h>

#include "engine/sla_events.h"

namespace otinish::engine {
namespace {

struct Folder {
  AppealState& s;
  Timestamp at;

  void operator()(const AppealRegistered& e) {
    s.exists = true;
    s.id = e.appeal_id;
    s.category = e.category;
    s.topic = e.topic;
    s.priority = e.priority;
    s.channel = e.channel;
    s.location = e.location;
    s.dangerous_topic = e.dangerous_topic;
    s.applicant = e.applicant;
    s.registered_at = at;
  }
  void operator()(const AppealAnsweredOnFirstContact& e) {
    s.outcome = Outcome::kExplained;
    s.result = e.answer;
    s.resolved_at = at;
    s.closed_at = at;
  }
  void operator()(const AppealClassified& e) {
    s.category = e.category;
    s.topic = e.topic;
    s.priority = e.priority;
    s.dangerous_topic = e.dangerous_topic;
  }
  void operator()(const AppealSentForReview&) {}
  void operator()(const AppealReturnedToOperator&) {}
  void operator()(const AppealAssigned& e) {
    s.agency = e.agency;
    if (e.forwarded) s.closed_at = at;
  }
  void operator()(const AppealRedirected& e) {
    s.agency = e.to_agency;
    ++s.redirect_count;
  }
  void operator()(const AppealAccepted&) {}
  void operator()(const AppealWorkStarted&) {}
  void operator()(const AppealPutOnHold&) {}
  void operator()(const AppealResumed&) {}
  void operator()(const AppealExtensionRequested& e) { s.requested_deadline = e.new_deadline; }
  void operator()(const AppealExtensionGranted& e) {
    s.requested_deadline.reset();
    s.extended_deadline = e.new_deadline;
    ++s.extensions_granted;
  }
  void operator()(const AppealResolved& e) {
    s.outcome = e.outcome;
    s.result = e.result;
    s.resolved_at = at;
    s.callback_satisfied.reset();
  }
  void operator()(const AppealCallbackRecorded& e) { s.callback_satisfied = e.satisfied; }
  void operator()(const AppealClosed&) { s.closed_at = at; }
  void operator()(const AppealReopened&) {
    ++s.reopen_count;
    s.outcome = Outcome::kNone;
    s.result.clear();
    s.closed_at = Timestamp{};
    s.callback_satisfied.reset();
  }
  void operator()(const AppealMerged& e) { s.parent = e.parent; }
  void operator()(const AppealChildAttached& e) { s.children.push_back(e.child); }
  void operator()(const AppealCommented&) {}
};

}  // namespace

bool moves_decision_version(const store::RecordedEvent& recorded) {
  if (!is_sla_event_type(recorded.type)) return true;
  const bool rung = recorded.type == event_type(SlaClockKind::kWarning) ||
                    recorded.type == event_type(SlaClockKind::kBreached) ||
                    recorded.type == event_type(SlaClockKind::kEscalated);
  if (!rung) return false;
  auto decoded = decode_sla_event(recorded.type, recorded.schema_version, recorded.payload);
  if (!decoded.ok()) return true;
  const auto* c = std::get_if<SlaClockEvent>(&*decoded);
  return c == nullptr || !c->raise_priority.empty() || !c->reassign_agency.empty() || !c->reassign_role.empty();
}

namespace {

void advance_versions(AppealState& state, const store::RecordedEvent& recorded, bool decision) {
  state.version = recorded.stream_version;
  state.last_position = recorded.position;
  if (decision) {
    ++state.decision_version;
    state.decision_stream_version = recorded.stream_version;
  }
}

}  // namespace

void evolve_decoded(AppealState& state, const store::RecordedEvent& recorded, const AppealEvent& event) {
  std::visit(Folder{state, recorded.recorded_at}, event.body);
  state.stage = event.to;
  advance_versions(state, recorded, true);  // every appeal event is a decision's
  state.updated_at = recorded.recorded_at;
  if (!recorded.causation_id.empty()) {
    state.applied_commands[recorded.causation_id] = {state.version, state.decision_version};
  }
}

Status evolve(AppealState& state, const store::RecordedEvent& recorded) {
  if (recorded.stream_version != state.version + 1) {
    return Status::Corruption("stream " + recorded.stream + " jumps from version " + std::to_string(state.version) +
                              " to " + std::to_string(recorded.stream_version) + "; verify the log");
  }
  auto decoded = decode_event(recorded.type, recorded.schema_version, recorded.payload);
  if (!decoded.ok()) {
    if (decoded.status().code() != StatusCode::kNotFound) {
      return Status(decoded.status().code(), "stream " + recorded.stream + " version " +
                                                 std::to_string(recorded.stream_version) + ": " +
                                                 decoded.status().message());
    }
    // Another module's event (the SLA service's, an erasure): not part of the appeal's state.
    advance_versions(state, recorded, moves_decision_version(recorded));
    return Status::Ok();
  }
  evolve_decoded(state, recorded, *decoded);
  return Status::Ok();
}

GuardFacts guard_facts(const AppealState& state) {
  GuardFacts f;
  f.category = state.category;
  f.priority = state.priority;
  f.dangerous_topic = state.dangerous_topic;
  f.extension_pending = state.requested_deadline.has_value();
  return f;
}

Timestamp extension_cap(Timestamp registered_at) {
  using namespace std::chrono;
  const auto offset = hours(5);
  auto local = registered_at + offset;
  auto day = floor<days>(local);
  auto time_of_day = local - day;
  date::year_month_day ymd{day};
  auto target = ymd.year() / ymd.month() / ymd.day() + date::months(2);
  if (!target.ok()) target = date::year_month_day{target.year() / target.month() / date::last};
  return Timestamp(date::sys_days(target)) + duration_cast<microseconds>(time_of_day) - offset;
}

}  // namespace otinish::engine
