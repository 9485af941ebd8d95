#include "engine/lifecycle.h"

#include <set>

#include <gtest/gtest.h>

namespace otinish::engine {
namespace {

GuardFacts facts(Category c) {
  GuardFacts f;
  f.category = c;
  return f;
}

TEST(Lifecycle, FirstContactClosesAConsultationAtOnce) {
  auto to = lifecycle_step(Stage::kRegistered, CommandKind::kAnswerOnFirstContact, facts(Category::kConsultation));
  ASSERT_TRUE(to.ok()) << to.status().ToString();
  EXPECT_EQ(*to, Stage::kClosed);
}

TEST(Lifecycle, FirstContactAnswerIsRefusedForAComplaintNamingStageAndAllowedCommands) {
  auto to = lifecycle_step(Stage::kRegistered, CommandKind::kAnswerOnFirstContact, facts(Category::kComplaint));
  ASSERT_FALSE(to.ok());
  EXPECT_EQ(to.status().code(), StatusCode::kFailedPrecondition);
  const auto& m = to.status().message();
  EXPECT_NE(m.find("stage registered"), std::string::npos) << m;
  EXPECT_NE(m.find("category is consultation"), std::string::npos) << m;
  EXPECT_NE(m.find("allowed now: classify, send_for_review, merge, comment"), std::string::npos) << m;
}

TEST(Lifecycle, GratitudeIsForwardedAndClosedAtAssignment) {
  auto to = lifecycle_step(Stage::kUnderReview, CommandKind::kAssign, facts(Category::kGratitude));
  ASSERT_TRUE(to.ok());
  EXPECT_EQ(*to, Stage::kClosed);
  auto other = lifecycle_step(Stage::kUnderReview, CommandKind::kAssign, facts(Category::kComplaint));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*other, Stage::kAssigned);
}

TEST(Lifecycle, CriticalIncidentSkipsReview) {
  GuardFacts f = facts(Category::kIncident);
  EXPECT_FALSE(lifecycle_step(Stage::kRegistered, CommandKind::kAssign, f).ok());
  f.dangerous_topic = true;
  EXPECT_EQ(*lifecycle_step(Stage::kRegistered, CommandKind::kAssign, f), Stage::kAssigned);
  f.dangerous_topic = false;
  f.priority = Priority::kCritical;
  EXPECT_EQ(*lifecycle_step(Stage::kRegistered, CommandKind::kAssign, f), Stage::kAssigned);
}

TEST(Lifecycle, ProposalResolvesOnlyAcceptedOrDeclinedWithReason) {
  GuardFacts f = facts(Category::kProposal);
  f.outcome = Outcome::kDone;
  f.has_reason = true;
  EXPECT_FALSE(lifecycle_step(Stage::kInProgress, CommandKind::kResolve, f).ok());
  f.outcome = Outcome::kProposalDeclined;
  f.has_reason = false;
  EXPECT_FALSE(lifecycle_step(Stage::kInProgress, CommandKind::kResolve, f).ok());
  f.has_reason = true;
  EXPECT_EQ(*lifecycle_step(Stage::kInProgress, CommandKind::kResolve, f), Stage::kResolved);
}

TEST(Lifecycle, ComplaintNeedsCallbackBeforeCloseAndMayBeReopened) {
  GuardFacts f = facts(Category::kComplaint);
  EXPECT_FALSE(lifecycle_step(Stage::kResolved, CommandKind::kClose, f).ok());
  EXPECT_EQ(*lifecycle_step(Stage::kResolved, CommandKind::kRecordCallback, f), Stage::kVerified);
  EXPECT_EQ(*lifecycle_step(Stage::kVerified, CommandKind::kReopen, f), Stage::kReopened);
  EXPECT_EQ(*lifecycle_step(Stage::kClosed, CommandKind::kReopen, f), Stage::kReopened);
  EXPECT_EQ(*lifecycle_step(Stage::kReopened, CommandKind::kAssign, f), Stage::kAssigned);
  EXPECT_FALSE(lifecycle_step(Stage::kClosed, CommandKind::kReopen, facts(Category::kConsultation)).ok());
  EXPECT_EQ(*lifecycle_step(Stage::kResolved, CommandKind::kClose, facts(Category::kIncident)), Stage::kClosed);
}

TEST(Lifecycle, InternalTransitionsKeepTheStage) {
  GuardFacts f = facts(Category::kComplaint);
  EXPECT_EQ(*lifecycle_step(Stage::kUnderReview, CommandKind::kClassify, f), Stage::kUnderReview);
  EXPECT_EQ(*lifecycle_step(Stage::kOnHold, CommandKind::kReclassify, f), Stage::kOnHold);
  EXPECT_EQ(*lifecycle_step(Stage::kClosed, CommandKind::kComment, f), Stage::kClosed);
  EXPECT_EQ(*lifecycle_step(Stage::kInProgress, CommandKind::kRequestExtension, f), Stage::kInProgress);
  f.extension_pending = true;
  EXPECT_FALSE(lifecycle_step(Stage::kInProgress, CommandKind::kRequestExtension, f).ok());
  EXPECT_TRUE(lifecycle_step(Stage::kInProgress, CommandKind::kGrantExtension, f).ok());
}

TEST(Lifecycle, AllowedCommandsAgreeWithStepForEveryStageCommandAndCategory) {
  for (int c = 0; c < 5; ++c) {
    for (int s = 0; s < kStageCount; ++s) {
      GuardFacts f = facts(static_cast<Category>(c));
      f.outcome = f.category == Category::kProposal ? Outcome::kProposalAccepted : Outcome::kDone;
      f.has_reason = true;
      auto allowed = allowed_commands(static_cast<Stage>(s), f);
      std::set<CommandKind> set(allowed.begin(), allowed.end());
      for (int k = 1; k < kCommandKindCount; ++k) {
        auto kind = static_cast<CommandKind>(k);
        EXPECT_EQ(lifecycle_step(static_cast<Stage>(s), kind, f).ok(), set.count(kind) == 1)
            << to_string(static_cast<Stage>(s)) << " " << to_string(kind);
      }
    }
  }
}

TEST(Lifecycle, RowsComeFromTheMachineAndEveryStageIsReachable) {
  const auto& rows = lifecycle_rows();
  EXPECT_EQ(rows.size(), 42u);
  std::set<Stage> reached{initial_stage()};
  for (const auto& r : rows) {
    if (r.to) reached.insert(*r.to);
  }
  EXPECT_EQ(reached.size(), static_cast<std::size_t>(kStageCount));
}

TEST(Lifecycle, DescriptionAndMermaidListEveryRow) {
  auto text = describe_lifecycle_text();
  auto mermaid = lifecycle_mermaid();
  EXPECT_NE(text.find("under_review          assign                    closed"), std::string::npos) << text;
  EXPECT_EQ(mermaid.rfind("stateDiagram-v2\n", 0), 0u);
  EXPECT_NE(mermaid.find("in_progress --> on_hold: hold"), std::string::npos) << mermaid;
  EXPECT_NE(mermaid.find("registered --> assigned: assign [incident on a dangerous topic"), std::string::npos);
}

TEST(Lifecycle, NamesRoundTrip) {
  for (int s = 0; s < kStageCount; ++s) {
    EXPECT_EQ(*parse_stage(to_string(static_cast<Stage>(s))), static_cast<Stage>(s));
  }
  for (int k = 0; k < kCommandKindCount; ++k) {
    EXPECT_EQ(*parse_command_kind(to_string(static_cast<CommandKind>(k))), static_cast<CommandKind>(k));
  }
  EXPECT_FALSE(parse_stage("done").ok());
}

}  // namespace
}  // namespace otinish::engine
