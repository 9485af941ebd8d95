// Calendars that never run out: Kazakhstan's Labour Code as recurring data generates any year; the yearly
// inputs (Kurban Ait, the transfer decree) make a year final; without them a year is provisional and counted on
// the statutory base up to a horizon. Totals are the published ones (shared/domain/kz-calendar.md).
#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "rules/calendar.h"
#include "rules/calendar_spec.h"
#include "tests/rules/test_support.h"

namespace otinish::rules {
namespace {

using namespace date::literals;
using testing::compile_or_die;
using testing::example;
using testing::utc;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string& kz_text() {
  static const std::string text = read_text(example("calendars/kz.yaml"));
  return text;
}

// kz.yaml's text with more amendments appended (it ends inside its `amendments:` list).
CalendarLibrary kz_with(const std::string& amendments, std::vector<Diagnostic>* diags = nullptr) {
  std::vector<Diagnostic> local;
  std::vector<Diagnostic>* out = diags ? diags : &local;
  CalendarLibrary lib;
  auto spec = parse_calendar(kz_text() + amendments, "kz.yaml", out);
  if (spec) lib.add(std::move(*spec), out);
  return lib;
}

// MADE-UP TEST DATA, not a real decree: Kurban Ait on Monday 17 May 2027; Friday 8 January off for Saturday 30
// January. Published 15 January 2027.
constexpr const char* kTestDecree2027 = R"(
  - version: "2027-test"
    published: 2027-01-15
    note: made-up test data
    yearly:
      - year: 2027
        kurban_ait: 2027-05-17
        transfer_decree:
          - {work: 2027-01-30, off: 2027-01-08, name: Test decree}
)";

const Calendar& kz() {
  static const Calendar c = compile_or_die(testing::shipped_calendars(), "kz");
  return c;
}

TEST(KzYears, GeneratedTotalsMatchThePublishedOnes) {
  const CalendarLibrary lib = testing::shipped_calendars();
  EXPECT_EQ(kz().working_days_in_year(2025), 246);
  EXPECT_EQ(compile_or_die(lib, "kz", date::sys_days(2026_y / 1 / 1)).working_days_in_year(2026), 246);
  EXPECT_EQ(kz().working_days_in_year(2026), 247);
  // 2027 on the statutory base: 261 weekdays, 14 of them days off (below), no Kurban Ait, no decree.
  EXPECT_EQ(kz().working_days_in_year(2027), 247);
}

TEST(KzYears, Year2027IsProvisionalWithBothInputsMissing) {
  ASSERT_FALSE(kz().provisional_years().empty());
  EXPECT_EQ(kz().provisional_years().front(), (ProvisionalYear{2027, {"kurban_ait", "transfer_decree"}, "kz"}));
  EXPECT_EQ(kz().first_provisional_day(), date::sys_days(2027_y / 1 / 1));
  EXPECT_TRUE(kz().day(2027_y / 6 / 1).value().provisional);
  EXPECT_FALSE(kz().day(2026_y / 12 / 31).value().provisional);
  EXPECT_EQ(kz().provisional_note(utc("2026-12-01T05:00:00Z"), utc("2026-12-30T05:00:00Z")), "");
  EXPECT_EQ(kz().provisional_note(utc("2026-12-10T05:00:00Z"), utc("2027-01-05T13:00:00Z")),
            "kz 2027 is provisional: kurban_ait, transfer_decree not published");
}

TEST(KzYears, The2027StatutoryDaysOffFollowFromTheRules) {
  for (auto d : {2027_y / 1 / 1, 2027_y / 1 / 4 /* for Sat 2 Jan */, 2027_y / 1 / 7 /* not carried */,
                 2027_y / 3 / 8, 2027_y / 3 / 15 /* Constitution Day from 2027 */, 2027_y / 3 / 22, 2027_y / 3 / 23,
                 2027_y / 3 / 24 /* for Sun 21 Mar */, 2027_y / 5 / 3 /* for Sat 1 May */, 2027_y / 5 / 7,
                 2027_y / 5 / 10 /* for Sun 9 May */, 2027_y / 7 / 6, 2027_y / 10 / 25, 2027_y / 12 / 16}) {
    EXPECT_FALSE(kz().day(d).value().working) << date::format("%F", d);
  }
  EXPECT_TRUE(kz().day(2027_y / 8 / 30).value().working) << "30 August is no longer a holiday from 2027";
  EXPECT_TRUE(kz().day(2027_y / 1 / 5).value().working);
}

TEST(KzYears, PublishingTheInputsMakesTheYearFinalFromItsPublicationDate) {
  const CalendarLibrary lib = kz_with(kTestDecree2027);
  const Calendar before = compile_or_die(lib, "kz", date::sys_days(2027_y / 1 / 14));
  const Calendar after = compile_or_die(lib, "kz", date::sys_days(2027_y / 1 / 15));
  EXPECT_EQ(before.provisional_years().front().year, 2027);
  EXPECT_EQ(after.provisional_years().front().year, 2028);
  EXPECT_EQ(after.first_provisional_day(), date::sys_days(2028_y / 1 / 1));
  // 247 - Kurban Ait (a Monday) - 8 January + Saturday 30 January = 246.
  EXPECT_EQ(after.working_days_in_year(2027), 246);
  EXPECT_FALSE(after.day(2027_y / 1 / 8).value().working);
  EXPECT_TRUE(after.day(2027_y / 1 / 30).value().working);
  EXPECT_EQ(after.version(), "kz@2027-test");
  // The horizon moves with the last final year: 2029 is now counted (provisionally).
  EXPECT_EQ(before.last_day(), date::sys_days(2028_y / 12 / 31));
  EXPECT_EQ(after.last_day(), date::sys_days(2029_y / 12 / 31));
}

TEST(KzYears, AYearWithOnlyOneInputPublishedStaysProvisionalNamingTheOther) {
  const CalendarLibrary lib = kz_with(R"(
  - version: "2027-kurban"
    published: 2026-12-20
    yearly:
      - {year: 2027, kurban_ait: 2027-05-17}
)");
  const Calendar c = compile_or_die(lib, "kz");
  EXPECT_EQ(c.provisional_years().front(), (ProvisionalYear{2027, {"transfer_decree"}, "kz"}));
  EXPECT_FALSE(c.day(2027_y / 5 / 17).value().working);
}

// ---- properties ------------------------------------------------------------------------------------------------

rc::Gen<Timestamp> instants_2025_2028() {
  const std::int64_t from = micros_since_epoch(utc("2025-01-01T00:00:00Z")) / 1'000'000;
  const std::int64_t to = micros_since_epoch(utc("2028-09-30T00:00:00Z")) / 1'000'000;
  return rc::gen::map(rc::gen::inRange<std::int64_t>(from, to),
                      [](std::int64_t s) { return timestamp_from_micros(s * 1'000'000); });
}

rc::Gen<Target> calendar_targets() {
  return rc::gen::oneOf(
      rc::gen::map(rc::gen::inRange<std::int64_t>(1, 41), [](auto n) { return Target{n, Unit::kWorkingDays}; }),
      rc::gen::map(rc::gen::inRange<std::int64_t>(1, 200), [](auto n) { return Target{n, Unit::kBusinessHours}; }));
}

// Adding a day off (what Kurban Ait does when it is published) never moves a deadline earlier: so a provisional
// deadline is never later than the final one when the only later inputs are days off.
RC_GTEST_PROP(KzYearsProperty, AddingADayOffNeverMovesADeadlineEarlier, ()) {
  const int day_of_year = *rc::gen::inRange(0, 365);
  const date::year_month_day extra{date::sys_days(2027_y / 1 / 1) + date::days(day_of_year)};
  const CalendarLibrary lib = kz_with(R"(
  - version: "extra-day-off"
    published: 2026-12-01
    days_off: [)" + date::format("%F", extra) + R"(]
)");
  static const Calendar base = kz();
  const Calendar more = testing::compile_or_die(lib, "kz");
  const Timestamp t = *instants_2025_2028();
  const Target d = *calendar_targets();
  const Result<Timestamp> a = base.add(t, d), b = more.add(t, d);
  RC_ASSERT(a.ok());
  RC_ASSERT(b.ok());
  RC_ASSERT(*b >= *a);
}

RC_GTEST_PROP(KzYearsProperty, AddAndBetweenStayInverseAcrossYearBoundaries, ()) {
  const Timestamp t = *instants_2025_2028();
  const Target d = *calendar_targets();
  const Result<Timestamp> due = kz().add(t, d);
  RC_ASSERT(due.ok());
  const Result<std::int64_t> back = kz().between(t, *due, d.measure());
  RC_ASSERT(back.ok());
  RC_ASSERT(*back == d.base_amount());
}

// Weekend holidays next to each other (New Year's 1-2 January, Nauryz's 21-23 March) are carried to distinct
// days: in each window the weekday days off number exactly the holidays on weekdays plus one per carried weekend
// holiday. The expectation is counted here from the weekdays alone, not by the library's algorithm.
TEST(KzYears, AdjacentWeekendHolidaysAreCarriedToDistinctDaysEveryYearTo2084) {
  const std::string text = std::string(R"(
calendar: kz-long
time_zone: Asia/Almaty
years: {from: 2025, to: 2084}
week: {mon: "09:00-18:00", tue: "09:00-18:00", wed: "09:00-18:00", thu: "09:00-18:00", fri: "09:00-18:00"}
holidays:
  - {date: "01-01", name: New Year}
  - {date: "01-02", name: New Year}
  - {date: "01-07", name: Orthodox Christmas, carry_over: false}
  - {date: "03-08", name: International Women's Day}
  - {date: "03-15", name: Constitution Day, from: 2027}
  - {date: "03-21", name: Nauryz}
  - {date: "03-22", name: Nauryz}
  - {date: "03-23", name: Nauryz}
)");
  std::vector<Diagnostic> diags;
  CalendarLibrary lib;
  auto spec = parse_calendar(text, "kz-long.yaml", &diags);
  ASSERT_TRUE(spec) << (diags.empty() ? "" : format_diagnostic(diags.front()));
  ASSERT_TRUE(lib.add(std::move(*spec), &diags));
  const Calendar c = compile_or_die(lib, "kz-long");
  EXPECT_TRUE(c.provisional_years().empty()) << "no yearly inputs declared: every year is final";
  auto weekend = [](date::year_month_day d) { return date::weekday(date::sys_days(d)).iso_encoding() > 5; };
  for (int y = 2025; y <= 2084; ++y) {
    const date::year yy{y};
    struct Window {
      date::year_month_day from, to;
      std::vector<std::pair<date::year_month_day, bool>> holidays;  // (date, carried if on a weekend)
    };
    std::vector<std::pair<date::year_month_day, bool>> march = {{yy / 3 / 8, true}, {yy / 3 / 21, true},
                                                                 {yy / 3 / 22, true}, {yy / 3 / 23, true}};
    if (y >= 2027) march.push_back({yy / 3 / 15, true});
    const Window windows[] = {{yy / 1 / 1, yy / 1 / 15, {{yy / 1 / 1, true}, {yy / 1 / 2, true}, {yy / 1 / 7, false}}},
                              {yy / 3 / 8, yy / 3 / 31, march}};
    for (const Window& w : windows) {
      int expected = 0;
      for (const auto& [d, carried] : w.holidays) expected += !weekend(d) || carried ? 1 : 0;
      int off = 0;
      for (auto d = date::sys_days(w.from); d <= date::sys_days(w.to); d += date::days(1)) {
        if (!weekend(date::year_month_day(d)) && !c.day(date::year_month_day(d)).value().working) ++off;
      }
      EXPECT_EQ(off, expected) << y << " window from " << date::format("%F", w.from);
    }
  }
}

// ---- other centres inherit --------------------------------------------------------------------------------------

CalendarLibrary centres() {
  CalendarLibrary lib = testing::shipped_calendars();
  std::vector<Diagnostic> diags;
  for (const char* f : {"calendars/saturday-centre.yaml", "calendars/agency-akimat.yaml"}) {
    EXPECT_TRUE(lib.load_file(example(f), &diags)) << f << (diags.empty() ? "" : format_diagnostic(diags.front()));
  }
  return lib;
}

TEST(OtherCentres, ASaturdayCentreInheritsTheHolidaysAndTheProvisionalYear) {
  const Calendar c = compile_or_die(centres(), "saturday-centre");
  EXPECT_EQ(c.day(2026_y / 12 / 5).value().working_minutes, 4 * 60);  // a Saturday, 09:00-13:00
  EXPECT_FALSE(c.day(2026_y / 12 / 16).value().working);
  // Saturday 2 January 2027 is a working day here, so the holiday on it is just a day off, not carried.
  EXPECT_FALSE(c.day(2027_y / 1 / 2).value().working);
  EXPECT_TRUE(c.day(2027_y / 1 / 4).value().working);
  // Sunday 21 March 2027 is its weekly day off: carried past Nauryz 22-23 to Wednesday 24.
  EXPECT_FALSE(c.day(2027_y / 3 / 24).value().working);
  EXPECT_EQ(c.first_provisional_day(), date::sys_days(2027_y / 1 / 1));
}

TEST(OtherCentres, AnAgencyWithItsOwnHoursInheritsEverythingElse) {
  const Calendar c = compile_or_die(centres(), "agency-akimat");
  EXPECT_EQ(c.day(2026_y / 12 / 15).value().working_minutes, 8 * 60);
  EXPECT_FALSE(c.day(2026_y / 12 / 16).value().working);
  EXPECT_EQ(c.working_days_in_year(2027), 247);
  EXPECT_EQ(c.provisional_years().front().year, 2027);
  EXPECT_EQ(c.last_day(), kz().last_day());
}

TEST(OtherCentres, TheRoundTheClockDeskIgnoresHolidaysAndIsNeverProvisional) {
  const Calendar c = compile_or_die(centres(), "round-the-clock");
  EXPECT_TRUE(c.provisional_years().empty());
  EXPECT_TRUE(c.day(2026_y / 12 / 16).value().working);
  EXPECT_EQ(c.day(2027_y / 1 / 1).value().working_minutes, 24 * 60);
  const Timestamp due = c.add(utc("2026-12-31T17:00:00Z"), Target{4, Unit::kBusinessHours}).value();
  EXPECT_EQ(due, utc("2026-12-31T21:00:00Z"));  // 02:00 local on 1 January 2027
  EXPECT_EQ(c.provisional_note(utc("2026-12-31T17:00:00Z"), due), "");
  EXPECT_EQ(c.last_day(), kz().last_day()) << "it counts as far ahead as the national calendar";
}

TEST(OtherCentres, ShymkentCountsAcrossTheYearChangeProvisionally) {
  const Calendar c = compile_or_die(centres(), "shymkent");
  const Timestamp start = utc("2026-12-10T05:00:00Z");
  const Timestamp due = c.add(start, Target{15, Unit::kWorkingDays}).value();
  EXPECT_EQ(due, utc("2027-01-05T13:30:00Z"));  // 18:30 local, Shymkent's close
  // The inputs are kz's: the note names the calendar where an admin publishes them.
  EXPECT_EQ(c.provisional_note(start, due), "kz 2027 is provisional: kurban_ait, transfer_decree not published");
}

// ---- bad input ---------------------------------------------------------------------------------------------------

// The 1-based line of the first occurrence of `needle` in `text`.
int line_of(const std::string& text, const std::string& needle) {
  const auto at = text.find(needle);
  return at == std::string::npos ? -1 : static_cast<int>(std::count(text.begin(), text.begin() + at, '\n')) + 1;
}

TEST(CalendarInput, AHolidayMarkedWorkingWithoutSayingSoIsAnErrorAtItsLine) {
  const std::string amendment = R"(
  - version: "bad"
    published: 2026-12-20
    working_days:
      - {date: 2027-03-08, name: typo for 2027-03-06}
)";
  const CalendarLibrary lib = kz_with(amendment);
  const std::vector<Diagnostic> diags = lib.validate("kz");
  ASSERT_TRUE(has_errors(diags));
  const Diagnostic& d = diags.front();
  EXPECT_EQ(d.code, "working-day-on-holiday");
  EXPECT_EQ(d.where.file, "kz.yaml");
  EXPECT_EQ(d.where.line, line_of(kz_text() + amendment, "{date: 2027-03-08"));
  EXPECT_GT(d.where.column, 0);
  EXPECT_NE(d.message.find("International Women's Day"), std::string::npos) << d.message;
  // Text published before this check existed still compiles as it did (the entry wins): only validation, and so
  // publication, refuses it.
  const Result<Calendar> c = lib.compile("kz");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->day(2027_y / 3 / 8).value().working);
}

