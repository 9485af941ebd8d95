// What happens when the stored bytes are not what was written: an altered event, a missing event, a torn
// write-ahead log. The test opens the RocksDB directory raw (layout in docs/log-format.md) to do the damage.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>

#include "store/coding.h"
#include "store/key_layout.h"
#include "store/rocks_store.h"
#include "tests/store/store_test_util.h"

namespace otinish::store {
namespace {

// Opens the log's RocksDB directly and runs `damage` on the log column family.
void with_raw_log(const std::string& path, const std::function<void(rocksdb::DB*, rocksdb::ColumnFamilyHandle*)>& damage) {
  rocksdb::Options o;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, {}}, {keys::kLogCf, {}}, {keys::kStreamsCf, {}}, {keys::kIdempotencyCf, {}},
      {keys::kHeadsCf, {}}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(o, path, cfs, &handles, &db).ok());
  damage(db, handles[1]);
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  ASSERT_TRUE(db->Close().ok());
  delete db;
}

void fill(const std::string& path, int n) {
  auto store = open_rocks_store(path);
  ASSERT_TRUE(store.ok());
  for (int i = 0; i < n; ++i) {
    EventData e = testing::make_event("AppealRegistered", "applicant text " + std::to_string(i));
    ASSERT_TRUE((*store)->append("appeal-" + std::to_string(i % 9), ExpectedVersion::any(), {&e, 1}).ok());
  }
}

void flip_payload_byte(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* log, std::uint64_t position) {
  std::string v;
  ASSERT_TRUE(db->Get({}, log, keys::log_key(position), &v).ok());
  v[v.size() - 70] ^= 0x01;  // inside the payload, before prev_hash and hash
  ASSERT_TRUE(db->Put({}, log, keys::log_key(position), v).ok());
}

TEST(TamperTest, VerifyNamesThePositionOfAFlippedByte) {
  testing::TempDir dir;
  fill(dir.path(), 100);
  with_raw_log(dir.path(), [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* log) { flip_payload_byte(db, log, 37); });
  StoreOptions o;
  o.tail_check_events = 10;  // the damage is before the tail, so open succeeds and verify must find it
  auto store = open_rocks_store(dir.path(), o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto report = verify_chain(**store);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->bad_position, 37u);
  EXPECT_EQ(report->events, 36u);
  EXPECT_NE(report->problem.find("hash mismatch"), std::string::npos) << report->problem;
  EXPECT_EQ(report->to_string().rfind("FAILED at position 37", 0), 0u) << report->to_string();
}

TEST(TamperTest, ReplacingAnEventAndItsHashBreaksTheNextLink) {
  testing::TempDir dir;
  fill(dir.path(), 20);
  {
    // A forger rewrites event 5 and recomputes its own hash; event 6's prev_hash gives it away.
    auto store = open_rocks_store(dir.path());
    ASSERT_TRUE(store.ok());
    auto five = (*store)->read_all(5, 1);
    ASSERT_TRUE(five.ok());
    RecordedEvent forged = five->front();
    forged.payload = "forged text";
    forged.hash = compute_event_hash(forged);
    store->reset();
    with_raw_log(dir.path(), [&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* log) {
      std::string v;
      // Re-encode through the public fields: format byte + fields, as docs/log-format.md describes.
      ASSERT_TRUE(db->Get({}, log, keys::log_key(5), &v).ok());
      const std::size_t old_len = five->front().payload.size();
      const std::size_t payload_at = v.size() - 64 - old_len;
      std::string nv = v.substr(0, payload_at - 4);
      coding::put_length_prefixed(&nv, forged.payload);
      nv.append(reinterpret_cast<const char*>(forged.prev_hash.data()), 32);
      nv.append(reinterpret_cast<const char*>(forged.hash.data()), 32);
      ASSERT_TRUE(db->Put({}, log, keys::log_key(5), nv).ok());
    });
  }
  StoreOptions o;
  o.tail_check_events = 5;
  auto store = open_rocks_store(dir.path(), o);
  ASSERT_TRUE(store.ok());
  auto report = verify_chain(**store);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->bad_position, 6u) << report->to_string();
  EXPECT_NE(report->problem.find("prev_hash"), std::string::npos);
}

