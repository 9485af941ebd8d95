#include "engine/commands.h"

#include "engine/privacy/redact.h"

namespace otinish::engine {
namespace {

constexpr CommandKind kKinds[] = {
    CommandKind::kAnswerOnFirstContact, CommandKind::kClassify,       CommandKind::kReclassify,
    CommandKind::kSendForReview,        CommandKind::kReturnToOperator, CommandKind::kAssign,
    CommandKind::kRedirect,             CommandKind::kAccept,         CommandKind::kStartWork,
    CommandKind::kHold,                 CommandKind::kResume,         CommandKind::kRequestExtension,
    CommandKind::kGrantExtension,       CommandKind::kResolve,        CommandKind::kRecordCallback,
    CommandKind::kClose,                CommandKind::kReopen,         CommandKind::kMerge,
    CommandKind::kComment,              CommandKind::kApplyParentResolution};
static_assert(std::size(kKinds) == std::variant_size_v<Command>);

Status require(bool ok, const AppealState& s, std::string_view what) {
  if (ok) return Status::Ok();
  return Status::InvalidArgument("appeal " + s.id + ": " + std::string(what));
}

struct Classification {
  Category category;
  std::string topic;
  Priority priority;
  bool dangerous;
};

// Checks the topic against the catalogue and picks the priority.
Result<Classification> classify(Category category, const std::string& topic, std::optional<Priority> priority,
                                const DecideContext& ctx, std::string_view where) {
  if (topic.empty()) return Status::InvalidArgument(std::string(where) + ": a topic is required");
  bool dangerous = false;
  if (ctx.catalogue) {
    const Topic* t = ctx.catalogue->find(topic);
    if (!t) {
      return Status::InvalidArgument(std::string(where) + ": topic '" + topic +
                                     "' is not in the catalogue; use a topic code from the catalogue");
    }
    dangerous = t->dangerous;
  }
  Priority p = priority.value_or(dangerous && category == Category::kIncident ? Priority::kCritical
                                                                              : Priority::kNormal);
  return Classification{category, topic, p, dangerous};
}

// Decides one command; `facts` already holds the state's facts and the command's own.
class Decider {
 public:
  Decider(const AppealState& s, const DecideContext& ctx) : s_(s), ctx_(ctx), facts_(guard_facts(s)) {}

