#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "rules/rules.h"
#include "tests/rules/test_support.h"

namespace otinish::rules {
namespace {

using testing::utc;

class CitySlaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<Diagnostic> diags;
    auto rs = load_rule_set_file(testing::example("rules/city.yaml"), &calendars_, &diags);
    ASSERT_TRUE(rs.has_value());
    rules_ = std::move(*rs);
  }
  CalendarSet compiled(std::optional<date::sys_days> as_of = std::nullopt) {
    return compile_calendars(rules_, calendars_, as_of).value();
  }
  const ClockReport& clock(const SlaDecision& d, const std::string& name) {
    for (const auto& c : d.clocks) if (c.clock == name) return c;
    ADD_FAILURE() << "no clock " << name;
    return d.clocks.front();
  }
  static Fact state(const std::string& at, const std::string& name) { return {utc(at), Fact::Kind::kStateEntered, name, {}}; }
  static Fact event(const std::string& at, const std::string& name, std::optional<Timestamp> until = {}) {
    return {utc(at), Fact::Kind::kEvent, name, until};
  }
  static AppealFacts complaint(std::vector<Fact> history) {
    return {"complaint", "roads.pothole", "normal", "phone", "al-farabi", "roads-department", false, std::move(history)};
  }

  CalendarLibrary calendars_;
  RuleSet rules_;
};

TEST_F(CitySlaTest, FirstMatchingRuleWins) {
  AppealFacts a{"incident", "utilities.water.no_supply", "normal", "whatsapp", "", "", true, {}};
  EXPECT_EQ(rules_.rules[*match_rule(rules_, a)].id, "dangerous-incident");
  a.dangerous = false;
  EXPECT_EQ(rules_.rules[*match_rule(rules_, a)].id, "utilities-outage");
  a.topic = "roads.pothole";
  EXPECT_EQ(rules_.rules[*match_rule(rules_, a)].id, "incident");
}

TEST_F(CitySlaTest, TheRuleDecidingIsTheOneMatchingTheAttributesInForceAtTheInstant) {
  // Registered as a question about an address, classified the next morning as a complaint.
  auto appeal = complaint({state("2026-08-20T05:00:00Z", "registered")});
  appeal.changes.push_back(
      {utc("2026-08-21T05:00:00Z"), {"consultation", "reference.address", "normal", "phone", "al-farabi", "", false}});
  EXPECT_EQ(appeal.attributes_at(utc("2026-08-21T04:59:59Z")).category, "consultation");
  EXPECT_EQ(appeal.attributes_at(utc("2026-08-21T05:00:00Z")).category, "complaint");  // in force at its instant
  EXPECT_EQ(decide_sla(rules_, compiled(), appeal, utc("2026-08-20T06:00:00Z")).value().rule_id,
            "reference-information");
  const SlaDecision later = decide_sla(rules_, compiled(), appeal, utc("2026-08-21T05:00:00Z")).value();
  EXPECT_EQ(later.rule_id, "complaint");
  // The new rule decides over the whole history: the law's 15 working days count from the registration.
  EXPECT_EQ(clock(later, "law.answer").started_at, utc("2026-08-20T05:00:00Z"));
  EXPECT_EQ(clock(later, "law.answer").deadline, utc("2026-09-10T13:30:00Z"));
  // match_rule looks at the attributes it is given: the appeal's own are those in force now.
  EXPECT_EQ(rules_.rules[*match_rule(rules_, appeal)].id, "complaint");
}

TEST_F(CitySlaTest, ComplaintIsDueAfter15WorkingDaysOnTheCalendarVersionInForce) {
  const auto appeal = complaint({state("2026-08-20T05:00:00Z", "registered")});
  const auto as_of = utc("2026-08-21T05:00:00Z");
  const SlaDecision amended = decide_sla(rules_, compiled(), appeal, as_of).value();
  const ClockReport& answer = clock(amended, "law.answer");
  EXPECT_EQ(amended.rule_id, "complaint");
  EXPECT_EQ(answer.state, ClockState::kRunning);
  EXPECT_EQ(answer.deadline, utc("2026-09-10T13:30:00Z"));  // 18:30 local, Shymkent office hours
  EXPECT_EQ(answer.calendar_version, "shymkent@2026-1+kz@2026-03-18");
  const SlaDecision december =
      decide_sla(rules_, compiled(date::sys_days(date::year{2026} / 1 / 1)), appeal, as_of).value();
  EXPECT_EQ(clock(december, "law.answer").deadline, utc("2026-09-11T13:30:00Z"));
}

