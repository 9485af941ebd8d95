// Golden scenarios from the seeds (shared/seeds/): each test is one story a 109 centre lives every day.
#include <gtest/gtest.h>

#include "tests/engine/test_city.h"

namespace otinish::engine {
namespace {

using testing::TestCity;

// Shymkent, March: 19,473 of 27,347 appeals were solved within the first call (seed 004).
TEST(GoldenScenario, FirstContactConsultationIsClosedAtOnce) {
  TestCity city;
  auto id = city.reg(Category::kConsultation, "reference.address");
  EXPECT_EQ(city.run(id, AnswerOnFirstContact{"the public service centre is at Tauke khan ave 31"}, "operator"),
            Stage::kClosed);
  auto s = city.engine().load(id);
  EXPECT_EQ(s->version, 2u);
  EXPECT_EQ(s->outcome, Outcome::kExplained);
  EXPECT_EQ(s->closed_at, s->registered_at);
}

// A lift complaint (seed 000: lifts, condominium boards): resolved, the callback finds the applicant unsatisfied,
// the complaint is reopened, reassigned, resolved again, and closed after a satisfied callback.
TEST(GoldenScenario, ComplaintReopenedAfterUnsatisfiedCallback) {
  TestCity city;
  auto id = city.reg(Category::kComplaint, "lifts.broken");
  city.run(id, SendForReview{}, "operator");
  city.run(id, Assign{}, "inspector");
  city.run(id, Accept{}, "agency");
  city.run(id, StartWork{}, "agency");
  city.run(id, Resolve{Outcome::kDone, "the lift was repaired"}, "agency");
  auto premature = city.engine().execute(id, Close{}, city.meta());
  EXPECT_EQ(premature.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(premature.status().message().find("a complaint needs the callback"), std::string::npos);
  EXPECT_EQ(city.run(id, RecordCallback{false, "the lift stops between floors again"}, "operator"),
            Stage::kVerified);
  EXPECT_EQ(city.run(id, Reopen{"applicant not satisfied"}), Stage::kReopened);
  EXPECT_EQ(city.run(id, Assign{"housing-dept"}, "inspector"), Stage::kAssigned);
  city.run(id, Accept{}, "agency");
  city.run(id, StartWork{}, "agency");
  city.run(id, Resolve{Outcome::kDone, "the lift's control unit was replaced"}, "agency");
  city.run(id, RecordCallback{true, "works now"}, "operator");
  EXPECT_EQ(city.run(id, Close{}), Stage::kClosed);
  auto s = city.engine().load(id);
  EXPECT_EQ(s->reopen_count, 1);
  EXPECT_EQ(s->callback_satisfied, true);
}

// An appeal outside the first agency's competence is redirected (APC: within 3 working days).
TEST(GoldenScenario, RedirectToTheCompetentAgency) {
  TestCity city;
  auto id = city.reg(Category::kIncident, "utilities.heating.no_heat");
  city.run(id, SendForReview{}, "operator");
  city.run(id, Assign{"housing-dept"}, "inspector");
  city.run(id, Accept{}, "agency");
  EXPECT_EQ(city.run(id, Redirect{"heat-networks", "heating mains belong to the heat networks company"}, "agency"),
            Stage::kAssigned);
  auto same = city.engine().execute(id, Redirect{"heat-networks", "again"}, city.meta());
  EXPECT_EQ(same.status().code(), StatusCode::kInvalidArgument);
  auto s = city.engine().load(id);
  EXPECT_EQ(s->agency, "heat-networks");
  EXPECT_EQ(s->redirect_count, 1);
  city.run(id, Accept{}, "agency");
  city.run(id, StartWork{}, "agency");
  city.run(id, Hold{"waiting for access to the basement"}, "agency");
  city.run(id, Resume{"access given"}, "agency");
  EXPECT_EQ(city.run(id, Resolve{Outcome::kDone, "valve replaced"}, "agency"), Stage::kResolved);
  EXPECT_EQ(city.run(id, Close{}), Stage::kClosed);
}

// A mass incident: fifty residents call about the same flooded street; every appeal is merged into one parent,
// and the parent's resolution reaches every child and every applicant.
TEST(GoldenScenario, MassIncidentWithFiftyChildren) {
  TestCity city;
  auto parent = city.reg(Category::kIncident, "roads.manhole_open");
  city.run(parent, Assign{}, "inspector");
  std::vector<std::string> children;
  for (int i = 0; i < 50; ++i) {
    auto child = city.reg(Category::kIncident, "roads.manhole_open", "+7 701 100 " + std::to_string(1000 + i));
    EXPECT_EQ(city.run(child, MergeInto{parent, "same manhole"}, "inspector"), Stage::kMerged);
    children.push_back(child);
  }
  EXPECT_EQ(city.engine().load(parent)->children.size(), 50u);
  city.run(parent, Accept{}, "agency");
  city.run(parent, StartWork{}, "agency");
  city.run(parent, Resolve{Outcome::kDone, "the manhole was covered"}, "agency");
  for (const auto& c : children) {
    auto s = city.engine().load(c);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->stage, Stage::kResolved) << c;
    EXPECT_EQ(s->outcome, Outcome::kDone);
    EXPECT_EQ(s->result, "the manhole was covered");
    EXPECT_EQ(city.run(c, Close{}), Stage::kClosed);
  }
  // A late duplicate of an already resolved parent receives the resolution at once.
  auto late = city.reg(Category::kIncident, "roads.manhole_open");
  city.run(late, MergeInto{parent, "same manhole"}, "inspector");
  EXPECT_EQ(city.engine().load(late)->stage, Stage::kResolved);
}

TEST(GoldenScenario, MergeIntoAMergedOrClosedParentIsRefused) {
  TestCity city;
  auto parent = city.reg(Category::kIncident, "roads.manhole_open");
  auto child = city.reg(Category::kIncident, "roads.manhole_open");
  auto third = city.reg(Category::kIncident, "roads.manhole_open");
  city.run(child, MergeInto{parent, "dup"});
  EXPECT_EQ(city.engine().execute(third, MergeInto{child, "dup"}, city.meta()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(city.engine().execute(third, MergeInto{"SHY-2026-0000077", "dup"}, city.meta()).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(city.engine().load(third)->stage, Stage::kRegistered);
}

}  // namespace
}  // namespace otinish::engine