  Result<std::vector<AppealEvent>> operator()(const AnswerOnFirstContact& c) {
    OTINISH_RETURN_IF_ERROR(require(!c.answer.empty(), s_, "answer on first contact needs the answer given"));
    return one(CommandKind::kAnswerOnFirstContact, AppealAnsweredOnFirstContact{c.answer});
  }
  Result<std::vector<AppealEvent>> operator()(const Classify& c) { return reclass(c, false); }
  Result<std::vector<AppealEvent>> operator()(const Reclassify& c) { return reclass(c, true); }
  Result<std::vector<AppealEvent>> operator()(const SendForReview&) {
    return one(CommandKind::kSendForReview, AppealSentForReview{});
  }
  Result<std::vector<AppealEvent>> operator()(const ReturnToOperator& c) {
    OTINISH_RETURN_IF_ERROR(require(!c.reason.empty(), s_, "return to operator needs a reason"));
    return one(CommandKind::kReturnToOperator, AppealReturnedToOperator{c.reason});
  }
  Result<std::vector<AppealEvent>> operator()(const Assign& c) {
    std::string agency = c.agency;
    if (agency.empty() && ctx_.catalogue) {
      if (const Topic* t = ctx_.catalogue->find(s_.topic)) agency = t->default_agency;
    }
    OTINISH_RETURN_IF_ERROR(
        require(!agency.empty(), s_, "assign needs an agency (the topic '" + s_.topic + "' names no default)"));
    OTINISH_ASSIGN_OR_RETURN(Stage to, lifecycle_step(s_.stage, CommandKind::kAssign, facts_));
    return events(AppealEvent{s_.stage, to, AppealAssigned{agency, to == Stage::kClosed}});
  }
  Result<std::vector<AppealEvent>> operator()(const Redirect& c) {
    OTINISH_RETURN_IF_ERROR(require(!c.agency.empty() && !c.reason.empty(), s_,
                                    "redirect needs the competent agency and the reason"));
    OTINISH_RETURN_IF_ERROR(require(c.agency != s_.agency, s_,
                                    "redirect to '" + c.agency + "', the agency it is already assigned to"));
    return one(CommandKind::kRedirect, AppealRedirected{s_.agency, c.agency, c.reason});
  }
  Result<std::vector<AppealEvent>> operator()(const Accept&) {
    return one(CommandKind::kAccept, AppealAccepted{s_.agency});
  }
  Result<std::vector<AppealEvent>> operator()(const StartWork&) {
    return one(CommandKind::kStartWork, AppealWorkStarted{});
  }
  Result<std::vector<AppealEvent>> operator()(const Hold& c) {
    OTINISH_RETURN_IF_ERROR(require(!c.reason.empty(), s_, "hold needs a reason"));
    return one(CommandKind::kHold, AppealPutOnHold{c.reason});
  }
  Result<std::vector<AppealEvent>> operator()(const Resume& c) {
    return one(CommandKind::kResume, AppealResumed{c.reason});
  }
  Result<std::vector<AppealEvent>> operator()(const RequestExtension& c) {
    OTINISH_RETURN_IF_ERROR(require(!c.reason.empty(), s_, "an extension request needs a reason"));
    OTINISH_RETURN_IF_ERROR(require(c.new_deadline > ctx_.now, s_,
                                    "the requested deadline " + format_utc(c.new_deadline) + " is not in the future"));
    Timestamp cap = extension_cap(s_.registered_at);
    OTINISH_RETURN_IF_ERROR(require(c.new_deadline <= cap, s_,
                                    "the requested deadline " + format_utc(c.new_deadline) +
                                        " is past the two-month cap " + format_utc(cap) +
                                        " (registration + 2 months, APC art. 76)"));
    return one(CommandKind::kRequestExtension, AppealExtensionRequested{c.new_deadline, c.reason});
  }
  Result<std::vector<AppealEvent>> operator()(const GrantExtension& c) {
    OTINISH_RETURN_IF_ERROR(require(!c.reason.empty(), s_, "granting an extension needs the head's reasoned decision"));
    OTINISH_ASSIGN_OR_RETURN(Stage to, lifecycle_step(s_.stage, CommandKind::kGrantExtension, facts_));
    Timestamp cap = extension_cap(s_.registered_at);
    Timestamp deadline = *s_.requested_deadline;  // the guard ensured a request is pending
    OTINISH_RETURN_IF_ERROR(require(deadline <= cap, s_, "the requested deadline is past the two-month cap " +
                                                             format_utc(cap)));
    return events(AppealEvent{s_.stage, to, AppealExtensionGranted{deadline, cap, c.reason}});
  }
  Result<std::vector<AppealEvent>> operator()(const Resolve& c) {
    facts_.outcome = c.outcome;
    facts_.has_reason = !c.result.empty();
    OTINISH_RETURN_IF_ERROR(require(!c.result.empty(), s_, "resolve needs the result (what was done, with reasons)"));
    return one(CommandKind::kResolve, AppealResolved{c.outcome, c.result, ""});
  }
  Result<std::vector<AppealEvent>> operator()(const RecordCallback& c) {
    return one(CommandKind::kRecordCallback, AppealCallbackRecorded{c.satisfied, c.note});
  }
  Result<std::vector<AppealEvent>> operator()(const Close&) { return one(CommandKind::kClose, AppealClosed{}); }
  Result<std::vector<AppealEvent>> operator()(const Reopen& c) {
    OTINISH_RETURN_IF_ERROR(require(!c.reason.empty(), s_, "reopen needs a reason"));
    return one(CommandKind::kReopen, AppealReopened{c.reason});
  }
  Result<std::vector<AppealEvent>> operator()(const MergeInto& c) {
    OTINISH_RETURN_IF_ERROR(require(!c.parent.empty(), s_, "merge needs the parent appeal"));
    OTINISH_RETURN_IF_ERROR(require(c.parent != s_.id, s_, "an appeal cannot be merged into itself"));
    OTINISH_RETURN_IF_ERROR(require(s_.children.empty(), s_,
                                    "has merged children of its own; merge them into the new parent first"));
    return one(CommandKind::kMerge, AppealMerged{c.parent, c.reason});
  }
  Result<std::vector<AppealEvent>> operator()(const Comment& c) {
    OTINISH_RETURN_IF_ERROR(require(!c.text.empty(), s_, "a comment needs text"));
    return one(CommandKind::kComment, AppealCommented{c.text});
  }
  Result<std::vector<AppealEvent>> operator()(const ApplyParentResolution& c) {
    OTINISH_RETURN_IF_ERROR(require(c.parent == s_.parent, s_,
                                    "is not merged into '" + c.parent + "' (its parent is '" + s_.parent + "')"));
    return one(CommandKind::kApplyParentResolution, AppealResolved{c.outcome, c.result, c.parent});
  }

 private:
  template <typename C>
  Result<std::vector<AppealEvent>> reclass(const C& c, bool re) {
    OTINISH_ASSIGN_OR_RETURN(auto cls, classify(c.category, c.topic, c.priority, ctx_, "appeal " + s_.id));
    OTINISH_ASSIGN_OR_RETURN(Stage to, lifecycle_step(s_.stage, re ? CommandKind::kReclassify : CommandKind::kClassify,
                                                      facts_));
    return events(
        AppealEvent{s_.stage, to, AppealClassified{cls.category, cls.topic, cls.priority, cls.dangerous, re, c.reason}});
  }

