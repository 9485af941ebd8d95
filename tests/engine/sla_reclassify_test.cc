// A reclassification (or any change of what the rules match on) that makes another rule decide an appeal: the
// clocks of the rule it left stop at that instant, citing that rule; the new rule decides over the whole
// history; what the old rule had fired stays; the appeal's open deadlines are the new rule's.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "engine/views.h"
#include "tests/engine/sla_test_city.h"

namespace otinish::engine {
namespace {

using testing::SlaCity;
using testing::utc;

// The appeal's recorded clock events equal what the pure function derives from its history, payloads and all.
void expect_recorded_as_planned(SlaCity& city, const std::string& id) {
  const SlaAppealView v = city.view(id);
  auto plan = city.plan(v);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  std::vector<SlaClockEvent> recorded = v.clock_events, derived = plan->events;
  auto by_key = [](const SlaClockEvent& a, const SlaClockEvent& b) { return a.key() < b.key(); };
  std::sort(recorded.begin(), recorded.end(), by_key);
  std::sort(derived.begin(), derived.end(), by_key);
  std::vector<std::string> rk, dk;
  for (const auto& e : recorded) rk.push_back(e.key() + " " + e.rule_id);
  for (const auto& e : derived) dk.push_back(e.key() + " " + e.rule_id);
  EXPECT_EQ(rk, dk);
  EXPECT_TRUE(recorded == derived);
}

// The appeal's row in the "appeals" view, built from the whole log.
AppealRow appeal_row(SlaCity& city, const std::string& id) {
  auto runner = ProjectionRunner::open(city.store(), city.dir() + "/views-" + std::to_string(city.store().head_position()),
                                       standard_projections());
  EXPECT_TRUE(runner.ok()) << runner.status().ToString();
  if (!runner.ok()) return {};
  EXPECT_TRUE((*runner)->start().ok());
  EXPECT_TRUE((*runner)->wait_for(city.store().head_position(), std::chrono::seconds(10)));
  auto row = get_appeal_row(*std::move((*runner)->reader("appeals")).value(), id);
  EXPECT_TRUE(row.ok()) << row.status().ToString();
  return row.ok() ? *row : AppealRow{};
}

TEST(SlaReclassify, ADangerousIncidentReclassifiedAsAComplaintStopsTheHourClocksAndRunsTheLaws) {
  SlaCity city;
  const std::string id = city.reg_at("2026-03-02T04:00:00Z", Category::kIncident, "roads.manhole_open");
  city.run_at("2026-03-02T04:05:00Z", id, SendForReview{}, "inspector");
  city.run_at("2026-03-02T04:10:00Z", id, Assign{}, "inspector");
  ASSERT_EQ(city.events(id, SlaClockKind::kDeadlineSet, "make_safe").size(), 1u);
  // An hour in, the inspector finds it is a complaint about a lift, not an open manhole.
  city.run_at("2026-03-02T05:00:00Z", id, Reclassify{Category::kComplaint, "lifts.broken", std::nullopt, "misread"},
              "inspector");

  // The dangerous incident's clock stops where its rule stopped deciding, and says which rule it was.
  const auto stopped = city.events(id, SlaClockKind::kStopped, "make_safe");
  ASSERT_EQ(stopped.size(), 1u);
  EXPECT_EQ(stopped[0].at, utc("2026-03-02T05:00:00Z"));
  EXPECT_EQ(stopped[0].rule_id, "dangerous-incident");
  // The complaint's law runs from the registration: 15 working days (kz calendar: 21-25 March are days off).
  const auto started = city.events(id, SlaClockKind::kStarted, "law.answer");
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].at, utc("2026-03-02T04:00:00Z"));
  EXPECT_EQ(started[0].rule_id, "complaint");
  const auto deadline = city.events(id, SlaClockKind::kDeadlineSet, "law.answer");
  ASSERT_EQ(deadline.size(), 1u);
  EXPECT_EQ(deadline[0].deadline, utc("2026-03-27T13:00:00Z"));

  // Hours later nothing of the incident fires, and the appeal is due on the law's day, not overdue.
  city.fire_at("2026-03-02T12:00:00Z");
  EXPECT_TRUE(city.events(id, SlaClockKind::kBreached, "make_safe").empty());
  EXPECT_TRUE(city.events(id, SlaClockKind::kWarning, "make_safe").empty());
  // (The earliest open deadline is the law's 3 working days to redirect, which runs until an agency accepts.)
  const auto redirect = city.events(id, SlaClockKind::kDeadlineSet, "law.redirect");
  ASSERT_EQ(redirect.size(), 1u);
  EXPECT_EQ(redirect[0].deadline, utc("2026-03-05T13:00:00Z"));
  const AppealRow row = appeal_row(city, id);
  EXPECT_EQ(row.due_at, utc("2026-03-05T13:00:00Z"));
  EXPECT_EQ(city.service().index().find(id), std::optional<std::optional<Timestamp>>(redirect[0].deadline));
  EXPECT_EQ(city.rules_cited(id), (std::set<std::string>{"dangerous-incident", "complaint"}));
  expect_recorded_as_planned(city, id);
}

