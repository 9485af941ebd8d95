// Backups of a data directory while the server runs, and restoring them: every appeal acknowledged before a
// backup began is in it, the restored directory starts (its checkpoints, keys and tokens fit its log), and
// every refusal says why and leaves nothing behind.
#include "api/http/backup.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "store/rocks_store.h"
#include "tests/api/cli_runner.h"
#include "tests/api/test_node.h"

namespace otinish::api::testing {
namespace {

namespace fs = std::filesystem;

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(BackupTest, ABackupUnderLoadHoldsEveryAppealAcknowledgedBeforeItAndRestoresToAServerThatStarts) {
  const std::string root = make_temp_dir();
  std::vector<std::string> acknowledged_before;
  std::string backup_dir = root + "/backup";
  std::string sample;
  {
    TestNode node(root + "/data", {}, {.checkpoints = true});
    node.keep_dir();
    sample = node.register_appeal();
    std::mutex mu;
    std::vector<std::string> acknowledged;
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&] {
        while (!stop.load()) {
          const std::string id = node.register_appeal("incident", "lifts.stuck");
          std::lock_guard lock(mu);
          acknowledged.push_back(id);
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    {
      std::lock_guard lock(mu);
      acknowledged_before = acknowledged;
    }
    auto report = node.node().backup(backup_dir);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop = true;
    for (auto& t : writers) t.join();
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_GE(report->events, report->head_at_start);
    EXPECT_TRUE(report->key_store);
    EXPECT_GE(report->applicants, 1u);
    EXPECT_TRUE(fs::exists(backup_dir + "/backup.json"));
    EXPECT_TRUE(fs::exists(backup_dir + "/checkpoints"));
    EXPECT_FALSE(fs::exists(backup_dir + "/views")) << "the views are rebuilt, not backed up";
    ASSERT_GT(acknowledged_before.size(), 5u) << "the load did not run before the backup";
  }
  const auto kek = test_node_kek();
  auto restored = restore_backup(backup_dir, root + "/restored", &kek);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_TRUE(restored->key_store);

  // A server on the restored directory starts (its checkpoints fit its log, its keys open) and has every appeal
  // acknowledged before the backup, with the applicant's contact still readable.
  TestNode node(root + "/restored", {}, {.checkpoints = true});
  for (const std::string& id : acknowledged_before) {
    EXPECT_EQ(node.as(Role::kAuditor, "GET", "/v1/appeals/" + id).status, 200) << id << " is missing";
  }
  const ClientResponse contact = node.as(Role::kOperator, "GET", "/v1/appeals/" + sample + "/applicant", {},
                                         {{"Access-Purpose", "callback"}});
  EXPECT_EQ(contact.status, 200) << contact.body;
  EXPECT_NE(contact.body.find("Aigerim"), std::string::npos) << contact.body;
  std::error_code ec;
  fs::remove_all(root, ec);
}

TEST(BackupTest, OverHttpOnlyAnAdminWritesOnlyInsideTheBackupDirectory) {
  const std::string root = make_temp_dir();
  {
    TestNode off;
    const ClientResponse r = off.as(Role::kAdmin, "POST", "/v1/backups", "{}");
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_NE(r.body.find("backups-off"), std::string::npos) << r.body;
  }
  TestNode node(make_temp_dir(), {}, {.backup_dir = root});
  EXPECT_EQ(node.as(Role::kOperator, "POST", "/v1/backups", "{}").status, 403);
  const ClientResponse named = node.as(Role::kAdmin, "POST", "/v1/backups", "{}");
  ASSERT_EQ(named.status, 201) << named.body;
  const auto answer = TestNode::json(named).as_object();
  const std::string dir = answer.at("dir").as_string().c_str();
  EXPECT_EQ(dir.rfind(root + "/", 0), 0u) << dir;
  EXPECT_TRUE(fs::exists(dir + "/backup.json"));
  EXPECT_EQ(answer.at("verified").as_string(), "chain and indexes");

  const ClientResponse chosen =
      node.as(Role::kAdmin, "POST", "/v1/backups", "{\"to\":\"" + root + "/nightly/../monday\"}");
  EXPECT_EQ(chosen.status, 201) << chosen.body;
  EXPECT_TRUE(fs::exists(root + "/monday/backup.json"));
  const ClientResponse again = node.as(Role::kAdmin, "POST", "/v1/backups", "{\"to\":\"" + root + "/monday\"}");
  EXPECT_EQ(again.status, 422) << again.body;
  for (const std::string& outside : {node.dir() + "/mine", root + "/../elsewhere", std::string("relative"), root}) {
    const ClientResponse r = node.as(Role::kAdmin, "POST", "/v1/backups", "{\"to\":\"" + outside + "\"}");
    EXPECT_EQ(r.status, 422) << outside << ": " << r.body;
  }
  EXPECT_FALSE(fs::exists(node.dir() + "/mine"));

  // `otinish backup --server`: the running server writes it.
  const std::string server = "http://127.0.0.1:" + std::to_string(node.port());
  CliResult cli = run_cli({"backup", "--server", server, "--token", node.token(Role::kAdmin), "--to", root + "/cli"});
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find("backup written to " + root + "/cli"), std::string::npos) << cli.out;
  EXPECT_TRUE(fs::exists(root + "/cli/backup.json"));
  CliResult refused = run_cli({"backup", "--server", server, "--token", node.token(Role::kOperator)});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("403"), std::string::npos) << refused.err;
  std::error_code ec;
  fs::remove_all(root, ec);
}

TEST(BackupTest, TheCommandLineBacksUpAStoppedDirectoryAndRestoresOnlyWhatVerifies) {
  const std::string root = make_temp_dir();
  const std::string data = root + "/data";
  {
    TestNode node(data);
    node.keep_dir();
    for (int i = 0; i < 5; ++i) node.register_appeal();
  }
  const std::string kek_file = root + "/kek";
  std::ofstream(kek_file) << std::string(64, '7') << "\n";
  ::chmod(kek_file.c_str(), 0600);
  const std::string kek = "file:" + kek_file;

  CliResult b = run_cli({"backup", "--data", data, "--kek", kek, "--to", root + "/b1"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(b.out.find("chain and indexes verified"), std::string::npos) << b.out;
  EXPECT_EQ(fs::status(root + "/b1").permissions(), fs::perms::owner_all) << "a backup holds keys: owner only";
  EXPECT_EQ(run_cli({"backup", "--data", data, "--kek", kek, "--to", root + "/b1"}).exit_code, 1) << "over a backup";
  EXPECT_EQ(run_cli({"backup", "--to", root + "/b2"}).exit_code, 2) << "neither --server nor --data";

  // Refusals leave nothing behind.
  fs::create_directories(root + "/busy/log");
  CliResult busy = run_cli({"restore", "--from", root + "/b1", "--data", root + "/busy", "--kek", kek});
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_NE(busy.err.find("not empty"), std::string::npos) << busy.err;
  CliResult not_backup = run_cli({"restore", "--from", data, "--data", root + "/r0", "--kek", kek});
  EXPECT_EQ(not_backup.exit_code, 1);
  EXPECT_NE(not_backup.err.find("holds no backup.json"), std::string::npos) << not_backup.err;
  fs::copy(root + "/b1", root + "/tampered", fs::copy_options::recursive);
  std::string manifest = read_all(root + "/tampered/backup.json");
  const std::size_t at = manifest.find("\"events\":");
  ASSERT_NE(at, std::string::npos);
  manifest.insert(at + 9, "1");
  std::ofstream(root + "/tampered/backup.json", std::ios::trunc) << manifest;
  CliResult tampered = run_cli({"restore", "--from", root + "/tampered", "--data", root + "/r1", "--kek", kek});
  EXPECT_EQ(tampered.exit_code, 1);
  EXPECT_NE(tampered.err.find("is not the one the manifest describes"), std::string::npos) << tampered.err;
  EXPECT_FALSE(fs::exists(root + "/r1"));
  EXPECT_FALSE(fs::exists(root + "/r1.restoring"));
  const std::string wrong_kek = root + "/wrong";
  std::ofstream(wrong_kek) << std::string(64, '8') << "\n";
  ::chmod(wrong_kek.c_str(), 0600);
  EXPECT_EQ(run_cli({"restore", "--from", root + "/b1", "--data", root + "/r2", "--kek", "file:" + wrong_kek}).exit_code,
            3);
  EXPECT_FALSE(fs::exists(root + "/r2"));

  CliResult r = run_cli({"restore", "--from", root + "/b1", "--data", root + "/restored", "--kek", kek});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(run_cli({"verify", "--data", root + "/restored"}).exit_code, 0);
  std::error_code ec;
  fs::remove_all(root, ec);
}

}  // namespace
}  // namespace otinish::api::testing
