// examples/city/demo.h: the demo a new user runs: a month of a city's 109 centre in seconds.
//
// Simulates the workload (examples/city/workload.h) through the real engine on the embedded RocksDB log with
// the city's SLA rules and calendars in force and a manual clock, then prints what a person wants to see:
// appeals by category and channel, SLA compliance and breaches by agency (a table, and a bar chart written as
// SVG), the busiest topics, the repeat rate, one appeal's full audit timeline with the rule behind each SLA
// decision, and the result of verifying the log's hash chain.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>

#include "common/status.h"
#include "examples/city/workload.h"

namespace otinish::city {

struct DemoOptions {
  std::string data_dir;    // REQUIRED: where the log, views and SLA index go (emptied first)
  std::string source_dir;  // REQUIRED: the source tree (examples/catalogue, examples/rules, examples/calendars)
  WorkloadOptions workload;
  int threads = 8;
  bool progress_bar = true;  // draw a progress bar on stderr
  // The key-encryption key file that wraps the applicants' data keys: read if it exists, else created. Empty:
  // "<data_dir>.kek", beside the data directory (never inside it), so that `otinish serve --data DIR
  // --kek file:DIR.kek` can open the demo's data afterwards.
  std::string kek_file;
  // Empty: the log is DIR/log (RocksDB). "nats://HOST:PORT,...": the log on a NATS JetStream cluster
  // (scripts/nats-cluster.sh starts one on this machine; docs/jetstream.md), in a stream of its own per run.
  std::string store_urls;
};

// The figures the demo printed, for tests to compare with the generator's inputs.
struct DemoFigures {
  std::uint64_t appeals = 0;                   // registered
  std::array<std::uint64_t, 5> by_category{};  // engine::Category order
  std::array<std::uint64_t, 6> by_channel{};
  std::uint64_t first_contact = 0;             // AppealAnsweredOnFirstContact events in the log
  std::uint64_t merged = 0;                    // AppealMerged events
  std::uint64_t reclassified = 0;              // AppealClassified events of a reclassification (after assignment)
  std::uint64_t repeats = 0;                   // appeals the repeats view links to an earlier one
  std::uint64_t with_deadline = 0;             // appeals with an SLA deadline
  std::uint64_t breached = 0;                  // appeals with at least one breached clock
  std::uint64_t overdue = 0;                   // the appeals view's overdue query at the end (open, past due)
  std::uint64_t scorecard_with_deadline = 0;   // resolved appeals the scorecards judged against a deadline
  std::uint64_t scorecard_on_time = 0;
  std::uint64_t refused = 0;                   // commands the engine refused
  std::uint64_t events = 0;                    // events in the verified log
  bool verified = false;
  // Privacy: applicants' names and phones sought in every file of the data directory (none may be found), the
  // applicant erased at the end, and whether the log verified after that erasure.
  std::uint64_t plaintext_checked = 0;
  std::uint64_t plaintext_found = 0;
  std::string erased_applicant;
  std::uint64_t erased_appeals = 0;
  bool verified_after_erasure = false;
  // Proof: a checkpoint signed, the example appeal's evidence bundle verified offline, and the same bundle with
  // one byte changed rejected.
  std::uint64_t checkpoint_size = 0;
  bool evidence_verified = false;
  bool altered_evidence_rejected = false;
  std::string chart_path;
  std::string example_appeal;
};

// Runs the demo and prints to `out`. Errors: a missing source file, the store's or engine's errors.
Result<DemoFigures> run_city_demo(const DemoOptions& options, std::ostream& out);

}  // namespace otinish::city
