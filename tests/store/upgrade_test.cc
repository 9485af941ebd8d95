// `otinish upgrade`'s library half: a format-1 log is refused at open with the way forward, upgraded into
// format 2 with every event byte for byte where it was, and every crash state is finished or redone; a newer
// format is refused by both.
#include "store/upgrade.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include <rocksdb/db.h>
#include <rocksdb/env.h>

#include "store/key_layout.h"
#include "store/rocks_store.h"
#include "tests/store/format1_log.h"
#include "tests/store/store_test_util.h"

namespace otinish::store::testing {
namespace {

namespace fs = std::filesystem;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(UpgradeTest, AFormat1LogIsRefusedThenUpgradedWithEveryEventWhereItWas) {
  TempDir dir;
  const std::string path = dir.sub("log");
  const auto newest = write_format1_log(path);
  const auto events_before = raw_entries(path, keys::kLogCf);
  const auto tree_before = raw_entries(path, keys::kTreeCf);
  const auto idempotency_before = raw_entries(path, keys::kIdempotencyCf);
  ASSERT_GT(events_before.size(), 60u);
  ASSERT_FALSE(idempotency_before.empty());

  auto refused = open_rocks_store(path);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(contains(refused.status().message(), "otinish upgrade --data DIR")) << refused.status().message();
  auto format = log_format(path);
  ASSERT_TRUE(format.ok()) << format.status().ToString();
  EXPECT_EQ(*format, 1);

  auto r = upgrade_log(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->from_format, 1);
  EXPECT_EQ(r->to_format, 2);
  EXPECT_EQ(r->events, events_before.size());
  EXPECT_EQ(r->streams, newest.size());
  EXPECT_GE(r->runs, newest.size());
  EXPECT_EQ(r->kept_at, path + ".format1");
  EXPECT_TRUE(fs::exists(path + ".format1/CURRENT")) << "the old log is kept";
  EXPECT_FALSE(fs::exists(path + ".upgrading"));

  EXPECT_EQ(raw_entries(path, keys::kLogCf), events_before) << "an event moved or changed";
  EXPECT_EQ(raw_entries(path, keys::kTreeCf), tree_before);
  EXPECT_EQ(raw_entries(path, keys::kIdempotencyCf), idempotency_before);
  auto log = open_rocks_store(path);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  auto verified = verify_log(**log, {.indexes = true});
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->ok) << verified->to_string();
  for (const auto& [stream, version] : newest) {
    auto v = (*log)->stream_version(stream);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(*v, version) << stream;
    auto read = (*log)->read_stream(stream, 1, Direction::kForward, 1000);
    ASSERT_TRUE(read.ok());
    ASSERT_EQ(read->size(), version) << stream;
    for (std::size_t i = 0; i < read->size(); ++i) EXPECT_EQ((*read)[i].stream_version, i + 1);
  }
  // Appends go on from where the streams were, with their expected versions.
  EventData e = make_event("Noted", "after the upgrade");
  auto appended = (*log)->append("appeal-0", ExpectedVersion::exact(newest.at("appeal-0")), {&e, 1});
  ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  EXPECT_EQ(appended->stream_version, newest.at("appeal-0") + 1);
  EXPECT_EQ(appended->first_position, events_before.size() + 1);
  log->reset();

  auto again = upgrade_log(path);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->already_current);
}

TEST(UpgradeTest, EveryCrashStateIsFinishedOrRedone) {
  TempDir dir;
  const std::string path = dir.sub("log");
  write_format1_log(path, 3, 6);
  const auto events_before = raw_entries(path, keys::kLogCf);
  // A crash while the new log was being written: its leftover is discarded and rebuilt.
  fs::create_directories(path + ".upgrading");
  std::ofstream(path + ".upgrading/half-written") << "junk";
  auto r = upgrade_log(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->finished_interrupted);
  EXPECT_EQ(raw_entries(path, keys::kLogCf), events_before);

  // A crash between the swap's two renames: the verified new log is moved into place.
  fs::rename(path, path + ".upgrading");
  // A server started now must not create a new, empty log in the old one's place.
  auto started = open_rocks_store(path);
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.status().code(), StatusCode::kFailedPrecondition) << started.status().ToString();
  EXPECT_NE(started.status().message().find("otinish upgrade"), std::string::npos) << started.status().ToString();
  EXPECT_FALSE(fs::exists(path));
  auto finished = upgrade_log(path);
  ASSERT_TRUE(finished.ok()) << finished.status().ToString();
  EXPECT_TRUE(finished->finished_interrupted);
  EXPECT_EQ(finished->kept_at, path + ".format1");
  auto log = open_rocks_store(path);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->head_position(), events_before.size());
  log->reset();

  // The upgraded log lost, only the kept one left: refused too, with the way back.
  fs::rename(path, dir.sub("moved-away"));
  auto lost = open_rocks_store(path);
  ASSERT_FALSE(lost.ok());
  EXPECT_NE(lost.status().message().find("log.format1 back"), std::string::npos) << lost.status().ToString();
  EXPECT_FALSE(fs::exists(path));

  // A leftover new log that is not whole (here: empty of events, the format-1 log's events missing) is not put
  // in place of a missing log; and without the old log beside it, nothing is done at all.
  TempDir broken;
  write_format1_log(broken.sub("log"), 2, 2);
  fs::rename(broken.sub("log"), broken.sub("log.format1"));
  fs::create_directories(broken.sub("log.upgrading"));
  std::ofstream(broken.sub("log.upgrading") + "/CURRENT") << "MANIFEST-000001\n";
  auto not_whole = upgrade_log(broken.sub("log"));
  ASSERT_FALSE(not_whole.ok());
  EXPECT_EQ(not_whole.status().code(), StatusCode::kFailedPrecondition) << not_whole.status().ToString();
  EXPECT_NE(not_whole.status().message().find("log.format1 back to"), std::string::npos)
      << not_whole.status().ToString();
  EXPECT_FALSE(fs::exists(broken.sub("log")));
  // A verified log that is not the old one's copy (here: empty) is not put in place either.
  fs::remove_all(broken.sub("log.upgrading"));
  { ASSERT_TRUE(open_rocks_store(broken.sub("log.upgrading")).ok()); }
  auto empty = upgrade_log(broken.sub("log"));
  EXPECT_EQ(empty.status().code(), StatusCode::kFailedPrecondition) << empty.status().ToString();
  EXPECT_NE(empty.status().message().find("ends at position 0"), std::string::npos) << empty.status().ToString();
  EXPECT_FALSE(fs::exists(broken.sub("log")));
  fs::remove_all(broken.sub("log.format1"));
  auto alone = upgrade_log(broken.sub("log"));
  EXPECT_EQ(alone.status().code(), StatusCode::kNotFound) << alone.status().ToString();
  EXPECT_FALSE(fs::exists(broken.sub("log")));

  // Another format-1 log where the kept one still is: refused, nothing touched.
  TempDir other;
  write_format1_log(other.sub("log"), 2, 2);
  fs::create_directories(other.sub("log.format1"));
  auto blocked = upgrade_log(other.sub("log"));
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.status().code(), StatusCode::kAlreadyExists) << blocked.status().ToString();
  EXPECT_EQ(*log_format(other.sub("log")), 1);
}

