#include "rules/calendar_spec.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <date/tz.h>

#include "common/utf8.h"
#include "rules/yaml_support.h"

namespace otinish::rules {

namespace {

using internal::YamlReader;

constexpr std::string_view kWeekdayKeys[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
constexpr int kMinYear = 1970, kMaxYear = 2200;

std::string hhmm(int minute) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d", minute / 60, minute % 60);
  return buf;
}

std::string ymd_text(const date::year_month_day& d) { return date::format("%F", d); }

// "09:00-18:00"
std::optional<TimeSpan> parse_span(std::string_view s) {
  int h1 = 0, m1 = 0, h2 = 0, m2 = 0;
  char tail = 0;
  const std::string text(s);
  if (text.size() != 11 || std::sscanf(text.c_str(), "%2d:%2d-%2d:%2d%c", &h1, &m1, &h2, &m2, &tail) != 4) {
    return std::nullopt;
  }
  if (m1 > 59 || m2 > 59 || h1 > 23 || h2 > 24 || (h2 == 24 && m2 != 0)) return std::nullopt;
  TimeSpan span{h1 * 60 + m1, h2 * 60 + m2};
  if (span.begin_minute >= span.end_minute) return std::nullopt;
  return span;
}

// A weekday's hours: "09:00-18:00", a list of spans, or "off".
std::optional<std::vector<TimeSpan>> parse_hours(YamlReader& r, const YAML::Node& node, std::string_view what) {
  std::vector<TimeSpan> spans;
  if (node.IsScalar() && (node.Scalar() == "off" || node.Scalar() == "closed")) return spans;
  bool ok = true;
  for (const std::string& s : r.scalar_list(node, what)) {
    if (auto span = parse_span(s)) {
      spans.push_back(*span);
    } else {
      r.error(node, "wrong-value",
              std::string(what) + ": '" + s + "' is not a time span; write HH:MM-HH:MM (e.g. 09:00-18:00), " +
                  "a list of spans, or off");
      ok = false;
    }
  }
  std::sort(spans.begin(), spans.end(), [](auto a, auto b) { return a.begin_minute < b.begin_minute; });
  for (std::size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].begin_minute < spans[i - 1].end_minute) {
      r.error(node, "overlapping-hours", std::string(what) + ": the spans overlap");
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return spans;
}

// "MM-DD"
std::optional<std::pair<int, int>> parse_month_day(YamlReader& r, const YAML::Node& node, std::string_view what) {
  auto s = r.scalar(node, what);
  if (!s) return std::nullopt;
  int m = 0, d = 0;
  char tail = 0;
  if (s->size() == 5 && std::sscanf(s->c_str(), "%2d-%2d%c", &m, &d, &tail) == 2 && m >= 1 && m <= 12 && d >= 1 &&
      date::month_day(date::month(m), date::day(d)).ok()) {
    return std::pair{m, d};
  }
  r.error(node, "wrong-value", std::string(what) + " must be a month and day written MM-DD (e.g. 03-21), not '" + *s + "'");
  return std::nullopt;
}

void parse_holidays(YamlReader& r, const YAML::Node& node, std::vector<RecurringHoliday>* out) {
  if (!r.expect_sequence(node, "holidays")) return;
  for (const auto& item : node) {
    if (!r.expect_map(item, "a holiday")) continue;
    r.check_keys(item, "a holiday", {"date", "name", "carry_over", "from", "until"});
    RecurringHoliday h;
    h.where = r.at(item);
    if (auto md = parse_month_day(r, r.required(item, "date", "a holiday"), "a holiday's date")) {
      std::tie(h.month, h.day) = *md;
    }
    if (item["name"]) h.name = r.scalar(item["name"], "name").value_or("");
    if (item["carry_over"]) h.carry_over = r.boolean(item["carry_over"], "carry_over").value_or(true);
    if (item["from"]) h.from_year = r.integer(item["from"], "from", kMinYear, kMaxYear).value_or(0);
    if (item["until"]) h.until_year = r.integer(item["until"], "until", kMinYear, kMaxYear).value_or(9999);
    out->push_back(std::move(h));
  }
}

void parse_dated(YamlReader& r, const YAML::Node& node, std::string_view what, bool working,
                 std::vector<DatedDay>* out) {
  if (!r.expect_sequence(node, what)) return;
  for (const auto& item : node) {
    DatedDay d;
    d.where = r.at(item);
    YAML::Node date_node = item;
    if (item.IsMap()) {
      if (working) {
        r.check_keys(item, what, {"date", "name", "hours", "overrides_holiday"});
        if (item["hours"]) d.hours = parse_hours(r, item["hours"], "hours").value_or(std::vector<TimeSpan>{});
        if (item["overrides_holiday"]) {
          d.overrides_holiday = r.boolean(item["overrides_holiday"], "overrides_holiday").value_or(false);
        }
      } else {
        r.check_keys(item, what, {"date", "name"});
      }
      if (item["name"]) d.name = r.scalar(item["name"], "name").value_or("");
      date_node = r.required(item, "date", what);
      if (!date_node) continue;
    }
    if (auto ymd = r.date(date_node, "a date")) {
      d.date = *ymd;
      out->push_back(std::move(d));
    }
  }
}

// A transfer says so explicitly: its working day may be a holiday (the decree moves it).
void parse_transfers(YamlReader& r, const YAML::Node& node, const std::string& default_name,
                     std::vector<DatedDay>* working_days, std::vector<DatedDay>* days_off,
                     std::optional<int> year = std::nullopt) {
  if (!r.expect_sequence(node, "transfers")) return;
  for (const auto& item : node) {
    if (!r.expect_map(item, "a transfer")) continue;
    r.check_keys(item, "a transfer", {"work", "off", "name"});
    const std::string name = item["name"] ? r.scalar(item["name"], "name").value_or("") : default_name;
    auto work = r.date(r.required(item, "work", "a transfer"), "work");
    auto off = r.date(r.required(item, "off", "a transfer"), "off");
    if (!work || !off) continue;
    if (year && static_cast<int>(off->year()) != *year) {
      r.error(item["off"], "wrong-year", "the day off " + ymd_text(*off) + " is not in " + std::to_string(*year) +
                                             ", the year this entry publishes");
      continue;
    }
    working_days->push_back({*work, name + " (worked for " + ymd_text(*off) + ")", {}, false, true, r.at(item)});
    days_off->push_back({*off, name + " (moved from " + ymd_text(*work) + ")", {}, false, true, r.at(item)});
  }
}

// `yearly`: [{year: 2026, kurban_ait: 2026-05-27, transfer_decree: []}, ...]. Input ids are checked against
// the declarations at compile time (they may be declared by a parent calendar).
void parse_yearly(YamlReader& r, const YAML::Node& node, int first_year, std::vector<YearInputs>* out) {
  if (!r.expect_sequence(node, "yearly")) return;
  for (const auto& item : node) {
    if (!r.expect_map(item, "a year's inputs")) continue;
    YearInputs y;
    y.where = r.at(item);
    auto year = r.integer(r.required(item, "year", "a year's inputs"), "year", kMinYear, kMaxYear);
    if (!year) continue;
    y.year = *year;
    if (first_year && y.year < first_year) {
      r.error(item["year"], "year-before-first", "year " + std::to_string(y.year) +
                                                     " is before the calendar's first year " +
                                                     std::to_string(first_year) + " (years.from)");
      continue;
    }
    for (const auto& kv : item) {
      const std::string id = kv.first.as<std::string>();
      if (id == "year") continue;
      if (!internal::is_identifier(id)) {
        r.error(kv.first, "wrong-value", "'" + id + "' is not an input id (lower-case letters, digits, '_')");
        continue;
      }
      PublishedInput in;
      in.id = id;
      in.where = r.at(kv.second.IsNull() ? kv.first : kv.second);
      const YAML::Node v = kv.second;
      if (v.IsNull() || (v.IsScalar() && v.Scalar().empty())) {
        r.error(kv.first, "missing-value",
                id + " for " + std::to_string(y.year) + " has no value: write its date(s), its transfers, or [] " +
                    "when the publication moves no day (leave the input out while it is not published)");
        continue;
      }
      const bool transfers = v.IsSequence() && v.size() > 0 && v[0].IsMap() && (v[0]["work"] || v[0]["off"]);
      if (transfers) {
        in.shape = PublishedInput::Shape::kTransfers;
        parse_transfers(r, v, id, &in.working_days, &in.days_off, y.year);
      } else if (v.IsSequence() && v.size() == 0) {
        in.shape = PublishedInput::Shape::kEmpty;
      } else {
        in.shape = PublishedInput::Shape::kDays;
        std::vector<DatedDay> days;
        // A single date is a list of one. (A fresh node: assigning to a yaml-cpp node that aliases `v` would
        // overwrite `v` itself.)
        YAML::Node one(YAML::NodeType::Sequence);
        if (!v.IsSequence()) one.push_back(v);
        parse_dated(r, v.IsSequence() ? v : one, id, false, &days);
        for (auto& d : days) {
          if (static_cast<int>(d.date.year()) != y.year) {
            r.error(v, "wrong-year", id + ": " + ymd_text(d.date) + " is not in " + std::to_string(y.year) +
                                         ", the year this entry publishes");
            continue;
          }
          if (d.name.empty()) d.name = id;
          d.where = r.at(v);
          in.days_off.push_back(std::move(d));
        }
      }
      y.inputs.push_back(std::move(in));
    }
    out->push_back(std::move(y));
  }
}

void parse_yearly_inputs(YamlReader& r, const YAML::Node& node, std::vector<YearlyInputDecl>* out) {
  if (!r.expect_sequence(node, "yearly_inputs")) return;
  for (const auto& item : node) {
    if (!r.expect_map(item, "a yearly input")) continue;
    r.check_keys(item, "a yearly input", {"id", "name", "kind"});
    YearlyInputDecl d;
    d.where = r.at(item);
    d.id = r.scalar(r.required(item, "id", "a yearly input"), "id").value_or("");
    if (item["name"]) d.name = r.scalar(item["name"], "name").value_or("");
    if (auto kind = r.scalar(r.required(item, "kind", "a yearly input"), "kind")) {
      if (*kind == "days_off") {
        d.kind = YearlyInputDecl::Kind::kDaysOff;
      } else if (*kind == "transfers") {
        d.kind = YearlyInputDecl::Kind::kTransfers;
      } else {
        r.error(item["kind"], "wrong-value", "a yearly input's kind is days_off or transfers, not '" + *kind + "'");
      }
    }
    if (!d.id.empty() && !internal::is_identifier(d.id)) {
      r.error(item["id"], "wrong-value", "an input id is lower-case letters, digits and '_'");
    }
    out->push_back(std::move(d));
  }
}

void parse_changes(YamlReader& r, const YAML::Node& node, int first_year, CalendarChanges* out) {
  if (node["holidays"]) parse_holidays(r, node["holidays"], &out->holidays);
  if (node["days_off"]) parse_dated(r, node["days_off"], "days_off", false, &out->days_off);
  if (node["working_days"]) parse_dated(r, node["working_days"], "working_days", true, &out->working_days);
  if (node["transfers"]) parse_transfers(r, node["transfers"], "transfer", &out->working_days, &out->days_off);
  if (node["yearly"]) parse_yearly(r, node["yearly"], first_year, &out->yearly);
  if (const YAML::Node rm = node["remove_holidays"]; rm && r.expect_sequence(rm, "remove_holidays")) {
    for (const auto& item : rm) {
      if (!r.expect_map(item, "a holiday removal")) continue;
      r.check_keys(item, "a holiday removal", {"date", "from"});
      HolidayRemoval h;
      h.where = r.at(item);
      auto md = parse_month_day(r, r.required(item, "date", "a holiday removal"), "date");
      auto from = r.integer(r.required(item, "from", "a holiday removal"), "from", kMinYear, kMaxYear);
      if (!md || !from) continue;
      std::tie(h.month, h.day) = *md;
      h.from_year = *from;
      out->remove_holidays.push_back(h);
    }
  }
}

void parse_week(YamlReader& r, const YAML::Node& node, CalendarSpec* spec) {
  if (!r.expect_map(node, "week")) return;
  r.check_keys(node, "week", {"mon", "tue", "wed", "thu", "fri", "sat", "sun"});
  std::array<std::vector<TimeSpan>, 7> week;
  for (int i = 0; i < 7; ++i) {
    if (const YAML::Node d = node[std::string(kWeekdayKeys[i])]) {
      week[i] = parse_hours(r, d, kWeekdayKeys[i]).value_or(std::vector<TimeSpan>{});
    }
  }
  spec->week = week;
}

void parse_amendments(YamlReader& r, const YAML::Node& node, CalendarSpec* spec) {
  if (!r.expect_sequence(node, "amendments")) return;
  for (const auto& item : node) {
    if (!r.expect_map(item, "an amendment")) continue;
    r.check_keys(item, "an amendment", {"version", "published", "note", "holidays", "remove_holidays", "days_off",
                                        "working_days", "transfers", "yearly"});
    CalendarAmendment a;
    a.where = r.at(item);
    a.version = r.scalar(r.required(item, "version", "an amendment"), "version").value_or("");
    auto published = r.date(r.required(item, "published", "an amendment"), "published");
    if (published) a.published = *published;
    if (item["note"]) a.note = r.scalar(item["note"], "note").value_or("");
    parse_changes(r, item, spec->first_year, &a.changes);
    if (!spec->amendments.empty() && published && a.published < spec->amendments.back().published) {
      r.error(item["published"], "amendments-out-of-order", "amendments must be listed in publication order");
    }
    spec->amendments.push_back(std::move(a));
  }
}

void parse_root(YamlReader& r, const YAML::Node& root, CalendarSpec* spec) {
  r.check_keys(root, "a calendar", {"calendar", "version", "published", "inherits", "time_zone", "years", "week",
                                    "lunch", "holidays", "remove_holidays", "days_off", "working_days", "transfers",
                                    "amendments", "description", "yearly_inputs", "yearly", "observe_holidays"});
  spec->where = r.at(root);
  if (auto name = r.scalar(r.required(root, "calendar", "a calendar"), "calendar")) {
    if (!internal::is_identifier(*name)) {
      r.error(root["calendar"], "wrong-value", "a calendar's name must be lower-case letters, digits, '_', '-' or '.'");
    }
    spec->name = *name;
  }
  if (root["version"]) spec->version = r.scalar(root["version"], "version").value_or("");
  if (spec->version.empty()) spec->version = "base";
  if (root["published"]) spec->published = r.date(root["published"], "published");
  if (root["inherits"]) spec->inherits = r.scalar(root["inherits"], "inherits").value_or("");
  if (const YAML::Node tz = root["time_zone"]) {
    if (auto name = r.scalar(tz, "time_zone")) {
      try {
        (void)date::locate_zone(*name);
        spec->time_zone = *name;
      } catch (const std::exception&) {
        r.error(tz, "unknown-time-zone", "'" + *name + "' is not a time zone in the tz database; use an IANA name "
                                         "such as Asia/Almaty");
      }
    }
  }
  if (const YAML::Node years = root["years"]; years && r.expect_map(years, "years")) {
    r.check_keys(years, "years", {"from", "to", "provisional"});
    spec->first_year = r.integer(r.required(years, "from", "years"), "years.from", kMinYear, kMaxYear).value_or(0);
    if (years["to"]) {
      spec->last_year = r.integer(years["to"], "years.to", kMinYear, kMaxYear).value_or(0);
      if (spec->first_year > spec->last_year) r.error(years, "wrong-value", "years.from is after years.to");
      if (spec->last_year - spec->first_year > 60) r.error(years, "wrong-value", "a calendar covers at most 60 years");
    }
    if (years["provisional"]) spec->provisional_years = r.integer(years["provisional"], "years.provisional", 0, 10);
  }
  if (root["week"]) parse_week(r, root["week"], spec);
  if (root["lunch"]) spec->lunch = parse_hours(r, root["lunch"], "lunch");
  if (root["observe_holidays"]) spec->observe_holidays = r.boolean(root["observe_holidays"], "observe_holidays");
  if (root["yearly_inputs"]) parse_yearly_inputs(r, root["yearly_inputs"], &spec->yearly_inputs);
  parse_changes(r, root, spec->first_year, &spec->base);
  if (root["amendments"]) parse_amendments(r, root["amendments"], spec);
  if (spec->inherits.empty()) {
    if (!spec->time_zone && !r.failed()) r.error(root, "missing-key", "a calendar that inherits nothing needs 'time_zone'");
    if (!spec->week && !r.failed()) r.error(root, "missing-key", "a calendar that inherits nothing needs 'week'");
    if (spec->first_year == 0 && !r.failed()) r.error(root, "missing-key", "a calendar that inherits nothing needs 'years'");
  }
}

// ---- canonical text ----

void append_spans(std::string& out, const std::vector<TimeSpan>& spans) {
  if (spans.empty()) out += "off";
  for (std::size_t i = 0; i < spans.size(); ++i) {
    out += (i ? "," : "") + hhmm(spans[i].begin_minute) + "-" + hhmm(spans[i].end_minute);
  }
}

void append_changes(std::string& out, const CalendarChanges& c) {
  std::vector<std::string> lines;
  for (const auto& h : c.holidays) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "holiday %02d-%02d carry=%d from=%d until=%d ", h.month, h.day, h.carry_over ? 1 : 0,
                  h.from_year, h.until_year);
    lines.push_back(buf + h.name);
  }
  for (const auto& h : c.remove_holidays) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "remove %02d-%02d from=%d", h.month, h.day, h.from_year);
    lines.push_back(buf);
  }
  for (const auto& d : c.days_off) lines.push_back("off " + ymd_text(d.date) + " " + d.name);
  for (const auto& d : c.working_days) {
    std::string l = "work " + ymd_text(d.date) + " ";
    append_spans(l, d.hours);
    lines.push_back(l + (d.overrides_holiday ? " overrides " : " ") + d.name);
  }
  for (const auto& y : c.yearly) {
    for (const auto& in : y.inputs) {
      const std::string head = "year " + std::to_string(y.year) + " " + in.id;
      lines.push_back(head + " published");
      for (const auto& d : in.days_off) lines.push_back(head + " off " + ymd_text(d.date) + " " + d.name);
      for (const auto& d : in.working_days) lines.push_back(head + " work " + ymd_text(d.date) + " " + d.name);
    }
  }
  std::sort(lines.begin(), lines.end());
  for (const auto& l : lines) out += "  " + l + "\n";
}

