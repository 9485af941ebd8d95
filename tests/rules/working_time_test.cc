// Properties of working-time arithmetic on the shipped Kazakhstan calendar (2025-2026).
#include <cstdlib>
#include <ctime>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <date/tz.h>

#include "rules/calendar.h"
#include "tests/rules/test_support.h"

namespace otinish::rules {
namespace {

using testing::utc;

const Calendar& kz() {
  static const Calendar calendar = testing::compile_or_die(testing::shipped_calendars(), "kz");
  return calendar;
}

// An instant in 2025 or the first half of 2026, to the second, so deadlines stay inside the calendar.
rc::Gen<Timestamp> instants() {
  const std::int64_t from = micros_since_epoch(utc("2025-01-01T00:00:00Z")) / 1'000'000;
  const std::int64_t to = micros_since_epoch(utc("2026-06-30T00:00:00Z")) / 1'000'000;
  return rc::gen::map(rc::gen::inRange<std::int64_t>(from, to),
                      [](std::int64_t s) { return timestamp_from_micros(s * 1'000'000); });
}

rc::Gen<Target> targets() {
  return rc::gen::oneOf(
      rc::gen::map(rc::gen::inRange<std::int64_t>(0, 100'000), [](auto n) { return Target{n, Unit::kMinutes}; }),
      rc::gen::map(rc::gen::inRange<std::int64_t>(0, 20'000), [](auto n) { return Target{n, Unit::kBusinessMinutes}; }),
      rc::gen::map(rc::gen::inRange<std::int64_t>(0, 200), [](auto n) { return Target{n, Unit::kBusinessHours}; }),
      rc::gen::map(rc::gen::inRange<std::int64_t>(0, 60), [](auto n) { return Target{n, Unit::kWorkingDays}; }));
}

RC_GTEST_PROP(WorkingTimeProperty, BetweenUndoesAdd, ()) {
  const Timestamp t = *instants();
  const Target d = *targets();
  const Timestamp end = kz().add(t, d).value();
  RC_ASSERT(kz().between(t, end, d.measure()).value() == d.base_amount());
}

RC_GTEST_PROP(WorkingTimeProperty, AddIsMonotonicInStartAndDuration, ()) {
  const Timestamp a = *instants(), b = *instants();
  const Target d = *targets();
  const Timestamp lo = std::min(a, b), hi = std::max(a, b);
  RC_ASSERT(kz().add(lo, d).value() <= kz().add(hi, d).value());
  const Target longer{d.amount + *rc::gen::inRange<std::int64_t>(0, 50), d.unit};
  RC_ASSERT(kz().add(lo, d).value() <= kz().add(lo, longer).value());
}

RC_GTEST_PROP(WorkingTimeProperty, AddIsAdditive, ()) {
  const Timestamp t = *instants();
  const Target a = *targets();
  const Target b{*rc::gen::inRange<std::int64_t>(0, 40), a.unit};
  const Target sum{a.amount + b.amount, a.unit};
  RC_ASSERT(kz().add(kz().add(t, a).value(), b).value() == kz().add(t, sum).value());
}

RC_GTEST_PROP(WorkingTimeProperty, WorkingDayDeadlineNeverLandsOnADayOff, ()) {
  const Timestamp t = *instants();
  const Target d{*rc::gen::inRange<std::int64_t>(1, 60), Unit::kWorkingDays};
  const Timestamp due = kz().add(t, d).value();
  const auto local = date::make_zoned(kz().time_zone(), due).get_local_time();
  const auto day = date::year_month_day(date::floor<date::days>(local));
  RC_ASSERT(kz().day(day).value().working);
  RC_ASSERT(date::format("%H:%M", date::floor<std::chrono::minutes>(local)) == std::string("18:00"));
}

RC_GTEST_PROP(WorkingTimeProperty, BusinessDeadlineIsNeverInLunchOrNight, ()) {
  const Timestamp t = *instants();
  const Target d{*rc::gen::inRange<std::int64_t>(1, 5000), Unit::kBusinessMinutes};
  const Timestamp due = kz().add(t, d).value();
  RC_LOG() << format_utc(t) << " + " << d.amount << "bm = " << format_utc(due) << "\n";
  const auto local = date::make_zoned(kz().time_zone(), date::floor<std::chrono::seconds>(due)).get_local_time();
  // Seconds, not minutes: a start at 10:31:01 puts deadlines one second past the hour (09:00:01 is working time).
  const auto second = date::floor<std::chrono::seconds>(local - date::floor<date::days>(local)).count();
  RC_ASSERT((second > 9 * 3600 && second <= 13 * 3600) || (second > 14 * 3600 && second <= 18 * 3600));
}

TEST(WorkingTimeTest, ResultsDoNotDependOnTheMachinesTimeZone) {
  const Timestamp t = utc("2025-03-07T10:17:00Z");
  auto compute = [&] {
    return std::vector<Timestamp>{kz().add(t, Target{15, Unit::kWorkingDays}).value(),
                                  kz().add(t, Target{16, Unit::kBusinessHours}).value(),
                                  kz().add(t, Target{2, Unit::kMonths}).value()};
  };
  const char* old = std::getenv("TZ");
  const std::string saved = old ? old : "";
  setenv("TZ", "America/New_York", 1);
  tzset();
  const auto new_york = compute();
  setenv("TZ", "Asia/Tokyo", 1);
  tzset();
  const auto tokyo = compute();
  if (old) setenv("TZ", saved.c_str(), 1); else unsetenv("TZ");
  tzset();
  EXPECT_EQ(new_york, tokyo);
  EXPECT_EQ(new_york, compute());
  EXPECT_EQ(new_york[0], utc("2025-04-03T13:00:00Z"));  // 10, 21, 24 and 25 March are days off
}

TEST(WorkingTimeTest, BusinessHoursSkipLunchNightsAndWeekends) {
  // Friday 2025-04-04 17:00 local + 2bh = Monday 7 April 10:00 local.
  EXPECT_EQ(kz().add(utc("2025-04-04T12:00:00Z"), Target{2, Unit::kBusinessHours}).value(), utc("2025-04-07T05:00:00Z"));
  // 12:30 + 1bh = 14:30 (lunch 13:00-14:00 does not count).
  EXPECT_EQ(kz().add(utc("2025-04-07T07:30:00Z"), Target{1, Unit::kBusinessHours}).value(), utc("2025-04-07T09:30:00Z"));
}

TEST(WorkingTimeTest, WorkingDaysCountFromTheNextDay) {
  // Registered Friday evening: 1wd is the close of Monday.
  EXPECT_EQ(kz().add(utc("2025-04-04T15:00:00Z"), Target{1, Unit::kWorkingDays}).value(), utc("2025-04-07T13:00:00Z"));
  EXPECT_EQ(kz().between(utc("2025-04-04T15:00:00Z"), utc("2025-04-07T12:59:00Z"), Measure::kWorkingDays).value(), 0);
}

}  // namespace
}  // namespace otinish::rules
