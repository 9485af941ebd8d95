#include <gtest/gtest.h>

#include "rules/calendar.h"
#include "rules/calendar_spec.h"
#include "tests/rules/test_support.h"

namespace otinish::rules {
namespace {

using namespace date::literals;
using testing::compile_or_die;
using testing::utc;

constexpr auto kBeforeAmendment = date::sys_days(2026_y / 1 / 1);

class KzCalendarTest : public ::testing::Test {
 protected:
  CalendarLibrary lib_ = testing::shipped_calendars();
};

TEST_F(KzCalendarTest, Year2025Has246WorkingDays) {
  EXPECT_EQ(compile_or_die(lib_, "kz").working_days_in_year(2025), 246);
}

TEST_F(KzCalendarTest, Year2026Has246WorkingDaysAsPublishedInDecember2025) {
  const Calendar dec = compile_or_die(lib_, "kz", kBeforeAmendment);
  EXPECT_EQ(dec.working_days_in_year(2026), 246);
  EXPECT_EQ(dec.version(), "kz@2025-12");
}

TEST_F(KzCalendarTest, Year2026Has247WorkingDaysAfterTheMarch2026Amendment) {
  const Calendar amended = compile_or_die(lib_, "kz");
  EXPECT_EQ(amended.working_days_in_year(2026), 247);
  EXPECT_EQ(amended.version(), "kz@2026-03-18");
  EXPECT_EQ(compile_or_die(lib_, "kz", date::sys_days(2026_y / 3 / 18)).working_days_in_year(2026), 247);
  EXPECT_EQ(compile_or_die(lib_, "kz", date::sys_days(2026_y / 3 / 17)).working_days_in_year(2026), 246);
}

TEST_F(KzCalendarTest, AmendmentMovesTheAugust2026DeadlineOneDayEarlier) {
  // Thursday 20 August 2026 + 15 working days: 11 September under December's calendar, 10 September after.
  const Timestamp registered = utc("2026-08-20T05:00:00Z");  // 10:00 local
  const Target fifteen{15, Unit::kWorkingDays};
  EXPECT_EQ(compile_or_die(lib_, "kz", kBeforeAmendment).add(registered, fifteen).value(),
            utc("2026-09-11T13:00:00Z"));  // 18:00 local
  EXPECT_EQ(compile_or_die(lib_, "kz").add(registered, fifteen).value(), utc("2026-09-10T13:00:00Z"));
}

TEST_F(KzCalendarTest, TransferredSundayIsWorkedAndFridayIsOff2025) {
  const Calendar kz = compile_or_die(lib_, "kz");
  EXPECT_TRUE(kz.day(2025_y / 1 / 5).value().working);
  EXPECT_FALSE(kz.day(2025_y / 1 / 3).value().working);
}

TEST_F(KzCalendarTest, WeekendHolidaysCarryOverToTheNextFreeWorkingDay) {
  const Calendar kz = compile_or_die(lib_, "kz");
  // 2026: Nauryz 21 (Sat) and 22 (Sun) March; Monday 23 is itself Nauryz, so Tuesday 24 and Wednesday 25 are off.
  for (auto d : {2026_y / 3 / 23, 2026_y / 3 / 24, 2026_y / 3 / 25, 2026_y / 5 / 11, 2025_y / 3 / 10,
                 2025_y / 9 / 1, 2025_y / 10 / 27}) {
    EXPECT_FALSE(kz.day(d).value().working) << date::format("%F", d);
  }
  EXPECT_TRUE(kz.day(2026_y / 3 / 26).value().working);
  EXPECT_NE(kz.day(2026_y / 3 / 24).value().reason.find("Nauryz"), std::string::npos);
}

TEST_F(KzCalendarTest, ReligiousDaysAreNotCarriedOver) {
  const Calendar kz = compile_or_die(lib_, "kz");
  EXPECT_FALSE(kz.day(2025_y / 6 / 6).value().working);  // Kurban Ait
  EXPECT_FALSE(kz.day(2025_y / 1 / 7).value().working);  // Orthodox Christmas, a Tuesday
  EXPECT_TRUE(kz.day(2025_y / 1 / 8).value().working);
}

TEST_F(KzCalendarTest, WorkingDayHasEightHoursAfterLunch) {
  EXPECT_EQ(compile_or_die(lib_, "kz").day(2025_y / 4 / 15).value().working_minutes, 8 * 60);
}

TEST_F(KzCalendarTest, CityCalendarInheritsNationalHolidaysAndAmendments) {
  const Calendar city = compile_or_die(lib_, "shymkent");
  EXPECT_EQ(city.working_days_in_year(2026), 247);
  EXPECT_FALSE(city.day(2026_y / 3 / 24).value().working);
  EXPECT_EQ(city.day(2026_y / 4 / 15).value().working_minutes, 8 * 60);  // 09:00-18:30 less 13:00-14:30
  EXPECT_EQ(city.version(), "shymkent@2026-1+kz@2026-03-18");
  EXPECT_EQ(city.time_zone(), "Asia/Almaty");
}

TEST_F(KzCalendarTest, DeadlinePastTheHorizonIsAnErrorNamingItAndWhatToPublish) {
  // 2026 is the last final year; kz counts 2 provisional years past it, to 31 December 2028.
  const Calendar kz = compile_or_die(lib_, "kz");
  EXPECT_TRUE(kz.add(utc("2028-12-01T05:00:00Z"), Target{15, Unit::kWorkingDays}).ok());
  Result<Timestamp> r = kz.add(utc("2028-12-25T05:00:00Z"), Target{15, Unit::kWorkingDays});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("2028-12-31"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("publish 2027's kurban_ait, transfer_decree"), std::string::npos)
      << r.status().message();
}

TEST_F(KzCalendarTest, ADeadlineBeforeTheFirstYearIsRefused) {
  const Calendar kz = compile_or_die(lib_, "kz");
  Result<Timestamp> r = kz.add(utc("2024-12-20T05:00:00Z"), Target{3, Unit::kWorkingDays});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("before its first year (2025)"), std::string::npos) << r.status().message();
  EXPECT_FALSE(kz.day(2024_y / 12 / 31).ok());
}

TEST_F(KzCalendarTest, VersionsHaveDistinctContentHashes) {
  EXPECT_NE(compile_or_die(lib_, "kz").content_hash(), compile_or_die(lib_, "kz", kBeforeAmendment).content_hash());
  EXPECT_EQ(compile_or_die(lib_, "kz").content_hash(), compile_or_die(lib_, "kz").content_hash());
}

constexpr const char* kAlmaty2023 = R"(
calendar: almaty-test
time_zone: Asia/Almaty
years: {from: 2023, to: 2025}
week: {mon: "09:00-18:00", tue: "09:00-18:00", wed: "09:00-18:00", thu: "09:00-18:00", fri: "09:00-18:00"}
)";

