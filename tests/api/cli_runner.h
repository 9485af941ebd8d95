// tests/api/cli_runner.h: the real `otinish` command line run in-process, with its exit code and output.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "api/cli/commands.h"

namespace otinish::api::testing {

struct CliResult {
  int exit_code = 0;
  std::string out, err;
};

// Runs `otinish args...` (every command of add_all_commands); a usage error is exit 2, as in main.cc.
inline CliResult run_cli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  cli::Context ctx{out, err};
  CLI::App app{"otinish"};
  app.require_subcommand(1);
  cli::add_all_commands(app, ctx);
  std::vector<const char*> argv{"otinish"};
  for (const auto& a : args) argv.push_back(a.c_str());
  int code = 0;
  try {
    app.parse(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
    code = ctx.exit_code;
  } catch (const CLI::ParseError& e) {
    code = app.exit(e, out, err) == 0 ? 0 : 2;
  }
  return {code, out.str(), err.str()};
}

}  // namespace otinish::api::testing