TEST_F(CitySlaTest, LadderFiresInOrderAndCitesTheNextRung) {
  const auto appeal = complaint({state("2025-04-01T05:00:00Z", "registered")});
  // 15 working days from Tuesday 1 April 2025: 50% = 7 working days = close of Thursday 10 April.
  const SlaDecision d = decide_sla(rules_, compiled(), appeal, utc("2025-04-11T05:00:00Z")).value();
  const ClockReport& answer = clock(d, "law.answer");
  ASSERT_EQ(answer.fired.size(), 1u);
  EXPECT_EQ(answer.fired[0].at_label, "50%");
  EXPECT_EQ(answer.fired[0].at, utc("2025-04-10T13:30:00Z"));
  EXPECT_EQ(answer.fired[0].notify, std::vector<std::string>{"controller"});
  ASSERT_TRUE(answer.next.has_value());
  EXPECT_EQ(answer.next->at_label, "80%");
  EXPECT_EQ(answer.rule_id, "complaint");
  EXPECT_FALSE(answer.breached);
}

TEST_F(CitySlaTest, BreachRaisesPriorityAndStoppingEndsTheClock) {
  const auto appeal = complaint({state("2025-04-01T05:00:00Z", "registered"), state("2025-05-05T05:00:00Z", "resolved")});
  const SlaDecision d = decide_sla(rules_, compiled(), appeal, utc("2025-06-01T00:00:00Z")).value();
  const ClockReport& answer = clock(d, "law.answer");
  EXPECT_EQ(answer.state, ClockState::kStopped);
  EXPECT_TRUE(answer.breached);
  std::vector<std::string> labels;
  for (const auto& f : answer.fired) labels.push_back(f.at_label);
  EXPECT_EQ(labels, (std::vector<std::string>{"50%", "80%", "breach", "breach+1wd"}));
  EXPECT_EQ(answer.fired[2].raise_priority, "high");
  EXPECT_FALSE(answer.next.has_value());
  EXPECT_EQ(clock(d, "callback").state, ClockState::kRunning);
}

TEST_F(CitySlaTest, OneExtensionIsCappedAtTwoMonthsAndASecondIsRefused) {
  const auto appeal = complaint({state("2025-04-01T05:00:00Z", "registered"),
                                 event("2025-04-15T05:00:00Z", "extension_granted", utc("2025-07-01T00:00:00Z")),
                                 event("2025-05-20T05:00:00Z", "extension_granted", utc("2025-05-30T00:00:00Z"))});
  const SlaDecision d = decide_sla(rules_, compiled(), appeal, utc("2025-05-25T00:00:00Z")).value();
  const ClockReport& answer = clock(d, "law.answer");
  EXPECT_TRUE(answer.extended);
  EXPECT_EQ(answer.deadline, utc("2025-06-01T05:00:00Z"));  // two months after registration, same local time
  ASSERT_EQ(answer.notes.size(), 2u);
  EXPECT_NE(answer.notes[1].find("refused"), std::string::npos);
  const ClockReport& notice = clock(d, "law.extension_notice");
  EXPECT_EQ(notice.state, ClockState::kRunning);
  EXPECT_TRUE(notice.breached);  // 3 working days passed without event:applicant_notified
}

TEST_F(CitySlaTest, PausedClockHasNoDeadlineAndResumesWithTheRemainder) {
  AppealFacts a{"incident", "utilities.heating.no_heat", "normal", "phone", "", "", false,
                {state("2025-04-01T04:00:00Z", "registered"),    // Tue 09:00 local
                 state("2025-04-01T06:00:00Z", "on_hold"),       // after 2 business hours
                 state("2025-04-03T04:00:00Z", "in_progress")}};  // Thu 09:00
  const SlaDecision paused = decide_sla(rules_, compiled(), a, utc("2025-04-02T00:00:00Z")).value();
  EXPECT_EQ(clock(paused, "restore").state, ClockState::kPaused);
  EXPECT_FALSE(clock(paused, "restore").deadline.has_value());
  EXPECT_EQ(clock(paused, "restore").elapsed, 2LL * 3600 * 1'000'000);
  const SlaDecision running = decide_sla(rules_, compiled(), a, utc("2025-04-03T05:00:00Z")).value();
  // 14 business hours left from Thu 09:00 (8h a day in Shymkent): Thu 8h + Fri 6h -> Fri 16:30 local.
  EXPECT_EQ(clock(running, "restore").deadline, utc("2025-04-04T11:30:00Z"));
}

