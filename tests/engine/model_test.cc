// Model-based property test: random command sequences over many appeals, on the real store, with live views.
// Invariants:
//   1. every stage change recorded in the log is a row of the lifecycle table (no forbidden state is reached);
//   2. each stream's stages chain (an event's `from` is the previous event's `to`);
//   3. the engine accepts a lifecycle command exactly when the table (on the model's state) allows it;
//   4. every live projection equals a rebuild from position 0;
//   5. no view (the public feed above all) contains an applicant's name, phone or address.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "engine/views.h"
#include "tests/engine/test_city.h"

namespace otinish::engine {
namespace {

using namespace std::chrono_literals;
using testing::TestCity;

// The command kind an event records (for checking against the table's rows).
CommandKind kind_of_event(const AppealEvent& e) {
  return std::visit(
      [](const auto& b) -> CommandKind {
        using B = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<B, AppealRegistered>) return CommandKind::kRegister;
        else if constexpr (std::is_same_v<B, AppealAnsweredOnFirstContact>) return CommandKind::kAnswerOnFirstContact;
        else if constexpr (std::is_same_v<B, AppealClassified>)
          return b.reclassification ? CommandKind::kReclassify : CommandKind::kClassify;
        else if constexpr (std::is_same_v<B, AppealSentForReview>) return CommandKind::kSendForReview;
        else if constexpr (std::is_same_v<B, AppealReturnedToOperator>) return CommandKind::kReturnToOperator;
        else if constexpr (std::is_same_v<B, AppealAssigned>) return CommandKind::kAssign;
        else if constexpr (std::is_same_v<B, AppealRedirected>) return CommandKind::kRedirect;
        else if constexpr (std::is_same_v<B, AppealAccepted>) return CommandKind::kAccept;
        else if constexpr (std::is_same_v<B, AppealWorkStarted>) return CommandKind::kStartWork;
        else if constexpr (std::is_same_v<B, AppealPutOnHold>) return CommandKind::kHold;
        else if constexpr (std::is_same_v<B, AppealResumed>) return CommandKind::kResume;
        else if constexpr (std::is_same_v<B, AppealExtensionRequested>) return CommandKind::kRequestExtension;
        else if constexpr (std::is_same_v<B, AppealExtensionGranted>) return CommandKind::kGrantExtension;
        else if constexpr (std::is_same_v<B, AppealResolved>)
          return b.via_parent.empty() ? CommandKind::kResolve : CommandKind::kApplyParentResolution;
        else if constexpr (std::is_same_v<B, AppealCallbackRecorded>) return CommandKind::kRecordCallback;
        else if constexpr (std::is_same_v<B, AppealClosed>) return CommandKind::kClose;
        else if constexpr (std::is_same_v<B, AppealReopened>) return CommandKind::kReopen;
        else if constexpr (std::is_same_v<B, AppealMerged>) return CommandKind::kMerge;
        else return CommandKind::kComment;  // comments and child attachments change nothing
      },
      e.body);
}

bool is_table_row(Stage from, CommandKind kind, Stage to) {
  if (kind == CommandKind::kComment) return from == to;
  if (kind == CommandKind::kRegister) return from == initial_stage() && to == initial_stage();
  for (const auto& r : lifecycle_rows()) {
    if (r.from == from && r.command == kind && r.to.value_or(from) == to) return true;
  }
  return false;
}

const char* const kTopics[] = {"reference.address", "lifts.broken", "roads.manhole_open",
                               "utilities.heating.no_heat", "transport.route", "gratitude.general"};
const char* const kAgencies[] = {"housing-dept", "city-roads", "heat-networks", "akimat"};

// One random step: which appeal, which command, and a few parameters.
struct Step {
  int appeal = 0;
  int kind = 0;  // index into the Command variant, or -1 for a registration
  int param = 0;
};

Command make_command(const Step& s, const std::vector<std::string>& ids, Timestamp now) {
  const std::string agency = kAgencies[s.param % 4];
  const std::string other = ids.empty() ? "SHY-2026-0000001" : ids[s.param % ids.size()];
  switch (s.kind) {
    case 0: return AnswerOnFirstContact{"answer"};
    case 1: return Classify{static_cast<Category>(s.param % 5), kTopics[s.param % 6], {}, "check"};
    case 2: return Reclassify{static_cast<Category>(s.param % 5), kTopics[s.param % 6], {}, "recheck"};
    case 3: return SendForReview{};
    case 4: return ReturnToOperator{"incomplete"};
    case 5: return Assign{s.param % 3 == 0 ? std::string() : agency};
    case 6: return Redirect{agency, "competence"};
    case 7: return Accept{};
    case 8: return StartWork{};
    case 9: return Hold{"waiting"};
    case 10: return Resume{"back"};
    case 11: return RequestExtension{now + std::chrono::hours(24 * (1 + s.param % 70)), "parts"};
    case 12: return GrantExtension{"head agreed"};
    case 13: return Resolve{static_cast<Outcome>(1 + s.param % 5), s.param % 7 == 0 ? "" : "result"};
    case 14: return RecordCallback{s.param % 2 == 0, ""};
    case 15: return Close{};
    case 16: return Reopen{"unsatisfied"};
    case 17: return MergeInto{other, "duplicate"};
    default: return Comment{"note"};
  }
}

void showValue(const Step& s, std::ostream& os) {
  os << "{appeal " << s.appeal << ", kind " << s.kind << ", param " << s.param << "}";
}

TEST(EngineModel, RandomHistoriesKeepTheInvariants) {
  // Each case runs on a real, synced log: 30 cases of up to 60 commands keep the suite fast. Raise it with
  // RC_PARAMS="max_success=1000" for a long run.
  setenv("RC_PARAMS", "max_success=30", /*overwrite=*/0);
  const auto ok = rc::check("random command sequences keep every invariant", [] {
    const auto steps = *rc::gen::container<std::vector<Step>>(
        *rc::gen::inRange(5, 80),
        rc::gen::build<Step>(rc::gen::set(&Step::appeal, rc::gen::inRange(0, 5)),
                             rc::gen::set(&Step::kind, rc::gen::inRange(-1, 19)),
                             rc::gen::set(&Step::param, rc::gen::inRange(0, 1000))));
    TestCity city;
    auto runner = std::move(ProjectionRunner::open(city.store(), city.dir() + "/views", standard_projections(),
                                                   RunnerOptions{.live_batch_events = 5}))
                      .value();
    RC_ASSERT(runner->start().ok());
    std::vector<std::string> ids;
    std::set<std::string> pii;
    int n = 0;
    for (const auto& s : steps) {
      city.clock().advance(37min);
      if (s.kind < 0 || ids.empty()) {
        RegisterAppeal r;
        r.centre = "SHY";
        r.topic = kTopics[s.param % 6];
        r.category = static_cast<Category>(s.param % 5);
        r.text = "text";
        r.location = {"Abay", "Tauke khan ave"};
        r.applicant = {"NAME" + std::to_string(n), "+7 701 " + std::to_string(1000000 + n), "ADDR" + std::to_string(n)};
        pii.insert(r.applicant.name);
        pii.insert(r.applicant.address);
        pii.insert(normalise_phone(r.applicant.phone));
        ++n;
        auto res = city.engine().register_appeal(r, city.meta());
        RC_ASSERT(res.ok());
        ids.push_back(res->appeal_id);
        continue;
      }
      const std::string& id = ids[s.appeal % ids.size()];
      auto before = city.engine().load(id);
      RC_ASSERT(before.ok());
      // Three steps in four pick a command the stage allows, so that histories get deep (resolved, reopened,
      // merged); the fourth is anything at all.
      Step steered = s;
      if (s.param % 4 != 0) {
        auto allowed = allowed_commands(before->stage, guard_facts(*before));
        CommandKind want = allowed[(s.param / 4) % allowed.size()];
        for (int i = 0; i < 19; ++i) {
          if (kind_of(make_command({0, i, 0}, ids, city.clock().now())) == want) steered.kind = i;
        }
      }
      Command c = make_command(steered, ids, city.clock().now());
      auto res = city.engine().execute(id, c, city.meta());
      // Invariant 3: a refusal by the table is exactly a FailedPrecondition naming the stage.
      const CommandKind kind = kind_of(c);
      GuardFacts facts = guard_facts(*before);
      if (const auto* r = std::get_if<Resolve>(&c)) {
        facts.outcome = r->outcome;
        facts.has_reason = !r->result.empty();
      }
      const bool table_allows = lifecycle_step(before->stage, kind, facts).ok();
      if (!table_allows) {
        RC_ASSERT(!res.ok());
        RC_ASSERT(res.status().code() == StatusCode::kFailedPrecondition);
        RC_ASSERT(res.status().message().find(std::string(to_string(before->stage))) != std::string::npos);
      } else if (res.ok()) {
        RC_ASSERT(res->stage == *lifecycle_step(before->stage, kind, facts) || kind == CommandKind::kMerge ||
                  res->stage == city.engine().load(id)->stage);
      } else {
        // Allowed by the table but refused on the command's own fields or the other appeal (merge target).
        RC_ASSERT(res.status().code() != StatusCode::kInternal && res.status().code() != StatusCode::kCorruption);
      }
    }
    // Invariants 1 and 2 over the whole log.
    std::map<std::string, Stage> last;
    auto scanned = city.store().scan(1, ~0ull, [&](const store::RecordedEvent& e) {
      if (!std::string_view(e.stream).starts_with(kAppealStreamPrefix)) return true;
      auto ev = decode_event(e.type, e.schema_version, e.payload);
      RC_ASSERT(ev.ok());
      RC_ASSERT(is_table_row(ev->from, kind_of_event(*ev), ev->to));
      if (auto it = last.find(e.stream); it != last.end()) RC_ASSERT(it->second == ev->from);
      last[e.stream] = ev->to;
      return true;
    });
    RC_ASSERT(scanned.ok());
    RC_TAG(std::count_if(last.begin(), last.end(), [](const auto& kv) {
             return kv.second == Stage::kResolved || kv.second == Stage::kVerified || kv.second == Stage::kClosed;
           }) > 0
               ? "some appeal resolved or closed"
               : "none resolved");
    // Invariant 4: live == rebuild from 0; invariant 5: no PII anywhere in the views.
    RC_ASSERT(runner->wait_for(city.store().head_position(), 10s));
    for (const auto* name : {"appeals", "timeline", "public", "scorecards", "repeats"}) {
      auto live = dump_view(*std::move(runner->reader(name)).value());
      RC_ASSERT(live.ok());
      for (const auto& [k, v] : *live) {
        for (const auto& p : pii) {
          RC_ASSERT(k.find(p) == std::string::npos);
          RC_ASSERT(v.find(p) == std::string::npos);
        }
      }
      auto report = runner->rebuild(name);
      RC_ASSERT(report.ok());
      auto rebuilt = dump_view(*std::move(runner->reader(name)).value());
      RC_ASSERT(*live == *rebuilt);
    }
  });
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace otinish::engine
