// `otinish serve --config FILE`: every flag is a key, the command line wins, every finding at line:column, and
// the complete example (examples/config/otinish.yaml) names every flag with a value the flag accepts.
#include "api/cli/config_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "tests/api/cli_runner.h"
#include "tests/api/test_node.h"

namespace otinish::api::testing {
namespace {

std::string write_file(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

std::string all(const std::vector<rules::Diagnostic>& findings) {
  std::string s;
  for (const auto& d : findings) s += rules::format_diagnostic(d) + "\n";
  return s;
}

// A command with the kinds of flags `serve` has: a value, a number with a range, a list, an on/off flag.
struct Command {
  CLI::App app{"test"};
  std::string listen = "127.0.0.1:8109";
  int window = 60;
  std::vector<std::string> calendars;
  bool no_views = false;
  std::string config;
  Command() {
    app.add_option("--config", config);
    app.add_option("--listen", listen);
    app.add_option("--auth-failure-window", window)->check(CLI::Range(1, 86'400));
    app.add_option("--calendar", calendars);
    app.add_flag("--no-views", no_views);
  }
};

TEST(ConfigFileTest, SetsEveryKindOfFlagAndTheCommandLineWins) {
  const std::string dir = make_temp_dir();
  const std::string file = write_file(dir, "serve.yaml",
                                      "listen: 0.0.0.0:80\n"
                                      "auth-failure-window: 120\n"
                                      "calendar: [kz.yaml, shymkent.yaml]\n"
                                      "no-views: true\n");
  Command c;
  c.app.parse(std::string("--listen 127.0.0.1:9000"), false);
  const auto findings = cli::apply_config_file(c.app, file);
  EXPECT_TRUE(findings.empty()) << all(findings);
  EXPECT_EQ(c.listen, "127.0.0.1:9000") << "the command line must win over the file";
  EXPECT_EQ(c.window, 120);
  EXPECT_EQ(c.calendars, (std::vector<std::string>{"kz.yaml", "shymkent.yaml"}));
  EXPECT_TRUE(c.no_views);

  // One value where a list is accepted, and false for a flag.
  const std::string one = write_file(dir, "one.yaml", "calendar: kz.yaml\nno-views: false\n");
  Command d;
  d.app.parse(std::string(""), false);
  EXPECT_TRUE(cli::apply_config_file(d.app, one).empty());
  EXPECT_EQ(d.calendars, (std::vector<std::string>{"kz.yaml"}));
  EXPECT_FALSE(d.no_views);
}

TEST(ConfigFileTest, EveryFindingIsReportedAtItsLineAndColumn) {
  const std::string dir = make_temp_dir();
  const std::string file = write_file(dir, "bad.yaml",
                                      "# a comment\n"
                                      "lisen: 0.0.0.0:80\n"
                                      "auth-failure-window: 0\n"
                                      "no-views: maybe\n"
                                      "listen: [a, b]\n"
                                      "calendar: kz.yaml\n"
                                      "calendar: shymkent.yaml\n"
                                      "config: other.yaml\n");
  Command c;
  c.app.parse(std::string(""), false);
  const std::string text = all(cli::apply_config_file(c.app, file));
  EXPECT_NE(text.find(file + ":2:1: error: unknown key 'lisen'"), std::string::npos) << text;
  EXPECT_NE(text.find("did you mean 'listen'?"), std::string::npos) << text;
  EXPECT_NE(text.find(file + ":3:22: error: --auth-failure-window: "), std::string::npos) << text;
  EXPECT_NE(text.find(file + ":4:11: error: --no-views must be true or false"), std::string::npos) << text;
  EXPECT_NE(text.find(file + ":5:9: error: --listen takes one value, not a list"), std::string::npos) << text;
  EXPECT_NE(text.find(file + ":7:1: error: key 'calendar' is given twice (first at line 6)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(file + ":8:1: error: unknown key 'config'"), std::string::npos)
      << "the option naming the file is not a key of it: " << text;
  EXPECT_EQ(c.window, 60) << "a refused value leaves the flag as it was";

  const std::string broken = write_file(dir, "broken.yaml", "listen: 127.0.0.1:1\ncalendar: [kz.yaml\n");
  Command d;
  d.app.parse(std::string(""), false);
  const std::string syntax = all(cli::apply_config_file(d.app, broken));
  EXPECT_NE(syntax.find(broken + ":"), std::string::npos) << syntax;
  EXPECT_NE(syntax.find("error"), std::string::npos) << syntax;

  Command e;
  e.app.parse(std::string(""), false);
  const std::string missing = all(cli::apply_config_file(e.app, dir + "/absent.yaml"));
  EXPECT_NE(missing.find("cannot read the configuration file"), std::string::npos) << missing;
}

TEST(ConfigFileTest, ServeStopsBeforeStartingOnABadFile) {
  const std::string dir = make_temp_dir();
  const std::string file = write_file(dir, "otinish.yaml", "data: " + dir + "/data\nworkers: many\n");
  const CliResult r = run_cli({"serve", "--config", file, "--plain-personal-data"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(file + ":2:10: error: --workers: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing was started"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/data")) << "the data directory was created before the check";
}

// The complete example is complete: every flag of `serve` is in it (set or commented with a value), and with
// every commented key switched on, the real `serve` command accepts the whole file.
TEST(ConfigFileTest, TheExampleNamesEveryFlagOfServeWithAValueItAccepts) {
  const std::string example = source_dir() + "/examples/config/otinish.yaml";
  std::ifstream in(example);
  ASSERT_TRUE(in) << example;
  std::string uncommented, line;
  std::set<std::string> keys;
  const std::regex key_line(R"(^(# )?([a-z0-9-]+): .*)");
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, key_line)) {
      keys.insert(m[2]);
      line = line.substr(m[1].length());
    }
    uncommented += line + "\n";
  }
  std::ostringstream out, err;
  cli::Context ctx{out, err};
  CLI::App app{"otinish"};
  cli::add_all_commands(app, ctx);
  // Not parsed: the file is applied to serve's options as after an empty command line, and nothing starts.
  CLI::App* serve = app.get_subcommand("serve");
  std::size_t flags = 0;
  for (const CLI::Option* o : serve->get_options()) {
    for (const std::string& name : o->get_lnames()) {
      if (name == "help" || name == "config") continue;
      ++flags;
      EXPECT_TRUE(keys.contains(name)) << "examples/config/otinish.yaml does not name --" << name;
    }
  }
  EXPECT_GE(flags, 20u);
  const std::string dir = make_temp_dir();
  const auto findings = cli::apply_config_file(*serve, write_file(dir, "all.yaml", uncommented));
  EXPECT_TRUE(findings.empty()) << all(findings);
}

}  // namespace
}  // namespace otinish::api::testing
