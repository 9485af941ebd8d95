// rules/calendar_spec.h: business calendars as written in YAML, before they are compiled into day tables.
//
// A calendar file (schema in docs/calendars.md) names a time zone, working hours per weekday, a lunch break,
// recurring public holidays (the law as data: `from`/`until` years, and `carry_over: true` moves a holiday that
// falls on a day off to the next working day), dated days off and transferred working days, and amendments:
// later versions, each with the date it was published. A calendar may inherit another (a city, a 24/7 desk or
// an agency = the national calendar + its own hours and days).
//
// Any year's base calendar follows from the recurring rules. What the law cannot say in advance are the
// *yearly inputs* a calendar declares (Kazakhstan: the first day of Kurban Ait and the government's transfer
// decree). A year whose inputs are all published (`yearly`) is final; a later year is *provisional*: it is
// computed on the statutory base and every answer that touches it says so (Calendar::provisional_note).
// Deadlines may reach `years.provisional` years past the last final year (the hard horizon), never further.
//
// Usage:
//   CalendarLibrary lib;
//   std::vector<Diagnostic> diags;
//   if (!lib.load_file("examples/calendars/kz.yaml", &diags)) { print diags; }
//   Result<Calendar> kz = lib.compile("kz");                      // latest version
//   Result<Calendar> dec = lib.compile("kz", date::year{2026}/1/1);  // as published on 1 January 2026
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <date/date.h>

#include "common/status.h"
#include "rules/calendar.h"
#include "rules/diagnostics.h"

namespace otinish::rules {

// [begin, end) in local minutes after midnight; 0 <= begin < end <= 1440.
struct TimeSpan {
  int begin_minute = 0;
  int end_minute = 0;
  friend bool operator==(const TimeSpan&, const TimeSpan&) = default;
};

// A holiday on the same month and day every year, within [from_year, until_year].
struct RecurringHoliday {
  int month = 1;
  int day = 1;
  std::string name;
  bool carry_over = true;  // falls on a day off -> the next working day becomes a day off
  int from_year = 0;       // 0: since always
  int until_year = 9999;
  SourceLocation where;
};

// Ends a recurring holiday (same month and day) from a year on; written `remove_holidays` in YAML.
struct HolidayRemoval {
  int month = 1;
  int day = 1;
  int from_year = 0;
  SourceLocation where;
};

// A single date: a day off (never carried over) or a working day (e.g. a Saturday worked by decree).
struct DatedDay {
  date::year_month_day date;
  std::string name;
  std::vector<TimeSpan> hours;  // working days only; empty: Monday's hours
  // Working days only: the entry says that it makes a statutory holiday (or its carried-over day) a working
  // day. Without it such an entry is refused: a holiday is ended by `remove_holidays`, not by accident.
  bool overrides_holiday = false;
  bool transfer = false;  // one half of a transfer: a decree that says which day it moves
  SourceLocation where;
};

// An input the law leaves to a yearly publication (a moving religious day, a government decree). A year is
// final only once every declared input is published for it, even if the publication moves no day.
struct YearlyInputDecl {
  enum class Kind : std::uint8_t { kDaysOff, kTransfers };
  std::string id;    // "kurban_ait", "transfer_decree"
  std::string name;  // what an admin looks for: "First day of Kurban Ait (Spiritual Administration of Muslims)"
  Kind kind = Kind::kDaysOff;
  SourceLocation where;
  std::string calendar;  // the calendar that declares it (set when compiling): where its yearly values go
};

// One input published for one year, as written.
struct PublishedInput {
  enum class Shape : std::uint8_t { kDays, kTransfers, kEmpty };  // dates; transfers; [] (moves no day)
  std::string id;
  Shape shape = Shape::kEmpty;
  std::vector<DatedDay> days_off;
  std::vector<DatedDay> working_days;
  SourceLocation where;
};

// One year's published inputs. Publishing an input again for the same year (a later amendment) replaces what
// it published before: a corrected date moves the day, it does not add a second one.
struct YearInputs {
  int year = 0;
  std::vector<PublishedInput> inputs;
  SourceLocation where;
};

// What a calendar (or one of its amendments) adds or removes.
struct CalendarChanges {
  std::vector<RecurringHoliday> holidays;
  std::vector<HolidayRemoval> remove_holidays;
  std::vector<DatedDay> days_off;
  std::vector<DatedDay> working_days;
  std::vector<YearInputs> yearly;  // written `yearly`: each year's published inputs
};

// A later version of a calendar: applies only when compiling as of a date on or after `published`.
struct CalendarAmendment {
  std::string version;
  date::year_month_day published;
  std::string note;
  CalendarChanges changes;
  SourceLocation where;
};

struct CalendarSpec {
  std::string name;
  std::string inherits;  // "" or the parent calendar's name
  std::string version;   // the base version's label
  std::optional<date::year_month_day> published;
  std::optional<std::string> time_zone;                         // IANA name; inherited when absent
  int first_year = 0;                                           // 0: inherited
  int last_year = 0;                                            // 0: no fixed end (the horizon decides)
  std::optional<int> provisional_years;                         // the horizon past the last final year
  std::optional<std::array<std::vector<TimeSpan>, 7>> week;     // [0] = Monday ... [6] = Sunday
  std::optional<std::vector<TimeSpan>> lunch;                   // cut out of every working day
  std::optional<bool> observe_holidays;                         // false: a 24/7 desk; inherited when absent
  std::vector<YearlyInputDecl> yearly_inputs;                   // added to the parent's
  CalendarChanges base;
  std::vector<CalendarAmendment> amendments;                    // sorted by publication date
  SourceLocation where;
};

// Parses one calendar file's text. Appends every problem to `out` (file:line:column) and returns nullopt if
// any is an error. Never throws.
std::optional<CalendarSpec> parse_calendar(std::string_view text, const std::string& file,
                                           std::vector<Diagnostic>* out);

// The canonical text of a spec: the same for two files that mean the same thing (order of lists, spelling of
// times and keys do not matter). Its BLAKE2b-256 is the calendar's content hash.
std::string canonical_text(const CalendarSpec& spec);

// Named calendar specs, resolving inheritance. Thread-compatible.
class CalendarLibrary {
 public:
  // Reads and parses `path`; a parent it names and does not hold yet is loaded from "<dir>/<parent>.yaml".
  // Returns false (and adds nothing) if any file has errors; diagnostics go to `out`.
  bool load_file(const std::string& path, std::vector<Diagnostic>* out);
  // Adds a parsed spec. Returns false with a diagnostic if the name is already taken by a different spec.
  bool add(CalendarSpec spec, std::vector<Diagnostic>* out);