// ---- compilation ----

struct Effective {
  std::string names;
  std::string version;
  std::string canonical;
  const date::time_zone* zone = nullptr;
  int first_year = 0, last_year = 0;
  int provisional_years = 2;
  bool observe_holidays = true;
  std::array<std::vector<TimeSpan>, 7> week;
  std::vector<TimeSpan> lunch;
  std::vector<RecurringHoliday> holidays;
  std::map<date::sys_days, std::string> days_off;
  std::map<date::sys_days, DatedDay> working_days;
  std::vector<YearlyInputDecl> inputs;
  std::map<int, std::set<std::string>> published;  // year -> input ids published for it
  // (year, input id) -> the days its latest publication added, so that a later publication replaces them.
  std::map<std::pair<int, std::string>, std::vector<std::pair<date::sys_days, std::string>>> input_days;
};

// A refusal that points at the offending entry: kept as a diagnostic (for validate) and returned as a status.
Status refuse(std::vector<Diagnostic>* diags, const SourceLocation& where, std::string code, std::string message) {
  Diagnostic d{Severity::kError, where, std::move(code), std::move(message)};
  Status s = Status::InvalidArgument(format_diagnostic(d));
  if (diags) diags->push_back(std::move(d));
  return s;
}

Status apply(const CalendarChanges& c, Effective* e, std::vector<Diagnostic>* diags) {
  for (const auto& rm : c.remove_holidays) {
    for (auto& h : e->holidays) {
      if (h.month == rm.month && h.day == rm.day) h.until_year = std::min(h.until_year, rm.from_year - 1);
    }
  }
  e->holidays.insert(e->holidays.end(), c.holidays.begin(), c.holidays.end());
  for (const auto& d : c.days_off) e->days_off[date::sys_days(d.date)] = d.name;
  for (const auto& d : c.working_days) e->working_days[date::sys_days(d.date)] = d;
  for (const auto& y : c.yearly) {
    if (e->first_year && y.year < e->first_year) {
      return refuse(diags, y.where, "year-before-first",
                    "year " + std::to_string(y.year) + " is before the calendar's first year " +
                        std::to_string(e->first_year) + " (years.from)");
    }
    for (const PublishedInput& in : y.inputs) {
      const auto decl = std::find_if(e->inputs.begin(), e->inputs.end(), [&](auto& d) { return d.id == in.id; });
      if (decl == e->inputs.end()) {
        std::string known;
        for (const auto& d : e->inputs) known += (known.empty() ? "" : ", ") + d.id;
        return refuse(diags, in.where, "unknown-input",
                      "'" + in.id + "' is not a declared yearly input of this calendar (declared: " +
                          (known.empty() ? "none; declare it under yearly_inputs" : known) + ")");
      }
      using Shape = PublishedInput::Shape;
      if (decl->kind == YearlyInputDecl::Kind::kDaysOff && in.shape != Shape::kDays) {
        return refuse(diags, in.where, "wrong-input-kind",
                      in.id + " is a days_off input: give its date(s) for " + std::to_string(y.year) +
                          " (transfers and [] are for a transfers input)");
      }
      if (decl->kind == YearlyInputDecl::Kind::kTransfers && in.shape == Shape::kDays) {
        return refuse(diags, in.where, "wrong-input-kind",
                      in.id + " is a transfers input: give [{work: DATE, off: DATE}], or [] when it moves no day");
      }
      // A later publication of the same input for the same year replaces the earlier one's days.
      // Only where the day still holds what this input put there: another entry may have written it since.
      auto& added = e->input_days[{y.year, in.id}];
      for (const auto& [d, name] : added) {
        if (auto it = e->days_off.find(d); it != e->days_off.end() && it->second == name) e->days_off.erase(it);
        if (auto it = e->working_days.find(d); it != e->working_days.end() && it->second.name == name) {
          e->working_days.erase(it);
        }
      }
      added.clear();
      for (const auto& d : in.days_off) {
        e->days_off[date::sys_days(d.date)] = d.name;
        added.emplace_back(date::sys_days(d.date), d.name);
      }
      for (const auto& d : in.working_days) {
        e->working_days[date::sys_days(d.date)] = d;
        added.emplace_back(date::sys_days(d.date), d.name);
      }
      e->published[y.year].insert(in.id);
    }
  }
  return Status::Ok();
}

