// api/http/json_codec.h: JSON at the edge: event envelopes (feed, stream, export/import), appeal events,
// appeal state, and commands as clients send them.
//
// The log stores cereal bytes; JSON exists only here. Field names are snake_case and documented in
// docs/http.md. Personal data (the applicant) is never written by these functions except `applicant_to_json`.
//
// Thread-safety: pure functions.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "common/status.h"
#include "engine/appeal.h"
#include "engine/sla_events.h"
#include "engine/commands.h"
#include "engine/events.h"
#include "store/event.h"

namespace otinish::api {

enum class EnvelopeForm {
  kExport,  // every envelope field, payload as base64: import rebuilds the identical log from it
  kFeed,    // envelope without payload bytes; appeal events carry "data" (decoded, applicant left out)
};
boost::json::object envelope_to_json(const store::RecordedEvent& e, EnvelopeForm form);

// Reads an export line back. Errors: kInvalidArgument naming the missing or malformed field.
Result<store::RecordedEvent> envelope_from_json(const boost::json::value& v);

// An appeal event's body as JSON: {"from": "assigned", "to": "accepted", "agency": "..."}; applicant omitted.
boost::json::object appeal_event_to_json(const engine::AppealEvent& e);

// An SLA event of an appeal's stream (SlaBound, SlaRebound, a clock event) as data: its kind, the clock, the
// deadline it set, and the rule, file:line, rule-set hash and calendar behind it.
boost::json::object sla_event_to_json(const engine::SlaEvent& e);

// The appeal's current state as the API shows it (no personal data).
boost::json::object appeal_state_to_json(const engine::AppealState& s);

// A registration from a request body:
//   {"centre": "SHY", "category": "complaint", "topic": "housing.lifts.broken", "priority": "high",
//    "channel": "whatsapp", "location": {"district": "Abay", "street": "Tauke khan"}, "text": "...",
//    "applicant": {"name": "...", "phone": "...", "address": "..."}}
// Errors: kInvalidArgument whose message starts with the JSON Pointer of the field at fault ("/category: ...").
Result<engine::RegisterAppeal> register_from_json(const boost::json::object& o);

// A command's fields from a request body ({} for commands without fields). Same errors as above.
Result<engine::Command> command_from_json(engine::CommandKind kind, const boost::json::object& o);

// Splits a "<pointer>: <message>" error produced above into (field, message); field "" if none.
std::pair<std::string, std::string> split_field_error(const std::string& message);

}  // namespace otinish::api
