// The command line: token, verify, export/import, replay, describe, run in-process on real data directories.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <fstream>
#include <sstream>
#include <thread>

#include <rocksdb/db.h>

#include "api/cli/commands.h"
#include "common/hash.h"
#include "tests/api/cli_runner.h"
#include "tests/api/test_node.h"
#include "tests/store/format1_log.h"

namespace otinish::api::testing {
namespace {

CliResult run(std::vector<std::string> args) { return run_cli(args); }

// Every command and command group of the real command line (the table main.cc uses): its --help has an example
// and says how it exits, so a script knows what to rely on.
void expect_documented(const CLI::App& app, const std::string& path) {
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    const std::string name = path + " " + sub->get_name();
    const std::string footer = sub->get_footer();
    EXPECT_NE(footer.find("Example: otinish" + name), std::string::npos) << name << ": no example in --help";
    std::string lower = footer;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_NE(lower.find("exit"), std::string::npos) << name << ": --help does not say how it exits";
    expect_documented(*sub, name);
  }
}

TEST(CliTest, EveryCommandsHelpHasAnExampleAndItsExitCodes) {
  std::ostringstream out, err;
  cli::Context ctx{out, err};
  CLI::App app{"otinish"};
  cli::add_all_commands(app, ctx);
  std::size_t commands = 0;
  std::function<void(const CLI::App&)> count = [&](const CLI::App& a) {
    for (const CLI::App* sub : a.get_subcommands([](const CLI::App*) { return true; })) {
      ++commands;
      count(*sub);
    }
  };
  count(app);
  EXPECT_GE(commands, 20u) << "the walk found too few commands to mean anything";
  expect_documented(app, "");
}

// The allocator's trim interval: 0 turns it off, a negative one is a usage error before anything starts.
TEST(CliTest, ServeRefusesANegativeMallocTrimInterval) {
  const std::string dir = make_temp_dir();
  CliResult r = run({"serve", "--data", dir, "--plain-personal-data", "--malloc-trim-every", "-1",
                     "--listen", "127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("--malloc-trim-every must be 0 (off) or a positive number of seconds"), std::string::npos)
      << r.err;
}

TEST(CliTest, CalendarCheckNamesTheLineAndColumnOfAnErrorAndRefusesARuleSet) {
  const std::string dir = make_temp_dir();
  const std::string broken = dir + "/broken.yaml";
  std::ofstream(broken) << "calendar: broken\nversion: \"1\"\npublished: 2026-01-01\ntime_zone: Asia/Almaty\n"
                           "years: {from: 2026, to: 2026}\nweek:\n  mon: \"25:00-18:00\"\n";
  CliResult r = run({"calendar", "check", broken});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("broken.yaml:7:"), std::string::npos) << r.out;
  r = run({"calendar", "check", source_dir() + "/examples/calendars/kz.yaml",
           source_dir() + "/examples/calendars/shymkent.yaml"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("calendar shymkent version"), std::string::npos) << r.out;
  r = run({"calendar", "check", source_dir() + "/examples/rules/city.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is not a calendar"), std::string::npos) << r.err;
}

// A data directory with a few appeals, its server stopped (the log is unlocked).
std::string populated_dir(int appeals) {
  TestNode node;
  node.keep_dir();
  for (int i = 0; i < appeals; ++i) node.assigned_appeal();
  return node.dir();
}

TEST(CliTest, RulesPublishPublishesChangedFilesOnlyAndTheServerServesThem) {
  const std::string dir = populated_dir(2);
  std::vector<std::string> args{"rules", "publish", "--data", dir};
  for (const char* f : {"calendars/kz.yaml", "calendars/shymkent.yaml", "calendars/round-the-clock.yaml",
                        "rules/city.yaml"}) {
    args.push_back(source_dir() + "/examples/" + f);
  }
  CliResult first = run(args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("city.yaml: rule set published, policy keep"), std::string::npos) << first.out;
  CliResult again = run(args);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out.find("published"), std::string::npos) << "same content: nothing republished\n" << again.out;
  CliResult sim = run({"rules", "simulate", source_dir() + "/examples/rules/city.yaml", "--data", dir, "--quiet"});
  EXPECT_EQ(sim.exit_code, 0) << sim.err;
  EXPECT_NE(sim.out.find("retention as of "), std::string::npos) << sim.out;
  EXPECT_NE(sim.out.find("retention.complaints-and-proposals (keep 60mo after closure"), std::string::npos) << sim.out;
  EXPECT_EQ(run({"rules", "publish", "--data", dir, "--policy", "sometimes", args.back()}).exit_code, 2);
  TestNode node(dir);
  ClientResponse r = node.as(Role::kAuditor, "GET", "/v1/rules");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("etag"), "\"1\"");
}

TEST(CliTest, TokenCreatePrintsATokenTheServerAccepts) {
  TestNode node;
  CliResult r = run({"token", "create", "--data", node.dir(), "--role", "auditor", "--label", "audit office"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string token = r.out.substr(0, r.out.find('\n'));
  EXPECT_EQ(node.call("GET", "/v1/events", "", {{"Authorization", "Bearer " + token}}).status, 200);
  const std::string id = token.substr(4, 16);
  ASSERT_EQ(run({"token", "revoke", "--data", node.dir(), id}).exit_code, 0);
  EXPECT_EQ(node.call("GET", "/v1/events", "", {{"Authorization", "Bearer " + token}}).status, 401);
  EXPECT_EQ(run({"token", "revoke", "--data", node.dir(), id}).exit_code, 1) << "already revoked";
  EXPECT_EQ(run({"token", "list", "--data", node.dir()}).out.find(token.substr(21)), std::string::npos)
      << "the list never shows secrets";
  // Only a hash is stored: neither the token nor its secret part is anywhere in the data directory's token file.
  std::ifstream in(node.dir() + "/tokens.jsonl");
  std::stringstream stored;
  stored << in.rdbuf();
  ASSERT_NE(stored.str().find(id), std::string::npos) << "expected the token file at DIR/tokens.jsonl";
  EXPECT_EQ(stored.str().find(token.substr(21)), std::string::npos) << "the secret is stored in clear";
  EXPECT_NE(stored.str().find(to_hex(blake2b_256(token))), std::string::npos) << "its BLAKE2b-256 hash is what is kept";
}

TEST(CliTest, TokenCreateRefusesBadRolesAndAgencies) {
  const std::string dir = make_temp_dir();
  EXPECT_EQ(run({"token", "create", "--data", dir, "--role", "king"}).exit_code, 2);
  EXPECT_EQ(run({"token", "create", "--data", dir, "--role", "agency"}).exit_code, 2);
  EXPECT_EQ(run({"token", "create", "--data", dir, "--role", "operator", "--agency", "x"}).exit_code, 2);
  std::filesystem::remove_all(dir);
}

TEST(CliTest, ExportThenImportRebuildsTheSameChainAndVerifies) {
  const std::string dir = populated_dir(3);
  const std::string file = dir + "/export.jsonl";
  CliResult ex = run({"export", "--data", dir, "--out", file});
  ASSERT_EQ(ex.exit_code, 0) << ex.err;
  const std::string copy = make_temp_dir();
  CliResult im = run({"import", "--data", copy, file});
  ASSERT_EQ(im.exit_code, 0) << im.err;
  CliResult v1 = run({"verify", "--data", dir}), v2 = run({"verify", "--data", copy});
  EXPECT_EQ(v1.exit_code, 0) << v1.out << v1.err;
  EXPECT_EQ(v2.exit_code, 0);
  EXPECT_EQ(v1.out, v2.out) << "same events and head hash";
  EXPECT_EQ(run({"import", "--data", copy, file}).exit_code, 1) << "the target must be empty";
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(copy);
}

// An export written by the format-1 build (the log format that kept a `heads` column family and one `streams`
// entry per event) imports into this build: the export's lines are envelopes, which did not change, and the import
// rebuilds every index. The file was written by this test's generator below, run with the format-1 build at
// commit 8249151 (`OTINISH_WRITE_EXPORT_GOLDEN=$PWD/tests/api/golden/export_format1.jsonl api_cli_test
// --gtest_filter='*Format1*'`): three appeals with the city rules, so that it holds the SLA service's multi-event
// appends.
TEST(CliTest, ImportsAnExportWrittenByTheFormat1Build) {
  if (const char* out = std::getenv("OTINISH_WRITE_EXPORT_GOLDEN")) {
    std::string dir;
    {
      TestNode node(make_temp_dir(), {}, {.city_rules = true});
      node.keep_dir();
      for (int i = 0; i < 3; ++i) node.register_appeal();
      ASSERT_TRUE(node.node().sla().wait_for(node.node().store().head_position(), std::chrono::seconds(10)));
      dir = node.dir();
    }
    ASSERT_EQ(run({"export", "--data", dir, "--out", out}).exit_code, 0);
    std::filesystem::remove_all(dir);
  }
  const std::string file = source_dir() + "/tests/api/golden/export_format1.jsonl";
  ASSERT_TRUE(std::filesystem::exists(file)) << file;
  std::ifstream in(file);
  std::string last, first_stream;
  std::size_t lines = 0;
  for (std::string l; std::getline(in, l); ++lines) {
    if (first_stream.empty()) first_stream = std::string(boost::json::parse(l).as_object().at("stream").as_string());
    last = l;
  }
  ASSERT_GT(lines, 10u);
  const std::string head(boost::json::parse(last).as_object().at("hash").as_string());
  const std::string copy = make_temp_dir();
  CliResult im = run({"import", "--data", copy, file});
  ASSERT_EQ(im.exit_code, 0) << im.err;
  EXPECT_NE(im.out.find(head.substr(0, 16)), std::string::npos) << "the import ends at the export's head hash\n"
                                                                << im.out;
  CliResult v = run({"verify", "--data", copy});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("ok, " + std::to_string(lines) + " events"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("indexes ok"), std::string::npos) << v.out;
  std::filesystem::remove_all(copy);
}

// With SLA rules the SLA service appends several events (SlaBound, SlaClockStarted, SlaDeadlineSet, ...) in one
// append under one idempotency key; import must append them together again, not one by one (the second would be
// refused: the key is taken).
// `otinish upgrade`: a data directory whose log is of format 1 is upgraded in place, the old log kept; the
// second run has nothing to do; the upgraded log verifies.
TEST(CliTest, UpgradeMovesAFormat1LogToFormat2AndKeepsTheOldOne) {
  const std::string data = make_temp_dir();
  store::testing::write_format1_log(data + "/log");
  CliResult refused = run({"verify", "--data", data});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("otinish upgrade --data DIR"), std::string::npos) << refused.err;
  CliResult up = run({"upgrade", "--data", data});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_NE(up.out.find("from log format 1 to 2"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find(data + "/log.format1"), std::string::npos) << up.out;
  CliResult again = run({"upgrade", "--data", data});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("nothing to upgrade"), std::string::npos) << again.out;
  CliResult verified = run({"verify", "--data", data});
  EXPECT_EQ(verified.exit_code, 0) << verified.err;
  store::testing::set_format_marker(data + "/log", "otinish-log/7");
  CliResult newer = run({"upgrade", "--data", data});
  EXPECT_EQ(newer.exit_code, 1);
  EXPECT_NE(newer.err.find("written by a newer otinish"), std::string::npos) << newer.err;
  std::error_code ec;
  std::filesystem::remove_all(data, ec);
}

TEST(CliTest, ExportThenImportKeepsMultiEventAppendsOfTheSlaService) {
  std::string dir;
  {
    TestNode node(make_temp_dir(), {}, {.city_rules = true});
    node.keep_dir();
    for (int i = 0; i < 2; ++i) node.register_appeal();
    ASSERT_TRUE(node.node().sla().wait_for(node.node().store().head_position(), std::chrono::seconds(10)))
        << "the SLA service decided every appeal within 10 s";
    dir = node.dir();
  }
  const std::string file = dir + "/export.jsonl";
  CliResult ex = run({"export", "--data", dir, "--out", file});
  ASSERT_EQ(ex.exit_code, 0) << ex.err;
  // The export holds an append of more than one event: consecutive lines, same stream, same "sla:" key.
  std::ifstream in(file);
  std::size_t longest = 0, run_length = 0;
  std::string prev_group;
  for (std::string l; std::getline(in, l);) {
    const boost::json::object e = boost::json::parse(l).as_object();
    const std::string key(e.at("idempotency_key").as_string());
    const std::string group = std::string(e.at("stream").as_string()) + "\n" + key;
    run_length = key.rfind("sla:", 0) == 0 && group == prev_group ? run_length + 1 : 1;
    longest = std::max(longest, run_length);
    prev_group = group;
  }
  ASSERT_GE(longest, 2u) << "no multi-event SLA append in the export: the test would not test anything";
  const std::string copy = make_temp_dir();
  CliResult im = run({"import", "--data", copy, file});
  ASSERT_EQ(im.exit_code, 0) << im.err;
  CliResult v1 = run({"verify", "--data", dir}), v2 = run({"verify", "--data", copy});
  EXPECT_EQ(v1.exit_code, 0) << v1.out << v1.err;
  EXPECT_EQ(v2.exit_code, 0) << v2.out << v2.err;
  EXPECT_EQ(v1.out, v2.out) << "same events and head hash";
  const std::string head = ex.err.substr(ex.err.find("head hash "));
  EXPECT_NE(im.out.find(head), std::string::npos) << "import reports the export's head hash\n" << ex.err << im.out;
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(copy);
}

TEST(CliTest, ImportRefusesAnAlteredExportNamingTheLine) {
  const std::string dir = populated_dir(1);
  const std::string file = dir + "/export.jsonl";
  ASSERT_EQ(run({"export", "--data", dir, "--out", file}).exit_code, 0);
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_GE(lines.size(), 3u);
  auto at = lines[2].find("\"correlation_id\":\"");
  ASSERT_NE(at, std::string::npos);
  lines[2].insert(at + 18, "X");  // a changed field: the hash no longer matches
  std::ofstream(file) << lines[0] << "\n" << lines[1] << "\n" << lines[2] << "\n";
  const std::string copy = make_temp_dir();
  CliResult im = run({"import", "--data", copy, file});
  EXPECT_EQ(im.exit_code, 1);
  EXPECT_NE(im.err.find("export.jsonl:3: hash does not match"), std::string::npos) << im.err;
  // Lines 1 and 2 were fine, but a failed import leaves nothing behind: no half log, no staging directory, and
  // the same directory takes the import once the file is right.
  EXPECT_FALSE(std::filesystem::exists(copy + "/log")) << "a partial log was left";
  EXPECT_FALSE(std::filesystem::exists(copy + "/log.importing"));
  ASSERT_EQ(run({"export", "--data", dir, "--out", file}).exit_code, 0);
  CliResult again = run({"import", "--data", copy, file});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(run({"verify", "--data", copy}).exit_code, 0);
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(copy);
}

// verify on a log whose stored event was altered: exit 1 naming the position (the byte-level tamper tests are in
// tests/store; this is what an auditor's script sees).
TEST(CliTest, VerifyExitsOneNamingTheFirstBadPosition) {
  const std::string dir = populated_dir(2);
  ASSERT_EQ(run({"verify", "--data", dir}).exit_code, 0);
  {
    rocksdb::DB* raw = nullptr;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::Options(), dir + "/log", &names).ok());
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir + "/log", cfs, &handles, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::ColumnFamilyHandle* log = nullptr;
    for (auto* h : handles) {
      if (h->GetName() == "log") log = h;
    }
    ASSERT_NE(log, nullptr);
    std::string key(8, '\0');
    key[7] = 3;  // position 3, big-endian
    std::string value;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), log, key, &value).ok());
    value[value.size() / 2] ^= 0x01;  // one bit inside the envelope
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), log, key, value).ok());
    for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  }
  CliResult v = run({"verify", "--data", dir});
  EXPECT_EQ(v.exit_code, 1) << v.out << v.err;
  EXPECT_NE((v.out + v.err).find("FAILED at position 3"), std::string::npos) << v.out << v.err;
  std::filesystem::remove_all(dir);
}

