// engine/events.h: the facts recorded in an appeal's stream, and their one codec.
//
// Every appeal event carries the lifecycle stage before and after it (`from`, `to`), so that replay and
// projections never re-derive a stage from today's transition table. Payloads are cereal portable binary; each
// type has a schema version, and old versions are upcast on read (events are never rewritten). The byte
// layout of each type is in docs/events.md.
//
// The applicant's personal data travels only inside AppealRegistered::applicant (a SealedApplicant), apart
// from everything else, so that it can be encrypted and shredded without touching the rest of the payload.
//
// Usage:
//   AppealEvent e{.from = Stage::kAssigned, .to = Stage::kAccepted, .body = AppealAccepted{}};
//   store::EventData data = encode_event(e);               // type "AppealAccepted", schema_version 1
//   Result<AppealEvent> back = decode_event(data.type, data.schema_version, data.payload);
//
// Thread-safety: pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "engine/domain.h"
#include "engine/lifecycle.h"
#include "store/event.h"

namespace otinish::engine {

// Schema v2 (v1 had no priority; v1 events read as Priority::kNormal).
struct AppealRegistered {
  std::string appeal_id;  // "SHY-2026-0012345"
  Category category = Category::kConsultation;
  std::string topic;
  Priority priority = Priority::kNormal;
  Channel channel = Channel::kPhone;
  Location location;
  std::string text;              // what the applicant said, as the operator wrote it
  bool dangerous_topic = false;  // the topic's danger flag at registration (replay never asks the catalogue)
  SealedApplicant applicant;     // personal data, sealed; never in projections or the public feed
  friend bool operator==(const AppealRegistered&, const AppealRegistered&) = default;
};
struct AppealAnsweredOnFirstContact {
  std::string answer;
  friend bool operator==(const AppealAnsweredOnFirstContact&, const AppealAnsweredOnFirstContact&) = default;
};
struct AppealClassified {
  Category category = Category::kConsultation;
  std::string topic;
  Priority priority = Priority::kNormal;
  bool dangerous_topic = false;
  bool reclassification = false;  // false: classify (before assignment); true: reclassify (after)
  std::string reason;
  friend bool operator==(const AppealClassified&, const AppealClassified&) = default;
};
struct AppealSentForReview {
  friend bool operator==(const AppealSentForReview&, const AppealSentForReview&) = default;
};
struct AppealReturnedToOperator {
  std::string reason;
  friend bool operator==(const AppealReturnedToOperator&, const AppealReturnedToOperator&) = default;
};
struct AppealAssigned {
  std::string agency;
  bool forwarded = false;  // gratitude: forwarded to the agency and closed
  friend bool operator==(const AppealAssigned&, const AppealAssigned&) = default;
};
struct AppealRedirected {
  std::string from_agency;
  std::string to_agency;
  std::string reason;  // why it is outside the first agency's competence
  friend bool operator==(const AppealRedirected&, const AppealRedirected&) = default;
};
struct AppealAccepted {
  std::string agency;
  friend bool operator==(const AppealAccepted&, const AppealAccepted&) = default;
};
struct AppealWorkStarted {
  friend bool operator==(const AppealWorkStarted&, const AppealWorkStarted&) = default;
};
struct AppealPutOnHold {
  std::string reason;
  friend bool operator==(const AppealPutOnHold&, const AppealPutOnHold&) = default;
};
struct AppealResumed {
  std::string reason;
  friend bool operator==(const AppealResumed&, const AppealResumed&) = default;
};
struct AppealExtensionRequested {
  Timestamp new_deadline;
  std::string reason;
  friend bool operator==(const AppealExtensionRequested&, const AppealExtensionRequested&) = default;
};
struct AppealExtensionGranted {
  Timestamp new_deadline;
  Timestamp cap;  // registration + two months (APC art. 76), as computed when granted
  std::string reason;
  friend bool operator==(const AppealExtensionGranted&, const AppealExtensionGranted&) = default;
};
struct AppealResolved {
  Outcome outcome = Outcome::kNone;
  std::string result;      // what was done or decided, with reasons
  std::string via_parent;  // non-empty: this child received its parent's resolution
  friend bool operator==(const AppealResolved&, const AppealResolved&) = default;
};
struct AppealCallbackRecorded {
  bool satisfied = false;
  std::string note;
  friend bool operator==(const AppealCallbackRecorded&, const AppealCallbackRecorded&) = default;
};
struct AppealClosed {
  friend bool operator==(const AppealClosed&, const AppealClosed&) = default;
};
struct AppealReopened {
  std::string reason;
  friend bool operator==(const AppealReopened&, const AppealReopened&) = default;
};
// In the child's stream: it is a duplicate of `parent` (or part of a mass incident).
struct AppealMerged {
  std::string parent;
  std::string reason;
  friend bool operator==(const AppealMerged&, const AppealMerged&) = default;
};
// In the parent's stream: `child` was merged into it. Does not change the parent's stage.
struct AppealChildAttached {
  std::string child;
  friend bool operator==(const AppealChildAttached&, const AppealChildAttached&) = default;
};
struct AppealCommented {
  std::string text;
  friend bool operator==(const AppealCommented&, const AppealCommented&) = default;
};

using EventBody =
    std::variant<AppealRegistered, AppealAnsweredOnFirstContact, AppealClassified, AppealSentForReview,
                 AppealReturnedToOperator, AppealAssigned, AppealRedirected, AppealAccepted, AppealWorkStarted,
                 AppealPutOnHold, AppealResumed, AppealExtensionRequested, AppealExtensionGranted, AppealResolved,
                 AppealCallbackRecorded, AppealClosed, AppealReopened, AppealMerged, AppealChildAttached,
                 AppealCommented>;

// One appeal event: the stage before and after it, and what happened.
struct AppealEvent {
  Stage from = Stage::kRegistered;
  Stage to = Stage::kRegistered;
  EventBody body;
  friend bool operator==(const AppealEvent&, const AppealEvent&) = default;
};

// The event type name of a body ("AppealRegistered") and the schema version encode_event() writes.
std::string_view event_type(const EventBody& body) noexcept;
std::uint32_t current_schema_version(const EventBody& body) noexcept;
// True if `type` is an appeal event this codec knows (any version).
bool is_appeal_event_type(std::string_view type) noexcept;

// Encodes type, schema version and payload; the caller fills id, actor and correlation ids.
store::EventData encode_event(const AppealEvent& event);

// Decodes (and upcasts) one payload.
// Errors: kNotFound for a type this codec does not know (a reader should skip it: it may belong to another
// module, e.g. SLA events); kInvalidArgument for a schema version newer than this build knows (upgrade the
// reader); kCorruption for bytes that do not decode.
Result<AppealEvent> decode_event(std::string_view type, std::uint32_t schema_version, std::string_view payload);

// The stream of every appeal starts with this prefix.
inline constexpr std::string_view kAppealStreamPrefix = "appeal-";

// In a "seq-<centre>-<year>" stream: the event whose stream version is the allocated sequence number.
// The payload holds only the command: the number is the event's stream version, the centre and year are in
// the stream's name.
struct AppealNumberAllocated {
  std::string command_id;  // the register command that asked for it
};
inline constexpr std::string_view kAppealNumberAllocatedType = "AppealNumberAllocated";
store::EventData encode_number_allocated(const AppealNumberAllocated& a);
Result<AppealNumberAllocated> decode_number_allocated(std::string_view payload);

}  // namespace otinish::engine
