// `otinish describe lifecycle` and `otinish projections rebuild`.
#include <iostream>
#include <string>

#include <unistd.h>

#include "api/cli/commands.h"
#include "api/cli/data_dir.h"
#include "common/progress_bar.h"
#include "engine/lifecycle.h"
#include "engine/projection.h"
#include "engine/views.h"
#include "store/rocks_store.h"

namespace otinish::cli {

void add_describe_commands(CLI::App& app, Context& ctx) {
  auto mermaid = std::make_shared<bool>(false);
  CLI::App* describe = app.add_subcommand("describe", "Describe the appeal lifecycle (read from its one table)");
  describe->require_subcommand(1);
  describe->footer("Example: otinish describe lifecycle\nExit 2 without a subcommand.");
  CLI::App* lc = describe->add_subcommand("lifecycle", "The lifecycle transition table");
  lc->add_flag("--mermaid", *mermaid, "Print a Mermaid stateDiagram-v2 instead of text");
  lc->footer("Example: otinish describe lifecycle --mermaid > lifecycle.mmd\nExit 0.");
  lc->callback([mermaid, &ctx] {
    ctx.out << (*mermaid ? engine::lifecycle_mermaid() : engine::describe_lifecycle_text());
  });
}

void add_projection_commands(CLI::App& app, Context& ctx) {
  struct Args {
    std::string data = ".";
    std::string name;
  };
  auto args = std::make_shared<Args>();
  CLI::App* p = app.add_subcommand("projections", "Maintain the projections (views) of a data directory");
  p->require_subcommand(1);
  p->footer("Example: otinish projections rebuild --data /var/lib/otinish timeline\nExit 2 without a subcommand.");
  CLI::App* rb = p->add_subcommand("rebuild", "Rebuild one projection from position 0 (offline)");
  rb->add_option("--data", args->data, "Data directory")->capture_default_str();
  rb->add_option("name", args->name, "appeals, timeline, public, scorecards or repeats")->required();
  rb->footer("Example: otinish projections rebuild --data /var/lib/otinish appeals\n"
             "While the server runs, use POST /v1/projections/{name}/rebuild instead.\n"
             "Exit 1 if the data directory cannot be opened or the rebuild fails, 2 for an unknown projection name.");
  rb->callback([args, &ctx] {
    auto store = store::open_rocks_store(log_dir(args->data), {.create_if_missing = false});
    if (!store.ok()) {
      ctx.err << "otinish projections rebuild: " << store.status().ToString() << "\n";
      ctx.exit_code = 1;
      return;
    }
    auto runner = engine::ProjectionRunner::open(**store, views_dir(args->data), engine::standard_projections());
    if (!runner.ok()) {
      ctx.err << "otinish projections rebuild: " << runner.status().ToString() << "\n";
      ctx.exit_code = 1;
      return;
    }
    const std::uint64_t head = (*store)->head_position();
    ctx.err << "rebuilding " << args->name << " over " << head << " events...\n";
    ProgressBar bar(ctx.err, &ctx.err == &std::cerr && isatty(STDERR_FILENO));
    auto report = (*runner)->rebuild(args->name, [&bar](std::uint64_t done, std::uint64_t total) {
      bar.update("rebuilding", done, total);
    });
    if (!report.ok()) {
      ctx.err << "otinish projections rebuild: " << report.status().ToString() << "\n";
      ctx.exit_code = report.status().code() == StatusCode::kNotFound ? 2 : 1;
      return;
    }
    ctx.out << "rebuilt " << args->name << ": " << report->events << " events in " << report->seconds << " s ("
            << static_cast<std::uint64_t>(report->events_per_second()) << " events/s), generation "
            << report->generation << "\n";
  });
}

}  // namespace otinish::cli
