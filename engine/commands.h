// engine/commands.h: what desks and agencies ask of an appeal, and the pure decision that turns a command
// into events.
//
// decide() is a pure function of (state, command, context): it checks the command's own fields, asks the
// lifecycle table (engine/lifecycle.h) whether the stage allows it, and returns the events to append. It reads
// no store and no clock except `context.now`. Effects on other appeals (a merge touches the parent; a parent's
// resolution reaches its children) are carried out by the Engine (engine/engine.h).
//
// Thread-safety: pure functions; thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "engine/appeal.h"
#include "engine/domain.h"
#include "engine/events.h"
#include "engine/lifecycle.h"
#include "store/event.h"

namespace otinish::engine {

// Creates an appeal. The engine allocates its number.
struct RegisterAppeal {
  std::string centre{};  // e.g. "SHY"; 2..8 upper-case letters
  Category category = Category::kConsultation;
  std::string topic{};   // a catalogue code; REQUIRED
  std::optional<Priority> priority{};  // unset: critical for a dangerous incident topic, else normal
  Channel channel = Channel::kPhone;
  Location location{};
  std::string text{};    // REQUIRED
  Applicant applicant{};
};

struct AnswerOnFirstContact { std::string answer{}; };  // REQUIRED answer; consultations only
struct Classify { Category category{}; std::string topic{}; std::optional<Priority> priority{}; std::string reason{}; };
struct Reclassify { Category category{}; std::string topic{}; std::optional<Priority> priority{}; std::string reason{}; };
struct SendForReview {};
struct ReturnToOperator { std::string reason{}; };  // REQUIRED reason
struct Assign { std::string agency{}; };            // empty: the topic's default agency
struct Redirect { std::string agency{}; std::string reason{}; };  // REQUIRED both; a different agency
struct Accept {};
struct StartWork {};
struct Hold { std::string reason{}; };    // REQUIRED reason (e.g. waiting for the applicant)
struct Resume { std::string reason{}; };
struct RequestExtension { Timestamp new_deadline{}; std::string reason{}; };  // REQUIRED reason
struct GrantExtension { std::string reason{}; };  // REQUIRED reason (the head's reasoned decision)
struct Resolve { Outcome outcome = Outcome::kNone; std::string result{}; };  // REQUIRED result
struct RecordCallback { bool satisfied = false; std::string note{}; };
struct Close {};
struct Reopen { std::string reason{}; };  // REQUIRED reason
struct MergeInto { std::string parent{}; std::string reason{}; };  // REQUIRED parent, an open appeal
struct Comment { std::string text{}; };  // REQUIRED text
// Issued by the engine to each child of a resolved parent; callers do not send it.
struct ApplyParentResolution { std::string parent{}; Outcome outcome = Outcome::kNone; std::string result{}; };

using Command = std::variant<AnswerOnFirstContact, Classify, Reclassify, SendForReview, ReturnToOperator, Assign,
                             Redirect, Accept, StartWork, Hold, Resume, RequestExtension, GrantExtension, Resolve,
                             RecordCallback, Close, Reopen, MergeInto, Comment, ApplyParentResolution>;

CommandKind kind_of(const Command& c) noexcept;

struct DecideContext {
  Timestamp now{};
  const TopicCatalogue* catalogue = nullptr;  // nullptr: topics are not checked (replay tools, tests)
  // Opens the appeal's applicant (null when it cannot: erased, or a tool without keys), so that their name,
  // phone and address are taken out of the command's free text as well as anything that looks like a phone or
  // flat number. Called only when an event has free text that is not empty; unset: generic redaction only.
  std::function<const Applicant*()> applicant{};
};

// The events for `command` on an existing appeal.
// Errors: kNotFound (the appeal does not exist), kInvalidArgument (a missing reason, an unknown topic, a
// redirect to the same agency, an extension past the cap or in the past...), kFailedPrecondition (the
// lifecycle does not allow the command now: the message names the stage and the allowed commands).
Result<std::vector<AppealEvent>> decide(const AppealState& state, const Command& command,
                                        const DecideContext& context);

// The registration event for a new appeal numbered `id`.
// Errors: kInvalidArgument (empty text, unknown topic, bad centre), whatever the sealer returns.
Result<AppealEvent> decide_register(const RegisterAppeal& command, const AppealId& id, const DecideContext& context,
                                    const ApplicantSealer& sealer);

}  // namespace otinish::engine