std::vector<TimeSpan> minus_lunch(const std::vector<TimeSpan>& spans, const std::vector<TimeSpan>& lunch) {
  std::vector<TimeSpan> out = spans;
  for (const TimeSpan& l : lunch) {
    std::vector<TimeSpan> next;
    for (const TimeSpan& s : out) {
      if (l.end_minute <= s.begin_minute || l.begin_minute >= s.end_minute) {
        next.push_back(s);
        continue;
      }
      if (s.begin_minute < l.begin_minute) next.push_back({s.begin_minute, l.begin_minute});
      if (l.end_minute < s.end_minute) next.push_back({l.end_minute, s.end_minute});
    }
    out = std::move(next);
  }
  return out;
}

enum class DayKind : std::uint8_t { kWeekWorking, kWeekOff, kHoliday, kDayOff, kCarried, kWorkingByDecree };

}  // namespace

std::optional<CalendarSpec> parse_calendar(std::string_view text, const std::string& file,
                                           std::vector<Diagnostic>* out) {
  YamlReader r(file, out);
  try {
    std::optional<YAML::Node> root = r.load(text);
    if (!root) return std::nullopt;
    if (!r.expect_map(*root, "a calendar file")) return std::nullopt;
    CalendarSpec spec;
    parse_root(r, *root, &spec);
    if (r.failed()) return std::nullopt;
    return spec;
  } catch (const std::exception& e) {
    out->push_back({Severity::kError, {file, 0, 0}, "yaml", "cannot read the calendar: " + to_utf8_lossy(e.what())});
    return std::nullopt;
  }
}

