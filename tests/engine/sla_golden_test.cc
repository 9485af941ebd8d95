// Golden SLA scenarios from the seeds: each test is one story, with deadlines computed by hand on the shipped
// kz calendar (2026: 9 March off for 8 March; Nauryz 23-25 March; working hours 09:00-18:00, lunch 13-14,
// Asia/Almaty = UTC+5). Every clock event must cite its rule, the rule set's hash and the calendar version.
#include <gtest/gtest.h>

#include "tests/engine/sla_test_city.h"

namespace otinish::engine {
namespace {

using testing::SlaCity;
using testing::utc;

void expect_cites(const SlaClockEvent& e, const std::string& rule_id, const std::string& hash) {
  EXPECT_EQ(e.rule_id, rule_id);
  EXPECT_EQ(e.rule_set_hash, hash);
  EXPECT_NE(e.rule_where.find("golden.yaml:"), std::string::npos) << e.rule_where;
  EXPECT_FALSE(e.calendar.empty());
  EXPECT_FALSE(e.calendar_version.empty());
}

std::string bound_hash(SlaCity& city) { return (*city.registry().current())->ref.rule_set_hash; }

// Seed: a lift complaint registered on Wednesday 11 March 2026 runs across Nauryz. 15 working days after
// 11 March, skipping 23-25 March, end on Monday 6 April at 18:00 (13:00Z); the 75% rung is 11 working days
// (rounded down): Tuesday 31 March 18:00. The warning goes to the controller, the breach to the head.
TEST(SlaGolden, ComplaintAcrossNauryzWarnsAt75PercentAndBreachesToTheHead) {
  SlaCity city;
  const std::string id = city.reg_at("2026-03-11T05:00:00Z", Category::kComplaint, "lifts.broken");
  city.run_at("2026-03-11T06:00:00Z", id, SendForReview{}, "operator");
  city.run_at("2026-03-11T07:00:00Z", id, Assign{}, "inspector");
  city.run_at("2026-03-12T05:00:00Z", id, Accept{}, "agency");

  const auto dl = city.events(id, SlaClockKind::kDeadlineSet, "law.answer");
  ASSERT_EQ(dl.size(), 1u);
  EXPECT_EQ(*dl[0].deadline, utc("2026-04-06T13:00:00Z"));
  EXPECT_EQ(dl[0].calendar, "kz");
  EXPECT_EQ(dl[0].calendar_version, "kz@2025-12");  // published on 2 March: before the amendment
  EXPECT_EQ(city.service().index().find(id), std::optional(std::optional(utc("2026-03-31T13:00:00Z"))));

  EXPECT_EQ(city.fire_at("2026-03-31T12:59:59Z"), 0u);  // never early
  EXPECT_TRUE(city.events(id, SlaClockKind::kWarning, "law.answer").empty());
  EXPECT_EQ(city.fire_at("2026-03-31T13:00:05Z"), 1u);
  const auto warn = city.events(id, SlaClockKind::kWarning, "law.answer");
  ASSERT_EQ(warn.size(), 1u);
  EXPECT_EQ(warn[0].label, "75%");
  EXPECT_EQ(warn[0].at, utc("2026-03-31T13:00:00Z"));
  EXPECT_EQ(warn[0].notify, std::vector<std::string>{"controller"});
  expect_cites(warn[0], "complaint", bound_hash(city));
  ASSERT_FALSE(city.service().stats().lateness_us.empty());
  EXPECT_EQ(city.service().stats().lateness_us.back(), 5'000'000);

  EXPECT_EQ(city.fire_at("2026-04-07T04:00:00Z"), 1u);
  const auto breach = city.events(id, SlaClockKind::kBreached, "law.answer");
  ASSERT_EQ(breach.size(), 1u);
  EXPECT_EQ(breach[0].at, utc("2026-04-06T13:00:00Z"));
  EXPECT_EQ(breach[0].notify, std::vector<std::string>{"head_of_agency"});
  expect_cites(breach[0], "complaint", bound_hash(city));
  // The redirect clock stopped when the agency accepted (12 March), well within its 3 working days.
  EXPECT_EQ(city.events(id, SlaClockKind::kStopped, "law.redirect").size(), 1u);
  EXPECT_TRUE(city.events(id, SlaClockKind::kBreached, "law.redirect").empty());
  // Nothing more is due: the law.answer ladder is spent.
  EXPECT_EQ(city.service().index().find(id), std::optional<std::optional<Timestamp>>(std::optional<Timestamp>()));

  // The lateness of the breach is in the log itself: recorded_at - at.
  auto stream = city.store().read_stream("appeal-" + id, 1, store::Direction::kForward, 100);
  ASSERT_TRUE(stream.ok());
  bool seen = false;
  for (const auto& e : *stream) {
    if (e.type != "SlaBreached") continue;
    seen = true;
    EXPECT_EQ(e.recorded_at - utc("2026-04-06T13:00:00Z"), std::chrono::hours(15));
    EXPECT_EQ(e.actor.user, "sla-service");
  }
  EXPECT_TRUE(seen);
}

// APC art. 76: one extension by the head, up to two months from the start (11 May 10:00 local). A request
// past the cap is refused by the command handler; a second granted extension is refused by the rules.
TEST(SlaGolden, ExtensionWithinTheCapMovesTheDeadlineAndASecondOrPastTheCapDoesNot) {
  SlaCity city;
  const std::string id = city.reg_at("2026-03-11T05:00:00Z", Category::kComplaint, "lifts.broken");
  city.run_at("2026-03-11T06:00:00Z", id, SendForReview{}, "operator");
  city.run_at("2026-03-11T07:00:00Z", id, Assign{}, "inspector");
  city.run_at("2026-03-12T05:00:00Z", id, Accept{}, "agency");
  city.run_at("2026-04-01T05:00:00Z", id, RequestExtension{utc("2026-04-30T13:00:00Z"), "expert opinion"}, "agency");
  city.run_at("2026-04-01T06:00:00Z", id, GrantExtension{"the head agrees: expert opinion needed"}, "controller");

  auto dl = city.events(id, SlaClockKind::kDeadlineSet, "law.answer");
  ASSERT_EQ(dl.size(), 2u);
  EXPECT_EQ(*dl[0].deadline, utc("2026-04-06T13:00:00Z"));
  EXPECT_EQ(*dl[1].deadline, utc("2026-04-30T13:00:00Z"));
  EXPECT_EQ(dl[1].at, utc("2026-04-01T06:00:00Z"));
  // The applicant must be told within 3 working days of the extension.
  auto notice = city.events(id, SlaClockKind::kDeadlineSet, "law.extension_notice");
  ASSERT_EQ(notice.size(), 1u);
  EXPECT_EQ(*notice[0].deadline, utc("2026-04-06T13:00:00Z"));

  city.clock().set(utc("2026-04-02T05:00:00Z"));
  auto past_cap = city.engine().execute(id, RequestExtension{utc("2026-05-20T13:00:00Z"), "more"}, city.meta());
  EXPECT_FALSE(past_cap.ok());
  EXPECT_NE(past_cap.status().message().find("cap"), std::string::npos) << past_cap.status().ToString();
  city.run_at("2026-04-02T06:00:00Z", id, RequestExtension{utc("2026-05-08T13:00:00Z"), "again"}, "agency");
  city.run_at("2026-04-02T07:00:00Z", id, GrantExtension{"second"}, "controller");
  dl = city.events(id, SlaClockKind::kDeadlineSet, "law.answer");
  ASSERT_EQ(dl.size(), 2u) << "a second extension must not move the deadline";

  city.fire_at("2026-05-01T00:00:00Z");
  const auto breach = city.events(id, SlaClockKind::kBreached, "law.answer");
  ASSERT_EQ(breach.size(), 1u);
  EXPECT_EQ(breach[0].at, utc("2026-04-30T13:00:00Z"));
}

// An appeal outside the agency's competence is redirected within 3 working days: from Wednesday 11 March the
// third working day closes on Monday 16 March at 18:00 (9 March was the day off, not in this range).
TEST(SlaGolden, RedirectIsDueWithinThreeWorkingDays) {
  SlaCity city;
  const std::string late = city.reg_at("2026-03-11T05:00:00Z", Category::kComplaint, "lifts.broken");
  const std::string ok = city.reg_at("2026-03-11T05:00:00Z", Category::kComplaint, "lifts.broken");
  for (const auto& id : {late, ok}) {
    city.run_at("2026-03-11T06:00:00Z", id, SendForReview{}, "operator");
    city.run_at("2026-03-11T07:00:00Z", id, Assign{"housing-dept"}, "inspector");
  }
  const auto dl = city.events(ok, SlaClockKind::kDeadlineSet, "law.redirect");
  ASSERT_EQ(dl.size(), 1u);
  EXPECT_EQ(*dl[0].deadline, utc("2026-03-16T13:00:00Z"));

  city.run_at("2026-03-13T05:00:00Z", ok, Redirect{"city-roads", "the courtyard road belongs to city roads"}, "agency");
  const auto stopped = city.events(ok, SlaClockKind::kStopped, "law.redirect");
  ASSERT_EQ(stopped.size(), 1u);
  EXPECT_EQ(stopped[0].at, utc("2026-03-13T05:00:00Z"));

  city.fire_at("2026-03-17T00:00:00Z");
  EXPECT_TRUE(city.events(ok, SlaClockKind::kBreached, "law.redirect").empty());
  const auto breach = city.events(late, SlaClockKind::kBreached, "law.redirect");
  ASSERT_EQ(breach.size(), 1u);
  EXPECT_EQ(breach[0].at, utc("2026-03-16T13:00:00Z"));
  EXPECT_EQ(breach[0].rule_id, "complaint");
}

// An open manhole reported at 23:00 local: the 24/7 clock gives 4 hours. 75% (3h) at 02:00, breach at 03:00
// with the priority raised to critical, breach+2h at 05:00 to the akim and the emergency coordinator.
TEST(SlaGolden, DangerousIncidentEscalatesWithinHoursAtNight) {
  SlaCity city;
  const std::string id = city.reg_at("2026-03-02T18:00:00Z", Category::kIncident, "roads.manhole_open");
  EXPECT_EQ(city.service().index().find(id), std::optional(std::optional(utc("2026-03-02T21:00:00Z"))));
  EXPECT_EQ(city.fire_at("2026-03-02T21:00:00Z"), 0u);  // facts recorded at 21:00:00 may still arrive
  EXPECT_EQ(city.fire_at("2026-03-02T21:00:00.000001Z"), 1u);
  auto warn = city.events(id, SlaClockKind::kWarning, "make_safe");
  ASSERT_EQ(warn.size(), 1u);
  EXPECT_EQ(warn[0].notify, std::vector<std::string>{"head_of_agency"});
  EXPECT_EQ(warn[0].calendar, "round-the-clock");
  city.fire_at("2026-03-02T22:00:01Z");
  auto breach = city.events(id, SlaClockKind::kBreached, "make_safe");
  ASSERT_EQ(breach.size(), 1u);
  EXPECT_EQ(breach[0].raise_priority, "critical");
  EXPECT_EQ(breach[0].notify, (std::vector<std::string>{"head_of_agency", "deputy_akim"}));
  expect_cites(breach[0], "dangerous-incident", bound_hash(city));
  city.fire_at("2026-03-03T00:30:00Z");
  auto esc = city.events(id, SlaClockKind::kEscalated, "make_safe");
  ASSERT_EQ(esc.size(), 1u);
  EXPECT_EQ(esc[0].label, "breach+2h");
  EXPECT_EQ(esc[0].at, utc("2026-03-03T00:00:00Z"));
  EXPECT_EQ(esc[0].reassign_role, "emergency_coordinator");
  EXPECT_EQ(esc[0].notify, std::vector<std::string>{"akim"});
}

// No heating (not dangerous): 16 business hours. Registered Monday 2 March 09:00; on hold at 12:00 (3h used)
// waiting for the applicant to open the basement; resumed Wednesday 10:00. The remaining 13 business hours end
// on Thursday 5 March at 16:00 local (11:00Z). While paused nothing is due.
TEST(SlaGolden, ClockPausesWhileWaitingForTheApplicant) {
  SlaCity city;
  const std::string id = city.reg_at("2026-03-02T04:00:00Z", Category::kIncident, "utilities.heating.no_heat");
  city.run_at("2026-03-02T04:10:00Z", id, SendForReview{}, "operator");
  city.run_at("2026-03-02T04:20:00Z", id, Assign{}, "inspector");
  city.run_at("2026-03-02T04:30:00Z", id, Accept{}, "agency");
  city.run_at("2026-03-02T04:40:00Z", id, StartWork{}, "agency");
  EXPECT_EQ(*city.events(id, SlaClockKind::kDeadlineSet, "resolve").at(0).deadline, utc("2026-03-03T13:00:00Z"));
  city.run_at("2026-03-02T07:00:00Z", id, Hold{"waiting for the applicant to open the basement"}, "agency");
  ASSERT_EQ(city.events(id, SlaClockKind::kPaused, "resolve").size(), 1u);
  EXPECT_EQ(city.service().index().find(id), std::optional<std::optional<Timestamp>>(std::optional<Timestamp>()));  // open, nothing due
  EXPECT_EQ(city.fire_at("2026-03-03T14:00:00Z"), 0u);
  EXPECT_TRUE(city.events(id, SlaClockKind::kBreached, "resolve").empty());

  city.run_at("2026-03-04T05:00:00Z", id, Resume{"the applicant is home"}, "agency");
  ASSERT_EQ(city.events(id, SlaClockKind::kResumed, "resolve").size(), 1u);
  const auto dl = city.events(id, SlaClockKind::kDeadlineSet, "resolve");
  ASSERT_EQ(dl.size(), 2u);
  EXPECT_EQ(*dl[1].deadline, utc("2026-03-05T11:00:00Z"));
  city.run_at("2026-03-05T10:00:00Z", id, Resolve{Outcome::kDone, "heating restored"}, "agency");
  EXPECT_EQ(city.events(id, SlaClockKind::kStopped, "resolve").size(), 1u);
  city.fire_at("2026-03-06T00:00:00Z");
  EXPECT_TRUE(city.events(id, SlaClockKind::kBreached, "resolve").empty());
}

// A restart with overdue timers: they fire at once, in due order, exactly once; a second restart adds nothing.
TEST(SlaGolden, OverdueTimersFireOnceInOrderAtStartup) {
  SlaCity city;
  const std::string a = city.reg_at("2026-03-02T18:00:00Z", Category::kIncident, "roads.manhole_open");
  const std::string b = city.reg_at("2026-03-02T18:30:00Z", Category::kIncident, "roads.manhole_open");
  city.stop_service();
  city.clock().set(utc("2026-03-03T06:00:00Z"));
  city.open_service();
  city.settle();
  for (const auto& id : {a, b}) {
    EXPECT_EQ(city.events(id, SlaClockKind::kWarning, "make_safe").size(), 1u);
    EXPECT_EQ(city.events(id, SlaClockKind::kBreached, "make_safe").size(), 1u);
    EXPECT_EQ(city.events(id, SlaClockKind::kEscalated, "make_safe").size(), 1u);
  }
  // In due order: a's rungs (due first) were appended before b's.
  auto position_of = [&](const std::string& id, const char* type) {
    auto s = city.store().read_stream("appeal-" + id, 1, store::Direction::kForward, 100);
    for (const auto& e : *s) {
      if (e.type == type) return e.position;
    }
    return std::uint64_t{0};
  };
  EXPECT_LT(position_of(a, "SlaWarning"), position_of(b, "SlaWarning"));
  EXPECT_LT(position_of(a, "SlaEscalated"), position_of(b, "SlaWarning"));
  const auto head = city.store().head_position();
  city.stop_service();
  city.open_service();
  city.settle();
  EXPECT_EQ(city.store().head_position(), head);
  // A lost index: the service rebuilds from position 0 and writes nothing new either.
  city.stop_service();
  city.open_service("sla-rebuilt");
  city.settle();
  EXPECT_EQ(city.store().head_position(), head);
}

// The shipped kz calendar covers 2025-2026. A complaint registered on 28 December 2026 has its deadline in 2027:
// the rules cannot decide it. The service keeps it open, retries it, and keeps serving every other appeal.
TEST(SlaGolden, AnAppealTheRulesCannotDecideDoesNotStopTheService) {
  SlaCity city;
  // 15 working days from 28 December 2028 reach past kz's horizon (2 provisional years past 2026).
  const std::string bad = city.reg_at("2028-12-28T05:00:00Z", Category::kComplaint, "lifts.broken");
  const std::string good = city.reg_at("2028-12-28T06:00:00Z", Category::kIncident, "roads.manhole_open");
  EXPECT_TRUE(city.service().status().ok()) << city.service().status().ToString();
  EXPECT_GE(city.service().stats().decision_errors, 1u);
  EXPECT_NE(city.service().stats().last_decision_error.find(bad), std::string::npos);
  EXPECT_TRUE(city.view(bad).clock_events.empty());
  EXPECT_EQ(city.service().index().find(bad),
            std::optional<std::optional<Timestamp>>(utc("2028-12-28T05:00:00.000001Z") + std::chrono::hours(1)));
  city.fire_at("2028-12-28T10:30:00Z");
  EXPECT_EQ(city.events(good, SlaClockKind::kBreached, "make_safe").size(), 1u);
}

}  // namespace
}  // namespace otinish::engine