TEST(CalendarInput, AHolidayWorkedOnPurposeSaysSo) {
  const CalendarLibrary lib = kz_with(R"(
  - version: "deliberate"
    published: 2026-12-20
    working_days:
      - {date: 2027-03-08, name: worked by special order, overrides_holiday: true}
)");
  EXPECT_FALSE(has_errors(lib.validate("kz")));
  EXPECT_TRUE(compile_or_die(lib, "kz").day(2027_y / 3 / 8).value().working);
}

TEST(CalendarInput, AYearBeforeTheFirstYearIsRefusedAtItsLine) {
  std::vector<Diagnostic> diags;
  const std::string amendment = R"(
  - version: "old"
    published: 2026-12-20
    yearly:
      - {year: 2024, kurban_ait: 2024-06-16, transfer_decree: []}
)";
  (void)kz_with(amendment, &diags);
  ASSERT_TRUE(has_errors(diags));
  EXPECT_EQ(diags.front().code, "year-before-first");
  EXPECT_EQ(diags.front().where.line, line_of(kz_text() + amendment, "2024, kurban_ait"));
}

TEST(CalendarInput, AnUndeclaredInputAndADateOutsideItsYearAreErrors) {
  CalendarLibrary unknown = kz_with(R"(
  - version: "unknown"
    published: 2026-12-20
    yearly:
      - {year: 2027, kurban_ayt: 2027-05-17, transfer_decree: []}
)");
  std::vector<Diagnostic> diags = unknown.validate("kz");
  ASSERT_TRUE(has_errors(diags));
  EXPECT_EQ(diags.front().code, "unknown-input");
  EXPECT_NE(diags.front().message.find("kurban_ayt"), std::string::npos);
  EXPECT_GT(diags.front().where.line, 0);

  std::vector<Diagnostic> parse;
  (void)kz_with(R"(
  - version: "wrong-year"
    published: 2026-12-20
    yearly:
      - {year: 2027, kurban_ait: 2028-05-05, transfer_decree: []}
)",
                &parse);
  ASSERT_TRUE(has_errors(parse));
  EXPECT_EQ(parse.front().code, "wrong-year");
}