TEST(SlaReclassify, WhatTheOldRuleFiredStaysAndAClockThatComesBackStartsANewCycle) {
  SlaCity city;
  const std::string id = city.reg_at("2026-03-02T04:00:00Z", Category::kIncident, "roads.manhole_open");
  city.run_at("2026-03-02T04:05:00Z", id, SendForReview{}, "inspector");
  city.run_at("2026-03-02T04:10:00Z", id, Assign{}, "inspector");
  city.fire_at("2026-03-02T07:30:00Z");  // 3.5 of 4 hours: the 75% warning fired
  ASSERT_EQ(city.events(id, SlaClockKind::kWarning, "make_safe").size(), 1u);
  city.run_at("2026-03-02T07:40:00Z", id, Reclassify{Category::kComplaint, "lifts.broken", std::nullopt, "misread"},
              "inspector");
  // Back to the open manhole after all, past the 4 hours: the clock comes back as a new cycle, over the whole
  // history (its deadline passed), so it breaches at once; the warning of the first cycle stays as it was.
  city.run_at("2026-03-02T09:00:00Z", id,
              Reclassify{Category::kIncident, "roads.manhole_open", std::nullopt, "it is a manhole"}, "controller");
  city.tick();
  const auto started = city.events(id, SlaClockKind::kStarted, "make_safe");
  ASSERT_EQ(started.size(), 2u);
  EXPECT_EQ(started[0].cycle, 0);
  EXPECT_EQ(started[1].cycle, 1);
  const auto warnings = city.events(id, SlaClockKind::kWarning, "make_safe");
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_EQ(warnings[0].cycle, 0);
  EXPECT_EQ(warnings[0].at, utc("2026-03-02T07:00:00Z"));
  const auto breaches = city.events(id, SlaClockKind::kBreached, "make_safe");
  ASSERT_EQ(breaches.size(), 1u);
  EXPECT_EQ(breaches[0].cycle, 1);
  // The complaint's law stopped when the complaint's rule stopped deciding.
  const auto law_stopped = city.events(id, SlaClockKind::kStopped, "law.answer");
  ASSERT_EQ(law_stopped.size(), 1u);
  EXPECT_EQ(law_stopped[0].at, utc("2026-03-02T09:00:00Z"));
  EXPECT_EQ(appeal_row(city, id).due_at, utc("2026-03-02T08:00:00Z"));  // the manhole's 4 hours, overdue
  expect_recorded_as_planned(city, id);
}

TEST(SlaReclassify, AClassificationThatKeepsTheRuleChangesNoClock) {
  SlaCity city;
  const std::string id = city.reg_at("2026-03-02T04:00:00Z", Category::kIncident, "utilities.heating.no_heat");
  city.run_at("2026-03-02T04:05:00Z", id, SendForReview{}, "inspector");
  const auto before = city.view(id).clock_events;
  city.run_at("2026-03-02T04:10:00Z", id, Classify{Category::kIncident, "lifts.broken", std::nullopt, "the lift"},
              "inspector");
  EXPECT_EQ(city.view(id).facts.changes.size(), 1u);
  EXPECT_TRUE(city.view(id).clock_events == before);
  expect_recorded_as_planned(city, id);
}

