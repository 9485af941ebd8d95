// `otinish rules simulate`: what a candidate rule set would have done to the recorded history (engine/what_if.h).
// Registered in main.cc after add_rules_commands (it adds to the `rules` subcommand).
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "api/cli/commands.h"
#include "engine/privacy/retention.h"
#include "api/cli/data_dir.h"
#include "engine/rule_registry.h"
#include "engine/what_if.h"
#include "store/rocks_store.h"

namespace otinish::cli {

namespace {

struct SimulateArgs {
  std::string data;
  std::string file;
  std::string from, to, as_of;
  unsigned threads = 0;
  bool quiet = false;
};

bool parse_instant(const std::string& text, std::optional<Timestamp>* out, Context& ctx, const char* what) {
  if (text.empty()) return true;
  Timestamp t;
  if (!parse_utc(text, &t)) {
    ctx.err << "otinish rules simulate: " << what << " '" << text
            << "' is not an instant; write 2026-03-01T00:00:00Z or 2026-03-01T05:00:00+05:00\n";
    ctx.exit_code = 2;
    return false;
  }
  *out = t;
  return true;
}

void run_simulate(const SimulateArgs& a, Context& ctx) {
  std::ifstream in(a.file);
  if (!in) {
    ctx.err << "otinish rules simulate: cannot read " << a.file << "\n";
    ctx.exit_code = 1;
    return;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::optional<Timestamp> from, to, as_of;
  if (!parse_instant(a.from, &from, ctx, "--from") || !parse_instant(a.to, &to, ctx, "--to") ||
      !parse_instant(a.as_of, &as_of, ctx, "--as-of")) {
    return;
  }
  auto store = store::open_rocks_store(log_dir(a.data), {.create_if_missing = false});
  if (!store.ok()) {
    ctx.err << "otinish rules simulate: " << store.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  engine::RuleRegistry registry(**store);
  if (Status s = registry.load(); !s.ok()) {
    ctx.err << "otinish rules simulate: " << s.ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  auto candidate = registry.candidate(text.str(), a.file);
  if (!candidate.ok()) {
    ctx.err << "otinish rules simulate: " << candidate.status().message() << "\n";
    ctx.exit_code = 1;
    return;
  }
  engine::WhatIfOptions o;
  o.as_of = as_of.value_or(to.value_or(SystemClock::instance().now()));
  o.from = from;
  o.to = to;
  o.threads = a.threads;
  // A bar redrawn in place on a terminal; a few lines when stderr is a log or a pipe.
  if (!a.quiet) o.progress = engine::what_if_progress_bar(ctx.err, &ctx.err == &std::cerr && isatty(STDERR_FILENO));
  auto report = engine::simulate_what_if(**store, registry, **candidate, o);
  if (!report.ok()) {
    ctx.err << "otinish rules simulate: " << report.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  ctx.out << engine::format_what_if(*report);
  // And what its retention section would erase by then (nothing is erased here).
  auto retention = engine::privacy::plan_retention(**store, (*candidate)->rules, o.as_of);
  if (!retention.ok()) {
    ctx.err << "otinish rules simulate: " << retention.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  ctx.out << engine::privacy::format_retention_plan(*retention, (*candidate)->rules, o.as_of);
  ctx.exit_code = 0;
}

}  // namespace

void add_simulate_commands(CLI::App& app, Context& ctx) {
  CLI::App* rules = app.get_subcommand("rules");
  auto* cmd = rules->add_subcommand("simulate", "What a candidate rule set would have done to the recorded history");
  auto args = std::make_shared<SimulateArgs>();
  cmd->add_option("FILE", args->file, "Candidate rule set YAML (its calendars must be published)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--data", args->data, "Data directory (DIR/log is read, never written)")->required();
  cmd->add_option("--from", args->from, "Only appeals registered at or after this instant");
  cmd->add_option("--to", args->to, "Only appeals registered before this instant (also the default --as-of)");
  cmd->add_option("--as-of", args->as_of, "Decide as of this instant (default: --to, else now)");
  cmd->add_option("--threads", args->threads, "Deciding threads (default: all cores)");
  cmd->add_flag("--quiet", args->quiet, "No progress bar");
  cmd->footer(
      "Example: otinish rules simulate examples/rules/city.yaml --data /var/lib/otinish \\\n"
      "           --from 2026-01-01T00:00:00+05:00 --to 2027-01-01T00:00:00+05:00\n"
      "  -> breaches added/removed per category and agency, deadlines moved, escalations that would fire,\n"
      "     and the applicants its retention rules would have erased by --as-of\n"
      "Exit 1 if the rule set is invalid or the log cannot be read, 2 on bad arguments.");
  cmd->callback([args, &ctx] { run_simulate(*args, ctx); });
}

}  // namespace otinish::cli
