#include "engine/what_if.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <sstream>
#include <thread>
#include <unordered_map>

#include <boost/unordered/unordered_flat_map.hpp>

#include "common/progress_bar.h"
#include "engine/events.h"
#include "engine/sla_service.h"
#include "rules/sla.h"

namespace otinish::engine {

namespace {

// Threads scanning the log at most: each scans all of it, so beyond a few the repeated scan costs more than the
// shared decoding saves (measured on two cores only).
constexpr unsigned kMaxScanners = 4;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One scanner's appeals, by stream. Appeal streams ("appeal-SHY-2026-0000001") are short: their names are kept
// inside the slots of a flat table, so that a lookup touches one slot instead of a node and a heap-allocated key
// (that chasing was most of the read at 2,000,000 appeals); longer names go to an ordinary map.
class AppealIndex {
 public:
  // The view of `stream`, added (with its appeal id) if new.
  SlaAppealView& operator[](std::string_view stream) {
    SlaAppealView*& slot =
        stream.size() <= ShortName::kCapacity ? short_[ShortName(stream)] : long_[std::string(stream)];
    if (!slot) {
      slot = &views_.emplace_back();
      slot->appeal_id = stream.substr(kAppealStreamPrefix.size());
      slot->facts.history.reserve(16);  // a registration, then a state and an event fact per event: no regrowth
    }
    return *slot;
  }
  // In the order the scan met them.
  const std::deque<SlaAppealView>& views() const noexcept { return views_; }

 private:
  struct ShortName {
    static constexpr std::size_t kCapacity = 31;
    explicit ShortName(std::string_view s) noexcept : size(static_cast<std::uint8_t>(s.size())) {
      std::memcpy(bytes.data(), s.data(), s.size());
    }
    std::string_view view() const noexcept { return {bytes.data(), size}; }
    friend bool operator==(const ShortName& a, const ShortName& b) noexcept { return a.view() == b.view(); }
    std::array<char, kCapacity> bytes{};
    std::uint8_t size;
  };
  struct ShortNameHash {
    std::size_t operator()(const ShortName& n) const noexcept { return std::hash<std::string_view>{}(n.view()); }
  };

