// engine/lifecycle.h: the appeal lifecycle: stages, the commands that move appeals between them, and the one
// transition table that decides.
//
// The table is a Boost.MSM state machine defined in engine/lifecycle.cc (the only translation unit that
// includes MSM). Everything here — step(), allowed_commands(), the rows, the text and the Mermaid diagram — is
// read from that table, never from a hand-written copy.
//
//   registered → (answer on first contact → closed) | under_review → (returned to operator) | assigned →
//   accepted → in_progress ⇄ on_hold → resolved → verified (callback) → closed; closed → reopened → assigned.
//
// Per category (guards): gratitude is forwarded to the agency and closed at assignment; a proposal is resolved
// only as proposal_accepted or proposal_declined with a reason; a complaint needs the applicant's callback
// before it is closed and may be reopened (so may an incident); a critical incident (dangerous topic or
// critical priority) is assigned straight from registered, skipping review. A merged duplicate waits in
// `merged` until its parent's resolution reaches it.
//
// Usage:
//   GuardFacts f{.category = Category::kComplaint};
//   Result<Stage> to = lifecycle_step(Stage::kResolved, CommandKind::kClose, f);
//   // → kFailedPrecondition: "close is not allowed in stage resolved for a complaint (guard: ...); allowed:
//   //    record_callback, comment"
//
// Thread-safety: all functions are thread-safe (each call runs its own machine; the table is immutable).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/domain.h"

namespace otinish::engine {

enum class Stage : std::uint8_t {
  kRegistered,
  kUnderReview,
  kReturnedToOperator,
  kAssigned,
  kAccepted,
  kInProgress,
  kOnHold,
  kResolved,
  kVerified,  // the applicant was called back (satisfied or not)
  kClosed,
  kReopened,
  kMerged,  // a duplicate folded into a parent appeal; the parent's resolution moves it on
};
inline constexpr int kStageCount = 12;

// Every command an appeal can receive, in the order of docs/lifecycle.md. kRegister creates the appeal (the
// stream must not exist) and is not a row of the table; kComment is allowed in every stage and is not a row
// either; every other command is governed by the table.
enum class CommandKind : std::uint8_t {
  kRegister,
  kAnswerOnFirstContact,
  kClassify,
  kReclassify,
  kSendForReview,
  kReturnToOperator,
  kAssign,
  kRedirect,
  kAccept,
  kStartWork,
  kHold,
  kResume,
  kRequestExtension,
  kGrantExtension,
  kResolve,
  kApplyParentResolution,  // issued by the engine to each child when its parent is resolved
  kRecordCallback,
  kClose,
  kReopen,
  kMerge,
  kComment,
};
inline constexpr int kCommandKindCount = 21;

// Stable snake_case names: "under_review", "record_callback".
std::string_view to_string(Stage s) noexcept;
std::string_view to_string(CommandKind c) noexcept;
Result<Stage> parse_stage(std::string_view s);
Result<CommandKind> parse_command_kind(std::string_view s);

// True for closed and merged: no work is expected on the appeal.
bool is_terminal(Stage s) noexcept;

// What the guards look at. The command handler fills it from the appeal's state and the command.
struct GuardFacts {
  Category category = Category::kConsultation;
  Priority priority = Priority::kNormal;
  bool dangerous_topic = false;       // the topic's danger flag, as recorded in the appeal's events
  Outcome outcome = Outcome::kNone;   // for kResolve: the outcome the command asks for
  bool has_reason = false;            // for kResolve: the command carries a non-empty reason/result text
  bool extension_pending = false;     // an extension was requested and not yet granted
};

// Moves `from` by `command` through the table.
// Returns the target stage (equal to `from` for an internal transition such as classify).
// Errors: kFailedPrecondition naming the stage, the category, the guards that refused (if a row exists) and
// the commands allowed now; kInvalidArgument for kRegister (not a transition).
// kComment returns `from` in every stage.
Result<Stage> lifecycle_step(Stage from, CommandKind command, const GuardFacts& facts);

// The commands lifecycle_step() would accept in `stage` with `facts`, in CommandKind order (kComment last).
std::vector<CommandKind> allowed_commands(Stage stage, const GuardFacts& facts);

// One row of the table, for describing it.
struct LifecycleRow {
  Stage from = Stage::kRegistered;
  CommandKind command = CommandKind::kComment;
  std::optional<Stage> to;  // nullopt: an internal transition (the stage does not change)
  std::string_view guard;   // e.g. "category is gratitude"; empty if none
};

// The rows of the MSM transition table, in table order.
const std::vector<LifecycleRow>& lifecycle_rows();
// The initial stage of the machine (where kRegister puts an appeal).
Stage initial_stage() noexcept;

// The table as aligned text (`otinish describe lifecycle`): one line per row plus the notes on register and
// comment.
std::string describe_lifecycle_text();
// The table as a Mermaid stateDiagram-v2 (internal transitions are listed as notes).
std::string lifecycle_mermaid();

}  // namespace otinish::engine
