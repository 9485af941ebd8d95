#include "engine/what_if.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "engine/events.h"
#include "engine/sla_service.h"
#include "rules/sla.h"

namespace otinish::engine {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string short_time(std::optional<Timestamp> t) { return t ? format_utc(*t).substr(0, 16) : "none"; }

void add_group(WhatIfGroup& into, const WhatIfGroup& g) {
  into.appeals += g.appeals;
  into.breaches_before += g.breaches_before;
  into.breaches_after += g.breaches_after;
  into.breaches_added += g.breaches_added;
  into.breaches_removed += g.breaches_removed;
}

void merge(WhatIfReport& into, WhatIfReport& part, std::size_t examples) {
  into.appeals_changed += part.appeals_changed;
  into.errors += part.errors;
  if (into.first_error.empty()) into.first_error = part.first_error;
  add_group(into.total, part.total);
  for (auto& [k, g] : part.by_agency) add_group(into.by_agency[k], g);
  for (auto& [k, g] : part.by_category) add_group(into.by_category[k], g);
  into.deadlines_moved += part.deadlines_moved;
  into.deadlines_earlier += part.deadlines_earlier;
  into.deadlines_later += part.deadlines_later;
  into.deadline_shift_total_s += part.deadline_shift_total_s;
  for (auto& [k, n] : part.escalations_added) into.escalations_added[k] += n;
  for (auto& [k, n] : part.escalations_removed) into.escalations_removed[k] += n;
  for (auto& e : part.examples) {
    if (into.examples.size() < examples) into.examples.push_back(std::move(e));
  }
}

std::string rung_name(const rules::ClockReport& c, const rules::EscalationEvent& e) {
  std::string s = c.clock + " " + e.at_label + " ->";
  for (const auto& n : e.notify) s += " " + n;
  if (!e.raise_priority.empty()) s += " priority:" + e.raise_priority;
  if (!e.reassign_role.empty()) s += " reassign:" + e.reassign_role;
  if (!e.reassign_agency.empty()) s += " reassign:" + e.reassign_agency;
  return s;
}

// Compares one appeal's two decisions into `r`.
void compare(const SlaAppealView& v, const rules::SlaDecision& before, const rules::SlaDecision& after,
             WhatIfReport& r, std::size_t examples) {
  std::map<std::string, const rules::ClockReport*> b, a;
  for (const auto& c : before.clocks) b[c.clock] = &c;
  for (const auto& c : after.clocks) a[c.clock] = &c;
  WhatIfGroup g;
  g.appeals = 1;
  bool changed = false;
  std::string example;
  for (const auto& [name, c] : b) g.breaches_before += c->breached ? 1 : 0;
  for (const auto& [name, c] : a) g.breaches_after += c->breached ? 1 : 0;
  std::set<std::string> names;
  for (const auto& [n, c] : b) names.insert(n);
  for (const auto& [n, c] : a) names.insert(n);
  for (const auto& name : names) {
    const auto* cb = b.count(name) ? b[name] : nullptr;
    const auto* ca = a.count(name) ? a[name] : nullptr;
    const bool bb = cb && cb->breached, ba = ca && ca->breached;
    if (ba && !bb) ++g.breaches_added, changed = true;
    if (bb && !ba) ++g.breaches_removed, changed = true;
    const auto db = cb ? cb->deadline : std::nullopt, da = ca ? ca->deadline : std::nullopt;
    if (db && da && *db != *da) {
      ++r.deadlines_moved;
      (*da < *db ? r.deadlines_earlier : r.deadlines_later) += 1;
      r.deadline_shift_total_s += std::chrono::duration_cast<std::chrono::seconds>(*da - *db).count();
      changed = true;
      if (example.empty()) example = name + " deadline " + short_time(db) + " -> " + short_time(da);
    }
    std::set<std::string> fired_before, fired_after;
    if (cb) for (const auto& e : cb->fired) fired_before.insert(std::to_string(e.cycle) + "/" + rung_name(*cb, e));
    if (ca) for (const auto& e : ca->fired) fired_after.insert(std::to_string(e.cycle) + "/" + rung_name(*ca, e));
    for (const auto& k : fired_after) {
      if (!fired_before.count(k)) ++r.escalations_added[k.substr(k.find('/') + 1)], changed = true;
    }
    for (const auto& k : fired_before) {
      if (!fired_after.count(k)) ++r.escalations_removed[k.substr(k.find('/') + 1)], changed = true;
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
    if (r.examples.size() < examples) r.examples.push_back(v.appeal_id + ": " + example);
  }
}

}  // namespace

Result<WhatIfReport> simulate_what_if(const store::EventStore& store, RuleRegistry& registry,
                                      const Bundle& candidate, const WhatIfOptions& options) {
  if (options.as_of == Timestamp{}) return Status::FailedPrecondition("what-if needs as_of (usually now)");
  WhatIfReport report;
  report.candidate_hash = candidate.ref.rule_set_hash;
  auto t0 = std::chrono::steady_clock::now();

  // 1. Read: every appeal's facts and binding, in one pass over the log. With four threads or more the scanning
  // thread only routes events and workers decode and fold them, each owning the appeals routed to it (so each
  // appeal's events are folded in log order); otherwise the scan folds inline.
  const std::uint64_t head = store.head_position();
  std::deque<SlaAppealView> views;  // stable addresses while the scanner appends
  std::unordered_map<std::string, SlaAppealView*> by_stream;
  const unsigned threads = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  // Decoding workers pay for a hand-off and a copy of each payload: worth it only with cores to spare (on two
  // cores the scan folding inline was faster, bench/engine/sla_bench.cc).
  const unsigned read_workers = threads >= 4 ? threads - 1 : 1;
  struct Item {
    SlaAppealView* view;
    store::RecordedEvent e;
  };
  struct Lane {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::vector<Item>> batches;  // GUARDED_BY(mu)
    bool done = false;                      // GUARDED_BY(mu)
    Status error;                           // set by the worker only
  };
  constexpr std::size_t kBatch = 2048, kMaxQueued = 16;
  std::vector<std::unique_ptr<Lane>> lanes;
  for (unsigned i = 0; i < read_workers; ++i) lanes.push_back(std::make_unique<Lane>());
  std::vector<std::thread> workers;
  for (unsigned i = 0; i < read_workers && read_workers > 1; ++i) {
    workers.emplace_back([&lane = *lanes[i]] {
      for (;;) {
        std::vector<Item> batch;
        {
          std::unique_lock lock(lane.mu);
          lane.cv.wait(lock, [&] { return !lane.batches.empty() || lane.done; });
          if (lane.batches.empty()) return;
          batch = std::move(lane.batches.front());
          lane.batches.pop_front();
        }
        lane.cv.notify_all();
        for (Item& it : batch) {
          if (!lane.error.ok()) break;
          lane.error = fold_sla_view(*it.view, it.e, /*clock_events=*/false);
        }
      }
    });
  }
  std::vector<std::vector<Item>> pending(read_workers);
  auto flush = [&](unsigned lane_index) {
    Lane& lane = *lanes[lane_index];
    std::unique_lock lock(lane.mu);
    lane.cv.wait(lock, [&] { return lane.batches.size() < kMaxQueued; });
    lane.batches.push_back(std::move(pending[lane_index]));
    pending[lane_index].clear();
    lock.unlock();
    lane.cv.notify_all();
  };
  const std::uint64_t step = std::max<std::uint64_t>(head / 100, 1);
  auto read = store.scan(1, head, [&](const store::RecordedEvent& e) {
    if (e.recorded_at > options.as_of) return false;
    if (e.position % step == 0 && options.progress) options.progress({"read", e.position, head});
    if (e.stream.rfind(kAppealStreamPrefix, 0) != 0) return true;
    if (is_sla_event_type(e.type) && e.type != "SlaBound" && e.type != "SlaRebound") return true;
    auto [it, inserted] = by_stream.try_emplace(e.stream, nullptr);
    if (inserted) {
      views.emplace_back();
      views.back().appeal_id = e.stream.substr(kAppealStreamPrefix.size());
      it->second = &views.back();
    }
    if (read_workers == 1) {  // fold right here, no hand-off
      Status st = fold_sla_view(*it->second, e, /*clock_events=*/false);
      if (!st.ok()) {
        lanes[0]->error = st;
        return false;
      }
      return true;
    }
    const unsigned lane = static_cast<unsigned>(std::hash<std::string>{}(e.stream) % read_workers);
    Item item{it->second, {}};
    item.e.position = e.position;
    item.e.stream_version = e.stream_version;
    item.e.type = e.type;
    item.e.schema_version = e.schema_version;
    item.e.recorded_at = e.recorded_at;
    item.e.payload = e.payload;
    pending[lane].push_back(std::move(item));
    if (pending[lane].size() == kBatch) flush(lane);
    return true;
  });
  for (unsigned i = 0; i < read_workers; ++i) {
    if (!pending[i].empty()) flush(i);
    {
      std::lock_guard lock(lanes[i]->mu);
      lanes[i]->done = true;
    }
    lanes[i]->cv.notify_all();
  }
  for (auto& w : workers) w.join();
  if (!read.ok()) return read.status();
  for (const auto& lane : lanes) {
    if (!lane->error.ok()) return lane->error;
  }
  report.events_read = *read;
  by_stream.clear();
  report.read_seconds = seconds_since(t0);
  if (options.progress) options.progress({"read", head, head});

  // 2. Decide: each appeal on its bound bundle and on the candidate, in parallel.
  t0 = std::chrono::steady_clock::now();
  std::vector<const SlaAppealView*> in_window;
  for (const auto& v : views) {
    if (!v.exists || v.facts.history.empty()) continue;
    const Timestamp reg = v.facts.history.front().at;
    if ((options.from && reg < *options.from) || (options.to && reg >= *options.to)) continue;
    in_window.push_back(&v);
  }
  report.appeals = in_window.size();
  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> done{0};
  const std::size_t n = in_window.size();
  const std::uint64_t tick = std::max<std::uint64_t>(n / 100, 1);
  std::vector<WhatIfReport> parts(threads);
  auto work = [&](unsigned t) {
    WhatIfReport& part = parts[t];
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
          if (part.first_error.empty()) part.first_error = v.appeal_id + ": " + s.ToString();
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
      }
      const std::uint64_t d = done.fetch_add(end - begin) + (end - begin);
      if (options.progress && (d / tick) != ((d - (end - begin)) / tick)) options.progress({"decide", d, n});
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  for (auto& p : parts) merge(report, p, options.examples);
  report.total.appeals = report.appeals;
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
  struct Bar {
    std::mutex mu;
    std::string phase;  // GUARDED_BY(mu)
    int shown = -1;     // GUARDED_BY(mu): the percentage (redraw) or quarter (lines) last shown of `phase`
  };
  auto bar = std::make_shared<Bar>();
  return [bar, &out, redraw](const WhatIfProgress& p) {
    std::lock_guard lock(bar->mu);
    if (p.phase != bar->phase) bar->phase = p.phase, bar->shown = -1;
    // The deciding threads report out of order: never go back.
    const int pct = p.total ? static_cast<int>(100 * std::min(p.done, p.total) / p.total) : 100;
    const std::string label = p.phase == "read" ? "reading " : p.phase == "decide" ? "deciding" : bar->phase;
    if (redraw) {
      if (pct <= bar->shown) return;
      bar->shown = pct;
      out << "\r" << label << " [" << std::string(static_cast<std::size_t>(pct / 2), '#')
          << std::string(static_cast<std::size_t>(50 - pct / 2), ' ') << "] " << pct << "%" << (pct == 100 ? "\n" : "")
          << std::flush;
    } else {
      const int quarter = pct / 25;
      if (quarter <= bar->shown || quarter == 0) return;
      bar->shown = quarter;
      out << label << " " << quarter * 25 << "%\n" << std::flush;
    }
  };
}

}  // namespace otinish::engine
