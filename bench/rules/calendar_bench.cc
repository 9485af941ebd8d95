// Working-time arithmetic and calendar compilation on Kazakhstan's calendar with generated years:
//   Calendar::add in working days and business hours over 2025-2028 (2027-2028 provisional, generated from the
//   Labour Code's recurring rules) -- goal >= 2,000,000 adds/s per core;
//   compiling a 10-year calendar (2025-2034) from its parsed spec -- goal < 10 ms.
// Prints google-benchmark's table, then one summary table with the figures measured in this run.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "rules/calendar_spec.h"

namespace {

using namespace otinish;
using namespace otinish::rules;

// kz.yaml's law (holidays, carry-over, yearly inputs with 2025-2026 published), self-contained so that the
// bench runs from any directory. `years` decides the table's size.
std::string kz_text(const std::string& years) {
  return "calendar: kz\ntime_zone: Asia/Almaty\nyears: " + years +
         "\nweek: {mon: \"09:00-18:00\", tue: \"09:00-18:00\", wed: \"09:00-18:00\", thu: \"09:00-18:00\", "
         "fri: \"09:00-18:00\"}\nlunch: \"13:00-14:00\"\n"
         "holidays: [{date: \"01-01\"}, {date: \"01-02\"}, {date: \"01-07\", carry_over: false}, {date: \"03-08\"},"
         " {date: \"03-15\", from: 2027}, {date: \"03-21\"}, {date: \"03-22\"}, {date: \"03-23\"}, {date: \"05-01\"},"
         " {date: \"05-07\"}, {date: \"05-09\"}, {date: \"07-06\"}, {date: \"08-30\", until: 2025},"
         " {date: \"10-25\"}, {date: \"12-16\"}]\n"
         "yearly_inputs: [{id: kurban_ait, kind: days_off}, {id: transfer_decree, kind: transfers}]\n"
         "yearly:\n"
         "  - {year: 2025, kurban_ait: 2025-06-06, transfer_decree: [{work: 2025-01-05, off: 2025-01-03}]}\n"
         "  - {year: 2026, kurban_ait: 2026-05-27, transfer_decree: []}\n";
}

CalendarLibrary library(const std::string& years) {
  std::vector<Diagnostic> diags;
  CalendarLibrary lib;
  auto spec = parse_calendar(kz_text(years), "kz.yaml", &diags);
  if (!spec || !lib.add(std::move(*spec), &diags)) {
    std::fprintf(stderr, "bench calendar does not load: %s\n", diags.empty() ? "?" : format_diagnostic(diags[0]).c_str());
    std::exit(1);
  }
  return lib;
}

// 2025-2028: two final years, two provisional (the horizon: 2 years past 2026).
const Calendar& kz_generated() {
  static const Calendar cal = library("{from: 2025, provisional: 2}").compile("kz").value();
  return cal;
}

std::vector<std::pair<Timestamp, Target>> inputs(const Calendar& cal, Unit unit, int max_amount) {
  std::mt19937_64 rng(42);
  const std::int64_t from = micros_since_epoch(cal.from_local(date::local_days(date::year{2025} / 1 / 1)));
  const std::int64_t span = 3LL * 365 * 86'400'000'000 + 200LL * 86'400'000'000;  // starts to mid-July 2028
  std::vector<std::pair<Timestamp, Target>> out(4096);
  for (auto& [t, d] : out) {
    t = timestamp_from_micros(from + static_cast<std::int64_t>(rng() % span));
    d = Target{static_cast<std::int64_t>(rng() % max_amount) + 1, unit};
  }
  return out;
}

void run(benchmark::State& state, Unit unit, int max_amount) {
  const Calendar& cal = kz_generated();
  const auto in = inputs(cal, unit, max_amount);
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& [t, d] = in[i++ & 4095];
    benchmark::DoNotOptimize(cal.add(t, d));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_AddBusinessHours(benchmark::State& s) { run(s, Unit::kBusinessHours, 200); }
void BM_AddWorkingDays(benchmark::State& s) { run(s, Unit::kWorkingDays, 60); }
void BM_AddMinutes(benchmark::State& s) { run(s, Unit::kMinutes, 10000); }
void BM_Compile10Years(benchmark::State& s) {
  const CalendarLibrary lib = library("{from: 2025, to: 2034}");
  for (auto _ : s) benchmark::DoNotOptimize(lib.compile("kz"));
}
BENCHMARK(BM_AddBusinessHours);
BENCHMARK(BM_AddWorkingDays);
BENCHMARK(BM_AddMinutes);
BENCHMARK(BM_Compile10Years)->Unit(benchmark::kMillisecond);

// Adds per second over ~0.3 s of one thread.
double adds_per_second(Unit unit, int max_amount) {
  const Calendar& cal = kz_generated();
  const auto in = inputs(cal, unit, max_amount);
  const auto start = std::chrono::steady_clock::now();
  std::size_t n = 0;
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(300)) {
    for (int k = 0; k < 4096; ++k, ++n) benchmark::DoNotOptimize(cal.add(in[n & 4095].first, in[n & 4095].second));
  }
  return static_cast<double>(n) / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  const double wd = adds_per_second(Unit::kWorkingDays, 60), bh = adds_per_second(Unit::kBusinessHours, 200);
  const CalendarLibrary lib = library("{from: 2025, to: 2034}");
  std::vector<double> ms;
  for (int i = 0; i < 50; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(lib.compile("kz"));
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("\nfigure (this run, one thread)                        otinish        goal\n");
  std::printf("Calendar::add 15wd-style, kz 2025-2028 generated    %10.0f/s    >= 2,000,000/s per core\n", wd);
  std::printf("Calendar::add business hours, same calendar         %10.0f/s    >= 2,000,000/s per core\n", bh);
  std::printf("compile a 10-year calendar (2025-2034), min/median  %5.2f/%5.2f ms  < 10 ms\n", ms.front(),
              ms[ms.size() / 2]);
  return 0;
}
