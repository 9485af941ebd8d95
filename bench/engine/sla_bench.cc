// SLA service figures. Prints a table; never a timed test.
//
//   otinish_sla_bench [--timers 1000000] [--lateness-appeals 600] [--lateness-seconds 60]
//                     [--decide-appeals 200000] [--whatif-appeals 200000] [--dir /tmp/x]
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
// 4. what-if: a city year written to the log in bulk (10-minute ticks of simulated 2026, unsynced appends),
//    then simulate_what_if of city.yaml with complaints at 10 working days instead of 15.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
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
#include <sstream>
#include <string>
#include <thread>
#include <vector>

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
  Bundle b{{}, *rs, *cals};
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

// A synthetic lifecycle per appeal: the events and the minutes after registration each happens.
std::vector<std::pair<AppealEvent, int>> lifecycle(std::mt19937& rng, const std::string& id) {
  static const Category kCats[] = {Category::kIncident, Category::kIncident, Category::kIncident,
                                   Category::kComplaint, Category::kComplaint, Category::kConsultation,
                                   Category::kProposal};
  static const char* kTopics[] = {"utilities.heating.no_heat", "roads.pothole", "lifts.operation.not_working",
                                  "housing.condominium", "transport.route"};
  static const char* kAgencies[] = {"heat-networks", "city-roads", "housing-dept", "transport-dept", "akimat"};
  AppealRegistered r;
  r.appeal_id = id;
  r.category = kCats[rng() % 7];
  r.topic = kTopics[rng() % 5];
  r.location = {"Abay", "Tauke khan ave"};
  r.text = "text";
  r.applicant = *PlainApplicantSealer::instance().seal({"A", "+7 701 000 0000", "Abay 1"});
  const std::string agency = kAgencies[rng() % 5];
  std::vector<std::pair<AppealEvent, int>> out;
  int m = 0;
  auto after = [&](int lo, int hi) { return m += lo + static_cast<int>(rng() % static_cast<unsigned>(hi - lo)); };
  out.push_back({{Stage::kRegistered, Stage::kRegistered, r}, 0});
  out.push_back({{Stage::kRegistered, Stage::kUnderReview, AppealSentForReview{}}, after(5, 120)});
  out.push_back({{Stage::kUnderReview, Stage::kAssigned, AppealAssigned{agency, false}}, after(10, 240)});
  out.push_back({{Stage::kAssigned, Stage::kAccepted, AppealAccepted{agency}}, after(30, 2000)});
  out.push_back({{Stage::kAccepted, Stage::kInProgress, AppealWorkStarted{}}, after(10, 1000)});
  // Resolution: most within days, a tail of weeks (some breach 15 working days, many breach 10).
  const int days = static_cast<int>(std::exp(std::uniform_real_distribution<double>(0.0, 3.4)(rng)));
  out.push_back({{Stage::kInProgress, Stage::kResolved, AppealResolved{Outcome::kDone, "done", ""}},
                 after(days * 1440, days * 1440 + 600)});
  out.push_back({{Stage::kResolved, Stage::kVerified, AppealCallbackRecorded{true, ""}}, after(60, 2000)});
  out.push_back({{Stage::kVerified, Stage::kClosed, AppealClosed{}}, after(1, 60)});
  return out;
}

