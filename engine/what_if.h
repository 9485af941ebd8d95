// engine/what_if.h: what a candidate rule set would have done to the recorded history, before publishing it.
//
// Reads the log (never writes it): every appeal's facts, and the bundle its clocks were bound to (its
// SlaBound / SlaRebound; the bundle in force at registration for an appeal the service never saw). Then
// decides each appeal twice with the pure rules::decide_sla at `as_of`, on its bound bundle (the baseline: what
// the service recorded) and on the candidate, and reports the difference: breaches added and removed per agency
// and per category, deadlines moved, escalations that would have fired.
//
// Usage:
//   auto cand = registry.candidate(yaml, "city.yaml");                 // compiled, not published
//   WhatIfOptions o{.as_of = clock.now(), .progress = [](const WhatIfProgress& p) { draw(p); }};
//   Result<WhatIfReport> r = simulate_what_if(store, registry, **cand, o);
//   std::cout << format_what_if(*r);
//
// Thread-safety: simulate_what_if may run while the service appends (it reads up to the head it saw first).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "engine/rule_registry.h"
#include "store/event_store.h"

namespace otinish::engine {

struct WhatIfProgress {
  std::string_view phase;  // "read" (the log) or "decide" (the appeals)
  std::uint64_t done = 0;
  std::uint64_t total = 0;
};

struct WhatIfOptions {
  // Decisions are made as of this instant (usually now); facts after it are ignored. REQUIRED.
  Timestamp as_of{};
  // Only appeals registered in [from, to) (both optional): a time window of the history.
  std::optional<Timestamp> from, to;
  // Threads deciding appeals (0: the hardware's).
  unsigned threads = 0;
  // Called from the simulating threads about every 1% of each phase; must be cheap and thread-safe.
  std::function<void(const WhatIfProgress&)> progress;
  // How many changed appeals to list as examples in the report.
  std::size_t examples = 20;
};

// Breaches of one group (an agency or a category), counted per clock.
struct WhatIfGroup {
  std::uint64_t appeals = 0;
  std::uint64_t breaches_before = 0;  // clocks breached on the bound bundles
  std::uint64_t breaches_after = 0;   // on the candidate
  std::uint64_t breaches_added = 0;   // breached on the candidate only
  std::uint64_t breaches_removed = 0; // breached on the bound bundle only
  friend bool operator==(const WhatIfGroup&, const WhatIfGroup&) = default;
};

struct WhatIfReport {
  std::string candidate_hash;
  std::uint64_t events_read = 0;
  std::uint64_t appeals = 0;           // in the window
  std::uint64_t appeals_changed = 0;   // with any difference below
  std::uint64_t errors = 0;            // appeals a decision failed for (e.g. outside a calendar's years)
  std::string first_error;
  WhatIfGroup total;
  std::map<std::string, WhatIfGroup> by_agency;    // "" = not yet assigned
  std::map<std::string, WhatIfGroup> by_category;
  std::uint64_t deadlines_moved = 0, deadlines_earlier = 0, deadlines_later = 0;
  std::int64_t deadline_shift_total_s = 0;          // sum of (candidate - baseline) over moved deadlines
  // Escalation rungs that fire on the candidate and not on the baseline, by "clock label -> roles".
  std::map<std::string, std::uint64_t> escalations_added;
  std::map<std::string, std::uint64_t> escalations_removed;
  std::vector<std::string> examples;                 // "SHY-2026-0000012: law.answer deadline 04-06 -> 03-31"
  double read_seconds = 0, decide_seconds = 0;
};

// Errors: the store's (reading), kFailedPrecondition if as_of is unset. Per-appeal decision errors are
// counted in the report, not returned.
Result<WhatIfReport> simulate_what_if(const store::EventStore& store, RuleRegistry& registry,
                                      const Bundle& candidate, const WhatIfOptions& options);

// A plain-text table of the report (for the CLI).
std::string format_what_if(const WhatIfReport& report);

// A WhatIfOptions::progress that draws on `out`: with `redraw` (a terminal) one bar per phase, redrawn in place
// with '\r'; without (a log, a pipe) one line per phase at 25, 50, 75 and 100%, so that logs stay readable.
// Thread-safe. REQUIRES: `out` outlives the callback.
std::function<void(const WhatIfProgress&)> what_if_progress_bar(std::ostream& out, bool redraw);

}  // namespace otinish::engine
