// The lifecycle transition table: the only translation unit that includes Boost.MSM (its templates are heavy;
// keep them here so that the rest of the build stays fast).
//
// MSM's mpl::vector holds 20 rows by default; the table has more, so the limits are raised before any Boost
// header is included. Nothing above this line may include Boost.
#define BOOST_MPL_CFG_NO_PREPROCESSED_HEADERS
#define BOOST_MPL_LIMIT_VECTOR_SIZE 50
#define BOOST_MPL_LIMIT_MAP_SIZE 50

#include "engine/lifecycle.h"

#include <algorithm>
#include <array>
#include <utility>

#include <boost/mpl/for_each.hpp>
#include <boost/mpl/vector.hpp>
#include <boost/msm/back/state_machine.hpp>
#include <boost/msm/front/functor_row.hpp>
#include <boost/msm/front/state_machine_def.hpp>

namespace otinish::engine {
namespace {

namespace msmf = boost::msm::front;
namespace mpl = boost::mpl;

// ---- states and events: one type per Stage and per CommandKind ---------------------------------------------

template <Stage S>
struct St : msmf::state<> {
  static constexpr Stage kStage = S;
};
template <CommandKind K>
struct Cmd {
  static constexpr CommandKind kKind = K;
};

using Registered = St<Stage::kRegistered>;
using UnderReview = St<Stage::kUnderReview>;
using Returned = St<Stage::kReturnedToOperator>;
using Assigned = St<Stage::kAssigned>;
using Accepted = St<Stage::kAccepted>;
using InProgress = St<Stage::kInProgress>;
using OnHold = St<Stage::kOnHold>;
using Resolved = St<Stage::kResolved>;
using Verified = St<Stage::kVerified>;
using Closed = St<Stage::kClosed>;
using Reopened = St<Stage::kReopened>;
using Merged = St<Stage::kMerged>;

using AnswerOnFirstContact = Cmd<CommandKind::kAnswerOnFirstContact>;
using Classify = Cmd<CommandKind::kClassify>;
using Reclassify = Cmd<CommandKind::kReclassify>;
using SendForReview = Cmd<CommandKind::kSendForReview>;
using ReturnToOperator = Cmd<CommandKind::kReturnToOperator>;
using Assign = Cmd<CommandKind::kAssign>;
using Redirect = Cmd<CommandKind::kRedirect>;
using Accept = Cmd<CommandKind::kAccept>;
using StartWork = Cmd<CommandKind::kStartWork>;
using Hold = Cmd<CommandKind::kHold>;
using Resume = Cmd<CommandKind::kResume>;
using RequestExtension = Cmd<CommandKind::kRequestExtension>;
using GrantExtension = Cmd<CommandKind::kGrantExtension>;
using Resolve = Cmd<CommandKind::kResolve>;
using ApplyParentResolution = Cmd<CommandKind::kApplyParentResolution>;
using RecordCallback = Cmd<CommandKind::kRecordCallback>;
using Close = Cmd<CommandKind::kClose>;
using Reopen = Cmd<CommandKind::kReopen>;
using Merge = Cmd<CommandKind::kMerge>;

// ---- guards: each reads the GuardFacts the machine was given and says in kText what it checks ----------------

#define OTINISH_GUARD(Name, text, expr)                                         \
  struct Name {                                                                 \
    static constexpr std::string_view kText = text;                             \
    static bool check(const GuardFacts& f) noexcept { return (expr); }          \
    template <class Evt, class Fsm, class Src, class Dst>                       \
    bool operator()(const Evt&, Fsm& fsm, Src&, Dst&) const noexcept {          \
      return check(*fsm.facts);                                                 \
    }                                                                           \
  }

OTINISH_GUARD(IsConsultation, "category is consultation", f.category == Category::kConsultation);
OTINISH_GUARD(IsGratitude, "category is gratitude (forwarded to the agency and closed)",
              f.category == Category::kGratitude);
OTINISH_GUARD(NotGratitude, "category is not gratitude", f.category != Category::kGratitude);
OTINISH_GUARD(CriticalIncident, "incident on a dangerous topic or of critical priority",
              f.category == Category::kIncident && (f.dangerous_topic || f.priority == Priority::kCritical));
OTINISH_GUARD(ResolutionFitsCategory,
              "a proposal ends proposal_accepted or proposal_declined with a reason, others end done, explained "
              "or not_confirmed",
              f.category == Category::kProposal
                  ? ((f.outcome == Outcome::kProposalAccepted || f.outcome == Outcome::kProposalDeclined) &&
                     f.has_reason)
                  : (f.outcome == Outcome::kDone || f.outcome == Outcome::kExplained ||
                     f.outcome == Outcome::kNotConfirmed));
OTINISH_GUARD(CallbackNotRequired, "category is not complaint (a complaint needs the callback first)",
              f.category != Category::kComplaint);
OTINISH_GUARD(MayReopen, "category is complaint or incident",
              f.category == Category::kComplaint || f.category == Category::kIncident);
OTINISH_GUARD(NoExtensionPending, "no extension request is pending", !f.extension_pending);
OTINISH_GUARD(ExtensionPending, "an extension request is pending", f.extension_pending);

#undef OTINISH_GUARD

using msmf::none;
using msmf::Row;

// ---- the table ------------------------------------------------------------------------------------------------

struct LifecycleDef : msmf::state_machine_def<LifecycleDef> {
  using initial_state = Registered;

