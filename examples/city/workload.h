// examples/city/workload.h: a city's appeals, day by day, seeded and reproducible; and the simulator that
// drives them through an Engine on a manual clock.
//
// The shape comes from the seeds (shared/domain/figures.md): 2,000-5,000 appeals a day; about 70% of
// consultations answered on the first contact (19,473 of 27,347 in one Shymkent month); about 80% housing and
// utilities; 85% by phone, the rest by messengers; repeats of earlier appeals by the same person or address;
// heating in winter, flooding in spring; agencies of different speeds (so some breach); now and then a mass
// incident whose dozens of appeals are merged into one parent.
//
//   auto city = CityCatalogue::load("examples/catalogue");
//   Workload w = generate_workload(*city, {.seed = 109, .start = month_start, .days = 30});
//   ManualClock clock(w.options.start);
//   ... Engine engine(store, clock, &topics);
//   auto report = simulate(engine, clock, w, {.until = month_end});
//
// generate_workload is a pure function of (catalogue, options): the same seed gives the same city.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/time.h"
#include "engine/commands.h"
#include "engine/engine.h"
#include "examples/city/city_catalogue.h"

namespace otinish::city {

struct WorkloadOptions {
  std::uint64_t seed = 109;
  std::string centre = "SHY";
  // Local midnight (UTC+5) of the first day, as UTC. Default: 2026-03-01T00:00+05:00 (Nauryz month).
  Timestamp start = timestamp_from_micros(1'772'305'200'000'000);
  int days = 30;
  int min_per_day = 2'000;              // appeals a day, uniform in [min, max]
  int max_per_day = 5'000;
  double first_contact_share = 0.70;    // of consultations
  double housing_utilities_share = 0.80;
  double repeat_share = 0.20;           // appeals that repeat an earlier one (same person or address, same topic)
  std::array<double, 6> channel_shares = {0.85, 0.07, 0.03, 0.01, 0.03, 0.01};  // phone, whatsapp, telegram,
                                                                                // facebook, instagram, web
  double seasonal_weight = 4.0;         // a topic in its season is this much more likely
  double mass_incident_per_day = 0.15;  // probability that a day has a mass incident
  int mass_incident_children = 50;
  double redirect_share = 0.05;         // assigned appeals redirected to another agency
  double hold_share = 0.10;             // appeals put on hold waiting for the applicant
  // Accepted appeals the agency finds misclassified (a "consultation" that is a complaint, a complaint that is
  // an incident): reclassified to another of the agency's topics in another category, which hands the appeal
  // to that category's SLA rule.
  double reclassify_share = 0.03;
  double unsatisfied_share = 0.15;      // callbacks where the applicant is not satisfied (complaints reopen)
};

// One command of an appeal at a moment. A merge's parent is filled in by the simulator (merge_parent).
struct PlannedCommand {
  Timestamp at;
  engine::Command command;
  std::string agency;  // set for the agency's own steps (accept, start, hold, resume, resolve): who acts
};

struct PlannedAppeal {
  std::uint32_t key = 0;  // index in Workload::appeals
  Timestamp registered_at;
  engine::RegisterAppeal registration;
  std::vector<PlannedCommand> steps;  // in time order, all after registered_at
  std::optional<std::uint32_t> merge_parent;  // key of the parent its MergeInto step names
  bool first_contact = false;
  bool repeat = false;
  bool housing_utilities = false;
  std::string agency;  // the agency it is first assigned to ("" if never assigned)
};

// What the generator put in: a test checks the demo's figures against these.
struct WorkloadTotals {
  std::uint64_t appeals = 0;
  std::array<std::uint64_t, 5> by_category{};  // engine::Category order
  std::array<std::uint64_t, 6> by_channel{};   // engine::Channel order
  std::uint64_t first_contact = 0;
  std::uint64_t repeats = 0;
  std::uint64_t housing_utilities = 0;
  std::uint64_t mass_incidents = 0;
  std::uint64_t merged_children = 0;
  // Reclassifications planned before the workload's last day ends (what a simulation to its end runs);
  // by_category and by_topic count an appeal under what it is after them, as the views do.
  std::uint64_t reclassified = 0;
  std::map<std::string, std::uint64_t> by_topic;
};

struct Workload {
  WorkloadOptions options;
  std::vector<PlannedAppeal> appeals;  // by registration time
  WorkloadTotals totals;
  std::map<std::string, double> agency_speed;  // >1 slower than typical (seeded); slow agencies breach
};

Workload generate_workload(const CityCatalogue& city, const WorkloadOptions& options);

struct SimulationOptions {
  // Simulated time stops here (steps after it are not run: those appeals stay open). Default: the end of the
  // workload's last day.
  std::optional<Timestamp> until;
  // The clock moves in slices; commands of one slice run concurrently (an appeal's own commands in order).
  std::chrono::seconds slice{60};
  int threads = 8;
  // Called after each slice's commands ran, while the clock still shows the slice's start, with the slice's
  // end: e.g. let the SLA service catch up, move `clock` to the end and fire due timers. The simulator moves
  // the clock to the end afterwards in any case.
  std::function<void(Timestamp)> on_slice;
  // Called about every 1% with (commands done, commands planned).
  std::function<void(std::uint64_t, std::uint64_t)> progress;
};

struct SimulationReport {
  std::uint64_t commands = 0;                 // commands run, registrations included
  std::uint64_t refused = 0;                  // commands the engine refused (a consistent plan has none)
  std::map<std::string, std::uint64_t> refusals;  // first refusal message per status code name -> count
  std::vector<std::string> appeal_ids;        // by key; "" if its registration was not reached
  double seconds = 0;                         // wall time
};

// Runs the workload's commands through `engine`, moving `clock` through simulated time.
// Errors: only an engine error that is not a refusal of the command (kIOError, kCorruption, kUnavailable).
Result<SimulationReport> simulate(engine::Engine& engine, ManualClock& clock, const Workload& workload,
                                  const SimulationOptions& options = {});

}  // namespace otinish::city
