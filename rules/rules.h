// rules/rules.h: the rules library, in one include.
//
// rules/ owns the SLA rules and business calendars: parsing and validating their YAML (every error at once,
// with file:line:column), linting, canonical forms and content hashes, working-time arithmetic on compiled
// calendars, and the SLA decision function (rule set, calendars, an appeal's history -> clocks, deadlines,
// escalations). Everything is a pure function of its inputs: rules/ reads the files it is asked to read and
// nothing else.
//
// It must not know of the event store, events, the engine's state machine, HTTP or the wall clock: the engine
// passes facts in (AppealFacts) and turns decisions into events. Depends only on common/, yaml-cpp and date-tz.
//
//   calendar_spec.h  calendars as written (YAML), inheritance, versions; CalendarLibrary::compile
//   calendar.h       a compiled calendar: add / between in m, h, d, bm, bh, wd, mo
//   duration.h       targets such as "15wd"
//   rule_set.h       rule sets: parse, load, lint, canonical text, content hash
//   sla.h            decide_sla, the SLA decision function
//   diagnostics.h    file:line:column findings
#pragma once

#include "rules/calendar.h"
#include "rules/calendar_spec.h"
#include "rules/diagnostics.h"
#include "rules/duration.h"
#include "rules/rule_set.h"
#include "rules/sla.h"
