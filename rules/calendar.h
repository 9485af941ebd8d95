// rules/calendar.h: a compiled business calendar and working-time arithmetic on it.
//
// A Calendar holds one table row per local day of the years it covers (UTC instant of local midnight, the
// UTC working intervals of the day, and prefix sums of working time and working days), so `add` and
// `between` cost a binary search, not a walk. Local time exists only here: instants go in and out as UTC
// Timestamps and the tz database (Howard Hinnant's date, the OS tzdata) supplies the offset in force on each
// day, so a replay of 2023 in Asia/Almaty uses UTC+6 and of 2025 uses UTC+5, whatever the machine's zone.
//
// Semantics (the property tests in tests/rules/working_time_test.cc pin them):
// - wall units (m, h, d): add(t, d) = t + d; between(a, b) = b - a.
// - business units (bm, bh): B(t) = working time before t since the calendar's first day;
//   add(t, d) = the earliest t' >= t with B(t') = B(t) + d; between(a, b) = B(b) - B(a).
//   A deadline is never inside a lunch break or a night: it is the end of the last working minute needed.
// - working days (wd): add(t, n) = the close of business of the n-th working day after t's local day
//   (t's own day never counts); between(a, b) = how many working days after a's day closed by b.
// - months (mo): add only; the same local time n months later (the last day of a shorter month).
// Hence between(t, add(t, d)) == d, add is monotonic in t and d, and add(add(t, a), b) == add(t, a + b).
//
// Provisional years: a year whose yearly inputs (a moving religious day, a transfer decree) are not published
// is computed on the statutory base. Arithmetic works across it as on any other year; provisional_note(a, b)
// says whether an answer spanning [a, b] depends on such a year, so a deadline can carry the mark. Past the
// horizon (the last covered day) every computation is refused with an error that says what to publish.
//
// Thread-safety: immutable after construction; safe to share between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <date/date.h>

#include "common/hash.h"
#include "common/status.h"
#include "common/time.h"
#include "rules/duration.h"

namespace date {
class time_zone;
}

namespace otinish::rules {

// What a local day is, and why.
struct DayInfo {
  date::year_month_day date;
  bool working = false;
  std::int64_t working_minutes = 0;
  std::string reason;  // "weekend", the holiday's name, "carried over from <holiday> (2025-03-08)", ...
  bool provisional = false;  // the day's year lacks a published yearly input
};

// A covered year computed on the statutory base only.
struct ProvisionalYear {
  int year = 0;
  std::vector<std::string> missing;  // the yearly inputs not published for it, by id ("kurban_ait", ...)
  std::string calendar;              // the calendar that declares them, where an admin publishes them ("kz")
  friend bool operator==(const ProvisionalYear&, const ProvisionalYear&) = default;
};

class Calendar {
 public:
  // One compiled local day (public for the compiler in calendar_spec.cc; callers use the methods below).
  struct Day {
    std::int64_t start_us = 0;         // UTC microseconds of local midnight
    std::int64_t work_before_us = 0;   // working time on all earlier days
    std::int32_t workdays_before = 0;  // working days among all earlier days
    std::uint32_t first_interval = 0;  // index into intervals
    std::uint32_t interval_count = 0;
  };
  struct Interval {
    std::int64_t begin_us = 0;
    std::int64_t end_us = 0;
  };
  struct Tables {
    std::string name;
    std::string version;   // e.g. "kz@2026-03-18" or "shymkent@2025-1+kz@2025-12-24"
    Hash256 content_hash{};  // of the canonical text of every spec and amendment that went in
    const date::time_zone* zone = nullptr;
    date::sys_days first_day;
    std::vector<Day> days;  // days.size() == covered days + 1; the last row is the end sentinel
    std::vector<Interval> intervals;
    std::vector<std::string> reasons;  // per covered day
    std::vector<ProvisionalYear> provisional;  // ascending
    std::string horizon_reason;  // why the coverage ends where it does, for the out-of-range error
  };

  explicit Calendar(Tables tables) : t_(std::move(tables)) {}

  const std::string& name() const noexcept { return t_.name; }
  // The version in force: the calendar's and its parents' latest applied amendments.
  const std::string& version() const noexcept { return t_.version; }
  const Hash256& content_hash() const noexcept { return t_.content_hash; }
  // The IANA zone name.
  std::string time_zone() const;
  date::sys_days first_day() const noexcept { return t_.first_day; }
  // The last local day covered (inclusive).
  date::sys_days last_day() const noexcept;

  // Covered years lacking a yearly input, ascending (empty for a calendar without yearly inputs).
  const std::vector<ProvisionalYear>& provisional_years() const noexcept { return t_.provisional; }
  // The first local day of the first provisional year, or nullopt if every covered year is final.
  std::optional<date::sys_days> first_provisional_day() const;
  // "" when no local day from a's to b's (either order) is provisional; otherwise what is provisional, e.g.
  // "kz 2027 is provisional: kurban_ait, transfer_decree not published", naming the calendar that declares the
  // inputs (kz for Shymkent too: that is where they are published). Instants outside the covered days are
  // clamped to them.
  std::string provisional_note(Timestamp a, Timestamp b) const;

  // The instant `d` after `start`. Errors: FailedPrecondition when the answer (or start, for calendar units)
  // lies outside the years the calendar covers, naming the year to add.
  Result<Timestamp> add(Timestamp start, const Target& d) const;
  // How much of `measure` passed from a to b, in the measure's base quantity (microseconds for wall and
  // business time, days for working days). Negative when b < a. Errors: FailedPrecondition outside the covered
  // years (for calendar measures); InvalidArgument for months.
  Result<std::int64_t> between(Timestamp a, Timestamp b, Measure measure) const;

  // The day's status. Errors: FailedPrecondition outside the covered years.
  Result<DayInfo> day(date::year_month_day date) const;
  // Working days in a year (0 if the year is not covered).
  int working_days_in_year(int year) const;
  std::int64_t working_minutes_in_year(int year) const;

  // "2026-09-11T18:00:00+05:00": the instant in the calendar's zone.
  std::string format_local(Timestamp t) const;
  // The UTC instant of a local wall time; a time skipped by a zone change maps to the change itself.
  Timestamp from_local(date::local_seconds local) const;

 private:
  // Index of the day containing t (days.size()-1 for the end sentinel), or -1 if outside.
  std::int64_t day_index(std::int64_t t_us) const noexcept;
  std::int64_t work_before(std::int64_t idx, std::int64_t t_us) const noexcept;
  std::int64_t close_of(std::int64_t idx) const noexcept;
  bool is_working(std::int64_t idx) const noexcept { return t_.days[idx].interval_count > 0; }
  std::int64_t workday_anchor(std::int64_t idx, std::int64_t t_us) const noexcept;
  Status out_of_range(std::int64_t t_us) const;
  Result<Timestamp> add_business(std::int64_t t_us, std::int64_t d_us) const;
  Result<Timestamp> add_working_days(std::int64_t t_us, std::int64_t n) const;
  Result<Timestamp> add_months(Timestamp t, std::int64_t n) const;

  Tables t_;
};

}  // namespace otinish::rules