TEST(CalendarInput, ACorrectionRemovesOnlyTheDayThisInputPublished) {
  const CalendarLibrary lib = kz_with(R"(
  - version: "2027-a"
    published: 2027-01-10
    yearly:
      - {year: 2027, kurban_ait: 2027-05-17, transfer_decree: []}
  - version: "city-day"
    published: 2027-01-12
    days_off:
      - {date: 2027-05-17, name: City day}
  - version: "2027-b"
    published: 2027-01-20
    yearly:
      - {year: 2027, kurban_ait: 2027-05-18}
)");
  const Calendar c = compile_or_die(lib, "kz");
  EXPECT_FALSE(c.day(2027_y / 5 / 17).value().working) << "the city day written since stays";
  EXPECT_EQ(c.day(2027_y / 5 / 17).value().reason, "City day");
  EXPECT_FALSE(c.day(2027_y / 5 / 18).value().working);
}

TEST(CalendarInput, ADeadlineAtTheCloseOfADayEndingAt24IsNotInTheNextYear) {
  const CalendarLibrary lib = [] {
    CalendarLibrary l = testing::shipped_calendars();
    std::vector<Diagnostic> diags;
    auto spec = parse_calendar(R"(
calendar: late-desk
inherits: kz
week: {mon: "08:00-24:00", tue: "08:00-24:00", wed: "08:00-24:00", thu: "08:00-24:00", fri: "08:00-24:00"}
lunch: off
)", "late-desk.yaml", &diags);
    EXPECT_TRUE(spec.has_value());
    l.add(std::move(*spec), &diags);
    return l;
  }();
  const Calendar c = compile_or_die(lib, "late-desk");
  // Thursday 31 December 2026, 24:00 local = 2026-12-31T19:00Z.
  const Timestamp close = utc("2026-12-31T19:00:00Z");
  EXPECT_EQ(c.provisional_note(utc("2026-12-30T05:00:00Z"), close), "");
  EXPECT_NE(c.provisional_note(utc("2026-12-30T05:00:00Z"), close + std::chrono::hours(14)), "");
}

