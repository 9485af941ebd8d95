// The `otinish` command line. Areas register their subcommands through api/cli/commands.h.
#include <iostream>

#include <CLI/CLI.hpp>

#include "api/cli/commands.h"

namespace {
constexpr otinish::cli::AddCommands kAreas[] = {
    otinish::cli::add_rules_commands,
    otinish::cli::add_simulate_commands,  // adds to `rules`
    otinish::cli::add_publish_commands,   // adds to `rules`
    otinish::cli::add_serve_commands,
    otinish::cli::add_token_commands,
    otinish::cli::add_log_commands,
    otinish::cli::add_describe_commands,
    otinish::cli::add_projection_commands,
    otinish::cli::add_load_commands,
};
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"otinish: workflow and SLA rules engine for city appeal centres (109 lines)", "otinish"};
  app.require_subcommand(1);
  app.footer("Example: otinish rules check examples/rules/city.yaml");
  otinish::cli::Context ctx{std::cout, std::cerr};
  for (auto add : kAreas) add(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return ctx.exit_code;
}