  std::deque<SlaAppealView> views_;  // stable addresses while the scan appends
  boost::unordered_flat_map<ShortName, SlaAppealView*, ShortNameHash> short_;
  std::unordered_map<std::string, SlaAppealView*> long_;
};

std::string short_time(std::optional<Timestamp> t) { return t ? format_utc(*t).substr(0, 16) : "none"; }

void add_group(WhatIfGroup& into, const WhatIfGroup& g) {
  into.appeals += g.appeals;
  into.breaches_before += g.breaches_before;
  into.breaches_after += g.breaches_after;
  into.breaches_added += g.breaches_added;
  into.breaches_removed += g.breaches_removed;
}

// Adds a deciding thread's counts to `into` (examples and first error are picked by simulate_what_if).
void merge_counts(WhatIfReport& into, const WhatIfReport& part) {
  into.appeals_changed += part.appeals_changed;
  into.errors += part.errors;
  add_group(into.total, part.total);
  for (auto& [k, g] : part.by_agency) add_group(into.by_agency[k], g);
  for (auto& [k, g] : part.by_category) add_group(into.by_category[k], g);
  into.deadlines_moved += part.deadlines_moved;
  into.deadlines_earlier += part.deadlines_earlier;
  into.deadlines_later += part.deadlines_later;
  into.deadline_shift_total_s += part.deadline_shift_total_s;
  for (auto& [k, n] : part.escalations_added) into.escalations_added[k] += n;
  for (auto& [k, n] : part.escalations_removed) into.escalations_removed[k] += n;
}

std::string rung_name(const rules::ClockReport& c, const rules::EscalationEvent& e) {
  std::string s = c.clock + " " + e.at_label + " ->";
  for (const auto& n : e.notify) s += " " + n;
  if (!e.raise_priority.empty()) s += " priority:" + e.raise_priority;
  if (!e.reassign_role.empty()) s += " reassign:" + e.reassign_role;
  if (!e.reassign_agency.empty()) s += " reassign:" + e.reassign_agency;
  return s;
}

// A decision's clocks in name order; of two reports of one clock the later counts.
std::vector<const rules::ClockReport*> clocks_by_name(const rules::SlaDecision& d) {
  std::vector<const rules::ClockReport*> out;
  out.reserve(d.clocks.size());
  for (const auto& c : d.clocks) out.push_back(&c);
  std::stable_sort(out.begin(), out.end(), [](const auto* x, const auto* y) { return x->clock < y->clock; });
  std::vector<const rules::ClockReport*> last;
  last.reserve(out.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (i + 1 == out.size() || out[i + 1]->clock != out[i]->clock) last.push_back(out[i]);
  }
  return last;
}

// The rungs a clock fired, as "cycle/rung name", sorted, without repeats.
std::vector<std::string> fired_rungs(const rules::ClockReport* c) {
  std::vector<std::string> out;
  if (!c) return out;
  for (const auto& e : c->fired) out.push_back(std::to_string(e.cycle) + "/" + rung_name(*c, e));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Counts each rung of `of` that is not in `in` (both sorted) under its name.
void count_missing(const std::vector<std::string>& of, const std::vector<std::string>& in,
                   std::map<std::string, std::uint64_t>& counts, bool& changed) {
  auto j = in.begin();
  for (const auto& k : of) {
    while (j != in.end() && *j < k) ++j;
    if (j != in.end() && *j == k) continue;
    ++counts[k.substr(k.find('/') + 1)];
    changed = true;
  }
}

// Compares one appeal's two decisions into `r`. The example text is built only while the report still takes
// examples (formatting times for every appeal cost a tenth of a what-if).
void compare(const SlaAppealView& v, const rules::SlaDecision& before, const rules::SlaDecision& after,
             WhatIfReport& r, std::size_t examples) {
  const auto b = clocks_by_name(before), a = clocks_by_name(after);
  const bool wants_example = r.examples.size() < examples;
  WhatIfGroup g;
  g.appeals = 1;
  bool changed = false;
  std::string example;
  for (const auto* c : b) g.breaches_before += c->breached ? 1 : 0;
  for (const auto* c : a) g.breaches_after += c->breached ? 1 : 0;
  // Every clock name of either decision, in order.
  for (std::size_t i = 0, j = 0; i < b.size() || j < a.size();) {
    const rules::ClockReport* cb = nullptr;
    const rules::ClockReport* ca = nullptr;
    if (j == a.size() || (i < b.size() && b[i]->clock < a[j]->clock)) {
      cb = b[i++];
    } else if (i == b.size() || a[j]->clock < b[i]->clock) {
      ca = a[j++];
    } else {
      cb = b[i++];
      ca = a[j++];
    }
    const std::string& name = cb ? cb->clock : ca->clock;
    const bool bb = cb && cb->breached, ba = ca && ca->breached;
    if (ba && !bb) ++g.breaches_added, changed = true;
    if (bb && !ba) ++g.breaches_removed, changed = true;
    const auto db = cb ? cb->deadline : std::nullopt, da = ca ? ca->deadline : std::nullopt;
    if (db && da && *db != *da) {
      ++r.deadlines_moved;
      (*da < *db ? r.deadlines_earlier : r.deadlines_later) += 1;
      r.deadline_shift_total_s += std::chrono::duration_cast<std::chrono::seconds>(*da - *db).count();
      changed = true;
      if (wants_example && example.empty()) example = name + " deadline " + short_time(db) + " -> " + short_time(da);
    }
    if ((cb && !cb->fired.empty()) || (ca && !ca->fired.empty())) {
      const auto fired_before = fired_rungs(cb), fired_after = fired_rungs(ca);
      count_missing(fired_after, fired_before, r.escalations_added, changed);
      count_missing(fired_before, fired_after, r.escalations_removed, changed);
    }
  }
  if (example.empty() && (g.breaches_added || g.breaches_removed)) {
    example = g.breaches_added ? "breach added" : "breach removed";
  }
  add_group(r.total, g);
  add_group(r.by_agency[v.facts.agency], g);
  add_group(r.by_category[v.facts.category], g);
  if (changed) {
    ++r.appeals_changed;
    if (wants_example) r.examples.push_back(v.appeal_id + ": " + example);
  }
}

}  // namespace

Result<WhatIfReport> simulate_what_if(const store::EventStore& store, RuleRegistry& registry,
                                      const Bundle& candidate, const WhatIfOptions& options) {
  if (options.as_of == Timestamp{}) return Status::FailedPrecondition("what-if needs as_of (usually now)");
  WhatIfReport report;
  report.candidate_hash = candidate.ref.rule_set_hash;
  auto t0 = std::chrono::steady_clock::now();

  // 1. Read: every appeal's facts and binding. Each of `scanners` threads scans the whole log and decodes and
  // folds only the appeals whose stream hashes to it, so every appeal is folded by one thread in log order and
  // nothing is handed between threads; the scan is repeated, decoding (most of the cost) is shared.
  const std::uint64_t head = store.head_position();
  const unsigned threads = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  const unsigned scanners = std::min(threads, kMaxScanners);
  struct Scanner {
    AppealIndex appeals;
    Result<std::uint64_t> read = std::uint64_t{0};
    Status error;
  };
  std::vector<Scanner> parts(scanners);
  const std::uint64_t step = std::max<std::uint64_t>(head / 100, 1);
  auto scan = [&](unsigned k) {
    Scanner& part = parts[k];
    part.read = store.scan(1, head, [&](const store::RecordedEvent& e) {
      if (e.recorded_at > options.as_of) return false;
      if (k == 0 && e.position % step == 0 && options.progress) options.progress({"read", e.position, head});
      if (e.stream.rfind(kAppealStreamPrefix, 0) != 0) return true;
      if (is_sla_event_type(e.type) && e.type != "SlaBound" && e.type != "SlaRebound") return true;
      if (scanners > 1 && std::hash<std::string_view>{}(e.stream) % scanners != k) return true;
      part.error = fold_sla_view(part.appeals[e.stream], e, /*clock_events=*/false);
      return part.error.ok();
    });
  };
  {
    std::vector<std::thread> pool;
    for (unsigned k = 1; k < scanners; ++k) pool.emplace_back(scan, k);
    scan(0);
    for (auto& t : pool) t.join();
  }
  for (const Scanner& part : parts) {
    if (!part.read.ok()) return part.read.status();
    if (!part.error.ok()) return part.error;
  }
  report.events_read = *parts[0].read;  // every scanner visits the same events
  report.read_seconds = seconds_since(t0);
  if (options.progress) options.progress({"read", head, head});

  // 2. Decide: each appeal on its bound bundle and on the candidate, in parallel.
  t0 = std::chrono::steady_clock::now();
  // In log order of registration, whatever the number of scanners (each one's appeals are already in that
  // order), so that the examples do not depend on it.
  std::vector<const SlaAppealView*> in_window;
  for (const Scanner& part : parts) {
    const auto run_begin = static_cast<std::ptrdiff_t>(in_window.size());
    for (const auto& v : part.appeals.views()) {
      if (!v.exists || v.facts.history.empty()) continue;
      const Timestamp reg = v.facts.history.front().at;
      if ((options.from && reg < *options.from) || (options.to && reg >= *options.to)) continue;
      in_window.push_back(&v);
    }
    std::inplace_merge(in_window.begin(), in_window.begin() + run_begin, in_window.end(),
                       [](const SlaAppealView* a, const SlaAppealView* b) {
                         return a->registered_position < b->registered_position;
                       });
  }
  report.appeals = in_window.size();
  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> done{0};
  const std::size_t n = in_window.size();
  const std::uint64_t tick = std::max<std::uint64_t>(n / 100, 1);
  // What one deciding thread found, and where (index in in_window) its examples and first error are: the report
  // takes those of the earliest appeals, so that it does not depend on how the threads shared the work.
  struct Decider {
    WhatIfReport report;
    std::vector<std::size_t> example_at;
    std::size_t first_error_at = SIZE_MAX;
  };
  std::vector<Decider> deciders(threads);
  auto work = [&](unsigned t) {
    Decider& decider = deciders[t];
    WhatIfReport& part = decider.report;
    std::map<std::pair<std::uint64_t, std::uint64_t>, std::shared_ptr<const Bundle>> bundles;
    constexpr std::size_t kChunk = 256;
    for (;;) {
      const std::size_t begin = next.fetch_add(kChunk);
      if (begin >= n) break;
      const std::size_t end = std::min(n, begin + kChunk);
      for (std::size_t i = begin; i < end; ++i) {
        const SlaAppealView& v = *in_window[i];
        auto fail = [&](const Status& s) {
          ++part.errors;
          if (part.first_error.empty()) {
            part.first_error = v.appeal_id + ": " + s.ToString();
            decider.first_error_at = i;
          }
        };
        std::shared_ptr<const Bundle> base;
        if (v.bound) {
          auto key = std::pair(v.bound->rules_version, v.bound->calendars_version);
          auto& slot = bundles[key];
          if (!slot) {
            auto b = registry.bundle(key.first, key.second);
            if (b.ok()) slot = *b;
          }
          base = slot;
        } else {
          auto b = registry.bundle_at(v.registered_position);
          if (b.ok()) base = *b;
        }
        auto after = rules::decide_sla(candidate.rules, candidate.calendars, v.facts, options.as_of);
        if (!after.ok()) {
          fail(after.status());
          continue;
        }
        rules::SlaDecision before;
        if (base) {
          auto d = rules::decide_sla(base->rules, base->calendars, v.facts, options.as_of);
          if (!d.ok()) {
            fail(d.status());
            continue;
          }
          before = std::move(*d);
        }
        compare(v, before, *after, part, options.examples);
        if (part.examples.size() > decider.example_at.size()) decider.example_at.push_back(i);
      }
      const std::uint64_t d = done.fetch_add(end - begin) + (end - begin);
      if (options.progress && (d / tick) != ((d - (end - begin)) / tick)) options.progress({"decide", d, n});
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  std::vector<std::pair<std::size_t, std::string*>> examples;
  std::size_t first_error_at = SIZE_MAX;
  for (Decider& d : deciders) {
    merge_counts(report, d.report);
    for (std::size_t k = 0; k < d.example_at.size(); ++k) examples.emplace_back(d.example_at[k], &d.report.examples[k]);
    if (d.first_error_at < first_error_at) first_error_at = d.first_error_at, report.first_error = d.report.first_error;
  }
  std::sort(examples.begin(), examples.end());
  for (std::size_t k = 0; k < examples.size() && k < options.examples; ++k) {
    report.examples.push_back(std::move(*examples[k].second));
  }
  report.total.appeals = report.appeals;
  // Freeing millions of views takes seconds: each scanner's on a thread of its own.
  in_window.clear();
  std::vector<std::thread> freeing;
  for (auto& part : parts) freeing.emplace_back([gone = std::move(part.appeals)] {});
  for (auto& t : freeing) t.join();
  report.decide_seconds = seconds_since(t0);
  return report;
}

std::string format_what_if(const WhatIfReport& r) {
  std::ostringstream o;
  o << "candidate rule set " << r.candidate_hash.substr(0, 16) << "…: " << r.appeals << " appeals ("
    << r.events_read << " events read in " << r.read_seconds << " s, decided in " << r.decide_seconds << " s), "
    << r.appeals_changed << " would change";
  if (r.errors) o << ", " << r.errors << " errors (first: " << r.first_error << ")";
  o << "\n\nbreaches (clocks)            before     after     added   removed\n";
  auto row = [&](const std::string& name, const WhatIfGroup& g) {
    char line[160];
    std::snprintf(line, sizeof line, "  %-24.24s %9llu %9llu %9llu %9llu\n", name.empty() ? "(unassigned)" : name.c_str(),
                  static_cast<unsigned long long>(g.breaches_before),
                  static_cast<unsigned long long>(g.breaches_after),
                  static_cast<unsigned long long>(g.breaches_added),
                  static_cast<unsigned long long>(g.breaches_removed));
    o << line;
  };
  row("total", r.total);
  o << " by category\n";
  for (const auto& [k, g] : r.by_category) row(k, g);
  o << " by agency\n";
  for (const auto& [k, g] : r.by_agency) row(k, g);
  o << "\ndeadlines moved: " << r.deadlines_moved << " (" << r.deadlines_earlier << " earlier, "
    << r.deadlines_later << " later";
  if (r.deadlines_moved) o << ", mean shift " << r.deadline_shift_total_s / static_cast<std::int64_t>(r.deadlines_moved) / 3600 << " h";
  o << ")\n";
  o << "\nescalations that would fire (and did not):\n";
  for (const auto& [k, n] : r.escalations_added) o << "  " << n << "  " << k << "\n";
  o << "escalations that fired and would not:\n";
  for (const auto& [k, n] : r.escalations_removed) o << "  " << n << "  " << k << "\n";
  if (!r.examples.empty()) {
    o << "\nexamples:\n";
    for (const auto& e : r.examples) o << "  " << e << "\n";
  }
  return o.str();
}

std::function<void(const WhatIfProgress&)> what_if_progress_bar(std::ostream& out, bool redraw) {
  auto bar = std::make_shared<ProgressBar>(out, redraw);
  return [bar](const WhatIfProgress& p) {
    bar->update(p.phase == "read" ? "reading " : p.phase == "decide" ? "deciding" : p.phase, p.done, p.total);
  };
}

}  // namespace otinish::engine
