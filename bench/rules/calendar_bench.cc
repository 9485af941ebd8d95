// Working-time arithmetic throughput: Calendar::add over a 5-year calendar (goal: >= 2,000,000 adds/s/core).
#include <benchmark/benchmark.h>

#include <random>

#include "rules/calendar_spec.h"

namespace {

using namespace otinish;
using namespace otinish::rules;

const Calendar& five_years() {
  static const Calendar cal = [] {
    std::string yaml =
        "calendar: bench\ntime_zone: Asia/Almaty\nyears: {from: 2025, to: 2029}\n"
        "week: {mon: \"09:00-18:00\", tue: \"09:00-18:00\", wed: \"09:00-18:00\", thu: \"09:00-18:00\", "
        "fri: \"09:00-18:00\"}\nlunch: \"13:00-14:00\"\n"
        "holidays: [{date: \"01-01\"}, {date: \"01-02\"}, {date: \"03-08\"}, {date: \"03-21\"}, {date: \"03-22\"},"
        " {date: \"03-23\"}, {date: \"05-01\"}, {date: \"05-07\"}, {date: \"05-09\"}, {date: \"07-06\"},"
        " {date: \"10-25\"}, {date: \"12-16\"}, {date: \"01-07\", carry_over: false}]\n";
    std::vector<Diagnostic> diags;
    CalendarLibrary lib;
    lib.add(*parse_calendar(yaml, "bench.yaml", &diags), &diags);
    return lib.compile("bench").value();
  }();
  return cal;
}

void run(benchmark::State& state, Unit unit, int max_amount) {
  const Calendar& cal = five_years();
  std::mt19937_64 rng(42);
  const std::int64_t from = micros_since_epoch(cal.from_local(date::local_days(date::year{2025} / 1 / 1)));
  const std::int64_t span = 4LL * 365 * 86'400'000'000;  // starts in the first four years
  std::vector<std::pair<Timestamp, Target>> inputs(4096);
  for (auto& [t, d] : inputs) {
    t = timestamp_from_micros(from + static_cast<std::int64_t>(rng() % span));
    d = Target{static_cast<std::int64_t>(rng() % max_amount) + 1, unit};
  }
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& [t, d] = inputs[i++ & 4095];
    benchmark::DoNotOptimize(cal.add(t, d));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_AddBusinessHours(benchmark::State& s) { run(s, Unit::kBusinessHours, 200); }
void BM_AddWorkingDays(benchmark::State& s) { run(s, Unit::kWorkingDays, 60); }
void BM_AddMinutes(benchmark::State& s) { run(s, Unit::kMinutes, 10000); }
BENCHMARK(BM_AddBusinessHours);
BENCHMARK(BM_AddWorkingDays);
BENCHMARK(BM_AddMinutes);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::printf("\nfigure                         otinish (items_per_second above)   goal\n"
              "Calendar::add, 5-year table    see BM_AddBusinessHours/WorkingDays  >= 2,000,000 adds/s per core\n");
  return 0;
}