TEST(SlaReclassify, AClockOfTheSameNameThatTheNewRuleStartsLaterEndsTheOldCycleAtTheHandover) {
  // Two rules with an `answer` clock: the complaint's starts at the registration, the incident's at the
  // assignment. A complaint classified as an incident during the review has no answer clock running until it
  // is assigned: the complaint's cycle must not stay open meanwhile.
  const std::string rules = R"(rule_set: same-name
version: "1"
calendars:
  kz: kz.yaml
default_calendar: kz
rules:
  - id: complaint
    match: {category: complaint}
    clocks:
      - {name: answer, target: 1wd, start: registered, stop: [resolved, closed]}
  - id: incident
    match: {category: incident}
    clocks:
      - {name: answer, target: 3wd, start: assigned, stop: [resolved, closed]}
)";
  SlaCity city(rules);
  const std::string id = city.reg_at("2026-03-02T04:00:00Z", Category::kComplaint, "lifts.broken");
  city.run_at("2026-03-02T04:05:00Z", id, SendForReview{}, "inspector");
  city.run_at("2026-03-02T04:10:00Z", id, Classify{Category::kIncident, "lifts.broken", std::nullopt, "an outage"},
              "inspector");
  const auto stopped = city.events(id, SlaClockKind::kStopped, "answer");
  ASSERT_EQ(stopped.size(), 1u);
  EXPECT_EQ(stopped[0].at, utc("2026-03-02T04:10:00Z"));
  EXPECT_EQ(stopped[0].rule_id, "complaint");
  EXPECT_EQ(appeal_row(city, id).due_at, Timestamp{});  // nothing open until the assignment
  city.run_at("2026-03-03T04:00:00Z", id, Assign{}, "inspector");
  const auto started = city.events(id, SlaClockKind::kStarted, "answer");
  ASSERT_EQ(started.size(), 2u);
  EXPECT_EQ(started[1].cycle, 1);
  EXPECT_EQ(started[1].at, utc("2026-03-03T04:00:00Z"));
  EXPECT_EQ(started[1].rule_id, "incident");
  const auto deadlines = city.events(id, SlaClockKind::kDeadlineSet, "answer");
  ASSERT_EQ(deadlines.size(), 2u);
  EXPECT_EQ(appeal_row(city, id).due_at, *deadlines[1].deadline);
  expect_recorded_as_planned(city, id);
}

TEST(SlaReclassify, RungsOfAnEarlierCycleKeepTheirCycleWhenTheClockComesBack) {
  SlaCity city;
  const std::string id = city.reg_at("2026-03-02T04:00:00Z", Category::kComplaint, "lifts.broken");
  city.run_at("2026-03-02T04:05:00Z", id, SendForReview{}, "inspector");
  city.run_at("2026-03-02T04:10:00Z", id, Assign{}, "inspector");
  city.fire_at("2026-03-20T10:00:00Z");  // the law's 75% of cycle 0 fired
  ASSERT_EQ(city.events(id, SlaClockKind::kWarning, "law.answer").size(), 1u);
  city.run_at("2026-03-20T11:00:00Z", id, Accept{}, "agency");
  city.run_at("2026-03-20T11:30:00Z", id, StartWork{}, "agency");
  city.run_at("2026-03-20T12:00:00Z", id, Resolve{Outcome::kDone, "repaired"}, "agency");
  city.run_at("2026-03-20T12:30:00Z", id, RecordCallback{false, "not repaired"}, "operator");
  city.run_at("2026-03-20T13:00:00Z", id, Reopen{"not repaired"}, "controller");  // the law's cycle 1
  city.run_at("2026-03-20T14:00:00Z", id, Assign{}, "inspector");
  city.run_at("2026-03-20T15:00:00Z", id, Reclassify{Category::kIncident, "lifts.broken", std::nullopt, "outage"},
              "inspector");
  city.run_at("2026-03-20T16:00:00Z", id, Reclassify{Category::kComplaint, "lifts.broken", std::nullopt, "no"},
              "controller");
  city.tick();
  // Every rung belongs to a cycle that had started when it fired: cycle 0's warning is not moved to a later one.
  std::map<int, Timestamp> started;
  for (const auto& e : city.events(id, SlaClockKind::kStarted, "law.answer")) started[e.cycle] = e.at;
  ASSERT_EQ(started.size(), 3u);  // the registration, the reopen, the return to the complaint's rule
  for (const auto& e : city.view(id).clock_events) {
    if (e.clock != "law.answer" || e.step < 0) continue;
    ASSERT_TRUE(started.contains(e.cycle)) << e.key();
    EXPECT_GE(e.at, started[e.cycle]) << e.key();
  }
  EXPECT_EQ(city.events(id, SlaClockKind::kWarning, "law.answer").size(), 1u);
  expect_recorded_as_planned(city, id);
}

TEST(SlaReclassify, AnExtensionGrantedAfterTheBreachKeepsWhatFired) {
  SlaCity city;
  const std::string id = city.reg_at("2026-03-02T04:00:00Z", Category::kComplaint, "lifts.broken");
  city.run_at("2026-03-02T05:00:00Z", id, SendForReview{}, "inspector");
  city.run_at("2026-03-02T06:00:00Z", id, Assign{}, "inspector");
  city.run_at("2026-03-02T07:00:00Z", id, Accept{}, "agency");
  city.fire_at("2026-03-28T10:00:00Z");
  ASSERT_EQ(city.events(id, SlaClockKind::kBreached, "law.answer").size(), 1u);
  city.run_at("2026-03-29T20:44:00Z", id, RequestExtension{utc("2026-04-22T20:44:00Z"), "needs time"}, "agency");
  city.run_at("2026-03-29T20:45:00Z", id, GrantExtension{"the head agrees"}, "controller");
  city.tick();
  expect_recorded_as_planned(city, id);
}

}  // namespace
}  // namespace otinish::engine
