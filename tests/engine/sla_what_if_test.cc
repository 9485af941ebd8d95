// What-if: a candidate rule set over the recorded history, against hand-computed deadlines. From Wednesday
// 11 March 2026, 15 working days end on 6 April (Nauryz 23-25 March is off) and 10 working days on 30 March;
// the 75% rung is 11 working days (31 March) or 7 (20 March), at 18:00 local = 13:00Z.
#include <gtest/gtest.h>

#include "engine/what_if.h"
#include "tests/engine/sla_test_city.h"

namespace otinish::engine {
namespace {

using testing::golden_rules;
using testing::SlaCity;
using testing::utc;

std::string resolved_complaint(SlaCity& city, const std::string& registered, const std::string& resolved) {
  const std::string id = city.reg_at(registered, Category::kComplaint, "lifts.broken");
  city.run_at(registered.substr(0, 11) + "06:00:00Z", id, SendForReview{}, "operator");
  city.run_at(registered.substr(0, 11) + "07:00:00Z", id, Assign{}, "inspector");
  city.run_at(registered.substr(0, 11) + "08:00:00Z", id, Accept{}, "agency");
  city.run_at(registered.substr(0, 11) + "09:00:00Z", id, StartWork{}, "agency");
  city.run_at(resolved, id, Resolve{Outcome::kDone, "lift repaired"}, "agency");
  return id;
}

TEST(SlaWhatIf, StricterCandidateReportsAddedBreachesMovedDeadlinesAndEscalations) {
  SlaCity city;
  const std::string late = resolved_complaint(city, "2026-03-11T05:00:00Z", "2026-03-31T05:00:00Z");
  const std::string early = resolved_complaint(city, "2026-03-12T05:00:00Z", "2026-03-19T05:00:00Z");
  city.fire_at("2026-04-10T00:00:00Z");
  const auto head = city.store().head_position();

  auto cand = city.registry().candidate(golden_rules("10wd", "candidate"), "candidate.yaml");
  ASSERT_TRUE(cand.ok()) << cand.status().ToString();
  WhatIfOptions o;
  o.as_of = city.clock().now();
  o.threads = 4;  // the scan routes events to three decoding workers
  std::vector<std::string> phases;
  std::mutex mu;
  o.progress = [&](const WhatIfProgress& p) {
    std::lock_guard lock(mu);
    if (phases.empty() || phases.back() != p.phase) phases.emplace_back(p.phase);
  };
  auto r = simulate_what_if(city.store(), city.registry(), **cand, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(city.store().head_position(), head) << "what-if must not write the log";
  EXPECT_EQ(phases, (std::vector<std::string>{"read", "decide"}));

  EXPECT_EQ(r->appeals, 2u);
  EXPECT_EQ(r->errors, 0u) << r->first_error;
  EXPECT_EQ(r->total.breaches_before, 0u);
  EXPECT_EQ(r->total.breaches_added, 1u);  // `late`: resolved on 31 March, due 30 March on the candidate
  EXPECT_EQ(r->total.breaches_removed, 0u);
  EXPECT_EQ(r->by_category["complaint"].breaches_added, 1u);
  EXPECT_EQ(r->by_agency["housing-dept"].breaches_added, 1u);
  EXPECT_EQ(r->deadlines_moved, 2u);  // law.answer of both, earlier
  EXPECT_EQ(r->deadlines_earlier, 2u);
  EXPECT_EQ((r->escalations_added["law.answer 75% -> controller"]), 1u);  // 20 March, `late` still open
  EXPECT_EQ((r->escalations_added["law.answer breach -> head_of_agency"]), 1u);
  EXPECT_EQ(r->appeals_changed, 2u);
  EXPECT_NE(format_what_if(*r).find("complaint"), std::string::npos);

  // One thread (the scan folds inline, one decider) reports the same.
  o.threads = 1;
  auto single = simulate_what_if(city.store(), city.registry(), **cand, o);
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->total, r->total);
  EXPECT_EQ(single->escalations_added, r->escalations_added);
  EXPECT_EQ(single->deadlines_moved, r->deadlines_moved);

  // A window: only appeals registered from 12 March.
  o.from = utc("2026-03-12T00:00:00Z");
  auto w = simulate_what_if(city.store(), city.registry(), **cand, o);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->appeals, 1u);
  EXPECT_EQ(w->total.breaches_added, 0u);
  EXPECT_EQ(w->deadlines_moved, 1u);
  (void)late;
  (void)early;
}

TEST(SlaWhatIf, TheRulesInForceAsCandidateChangeNothing) {
  SlaCity city;
  resolved_complaint(city, "2026-03-11T05:00:00Z", "2026-03-31T05:00:00Z");
  city.fire_at("2026-04-10T00:00:00Z");
  auto cand = city.registry().candidate(golden_rules(), "same.yaml");
  ASSERT_TRUE(cand.ok());
  WhatIfOptions o;
  o.as_of = city.clock().now();
  auto r = simulate_what_if(city.store(), city.registry(), **cand, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->appeals, 1u);
  EXPECT_EQ(r->appeals_changed, 0u);
  EXPECT_EQ(r->deadlines_moved, 0u);
  EXPECT_TRUE(r->escalations_added.empty());
}

}  // namespace
}  // namespace otinish::engine
