// otinish_city_demo: a month of a city's 109 centre in seconds. The README's first command runs it.
//
//   otinish_city_demo [--city turkestan|petropavlovsk|shymkent] [--days N] [--min-per-day N] [--max-per-day N]
//                     [--seed N] [--data DIR] [--source DIR] [--store nats://HOST:PORT,...]
//
// The presets follow the seeds (shared/domain/figures.md): Turkestan 42,000 appeals a year (about 115 a day);
// Petropavlovsk's centre takes up to 2,000 a day; Shymkent 2,000-5,000 a day. The default, a month of
// Turkestan, runs in seconds; a month of Shymkent is about 650,000 commands and takes minutes on 2 cores.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "examples/city/demo.h"

int main(int argc, char** argv) {
  otinish::city::DemoOptions o;
  o.data_dir = (std::filesystem::temp_directory_path() / "otinish-demo").string();
  o.source_dir = ".";
  CLI::App app{"A month of a city's 109 centre, simulated through otinish in seconds.\n"
               "Example: otinish_city_demo --days 30 --data /tmp/otinish-demo"};
  std::string preset = "turkestan";
  app.add_option("--city", preset, "volume preset from the seeds: turkestan (~115 a day), petropavlovsk "
                                   "(800-2,000 a day), shymkent (2,000-5,000 a day)")
      ->check(CLI::IsMember({"turkestan", "petropavlovsk", "shymkent"}));
  app.add_option("--days", o.workload.days, "days to simulate")->check(CLI::Range(1, 366));
  app.add_option("--min-per-day", o.workload.min_per_day, "fewest appeals a day")->check(CLI::Range(1, 100000));
  app.add_option("--max-per-day", o.workload.max_per_day, "most appeals a day")->check(CLI::Range(1, 100000));
  app.add_option("--seed", o.workload.seed, "the workload's seed (the same seed gives the same city)");
  app.add_option("--threads", o.threads, "desks working at once")->check(CLI::Range(1, 256));
  app.add_option("--data", o.data_dir, "directory for the log, views and timers (emptied first)");
  app.add_option("--source", o.source_dir, "the otinish source tree (for examples/)");
  app.add_option("--kek", o.kek_file,
                 "key-encryption key file for the applicants' data keys (read, or created; default DATA.kek)");
  app.add_option("--store", o.store_urls,
                 "the log on a NATS JetStream cluster, nats://HOST:PORT,... (scripts/nats-cluster.sh start DIR "
                 "prints them); default: DATA/log");
  bool quiet = false;
  app.add_flag("--no-progress", quiet, "no progress bar");
  // Presets first; explicit --min/--max-per-day override them.
  app.parse_complete_callback([&] {
    struct Preset { const char* centre; int min, max; };
    const Preset p = preset == "shymkent" ? Preset{"SHY", 2000, 5000}
                   : preset == "petropavlovsk" ? Preset{"PTR", 800, 2000} : Preset{"TRK", 100, 150};
    o.workload.centre = p.centre;
    if (app.count("--min-per-day") == 0) o.workload.min_per_day = p.min;
    if (app.count("--max-per-day") == 0) o.workload.max_per_day = p.max;
  });
  CLI11_PARSE(app, argc, argv);
  if (o.workload.max_per_day < o.workload.min_per_day) o.workload.max_per_day = o.workload.min_per_day;
  o.progress_bar = !quiet;
  auto figures = otinish::city::run_city_demo(o, std::cout);
  if (!figures.ok()) {
    std::cerr << "otinish: " << figures.status().ToString() << "\n";
    return 1;
  }
  return figures->verified && figures->refused == 0 ? 0 : 1;
}
