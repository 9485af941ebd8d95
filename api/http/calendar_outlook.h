// api/http/calendar_outlook.h: how soon each calendar in force runs onto a provisional year, for /metrics,
// /healthz and the start-up log.
//
// A provisional year is one whose yearly inputs (a moving religious day, the government's transfer decree) are
// not published: deadlines reaching it are computed on the statutory base and marked provisional. An admin
// must publish the inputs before appeals start reaching into it; this says how many days are left.
//
// Thread-safety: a pure function of the registry (thread-safe) and the instant given.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <date/date.h>

#include "common/status.h"
#include "common/time.h"
#include "engine/rule_registry.h"

namespace otinish::api {

// How long until provisional days under one calendar of the rules in force.
struct CalendarOutlook {
  std::string calendar;                           // "kz"
  std::string version;                            // "kz@2026-03-18"
  std::optional<date::sys_days> first_provisional;  // nullopt: every covered year is final
  std::int64_t days_until = 0;                    // from `now`'s UTC day to first_provisional (<= 0: already)
  int year = 0;                                   // the first provisional year
  std::vector<std::string> missing;               // its unpublished inputs ("kurban_ait", ...)
  date::sys_days last_day;                        // the horizon: the last day a deadline may reach
};

// Every calendar of the rules in force (the newest bundle), sorted by name; empty before any rule set is
// published. Errors: the registry's (a published version that no longer compiles).
Result<std::vector<CalendarOutlook>> calendar_outlook(engine::RuleRegistry& registry, Timestamp now);

// How close a provisional year must be before /healthz reports "degraded".
inline constexpr std::int64_t kProvisionalWarningDays = 60;

// The degraded reasons for /healthz: one per calendar whose first provisional day is fewer than
// kProvisionalWarningDays away (or already here).
std::vector<std::string> provisional_reasons(const std::vector<CalendarOutlook>& outlook);

}  // namespace otinish::api