void bench_what_if(const std::string& dir, int appeals) {
  ManualClock clock(timestamp_from_micros(0));
  Timestamp year_start;
  parse_utc("2026-01-05T03:00:00Z", &year_start);
  clock.set(year_start - std::chrono::hours(24));
  store::StoreOptions so;
  so.sync_writes = false;
  auto store = store::open_rocks_store(dir + "/whatif-log", so, clock);
  die(store.status(), "open store");
  RuleRegistry reg(**store);
  const std::string city = read_text(source_dir() + "/examples/rules/city.yaml");
  publish_city(reg, city);

  // Write the year in 10-minute ticks: every appeal event due in a tick is appended at the tick's instant.
  auto t0 = Steady::now();
  std::mt19937 rng(2026);
  const auto span = std::chrono::hours(24 * 300);  // registrations over 300 days (to early November)
  std::vector<std::vector<std::pair<AppealEvent, int>>> lives(static_cast<std::size_t>(appeals));
  std::vector<Timestamp> registered(static_cast<std::size_t>(appeals));
  std::priority_queue<Sim, std::vector<Sim>, std::greater<>> queue;
  for (int i = 0; i < appeals; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "SHY-2026-%07d", i + 1);
    lives[i] = lifecycle(rng, id);
    registered[i] = year_start + std::chrono::duration_cast<std::chrono::microseconds>(span * i / appeals);
    queue.push({registered[i], i, 0});
  }
  std::uint64_t written = 0;
  while (!queue.empty()) {
    const Timestamp tick = queue.top().at - (queue.top().at.time_since_epoch() % std::chrono::minutes(10)) +
                           std::chrono::minutes(10);
    std::map<int, std::vector<store::EventData>> batch;
    while (!queue.empty() && queue.top().at < tick) {
      Sim s = queue.top();
      queue.pop();
      batch[s.appeal].push_back(encode_event(lives[s.appeal][s.step].first));
      if (s.step + 1 < static_cast<int>(lives[s.appeal].size())) {
        queue.push({registered[s.appeal] + std::chrono::minutes(lives[s.appeal][s.step + 1].second), s.appeal,
                    s.step + 1});
      }
    }
    clock.set(tick);
    std::vector<std::pair<int, std::vector<store::EventData>>> work(batch.begin(), batch.end());
    std::atomic<std::size_t> next{0};
    auto writer = [&] {
      for (std::size_t k = next++; k < work.size(); k = next++) {
        char id[32];
        std::snprintf(id, sizeof id, "appeal-SHY-2026-%07d", work[k].first + 1);
        if (!(*store)->append(id, store::ExpectedVersion::any(), work[k].second).ok()) std::abort();
      }
    };
    std::vector<std::thread> writers;
    for (int w = 0; w < (work.size() > 64 ? 8 : 1); ++w) writers.emplace_back(writer);
    for (auto& w : writers) w.join();
    for (auto& w : work) written += w.second.size();
  }
  const double write_s = since(t0);
  std::printf("  %-52s %12d appeals, %llu events in %.1f s\n", "city year written (bulk, unsynced)", appeals,
              static_cast<unsigned long long>(written), write_s);

  // The candidate: complaints and proposals at 10 working days instead of 15.
  std::string candidate_yaml = city;
  for (std::size_t p = 0; (p = candidate_yaml.find("answer_within: 15wd", p)) != std::string::npos;) {
    candidate_yaml.replace(p, 19, "answer_within: 10wd");
  }
  auto cand = reg.candidate(candidate_yaml, "city-candidate.yaml");
  die(cand.status(), "candidate");
  WhatIfOptions o;
  o.as_of = clock.now();
  int last_pct = -1;
  std::mutex bar_mu;
  o.progress = [&](const WhatIfProgress& p) {
    std::lock_guard l(bar_mu);
    const int pct = p.total ? static_cast<int>(100 * p.done / p.total) : 100;
    if (pct == last_pct && pct != 100) return;
    last_pct = pct;
    std::fprintf(stderr, "\r  %-6s [%-50s] %3d%%", std::string(p.phase).c_str(), std::string(pct / 2, '#').c_str(),
                 pct);
    if (pct == 100) std::fprintf(stderr, "\n"), last_pct = -1;
  };
  const long rss0 = rss_kb();  // before either simulation (the second reuses the first's freed memory)
  {
    // The same simulation on one worker first, so the figure for all cores has a baseline under the same load.
    WhatIfOptions one = o;
    one.threads = 1;
    one.progress = nullptr;
    const auto t1 = Steady::now();
    auto r1 = simulate_what_if(**store, reg, **cand, one);
    die(r1.status(), "simulate (1 thread)");
    std::printf("  %-52s %12.1f s (read %.1f s, decide %.1f s)\n", "what-if, one worker", since(t1),
                r1->read_seconds, r1->decide_seconds);
  }
  t0 = Steady::now();
  auto rep = simulate_what_if(**store, reg, **cand, o);
  die(rep.status(), "simulate");
  const double sim_s = since(t0);
  const long rss1 = rss_kb();
  std::printf("%s\n", format_what_if(*rep).c_str());
  std::printf("  %-52s %12.1f s (read %.1f s, decide %.1f s, %u threads)\n", "what-if over the year", sim_s,
              rep->read_seconds, rep->decide_seconds, std::max(1u, std::thread::hardware_concurrency()));
  std::printf("  %-52s %12.0f appeals/s, %.0f events/s read\n", "throughput", appeals / sim_s,
              rep->events_read / rep->read_seconds);
  std::printf("  %-52s %12.1f s   (goal < 60 s), ~%.0f MiB\n", "extrapolated to 2,000,000 appeals",
              sim_s * 2e6 / appeals, (rss1 - rss0) / 1024.0 * 2e6 / appeals);
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int timers = 1'000'000, lat_appeals = 600, lat_seconds = 60, decide = 200'000, whatif = 200'000;
  std::string dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--timers") timers = std::atoi(argv[i + 1]);
    else if (k == "--lateness-appeals") lat_appeals = std::atoi(argv[i + 1]);
    else if (k == "--lateness-seconds") lat_seconds = std::atoi(argv[i + 1]);
    else if (k == "--decide-appeals") decide = std::atoi(argv[i + 1]);
    else if (k == "--whatif-appeals") whatif = std::atoi(argv[i + 1]);
    else if (k == "--dir") dir = argv[i + 1];
  }
  if (dir.empty()) dir = (std::filesystem::temp_directory_path() / ("otinish-sla-bench-" + std::to_string(getpid()))).string();
  std::filesystem::create_directories(dir);
  std::printf("otinish SLA bench (dir %s, %u hardware threads)\n", dir.c_str(), std::thread::hardware_concurrency());
  if (timers > 0) {
    std::printf("\n1. start-up with open appeals holding timers\n");
    bench_startup(dir, timers);
  }
  if (lat_appeals > 0) {
    std::printf("\n2. firing lateness under a steady load of commands (real clock, synced log)\n");
    bench_lateness(dir, lat_appeals, lat_seconds);
  }
  if (decide > 0) {
    std::printf("\n3. SLA decisions per second (city.yaml, re-evaluating open appeals)\n");
    bench_decisions(decide);
  }
  if (whatif > 0) {
    std::printf("\n4. what-if over a city year\n");
    bench_what_if(dir, whatif);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
