// `otinish rules ...`: check rule and calendar files, compute deadlines, show a calendar's year.
#include <fstream>
#include <sstream>

#include <date/date.h>
#include <yaml-cpp/yaml.h>

#include "api/cli/commands.h"
#include "common/hash.h"
#include "common/time.h"
#include "rules/rules.h"

namespace otinish::cli {

namespace {

using namespace otinish::rules;

bool is_calendar_file(const std::string& path) {
  try {
    const YAML::Node root = YAML::LoadFile(path);
    return root.IsMap() && root["calendar"];
  } catch (const std::exception&) {
    return false;  // the real parser reports the problem
  }
}

std::optional<date::sys_days> parse_day(const std::string& text, const char* option = "--as-of") {
  if (text.empty()) return std::nullopt;
  std::istringstream in(text);
  date::sys_days d;
  in >> date::parse("%F", d);
  if (in.fail()) throw CLI::ValidationError(option, "'" + text + "' is not a date (YYYY-MM-DD)");
  return d;
}

// Today's local date for the provisional-year warning: --today, else the system clock's UTC day.
date::sys_days today_or_now(const std::optional<date::sys_days>& today) {
  if (today) return *today;
  return date::floor<date::days>(SystemClock::instance().now());
}

// Checks one file; returns its diagnostics (errors and lint findings) and a summary line when valid.
std::vector<Diagnostic> check_file(const std::string& path, date::sys_days today, std::string* summary) {
  std::vector<Diagnostic> diags;
  CalendarLibrary calendars;
  if (is_calendar_file(path)) {
    if (!calendars.load_file(path, &diags)) return diags;
    for (const std::string& name : calendars.names()) {
      const bool own = calendars.find(name)->where.file == path;
      // Every version is checked (base and each amendment), and warnings are given for this file's calendar
      // only (a parent loaded from beside it is checked when it is named itself).
      for (Diagnostic& d : calendars.validate(name, today)) {
        if (own || d.severity == Severity::kError) diags.push_back(std::move(d));
      }
      Result<Calendar> c = calendars.compile(name);
      if (c.ok() && own) {
        *summary = path + ": calendar " + name + " version " + c->version() + ", hash " + to_hex(c->content_hash());
        if (auto p = c->first_provisional_day()) {
          *summary += ", provisional from " + date::format("%F", *p) + ", counts to " + date::format("%F", c->last_day());
        }
      }
    }
    return diags;
  }
  std::optional<RuleSet> rs = load_rule_set_file(path, &calendars, &diags);
  if (!rs) return diags;
  Result<CalendarSet> compiled = compile_calendars(*rs, calendars);
  if (!compiled.ok()) {
    diags.push_back({Severity::kError, {path, 0, 0}, "calendar", compiled.status().message()});
    return diags;
  }
  for (Diagnostic& d : lint(*rs, &*compiled)) diags.push_back(std::move(d));
  *summary = path + ": rule set " + rs->name + ", " + std::to_string(rs->rules.size()) + " rules, hash " +
             to_hex(rs->content_hash);
  return diags;
}

// Checks `files`, printing every finding and a summary line per valid file. With `calendars_only`, a file that
// is not a calendar is a usage error (exit 2) and nothing is checked.
void run_check(const std::vector<std::string>& files, bool calendars_only, std::optional<date::sys_days> today,
               Context& ctx) {
  if (calendars_only) {
    for (const std::string& path : files) {
      if (!is_calendar_file(path)) {
        ctx.err << "otinish calendar check: " << path << " is not a calendar (no top-level 'calendar:' key); "
                << "check rule sets with `otinish rules check`\n";
        ctx.exit_code = 2;
        return;
      }
    }
  }
  std::size_t errors = 0, warnings = 0;
  for (const std::string& path : files) {
    std::string summary;
    std::vector<Diagnostic> diags = check_file(path, today_or_now(today), &summary);
    sort_diagnostics(diags);
    for (const Diagnostic& d : diags) {
      (d.severity == Severity::kError ? errors : warnings)++;
      ctx.out << format_diagnostic(d) << "\n";
    }
    if (!has_errors(diags) && !summary.empty()) ctx.out << summary << "\n";
  }
  ctx.out << errors << " error(s), " << warnings << " warning(s)\n";
  ctx.exit_code = errors > 0 ? 1 : 0;
}

void add_check(CLI::App& rules, Context& ctx) {
  auto* cmd = rules.add_subcommand("check", "Validate and lint SLA rule sets and calendars");
  auto files = std::make_shared<std::vector<std::string>>();
  cmd->add_option("FILE", *files, "Rule set or calendar YAML files")->required()->check(CLI::ExistingFile);
  cmd->footer(
      "Prints every error and lint finding as file:line:column, then one summary line per valid file with its\n"
      "content hash. Exit code 1 if any file has errors (warnings alone exit 0), 2 on bad arguments.\n"
      "Example: otinish rules check examples/rules/city.yaml examples/calendars/kz.yaml");
  auto today = std::make_shared<std::string>();
  cmd->add_option("--today", *today, "The date the provisional-year warning counts from (YYYY-MM-DD); default today");
  cmd->callback([files, today, &ctx] { run_check(*files, false, parse_day(*today, "--today"), ctx); });
}

// Loads the calendar file and compiles the calendar it defines.
Result<Calendar> load_calendar(const std::string& path, const std::string& as_of, Context& ctx) {
  CalendarLibrary lib;
  std::vector<Diagnostic> diags;
  if (!lib.load_file(path, &diags)) {
    for (const Diagnostic& d : diags) ctx.err << format_diagnostic(d) << "\n";
    return Status::InvalidArgument("cannot load " + path);
  }
  std::string name;
  for (const std::string& n : lib.names()) {
    if (lib.find(n)->where.file == path) name = n;
  }
  return lib.compile(name, parse_day(as_of));
}

void add_deadline(CLI::App& rules, Context& ctx) {
  auto* cmd = rules.add_subcommand("deadline", "Compute a deadline: start + target on a calendar");
  struct Args {
    std::string calendar, start, target, as_of;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--calendar", args->calendar, "Calendar YAML file (parents are loaded from beside it)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--start", args->start, "Start instant, UTC or with an offset: 2026-08-20T10:00:00+05:00")->required();
  cmd->add_option("--target", args->target, "Target: 2m, 4h, 2d, 90bm, 16bh, 15wd or 2mo")->required();
  cmd->add_option("--as-of", args->as_of, "Use the calendar version published on this date (YYYY-MM-DD); default latest");
  cmd->footer(
      "Example: otinish rules deadline --calendar examples/calendars/kz.yaml \\\n"
      "           --start 2026-08-20T10:00:00+05:00 --target 15wd --as-of 2026-01-01\n"
      "  -> deadline 2026-09-11T13:00:00.000000Z (2026-09-11T18:00:00+05:00), calendar kz@2025-12\n"
      "A deadline computed across a provisional year (its yearly inputs not published) is followed by a line\n"
      "'provisional: kz 2027 is provisional: kurban_ait, transfer_decree not published; ...'.\n"
      "Exit 1 if the calendar cannot be loaded or the deadline is past its horizon, 2 on bad arguments.");
  cmd->callback([args, &ctx] {
    Timestamp start;
    if (!parse_utc(args->start, &start)) {
      ctx.err << "error: --start '" << args->start << "' is not an instant; write 2026-08-20T05:00:00Z or "
              << "2026-08-20T10:00:00+05:00\n";
      ctx.exit_code = 2;
      return;
    }
    Result<Target> target = parse_target(args->target);
    if (!target.ok()) {
      ctx.err << "error: --target: " << target.status().message() << "\n";
      ctx.exit_code = 2;
      return;
    }
    Result<Calendar> cal = load_calendar(args->calendar, args->as_of, ctx);
    Result<Timestamp> due = cal.ok() ? cal->add(start, *target) : Result<Timestamp>(cal.status());
    if (!due.ok()) {
      ctx.err << "error: " << due.status().message() << "\n";
      ctx.exit_code = 1;
      return;
    }
    ctx.out << "deadline " << format_utc(*due) << " (" << cal->format_local(*due) << "), calendar " << cal->version()
            << "\n";
    // Wall time and months do not depend on days off; working time across a provisional year does.
    const Measure m = target->measure();
    const std::string note =
        m == Measure::kBusiness || m == Measure::kWorkingDays ? cal->provisional_note(start, *due) : std::string();
    if (!note.empty()) {
      ctx.out << "provisional: " << note << "; computed on the statutory base, it moves when the year's inputs "
              << "are published\n";
    }
  });
}

void add_calendar(CLI::App& rules, Context& ctx) {
  auto* cmd = rules.add_subcommand("calendar", "Show a calendar's days off and working-day total for a year");
  auto path = std::make_shared<std::string>();
  auto as_of = std::make_shared<std::string>();
  auto year = std::make_shared<int>(2026);
  cmd->add_option("--calendar", *path, "Calendar YAML file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--year", *year, "Year")->required();
  cmd->add_option("--as-of", *as_of, "Use the version published on this date (YYYY-MM-DD); default latest");
  cmd->footer("Example: otinish rules calendar --calendar examples/calendars/kz.yaml --year 2026 --as-of 2026-01-01\n"
              "  -> lists the weekday days off and '2026: 246 working days'\n"
              "Exit 1 if the calendar cannot be loaded or does not cover the year, 2 on bad arguments.");
  cmd->callback([=, &ctx] {
    Result<Calendar> cal = load_calendar(*path, *as_of, ctx);
    if (!cal.ok()) {
      ctx.err << "error: " << cal.status().message() << "\n";
      ctx.exit_code = 1;
      return;
    }
    for (auto d = date::sys_days(date::year{*year} / 1 / 1); d < date::sys_days(date::year{*year + 1} / 1 / 1);
         d += date::days(1)) {
      Result<DayInfo> info = cal->day(date::year_month_day(d));
      if (!info.ok()) {
        ctx.err << "error: " << info.status().message() << "\n";
        ctx.exit_code = 1;
        return;
      }
      if (date::year_month_day(d).day() == date::day{1} && date::year_month_day(d).month() == date::January &&
          info->provisional) {
        ctx.out << *year << " is provisional: computed on the statutory base (its yearly inputs are not published)\n";
      }
      if (!info->working && info->reason != "weekend") ctx.out << date::format("%F %a", d) << "  " << info->reason << "\n";
      if (info->working && date::weekday(d).iso_encoding() > 5) ctx.out << date::format("%F %a", d) << "  working: " << info->reason << "\n";
    }
    ctx.out << *year << ": " << cal->working_days_in_year(*year) << " working days, calendar " << cal->version() << "\n";
  });
}

}  // namespace

void add_rules_commands(CLI::App& app, Context& ctx) {
  auto* rules = app.add_subcommand("rules", "SLA rules and business calendars");
  rules->require_subcommand(1);
  rules->footer("Example: otinish rules check examples/rules/city.yaml\nExit 2 without a subcommand.");
  add_check(*rules, ctx);
  add_deadline(*rules, ctx);
  add_calendar(*rules, ctx);
}

void add_calendar_commands(CLI::App& app, Context& ctx) {
  auto* calendar = app.add_subcommand("calendar", "Business calendars");
  calendar->require_subcommand(1);
  calendar->footer("Example: otinish calendar check examples/calendars/kz.yaml\nExit 2 without a subcommand.");
  auto* cmd = calendar->add_subcommand("check", "Validate calendars (what `rules check` does for calendar files)");
  auto files = std::make_shared<std::vector<std::string>>();
  cmd->add_option("FILE", *files, "Calendar YAML files")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->footer(
      "Prints every error as file:line:column, then each valid calendar's version and content hash.\n"
      "Checks every version (the base and each amendment). Warns when the first provisional year (one whose yearly\n"
      "inputs, such as Kurban Ait and the transfer decree, are not published) begins in fewer than 60 days.\n"
      "Example: otinish calendar check examples/calendars/kz.yaml examples/calendars/shymkent.yaml\n"
      "Exit 1 if any file has errors (warnings alone exit 0), 2 if a file is not a calendar or on bad arguments.");
  auto today = std::make_shared<std::string>();
  cmd->add_option("--today", *today, "The date the provisional-year warning counts from (YYYY-MM-DD); default today");
  cmd->callback([files, today, &ctx] { run_check(*files, true, parse_day(*today, "--today"), ctx); });
  add_calendar_publish_command(*calendar, ctx);
}

}  // namespace otinish::cli
