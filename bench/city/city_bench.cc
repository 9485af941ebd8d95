// A generated city through the whole stack: engine, SLA service and views on the embedded log, durable
// (synced) or not. Prints commands/s and events/s; never a timed test.
//
//   otinish_city_bench [--days N] [--per-day N] [--threads N] [--synced]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "engine/engine.h"
#include "engine/projection.h"
#include "engine/rule_registry.h"
#include "engine/sla_service.h"
#include "engine/views.h"
#include "examples/city/workload.h"
#include "store/rocks_store.h"

using namespace otinish;
using namespace std::chrono_literals;

namespace {

std::string read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return {};
  std::string s;
  char buf[65536];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) s.append(buf, n);
  std::fclose(f);
  return s;
}

int fail(const Status& s) {
  std::fprintf(stderr, "otinish_city_bench: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  city::WorkloadOptions w;
  w.days = 3;
  w.min_per_day = w.max_per_day = 1000;
  int threads = 8;
  bool synced = false;
  std::string src = ".";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--days") && i + 1 < argc) w.days = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--per-day") && i + 1 < argc) w.min_per_day = w.max_per_day = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--source") && i + 1 < argc) src = argv[++i];
    else if (!std::strcmp(argv[i], "--synced")) synced = true;
  }
  auto catalogue = city::CityCatalogue::load(src + "/examples/catalogue");
  if (!catalogue.ok()) return fail(catalogue.status());
  const city::Workload workload = city::generate_workload(*catalogue, w);
  const std::string dir = (std::filesystem::temp_directory_path() / "otinish-city-bench").string();
  std::filesystem::remove_all(dir);

  ManualClock clock(w.start);
  store::StoreOptions so;
  so.sync_writes = synced;
  auto log = store::open_rocks_store(dir + "/log", so, clock);
  if (!log.ok()) return fail(log.status());
  engine::RuleRegistry registry(**log);
  if (Status s = registry.load(); !s.ok()) return fail(s);
  for (const char* cal : {"kz.yaml", "shymkent.yaml", "round-the-clock.yaml"}) {
    auto p = registry.publish_calendar(read_file(src + "/examples/calendars/" + cal), cal, engine::RebindPolicy::kKeep, {});
    if (!p.ok()) return fail(p.status());
  }
  auto p = registry.publish_rule_set(read_file(src + "/examples/rules/city.yaml"), "city.yaml", engine::RebindPolicy::kKeep, {});
  if (!p.ok()) return fail(p.status());
  auto sla = engine::SlaService::open(**log, registry, clock, {.index_path = dir + "/sla", .timer_thread = false});
  if (!sla.ok()) return fail(sla.status());
  if (Status s = (*sla)->start(); !s.ok()) return fail(s);
  auto views = engine::ProjectionRunner::open(**log, dir + "/views", engine::standard_projections());
  if (!views.ok()) return fail(views.status());
  if (Status s = (*views)->start(); !s.ok()) return fail(s);
  auto topics = catalogue->engine_catalogue();
  engine::Engine eng(**log, clock, &topics);

  city::SimulationOptions sim;
  sim.threads = threads;
  sim.on_slice = [&](Timestamp end) {
    (*sla)->wait_for((*log)->head_position(), 60s);
    clock.set(std::max(clock.now(), end));
    (*sla)->fire_due().status().IgnoreError();  // a failed firing is retried at the next slice
  };
  auto report = city::simulate(eng, clock, workload, sim);
  if (!report.ok()) return fail(report.status());
  const auto t0 = std::chrono::steady_clock::now();
  (*views)->wait_for((*log)->head_position(), 600s);
  const double drain = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double total = report->seconds + drain;
  std::printf("%-44s %10s %12s %12s %10s\n", "city simulation (engine + SLA + 5 views)", "appeals", "commands/s",
              "events/s", "refused");
  std::printf("%-44s %10zu %12.0f %12.0f %10llu\n",
              (std::to_string(w.days) + " days x " + std::to_string(w.min_per_day) + "/day, " +
               std::to_string(threads) + " desks, " + (synced ? "synced" : "unsynced"))
                  .c_str(),
              workload.appeals.size(), static_cast<double>(report->commands) / total,
              static_cast<double>((*log)->head_position()) / total, static_cast<unsigned long long>(report->refused));
  (*sla)->stop();
  (*views)->stop();
  return 0;
}