TEST(CalendarInput, AnInputWithNoValueOrOfTheWrongKindIsRefused) {
  std::vector<Diagnostic> blank;
  (void)kz_with(R"(
  - version: "blank"
    published: 2026-12-20
    yearly:
      - {year: 2027, kurban_ait: , transfer_decree: []}
)",
                &blank);
  ASSERT_TRUE(has_errors(blank)) << "a blank value must not count as published";
  EXPECT_EQ(blank.front().code, "missing-value");

  for (const char* swapped : {"{year: 2027, kurban_ait: [{work: 2027-01-09, off: 2027-01-08}], transfer_decree: []}",
                              "{year: 2027, kurban_ait: [], transfer_decree: []}",
                              "{year: 2027, kurban_ait: 2027-05-17, transfer_decree: 2027-05-18}"}) {
    const CalendarLibrary lib = kz_with(std::string(R"(
  - version: "swapped"
    published: 2026-12-20
    yearly:
      - )") + swapped + "\n");
    const auto diags = lib.validate("kz");
    ASSERT_TRUE(has_errors(diags)) << swapped;
    EXPECT_EQ(diags.front().code, "wrong-input-kind") << swapped;
    EXPECT_GT(diags.front().where.line, 0);
  }
}

TEST(CalendarInput, ACorrectedPublicationReplacesTheDayItPublishedBefore) {
  const CalendarLibrary lib = kz_with(R"(
  - version: "2027-a"
    published: 2027-01-10
    yearly:
      - {year: 2027, kurban_ait: 2027-05-17, transfer_decree: []}
  - version: "2027-b"
    published: 2027-01-20
    note: the Spiritual Administration corrected the date (test data)
    yearly:
      - {year: 2027, kurban_ait: 2027-05-18}
)");
  const Calendar a = compile_or_die(lib, "kz", date::sys_days(2027_y / 1 / 15));
  const Calendar b = compile_or_die(lib, "kz");
  EXPECT_FALSE(a.day(2027_y / 5 / 17).value().working);
  EXPECT_TRUE(b.day(2027_y / 5 / 17).value().working) << "the corrected date replaces the first one";
  EXPECT_FALSE(b.day(2027_y / 5 / 18).value().working);
  EXPECT_EQ(a.working_days_in_year(2027), 246);
  EXPECT_EQ(b.working_days_in_year(2027), 246);
  EXPECT_TRUE(b.provisional_years().empty() || b.provisional_years().front().year == 2028);
}