TEST_F(CitySlaTest, DangerousIncidentEscalatesToTheHeadWithinHours) {
  AppealFacts a{"incident", "roads.open_manhole", "normal", "phone", "", "", true,
                {state("2025-04-05T16:00:00Z", "registered")}};  // Saturday 21:00 local: 24/7 calendar
  const SlaDecision d = decide_sla(rules_, compiled(), a, utc("2025-04-05T20:30:00Z")).value();
  const ClockReport& safe = clock(d, "make_safe");
  EXPECT_EQ(safe.deadline, utc("2025-04-05T20:00:00Z"));
  EXPECT_TRUE(safe.breached);
  ASSERT_EQ(safe.fired.size(), 3u);
  EXPECT_EQ(safe.fired[2].raise_priority, "critical");
  ASSERT_TRUE(safe.next.has_value());
  EXPECT_EQ(safe.next->at_label, "breach+2h");
  EXPECT_EQ(safe.next->at, utc("2025-04-05T22:00:00Z"));
  EXPECT_EQ(safe.next->reassign_role, "emergency_coordinator");
}

TEST_F(CitySlaTest, ReopeningResetsTheClockAndKeepsWhatFired) {
  AppealFacts a{"incident", "roads.open_manhole", "normal", "phone", "", "", true,
                {state("2025-04-05T16:00:00Z", "registered"), state("2025-04-05T19:00:00Z", "resolved"),
                 state("2025-04-07T04:00:00Z", "reopened")}};
  const SlaDecision d = decide_sla(rules_, compiled(), a, utc("2025-04-07T05:00:00Z")).value();
  const ClockReport& safe = clock(d, "make_safe");
  EXPECT_EQ(safe.state, ClockState::kRunning);
  EXPECT_EQ(safe.started_at, utc("2025-04-07T04:00:00Z"));
  EXPECT_EQ(safe.deadline, utc("2025-04-07T08:00:00Z"));
  // The first cycle ran 3 of 4 hours: its 50% rung fired; 75% fell exactly at the stop, so it did not.
  ASSERT_EQ(safe.fired.size(), 1u);
  EXPECT_EQ(safe.fired[0].cycle, 0);
  EXPECT_EQ(safe.fired[0].at_label, "50%");
  ASSERT_TRUE(safe.next.has_value());
  EXPECT_EQ(safe.next->at, utc("2025-04-07T06:00:00Z"));
}

// The complaint's callback clock (start: resolved, rearm: reopened): a reopen stops it and the next resolution
// starts a new cycle; in between it has no running deadline and cannot breach, however long the work takes.
// (The engine derives its events from these decisions at each fact: SlaClockStopped for cycle 0 at the reopen,
// SlaClockStarted for cycle 1 at the next resolution.)
TEST_F(CitySlaTest, RearmStopsTheClockAndTheNextStartBeginsANewCycle) {
  const auto appeal = complaint({state("2026-03-02T05:00:00Z", "registered"), state("2026-03-03T05:00:00Z", "resolved"),
                                 state("2026-03-03T08:00:00Z", "reopened"), state("2026-03-10T05:00:00Z", "resolved")});
  auto at = [&](const std::string& t) { return clock(decide_sla(rules_, compiled(), appeal, utc(t)).value(), "callback"); };
  const ClockReport before = at("2026-03-03T06:00:00Z");
  EXPECT_EQ(before.state, ClockState::kRunning);
  EXPECT_EQ(before.started_at, utc("2026-03-03T05:00:00Z"));
  // 1 working day from Tuesday 3 March 10:00 local: close of Wednesday 4 March, 18:30 local.
  EXPECT_EQ(before.deadline, utc("2026-03-04T13:30:00Z"));

  const ClockReport rearmed = at("2026-03-09T05:00:00Z");  // long past the first cycle's deadline
  EXPECT_EQ(rearmed.state, ClockState::kStopped);
  EXPECT_EQ(rearmed.stopped_at, utc("2026-03-03T08:00:00Z"));
  EXPECT_FALSE(rearmed.breached) << "stopped at the reopen, before its deadline";
  EXPECT_EQ(rearmed.started_at, before.started_at) << "still the ended cycle until the next start";
  EXPECT_EQ(rearmed.deadline, before.deadline) << "the ended cycle's, as for any stopped clock";
  EXPECT_TRUE(rearmed.fired.empty());
  EXPECT_FALSE(rearmed.next.has_value());

  const ClockReport again = at("2026-03-10T06:00:00Z");
  EXPECT_EQ(again.state, ClockState::kRunning);
  EXPECT_EQ(again.started_at, utc("2026-03-10T05:00:00Z"));
  EXPECT_EQ(again.deadline, utc("2026-03-11T13:30:00Z"));
}

