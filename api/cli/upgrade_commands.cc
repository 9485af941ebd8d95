// `otinish upgrade`: a data directory written by an older otinish, moved to this build's formats explicitly.
#include <iomanip>
#include <memory>
#include <string>

#include "api/cli/commands.h"
#include "api/cli/data_dir.h"
#include "store/upgrade.h"

namespace otinish::cli {

namespace {

void upgrade(const std::string& data, Context& ctx) {
  auto r = store::upgrade_log(log_dir(data), [&](std::uint64_t events) {
    ctx.err << "  " << events << " events copied\n";
  });
  if (!r.ok()) {
    ctx.err << "otinish upgrade: " << r.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  if (r->already_current) {
    ctx.out << log_dir(data) << " is of log format " << store::kLogFormat << ", this build's: nothing to upgrade\n";
  } else if (r->finished_interrupted) {
    ctx.out << "finished an upgrade a crash had interrupted after the new log verified: " << log_dir(data)
            << " is of log format " << r->from_format << "; the old log is kept at " << r->kept_at << "\n";
  } else {
    ctx.out << "upgraded " << log_dir(data) << " from log format " << r->from_format << " to " << r->to_format << ": "
            << r->events << " events of " << r->streams << " streams, " << r->runs << " stream index entries; "
            << "chain and indexes verified, in " << std::fixed << std::setprecision(2) << r->seconds << " s.\n"
            << "The old log is kept at " << r->kept_at << ": delete it once the server runs on the new one.\n";
  }
}

}  // namespace

void add_upgrade_commands(CLI::App& app, Context& ctx) {
  auto data = std::make_shared<std::string>(".");
  CLI::App* cmd = app.add_subcommand("upgrade", "Move a data directory written by an older otinish to this build's format");
  cmd->add_option("--data", *data, "The data directory (its server stopped)")->capture_default_str();
  cmd->footer(
      "Example: otinish upgrade --data /var/lib/otinish\n"
      "Writes the log anew in this build's format beside the old one (DIR/log.upgrading), verifies it (chain and\n"
      "indexes), then swaps: the old log is kept as DIR/log.format1 until you delete it. Run it again after a\n"
      "crash: it finishes or redoes the work. A log of a newer format is refused: upgrade otinish instead.\n"
      "Exit 0 upgraded or already current, 1 refused or failed (the old log is untouched), 2 usage.");
  cmd->callback([data, &ctx] { upgrade(*data, ctx); });
}

}  // namespace otinish::cli