TEST(CalendarInput, AYearPublishedPastAProvisionalOneWarnsAndDoesNotMoveTheHorizon) {
  const std::string amendment = R"(
  - version: "typo"
    published: 2026-12-20
    yearly:
      - {year: 2072, kurban_ait: 2072-05-20, transfer_decree: []}
)";
  const CalendarLibrary lib = kz_with(amendment);
  const Calendar c = compile_or_die(lib, "kz");
  EXPECT_EQ(c.last_day(), date::sys_days(2028_y / 12 / 31));
  EXPECT_EQ(c.provisional_years().front().year, 2027);
  const auto diags = lib.validate("kz");
  const auto gap = std::find_if(diags.begin(), diags.end(), [](const Diagnostic& d) { return d.code == "yearly-gap"; });
  ASSERT_NE(gap, diags.end());
  EXPECT_EQ(gap->severity, Severity::kWarning);
  EXPECT_EQ(gap->where.line, line_of(kz_text() + amendment, "{year: 2072"));
}

TEST(CalendarInput, BeforeTheFirstYearAndPastTheHorizonAreRefused) {
  EXPECT_EQ(kz().add(utc("2024-12-30T05:00:00Z"), Target{2, Unit::kWorkingDays}).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(kz().last_day(), date::sys_days(2028_y / 12 / 31));
  EXPECT_TRUE(kz().add(utc("2028-12-01T05:00:00Z"), Target{10, Unit::kWorkingDays}).ok());
  EXPECT_EQ(kz().add(utc("2028-12-20T05:00:00Z"), Target{15, Unit::kWorkingDays}).status().code(),
            StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace otinish::rules