  // The spec, or nullptr.
  const CalendarSpec* find(std::string_view name) const;
  std::vector<std::string> names() const;

  // Compiles `name` with every amendment (its own and its ancestors') published on or before `as_of`
  // (all of them when absent). The days run from the first year to the horizon: `years.to` when set, else
  // `years.provisional` (default 2) years past the last final year. Errors: NotFound (no such calendar or
  // parent), InvalidArgument (an inheritance cycle, an unknown time zone, no years, a working day on a
  // an input published for an undeclared id or of the wrong kind; the message starts with file:line:column).
  // A working day on a statutory holiday without `overrides_holiday` is refused by validate() (and so by
  // publication), not here: text published before that check existed must still compile as it did.
  Result<Calendar> compile(std::string_view name, std::optional<date::sys_days> as_of = std::nullopt) const;

  // Compiles `name` as of its base and as of every amendment's publication date, and returns what a
  // compilation refuses as diagnostics with file:line:column, plus a warning when a calendar has no working
  // time in a covered year. `today`, when given, adds a warning if the first provisional day is fewer than
  // `warn_days` days ahead (the admin must publish that year's inputs).
  std::vector<Diagnostic> validate(std::string_view name, std::optional<date::sys_days> today = std::nullopt,
                                   int warn_days = 60) const;

 private:
  Result<Calendar> compile_impl(std::string_view name, std::optional<date::sys_days> as_of,
                                std::vector<Diagnostic>* diags) const;

  std::map<std::string, CalendarSpec, std::less<>> specs_;
};

}  // namespace otinish::rules