// The cycle index grows at the start after a rearm, and what fired in the ended cycle stays fired.
TEST_F(CitySlaTest, RearmKeepsWhatFiredAndTheNextStartCountsTheCycleOn) {
  const auto appeal = complaint({state("2026-03-02T05:00:00Z", "registered"), state("2026-03-03T05:00:00Z", "resolved"),
                                 state("2026-03-05T05:00:00Z", "reopened"), state("2026-03-10T05:00:00Z", "resolved")});
  auto at = [&](const std::string& t) { return clock(decide_sla(rules_, compiled(), appeal, utc(t)).value(), "callback"); };
  const ClockReport rearmed = at("2026-03-09T05:00:00Z");
  EXPECT_EQ(rearmed.state, ClockState::kStopped);
  EXPECT_TRUE(rearmed.breached) << "the first cycle breached before the reopen";
  ASSERT_EQ(rearmed.fired.size(), 1u);
  EXPECT_EQ(rearmed.fired[0].cycle, 0);

  const ClockReport later = at("2026-03-12T00:00:00Z");
  EXPECT_EQ(later.state, ClockState::kRunning);
  ASSERT_EQ(later.fired.size(), 2u);
  EXPECT_EQ(later.fired[0].cycle, 0);
  EXPECT_EQ(later.fired[0].at, utc("2026-03-04T13:30:00Z"));
  EXPECT_EQ(later.fired[1].cycle, 1);
  EXPECT_EQ(later.fired[1].at, utc("2026-03-11T13:30:00Z"));
}

// Verified stops the callback clock; a reopen then rearms the stopped clock, so the next resolution starts cycle 1.
TEST_F(CitySlaTest, RearmOfAStoppedClockLetsTheNextStartBeginANewCycle) {
  const auto appeal = complaint({state("2026-03-02T05:00:00Z", "registered"), state("2026-03-03T05:00:00Z", "resolved"),
                                 state("2026-03-03T07:00:00Z", "verified"), state("2026-03-04T05:00:00Z", "reopened"),
                                 state("2026-03-10T05:00:00Z", "resolved")});
  auto at = [&](const std::string& t) { return clock(decide_sla(rules_, compiled(), appeal, utc(t)).value(), "callback"); };
  const ClockReport rearmed = at("2026-03-05T00:00:00Z");
  EXPECT_EQ(rearmed.state, ClockState::kStopped);
  EXPECT_EQ(rearmed.stopped_at, utc("2026-03-03T07:00:00Z")) << "a rearm does not move an earlier stop";

  const ClockReport later = at("2026-03-12T00:00:00Z");
  EXPECT_EQ(later.started_at, utc("2026-03-10T05:00:00Z"));
  ASSERT_EQ(later.fired.size(), 1u);
  EXPECT_EQ(later.fired[0].cycle, 1);
  EXPECT_EQ(later.fired[0].at, utc("2026-03-11T13:30:00Z"));
}

TEST_F(CitySlaTest, RearmOfAClockThatNeverStartedDoesNothing) {
  const auto appeal = complaint({state("2026-03-02T05:00:00Z", "registered"), state("2026-03-02T06:00:00Z", "reopened"),
                                 state("2026-03-03T05:00:00Z", "resolved")});
  auto at = [&](const std::string& t) { return clock(decide_sla(rules_, compiled(), appeal, utc(t)).value(), "callback"); };
  EXPECT_EQ(at("2026-03-02T07:00:00Z").state, ClockState::kNotStarted);
  const ClockReport later = at("2026-03-05T00:00:00Z");
  EXPECT_EQ(later.started_at, utc("2026-03-03T05:00:00Z"));
  ASSERT_EQ(later.fired.size(), 1u);
  EXPECT_EQ(later.fired[0].cycle, 0);
}