std::string canonical_text(const CalendarSpec& spec) {
  std::string out = "calendar " + spec.name + "\nversion " + spec.version + "\n";
  if (spec.published) out += "published " + ymd_text(*spec.published) + "\n";
  if (!spec.inherits.empty()) out += "inherits " + spec.inherits + "\n";
  if (spec.time_zone) out += "time_zone " + *spec.time_zone + "\n";
  if (spec.first_year) out += "years " + std::to_string(spec.first_year) + "-" + std::to_string(spec.last_year) + "\n";
  if (spec.provisional_years) out += "provisional_years " + std::to_string(*spec.provisional_years) + "\n";
  if (spec.observe_holidays) out += std::string("observe_holidays ") + (*spec.observe_holidays ? "1" : "0") + "\n";
  for (const auto& d : spec.yearly_inputs) {
    out += "input " + d.id + (d.kind == YearlyInputDecl::Kind::kTransfers ? " transfers " : " days_off ") + d.name + "\n";
  }
  if (spec.week) {
    for (int i = 0; i < 7; ++i) {
      out += "week " + std::string(kWeekdayKeys[i]) + " ";
      append_spans(out, (*spec.week)[i]);
      out += "\n";
    }
  }
  if (spec.lunch) {
    out += "lunch ";
    append_spans(out, *spec.lunch);
    out += "\n";
  }
  out += "base\n";
  append_changes(out, spec.base);
  for (const auto& a : spec.amendments) {
    out += "amendment " + a.version + " published " + ymd_text(a.published) + "\n";
    append_changes(out, a.changes);
  }
  return out;
}

