// Working-time arithmetic and calendar compilation on the shipped Kazakhstan calendar (examples/calendars/kz.yaml)
// with generated years:
//   Calendar::add in working days and business hours over 2025-2028 (2027-2028 provisional, generated from the
//   Labour Code's recurring rules) -- goal >= 2,000,000 adds/s per core;
//   compiling a 10-year calendar (kz.yaml with years 2025-2034) from its parsed spec -- goal < 10 ms.
// Prints google-benchmark's table, then one summary table with the figures measured in this run.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "rules/calendar_spec.h"

namespace {

using namespace otinish;
using namespace otinish::rules;

// The shipped examples/calendars/kz.yaml (found from this source file, or $OTINISH_SOURCE_DIR), with its `years`
// line replaced by `years`: the table's size.
std::string kz_text(const std::string& years) {
  const char* dir = std::getenv("OTINISH_SOURCE_DIR");
  const std::filesystem::path root =
      dir ? std::filesystem::path(dir) : std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
  const std::filesystem::path path = root / "examples/calendars/kz.yaml";
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string out = text.str();
  const std::string shipped = "years: {from: 2025, provisional: 2}";
  const auto at = out.find(shipped);
  if (!in || at == std::string::npos) {
    std::fprintf(stderr, "bench: %s is missing or has no '%s' line; set OTINISH_SOURCE_DIR\n", path.c_str(),
                 shipped.c_str());
    std::exit(1);
  }
  return out.replace(at, shipped.size(), "years: " + years);
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

// The shipped kz as is: 2025-2026 final, 2027-2028 provisional (the horizon: 2 years past 2026).
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
  const Calendar& kz = kz_generated();
  std::printf("\ncalendar %s: %s to %s, %zu provisional year(s) from %s\n", kz.version().c_str(),
              date::format("%F", kz.first_day()).c_str(), date::format("%F", kz.last_day()).c_str(),
              kz.provisional_years().size(),
              kz.provisional_years().empty() ? "-" : std::to_string(kz.provisional_years().front().year).c_str());
  std::printf("figure (this run, one thread)                        otinish        goal\n");
  std::printf("Calendar::add 15wd-style, kz 2025-2028 generated    %10.0f/s    >= 2,000,000/s per core\n", wd);
  std::printf("Calendar::add business hours, same calendar         %10.0f/s    >= 2,000,000/s per core\n", bh);
  std::printf("compile a 10-year calendar (2025-2034), min/median  %5.2f/%5.2f ms  < 10 ms\n", ms.front(),
              ms[ms.size() / 2]);
  return 0;
}