TEST(TamperTest, OpenReportsAnAlteredTailWithItsPosition) {
  testing::TempDir dir;
  fill(dir.path(), 50);
  with_raw_log(dir.path(), [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* log) { flip_payload_byte(db, log, 49); });
  auto store = open_rocks_store(dir.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kCorruption);
  EXPECT_NE(store.status().message().find("position 49"), std::string::npos) << store.status().message();
}

TEST(TamperTest, OpenReportsAMissingEventAtTheTail) {
  testing::TempDir dir;
  fill(dir.path(), 50);
  with_raw_log(dir.path(), [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* log) {
    ASSERT_TRUE(db->Delete({}, log, keys::log_key(48)).ok());
  });
  auto store = open_rocks_store(dir.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kCorruption);
  EXPECT_NE(store.status().message().find("position 48"), std::string::npos) << store.status().message();
}

TEST(TamperTest, VerifyReportsAGapAsAFailureNotAnError) {
  testing::TempDir dir;
  fill(dir.path(), 60);
  with_raw_log(dir.path(), [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* log) {
    ASSERT_TRUE(db->Delete({}, log, keys::log_key(10)).ok());
  });
  StoreOptions o;
  o.tail_check_events = 5;
  auto store = open_rocks_store(dir.path(), o);
  ASSERT_TRUE(store.ok());
  auto report = verify_chain(**store);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->bad_position, 10u) << report->to_string();
}

std::filesystem::path newest_wal(const std::string& dir) {
  std::filesystem::path newest;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.path().extension() == ".log" && (newest.empty() || f.path().filename() > newest.filename())) {
      newest = f.path();
    }
  }
  return newest;
}

TEST(TamperTest, TornWriteAtTheWalTailLosesNothingAcknowledged) {
  testing::TempDir dir;
  fill(dir.path(), 30);
  const auto wal = newest_wal(dir.path());
  ASSERT_FALSE(wal.empty());
  ASSERT_GT(std::filesystem::file_size(wal), 0u) << "the events must still be in the WAL for this test";
  {
    // Half a record: a header that promises more bytes than follow, as a crash mid-write leaves it.
    std::ofstream out(wal, std::ios::app | std::ios::binary);
    const char torn[] = {'\x12', '\x34', '\x56', '\x78', '\x00', '\x40', '\x01', 'p', 'a', 'r', 't'};
    out.write(torn, sizeof torn);
  }
  auto store = open_rocks_store(dir.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->head_position(), 30u);
  auto report = verify_chain(**store);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->to_string();
}

TEST(TamperTest, DamageInsideTheWalFailsTheOpenInsteadOfDroppingEvents) {
  testing::TempDir dir;
  fill(dir.path(), 30);
  const auto wal = newest_wal(dir.path());
  ASSERT_FALSE(wal.empty());
  const auto size = std::filesystem::file_size(wal);
  ASSERT_GT(size, 2000u);
  {
    std::fstream f(wal, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 3));
    const char junk[16] = {'\x55', '\x55', '\x55', '\x55', '\x55', '\x55', '\x55', '\x55',
                           '\x55', '\x55', '\x55', '\x55', '\x55', '\x55', '\x55', '\x55'};
    f.write(junk, sizeof junk);
  }
  auto store = open_rocks_store(dir.path());
  ASSERT_FALSE(store.ok()) << "a damaged WAL must not open silently with events missing; head is "
                           << (store.ok() ? (*store)->head_position() : 0);
  EXPECT_EQ(store.status().code(), StatusCode::kCorruption) << store.status().ToString();
}

}  // namespace
}  // namespace otinish::store