bool CalendarLibrary::add(CalendarSpec spec, std::vector<Diagnostic>* out) {
  auto it = specs_.find(spec.name);
  if (it != specs_.end()) {
    if (canonical_text(it->second) == canonical_text(spec)) return true;
    out->push_back({Severity::kError, spec.where, "duplicate-calendar",
                    "a different calendar named '" + spec.name + "' is already loaded from " + it->second.where.file});
    return false;
  }
  specs_.emplace(spec.name, std::move(spec));
  return true;
}

bool CalendarLibrary::load_file(const std::string& path, std::vector<Diagnostic>* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out->push_back({Severity::kError, {path, 0, 0}, "io", "cannot open the calendar file"});
    return false;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  std::optional<CalendarSpec> spec = parse_calendar(buf.str(), path, out);
  if (!spec) return false;
  if (!spec->inherits.empty() && find(spec->inherits) == nullptr) {
    const auto parent = std::filesystem::path(path).parent_path() / (spec->inherits + ".yaml");
    if (!std::filesystem::exists(parent)) {
      out->push_back({Severity::kError, spec->where, "unknown-calendar",
                      "calendar '" + spec->name + "' inherits '" + spec->inherits + "', which is not loaded and not in " +
                          parent.string()});
      return false;
    }
    if (parent != std::filesystem::path(path) && !load_file(parent.string(), out)) return false;
  }
  return add(std::move(*spec), out);
}