TEST(CliTest, ReplayPrintsTheTimelineAsOfATime) {
  const std::string dir = populated_dir(1);
  CliResult now = run({"replay", "--data", dir, "--appeal", "SHY-2026-0000001"});
  ASSERT_EQ(now.exit_code, 0) << now.err;
  EXPECT_NE(now.out.find("AppealAssigned"), std::string::npos);
  EXPECT_NE(now.out.find("\"stage\":\"assigned\""), std::string::npos);
  CliResult before = run({"replay", "--data", dir, "--appeal", "SHY-2026-0000001", "--as-of", "2000-01-01T00:00:00Z"});
  EXPECT_EQ(before.exit_code, 1) << "it did not exist in 2000";
  EXPECT_EQ(run({"replay", "--data", dir, "--appeal", "SHY-2026-0000001", "--as-of", "yesterday"}).exit_code, 2);
  std::filesystem::remove_all(dir);
}

TEST(CliTest, VerifyFailsOnADirectoryWithoutALog) {
  const std::string dir = make_temp_dir();
  EXPECT_EQ(run({"verify", "--data", dir}).exit_code, 1);
  std::filesystem::remove_all(dir);
}

TEST(CliTest, ProjectionsRebuildReportsTheEventsScanned) {
  const std::string dir = populated_dir(2);
  CliResult r = run({"projections", "rebuild", "--data", dir, "appeals"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("rebuilt appeals"), std::string::npos);
  EXPECT_NE(r.err.find("rebuilding 100%"), std::string::npos) << "not a terminal: a line per quarter" << r.err;
  EXPECT_EQ(run({"projections", "rebuild", "--data", dir, "nonsense"}).exit_code, 2);
  std::filesystem::remove_all(dir);
}

TEST(CliTest, DescribeLifecyclePrintsTheTable) {
  CliResult r = run({"describe", "lifecycle"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("under_review"), std::string::npos);
  EXPECT_NE(run({"describe", "lifecycle", "--mermaid"}).out.find("stateDiagram-v2"), std::string::npos);
}

// A loopback port nothing listens on: bound to learn a free number, then closed.
std::uint16_t dead_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A server that is there and not there: it accepts every connection and closes it at once, counting them.
class SlammingDoor {
 public:
  SlammingDoor() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 128), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) continue;
        accepted_.fetch_add(1);
        ::close(c);
      }
    });
  }
  ~SlammingDoor() {
    stop_.store(true);
    thread_.join();
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

// Connections refused at once: without backoff, the threads would spin for the whole -d; load gives up after
// --give-up-after instead, and says why.
TEST(CliTest, LoadGivesUpOnAServerThatIsGoneAndSaysSo) {
  const std::string url = "http://127.0.0.1:" + std::to_string(dead_port());
  const auto t0 = std::chrono::steady_clock::now();
  CliResult r = run({"load", "--url", url, "--token", "otn_x", "--catalogue", source_dir() + "/examples/catalogue",
                     "-c", "4", "-d", "60", "--give-up-after", "1"});
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("no answer from 127.0.0.1:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("gave up"), std::string::npos) << r.err;
  EXPECT_LT(took, std::chrono::seconds(10)) << "load should stop soon after --give-up-after, not run its -d 60";
}

// Each connection backs off (10 ms doubling to 1 s) between attempts on a server that does not answer. Two
// connections for two seconds make about twenty attempts; a loop without backoff makes thousands.
TEST(CliTest, LoadBacksOffInsteadOfSpinningWhileTheServerDoesNotAnswer) {
  SlammingDoor door;
  const std::string url = "http://127.0.0.1:" + std::to_string(door.port());
  CliResult r = run({"load", "--url", url, "--token", "otn_x", "--catalogue", source_dir() + "/examples/catalogue",
                     "-c", "2", "-d", "2", "--give-up-after", "30"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_GE(door.accepted(), 2) << "every connection tried at least once";
  EXPECT_LE(door.accepted(), 60) << "connection attempts in 2 s with 2 connections: it spins";
  EXPECT_NE(r.err.find("unanswered attempts"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace otinish::api::testing
