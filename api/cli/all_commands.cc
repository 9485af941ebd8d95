// The table of the command line's areas (api/cli/commands.h): adding an area is a new file plus one line here.
#include "api/cli/commands.h"

namespace otinish::cli {

void add_all_commands(CLI::App& app, Context& ctx) {
  constexpr AddCommands kAreas[] = {
      add_rules_commands,
      add_simulate_commands,  // adds to `rules`
      add_publish_commands,   // adds to `rules`
      add_calendar_commands,
      add_serve_commands,
      add_token_commands,
      add_log_commands,
      add_describe_commands,
      add_projection_commands,
      add_load_commands,
      add_privacy_commands,
      add_proof_commands,
      add_backup_commands,
      add_upgrade_commands,
  };
  app.footer("Example: otinish rules check examples/rules/city.yaml\n"
             "Every command's --help has an example and its exit codes: 0 ok, 1 findings or failure, 2 usage,\n"
             "3 the key-encryption key is missing, unreadable or not the one in use.");
  for (AddCommands add : kAreas) add(app, ctx);
}

}  // namespace otinish::cli
