// What happens when the stored bytes are not what was written: an altered event, a missing event, a torn
// write-ahead log. The test opens the RocksDB directory raw (layout in docs/log-format.md) to do the damage.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>

#include "store/coding.h"
#include "store/key_layout.h"
#include "store/merkle_tiles.h"
#include "store/rocks_store.h"
#include "tests/store/store_test_util.h"

namespace otinish::store {
namespace {

// The column families of docs/log-format.md, as with_raw_db opens them.
struct RawLog {
  rocksdb::DB* db;
  rocksdb::ColumnFamilyHandle* log;
  rocksdb::ColumnFamilyHandle* streams;
  rocksdb::ColumnFamilyHandle* tree;
};

// Opens the log's RocksDB directly and runs `damage` on it.
void with_raw_db(const std::string& path, const std::function<void(const RawLog&)>& damage) {
  rocksdb::Options o;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, {}}, {keys::kLogCf, {}}, {keys::kStreamsCf, {}}, {keys::kIdempotencyCf, {}},
      {keys::kTreeCf, {}}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(o, path, cfs, &handles, &db).ok());
  damage(RawLog{db, handles[1], handles[2], handles[4]});
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  ASSERT_TRUE(db->Close().ok());
  delete db;
}

// Runs `damage` on the log column family.
void with_raw_log(const std::string& path, const std::function<void(rocksdb::DB*, rocksdb::ColumnFamilyHandle*)>& damage) {
  with_raw_db(path, [&](const RawLog& raw) { damage(raw.db, raw.log); });
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

// fill() puts event i (0-based) at position i + 1 as version i / 9 + 1 of stream appeal-(i % 9).
std::uint64_t position_in_fill(int stream, std::uint64_t version) { return (version - 1) * 9 + stream + 1; }

// fill() appends one event at a time, so each version has its own run: this makes version's run point at
// `position` (for `events` events).
void put_position(const RawLog& raw, const std::string& stream, std::uint64_t version, std::uint64_t position,
                  std::uint32_t events = 1) {
  ASSERT_TRUE(
      raw.db->Put({}, raw.streams, keys::stream_key(stream, version), keys::stream_run_value(position, events)).ok());
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The stream index is not under the hash chain: an entry pointed at another event must not make a stream read
// show that event, and index verification must name it (verify_chain alone cannot see it).
TEST(TamperTest, AStreamIndexEntryPointingAtAnotherEventIsCaught) {
  testing::TempDir dir;
  fill(dir.path(), 100);
  const std::uint64_t real = position_in_fill(3, 2), other = position_in_fill(5, 2);
  with_raw_db(dir.path(), [&](const RawLog& raw) { put_position(raw, "appeal-3", 2, other); });
  StoreOptions o;
  o.tail_check_events = 5;  // the damage is before the tail, so open succeeds
  auto store = open_rocks_store(dir.path(), o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();

  for (Direction d : {Direction::kForward, Direction::kBackward}) {
    auto read = (*store)->read_stream("appeal-3", d == Direction::kForward ? 1 : UINT64_MAX, d, 100);
    ASSERT_FALSE(read.ok()) << "read_stream showed " << read->size() << " events, one of them appeal-5's";
    EXPECT_EQ(read.status().code(), StatusCode::kCorruption);
    EXPECT_TRUE(contains(read.status().message(), "appeal-3 version 2 points at position " + std::to_string(other)))
        << read.status().message();
    EXPECT_TRUE(contains(read.status().message(), "holds appeal-5 version 2")) << read.status().message();
  }
  auto tail = (*store)->read_stream("appeal-3", 3, Direction::kForward, 100);
  ASSERT_TRUE(tail.ok()) << "versions after the damaged entry still read: " << tail.status().ToString();
  EXPECT_EQ(tail->front().stream_version, 3u);

  auto chain = verify_chain(**store);
  ASSERT_TRUE(chain.ok());
  EXPECT_TRUE(chain->ok) << "the log itself is intact: " << chain->to_string();
  auto report = verify_log(**store, {.indexes = true});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->ok);
  EXPECT_TRUE(report->indexes_checked);
  EXPECT_EQ(report->bad_position, real) << report->to_string();
  EXPECT_EQ(report->events, 100u);
  EXPECT_TRUE(contains(report->problem, "appeal-3 version 2 points at position " + std::to_string(other)))
      << report->problem;
  EXPECT_EQ(report->to_string().rfind("FAILED at position " + std::to_string(real) + ": ", 0), 0u)
      << report->to_string();
}

TEST(TamperTest, AStrayStreamIndexEntryIsCaught) {
  testing::TempDir dir;
  fill(dir.path(), 100);
  const std::uint64_t other = position_in_fill(5, 2);
  // appeal-3 has versions 1..11; an entry for version 50 shows appeal-5's event to whoever reads that far.
  with_raw_db(dir.path(), [&](const RawLog& raw) { put_position(raw, "appeal-3", 50, other); });
  StoreOptions o;
  o.tail_check_events = 5;
  auto store = open_rocks_store(dir.path(), o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();

  auto read = (*store)->read_stream("appeal-3", 40, Direction::kForward, 10);
  ASSERT_FALSE(read.ok()) << "read_stream showed " << read->size() << " events of a stream at version 11";
  EXPECT_EQ(read.status().code(), StatusCode::kCorruption) << read.status().ToString();
  EXPECT_TRUE(contains(read.status().message(), "appeal-3")) << read.status().message();

  auto report = verify_log(**store, {.indexes = true});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->bad_position, other) << report->to_string();
  EXPECT_TRUE(contains(report->problem, "appeal-3 version 50 points at position " + std::to_string(other) +
                                            ", which holds appeal-5 version 2"))
      << report->problem;
}

TEST(TamperTest, AMissingStreamIndexEntryIsCaught) {
  testing::TempDir dir;
  fill(dir.path(), 100);
  const std::uint64_t real = position_in_fill(3, 2);
  with_raw_db(dir.path(), [&](const RawLog& raw) {
    ASSERT_TRUE(raw.db->Delete({}, raw.streams, keys::stream_key("appeal-3", 2)).ok());
  });
  StoreOptions o;
  o.tail_check_events = 5;
  auto store = open_rocks_store(dir.path(), o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();

  for (Direction d : {Direction::kForward, Direction::kBackward}) {
    auto read = (*store)->read_stream("appeal-3", d == Direction::kForward ? 1 : UINT64_MAX, d, 100);
    ASSERT_FALSE(read.ok()) << "read_stream skipped version 2 and showed " << read->size() << " events";
    EXPECT_EQ(read.status().code(), StatusCode::kCorruption);
    EXPECT_TRUE(contains(read.status().message(), "appeal-3 has no entry for version 2")) << read.status().message();
  }
  auto report = verify_log(**store, {.indexes = true});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->bad_position, real) << report->to_string();
  EXPECT_TRUE(contains(report->problem, "no entry for appeal-3 version 2")) << report->problem;
}

// A stream's newest version is where its newest run ends: a run that claims more events than its append had
// makes the stream look longer, and must be caught rather than show other streams' events as this one's.
TEST(TamperTest, ARunLongerThanItsAppendIsCaught) {
  testing::TempDir dir;
  fill(dir.path(), 100);
  const std::uint64_t last = position_in_fill(4, 11);  // appeal-4's last event, before the checked tail
  ASSERT_EQ(last, 95u);
  with_raw_db(dir.path(), [&](const RawLog& raw) { put_position(raw, "appeal-4", 11, last, 5); });
  StoreOptions o;
  o.tail_check_events = 5;
  auto store = open_rocks_store(dir.path(), o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto report = verify_log(**store, {.indexes = true});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->bad_position, last + 1) << report->to_string();
  EXPECT_TRUE(contains(report->problem, "appeal-4 version 12 points at position 96, which holds appeal-5 version 11"))
      << report->problem;
  auto version = (*store)->stream_version("appeal-4");
  ASSERT_FALSE(version.ok()) << "stream_version said " << *version;
  EXPECT_EQ(version.status().code(), StatusCode::kCorruption) << version.status().ToString();
  EXPECT_TRUE(contains(version.status().message(), "appeal-4 version 15")) << version.status().message();
  auto read = (*store)->read_stream("appeal-4", 1, Direction::kForward, 100);
  ASSERT_FALSE(read.ok()) << "read_stream showed " << read->size() << " events, some of other streams";
  EXPECT_EQ(read.status().code(), StatusCode::kCorruption);
  // An append must not take version 16 after 11: that gap would be fixed in the hash chain for good.
  EventData e = testing::make_event("Noted", "after the damage");
  auto appended = (*store)->append("appeal-4", ExpectedVersion::any(), {&e, 1});
  ASSERT_FALSE(appended.ok()) << "appended at version " << appended->stream_version;
  EXPECT_EQ(appended.status().code(), StatusCode::kCorruption) << appended.status().ToString();
}

TEST(TamperTest, AMalformedOrOverlappingRunIsCaught) {
  for (int damage : {0, 1, 2}) {
    testing::TempDir dir;
    fill(dir.path(), 100);
    with_raw_db(dir.path(), [&](const RawLog& raw) {
      if (damage == 0) {
        put_position(raw, "appeal-2", 3, position_in_fill(2, 3), 0);  // a run of no events
      } else if (damage == 1) {
        // appeal-2's run at version 3 now claims versions 3 and 4 too: version 4 is then in two runs.
        put_position(raw, "appeal-2", 3, position_in_fill(2, 3), 2);
      } else {
        // A run whose last version would pass 2^64 - 1 (it would wrap to 0 and hide from the checks).
        put_position(raw, "appeal-2", UINT64_MAX - 1, 5, 3);
      }
    });
    StoreOptions o;
    o.tail_check_events = 5;
    auto store = open_rocks_store(dir.path(), o);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto report = verify_log(**store, {.indexes = true});
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_FALSE(report->ok) << "damage " << damage;
    EXPECT_TRUE(contains(report->problem, damage == 1 ? "appeal-2 version" : "malformed entry of appeal-2"))
        << report->problem;
    auto read = (*store)->read_stream("appeal-2", 1, Direction::kForward, 100);
    EXPECT_FALSE(read.ok()) << "damage " << damage << ": read_stream showed " << read->size() << " events";
  }
}

// A directory of the format that kept `heads` is refused with the way forward, not misread.
TEST(TamperTest, AFormat1LogIsRefusedWithTheWayToImportIt) {
  testing::TempDir dir;
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
        {rocksdb::kDefaultColumnFamilyName, {}}, {keys::kLogCf, {}}, {keys::kStreamsCf, {}},
        {keys::kIdempotencyCf, {}}, {keys::kFormat1HeadsCf, {}}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir.path(), cfs, &handles, &db).ok());
    ASSERT_TRUE(db->Put({}, handles[0], keys::kFormatKey, keys::kFormat1Value).ok());
    for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    ASSERT_TRUE(db->Close().ok());
    delete db;
  }
  auto store = open_rocks_store(dir.path());
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(contains(store.status().message(), "format 1")) << store.status().message();
  EXPECT_TRUE(contains(store.status().message(), "otinish import")) << store.status().message();
}