// An older otinish still serving its log holds RocksDB's lock on it: the upgrade refuses, and copies nothing.
TEST(UpgradeTest, ALogInUseIsRefusedAndLeftAsItWas) {
  TempDir dir;
  const std::string path = dir.sub("log");
  write_format1_log(path, 2, 3);
  rocksdb::FileLock* lock = nullptr;
  ASSERT_TRUE(rocksdb::Env::Default()->LockFile(path + "/LOCK", &lock).ok());
  auto refused = upgrade_log(path);
  ASSERT_TRUE(rocksdb::Env::Default()->UnlockFile(lock).ok());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("is in use"), std::string::npos) << refused.status().ToString();
  EXPECT_FALSE(fs::exists(path + ".upgrading"));
  EXPECT_FALSE(fs::exists(path + ".format1"));
  EXPECT_EQ(*log_format(path), 1);
  // Once it is free, the same upgrade goes through.
  EXPECT_TRUE(upgrade_log(path).ok());
}

// An old log whose chain does not verify (an event altered) is not upgraded: the new one is thrown away and
// the old one stays where and as it was.
TEST(UpgradeTest, AnOldLogThatDoesNotVerifyIsLeftAsItWas) {
  TempDir dir;
  const std::string path = dir.sub("log");
  write_format1_log(path, 3, 6);
  {
    RawLog raw(path);
    rocksdb::ColumnFamilyHandle* log_cf = raw.cf(keys::kLogCf);
    ASSERT_NE(log_cf, nullptr);
    std::string v;
    ASSERT_TRUE(raw.db->Get({}, log_cf, keys::log_key(7), &v).ok());
    v[v.size() - 70] ^= 0x01;  // inside the payload, before the two hashes
    ASSERT_TRUE(raw.db->Put({}, log_cf, keys::log_key(7), v).ok());
  }
  const auto events_before = raw_entries(path, keys::kLogCf);
  auto r = upgrade_log(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
  EXPECT_FALSE(fs::exists(path + ".upgrading"));
  EXPECT_FALSE(fs::exists(path + ".format1"));
  EXPECT_EQ(*log_format(path), 1);
  EXPECT_EQ(raw_entries(path, keys::kLogCf), events_before);
}

TEST(UpgradeTest, ANewerFormatIsRefusedByOpenAndByUpgrade) {
  TempDir dir;
  const std::string path = dir.sub("log");
  { ASSERT_TRUE(open_rocks_store(path).ok()); }
  set_format_marker(path, "otinish-log/3");
  auto opened = open_rocks_store(path);
  ASSERT_FALSE(opened.ok());
  EXPECT_TRUE(contains(opened.status().message(), "written by a newer otinish")) << opened.status().message();
  auto upgraded = upgrade_log(path);
  ASSERT_FALSE(upgraded.ok());
  EXPECT_EQ(upgraded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(upgraded.status().message(), "written by a newer otinish")) << upgraded.status().message();
  EXPECT_FALSE(fs::exists(path + ".upgrading"));

  // A newer format may bring column families this build does not know: still named as newer.
  {
    RawLog raw(path);
    ASSERT_NE(raw.add("future"), nullptr);
  }
  auto opened_again = open_rocks_store(path);
  ASSERT_FALSE(opened_again.ok());
  EXPECT_TRUE(contains(opened_again.status().message(), "written by a newer otinish")) << opened_again.status().message();
}

}  // namespace
}  // namespace otinish::store::testing