// Rule sets published before rearm existed wrote the callback clock with `reset: reopened`; replaying their
// appeals must decide as before: the clock restarts at the reopen and runs (and breaches) while the work is redone.
TEST_F(CitySlaTest, ResetOnTheCallbackClockStillRestartsAtTheReopen) {
  std::string city;
  {
    std::ifstream in(testing::example("rules/city.yaml"));
    std::stringstream ss;
    ss << in.rdbuf();
    city = ss.str();
  }
  const auto rearm = city.find("rearm: reopened");
  ASSERT_NE(rearm, std::string::npos);
  city.replace(rearm, 5, "reset");
  std::vector<Diagnostic> diags;
  const std::optional<RuleSet> published = parse_rule_set(city, testing::example("rules/city.yaml"), &diags);
  ASSERT_TRUE(published.has_value());
  const CalendarSet cals = compile_calendars(*published, calendars_).value();
  const auto appeal = complaint({state("2026-03-02T05:00:00Z", "registered"), state("2026-03-03T05:00:00Z", "resolved"),
                                 state("2026-03-10T05:00:00Z", "reopened")});
  const ClockReport callback = clock(decide_sla(*published, cals, appeal, utc("2026-03-12T00:00:00Z")).value(), "callback");
  EXPECT_EQ(callback.state, ClockState::kRunning);
  EXPECT_EQ(callback.started_at, utc("2026-03-10T05:00:00Z"));
  EXPECT_EQ(callback.deadline, utc("2026-03-11T13:30:00Z"));
  EXPECT_TRUE(callback.breached);
  ASSERT_EQ(callback.fired.size(), 2u);
  EXPECT_EQ(callback.fired[1].cycle, 1);
}

// reset keeps its meaning: restart at once (the law's answer clock restarts at a reopen).
TEST_F(CitySlaTest, ResetRestartsTheClockAtTheFact) {
  const auto appeal = complaint({state("2026-03-02T05:00:00Z", "registered"), state("2026-03-03T05:00:00Z", "resolved"),
                                 state("2026-03-05T05:00:00Z", "reopened")});
  const ClockReport answer = clock(decide_sla(rules_, compiled(), appeal, utc("2026-03-05T06:00:00Z")).value(), "law.answer");
  EXPECT_EQ(answer.state, ClockState::kRunning);
  EXPECT_EQ(answer.started_at, utc("2026-03-05T05:00:00Z"));
}

TEST_F(CitySlaTest, SameInputsGiveTheSameDecision) {
  const auto appeal = complaint({state("2025-04-01T05:00:00Z", "registered"), state("2025-04-02T05:00:00Z", "assigned")});
  const CalendarSet cals = compiled();
  const SlaDecision a = decide_sla(rules_, cals, appeal, utc("2025-04-20T00:00:00Z")).value();
  const SlaDecision b = decide_sla(rules_, cals, appeal, utc("2025-04-20T00:00:00Z")).value();
  ASSERT_EQ(a.clocks.size(), b.clocks.size());
  for (std::size_t i = 0; i < a.clocks.size(); ++i) {
    EXPECT_EQ(a.clocks[i].deadline, b.clocks[i].deadline);
    EXPECT_EQ(a.clocks[i].elapsed, b.clocks[i].elapsed);
    EXPECT_EQ(a.clocks[i].fired.size(), b.clocks[i].fired.size());
  }
  EXPECT_EQ(a.rule_set_hash, b.rule_set_hash);
}

TEST_F(CitySlaTest, NoMatchingRuleGivesNoClocks) {
  RuleSet empty = rules_;
  empty.rules.clear();
  const SlaDecision d = decide_sla(empty, compiled(), complaint({}), utc("2025-04-20T00:00:00Z")).value();
  EXPECT_EQ(d.rule_id, "");
  EXPECT_TRUE(d.clocks.empty());
}

}  // namespace
}  // namespace otinish::rules