TEST(CalendarTimeZoneTest, ReplayOf2023UsesUtcPlus6And2025UsesUtcPlus5) {
  CalendarLibrary lib;
  std::vector<Diagnostic> diags;
  ASSERT_TRUE(lib.add(*parse_calendar(kAlmaty2023, "almaty.yaml", &diags), &diags));
  const Calendar c = compile_or_die(lib, "almaty-test");
  // Start of business: 09:00 local.
  EXPECT_EQ(c.add(utc("2023-06-01T00:00:00Z"), Target{1, Unit::kBusinessMinutes}).value(),
            utc("2023-06-01T03:01:00Z"));
  EXPECT_EQ(c.add(utc("2025-06-02T00:00:00Z"), Target{1, Unit::kBusinessMinutes}).value(),
            utc("2025-06-02T04:01:00Z"));
  EXPECT_EQ(c.format_local(utc("2023-06-01T03:00:00Z")), "2023-06-01T09:00:00+06:00");
  EXPECT_EQ(c.format_local(utc("2025-06-02T04:00:00Z")), "2025-06-02T09:00:00+05:00");
}

TEST(CalendarParseTest, UnknownKeyNamesTheAllowedKeysAndTheClosestOne) {
  std::vector<Diagnostic> diags;
  auto spec = parse_calendar("calendar: x\ntime_zone: Asia/Almaty\nyears: {from: 2025, to: 2025}\n"
                             "week: {mon: \"09:00-18:00\"}\nlunhc: \"13:00-14:00\"\n",
                             "x.yaml", &diags);
  EXPECT_FALSE(spec.has_value());
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].where.line, 5);
  EXPECT_EQ(diags[0].where.column, 1);
  EXPECT_NE(diags[0].message.find("did you mean 'lunch'"), std::string::npos) << diags[0].message;
  EXPECT_NE(diags[0].message.find("allowed keys:"), std::string::npos);
}

TEST(CalendarParseTest, ReportsEveryErrorAtOnce) {
  std::vector<Diagnostic> diags;
  auto spec = parse_calendar(R"(calendar: x
time_zone: Mars/Olympus
years: {from: 2025, to: 2025}
week: {mon: "9-18", tue: "18:00-09:00"}
holidays:
  - {date: "02-30"}
days_off: [2025-13-01]
)",
                             "x.yaml", &diags);
  EXPECT_FALSE(spec.has_value());
  EXPECT_EQ(diags.size(), 5u);
  for (const auto& d : diags) EXPECT_GT(d.where.line, 1) << format_diagnostic(d);
}

TEST(CalendarParseTest, SyntaxErrorHasLineAndColumn) {
  std::vector<Diagnostic> diags;
  EXPECT_FALSE(parse_calendar("calendar: x\nweek: [\n", "x.yaml", &diags).has_value());
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].code, "yaml-syntax");
  EXPECT_GT(diags[0].where.line, 0);
}

TEST(CalendarParseTest, CanonicalTextIgnoresOrderAndSpelling) {
  std::vector<Diagnostic> diags;
  auto a = parse_calendar(R"(calendar: x
time_zone: Asia/Almaty
years: {from: 2025, to: 2025}
week: {mon: "09:00-18:00"}
holidays: [{date: "01-01", name: NY}, {date: "03-08", name: W}]
)",
                          "a.yaml", &diags);
  auto b = parse_calendar(R"(# the same, written differently
holidays:
  - name: W
    date: "03-08"
  - {name: NY, date: "01-01", carry_over: yes}
week:
  mon: ["09:00-18:00"]
  sat: off
years:
  to: 2025
  from: 2025
time_zone: Asia/Almaty
calendar: x
)",
                          "b.yaml", &diags);
  ASSERT_TRUE(a && b) << (diags.empty() ? "" : format_diagnostic(diags[0]));
  EXPECT_EQ(canonical_text(*a), canonical_text(*b));
}

}  // namespace
}  // namespace otinish::rules
