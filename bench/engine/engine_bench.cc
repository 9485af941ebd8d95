// End-to-end commands per second with durable appends, and projection rebuild events per second.
// Prints a table; never a timed test.
//
//   otinish_engine_bench [--desks 1,8,32] [--appeals-per-desk 200] [--rebuild-appeals 100000] [--runs 3]
//                        [--dir /tmp/x]
//
// Commands: each desk (a thread) registers incidents and drives each through send_for_review, assign, accept,
// start_work, resolve and close (7 commands), each one load + decide + one synced append, as desks would.
// Rebuild: a log of `rebuild-appeals` appeals of 8 events each is written straight to the store in bulk, then
// all five standard projections are built from position 0 into a fresh views database (catch_up; best of
// `runs`, each into a new database), and each projection alone is rebuilt into a fresh generation.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/views.h"
#include "store/rocks_store.h"

namespace {

using namespace otinish;
using namespace otinish::engine;
using Steady = std::chrono::steady_clock;

// CPU seconds of the whole process (all threads): a figure that holds on a machine shared with other work.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

std::vector<int> parse_list(const char* s) {
  std::vector<int> out;
  for (const char* p = s; *p;) {
    out.push_back(std::atoi(p));
    while (*p && *p != ',') ++p;
    if (*p == ',') ++p;
  }
  return out;
}

InMemoryTopicCatalogue catalogue() {
  return InMemoryTopicCatalogue({{"utilities.heating.no_heat", "", "", "No heating", "heat-networks",
                                  Category::kIncident, false}});
}

RegisterAppeal incident(int n) {
  RegisterAppeal r;
  r.centre = "SHY";
  r.category = Category::kIncident;
  r.topic = "utilities.heating.no_heat";
  r.location = {"Abay", "Tauke khan ave"};
  r.text = "no heating in the flat since morning";
  r.applicant = {"Applicant " + std::to_string(n), "+7 701 " + std::to_string(1000000 + n), "Abay " + std::to_string(n)};
  return r;
}

struct CommandFigures {
  int desks;
  double commands_per_s;
  std::uint64_t commands;
};

CommandFigures run_commands(const std::string& dir, int desks, int per_desk) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto store = std::move(store::open_rocks_store(dir + "/log")).value();
  auto cat = catalogue();
  Engine eng(*store, SystemClock::instance(), &cat);
  std::atomic<std::uint64_t> commands{0};
  auto start = Steady::now();
  std::vector<std::thread> threads;
  for (int d = 0; d < desks; ++d) {
    threads.emplace_back([&, d] {
      int k = 0;
      auto meta = [&] { return CommandMeta{"d" + std::to_string(d) + "-" + std::to_string(k++), {}, ""}; };
      for (int i = 0; i < per_desk; ++i) {
        auto reg = eng.register_appeal(incident(d * per_desk + i), meta());
        if (!reg.ok()) std::abort();
        const std::string id = reg->appeal_id;
        const Command steps[] = {SendForReview{}, Assign{}, Accept{}, StartWork{}, Resolve{Outcome::kDone, "fixed"},
                                 Close{}};
        for (const auto& c : steps) {
          if (!eng.execute(id, c, meta()).ok()) std::abort();
        }
        commands += 7;
      }
    });
  }
  for (auto& t : threads) t.join();
  double s = std::chrono::duration<double>(Steady::now() - start).count();
  return {desks, commands / s, commands.load()};
}

