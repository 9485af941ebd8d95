// api/cli/commands.h: how the `otinish` command line is put together.
//
// Each area of the command line (rules, later serve, verify, ...) lives in its own file, api/cli/<area>_commands.cc,
// and exposes one function that adds its subcommands to the root CLI11 app. main.cc lists those functions in one
// table; adding an area is a new file plus one line there. Every subcommand has --help with an example (set it with
// `footer`). A subcommand's callback writes to ctx.out / ctx.err and sets ctx.exit_code (0 ok, 1 findings or
// failure, 2 usage), so areas can be tested without a process.
#pragma once

#include <ostream>

#include <CLI/CLI.hpp>

namespace otinish::cli {

struct Context {
  std::ostream& out;
  std::ostream& err;
  int exit_code = 0;
};

// Adds one area's subcommands to `app`. REQUIRES: ctx outlives app.run.
using AddCommands = void (*)(CLI::App& app, Context& ctx);

// `otinish rules check|deadline|calendar`: api/cli/rules_commands.cc.
void add_rules_commands(CLI::App& app, Context& ctx);

}  // namespace otinish::cli