const CalendarSpec* CalendarLibrary::find(std::string_view name) const {
  auto it = specs_.find(name);
  return it == specs_.end() ? nullptr : &it->second;
}

std::vector<std::string> CalendarLibrary::names() const {
  std::vector<std::string> out;
  for (const auto& [name, spec] : specs_) out.push_back(name);
  return out;
}

Result<Calendar> CalendarLibrary::compile(std::string_view name, std::optional<date::sys_days> as_of) const {
  return compile_impl(name, as_of, nullptr);
}

std::vector<Diagnostic> CalendarLibrary::validate(std::string_view name, std::optional<date::sys_days> today,
                                                  int warn_days) const {
  std::vector<Diagnostic> out;
  const CalendarSpec* spec = find(name);
  if (spec == nullptr) {
    out.push_back({Severity::kError, {}, "unknown-calendar", "calendar '" + std::string(name) + "' is not loaded"});
    return out;
  }
  // Every version an appeal may be bound to: the base, then each amendment on its publication day.
  std::vector<std::optional<date::sys_days>> versions;
  if (spec->published) versions.push_back(date::sys_days(*spec->published));
  for (const auto& a : spec->amendments) versions.push_back(date::sys_days(a.published));
  versions.push_back(std::nullopt);
  std::set<std::string> seen;
  std::optional<Calendar> latest;
  for (const auto& v : versions) {
    std::vector<Diagnostic> diags;
    auto c = compile_impl(name, v, &diags);
    if (!c.ok() && diags.empty()) diags.push_back({Severity::kError, spec->where, "calendar", c.status().message()});
    for (auto& d : diags) {
      if (seen.insert(format_diagnostic(d)).second) out.push_back(std::move(d));
    }
    if (c.ok() && !v) latest.emplace(std::move(*c));
  }
  if (!latest) return out;
  const int first = static_cast<int>(date::year_month_day(latest->first_day()).year());
  const int last = static_cast<int>(date::year_month_day(latest->last_day()).year());
  for (int y = first; y <= last; ++y) {
    if (latest->working_days_in_year(y) == 0) {
      out.push_back({Severity::kWarning, spec->where, "calendar-without-working-time",
                     "calendar '" + spec->name + "' has no working time in " + std::to_string(y)});
    }
  }
  // A year published beyond a provisional one is most likely a typo (2072 for 2027): it counts for nothing until
  // the years before it are final.
  if (!latest->provisional_years().empty()) {
    const int first_provisional = latest->provisional_years().front().year;
    auto check = [&](const CalendarChanges& c) {
      for (const auto& y : c.yearly) {
        if (y.year <= first_provisional) continue;
        out.push_back({Severity::kWarning, y.where, "yearly-gap",
                       "inputs are published for " + std::to_string(y.year) + " while " +
                           std::to_string(first_provisional) + " is still provisional: is the year a typo? " +
                           "Deadlines count only up to the horizon after the last of the consecutive final years"});
      }
    };
    check(spec->base);
    for (const auto& a : spec->amendments) check(a.changes);
  }
  if (today) {
    if (auto p = latest->first_provisional_day()) {
      const int days = (*p - *today).count();
      if (days < warn_days) {
        const ProvisionalYear& py = latest->provisional_years().front();
        std::string missing;
        for (const auto& m : py.missing) missing += (missing.empty() ? "" : ", ") + m;
        out.push_back({Severity::kWarning, spec->where, "provisional-year-ahead",
                       "calendar '" + spec->name + "': " + std::to_string(py.year) + " is provisional (" + missing +
                           " not published) and begins " +
                           (days > 0 ? "in " + std::to_string(days) + " days" : std::string("now")) +
                           "; deadlines reaching it are computed on the statutory base until an admin publishes " +
                           "the year's inputs (docs/calendars.md, \"Every year\")"});
      }
    }
  }
  return out;
}

