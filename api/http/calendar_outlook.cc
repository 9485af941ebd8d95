#include "api/http/calendar_outlook.h"

namespace otinish::api {

Result<std::vector<CalendarOutlook>> calendar_outlook(engine::RuleRegistry& registry, Timestamp now) {
  OTINISH_ASSIGN_OR_RETURN(std::shared_ptr<const engine::Bundle> bundle, registry.current());
  std::vector<CalendarOutlook> out;
  if (!bundle) return out;
  const date::sys_days today = date::floor<date::days>(now);
  for (const auto& [name, cal] : bundle->calendars) {
    CalendarOutlook o;
    o.calendar = name;
    o.version = cal.version();
    o.last_day = cal.last_day();
    o.first_provisional = cal.first_provisional_day();
    if (o.first_provisional) {
      o.days_until = (*o.first_provisional - today).count();
      o.year = cal.provisional_years().front().year;
      o.missing = cal.provisional_years().front().missing;
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<std::string> provisional_reasons(const std::vector<CalendarOutlook>& outlook) {
  std::vector<std::string> reasons;
  for (const CalendarOutlook& o : outlook) {
    if (!o.first_provisional || o.days_until >= kProvisionalWarningDays) continue;
    std::string missing;
    for (const auto& m : o.missing) missing += (missing.empty() ? "" : ", ") + m;
    reasons.push_back("calendar " + o.calendar + ": " + std::to_string(o.year) + " is provisional (" + missing +
                      " not published) " +
                      (o.days_until > 0 ? "in " + std::to_string(o.days_until) + " days" : std::string("now")) +
                      "; deadlines reaching it are computed on the statutory base: publish the year's inputs "
                      "(PUT /v1/calendars/" + o.calendar + ")");
  }
  return reasons;
}

}  // namespace otinish::api
