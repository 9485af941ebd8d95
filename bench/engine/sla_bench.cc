// SLA service figures. Prints a table; never a timed test.
//
//   otinish_sla_bench [--timers 1000000] [--lateness-appeals 600] [--lateness-seconds 60]
//                     [--decide-appeals 200000] [--whatif-appeals 200000] [--whatif-writers 32]
//                     [--whatif-baseline 1] [--whatif-log /tmp/year] [--burst-seconds 30] [--burst-writers 16]
//                     [--burst-max-lag 20000] [--sla-workers 32] [--mass-children 2000] [--only 123456] [--dir /tmp/x]
//
//   otinish_sla_bench --only 4 --whatif-appeals 2000000     # the goal: a Shymkent year (16 M events: ~8 min
//                                                           # to write on 2 busy cores, 1.6 GB of disk in --dir,
//                                                           # ~3.5 GB of memory while simulating)
//
// 1. start-up: a timer index holding `timers` open appeals with a due moment (written in batches), closed and
//    reopened by an SLA service over an empty log: time to open + start, and the resident memory it adds.
//    The service keeps nothing per appeal in memory (the index is on disk, its counts in one key), so start-up
//    and memory do not grow with the number of open appeals.
// 2. lateness: a real clock, a durable log (synced appends), `lateness-appeals` appeals registered over the first
//    third of the run with a 1-minute clock and rungs at 25/50/75% and breach, while a desk comments at ~20/s;
//    the timer thread (20 ms poll) fires. p50/p99/max of (fired - due).
// 3. decisions/s: decide_sla (and the service's plan_sla, which also derives transitions) on city.yaml over
//    `decide-appeals` synthetic histories, one thread: what re-evaluating every open appeal after a rule
//    change costs in CPU.
// 4. what-if: a city year written to the log in bulk (10-minute ticks of simulated 2026, unsynced appends from
//    `whatif-writers` threads so that the group commit batches them; set-up, not measured), then
//    simulate_what_if of city.yaml with complaints at 10 working days instead of 15: on one worker first (unless
//    --whatif-baseline 0), then on every core with the progress bar (redrawn on a terminal, a few lines in a log).
//    Time, read/decide split and the resident memory the simulation adds at its peak.
//
// 5. burst: `burst-writers` threads register appeals as fast as the engine takes them (synced log, city.yaml plus a
//    1-minute clock on one appeal in twenty, so that rungs fire meanwhile) for `burst-seconds`, with the SLA
//    service following. The service's lag (log head - position it has handled, what otinish_sla_lag_events
//    shows) sampled every 20 ms, the time it needs after the burst to reach 0, the events it handled per second,
//    and the firing lateness during the burst. The desks wait while the lag is above `burst-max-lag`, as the
//    server's registrations do (0: they never wait, and the service falls behind once the cores are busy).
// 6. mass incident: a parent and N children merged into it (N = mass-children / 4, / 2 and all), written first;
//    then an SLA service catches up from the log's start. Its time per child should not grow with N.
//
// --only picks sections by number (--only 4: the what-if alone). --whatif-log keeps the year's log at that path
// (never deleted): a later run with the same path simulates it again without rewriting it.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <iostream>
#include <mutex>
#include <queue>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <semaphore>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/progress_bar.h"
#include "engine/engine.h"
#include "engine/events.h"
#include "engine/rule_registry.h"
#include "engine/sla_service.h"
#include "engine/what_if.h"
#include "store/rocks_store.h"

