// The `otinish` command line. Areas register their subcommands through api/cli/commands.h.
#include <iostream>

#include <CLI/CLI.hpp>

#include "api/cli/commands.h"
#include "common/version.h"

int main(int argc, char** argv) {
  CLI::App app{"otinish: workflow and SLA rules engine for city appeal centres (109 lines)", "otinish"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("otinish ") + otinish::kVersionString);
  otinish::cli::Context ctx{std::cout, std::cerr};
  otinish::cli::add_all_commands(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return ctx.exit_code;
}