Result<Calendar> CalendarLibrary::compile_impl(std::string_view name, std::optional<date::sys_days> as_of,
                                               std::vector<Diagnostic>* diags) const {
  // The inheritance chain, root first.
  std::vector<const CalendarSpec*> chain;
  std::set<std::string, std::less<>> seen;
  for (std::string_view n = name; !n.empty();) {
    const CalendarSpec* spec = find(n);
    if (spec == nullptr) return Status::NotFound("calendar '" + std::string(n) + "' is not loaded");
    if (!seen.insert(spec->name).second) {
      return Status::InvalidArgument("calendar '" + std::string(name) + "' inherits itself through '" + spec->name + "'");
    }
    chain.insert(chain.begin(), spec);
    n = spec->inherits;
  }
  Effective e;
  std::string zone_name;
  for (const CalendarSpec* spec : chain) {
    if (spec->time_zone) zone_name = *spec->time_zone;
    if (spec->week) e.week = *spec->week;
    if (spec->lunch) e.lunch = *spec->lunch;
    if (spec->observe_holidays) e.observe_holidays = *spec->observe_holidays;
    if (spec->provisional_years) e.provisional_years = *spec->provisional_years;
    if (spec->first_year) {
      e.first_year = spec->first_year;
      e.last_year = spec->last_year;
    }
    for (YearlyInputDecl d : spec->yearly_inputs) {
      d.calendar = spec->name;
      e.inputs.push_back(std::move(d));
    }
    OTINISH_RETURN_IF_ERROR(apply(spec->base, &e, diags));
    std::string version = spec->version;
    for (const auto& a : spec->amendments) {
      if (as_of && date::sys_days(a.published) > *as_of) break;
      OTINISH_RETURN_IF_ERROR(apply(a.changes, &e, diags));
      version = a.version;
    }
    const std::string label = spec->name + "@" + version;
    e.version = e.version.empty() ? label : label + "+" + e.version;
    e.canonical += canonical_text(*spec) + "applied " + label + "\n";
  }
  if (zone_name.empty()) return Status::InvalidArgument("calendar '" + std::string(name) + "' has no time_zone");
  if (e.first_year == 0) return Status::InvalidArgument("calendar '" + std::string(name) + "' has no years");
  try {
    e.zone = date::locate_zone(zone_name);
  } catch (const std::exception& ex) {
    return Status::InvalidArgument("calendar '" + std::string(name) + "': time zone '" + zone_name + "': " + ex.what());
  }

  // Which years are final, and how far the calendar counts. A calendar without yearly inputs (or one that
  // ignores holidays, a 24/7 desk) has no provisional year; its horizon is still counted from the inputs it
  // inherits, so that all the calendars of a country move together.
  // A year's unpublished inputs (and the calendar that declares the first of them); none: the year is final.
  auto missing_in = [&](int y) {
    ProvisionalYear p{y, {}, {}};
    const auto it = e.published.find(y);
    for (const auto& d : e.inputs) {
      if (it != e.published.end() && it->second.contains(d.id)) continue;
      p.missing.push_back(d.id);
      if (p.calendar.empty()) p.calendar = d.calendar;
    }
    return p;
  };
  // The last of the consecutive final years from the first: a year published far ahead (a typo such as 2072)
  // must not move the horizon past the unpublished years before it (validate() warns about it).
  int last_final = e.first_year - 1;
  while (!e.inputs.empty() && missing_in(last_final + 1).missing.empty()) ++last_final;
  std::string horizon_reason;
  if (e.last_year) {
    horizon_reason = "its years.to is " + std::to_string(e.last_year);
  } else if (e.inputs.empty()) {
    return Status::InvalidArgument("calendar '" + std::string(name) + "' declares no yearly_inputs and no years.to: " +
                                   "give it years.to, or inherit a calendar that declares its yearly inputs");
  } else {
    e.last_year = last_final + e.provisional_years;
    std::string ids;
    for (const auto& d : e.inputs) ids += (ids.empty() ? "" : ", ") + d.id;
    horizon_reason = "it counts " + std::to_string(e.provisional_years) + " provisional year(s) past " +
                     std::to_string(last_final) + ", the last year whose yearly inputs are published; publish " +
                     std::to_string(last_final + 1) + "'s " + ids + " to count further";
  }
  if (e.last_year < e.first_year) e.last_year = e.first_year;
  std::vector<ProvisionalYear> provisional;
  if (e.observe_holidays) {
    for (int y = e.first_year; y <= e.last_year; ++y) {
      if (ProvisionalYear p = missing_in(y); !p.missing.empty()) provisional.push_back(std::move(p));
    }
  } else {
    e.holidays.clear();
    e.days_off.clear();
    e.working_days.clear();
  }

  // Day kinds over the covered years plus a margin for holidays carried into the next year.
  const date::sys_days first = date::sys_days(date::year{e.first_year} / 1 / 1);
  const date::sys_days end = date::sys_days(date::year{e.last_year + 1} / 1 / 1);
  const int covered = (end - first).count();
  const int total = covered + 31;
  std::vector<DayKind> kind(total);
  std::vector<std::string> reason(total);
  auto index_of = [&](date::sys_days d) { return (d - first).count(); };
  for (int i = 0; i < total; ++i) {
    const unsigned wd = date::weekday(first + date::days(i)).iso_encoding() - 1;
    const bool works = !e.week[wd].empty();
    kind[i] = works ? DayKind::kWeekWorking : DayKind::kWeekOff;
    if (!works) reason[i] = "weekend";
  }
  struct Dated { date::sys_days day; const RecurringHoliday* h; };
  std::vector<Dated> holidays;
  for (int y = e.first_year - 1; y <= e.last_year + 1; ++y) {
    for (const auto& h : e.holidays) {
      if (y < h.from_year || y > h.until_year) continue;
      const date::year_month_day ymd{date::year{y}, date::month(h.month), date::day(h.day)};
      if (ymd.ok()) holidays.push_back({date::sys_days(ymd), &h});
    }
  }
  std::sort(holidays.begin(), holidays.end(), [](const Dated& a, const Dated& b) { return a.day < b.day; });
  for (const Dated& d : holidays) {
    const int i = index_of(d.day);
    if (i < 0 || i >= total) continue;
    kind[i] = DayKind::kHoliday;
    reason[i] = d.h->name.empty() ? "public holiday" : d.h->name;
  }
  for (const auto& [day, name_of_day] : e.days_off) {
    const int i = index_of(day);
    if (i < 0 || i >= total) continue;
    kind[i] = DayKind::kDayOff;
    reason[i] = name_of_day.empty() ? "day off" : name_of_day;
  }
  // Carry-over: a holiday on a weekly day off moves to the next weekly working day that is still free.
  for (const Dated& d : holidays) {
    const int i = index_of(d.day);
    if (!d.h->carry_over || i < -7 || i >= total) continue;
    const unsigned wd = date::weekday(d.day).iso_encoding() - 1;
    if (!e.week[wd].empty()) continue;
    for (int j = std::max(i + 1, 0); j < total; ++j) {
      if (kind[j] != DayKind::kWeekWorking) continue;
      kind[j] = DayKind::kCarried;
      reason[j] = "day off for " + (d.h->name.empty() ? "a holiday" : d.h->name) + " (" +
                  ymd_text(date::year_month_day(d.day)) + ")";
      break;
    }
  }
  std::vector<const DatedDay*> decree(total, nullptr);
  for (const auto& [day, dd] : e.working_days) {
    const int i = index_of(day);
    if (i < 0 || i >= total) continue;
    // Refused when validating (calendar check, publication); a calendar already published compiles as before, the
    // entry winning, so that a log written before this check existed replays unchanged.
    if (diags != nullptr && (kind[i] == DayKind::kHoliday || kind[i] == DayKind::kCarried) && !dd.overrides_holiday &&
        !dd.transfer) {
      // The statutory base says this day is off; an entry that silently makes it a working day is far more
      // often a typo (a wrong date) than a decision, and would shorten every deadline across it.
      return refuse(diags, dd.where, "working-day-on-holiday",
                    "working day " + ymd_text(date::year_month_day(day)) + " falls on a statutory day off (" +
                        reason[i] + "); a decree that works it is written as a transfer, a holiday that ends is " +
                        "written in remove_holidays, and a deliberate exception says overrides_holiday: true");
    }
    kind[i] = DayKind::kWorkingByDecree;
    decree[i] = &dd;
    reason[i] = dd.name.empty() ? "working day by decree" : dd.name;
  }

  Calendar::Tables t;
  t.name = std::string(name);
  t.version = e.version;
  t.content_hash = blake2b_256(e.canonical);
  t.zone = e.zone;
  t.first_day = first;
  t.days.reserve(covered + 1);
  t.reasons.assign(reason.begin(), reason.begin() + covered);
  t.provisional = std::move(provisional);
  t.horizon_reason = std::move(horizon_reason);
  std::int64_t work = 0;
  std::int32_t workdays = 0;
  auto utc = [&](date::sys_days day, int minute) {
    return micros_since_epoch(date::floor<std::chrono::microseconds>(
        e.zone->to_sys(date::local_days(day.time_since_epoch()) + std::chrono::minutes(minute), date::choose::earliest)));
  };
  const std::vector<TimeSpan>* monday = &e.week[0];
  for (const auto& w : e.week) {
    if (monday->empty() && !w.empty()) monday = &w;
  }
  for (int i = 0; i <= covered; ++i) {
    const date::sys_days day = first + date::days(i);
    Calendar::Day row;
    row.start_us = utc(day, 0);
    row.work_before_us = work;
    row.workdays_before = workdays;
    row.first_interval = static_cast<std::uint32_t>(t.intervals.size());
    if (i < covered && (kind[i] == DayKind::kWeekWorking || kind[i] == DayKind::kWorkingByDecree)) {
      const unsigned wd = date::weekday(day).iso_encoding() - 1;
      const std::vector<TimeSpan>* hours = &e.week[wd];
      if (decree[i] && !decree[i]->hours.empty()) hours = &decree[i]->hours;
      if (hours->empty()) hours = monday;
      for (const TimeSpan& s : minus_lunch(*hours, e.lunch)) {
        const Calendar::Interval iv{utc(day, s.begin_minute), utc(day, s.end_minute)};
        if (iv.end_us <= iv.begin_us) continue;
        t.intervals.push_back(iv);
        work += iv.end_us - iv.begin_us;
        ++row.interval_count;
      }
      if (row.interval_count > 0) ++workdays;
    }
    t.days.push_back(row);
  }
  return Calendar(std::move(t));
}

}  // namespace otinish::rules