namespace {

using namespace otinish;
using namespace otinish::engine;
using Steady = std::chrono::steady_clock;

double since(Steady::time_point t) { return std::chrono::duration<double>(Steady::now() - t).count(); }

long rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

// CPU seconds (user + system) of every thread of the process so far.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The process's peak resident set (VmHWM), in KiB.
long peak_rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

// Resets VmHWM to the current resident set (Linux >= 4.0), so that the next peak_rss_kb() is the peak of what
// runs in between. False if the kernel refused (the peak is then the whole process's).
bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5" << std::flush;
  return static_cast<bool>(out);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string source_dir() {
  const char* d = std::getenv("OTINISH_SOURCE_DIR");
  return d ? d : OTINISH_SOURCE_DIR_DEFAULT;
}

void die(const Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

void publish_city(RuleRegistry& reg, const std::string& rules_yaml) {
  const std::string cal = source_dir() + "/examples/calendars/";
  for (const char* name : {"kz", "shymkent", "round-the-clock"}) {
    auto r = reg.publish_calendar(read_text(cal + name + ".yaml"), std::string(name) + ".yaml", RebindPolicy::kKeep,
                                  {"bench", "admin", ""});
    die(r.status(), "publish calendar");
  }
  auto r = reg.publish_rule_set(rules_yaml, "city.yaml", RebindPolicy::kKeep, {"bench", "admin", ""});
  die(r.status(), "publish rules");
}

std::int64_t percentile(std::vector<std::int64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// ---------------------------------------------------------------------------------------------------------
// 1. start-up with many open appeals holding timers

void bench_startup(const std::string& dir, int timers) {
  const std::string index_path = dir + "/startup-sla";
  {
    auto index = TimerIndex::open(index_path);
    die(index.status(), "open index");
    const auto t0 = Steady::now();
    const Timestamp base = SystemClock::instance().now() + std::chrono::hours(24);
    std::vector<TimerIndex::Change> batch;
    for (int i = 0; i < timers; ++i) {
      char id[32];
      std::snprintf(id, sizeof id, "SHY-2026-%07d", i + 1);
      batch.push_back({id, true, base + std::chrono::seconds((i * 7919) % (90 * 86400))});
      if (batch.size() == 10'000 || i + 1 == timers) {
        die((*index)->apply(batch, std::nullopt), "fill index");
        batch.clear();
      }
    }
    std::printf("  filled the index with %d timers in %.1f s\n", timers, since(t0));
  }
  auto store = store::open_rocks_store(dir + "/startup-log", {}, SystemClock::instance());
  die(store.status(), "open store");
  RuleRegistry reg(**store);
  const long rss0 = rss_kb();
  const auto t0 = Steady::now();
  SlaServiceOptions o;
  o.index_path = index_path;
  o.timer_thread = false;
  auto svc = SlaService::open(**store, reg, SystemClock::instance(), o);
  die(svc.status(), "open service");
  die((*svc)->start(), "start");
  const double start_s = since(t0);
  const long rss1 = rss_kb();
  const auto t1 = Steady::now();
  auto next = (*svc)->index().due_until(SystemClock::instance().now() + std::chrono::hours(24 * 365), 10'000);
  const double head_ms = since(t1) * 1000;
  std::printf("  %-52s %12d\n", "open appeals holding timers", static_cast<int>((*svc)->index().timer_count()));
  std::printf("  %-52s %12.3f s\n", "start-up (open index, count, fire overdue, subscribe)", start_s);
  std::printf("  %-52s %12.1f MiB\n", "resident memory added by the service", (rss1 - rss0) / 1024.0);
  std::printf("  %-52s %12.1f ms\n", "read the next 10,000 timers in due order", head_ms);
  std::printf("  %-52s %12s\n", "at 10,000,000", "same order: start-up reads no per-appeal state");
  std::printf("  %-52s %12s\n", "", "(RocksDB opens ~10x the files; memory = block cache + memtable)");
  (void)next;
}

// ---------------------------------------------------------------------------------------------------------
// 2. lateness under a steady load of commands

constexpr const char* kFastRules = R"(rule_set: bench-fast
version: "1"
calendars:
  round-the-clock: round-the-clock.yaml
default_calendar: round-the-clock
rules:
  - id: fast
    match: {}
    clocks:
      - name: fast
        target: 1m
        start: registered
        stop: [closed]
        escalation:
          - {at: 25%, notify: controller}
          - {at: 50%, notify: controller}
          - {at: 75%, notify: head_of_agency}
          - {at: breach, notify: head_of_agency}
)";

void bench_lateness(const std::string& dir, int appeals, int seconds) {
  const Clock& clock = SystemClock::instance();
  auto store = store::open_rocks_store(dir + "/lateness-log", {}, clock);
  die(store.status(), "open store");
  RuleRegistry reg(**store);
  {
    auto r = reg.publish_calendar(read_text(source_dir() + "/examples/calendars/round-the-clock.yaml"),
                                  "round-the-clock.yaml", RebindPolicy::kKeep, {"bench", "admin", ""});
    die(r.status(), "publish calendar");
    auto p = reg.publish_rule_set(kFastRules, "fast.yaml", RebindPolicy::kKeep, {"bench", "admin", ""});
    die(p.status(), "publish rules");
  }
  InMemoryTopicCatalogue cat({{"utilities.heating.no_heat", "", "", "No heating", "heat-networks",
                               Category::kIncident, false}});
  Engine eng(**store, clock, &cat);
  SlaServiceOptions o;
  o.index_path = dir + "/lateness-sla";
  auto svc = SlaService::open(**store, reg, clock, o);
  die(svc.status(), "open service");
  die((*svc)->start(), "start");

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> comments{0};
  std::vector<std::string> ids;
  std::mutex ids_mu;
  // A desk commenting on random appeals at about 20 commands/s.
  std::thread desk([&] {
    std::mt19937 rng(7);
    int n = 0;
    while (!stop) {
      std::string id;
      {
        std::lock_guard l(ids_mu);
        if (!ids.empty()) id = ids[rng() % ids.size()];
      }
      if (!id.empty()) {
        CommandMeta m{"desk:c" + std::to_string(++n), {"controller:b", "controller", ""}, ""};
        if (eng.execute(id, Comment{"called the agency"}, m).ok()) ++comments;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  const auto t0 = Steady::now();
  const double register_window = seconds / 3.0;
  for (int i = 0; i < appeals; ++i) {
    RegisterAppeal r;
    r.centre = "SHY";
    r.category = Category::kIncident;
    r.topic = "utilities.heating.no_heat";
    r.location = {"Abay", "Tauke khan ave"};
    r.text = "no heating";
    r.applicant = {"A", "+7 701 000 0000", "Abay 1"};
    auto res = eng.register_appeal(r, {"bench:r" + std::to_string(i), {"operator:b", "operator", ""}, ""});
    die(res.status(), "register");
    {
      std::lock_guard l(ids_mu);
      ids.push_back(res->appeal_id);
    }
    const double target = register_window * (i + 1) / appeals;
    const double ahead = target - since(t0);
    if (ahead > 0) std::this_thread::sleep_for(std::chrono::duration<double>(ahead));
  }
  while (since(t0) < seconds) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stop = true;
  desk.join();
  const double run_s = since(t0);
  (*svc)->stop();
  const SlaStats st = (*svc)->stats();
  std::printf("  %-52s %12d over %.0f s (+%llu comments, %.1f/s)\n", "appeals registered (synced appends)", appeals,
              run_s, static_cast<unsigned long long>(comments.load()), comments.load() / run_s);
  std::printf("  %-52s %12llu (%llu SLA events appended, %llu conflicts)\n", "timers fired",
              static_cast<unsigned long long>(st.firings), static_cast<unsigned long long>(st.events_appended),
              static_cast<unsigned long long>(st.conflicts));
  std::printf("  %-52s %12.1f ms\n", "lateness p50", percentile(st.lateness_us, 0.50) / 1000.0);
  std::printf("  %-52s %12.1f ms   (goal < 1000 ms)\n", "lateness p99", percentile(st.lateness_us, 0.99) / 1000.0);
  std::printf("  %-52s %12.1f ms\n", "lateness max", percentile(st.lateness_us, 1.0) / 1000.0);
}

// ---------------------------------------------------------------------------------------------------------
// 3. decisions per second (re-evaluating every open appeal)

rules::AppealFacts synthetic_facts(std::mt19937& rng, Timestamp t0) {
  static const char* kCats[] = {"incident", "incident", "incident", "complaint", "consultation", "proposal"};
  static const char* kTopics[] = {"utilities.heating.no_heat", "roads.pothole", "lifts.operation.not_working",
                                  "social.payments", "transport.route"};
  rules::AppealFacts f;
  f.category = kCats[rng() % 6];
  f.topic = kTopics[rng() % 5];
  f.priority = "normal";
  f.channel = "phone";
  f.district = "Abay";
  f.agency = "heat-networks";
  using K = rules::Fact::Kind;
  Timestamp t = t0;
  auto at = [&](int max_minutes) {
    t += std::chrono::minutes(1 + static_cast<int>(rng() % static_cast<unsigned>(max_minutes)));
    return t;
  };
  f.history.push_back({t, K::kStateEntered, "registered", std::nullopt});
  f.history.push_back({at(120), K::kStateEntered, "under_review", std::nullopt});
  f.history.push_back({at(120), K::kStateEntered, "assigned", std::nullopt});
  f.history.push_back({at(600), K::kStateEntered, "accepted", std::nullopt});
  f.history.push_back({at(600), K::kStateEntered, "in_progress", std::nullopt});
  if (rng() % 4 == 0) {
    f.history.push_back({at(600), K::kStateEntered, "on_hold", std::nullopt});
    f.history.push_back({at(3000), K::kStateEntered, "in_progress", std::nullopt});
  }
  return f;
}

void bench_decisions(int appeals) {
  rules::CalendarLibrary lib;
  std::vector<rules::Diagnostic> diags;
  auto rs = rules::load_rule_set_file(source_dir() + "/examples/rules/city.yaml", &lib, &diags);
  if (!rs) die(Status::InvalidArgument("city.yaml does not load"), "load rules");
  auto cals = rules::compile_calendars(*rs, lib);
  die(cals.status(), "compile calendars");
  Bundle b{{}, *rs, *cals, rules::ClockFacts(*rs)};
  std::mt19937 rng(42);
  Timestamp t0;
  parse_utc("2026-04-01T04:00:00Z", &t0);
  std::vector<rules::AppealFacts> all;
  for (int i = 0; i < appeals; ++i) all.push_back(synthetic_facts(rng, t0 + std::chrono::minutes(i % 20000)));
  const Timestamp as_of = t0 + std::chrono::hours(24 * 30);
  auto t = Steady::now();
  std::size_t breached = 0;
  for (const auto& f : all) {
    auto d = rules::decide_sla(b.rules, b.calendars, f, as_of);
    if (d.ok()) breached += std::any_of(d->clocks.begin(), d->clocks.end(), [](auto& c) { return c.breached; });
  }
  const double decide_s = since(t);
  t = Steady::now();
  std::size_t events = 0;
  for (const auto& f : all) {
    auto p = plan_sla(b, f, as_of);
    if (p.ok()) events += p->events.size();
  }
  const double plan_s = since(t);
  std::printf("  %-52s %12.0f /s (one thread; %zu breached)\n", "decide_sla (one decision per appeal)",
              appeals / decide_s, breached);
  std::printf("  %-52s %12.0f /s (one thread; %.1f events each)\n", "plan_sla (decision + every transition)",
              appeals / plan_s, static_cast<double>(events) / appeals);
  std::printf("  %-52s %12.1f s on 1 core, %.1f s on 8\n", "re-evaluate 1,000,000 open appeals (decide x2)",
              2e6 / (appeals / decide_s), 2e6 / (appeals / decide_s) / 8);
}

// ---------------------------------------------------------------------------------------------------------
// 4. what-if over a city year

struct Sim {
  Timestamp at;
  int appeal;
  int step;
  bool operator>(const Sim& o) const { return at > o.at; }
};

// One appeal's synthetic lifecycle, compact (about 40 bytes, so that 2,000,000 of them fit in ~100 MB): what was
// drawn for it and the minutes after registration each of its kSteps events happens. The events themselves are
// built when written (life_event).
constexpr int kSteps = 8;
struct Life {
  std::uint8_t category = 0, topic = 0, agency = 0;
  std::array<int, kSteps> minutes{};
};

const Category kLifeCats[] = {Category::kIncident,  Category::kIncident,     Category::kIncident, Category::kComplaint,
                              Category::kComplaint, Category::kConsultation, Category::kProposal};
const char* const kLifeTopics[] = {"utilities.heating.no_heat", "roads.pothole", "lifts.operation.not_working",
                                   "housing.condominium", "transport.route"};
const char* const kLifeAgencies[] = {"heat-networks", "city-roads", "housing-dept", "transport-dept", "akimat"};

Life draw_life(std::mt19937& rng) {
  Life l;
  l.category = static_cast<std::uint8_t>(rng() % 7);
  l.topic = static_cast<std::uint8_t>(rng() % 5);
  l.agency = static_cast<std::uint8_t>(rng() % 5);
  int m = 0, s = 0;
  auto after = [&](int lo, int hi) {
    l.minutes[++s] = m += lo + static_cast<int>(rng() % static_cast<unsigned>(hi - lo));
  };
  after(5, 120);     // sent for review
  after(10, 240);    // assigned
  after(30, 2000);   // accepted
  after(10, 1000);   // work started
  // Resolution: most within days, a tail of weeks (some breach 15 working days, many breach 10).
  const int days = static_cast<int>(std::exp(std::uniform_real_distribution<double>(0.0, 3.4)(rng)));
  after(days * 1440, days * 1440 + 600);
  after(60, 2000);   // callback
  after(1, 60);      // closed
  return l;
}

// Event `step` of the life of appeal `id`.
AppealEvent life_event(const Life& l, int step, const std::string& id) {
  const std::string agency = kLifeAgencies[l.agency];
  switch (step) {
    case 0: {
      AppealRegistered r;
      r.appeal_id = id;
      r.category = kLifeCats[l.category];
      r.topic = kLifeTopics[l.topic];
      r.location = {"Abay", "Tauke khan ave"};
      r.text = "text";
      r.applicant = *PlainApplicantSealer::instance().seal({"A", "+7 701 000 0000", "Abay 1"}, "");
      return {Stage::kRegistered, Stage::kRegistered, r};
    }
    case 1: return {Stage::kRegistered, Stage::kUnderReview, AppealSentForReview{}};
    case 2: return {Stage::kUnderReview, Stage::kAssigned, AppealAssigned{agency, false}};
    case 3: return {Stage::kAssigned, Stage::kAccepted, AppealAccepted{agency}};
    case 4: return {Stage::kAccepted, Stage::kInProgress, AppealWorkStarted{}};
    case 5: return {Stage::kInProgress, Stage::kResolved, AppealResolved{Outcome::kDone, "done", ""}};
    case 6: return {Stage::kResolved, Stage::kVerified, AppealCallbackRecorded{true, ""}};
    default: return {Stage::kVerified, Stage::kClosed, AppealClosed{}};
  }
}

// Appends a tick's appeals concurrently, so that the store's group commit puts many of them in one write (one
// stream per append is all the store's API allows). The helper threads stay for the whole write; a tick wakes
// only as many as it has appeals, and run() returns when every append of it is acknowledged (the clock may then
// move on).
class TickWriter {
 public:
  struct Item {
    int appeal;
    int first_step, steps;
  };
  TickWriter(store::EventStore& store, const std::vector<Life>& lives, int threads)
      : store_(store), lives_(lives) {
    for (int i = 1; i < threads; ++i) helpers_.emplace_back([this] { help(); });
  }
  ~TickWriter() {
    stop_ = true;
    start_.release(static_cast<std::ptrdiff_t>(helpers_.size()));
    for (auto& t : helpers_) t.join();
  }
  // Appends every item (an appeal's steps as one append). REQUIRES: no two items of the same appeal.
  void run(const std::vector<Item>& items) {
    items_ = &items;
    next_ = 0;
    const int helpers = static_cast<int>(std::min(helpers_.size(), items.size() / 2));
    busy_ = helpers;
    start_.release(helpers);
    work();
    for (int b; (b = busy_.load()) != 0;) busy_.wait(b);
  }

 private:
  void help() {
    for (;;) {
      start_.acquire();
      if (stop_) return;
      work();
      if (busy_.fetch_sub(1) == 1) busy_.notify_one();
    }
  }
  void work() {
    std::vector<store::EventData> events;
    for (std::size_t k = next_++; k < items_->size(); k = next_++) {
      const Item& it = (*items_)[k];
      char id[32];
      std::snprintf(id, sizeof id, "SHY-2026-%07d", it.appeal + 1);
      for (int s = it.first_step; s < it.first_step + it.steps; ++s) {
        events.push_back(encode_event(life_event(lives_[static_cast<std::size_t>(it.appeal)], s, id)));
      }
      die(store_.append("appeal-" + std::string(id), store::ExpectedVersion::any(), events).status(), "append");
      events.clear();
    }
  }

  store::EventStore& store_;
  const std::vector<Life>& lives_;
  std::vector<std::thread> helpers_;
  std::counting_semaphore<> start_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> busy_{0};                  // helpers released for this tick that have not finished
  const std::vector<Item>* items_ = nullptr;  // this tick's; set before the helpers are released
  std::atomic<std::size_t> next_{0};
};

// Writes `appeals` appeals registered evenly over 300 days from `year_start`, in 10-minute ticks: every appeal
// event due in a tick is appended at the tick's instant (the clock is set to it first). Returns events written.
// Minutes at 2,000,000 appeals: a progress bar on stderr (a few lines when it is not a terminal).
std::uint64_t write_city_year(store::EventStore& store, ManualClock& clock, Timestamp year_start, int appeals,
                              int threads) {
  std::mt19937 rng(2026);
  const auto span = std::chrono::hours(24 * 300);  // registrations over 300 days (to early November)
  std::vector<Life> lives(static_cast<std::size_t>(appeals));
  std::vector<Timestamp> registered(static_cast<std::size_t>(appeals));
  std::priority_queue<Sim, std::vector<Sim>, std::greater<>> queue;
  for (int i = 0; i < appeals; ++i) {
    lives[i] = draw_life(rng);
    registered[i] = year_start + std::chrono::duration_cast<std::chrono::microseconds>(span * i / appeals);
    queue.push({registered[i], i, 0});
  }
  TickWriter writer(store, lives, threads);
  ProgressBar bar(std::cerr, isatty(STDERR_FILENO));
  const std::uint64_t total = static_cast<std::uint64_t>(appeals) * kSteps;
  std::uint64_t written = 0;
  std::vector<std::pair<int, int>> due;  // (appeal, step) in this tick
  std::vector<TickWriter::Item> items;
  while (!queue.empty()) {
    const Timestamp tick = queue.top().at - (queue.top().at.time_since_epoch() % std::chrono::minutes(10)) +
                           std::chrono::minutes(10);
    due.clear();
    while (!queue.empty() && queue.top().at < tick) {
      const Sim s = queue.top();
      queue.pop();
      due.emplace_back(s.appeal, s.step);
      if (s.step + 1 < kSteps) {
        queue.push({registered[s.appeal] + std::chrono::minutes(lives[s.appeal].minutes[s.step + 1]), s.appeal,
                    s.step + 1});
      }
    }
    std::sort(due.begin(), due.end());  // an appeal's steps of this tick together, in order
    items.clear();
    for (const auto& [appeal, step] : due) {
      if (!items.empty() && items.back().appeal == appeal) {
        ++items.back().steps;
      } else {
        items.push_back({appeal, step, 1});
      }
    }
    clock.set(tick);
    writer.run(items);
    written += due.size();
    bar.update("writing ", written, total);
  }
  return written;
}

// `log_path`: where the year is written; if it already holds a log (of an earlier run with --whatif-log), that
// log is simulated as it is and `appeals` only scales the extrapolation.
void bench_what_if(const std::string& log_path, int appeals, int writers, bool baseline) {
  ManualClock clock(timestamp_from_micros(0));
  Timestamp year_start;
  parse_utc("2026-01-05T03:00:00Z", &year_start);
  clock.set(year_start - std::chrono::hours(24));
  const bool reuse = std::filesystem::exists(log_path);
  store::StoreOptions so;
  so.sync_writes = false;
  auto store = store::open_rocks_store(log_path, so, clock);
  die(store.status(), "open store");
  RuleRegistry reg(**store);
  const std::string city = read_text(source_dir() + "/examples/rules/city.yaml");
  if (reuse) {
    die(reg.load(), "load the rules of the existing log");
    auto last = (*store)->read_all((*store)->head_position(), 1);
    die(last.status(), "read the log's head");
    if (last->empty()) die(Status::InvalidArgument(log_path + " holds no events"), "reuse");
    clock.set(last->back().recorded_at);
    std::printf("  %-52s %12s (%llu events; not rewritten)\n", "city year reused", log_path.c_str(),
                static_cast<unsigned long long>((*store)->head_position()));
  } else {
    publish_city(reg, city);
    // Set-up, not measured: the year in 10-minute ticks (write_city_year).
    const auto t0 = Steady::now();
    const std::uint64_t written = write_city_year(**store, clock, year_start, appeals, writers);
    std::printf("  %-52s %12d appeals, %llu events in %.1f s (%d writers)\n", "city year written (bulk, unsynced)",
                appeals, static_cast<unsigned long long>(written), since(t0), writers);
  }

  // The candidate: complaints and proposals at 10 working days instead of 15.
  std::string candidate_yaml = city;
  for (std::size_t p = 0; (p = candidate_yaml.find("answer_within: 15wd", p)) != std::string::npos;) {
    candidate_yaml.replace(p, 19, "answer_within: 10wd");
  }
  auto cand = reg.candidate(candidate_yaml, "city-candidate.yaml");
  die(cand.status(), "candidate");
  WhatIfOptions o;
  o.as_of = clock.now();
  o.progress = what_if_progress_bar(std::cerr, isatty(STDERR_FILENO));
  const bool peak_reset = reset_peak_rss();
  const long rss0 = rss_kb();
  const double cpu0 = cpu_seconds();
  const auto t0 = Steady::now();
  auto rep = simulate_what_if(**store, reg, **cand, o);
  die(rep.status(), "simulate");
  const double sim_s = since(t0), sim_cpu = cpu_seconds() - cpu0;
  const long peak = peak_rss_kb();
  std::printf("%s\n", format_what_if(*rep).c_str());
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::printf("  %-52s %12.1f s (read %.1f s, decide %.1f s, %u threads; %.1f s of CPU)\n", "what-if over the year",
              sim_s, rep->read_seconds, rep->decide_seconds, threads, sim_cpu);
  const double n = static_cast<double>(rep->appeals);
  std::printf("  %-52s %12.0f appeals/s, %.0f events/s read\n", "throughput", n / sim_s,
              rep->events_read / rep->read_seconds);
  std::printf("  %-52s %12.0f MiB (process: %.0f MiB before, %.0f MiB at the peak)%s\n",
              "resident memory the what-if added at its peak", (peak - rss0) / 1024.0, rss0 / 1024.0, peak / 1024.0,
              peak_reset ? "" : " (peak of the whole process: /proc/self/clear_refs refused)");
  if (baseline) {
    // The same simulation on one worker, for a baseline under the same load (second, so that the memory figure
    // above is not of pages malloc kept from an earlier run).
    WhatIfOptions one = o;
    one.threads = 1;
    one.progress = nullptr;
    const double cpu1 = cpu_seconds();
    const auto t1 = Steady::now();
    auto r1 = simulate_what_if(**store, reg, **cand, one);
    die(r1.status(), "simulate (1 thread)");
    std::printf("  %-52s %12.1f s (read %.1f s, decide %.1f s; %.1f s of CPU)\n", "what-if, one worker", since(t1),
                r1->read_seconds, r1->decide_seconds, cpu_seconds() - cpu1);
  }
  if (rep->appeals < 2'000'000) {
    std::printf("  %-52s %12.1f s   (goal < 60 s), ~%.0f MiB   (measure: --only 4 --whatif-appeals 2000000)\n",
                "extrapolated to 2,000,000 appeals", sim_s * 2e6 / n, (peak - rss0) / 1024.0 * 2e6 / n);
  } else {
    std::printf("  %-52s %12s\n", "goal: a city year of 2,000,000 appeals in < 60 s", sim_s < 60 ? "met" : "NOT met");
  }
}

// ---------------------------------------------------------------------------------------------------------
// 5. a registration burst: does the SLA service keep up?

// city.yaml with one more rule first: appeals on the topic "bench.fast" run a 1-minute clock on the 24/7
// calendar, so that rungs come due while the burst runs (city.yaml's own rungs are hours away).
std::string city_with_fast_rule() {
  std::string yaml = read_text(source_dir() + "/examples/rules/city.yaml");
  const std::string fast = R"(
  - id: bench-fast
    match: {topic: bench.fast}
    clocks:
      - name: fast
        target: 1m
        calendar: round-the-clock
        start: registered
        stop: [closed, merged]
        escalation:
          - {at: 25%, notify: controller}
          - {at: 50%, notify: controller}
          - {at: 75%, notify: head_of_agency}
          - {at: breach, notify: head_of_agency}
)";
  const auto at = yaml.find("\nrules:\n");
  if (at == std::string::npos) die(Status::InvalidArgument("city.yaml has no rules: section"), "rules");
  yaml.insert(at + 8, fast.substr(1));
  return yaml;
}

const InMemoryTopicCatalogue& bench_catalogue() {
  static const InMemoryTopicCatalogue cat({
      {"utilities.heating.no_heat", "", "", "No heating", "heat-networks", Category::kIncident, true},
      {"utilities.water.no_supply", "", "", "No water", "water-utility", Category::kIncident, false},
      {"roads.pothole", "", "", "Pothole", "city-roads", Category::kComplaint, false},
      {"social.payments", "", "", "Payments", "social-dept", Category::kConsultation, false},
      {"transport.route", "", "", "Route", "transport-dept", Category::kProposal, false},
      {"bench.fast", "", "", "Bench", "heat-networks", Category::kIncident, false},
  });
  return cat;
}

RegisterAppeal bench_registration(std::uint64_t n) {
  static const std::pair<Category, const char*> kKinds[] = {
      {Category::kIncident, "utilities.heating.no_heat"}, {Category::kIncident, "utilities.water.no_supply"},
      {Category::kComplaint, "roads.pothole"},            {Category::kConsultation, "social.payments"},
      {Category::kProposal, "transport.route"}};
  RegisterAppeal r;
  r.centre = "SHY";
  // One in twenty on the 1-minute clock; the rest spread over city.yaml's rules.
  const auto& [category, topic] = n % 20 == 0 ? std::pair{Category::kIncident, "bench.fast"} : kKinds[n % 5];
  r.category = category;
  r.topic = topic;
  r.location = {"Abay", "Tauke khan ave"};
  r.text = "burst";
  r.applicant = {"A", "+7 701 000 0000", "Abay 1"};
  return r;
}

void bench_burst(const std::string& dir, int seconds, int writers, std::uint64_t max_lag, int sla_workers) {
  const Clock& clock = SystemClock::instance();
  auto store = store::open_rocks_store(dir + "/burst-log", {}, clock);
  die(store.status(), "open store");
  RuleRegistry reg(**store);
  publish_city(reg, city_with_fast_rule());
  Engine eng(**store, clock, &bench_catalogue());
  SlaServiceOptions o;
  o.index_path = dir + "/burst-sla";
  o.workers = sla_workers;
  auto svc = SlaService::open(**store, reg, clock, o);
  die(svc.status(), "open service");
  die((*svc)->start(), "start");
  const long rss0 = rss_kb();
  auto lag = [&] {
    const std::uint64_t head = (*store)->head_position(), done = (*svc)->processed_position();
    return head > done ? head - done : 0;
  };

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> next{0}, failed{0};
  std::vector<std::thread> desks;
  const std::uint64_t processed0 = (*svc)->processed_position();
  const double cpu0 = cpu_seconds();
  const auto t0 = Steady::now();
  for (int w = 0; w < writers; ++w) {
    desks.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        const std::uint64_t n = next.fetch_add(1);
        // As the server does (NodeOptions::max_sla_lag): intake waits while the service is too far behind.
        if (max_lag > 0) (void)(*svc)->wait_for_lag_below(max_lag, std::chrono::seconds(5));
        auto r = eng.register_appeal(bench_registration(n), {"burst:" + std::to_string(n), {"operator:b", "operator", ""}, ""});
        if (!r.ok()) ++failed;
      }
    });
  }
  std::vector<std::int64_t> lags;
  std::uint64_t lag_max = 0;
  while (since(t0) < seconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const std::uint64_t l = lag();
    lags.push_back(static_cast<std::int64_t>(l));
    lag_max = std::max(lag_max, l);
  }
  stop = true;
  for (auto& t : desks) t.join();
  const double burst_s = since(t0);
  const std::uint64_t registered = next.load() - failed.load();
  const std::uint64_t processed_in_burst = (*svc)->processed_position() - processed0;
  const std::uint64_t lag_at_end = lag();
  const auto t1 = Steady::now();
  // Caught up: the service has handled every event in the log, including the SLA events it appended itself.
  while (lag() > 0 && since(t1) < 600) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const double catch_up_s = since(t1);
  const double cpu = cpu_seconds() - cpu0;
  const std::uint64_t processed = (*svc)->processed_position() - processed0;
  const long rss1 = rss_kb();
  (*svc)->stop();
  const SlaStats st = (*svc)->stats();
  std::printf("  %-52s %12llu in %.1f s (%.0f/s, %d threads, %llu failed; intake waits past %llu events of lag%s)\n",
              "appeals registered (synced)", static_cast<unsigned long long>(registered), burst_s, registered / burst_s,
              writers, static_cast<unsigned long long>(failed.load()), static_cast<unsigned long long>(max_lag),
              max_lag == 0 ? ": off" : "");
  std::printf("  %-52s %12.0f /s during the burst (%llu events in all)\n", "events the service handled",
              processed_in_burst / burst_s, static_cast<unsigned long long>(processed));
  std::printf("  %-52s %12llu (%llu decisions, %llu SLA events appended, %llu conflicts)\n", "appeals decided (syncs)",
              static_cast<unsigned long long>(st.syncs), static_cast<unsigned long long>(st.decisions),
              static_cast<unsigned long long>(st.events_appended), static_cast<unsigned long long>(st.conflicts));
  std::printf("  %-52s %12lld events (p50 %lld, max %llu; sampled every 20 ms)\n", "lag during the burst, p99",
              static_cast<long long>(percentile(lags, 0.99)), static_cast<long long>(percentile(lags, 0.50)),
              static_cast<unsigned long long>(lag_max));
  std::printf("  %-52s %12.3f s from %llu events behind   (goal < 1 s)\n", "catch-up after the burst", catch_up_s,
              static_cast<unsigned long long>(lag_at_end));
  std::printf("  %-52s %12llu fired, p99 %.1f ms, max %.1f ms   (goal p99 < 1000 ms)\n", "timers fired during it",
              static_cast<unsigned long long>(st.firings), percentile(st.lateness_us, 0.99) / 1000.0,
              percentile(st.lateness_us, 1.0) / 1000.0);
  std::printf("  %-52s %12.1f µs per registration (the whole process: desks, store, service)\n", "CPU",
              cpu * 1e6 / std::max<std::uint64_t>(registered, 1));
  std::printf("  %-52s %12.1f MiB\n", "resident memory added", (rss1 - rss0) / 1024.0);
}

// ---------------------------------------------------------------------------------------------------------
// 6. a mass incident: children merged into one parent

void bench_mass_incident(const std::string& dir, int max_children) {
  for (int children = std::max(1, max_children / 4); children <= max_children; children *= 2) {
    const Clock& clock = SystemClock::instance();
    const std::string sub = dir + "/mass-" + std::to_string(children);
    auto store = store::open_rocks_store(sub + "-log", {.sync_writes = false}, clock);
    die(store.status(), "open store");
    RuleRegistry reg(**store);
    publish_city(reg, read_text(source_dir() + "/examples/rules/city.yaml"));
    Engine eng(**store, clock, &bench_catalogue());
    const CommandMeta meta{"", {"operator:b", "operator", ""}, ""};
    RegisterAppeal r = bench_registration(1);
    auto parent = eng.register_appeal(r, meta);
    die(parent.status(), "register parent");
    const auto t0 = Steady::now();
    for (int i = 0; i < children; ++i) {
      auto child = eng.register_appeal(r, meta);
      die(child.status(), "register child");
      die(eng.execute(child->appeal_id, MergeInto{parent->appeal_id, "same outage"}, meta).status(), "merge");
    }
    const double write_s = since(t0);
    // The service starts after the log is written and catches up from its beginning: its time alone.
    SlaServiceOptions o;
    o.index_path = sub + "-sla";
    o.timer_thread = false;
    auto svc = SlaService::open(**store, reg, clock, o);
    die(svc.status(), "open service");
    const auto t1 = Steady::now();
    die((*svc)->start(), "start");
    while ((*svc)->processed_position() < (*store)->head_position()) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    const double sla_s = since(t1);
    (*svc)->stop();
    std::printf("  %5d children: SLA service %8.3f s (%6.1f µs per child)   engine merges %7.3f s (%6.1f µs per child)\n",
                children, sla_s, sla_s * 1e6 / children, write_s, write_s * 1e6 / children);
    if (children == max_children) break;
    children = std::min(children, max_children / 2);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int timers = 1'000'000, lat_appeals = 600, lat_seconds = 60, decide = 200'000, whatif = 200'000, writers = 32;
  int burst_seconds = 30, burst_writers = 16, mass_children = 2000;
  std::uint64_t burst_max_lag = 20'000;
  int sla_workers = SlaServiceOptions{}.workers;
  bool baseline = true;
  std::string dir, only, whatif_log;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--timers") timers = std::atoi(argv[i + 1]);
    else if (k == "--lateness-appeals") lat_appeals = std::atoi(argv[i + 1]);
    else if (k == "--lateness-seconds") lat_seconds = std::atoi(argv[i + 1]);
    else if (k == "--decide-appeals") decide = std::atoi(argv[i + 1]);
    else if (k == "--whatif-appeals") whatif = std::atoi(argv[i + 1]);
    else if (k == "--whatif-writers") writers = std::max(1, std::atoi(argv[i + 1]));
    else if (k == "--whatif-baseline") baseline = std::atoi(argv[i + 1]) != 0;
    else if (k == "--whatif-log") whatif_log = argv[i + 1];
    else if (k == "--burst-seconds") burst_seconds = std::atoi(argv[i + 1]);
    else if (k == "--burst-writers") burst_writers = std::max(1, std::atoi(argv[i + 1]));
    else if (k == "--mass-children") mass_children = std::atoi(argv[i + 1]);
    else if (k == "--burst-max-lag") burst_max_lag = std::strtoull(argv[i + 1], nullptr, 10);
    else if (k == "--sla-workers") sla_workers = std::atoi(argv[i + 1]);
    else if (k == "--only") only = argv[i + 1];
    else if (k == "--dir") dir = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown option %s (see the comment at the top of bench/engine/sla_bench.cc)\n", k.c_str());
      return 2;
    }
  }
  auto run = [&](char section) { return only.empty() || only.find(section) != std::string::npos; };
  if (dir.empty()) dir = (std::filesystem::temp_directory_path() / ("otinish-sla-bench-" + std::to_string(getpid()))).string();
  std::filesystem::create_directories(dir);
  std::printf("otinish SLA bench (dir %s, %u hardware threads)\n", dir.c_str(), std::thread::hardware_concurrency());
  if (timers > 0 && run('1')) {
    std::printf("\n1. start-up with open appeals holding timers\n");
    bench_startup(dir, timers);
  }
  if (lat_appeals > 0 && run('2')) {
    std::printf("\n2. firing lateness under a steady load of commands (real clock, synced log)\n");
    bench_lateness(dir, lat_appeals, lat_seconds);
  }
  if (decide > 0 && run('3')) {
    std::printf("\n3. SLA decisions per second (city.yaml, re-evaluating open appeals)\n");
    bench_decisions(decide);
  }
  if (whatif > 0 && run('4')) {
    std::printf("\n4. what-if over a city year\n");
    bench_what_if(whatif_log.empty() ? dir + "/whatif-log" : whatif_log, whatif, writers, baseline);
  }
  if (burst_seconds > 0 && run('5')) {
    std::printf("\n5. a registration burst at the engine's maximum rate (city.yaml, real clock, synced log)\n");
    bench_burst(dir, burst_seconds, burst_writers, burst_max_lag, sla_workers);
  }
  if (mass_children > 0 && run('6')) {
    std::printf("\n6. a mass incident: children merged into one parent (city.yaml)\n");
    bench_mass_incident(dir, mass_children);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
