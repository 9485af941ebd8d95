// What-if: a candidate rule set over the recorded history, against hand-computed deadlines. From Wednesday
// 11 March 2026, 15 working days end on 6 April (Nauryz 23-25 March is off) and 10 working days on 30 March;
// the 75% rung is 11 working days (31 March) or 7 (20 March), at 18:00 local = 13:00Z.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

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
  o.threads = 4;  // four scanners, each folding the appeals its stream hash picks
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

// `n` complaints written straight to the log (no service: every appeal is decided on the bundle in force at its
// registration), registered two hours apart from 2 March and resolved after 5 to 24 days (in time order: the
// store records times that never decrease).
void write_complaints(SlaCity& city, int n) {
  city.stop_service();
  auto appeal_id = [](int i) {
    char id[32];
    std::snprintf(id, sizeof id, "SHY-2026-%07d", i + 1);
    return std::string(id);
  };
  std::vector<std::pair<Timestamp, int>> resolutions;
  for (int i = 0; i < n; ++i) {
    AppealRegistered r;
    r.appeal_id = appeal_id(i);
    r.category = Category::kComplaint;
    r.topic = "lifts.broken";
    r.location = {"Abay", "Tauke khan ave"};
    r.text = "the lift is broken";
    r.applicant = *PlainApplicantSealer::instance().seal({"A", "+7 701 000 0000", "Abay 1"}, "");
    const std::string agency = i % 2 ? "housing-dept" : "akimat";
    const std::vector<store::EventData> opened{
        encode_event({Stage::kRegistered, Stage::kRegistered, r}),
        encode_event({Stage::kRegistered, Stage::kUnderReview, AppealSentForReview{}}),
        encode_event({Stage::kUnderReview, Stage::kAssigned, AppealAssigned{agency, false}}),
        encode_event({Stage::kAssigned, Stage::kAccepted, AppealAccepted{agency}}),
        encode_event({Stage::kAccepted, Stage::kInProgress, AppealWorkStarted{}})};
    city.clock().set(utc("2026-03-02T05:00:00Z") + std::chrono::hours(2 * i));
    ASSERT_TRUE(city.store().append(std::string(kAppealStreamPrefix) + r.appeal_id, store::ExpectedVersion::no_stream(),
                                    opened).ok());
    resolutions.emplace_back(city.clock().now() + std::chrono::hours(24 * (5 + i % 20)), i);
  }
  std::sort(resolutions.begin(), resolutions.end());
  const std::vector<store::EventData> resolved{
      encode_event({Stage::kInProgress, Stage::kResolved, AppealResolved{Outcome::kDone, "repaired", ""}})};
  for (const auto& [at, i] : resolutions) {
    city.clock().set(at);
    ASSERT_TRUE(city.store().append(std::string(kAppealStreamPrefix) + appeal_id(i), store::ExpectedVersion::exact(5),
                                    resolved).ok());
  }
  city.clock().set(utc("2026-06-01T00:00:00Z"));
}

TEST(SlaWhatIf, ReportDoesNotDependOnTheNumberOfThreads) {
  SlaCity city;
  write_complaints(city, 300);  // more than one deciding chunk (256 appeals)
  auto cand = city.registry().candidate(golden_rules("10wd", "candidate"), "candidate.yaml");
  ASSERT_TRUE(cand.ok()) << cand.status().ToString();
  WhatIfOptions o;
  o.as_of = city.clock().now();
  o.examples = 5;
  o.threads = 1;
  auto one = simulate_what_if(city.store(), city.registry(), **cand, o);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_EQ(one->appeals, 300u);
  ASSERT_GT(one->total.breaches_added, 0u) << format_what_if(*one);
  ASSERT_EQ(one->examples.size(), 5u);
  for (unsigned threads : {2u, 3u, 5u}) {
    o.threads = threads;  // that many scanners (up to four) and deciders
    auto r = simulate_what_if(city.store(), city.registry(), **cand, o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->events_read, one->events_read) << threads << " threads";
    EXPECT_EQ(r->appeals, one->appeals) << threads << " threads";
    EXPECT_EQ(r->appeals_changed, one->appeals_changed) << threads << " threads";
    EXPECT_EQ(r->errors, one->errors) << threads << " threads";
    EXPECT_EQ(r->total, one->total) << threads << " threads";
    EXPECT_EQ(r->by_agency, one->by_agency) << threads << " threads";
    EXPECT_EQ(r->by_category, one->by_category) << threads << " threads";
    EXPECT_EQ(r->deadlines_moved, one->deadlines_moved) << threads << " threads";
    EXPECT_EQ(r->deadlines_earlier, one->deadlines_earlier) << threads << " threads";
    EXPECT_EQ(r->deadline_shift_total_s, one->deadline_shift_total_s) << threads << " threads";
    EXPECT_EQ(r->escalations_added, one->escalations_added) << threads << " threads";
    EXPECT_EQ(r->escalations_removed, one->escalations_removed) << threads << " threads";
    EXPECT_EQ(r->examples, one->examples) << threads << " threads: the earliest changed appeals, whoever decided them";
  }
}

TEST(SlaWhatIf, ProgressBarIsRedrawnOnATerminalAndAFewLinesInALog) {
  std::ostringstream log, tty;
  auto in_log = what_if_progress_bar(log, /*redraw=*/false), on_tty = what_if_progress_bar(tty, /*redraw=*/true);
  for (std::uint64_t d = 0; d <= 1000; d += 10) in_log({"read", d, 1000}), on_tty({"read", d, 1000});
  for (std::uint64_t d : {600u, 500u, 1000u}) in_log({"decide", d, 1000}), on_tty({"decide", d, 1000});
  EXPECT_EQ(log.str(), "reading  25%\nreading  50%\nreading  75%\nreading  100%\ndeciding 50%\ndeciding 100%\n");
  const std::string drawn = tty.str();
  EXPECT_EQ(std::count(drawn.begin(), drawn.end(), '\n'), 2) << "one line per phase, redrawn with \\r";
  EXPECT_EQ(std::count(drawn.begin(), drawn.end(), '\r'), 101 + 2) << "never redrawn backwards (500 after 600)";
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