// Writes `appeals` appeals of 8 events each straight to the store (bulk, 16 writers), as a year of a city.
std::uint64_t write_log(store::EventStore& store, int appeals) {
  const std::vector<AppealEvent> life = [] {
    AppealRegistered r;
    r.category = Category::kIncident;
    r.topic = "utilities.heating.no_heat";
    r.location = {"Abay", "Tauke khan ave"};
    r.text = "no heating in the flat since morning";
    r.applicant = *PlainApplicantSealer::instance().seal({"Applicant", "+7 701 000 0000", "Abay 1"}, "");
    return std::vector<AppealEvent>{
        {Stage::kRegistered, Stage::kRegistered, r},
        {Stage::kRegistered, Stage::kUnderReview, AppealSentForReview{}},
        {Stage::kUnderReview, Stage::kAssigned, AppealAssigned{"heat-networks", false}},
        {Stage::kAssigned, Stage::kAccepted, AppealAccepted{"heat-networks"}},
        {Stage::kAccepted, Stage::kInProgress, AppealWorkStarted{}},
        {Stage::kInProgress, Stage::kResolved, AppealResolved{Outcome::kDone, "valve replaced", ""}},
        {Stage::kResolved, Stage::kVerified, AppealCallbackRecorded{true, ""}},
        {Stage::kVerified, Stage::kClosed, AppealClosed{}},
    };
  }();
  std::atomic<int> next{1};
  std::vector<std::thread> threads;
  for (int w = 0; w < 16; ++w) {
    threads.emplace_back([&] {
      for (int n = next++; n <= appeals; n = next++) {
        AppealId id{"SHY", 2026, static_cast<std::uint32_t>(n)};
        std::vector<store::EventData> data;
        for (auto e : life) {
          if (auto* r = std::get_if<AppealRegistered>(&e.body)) r->appeal_id = id.to_string();
          data.push_back(encode_event(e));
        }
        if (!store.append(id.stream(), store::ExpectedVersion::no_stream(), data).ok()) std::abort();
      }
    });
  }
  for (auto& t : threads) t.join();
  return store.head_position();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> desks = {1, 8, 32};
  int per_desk = 100;
  int rebuild_appeals = 100'000;
  int runs = 3;
  std::string dir = (std::filesystem::temp_directory_path() / "otinish-engine-bench").string();
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--desks")) desks = parse_list(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--appeals-per-desk")) per_desk = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rebuild-appeals")) rebuild_appeals = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--runs")) runs = std::max(1, std::atoi(argv[i + 1]));
  }

  std::printf("End-to-end commands (register + 6 lifecycle commands per appeal; load, decide, synced append)\n");
  std::printf("%8s %12s %14s\n", "desks", "commands", "commands/s");
  for (int d : desks) {
    auto f = run_commands(dir + "/commands", d, per_desk);
    std::printf("%8d %12llu %14.0f\n", f.desks, static_cast<unsigned long long>(f.commands), f.commands_per_s);
  }

  std::filesystem::remove_all(dir + "/rebuild");
  std::filesystem::create_directories(dir + "/rebuild");
  auto store = std::move(store::open_rocks_store(dir + "/rebuild/log")).value();
  auto t0 = Steady::now();
  std::uint64_t events = write_log(*store, rebuild_appeals);
  double write_s = std::chrono::duration<double>(Steady::now() - t0).count();
  std::printf("\nLog: %llu events (%d appeals) written in %.1f s\n", static_cast<unsigned long long>(events),
              rebuild_appeals, write_s);

  std::uint64_t scanned = 0;
  t0 = Steady::now();
  (void)store->scan(1, ~0ull, [&](const store::RecordedEvent&) { return ++scanned, true; });
  double scan_s = std::chrono::duration<double>(Steady::now() - t0).count();

  std::uint64_t decoded = 0;
  t0 = Steady::now();
  (void)store->scan(1, ~0ull, [&](const store::RecordedEvent& e) {
    decoded += decode_event(e.type, e.schema_version, e.payload).ok();
    return true;
  });
  double decode_s = std::chrono::duration<double>(Steady::now() - t0).count();

  std::unique_ptr<ProjectionRunner> runner;
  double all_s = 1e9, all_cpu = 1e9;
  for (int run = 0; run < runs; ++run) {
    runner.reset();
    const std::string views = dir + "/rebuild/views" + std::to_string(run);
    runner = std::move(ProjectionRunner::open(*store, views, standard_projections())).value();
    t0 = Steady::now();
    double cpu0 = cpu_seconds();
    if (!runner->catch_up().ok()) std::abort();
    all_s = std::min(all_s, std::chrono::duration<double>(Steady::now() - t0).count());
    all_cpu = std::min(all_cpu, cpu_seconds() - cpu0);
  }

  // events/CPU-s: events per second of CPU time over all threads (wall-clock figures depend on what else runs).
  std::printf("\n%-50s %10s %12s %14s %10s\n", "projection rebuild from position 0", "events", "events/s",
              "events/CPU-s", "goal");
  std::printf("%-50s %10llu %12.0f %14s %10s\n", "store scan alone (the floor)",
              static_cast<unsigned long long>(scanned), scanned / scan_s, "", "");
  std::printf("%-50s %10llu %12.0f %14s %10s\n", "store scan + decode_event (one thread)",
              static_cast<unsigned long long>(decoded), decoded / decode_s, "", "");
  std::printf("%-50s %10llu %12.0f %14.0f %10s\n", "all five views, fresh database (catch_up, best)",
              static_cast<unsigned long long>(events), events / all_s, events / all_cpu, ">=1000000");
  for (const char* name : {"appeals", "timeline", "public", "scorecards", "repeats"}) {
    const double cpu0 = cpu_seconds();
    auto r = runner->rebuild(name);
    if (!r.ok()) std::abort();
    std::printf("%-50s %10llu %12.0f %14.0f %10s\n",
                (std::string(name) + ": rebuild() while serving, swap").c_str(),
                static_cast<unsigned long long>(r->events), r->events_per_second(),
                r->events / (cpu_seconds() - cpu0), ">=1000000");
  }
  runner.reset();
  store.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
