// `otinish rules publish`: publish calendars and rule sets into a data directory's log, offline, through the
// engine's RuleRegistry (the same path as PUT /v1/calendars/{name}, PUT /v1/rules and `serve --calendar/--rules`).
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "api/cli/commands.h"
#include "api/cli/data_dir.h"
#include "api/http/publications.h"
#include "engine/rule_registry.h"
#include "store/rocks_store.h"

namespace otinish::cli {

namespace {

struct PublishArgs {
  std::string data;
  std::vector<std::string> files;
  std::string policy = "keep";
  const char* command = "otinish rules publish";
  bool calendars_only = false;
};

bool is_calendar(const std::string& path) {
  try {
    const YAML::Node root = YAML::LoadFile(path);
    return root.IsMap() && root["calendar"];
  } catch (const std::exception&) {
    return false;  // the rule-set parser reports the problem with its line and column
  }
}

void run_publish(const PublishArgs& a, Context& ctx) {
  auto policy = engine::parse_rebind_policy(a.policy);
  if (!policy.ok()) {
    ctx.err << a.command << ": --policy: " << policy.status().message() << "\n";
    ctx.exit_code = 2;
    return;
  }
  if (a.calendars_only) {
    for (const std::string& file : a.files) {
      if (is_calendar(file)) continue;
      ctx.err << a.command << ": " << file << " is not a calendar (no top-level 'calendar:' key); publish rule "
              << "sets with `otinish rules publish`\n";
      ctx.exit_code = 2;
      return;
    }
  }
  auto store = store::open_rocks_store(log_dir(a.data), {});
  if (!store.ok()) {
    ctx.err << a.command << ": " << store.status().ToString()
            << " (stop `otinish serve` on this directory, or publish over HTTP: PUT /v1/rules)\n";
    ctx.exit_code = 1;
    return;
  }
  engine::RuleRegistry registry(**store);
  if (Status s = registry.load(); !s.ok()) {
    ctx.err << a.command << ": " << s.ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  const store::Actor actor{"otinish-cli", "admin", ""};
  for (const std::string& file : a.files) {
    const bool calendar = is_calendar(file);
    auto published = calendar ? api::publish_calendar_file(registry, **store, file, *policy, actor)
                              : api::publish_rule_set_file(registry, **store, file, *policy, actor);
    if (!published.ok()) {
      ctx.err << a.command << ": " << published.status().message() << "\n";
      ctx.exit_code = 1;
      return;
    }
    ctx.out << file << ": " << (calendar ? "calendar " : "rule set ")
            << (*published ? "published, policy " + std::string(engine::to_string(*policy))
                           : std::string("unchanged (the same content is in force)"))
            << "\n";
  }
  ctx.exit_code = 0;
}

}  // namespace

void add_publish_commands(CLI::App& app, Context& ctx) {
  CLI::App* rules = app.get_subcommand("rules");
  auto* cmd = rules->add_subcommand("publish", "Publish calendars and rule sets into a data directory's log");
  auto args = std::make_shared<PublishArgs>();
  cmd->add_option("FILES", args->files, "Calendar and rule-set YAML files, in order (parents and calendars first)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--data", args->data, "Data directory (the server must be stopped: the log is locked)")->required();
  cmd->add_option("--policy", args->policy,
                  "What it does to appeals in flight: keep, reevaluate, stricter, provisional (calendars: only the "
                  "deadlines computed on a provisional year)")
      ->capture_default_str();
  cmd->footer(
      "Example: otinish rules publish --data /var/lib/otinish examples/calendars/kz.yaml \\\n"
      "           examples/calendars/shymkent.yaml examples/calendars/round-the-clock.yaml examples/rules/city.yaml\n"
      "A file whose content hash equals the one in force is left alone ('unchanged'). The SLA service applies the\n"
      "policy when the server next starts. While the server runs, use PUT /v1/calendars/{name} and PUT /v1/rules.\n"
      "Exit 1 naming file:line:column when a file is invalid (files before it stay published), 2 on bad arguments.");
  cmd->callback([args, &ctx] { run_publish(*args, ctx); });
}

void add_calendar_publish_command(CLI::App& calendar, Context& ctx) {
  auto* cmd = calendar.add_subcommand("publish", "Publish a calendar, or a new version with the year's inputs");
  auto args = std::make_shared<PublishArgs>();
  args->policy = "provisional";
  args->command = "otinish calendar publish";
  args->calendars_only = true;
  cmd->add_option("FILES", args->files, "Calendar YAML files, parents first")->required()->check(CLI::ExistingFile);
  cmd->add_option("--data", args->data, "Data directory (the server must be stopped: the log is locked)")->required();
  cmd->add_option("--policy", args->policy,
                  "What it does to appeals in flight: provisional (re-decide only the deadlines computed on a "
                  "provisional year that the new version decides otherwise), keep, reevaluate, stricter")
      ->capture_default_str();
  cmd->footer(
      "Each year, when the year's yearly inputs (Kurban Ait, the transfer decree) are published, add them to the\n"
      "calendar file as an amendment with its publication date (docs/calendars.md, \"Every year\") and publish it:\n"
      "Example: otinish calendar publish --data /var/lib/otinish examples/calendars/kz.yaml\n"
      "Every open appeal whose deadline was provisional for that year is re-decided (SlaRebound with the old and\n"
      "new deadline). While the server runs, use PUT /v1/calendars/{name} (same default policy).\n"
      "Exit 1 naming file:line:column when a file is invalid, 2 if a file is not a calendar or on bad arguments.");
  cmd->callback([args, &ctx] { run_publish(*args, ctx); });
}

}  // namespace otinish::cli
