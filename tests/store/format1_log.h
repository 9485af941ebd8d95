// tests/store/format1_log.h: a log in format 1, as the builds before log format 2 wrote it, for the upgrade
// tests: the events are appended by today's store, then the directory is rewritten into format 1's layout
// (docs/log-format.md "Format 1"): `streams` holds one entry per event (stream 0x00 version(BE64) ->
// position(BE64)), a `heads` column family holds each stream's newest version (LE64), and the marker says
// "otinish-log/1". The log, idempotency and tree column families are the same in both formats.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "store/coding.h"
#include "store/envelope_codec.h"
#include "store/key_layout.h"
#include "store/rocks_store.h"
#include "tests/store/store_test_util.h"

namespace otinish::store::testing {

// The log at `path` opened as a plain RocksDB database with every column family it has: for tests that read or
// write what the store itself would not. Handles are released and the database closed on destruction; a
// handle added with add() (a created column family) too. Iterators must be gone before it.
struct RawLog {
  explicit RawLog(const std::string& path, bool read_only = false) {
    EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    rocksdb::DB* raw = nullptr;
    const rocksdb::Status s = read_only
                                  ? rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), path, cfs, &handles, &raw)
                                  : rocksdb::DB::Open(rocksdb::DBOptions(), path, cfs, &handles, &raw);
    EXPECT_TRUE(s.ok()) << s.ToString();
    db.reset(raw);
  }
  ~RawLog() {
    if (!db) return;
    for (auto* h : handles) EXPECT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    EXPECT_TRUE(db->Close().ok());
  }
  RawLog(const RawLog&) = delete;
  RawLog& operator=(const RawLog&) = delete;

  rocksdb::ColumnFamilyHandle* cf(const std::string& name) const {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i] == name) return handles[i];
    }
    return nullptr;
  }
  // Creates the column family `name`; released with the others.
  rocksdb::ColumnFamilyHandle* add(const std::string& name) {
    rocksdb::ColumnFamilyHandle* h = nullptr;
    EXPECT_TRUE(db->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), name, &h).ok());
    names.push_back(name);
    handles.push_back(h);
    return h;
  }

  std::unique_ptr<rocksdb::DB> db;
  std::vector<std::string> names;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
};

// Appends `streams` streams' events in appends of one to three events (some with idempotency keys), then
// rewrites the directory into format 1. Returns each stream's newest version.
inline std::map<std::string, std::uint64_t> write_format1_log(const std::string& path, int streams = 5,
                                                              int appends = 12) {
  {
    auto log = open_rocks_store(path);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    for (int a = 0; a < appends; ++a) {
      for (int s = 0; s < streams; ++s) {
        std::vector<EventData> events;
        for (int i = 0; i <= (a + s) % 3; ++i) events.push_back(make_event("Noted", "event " + std::to_string(a)));
        AppendOptions o;
        if (a % 4 == 0) o.idempotency_key = "key-" + std::to_string(a) + "-" + std::to_string(s);
        auto r = (*log)->append("appeal-" + std::to_string(s), ExpectedVersion::any(), events, o);
        EXPECT_TRUE(r.ok()) << r.status().ToString();
      }
    }
  }
  RawLog log(path);
  rocksdb::DB* db = log.db.get();
  auto cf = [&](const std::string& name) { return log.cf(name); };
  rocksdb::ColumnFamilyHandle* heads = log.add(keys::kFormat1HeadsCf);
  rocksdb::WriteBatch b;
  std::unique_ptr<rocksdb::Iterator> runs(db->NewIterator(rocksdb::ReadOptions(), cf(keys::kStreamsCf)));
  for (runs->SeekToFirst(); runs->Valid(); runs->Next()) b.Delete(cf(keys::kStreamsCf), runs->key());
  std::map<std::string, std::uint64_t> newest;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf(keys::kLogCf)));
  RecordedEvent e;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    EXPECT_TRUE(decode_envelope(std::string_view(it->value().data(), it->value().size()), &e).ok());
    const std::uint64_t position = coding::decode_big_endian64(it->key().data());
    std::string value;
    coding::put_big_endian64(&value, position);
    b.Put(cf(keys::kStreamsCf), keys::stream_key(e.stream, e.stream_version), value);
    newest[e.stream] = e.stream_version;
  }
  for (const auto& [stream, version] : newest) {
    std::string v;
    coding::put_fixed64(&v, version);
    b.Put(heads, stream, v);
  }
  b.Put(db->DefaultColumnFamily(), keys::kFormatKey, keys::kFormat1Value);
  EXPECT_TRUE(db->Write(rocksdb::WriteOptions(), &b).ok());
  runs.reset();  // iterators hold their column families: released before the handles
  it.reset();
  return newest;
}

// Every entry of one column family of the log at `path`, key -> value.
inline std::map<std::string, std::string> raw_entries(const std::string& path, const std::string& family) {
  RawLog log(path, /*read_only=*/true);
  std::map<std::string, std::string> out;
  if (rocksdb::ColumnFamilyHandle* cf = log.cf(family)) {
    std::unique_ptr<rocksdb::Iterator> it(log.db->NewIterator(rocksdb::ReadOptions(), cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) out[it->key().ToString()] = it->value().ToString();
  }
  return out;
}

// Sets the log's format marker to `marker` (a newer format, for the refusal tests).
inline void set_format_marker(const std::string& path, const std::string& marker) {
  RawLog log(path);
  EXPECT_TRUE(log.db->Put(rocksdb::WriteOptions(), keys::kFormatKey, marker).ok());
}

}  // namespace otinish::store::testing
