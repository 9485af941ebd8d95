// What an operator who controls the disk can do: rewrite one stored event and recompute everything after it
// (the hash chain from there on, and the Merkle tree, which the store then rebuilds from the log). Such a log
// verifies on its own; only a checkpoint kept elsewhere shows it was rewritten.
#pragma once

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <string>
#include <vector>

#include "store/envelope_codec.h"
#include "store/event_store.h"
#include "store/key_layout.h"

namespace otinish::store::testing {

// The log in `path` must be closed. Replaces the payload of the event at `position` with `payload`.
inline void rewrite_and_rechain(const std::string& path, std::uint64_t position, const std::string& payload) {
  rocksdb::Options o;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, {}}, {keys::kLogCf, {}}, {keys::kStreamsCf, {}},
      {keys::kIdempotencyCf, {}}, {keys::kTreeCf, {}}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(o, path, cfs, &handles, &db).ok());
  Hash256 prev{};
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, handles[1]));
    RecordedEvent e;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ASSERT_TRUE(decode_envelope(std::string_view(it->value().data(), it->value().size()), &e).ok());
      if (e.position == position) e.payload = payload;
      if (e.position >= position) {
        e.prev_hash = prev;
        e.hash = compute_event_hash(e);
        ASSERT_TRUE(db->Put({}, handles[1], it->key(), encode_envelope(e)).ok());
      }
      prev = e.hash;
    }
  }
  ASSERT_TRUE(db->DeleteRange({}, handles[4], std::string(1, '\0'), std::string(1, '\x7f')).ok());
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  ASSERT_TRUE(db->Close().ok());
  delete db;
}

}  // namespace otinish::store::testing