  const GuardFacts* facts = nullptr;  // set before each process_event
  bool rejected = false;

  template <class Fsm, class Event>
  void no_transition(const Event&, Fsm&, int) {
    rejected = true;
  }

  // clang-format off
  struct transition_table : mpl::vector<
  //    source      command                 target      action  guard
    Row<Registered, AnswerOnFirstContact,   Closed,     none,   IsConsultation>,
    Row<Registered, Classify,               none,       none,   none>,
    Row<Registered, SendForReview,          UnderReview,none,   none>,
    Row<Registered, Assign,                 Assigned,   none,   CriticalIncident>,
    Row<Registered, Merge,                  Merged,     none,   none>,
    Row<UnderReview,Classify,               none,       none,   none>,
    Row<UnderReview,ReturnToOperator,       Returned,   none,   none>,
    Row<UnderReview,Assign,                 Assigned,   none,   NotGratitude>,
    Row<UnderReview,Assign,                 Closed,     none,   IsGratitude>,
    Row<UnderReview,Merge,                  Merged,     none,   none>,
    Row<Returned,   Classify,               none,       none,   none>,
    Row<Returned,   SendForReview,          UnderReview,none,   none>,
    Row<Returned,   Merge,                  Merged,     none,   none>,
    Row<Assigned,   Reclassify,             none,       none,   none>,
    Row<Assigned,   Redirect,               Assigned,   none,   none>,
    Row<Assigned,   Accept,                 Accepted,   none,   none>,
    Row<Assigned,   Merge,                  Merged,     none,   none>,
    Row<Accepted,   Reclassify,             none,       none,   none>,
    Row<Accepted,   Redirect,               Assigned,   none,   none>,
    Row<Accepted,   StartWork,              InProgress, none,   none>,
    Row<Accepted,   RequestExtension,       none,       none,   NoExtensionPending>,
    Row<Accepted,   GrantExtension,         none,       none,   ExtensionPending>,
    Row<Accepted,   Merge,                  Merged,     none,   none>,
    Row<InProgress, Reclassify,             none,       none,   none>,
    Row<InProgress, Hold,                   OnHold,     none,   none>,
    Row<InProgress, RequestExtension,       none,       none,   NoExtensionPending>,
    Row<InProgress, GrantExtension,         none,       none,   ExtensionPending>,
    Row<InProgress, Resolve,                Resolved,   none,   ResolutionFitsCategory>,
    Row<InProgress, Merge,                  Merged,     none,   none>,
    Row<OnHold,     Reclassify,             none,       none,   none>,
    Row<OnHold,     Resume,                 InProgress, none,   none>,
    Row<OnHold,     RequestExtension,       none,       none,   NoExtensionPending>,
    Row<OnHold,     GrantExtension,         none,       none,   ExtensionPending>,
    Row<OnHold,     Merge,                  Merged,     none,   none>,
    Row<Merged,     ApplyParentResolution,  Resolved,   none,   none>,
    Row<Resolved,   RecordCallback,         Verified,   none,   none>,
    Row<Resolved,   Close,                  Closed,     none,   CallbackNotRequired>,
    Row<Verified,   Close,                  Closed,     none,   none>,
    Row<Verified,   Reopen,                 Reopened,   none,   MayReopen>,
    Row<Closed,     Reopen,                 Reopened,   none,   MayReopen>,
    Row<Reopened,   Reclassify,             none,       none,   none>,
    Row<Reopened,   Assign,                 Assigned,   none,   none>
  > {};
  // clang-format on
};

using Machine = boost::msm::back::state_machine<LifecycleDef>;

// ---- Stage <-> MSM state id ---------------------------------------------------------------------------------

template <std::size_t... I>
constexpr std::array<int, kStageCount> make_state_ids(std::index_sequence<I...>) {
  return {boost::msm::back::get_state_id<Machine::stt, St<static_cast<Stage>(I)>>::value...};
}
const std::array<int, kStageCount> kStateIdOfStage = make_state_ids(std::make_index_sequence<kStageCount>{});

Stage stage_of_state_id(int id) {
  for (int i = 0; i < kStageCount; ++i) {
    if (kStateIdOfStage[i] == id) return static_cast<Stage>(i);
  }
  return Stage::kRegistered;  // unreachable: every state of the table is a Stage
}

// MSM restores a machine's active state through its serialize() (the library's persistence hook). This
// "archive" writes the one region's state id and ignores everything else MSM passes through it.
struct ActiveStateSetter {
  int state_id;
  template <class T>
  ActiveStateSetter& operator&(T& t) {
    set(t);
    return *this;
  }
  template <std::size_t N>
  void set(int (&regions)[N]) {
    static_assert(N == 1, "the lifecycle has one region");
    regions[0] = state_id;
  }
  template <class T>
  void set(T&) {}
};

// Dispatches a runtime CommandKind to its MSM event type. Returns false for kinds that are not rows.
// Sets `fired` when a row (whose guard passed) handled the event.
template <CommandKind K>
bool dispatch_one(Machine& m, CommandKind kind, bool& fired) {
  if (kind != K) return false;
  fired = m.process_event(Cmd<K>{}) == boost::msm::back::HANDLED_TRUE;
  return true;
}
bool dispatch(Machine& m, CommandKind kind, bool& fired) {
  using enum CommandKind;
  return dispatch_one<kAnswerOnFirstContact>(m, kind, fired) || dispatch_one<kClassify>(m, kind, fired) ||
         dispatch_one<kReclassify>(m, kind, fired) || dispatch_one<kSendForReview>(m, kind, fired) ||
         dispatch_one<kReturnToOperator>(m, kind, fired) || dispatch_one<kAssign>(m, kind, fired) ||
         dispatch_one<kRedirect>(m, kind, fired) || dispatch_one<kAccept>(m, kind, fired) || dispatch_one<kStartWork>(m, kind, fired) ||
         dispatch_one<kHold>(m, kind, fired) || dispatch_one<kResume>(m, kind, fired) ||
         dispatch_one<kRequestExtension>(m, kind, fired) || dispatch_one<kGrantExtension>(m, kind, fired) ||
         dispatch_one<kResolve>(m, kind, fired) || dispatch_one<kApplyParentResolution>(m, kind, fired) ||
         dispatch_one<kRecordCallback>(m, kind, fired) || dispatch_one<kClose>(m, kind, fired) || dispatch_one<kReopen>(m, kind, fired) ||
         dispatch_one<kMerge>(m, kind, fired);
}

// Runs one command on a machine placed in `from`. nullopt if the table refuses.
std::optional<Stage> run_machine(Stage from, CommandKind command, const GuardFacts& facts) {
  thread_local Machine machine;  // reused: placing and running a machine allocates nothing
  machine.facts = &facts;
  machine.rejected = false;
  ActiveStateSetter setter{kStateIdOfStage[static_cast<int>(from)]};
  machine.serialize(setter, 0);
  bool fired = false;
  if (!dispatch(machine, command, fired) || !fired || machine.rejected) return std::nullopt;
  return stage_of_state_id(machine.current_state()[0]);
}

// ---- reading the table for describe/Mermaid and for error messages --------------------------------------------

template <class T>
struct GuardText {
  static constexpr std::string_view value = T::kText;
};
template <>
struct GuardText<none> {
  static constexpr std::string_view value = "";
};

struct RowCollector {
  std::vector<LifecycleRow>* rows;
  template <class R>
  void operator()(boost::msm::wrap<R>) const {
    LifecycleRow row;
    row.from = R::Source::kStage;
    row.command = R::Evt::kKind;
    if constexpr (!std::is_same_v<typename R::Target, none>) row.to = R::Target::kStage;
    row.guard = GuardText<typename R::Guard>::value;
    rows->push_back(row);
  }
};

std::vector<LifecycleRow> collect_rows() {
  std::vector<LifecycleRow> rows;
  mpl::for_each<LifecycleDef::transition_table, boost::msm::wrap<mpl::placeholders::_1>>(RowCollector{&rows});
  return rows;
}

constexpr std::array<std::string_view, kStageCount> kStageNames = {
    "registered", "under_review", "returned_to_operator", "assigned", "accepted", "in_progress",
    "on_hold",    "resolved",     "verified",             "closed",   "reopened", "merged"};
constexpr std::array<std::string_view, kCommandKindCount> kCommandNames = {
    "register",          "answer_on_first_contact", "classify",        "reclassify",   "send_for_review",
    "return_to_operator", "assign",                 "redirect",        "accept",       "start_work",
    "hold",              "resume",                  "request_extension", "grant_extension", "resolve",
    "apply_parent_resolution", "record_callback",   "close",           "reopen",       "merge",
    "comment"};

std::string join_commands(const std::vector<CommandKind>& kinds) {
  std::string s;
  for (auto k : kinds) s += (s.empty() ? "" : ", ") + std::string(to_string(k));
  return s;
}

std::string pad(std::string_view s, std::size_t width) {
  std::string out(s);
  if (out.size() < width) out.append(width - out.size(), ' ');
  return out;
}

}  // namespace

std::string_view to_string(Stage s) noexcept {
  auto i = static_cast<std::size_t>(s);
  return i < kStageNames.size() ? kStageNames[i] : "?";
}
std::string_view to_string(CommandKind c) noexcept {
  auto i = static_cast<std::size_t>(c);
  return i < kCommandNames.size() ? kCommandNames[i] : "?";
}

Result<Stage> parse_stage(std::string_view s) {
  for (int i = 0; i < kStageCount; ++i) {
    if (kStageNames[i] == s) return static_cast<Stage>(i);
  }
  std::string known;
  for (auto n : kStageNames) known += (known.empty() ? "" : ", ") + std::string(n);
  return Status::InvalidArgument("unknown stage '" + std::string(s) + "'; expected one of: " + known);
}

Result<CommandKind> parse_command_kind(std::string_view s) {
  for (int i = 0; i < kCommandKindCount; ++i) {
    if (kCommandNames[i] == s) return static_cast<CommandKind>(i);
  }
  std::string known;
  for (auto n : kCommandNames) known += (known.empty() ? "" : ", ") + std::string(n);
  return Status::InvalidArgument("unknown command '" + std::string(s) + "'; expected one of: " + known);
}

bool is_terminal(Stage s) noexcept { return s == Stage::kClosed || s == Stage::kMerged; }

Stage initial_stage() noexcept { return LifecycleDef::initial_state::kStage; }

const std::vector<LifecycleRow>& lifecycle_rows() {
  static const std::vector<LifecycleRow> rows = collect_rows();
  return rows;
}

std::vector<CommandKind> allowed_commands(Stage stage, const GuardFacts& facts) {
  std::vector<CommandKind> out;
  for (int k = 0; k < kCommandKindCount; ++k) {
    auto kind = static_cast<CommandKind>(k);
    if (kind == CommandKind::kRegister || kind == CommandKind::kComment) continue;
    if (run_machine(stage, kind, facts)) out.push_back(kind);
  }
  out.push_back(CommandKind::kComment);
  return out;
}

Result<Stage> lifecycle_step(Stage from, CommandKind command, const GuardFacts& facts) {
  if (command == CommandKind::kRegister) {
    return Status::InvalidArgument("register creates an appeal and is not a lifecycle transition");
  }
  if (command == CommandKind::kComment) return from;
  if (auto to = run_machine(from, command, facts)) return *to;

  std::string refused_by;
  for (const auto& row : lifecycle_rows()) {
    if (row.from == from && row.command == command && !row.guard.empty()) {
      refused_by += (refused_by.empty() ? "" : "; ") + std::string(row.guard);
    }
  }
  std::string msg = std::string(to_string(command)) + " is not allowed in stage " + std::string(to_string(from)) +
                    " for a " + std::string(to_string(facts.category));
  if (!refused_by.empty()) msg += " (requires: " + refused_by + ")";
  msg += "; allowed now: " + join_commands(allowed_commands(from, facts));
  return Status::FailedPrecondition(std::move(msg));
}

std::string describe_lifecycle_text() {
  std::string out =
      "Appeal lifecycle (Boost.MSM transition table, engine/lifecycle.cc)\n"
      "  register creates an appeal in stage " +
      std::string(to_string(initial_stage())) +
      "; comment is allowed in every stage and changes nothing.\n\n";
  out += pad("from", 22) + pad("command", 26) + pad("to", 22) + "guard\n";
  for (const auto& r : lifecycle_rows()) {
    out += pad(to_string(r.from), 22) + pad(to_string(r.command), 26) +
           pad(r.to ? to_string(*r.to) : std::string_view("(stays)"), 22) + std::string(r.guard) + "\n";
  }
  return out;
}

std::string lifecycle_mermaid() {
  std::string out = "stateDiagram-v2\n    [*] --> " + std::string(to_string(initial_stage())) + ": register\n";
  for (const auto& r : lifecycle_rows()) {
    if (!r.to) continue;
    out += "    " + std::string(to_string(r.from)) + " --> " + std::string(to_string(*r.to)) + ": " +
           std::string(to_string(r.command));
    if (!r.guard.empty()) out += " [" + std::string(r.guard) + "]";
    out += "\n";
  }
  for (int s = 0; s < kStageCount; ++s) {
    std::string internal;
    for (const auto& r : lifecycle_rows()) {
      if (!r.to && static_cast<int>(r.from) == s) {
        internal += (internal.empty() ? "" : ", ") + std::string(to_string(r.command));
        if (!r.guard.empty()) internal += " [" + std::string(r.guard) + "]";
      }
    }
    if (!internal.empty()) {
      out += "    note right of " + std::string(kStageNames[s]) + ": stays on " + internal + "\n";
    }
  }
  out += "    closed --> [*]\n";
  return out;
}

}  // namespace otinish::engine
