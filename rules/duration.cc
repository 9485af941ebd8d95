#include "rules/duration.h"

#include <charconv>

namespace otinish::rules {

namespace {
constexpr std::int64_t kMinuteUs = 60'000'000;

struct UnitInfo {
  std::string_view suffix;
  Unit unit;
  std::int64_t base;  // base quantity per unit
};
// Longest suffixes first so "bm" is not read as "m".
constexpr UnitInfo kUnits[] = {
    {"mo", Unit::kMonths, 1},
    {"bm", Unit::kBusinessMinutes, kMinuteUs},
    {"bh", Unit::kBusinessHours, 60 * kMinuteUs},
    {"wd", Unit::kWorkingDays, 1},
    {"m", Unit::kMinutes, kMinuteUs},
    {"h", Unit::kHours, 60 * kMinuteUs},
    {"d", Unit::kDays, 24 * 60 * kMinuteUs},
};

const UnitInfo& info(Unit u) noexcept {
  for (const UnitInfo& i : kUnits)
    if (i.unit == u) return i;
  return kUnits[0];
}
}  // namespace

Measure measure_of(Unit unit) noexcept {
  switch (unit) {
    case Unit::kMinutes:
    case Unit::kHours:
    case Unit::kDays: return Measure::kWall;
    case Unit::kBusinessMinutes:
    case Unit::kBusinessHours: return Measure::kBusiness;
    case Unit::kWorkingDays: return Measure::kWorkingDays;
    case Unit::kMonths: return Measure::kMonths;
  }
  return Measure::kWall;
}

std::int64_t Target::base_amount() const noexcept { return amount * info(unit).base; }

std::string_view units_help() noexcept {
  return "m (minutes), h (hours), d (days of 24 hours), bm (business minutes), bh (business hours), "
         "wd (working days), mo (calendar months)";
}

Result<Target> parse_target(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) {
    return Status::InvalidArgument("'" + std::string(text) + "' is not a duration: write a whole number and a unit, "
                                   "e.g. 15wd; units: " + std::string(units_help()));
  }
  std::int64_t amount = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, amount);
  if (ec != std::errc() || amount > 1'000'000) {
    return Status::InvalidArgument("'" + std::string(text) + "': the amount is too large (at most 1000000)");
  }
  std::string_view suffix = text.substr(digits);
  for (const UnitInfo& i : kUnits) {
    if (suffix == i.suffix) return Target{amount, i.unit};
  }
  return Status::InvalidArgument("'" + std::string(text) + "' has unknown unit '" + std::string(suffix) +
                                 "'; units: " + std::string(units_help()));
}

std::string canonical(const Target& t) {
  const Measure m = t.measure();
  const std::int64_t base = t.base_amount();
  const UnitInfo* best = nullptr;
  for (const UnitInfo& i : kUnits) {
    if (measure_of(i.unit) != m || base % i.base != 0) continue;
    if (best == nullptr || i.base > best->base) best = &i;
  }
  if (base == 0) best = &info(m == Measure::kWall ? Unit::kMinutes
                               : m == Measure::kBusiness ? Unit::kBusinessMinutes : t.unit);
  return std::to_string(base / best->base) + std::string(best->suffix);
}

}  // namespace otinish::rules