  Result<std::vector<AppealEvent>> one(CommandKind kind, EventBody body) {
    OTINISH_ASSIGN_OR_RETURN(Stage to, lifecycle_step(s_.stage, kind, facts_));
    return events(AppealEvent{s_.stage, to, std::move(body)});
  }
  static Result<std::vector<AppealEvent>> events(AppealEvent e) {
    std::vector<AppealEvent> v;
    v.push_back(std::move(e));
    return v;
  }

  const AppealState& s_;
  const DecideContext& ctx_;
  GuardFacts facts_;
};

}  // namespace

CommandKind kind_of(const Command& c) noexcept { return kKinds[c.index()]; }

namespace {

// Every free-text field of an event through redact_personal_data (engine/privacy/redact.h): what a desk or an
// agency typed is written in plain bytes forever.
struct FreeTextRedactor {
  const std::function<const Applicant*()>& applicant;
  void r(std::string& s) const {
    if (s.empty()) return;
    const Applicant* a = applicant ? applicant() : nullptr;
    s = a ? privacy::redact_personal_data(s, *a) : privacy::redact_personal_data(s);
  }
  void operator()(AppealAnsweredOnFirstContact& e) const { r(e.answer); }
  void operator()(AppealClassified& e) const { r(e.reason); }
  void operator()(AppealReturnedToOperator& e) const { r(e.reason); }
  void operator()(AppealRedirected& e) const { r(e.reason); }
  void operator()(AppealPutOnHold& e) const { r(e.reason); }
  void operator()(AppealResumed& e) const { r(e.reason); }
  void operator()(AppealExtensionRequested& e) const { r(e.reason); }
  void operator()(AppealExtensionGranted& e) const { r(e.reason); }
  void operator()(AppealResolved& e) const { r(e.result); }
  void operator()(AppealCallbackRecorded& e) const { r(e.note); }
  void operator()(AppealReopened& e) const { r(e.reason); }
  void operator()(AppealMerged& e) const { r(e.reason); }
  void operator()(AppealCommented& e) const { r(e.text); }
  template <class T>
  void operator()(T&) const {}
};

void redact_free_text(AppealEvent& e, const std::function<const Applicant*()>& applicant) {
  std::visit(FreeTextRedactor{applicant}, e.body);
}

}  // namespace

Result<std::vector<AppealEvent>> decide(const AppealState& state, const Command& command,
                                        const DecideContext& context) {
  if (!state.exists) return Status::NotFound("appeal " + state.id + " does not exist; register it first");
  // The stage is checked before the command's own fields: "not now" is the more useful answer.
  GuardFacts facts = guard_facts(state);
  if (const auto* r = std::get_if<Resolve>(&command)) {
    facts.outcome = r->outcome;
    facts.has_reason = !r->result.empty();
  }
  OTINISH_RETURN_IF_ERROR(lifecycle_step(state.stage, kind_of(command), facts).status());
  OTINISH_ASSIGN_OR_RETURN(std::vector<AppealEvent> events, std::visit(Decider(state, context), command));
  for (AppealEvent& e : events) redact_free_text(e, context.applicant);
  return events;
}

Result<AppealEvent> decide_register(const RegisterAppeal& c, const AppealId& id, const DecideContext& context,
                                    const ApplicantSealer& sealer) {
  std::string where = "registering " + id.to_string();
  if (c.text.empty()) return Status::InvalidArgument(where + ": the appeal's text is required");
  OTINISH_ASSIGN_OR_RETURN(auto cls, classify(c.category, c.topic, c.priority, context, where));
  // Free text is written in plain bytes and never forgotten: the applicant's own data and anything that looks
  // like a phone or flat number are taken out; the text as given is sealed with the applicant.
  Applicant applicant = c.applicant;
  applicant.original_text.clear();
  std::string text = privacy::redact_personal_data(c.text, c.applicant);
  if (text != c.text) applicant.original_text = c.text;
  OTINISH_ASSIGN_OR_RETURN(SealedApplicant sealed, sealer.seal(applicant, id.to_string()));
  AppealRegistered e;
  e.appeal_id = id.to_string();
  e.category = cls.category;
  e.topic = cls.topic;
  e.priority = cls.priority;
  e.channel = c.channel;
  e.location = c.location;
  e.location.street = privacy::redact_personal_data(c.location.street);
  e.text = std::move(text);
  e.dangerous_topic = cls.dangerous;
  e.applicant = std::move(sealed);
  return AppealEvent{initial_stage(), initial_stage(), std::move(e)};
}

}  // namespace otinish::engine
