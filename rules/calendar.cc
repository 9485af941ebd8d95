#include "rules/calendar.h"

#include <algorithm>

#include <date/tz.h>

namespace otinish::rules {

namespace {
constexpr std::int64_t kDayUs = 86'400'000'000;
}  // namespace

std::string Calendar::time_zone() const { return t_.zone ? std::string(t_.zone->name()) : std::string(); }

date::sys_days Calendar::last_day() const noexcept {
  return t_.first_day + date::days(static_cast<int>(t_.days.size()) - 2);
}

std::int64_t Calendar::day_index(std::int64_t t_us) const noexcept {
  const auto& days = t_.days;
  const std::int64_t n = static_cast<std::int64_t>(days.size()) - 1;  // covered days
  if (t_us < days.front().start_us || t_us > days.back().start_us) return -1;
  // Days are 23-25 hours long, so the estimate is off by at most one step.
  std::int64_t i = std::clamp<std::int64_t>((t_us - days.front().start_us) / kDayUs, 0, n);
  while (i < n && days[i + 1].start_us <= t_us) ++i;
  while (i > 0 && days[i].start_us > t_us) --i;
  return i;
}

std::int64_t Calendar::work_before(std::int64_t idx, std::int64_t t_us) const noexcept {
  const Day& d = t_.days[idx];
  std::int64_t w = d.work_before_us;
  for (std::uint32_t k = 0; k < d.interval_count; ++k) {
    const Interval& iv = t_.intervals[d.first_interval + k];
    if (t_us <= iv.begin_us) break;
    w += std::min(t_us, iv.end_us) - iv.begin_us;
  }
  return w;
}

std::int64_t Calendar::close_of(std::int64_t idx) const noexcept {
  const Day& d = t_.days[idx];
  return t_.intervals[d.first_interval + d.interval_count - 1].end_us;
}

// The day whose working days are counted "after": t's own day, except that the exact close of a day that
// ends at midnight (a 24-hour schedule) still belongs to that day.
std::int64_t Calendar::workday_anchor(std::int64_t idx, std::int64_t t_us) const noexcept {
  if (idx > 0 && is_working(idx - 1) && close_of(idx - 1) == t_us) return idx - 1;
  return idx;
}

Status Calendar::out_of_range(std::int64_t t_us) const {
  const date::year_month_day first{t_.first_day};
  const date::year_month_day last{last_day()};
  const bool before = t_us < t_.days.front().start_us;
  std::string msg = "calendar '" + t_.name + "' (version " + t_.version + ") covers " + date::format("%F", first) +
                    " to " + date::format("%F", last) + " only; ";
  if (before) {
    msg += "the computation needs a year before its first year (" + date::format("%Y", first) + ")";
  } else {
    msg += "the computation reaches past its horizon";
    if (!t_.horizon_reason.empty()) msg += " (" + t_.horizon_reason + ")";
  }
  return Status::FailedPrecondition(std::move(msg));
}

std::optional<date::sys_days> Calendar::first_provisional_day() const {
  if (t_.provisional.empty()) return std::nullopt;
  return std::max(t_.first_day, date::sys_days(date::year{t_.provisional.front().year} / 1 / 1));
}

std::string Calendar::provisional_note(Timestamp a, Timestamp b) const {
  if (t_.provisional.empty()) return {};
  if (b < a) std::swap(a, b);
  auto year_of = [&](Timestamp t) {
    const std::int64_t us = std::clamp(micros_since_epoch(t), t_.days.front().start_us, t_.days.back().start_us - 1);
    const std::int64_t idx = std::max<std::int64_t>(day_index(us), 0);
    return static_cast<int>(date::year_month_day(t_.first_day + date::days(idx)).year());
  };
  // A deadline at the close of a day ending at 24:00 is the next day's midnight, but belongs to the day it closes.
  const int from = year_of(a), to = year_of(b > a ? b - std::chrono::microseconds(1) : b);
  std::string note;
  for (const ProvisionalYear& p : t_.provisional) {
    if (p.year < from || p.year > to) continue;
    std::string missing;
    for (const auto& m : p.missing) missing += (missing.empty() ? "" : ", ") + m;
    note += (note.empty() ? "" : "; ") + (p.calendar.empty() ? t_.name : p.calendar) + " " + std::to_string(p.year) +
            " is provisional: " + missing + " not published";
  }
  return note;
}

Result<Timestamp> Calendar::add(Timestamp start, const Target& d) const {
  const std::int64_t t_us = micros_since_epoch(start);
  switch (d.measure()) {
    case Measure::kWall: return timestamp_from_micros(t_us + d.base_amount());
    case Measure::kBusiness: return add_business(t_us, d.base_amount());
    case Measure::kWorkingDays: return add_working_days(t_us, d.base_amount());
    case Measure::kMonths: return add_months(start, d.base_amount());
  }
  return Status::Internal("unknown measure");
}

Result<Timestamp> Calendar::add_business(std::int64_t t_us, std::int64_t d_us) const {
  const std::int64_t idx = day_index(t_us);
  if (idx < 0) return out_of_range(t_us);
  if (d_us == 0) return timestamp_from_micros(t_us);
  const std::int64_t target = work_before(idx, t_us) + d_us;
  const auto& days = t_.days;
  // First day j >= idx whose working time ends at or after the target (days[j+1].work_before_us >= target).
  auto it = std::partition_point(days.begin() + idx + 1, days.end(),
                                 [target](const Day& next) { return next.work_before_us < target; });
  if (it == days.end()) return out_of_range(t_us);
  const Day& day = *(it - 1);
  std::int64_t remaining = target - day.work_before_us;
  for (std::uint32_t k = 0; k < day.interval_count; ++k) {
    const Interval& iv = t_.intervals[day.first_interval + k];
    const std::int64_t len = iv.end_us - iv.begin_us;
    if (remaining <= len) return timestamp_from_micros(iv.begin_us + remaining);
    remaining -= len;
  }
  return Status::Internal("calendar tables are inconsistent (working time prefix sums)");
}

Result<Timestamp> Calendar::add_working_days(std::int64_t t_us, std::int64_t n) const {
  std::int64_t idx = day_index(t_us);
  if (idx < 0) return out_of_range(t_us);
  if (n == 0) return timestamp_from_micros(t_us);
  idx = workday_anchor(idx, t_us);
  const auto& days = t_.days;
  if (idx + 1 >= static_cast<std::int64_t>(days.size())) return out_of_range(t_us);
  const std::int64_t wanted = days[idx + 1].workdays_before + n;
  auto it = std::partition_point(days.begin() + idx + 2, days.end(),
                                 [wanted](const Day& next) { return next.workdays_before < wanted; });
  if (it == days.end()) return out_of_range(t_us);
  return timestamp_from_micros(close_of((it - 1) - days.begin()));
}

Result<Timestamp> Calendar::add_months(Timestamp t, std::int64_t n) const {
  const auto local = t_.zone->to_local(t);
  const auto day = date::floor<date::days>(local);
  const auto time_of_day = local - day;
  date::year_month_day ymd{day};
  ymd += date::months(n);
  if (!ymd.ok()) ymd = ymd.year() / ymd.month() / date::last;
  const auto local_result = date::local_days(ymd) + time_of_day;
  return date::floor<std::chrono::microseconds>(t_.zone->to_sys(local_result, date::choose::earliest));
}

Result<std::int64_t> Calendar::between(Timestamp a, Timestamp b, Measure measure) const {
  const std::int64_t a_us = micros_since_epoch(a), b_us = micros_since_epoch(b);
  if (measure == Measure::kWall) return b_us - a_us;
  if (measure == Measure::kMonths) return Status::InvalidArgument("between() does not count months");
  if (b_us < a_us) {
    OTINISH_ASSIGN_OR_RETURN(std::int64_t reverse, between(b, a, measure));
    return -reverse;
  }
  const std::int64_t ia = day_index(a_us), ib = day_index(b_us);
  if (ia < 0) return out_of_range(a_us);
  if (ib < 0) return out_of_range(b_us);
  if (measure == Measure::kBusiness) return work_before(ib, b_us) - work_before(ia, a_us);
  const std::int64_t anchor = workday_anchor(ia, a_us);
  if (ib <= anchor) return std::int64_t{0};
  const auto& days = t_.days;
  std::int64_t count = days[ib].workdays_before - days[anchor + 1].workdays_before;
  if (ib < static_cast<std::int64_t>(days.size()) - 1 && is_working(ib) && close_of(ib) <= b_us) ++count;
  return count;
}

Result<DayInfo> Calendar::day(date::year_month_day ymd) const {
  const std::int64_t idx = (date::sys_days(ymd) - t_.first_day).count();
  if (idx < 0) return out_of_range(t_.days.front().start_us - 1);
  if (idx >= static_cast<std::int64_t>(t_.days.size()) - 1) return out_of_range(t_.days.back().start_us);
  DayInfo info;
  info.date = ymd;
  info.working = is_working(idx);
  info.working_minutes = (t_.days[idx + 1].work_before_us - t_.days[idx].work_before_us) / 60'000'000;
  info.reason = t_.reasons[idx];
  const int year = static_cast<int>(ymd.year());
  info.provisional = std::any_of(t_.provisional.begin(), t_.provisional.end(),
                                 [year](const ProvisionalYear& p) { return p.year == year; });
  return info;
}

int Calendar::working_days_in_year(int year) const {
  const auto from = std::max(date::sys_days(date::year{year} / 1 / 1), t_.first_day);
  const auto to = std::min(date::sys_days(date::year{year + 1} / 1 / 1), last_day() + date::days(1));
  if (from >= to) return 0;
  const auto i = (from - t_.first_day).count(), j = (to - t_.first_day).count();
  return t_.days[j].workdays_before - t_.days[i].workdays_before;
}

std::int64_t Calendar::working_minutes_in_year(int year) const {
  const auto from = std::max(date::sys_days(date::year{year} / 1 / 1), t_.first_day);
  const auto to = std::min(date::sys_days(date::year{year + 1} / 1 / 1), last_day() + date::days(1));
  if (from >= to) return 0;
  const auto i = (from - t_.first_day).count(), j = (to - t_.first_day).count();
  return (t_.days[j].work_before_us - t_.days[i].work_before_us) / 60'000'000;
}

std::string Calendar::format_local(Timestamp t) const {
  const auto secs = date::floor<std::chrono::seconds>(t);
  return date::format("%FT%T%Ez", date::make_zoned(t_.zone, secs));
}

Timestamp Calendar::from_local(date::local_seconds local) const {
  return date::floor<std::chrono::microseconds>(t_.zone->to_sys(local, date::choose::earliest));
}

}  // namespace otinish::rules
