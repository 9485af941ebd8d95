// rules/duration.h: SLA targets such as "2m", "4h", "16bh", "15wd", "2mo".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace otinish::rules {

// How a target is measured.
enum class Unit : std::uint8_t {
  kMinutes,          // "m": wall-clock minutes, round the clock
  kHours,            // "h": wall-clock hours
  kDays,             // "d": wall-clock days of 24 hours
  kBusinessMinutes,  // "bm": minutes inside the calendar's working hours
  kBusinessHours,    // "bh": hours inside the calendar's working hours
  kWorkingDays,      // "wd": whole working days; due at the close of the N-th working day after the start day
  kMonths,           // "mo": calendar months in the calendar's zone (only for law caps such as "2mo")
};

// How time is counted for a unit: on the wall clock, in working time, or in whole working days/months.
enum class Measure : std::uint8_t { kWall, kBusiness, kWorkingDays, kMonths };

Measure measure_of(Unit unit) noexcept;

// A duration in one unit. Value type; compares by meaning, so 120m == 2h and 60bm == 1bh.
struct Target {
  std::int64_t amount = 0;
  Unit unit = Unit::kMinutes;

  // The amount in the measure's base quantity: microseconds for wall and business time, days for working days,
  // months for months.
  std::int64_t base_amount() const noexcept;
  Measure measure() const noexcept { return measure_of(unit); }

  friend bool operator==(const Target& a, const Target& b) noexcept {
    return a.measure() == b.measure() && a.base_amount() == b.base_amount();
  }
};

// Parses "<positive integer><unit>" with unit one of m, h, d, bm, bh, wd, mo ("0m" is allowed).
// Errors: InvalidArgument naming the units that exist.
Result<Target> parse_target(std::string_view text);

// The canonical spelling: the largest unit of the same measure that divides the amount ("120m" -> "2h",
// "90bm" stays "90bm"). parse_target(canonical(t)) == t.
std::string canonical(const Target& t);

// The units, for messages: "m, h, d, bm, bh, wd, mo".
std::string_view units_help() noexcept;

}  // namespace otinish::rules