TEST(TamperTest, IndexVerificationPassesOnAnIntactLogAndCountsStreams) {
  testing::TempDir dir;
  fill(dir.path(), 100);
  auto store = open_rocks_store(dir.path());
  ASSERT_TRUE(store.ok());
  std::vector<EventData> two = {testing::make_event("A", "1"), testing::make_event("B", "2")};
  ASSERT_TRUE((*store)->append("appeal-10", ExpectedVersion::no_stream(), two).ok());
  auto report = verify_log(**store, {.indexes = true});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok) << report->to_string();
  EXPECT_EQ(report->events, 102u);
  EXPECT_EQ(report->streams, 10u);
  EXPECT_EQ(report->to_string(), "ok, 102 events, head hash " + to_hex((*store)->head_hash()) + ", tree root " +
                                     merkle::to_hex(*(*store)->tree_root(102)) + "; indexes ok, 10 streams");
}

// The Merkle tree is derived from the log like the indexes: an altered node at any level is found by the full
// verification, with the level, the index and the first position it covers; a root that does not match the
// events is found by the chain walk alone.
TEST(TamperTest, AnAlteredMerkleTreeNodeIsCaughtAtEveryLevel) {
  testing::TempDir dir;
  fill(dir.path(), 100);
  for (int level = 0; level <= 6; ++level) {
    const std::uint64_t index = (100 >> level) - 1;  // the last complete node of each level
    // The node's tile, and where in the tile's value the node's 32 bytes are (store/merkle_tiles.h).
    const tiles::Place p = tiles::place_of(level, index);
    std::string saved;
    with_raw_db(dir.path(), [&](const RawLog& raw) {
      ASSERT_TRUE(raw.db->Get({}, raw.tree, tiles::key(p.row, p.tile), &saved).ok()) << level << "/" << index;
      std::string v = saved;
      v[tiles::Tile::offset_in_value(static_cast<std::uint8_t>(v[0]), p.level, p.index) + 5] ^= 0x40;
      ASSERT_TRUE(raw.db->Put({}, raw.tree, tiles::key(p.row, p.tile), v).ok());
    });
    {
      auto store = open_rocks_store(dir.path());
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      auto report = verify_log(**store, {.indexes = true});
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      EXPECT_FALSE(report->ok) << "level " << level;
      EXPECT_NE(report->problem.find("Merkle tree"), std::string::npos) << report->problem;
      EXPECT_NE(report->problem.find("level " + std::to_string(level) + ", index " + std::to_string(index)),
                std::string::npos)
          << report->problem;
    }
    with_raw_db(dir.path(), [&](const RawLog& raw) {
      ASSERT_TRUE(raw.db->Put({}, raw.tree, tiles::key(p.row, p.tile), saved).ok());
    });
  }
  auto store = open_rocks_store(dir.path());
  ASSERT_TRUE(store.ok());
  auto report = verify_log(**store, {.indexes = true});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->to_string();
}

TEST(TamperTest, AMissingMerkleTreeIsBuiltOnOpenAndMatchesTheOneKeptOnAppend) {
  testing::TempDir dir;
  fill(dir.path(), 50);
  merkle::Hash kept;
  {
    auto store = open_rocks_store(dir.path());
    ASSERT_TRUE(store.ok());
    kept = *(*store)->tree_root(50);
  }
  // A log written before the tree existed: drop every node.
  with_raw_db(dir.path(), [&](const RawLog& raw) {
    ASSERT_TRUE(raw.db->DeleteRange({}, raw.tree, std::string(1, '\0'), std::string(1, '\x7f')).ok());
  });
  auto store = open_rocks_store(dir.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(*(*store)->tree_root(50), kept);
  auto report = verify_log(**store, {.indexes = true});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->to_string();
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
