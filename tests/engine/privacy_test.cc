// The applicant's privacy: the key-encryption key, the key store, the AEAD sealer, erasure and the access log.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <set>
#include <sstream>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

#include "common/hash.h"
#include "engine/privacy/access_log.h"
#include "engine/privacy/aead.h"
#include "engine/privacy/erasure.h"
#include "engine/privacy/kek.h"
#include "engine/privacy/key_records.h"
#include "engine/privacy/privacy_events.h"
#include "engine/privacy/redact.h"
#include "engine/privacy/retention.h"
#include "engine/serialization.h"
#include "rules/rule_set.h"
#include "tests/store/fault_fs.h"
#include "engine/views.h"
#include "tests/engine/privacy_test_city.h"

namespace otinish::engine::privacy {
namespace {

using testing::files_containing;
using testing::SealedCity;
using testing::test_kek;

const Applicant kAigerim{"Aigerim Sadykova", "+7 701 555 1234", "Tauke khan ave 10, flat 5"};
const Applicant kBolat{"Bolat Nurlanov", "8 777 710 9109", "Baitursynov 3, flat 17"};

std::string wrapped_key_of(const std::string& keys_dir, const std::string& applicant) {
  return testing::wrapped_keys(keys_dir, {applicant})[applicant];
}

std::string raw(const SecretKey& k) { return std::string(reinterpret_cast<const char*>(k.data()), SecretKey::kSize); }

// ---- the key-encryption key ------------------------------------------------------------------------------------

TEST(Kek, LoadsFromAFileAnEnvironmentVariableAndACredential) {
  const std::string dir = testing::make_temp_dir();
  auto generated = generate_kek_file(dir + "/kek", "/var/lib/otinish");
  ASSERT_TRUE(generated.ok()) << generated.status().ToString();
  EXPECT_EQ(std::filesystem::status(dir + "/kek").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto from_file = load_kek("file:" + dir + "/kek", "/var/lib/otinish");
  ASSERT_TRUE(from_file.ok()) << from_file.status().ToString();
  EXPECT_EQ(from_file->id(), generated->id());
  EXPECT_EQ(generate_kek_file(dir + "/kek", "").status().code(), StatusCode::kAlreadyExists);

  std::ifstream in(dir + "/kek");
  std::string hex;
  in >> hex;
  ::setenv("OTINISH_TEST_KEK", hex.c_str(), 1);
  auto from_env = load_kek("env:OTINISH_TEST_KEK", "");
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env->id(), generated->id());
  EXPECT_EQ(from_env->source, "environment variable OTINISH_TEST_KEK");
  ::unsetenv("OTINISH_TEST_KEK");
  EXPECT_EQ(load_kek("env:OTINISH_TEST_KEK", "").status().code(), StatusCode::kNotFound);

  ::setenv("CREDENTIALS_DIRECTORY", dir.c_str(), 1);
  std::filesystem::copy_file(dir + "/kek", dir + "/otinish-kek");
  auto from_credential = load_default_kek("/var/lib/otinish");
  ASSERT_TRUE(from_credential.ok()) << from_credential.status().ToString();
  EXPECT_EQ(from_credential->id(), generated->id());
  EXPECT_NE(from_credential->source.find("systemd credential otinish-kek"), std::string::npos);
  ::unsetenv("CREDENTIALS_DIRECTORY");
  std::filesystem::remove_all(dir);
}

TEST(Kek, RefusesAKeyInsideTheDataDirectoryAndMaterialThatIsNotAKey) {
  const std::string dir = testing::make_temp_dir();
  auto inside = generate_kek_file(dir + "/data/kek", dir + "/data");
  EXPECT_EQ(inside.status().code(), StatusCode::kInvalidArgument);
  std::filesystem::create_directories(dir + "/data");
  std::ofstream(dir + "/data/kek") << std::string(64, 'a') << "\n";
  auto refused = load_kek("file:" + dir + "/data/kek", dir + "/data/");
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("inside the data directory"), std::string::npos);
  std::ofstream(dir + "/short") << "abc\n";
  auto bad = load_kek("file:" + dir + "/short", "");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("key-encryption key file " + dir + "/short"), std::string::npos);
  EXPECT_EQ(load_kek("file:" + dir + "/missing", "").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(load_kek("vault:x", "").status().code(), StatusCode::kInvalidArgument);
  std::filesystem::remove_all(dir);
}

// ---- the key store ---------------------------------------------------------------------------------------------

TEST(KeyStore, RefusesAnotherKekNamingItsSourceAndBothIds) {
  const std::string dir = testing::make_temp_dir();
  { ASSERT_TRUE(KeyStore::open(dir + "/keys", test_kek('a')).ok()); }
  auto wrong = KeyStore::open(dir + "/keys", test_kek('b'));
  ASSERT_EQ(wrong.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(wrong.status().message().find("test key b"), std::string::npos) << wrong.status().ToString();
  EXPECT_NE(wrong.status().message().find(test_kek('a').id()), std::string::npos);
  EXPECT_NE(wrong.status().message().find(test_kek('b').id()), std::string::npos);
  EXPECT_TRUE(KeyStore::open(dir + "/keys", test_kek('a')).ok());
  EXPECT_EQ(KeyStore::open(dir + "/none", test_kek('a'), {.create_if_missing = false}).status().code(),
            StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
}

// The records of the (closed) key store in `dir`, as they are: for the tests that write what an older or a
// newer otinish would have.
void with_records(const std::string& dir, const std::function<void(KeyRecords&)>& f) {
  auto records = open_key_log(dir, {.create_if_missing = false});
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  f(**records);
}
std::optional<std::string> record(KeyRecords& r, const std::string& key) {
  auto v = r.get(key);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return v.ok() ? *v : std::nullopt;
}
void put(KeyRecords& r, const std::string& key, const std::string& value) {
  ASSERT_TRUE(r.write({{KeyRecords::Op::Kind::kPut, key, value}}, /*durable=*/true).ok());
}

// Other records (a key log) passed through, counting the batches of keys made ahead written into them (a put of
// a v/ record), and saying they are shared when `shared` (as a JetStream bucket is: the key store then writes
// and derives what the builds before December 2026 did, for older nodes on the same records).
class PassThroughRecords final : public KeyRecords {
 public:
  explicit PassThroughRecords(std::unique_ptr<KeyRecords> inner, bool shared = false)
      : inner_(std::move(inner)), shared_(shared) {}
  bool shared() const noexcept override { return shared_; }
  int batches() const { return batches_.load(); }
  const std::string& where() const noexcept override { return inner_->where(); }
  Result<std::optional<std::string>> get(std::string_view key) override { return inner_->get(key); }
  void prefetch(std::string_view key) noexcept override { inner_->prefetch(key); }
  Status scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& visit) override {
    return inner_->scan(prefix, visit);
  }
  Status scan_unordered(std::span<const std::string_view> prefixes,
                        const std::function<void(std::string_view, std::string_view)>& visit) override {
    return inner_->scan_unordered(prefixes, visit);
  }
  Status write(const std::vector<Op>& ops, bool durable) override {
    const Status st = inner_->write(ops, durable);
    const bool batch = std::any_of(ops.begin(), ops.end(), [](const Op& op) {
      return op.kind == Op::Kind::kPut && op.key.starts_with("v/");
    });
    if (st.ok() && batch) ++batches_;
    return st;
  }
  Status sync() override { return inner_->sync(); }
  Status purge() override { return inner_->purge(); }
  Status compact() override { return inner_->compact(); }
  Status checkpoint_to(const std::string& dir) override { return inner_->checkpoint_to(dir); }

 private:
  std::unique_ptr<KeyRecords> inner_;
  const bool shared_;
  std::atomic<int> batches_{0};
};

// A key store written by a newer otinish is refused by name, and left as it was.
TEST(KeyStore, RefusesANewerFormatSayingToRunTheNewerOtinish) {
  const std::string dir = testing::make_temp_dir();
  { ASSERT_TRUE(KeyStore::open(dir + "/keys", test_kek('a')).ok()); }
  auto set_format = [&](const std::string& value) {
    with_records(dir + "/keys", [&](KeyRecords& r) { put(r, "m/format", value); });
  };
  with_records(dir + "/keys", [&](KeyRecords& r) { EXPECT_EQ(record(r, "m/format"), "otinish-keys-4"); });
  set_format("otinish-keys-5");
  auto newer = KeyStore::open(dir + "/keys", test_kek('a'));
  ASSERT_EQ(newer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(newer.status().message().find("written by a newer otinish"), std::string::npos) << newer.status().ToString();
  with_records(dir + "/keys", [&](KeyRecords& r) { EXPECT_EQ(record(r, "m/format"), "otinish-keys-5"); });
  for (const char* marker : {"something-else", "otinish-keys-", "otinish-keys-2x", "otinish-keys-99999999999999999999999"}) {
    set_format(marker);
    auto other = KeyStore::open(dir + "/keys", test_kek('a'));  // refused with a message, never a throw
    ASSERT_EQ(other.status().code(), StatusCode::kInvalidArgument) << marker;
    EXPECT_EQ(other.status().message().find("newer"), std::string::npos) << other.status().ToString();
  }
  for (const char* readable : {"otinish-keys-1", "otinish-keys-2", "otinish-keys-3"}) {
    set_format(readable);
    EXPECT_TRUE(KeyStore::open(dir + "/keys", test_kek('a')).ok()) << readable;
    with_records(dir + "/keys", [&](KeyRecords& r) { EXPECT_EQ(record(r, "m/format"), "otinish-keys-3"); });
  }
  set_format("otinish-keys-4");
  EXPECT_TRUE(KeyStore::open(dir + "/keys", test_kek('a')).ok());
  with_records(dir + "/keys", [&](KeyRecords& r) { EXPECT_EQ(record(r, "m/format"), "otinish-keys-4"); });
  std::filesystem::remove_all(dir);
}

// A key store as the builds before format 4 made it (identities hashed with BLAKE2b): made now, then marked
// format 3 before anyone is in it.
void make_format3_store(const std::string& path) {
  { ASSERT_TRUE(KeyStore::open(path, test_kek('a')).ok()); }
  with_records(path, [&](KeyRecords& r) { put(r, "m/format", "otinish-keys-3"); });
}

// The identity's record is named by a keyed hash of the identity: SipHash-2-4-128 in a store of format 4 (every
// store made now), BLAKE2b-128 in one of an earlier format, which keeps it for good (its identities cannot be
// hashed again). Each store finds its people again after reopening.
TEST(KeyStore, TheIdentitysHashIsTheOneItsStoreWasMadeWith) {
  const std::string dir = testing::make_temp_dir();
  const std::string identity = "phone:77015550001";
  for (const bool format4 : {true, false}) {
    const std::string path = dir + (format4 ? "/four" : "/three");
    if (!format4) make_format3_store(path);
    std::string id;
    {
      auto ks = KeyStore::open(path, test_kek('a'));
      ASSERT_TRUE(ks.ok()) << ks.status().ToString();
      auto k = (*ks)->key_for(identity);
      ASSERT_TRUE(k.ok() && (*ks)->sync().ok());
      id = k->applicant_id;
    }
    with_records(path, [&](KeyRecords& r) {
      EXPECT_EQ(record(r, "m/format"), format4 ? "otinish-keys-4" : "otinish-keys-3");
      const auto wrapped = record(r, "m/index-key");
      ASSERT_TRUE(wrapped);
      std::string index_key;
      ASSERT_TRUE(aead_open(test_kek('a').key, *wrapped, "otinish wrapped key v1\x1findex-key", index_key));
      ASSERT_EQ(index_key.size(), 32u);
      std::array<unsigned char, 16> h{};
      const auto* in = reinterpret_cast<const unsigned char*>(identity.data());
      const auto* k = reinterpret_cast<const unsigned char*>(index_key.data());
      if (format4) {
        crypto_shorthash_siphashx24(h.data(), in, identity.size(), k);
      } else {
        crypto_generichash(h.data(), h.size(), in, identity.size(), k, index_key.size());
      }
      EXPECT_EQ(record(r, "i/" + to_hex(std::span<const std::uint8_t>(h.data(), h.size()))),
                std::optional<std::string>(id));
    });
    auto again = KeyStore::open(path, test_kek('a'));
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*(*again)->find(identity), std::optional<std::string>(id));
    auto k = (*again)->key_for(identity);
    ASSERT_TRUE(k.ok());
    EXPECT_EQ(k->applicant_id, id);
    EXPECT_FALSE(k->created);
    again->reset();
    if (!format4) continue;
    // Nothing that rewrites the store forgets which hash it was made with: a rotation, a compaction, a purge,
    // a checkpoint.
    ASSERT_TRUE(KeyStore::rotate(path, test_kek('a'), test_kek('b')).ok());
    {
      auto rotated = KeyStore::open(path, test_kek('b'));
      ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
      ASSERT_TRUE((*rotated)->compact().ok());
      ASSERT_TRUE((*rotated)->purge().ok());
      ASSERT_TRUE((*rotated)->checkpoint_to(path + "-copy").ok());
    }
    for (const std::string& copy : {path, path + "-copy"}) {
      with_records(copy, [&](KeyRecords& r) { EXPECT_EQ(record(r, "m/format"), "otinish-keys-4") << copy; });
      auto ks = KeyStore::open(copy, test_kek('b'));
      ASSERT_TRUE(ks.ok()) << ks.status().ToString();
      EXPECT_EQ(*(*ks)->find(identity), std::optional<std::string>(id)) << copy;
    }
  }
  std::filesystem::remove_all(dir);
}

// Every live record of the key store in `keys` copied into a new RocksDB directory `to`, as an earlier
// otinish kept its key store; `edit` changes them first.
void as_earlier_rocksdb(const std::string& keys, const std::string& to,
                        const std::function<void(std::map<std::string, std::string>&)>& edit = {}) {
  std::map<std::string, std::string> records;
  ASSERT_TRUE(read_key_log(keys, [&](std::string_view k, std::string_view v) { records.emplace(k, v); }).ok());
  if (edit) edit(records);
  // The options the earlier key store was opened with: a hash-table memtable over a 9-byte prefix, Bloom
  // filters, no compression. Half the records are flushed into a table file, the rest stay in the WAL.
  rocksdb::Options o;
  o.create_if_missing = true;
  o.manual_wal_flush = true;
  o.memtable_whole_key_filtering = true;
  o.memtable_prefix_bloom_size_ratio = 0.05;
  o.prefix_extractor.reset(rocksdb::NewCappedPrefixTransform(9));
  o.memtable_factory.reset(rocksdb::NewHashLinkListRepFactory(1 << 17));
  o.allow_concurrent_memtable_write = false;
  o.compression = rocksdb::kNoCompression;
  rocksdb::BlockBasedTableOptions t;
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(o, to, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  std::size_t i = 0;
  for (const auto& [k, v] : records) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), k, v).ok());
    if (++i == records.size() / 2) {
      ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
    }
  }
  ASSERT_TRUE(db->FlushWAL(/*sync=*/true).ok());
}

// An earlier otinish kept the key store in a RocksDB: open() converts it into a key log and deletes the
// RocksDB's files. Format 1 kept an identity's hash in a record of its own (r/<applicant>), format 2 after the
// wrapped key. A format 1 store opens, is marked 2, and its applicants open, are found, rotate and are erased
// whole.
TEST(KeyStore, AnEarlierRocksdbStoreOfFormatOneIsConvertedReadAndItsApplicantsAreErasedWhole) {
  const std::string dir = testing::make_temp_dir();
  std::string id, id2;  // written as format 1, as format 2
  make_format3_store(dir + "/new");  // those formats hashed identities as format 3 does
  {
    auto ks = KeyStore::open(dir + "/new", test_kek('a'));
    ASSERT_TRUE(ks.ok());
    auto k = (*ks)->key_for("phone:77015550001");
    auto k2 = (*ks)->key_for("phone:77015550002");
    ASSERT_TRUE(k.ok() && k2.ok());
    id = k->applicant_id;
    id2 = k2->applicant_id;
    ASSERT_TRUE((*ks)->sync().ok());
  }
  using testing::kWrappedKeyBytes;
  std::string hash, wrapped, id2_wrapped;
  as_earlier_rocksdb(dir + "/new", dir + "/keys", [&](std::map<std::string, std::string>& records) {
    // Rewritten as format 1 wrote it: the data key alone, wrapped, and the identity's hash apart. (Keys are
    // made now with their nonce key beside them, 32 bytes more inside the wrap.)
    for (const std::string& who : {id, id2}) {
      std::string& v = records.at("k/" + who);
      ASSERT_EQ(v.size(), kWrappedKeyBytes + 32 + 32) << "the wrapped key and nonce key, then the identity's hash";
      const std::string ad = "otinish wrapped key v1\x1f" + who;
      std::string plain;
      ASSERT_TRUE(aead_open(test_kek('a').key, std::string_view(v).substr(0, kWrappedKeyBytes + 32), ad, plain));
      const std::string rest = v.substr(kWrappedKeyBytes + 32);
      v = aead_seal(test_kek('a').key, random_nonce(), ad, plain.substr(0, SecretKey::kSize));
      if (who == id) {
        hash = rest;
        wrapped = v;
      } else {
        v += rest;  // format 2 of the builds before: the data key alone, then the hash
        id2_wrapped = v.substr(0, kWrappedKeyBytes);
      }
    }
    records["r/" + id] = hash;
    records["m/format"] = "otinish-keys-1";
  });
  ASSERT_TRUE(KeyStore::exists(dir + "/keys"));
  ASSERT_TRUE(std::filesystem::exists(dir + "/keys/CURRENT"));
  ASSERT_TRUE(KeyStore::rotate(dir + "/keys", test_kek('a'), test_kek('b')).ok());
  EXPECT_FALSE(std::filesystem::exists(dir + "/keys/CURRENT"));
  for (const auto& e : std::filesystem::directory_iterator(dir + "/keys")) {
    const std::string name = e.path().filename().string();
    EXPECT_TRUE(name.ends_with(".klog") || name == "klog.lock") << "a RocksDB file left after the conversion: " << name;
  }
  {
    auto ks = KeyStore::open(dir + "/keys", test_kek('b'));
    ASSERT_TRUE(ks.ok()) << ks.status().ToString();
    EXPECT_TRUE((*ks)->data_key(id).ok());
    EXPECT_TRUE((*ks)->data_key(id2).ok());
    EXPECT_EQ(*(*ks)->find("phone:77015550001"), std::optional<std::string>(id));
    const std::string ids[] = {id, id2};
    ASSERT_TRUE((*ks)->begin_erasure(ids, "test").ok());
    EXPECT_EQ(*(*ks)->find("phone:77015550001"), std::nullopt) << "the format 1 identity was not unlinked";
    EXPECT_EQ(*(*ks)->find("phone:77015550002"), std::nullopt) << "the rotated format 2 identity was not unlinked";
    ASSERT_TRUE((*ks)->finish_erasure(ids).ok());
    ASSERT_TRUE((*ks)->purge().ok());
  }
  with_records(dir + "/keys", [&](KeyRecords& r) {
    EXPECT_EQ(record(r, "m/format"), "otinish-keys-3");
    EXPECT_EQ(record(r, "r/" + id), std::nullopt);
    EXPECT_EQ(record(r, "k/" + id), std::nullopt);
    EXPECT_EQ(record(r, "i/" + hash), std::nullopt);
  });
  EXPECT_EQ(testing::files_containing(dir + "/keys", wrapped), std::vector<std::string>());
  EXPECT_EQ(testing::files_containing(dir + "/keys", id2_wrapped), std::vector<std::string>());
  std::filesystem::remove_all(dir);
}

// A conversion stopped after its key log was written and before the RocksDB's CURRENT was deleted starts over
// from the RocksDB (which still counts); one stopped after CURRENT went finishes deleting the RocksDB's files.
TEST(KeyStore, AnInterruptedConversionStartsOverOrFinishes) {
  const std::string dir = testing::make_temp_dir();
  std::string id;
  {
    auto ks = KeyStore::open(dir + "/new", test_kek('a'));
    ASSERT_TRUE(ks.ok());
    auto k = (*ks)->key_for("phone:77015550001");
    ASSERT_TRUE(k.ok() && (*ks)->sync().ok());
    id = k->applicant_id;
  }
  as_earlier_rocksdb(dir + "/new", dir + "/keys");
  // A key log the interrupted conversion left, holding something the RocksDB does not: it must not count.
  with_records(dir + "/new", [&](KeyRecords& r) { put(r, "k/ap-from-the-stale-log", "x"); });
  std::filesystem::copy_file(dir + "/new/keys-00000001.klog", dir + "/keys/keys-00000001.klog",
                             std::filesystem::copy_options::overwrite_existing);
  {
    auto ks = KeyStore::open(dir + "/keys", test_kek('a'));
    ASSERT_TRUE(ks.ok()) << ks.status().ToString();
    EXPECT_TRUE((*ks)->data_key(id).ok());
    EXPECT_EQ((*ks)->state("ap-from-the-stale-log"), ApplicantKeyState::kUnknown);
  }
  // Stopped after CURRENT went: an SST file of the RocksDB is still there.
  std::filesystem::remove_all(dir + "/keys");
  as_earlier_rocksdb(dir + "/new", dir + "/keys");
  {
    auto ks = KeyStore::open(dir + "/keys", test_kek('a'));
    ASSERT_TRUE(ks.ok()) << ks.status().ToString();
  }
  std::ofstream(dir + "/keys/000009.sst") << "left over";
  std::ofstream(dir + "/keys/MANIFEST-000005") << "left over";
  {
    auto ks = KeyStore::open(dir + "/keys", test_kek('a'));
    ASSERT_TRUE(ks.ok()) << ks.status().ToString();
    EXPECT_TRUE((*ks)->data_key(id).ok());
  }
  EXPECT_FALSE(std::filesystem::exists(dir + "/keys/000009.sst"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/keys/MANIFEST-000005"));
  std::filesystem::remove_all(dir);
}

TEST(KeyStore, OnePersonOneKeyAcrossAppealsAndRestarts) {
  const std::string dir = testing::make_temp_dir();
  std::string first, first_key, first_nonce_key;
  {
    auto ks = KeyStore::open(dir + "/keys", test_kek());
    ASSERT_TRUE(ks.ok());
    auto a = (*ks)->key_for("phone:77015551234");
    auto b = (*ks)->key_for("phone:77015551234");
    auto c = (*ks)->key_for("phone:77777109109");
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    EXPECT_TRUE(a->created);
    EXPECT_FALSE(b->created);
    EXPECT_EQ(a->applicant_id, b->applicant_id);
    EXPECT_NE(a->applicant_id, c->applicant_id);
    EXPECT_EQ(raw(a->key), raw(b->key));
    EXPECT_TRUE(a->applicant_id.starts_with("ap-"));
    EXPECT_EQ(raw(a->nonce_key), raw(b->nonce_key));
    EXPECT_NE(raw(a->nonce_key), raw(a->key));
    EXPECT_NE(raw(a->nonce_key), raw(c->nonce_key));
    first = a->applicant_id;
    first_key = raw(a->key);
    first_nonce_key = raw(a->nonce_key);
  }
  auto ks = KeyStore::open(dir + "/keys", test_kek());
  ASSERT_TRUE(ks.ok());
  auto again = (*ks)->key_for("phone:77015551234");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->applicant_id, first);
  // Read back from the file: the same data key and the same nonce key (a retried registration seals the same
  // bytes after a restart).
  EXPECT_EQ(raw(again->key), first_key);
  EXPECT_EQ(raw(again->nonce_key), first_nonce_key);
  EXPECT_EQ((*ks)->find("phone:77015551234")->value_or(""), first);
  std::filesystem::remove_all(dir);
}

// Enough people that the key store's caches (sets of four entries, chosen by a hash) hold several in one set and
// drop some: every identity must still find its own applicant and key, cached or read back from the store, and
// an erased applicant's key must not be handed out from a cache.
TEST(KeyStore, AmongManyApplicantsEachIdentityFindsItsOwnKeyCachedOrNot) {
  const std::string dir = testing::make_temp_dir();
  constexpr int kPeople = 20'000;
  auto identity = [](int i) { return "phone:7701" + std::to_string(5'000'000 + i); };
  std::vector<std::pair<std::string, std::string>> made;  // applicant, key
  auto ks = KeyStore::open(dir + "/keys", test_kek(), {.sync = false});
  ASSERT_TRUE(ks.ok());
  for (int i = 0; i < kPeople; ++i) {
    auto k = (*ks)->key_for(identity(i));
    ASSERT_TRUE(k.ok() && k->created);
    made.emplace_back(k->applicant_id, raw(k->key));
  }
  const std::string erased[] = {made[7].first, made[kPeople - 1].first};
  ASSERT_TRUE((*ks)->begin_erasure(erased, "test").ok());
  ASSERT_TRUE((*ks)->finish_erasure(erased).ok());
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kPeople; ++i) {
      const bool gone = i == 7 || i == kPeople - 1;
      EXPECT_EQ((*ks)->data_key(made[i].first).ok(), !gone) << i;
      if (gone) continue;
      auto k = (*ks)->key_for(identity(i));
      ASSERT_TRUE(k.ok());
      ASSERT_FALSE(k->created) << i;
      ASSERT_EQ(k->applicant_id, made[i].first) << i;
      ASSERT_EQ(raw(k->key), made[i].second) << i;
      ASSERT_EQ(raw(*(*ks)->data_key(made[i].first)), made[i].second) << i;
    }
    ks->reset();  // closed, and read back: the caches start empty
    ks = KeyStore::open(dir + "/keys", test_kek(), {.sync = false});
    ASSERT_TRUE(ks.ok());
  }
  auto back = (*ks)->key_for(identity(7));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->created);
  EXPECT_NE(back->applicant_id, made[7].first);
  std::filesystem::remove_all(dir);
}

TEST(Identity, PhoneMessengerIdOrWhatTheDeskEntered) {
  EXPECT_EQ(applicant_identity({"A", "8 (701) 555-12-34", "x"}), "phone:77015551234");
  EXPECT_EQ(applicant_identity({"A", "+7 701 555 1234", "y"}), "phone:77015551234");
  EXPECT_EQ(applicant_identity({"A", "@Aigerim_S", ""}), "contact:@aigerim_s");
  EXPECT_EQ(applicant_identity({"  Aigerim   Sadykova ", "", "Abay 1"}), "desk:aigerim sadykova|abay 1");
  EXPECT_EQ(applicant_identity({"", "", ""}), "");
  // What does not tell people apart gives the appeal a key of its own.
  EXPECT_EQ(applicant_identity({"Aliya", "-", ""}), "");
  EXPECT_EQ(applicant_identity({"Aliya", "нет", ""}), "");
  EXPECT_EQ(applicant_identity({"Aliya", "55-12-34", ""}), "");
}

// ---- sealing ---------------------------------------------------------------------------------------------------

TEST(AeadSealer, TheLogHoldsCiphertextOnlyAndTheSealedBytesAreBoundToTheirAppeal) {
  SealedCity city;
  const std::string id = city.reg(kAigerim, "the lift at Tauke khan 10 is broken");
  auto state = city.engine().load(id);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->applicant.scheme, kAeadScheme);
  auto opened = city.engine().applicant(*state);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, kAigerim);

  AeadApplicantSealer sealer(city.keys());
  auto moved = sealer.open(state->applicant, "SHY-2026-0000999");
  EXPECT_EQ(moved.status().code(), StatusCode::kCorruption);
  SealedApplicant altered = state->applicant;
  altered.bytes[30] ^= 1;
  EXPECT_EQ(sealer.open(altered, id).status().code(), StatusCode::kCorruption);
  // Scheme 0 (written before sealing was on) still opens.
  auto plain = PlainApplicantSealer::instance().seal(kBolat, id);
  EXPECT_EQ(*sealer.open(*plain, id), kBolat);

  city.close();
  for (std::string_view needle : {"Aigerim", "Sadykova", "555 1234", "77015551234", "flat 5"}) {
    EXPECT_EQ(files_containing(city.dir(), needle), std::vector<std::string>()) << needle;
  }
}

TEST(AeadSealer, AnAnonymousAppealGetsAKeyOfItsOwn) {
  SealedCity city;
  const std::string a = city.reg({"", "", ""});
  const std::string b = city.reg({"", "", ""});
  EXPECT_NE(city.applicant_id(a), city.applicant_id(b));
}

// The synthetic nonce: the same applicant sealed into the same appeal gives the same bytes (a retried
// registration is the same append); another appeal, or other data under the same key, another nonce; and the
// nonce is SipHash-2-4-128 keyed with the first half of the applicant's nonce key over the associated data's
// length, the associated data and the plaintext, then eight zero bytes (docs/privacy.md spells it out for
// auditors: a change to it must show here).
TEST(AeadSealer, TheNonceIsAKeyedHashOfWhatIsSealedAndWhere) {
  SealedCity city;
  AeadApplicantSealer sealer(city.keys());
  const std::string appeal = "SHY-2026-0000001";
  auto first = sealer.seal(kAigerim, appeal);
  auto again = sealer.seal(kAigerim, appeal);
  auto elsewhere = sealer.seal(kAigerim, "SHY-2026-0000002");
  Applicant renamed = kAigerim;
  renamed.name = "Aigerim S.";
  auto other_data = sealer.seal(renamed, appeal);
  ASSERT_TRUE(first.ok() && again.ok() && elsewhere.ok() && other_data.ok());
  EXPECT_EQ(first->bytes, again->bytes);
  ASSERT_EQ(other_data->key_id, first->key_id) << "the same phone: the same applicant";
  const auto nonce = [](const SealedApplicant& s) { return s.bytes.substr(0, kAeadNonceBytes); };
  EXPECT_NE(nonce(*elsewhere), nonce(*first));
  EXPECT_NE(nonce(*other_data), nonce(*first));

  auto key = city.keys().key_for(sealing_identity(kAigerim, appeal));
  ASSERT_TRUE(key.ok());
  const std::string ad = "otinish applicant v1\x1f" + first->key_id + "\x1f" + appeal;
  std::string input;
  for (int i = 0; i < 8; ++i) input += static_cast<char>((ad.size() >> (8 * i)) & 0xff);
  input += ad;
  input += to_bytes(kAigerim);
  std::string expected(kAeadNonceBytes, '\0');
  crypto_shorthash_siphashx24(reinterpret_cast<unsigned char*>(expected.data()),
                              reinterpret_cast<const unsigned char*>(input.data()), input.size(), key->nonce_key.data());
  EXPECT_EQ(nonce(*first), expected);
  std::string opened;
  ASSERT_TRUE(aead_open(key->key, first->bytes, ad, opened));
  EXPECT_EQ(opened, to_bytes(kAigerim));
}

// A key store shared by nodes keeps the nonce the builds before December 2026 made (a keyed BLAKE2b of the
// associated data and the plaintext, all 24 bytes): a registration retried on a node of the older build during
// a rolling upgrade must seal the same bytes.
TEST(AeadSealer, AStoreSharedByNodesKeepsTheEarlierNonce) {
  const std::string dir = testing::make_temp_dir();
  auto inner = open_key_log(dir + "/keys", {});
  ASSERT_TRUE(inner.ok());
  auto keys = KeyStore::open(std::make_unique<PassThroughRecords>(std::move(*inner), /*shared=*/true), test_kek());
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  ASSERT_TRUE((*keys)->shared());
  AeadApplicantSealer sealer(**keys);
  const std::string appeal = "SHY-2026-0000001";
  auto sealed = sealer.seal(kAigerim, appeal);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealer.seal(kAigerim, appeal)->bytes, sealed->bytes);
  const std::string identity = sealing_identity(kAigerim, appeal);
  auto key = (*keys)->key_for(identity);
  ASSERT_TRUE(key.ok());
  // The nonce key as the older build derives it from the data key (not as this build hands it out): the two
  // must agree, or an older node seals the same registration differently.
  auto data_key = (*keys)->data_key(sealed->key_id);
  ASSERT_TRUE(data_key.ok());
  const SecretKey nonce_key = nonce_subkey(*data_key);
  EXPECT_EQ(raw(key->nonce_key), raw(nonce_key));
  const std::string ad = "otinish applicant v1\x1f" + sealed->key_id + "\x1f" + appeal;
  const std::string plain = to_bytes(kAigerim);
  std::string expected(kAeadNonceBytes, '\0');
  crypto_generichash_state h;
  crypto_generichash_init(&h, nonce_key.data(), SecretKey::kSize, expected.size());
  crypto_generichash_update(&h, reinterpret_cast<const unsigned char*>(ad.data()), ad.size());
  crypto_generichash_update(&h, reinterpret_cast<const unsigned char*>(plain.data()), plain.size());
  crypto_generichash_final(&h, reinterpret_cast<unsigned char*>(expected.data()), expected.size());
  EXPECT_EQ(sealed->bytes.substr(0, kAeadNonceBytes), expected);
  keys->reset();
  // And the records stay as the older build reads them: format 1, the identity's record named by BLAKE2b-128
  // keyed with the whole identity-hashing key (an older node looking the person up must find them).
  with_records(dir + "/keys", [&](KeyRecords& r) {
    EXPECT_EQ(record(r, "m/format"), "otinish-keys-1");
    const auto wrapped = record(r, "m/index-key");
    ASSERT_TRUE(wrapped);
    std::string index_key;
    ASSERT_TRUE(aead_open(test_kek().key, *wrapped, "otinish wrapped key v1\x1findex-key", index_key));
    std::array<unsigned char, 16> hash{};
    crypto_generichash(hash.data(), hash.size(), reinterpret_cast<const unsigned char*>(identity.data()),
                       identity.size(), reinterpret_cast<const unsigned char*>(index_key.data()), index_key.size());
    EXPECT_EQ(record(r, "i/" + to_hex(std::span<const std::uint8_t>(hash.data(), hash.size()))),
              std::optional<std::string>(sealed->key_id));
  });
  std::filesystem::remove_all(dir);
}

// A batch of keys is wrapped with HChaCha20 computed once (AeadBatchSealer): the bytes must be XChaCha20-Poly1305's
// with the nonce prefix || n, so that every build opens them as it opens any wrapped key.
TEST(Aead, ABatchSealsAsXChaCha20Poly1305WithItsNonces) {
  const SecretKey key = SecretKey::random();
  std::array<std::uint8_t, AeadBatchSealer::kPrefixBytes> prefix;
  randombytes_buf(prefix.data(), prefix.size());
  const AeadBatchSealer batch(key, prefix);
  for (std::uint64_t n : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1023}, std::uint64_t{0x0102030405060708}}) {
    const std::string ad = "otinish wrapped key v1\x1f" "ap-" + std::to_string(n);
    const std::string plain(64, static_cast<char>('a' + n % 26));
    std::string got = "kept";
    batch.seal_into(got, n, ad, plain);
    ASSERT_EQ(got.substr(0, 4), "kept") << "appended";
    got = got.substr(4);
    AeadNonce nonce;
    std::copy(prefix.begin(), prefix.end(), nonce.begin());
    for (int i = 0; i < 8; ++i) nonce[16 + i] = static_cast<std::uint8_t>(n >> (8 * i));
    EXPECT_EQ(got, aead_seal(key, nonce, ad, plain)) << n;
    std::string opened;
    ASSERT_TRUE(aead_open(key, got, ad, opened));
    EXPECT_EQ(opened, plain);
  }
}

// ---- erasure ---------------------------------------------------------------------------------------------------

TEST(Erasure, ThePersonIsPhysicallyGoneAndTheLogStillVerifies) {
  SealedCity city;
  const std::string a1 = city.reg(kAigerim);
  const std::string a2 = city.reg({"Aigerim S.", "8 701 555 12 34", "Tauke khan ave 10"});
  const std::string b1 = city.reg(kBolat);
  const std::string aigerim = city.applicant_id(a1);
  ASSERT_EQ(city.applicant_id(a2), aigerim);
  auto key = city.keys().data_key(aigerim);
  ASSERT_TRUE(key.ok());
  const std::string data_key = raw(*key);
  city.close();
  const std::string wrapped = wrapped_key_of(city.dir() + "/keys", aigerim);
  ASSERT_FALSE(wrapped.empty());
  EXPECT_FALSE(files_containing(city.dir(), wrapped).empty()) << "the search must be able to find the wrapped key";
  EXPECT_TRUE(files_containing(city.dir(), data_key).empty());
  city.open();

  auto erased = erase_applicants(city.keys(), city.store(),
                                 {{aigerim}, "request of the applicant", "", {"privacy:dpo", "privacy_officer", ""}});
  ASSERT_TRUE(erased.ok()) << erased.status().ToString();
  ASSERT_EQ(erased->size(), 1u);
  EXPECT_EQ((*erased)[0].appeals, (std::vector<std::string>{a1, a2}));
  EXPECT_EQ(city.keys().state(aigerim), ApplicantKeyState::kErased);

  auto state = city.engine().load(a1);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(city.engine().applicant(*state).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*city.engine().applicant(*city.engine().load(b1)), kBolat);
  auto last = city.store().read_stream("appeal-" + a2, UINT64_MAX, store::Direction::kBackward, 1);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ((*last)[0].type, kApplicantErasedType);
  EXPECT_EQ((*last)[0].actor.role, "privacy_officer");
  auto verified = store::verify_log(city.store(), {.indexes = true});
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->ok) << verified->to_string();

  // Erasing again writes nothing and says so.
  const std::uint64_t head = city.store().head_position();
  auto again = erase_applicants(city.keys(), city.store(), {{aigerim}, "again", "", {}});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)[0].already_erased);
  EXPECT_EQ(city.store().head_position(), head);
  EXPECT_EQ(erase_applicants(city.keys(), city.store(), {{"ap-0000000000000000"}, "x", "", {}}).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(erase_applicants(city.keys(), city.store(), {{aigerim}, "", "", {}}).status().code(),
            StatusCode::kInvalidArgument);

  city.close();
  EXPECT_EQ(files_containing(city.dir(), wrapped), std::vector<std::string>());
  EXPECT_EQ(files_containing(city.dir(), data_key), std::vector<std::string>());
  for (std::string_view needle : {"Aigerim", "Sadykova", "555 1234", "77015551234"}) {
    EXPECT_EQ(files_containing(city.dir(), needle), std::vector<std::string>()) << needle;
  }
  city.open();
  // The same person calling again is a new applicant with a new key.
  const std::string a3 = city.reg(kAigerim);
  EXPECT_NE(city.applicant_id(a3), aigerim);
  EXPECT_EQ(*city.engine().applicant(*city.engine().load(a3)), kAigerim);
}

// A log that refuses appends to appeal streams: an erasure stops after its first step, as a crash there would.
class RefusingAppeals final : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Result<store::AppendResult> append(std::string_view stream, store::ExpectedVersion expected,
                                     std::span<const store::EventData> events,
                                     const store::AppendOptions& options) override {
    if (stream.starts_with("appeal-")) return Status::IOError("disk full (injected)");
    return inner_.append(stream, expected, events, options);
  }
};

TEST(Erasure, AnInterruptedErasureIsNeverHalfVisibleAndIsFinishedAsItWasAsked) {
  SealedCity city;
  const std::string a1 = city.reg(kAigerim);
  const std::string a2 = city.reg(kAigerim);
  const std::string b1 = city.reg(kBolat);
  const std::string aigerim = city.applicant_id(a1);
  RefusingAppeals refusing(city.store());
  ErasureRequest r{{aigerim}, "retention: complaint, 5 years after closure", "retention.complaint",
                   {"retention", "system", ""}};
  EXPECT_EQ(erase_applicants(city.keys(), refusing, r).status().code(), StatusCode::kIOError);
  // Interrupted after step one: the key is never handed out again, nothing is in the log yet.
  EXPECT_EQ(city.keys().state(aigerim), ApplicantKeyState::kErasing);
  EXPECT_EQ(city.engine().applicant(*city.engine().load(a1)).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(city.keys().pending_erasures()->size(), 1u);

  // After a restart the server finishes it, with the reason and rule it was asked with.
  city.close();
  city.open();
  EXPECT_EQ(city.keys().state(aigerim), ApplicantKeyState::kErasing);
  auto finished = finish_interrupted_erasures(city.keys(), city.store());
  ASSERT_TRUE(finished.ok()) << finished.status().ToString();
  EXPECT_EQ(*finished, 1u);
  EXPECT_EQ(city.keys().state(aigerim), ApplicantKeyState::kErased);
  for (const std::string& appeal : {a1, a2}) {
    auto last = city.store().read_stream("appeal-" + appeal, UINT64_MAX, store::Direction::kBackward, 1);
    ASSERT_TRUE(last.ok());
    ASSERT_EQ((*last)[0].type, kApplicantErasedType);
    auto ev = decode_privacy_event((*last)[0].type, (*last)[0].schema_version, (*last)[0].payload);
    const auto& x = std::get<ApplicantErased>(*ev);
    EXPECT_EQ(x.reason, r.reason);
    EXPECT_EQ(x.rule, r.rule);
    EXPECT_EQ((*last)[0].actor.user, "retention");
  }
  EXPECT_EQ(*city.engine().applicant(*city.engine().load(b1)), kBolat);
  EXPECT_EQ(*finish_interrupted_erasures(city.keys(), city.store()), 0u);
}

TEST(Erasure, ViewsShowTheAppealWithTheApplicantErasedAndARebuildAgrees) {
  SealedCity city;
  const std::string a1 = city.reg(kAigerim);
  const std::string a2 = city.reg(kAigerim);
  const std::string dir = city.dir() + "/views";
  auto runner = ProjectionRunner::open(city.store(), dir, standard_projections());
  ASSERT_TRUE(runner.ok());
  ASSERT_TRUE((*runner)->catch_up().ok());
  ASSERT_TRUE(erase_applicants(city.keys(), city.store(), {{city.applicant_id(a1)}, "request of the applicant", "", {}}).ok());
  ASSERT_TRUE((*runner)->catch_up().ok());
  auto appeals = (*runner)->reader("appeals");
  auto row = get_appeal_row(**appeals, a1);
  ASSERT_TRUE(row.ok());
  EXPECT_TRUE(row->applicant_erased);
  auto timeline = read_timeline(**(*runner)->reader("timeline"), a2);
  ASSERT_TRUE(timeline.ok());
  EXPECT_EQ(timeline->back().summary, "applicant's personal data erased: request of the applicant");
  auto repeats = read_repeats(**(*runner)->reader("repeats"), a2);
  ASSERT_TRUE(repeats.ok());
  EXPECT_EQ(repeats->size(), 1u) << "one applicant's appeals on one topic are repeats (by applicant id)";
  for (const char* name : {"appeals", "timeline", "repeats", "scorecards", "public"}) {
    auto live = dump_view(**(*runner)->reader(name));
    ASSERT_TRUE((*runner)->rebuild(name).ok());
    EXPECT_EQ(*live, *dump_view(**(*runner)->reader(name))) << name;
  }
}

// ---- key rotation ----------------------------------------------------------------------------------------------

TEST(KeyRotation, RewrapsEveryKeyTheOldKekIsRefusedAndItsCopiesAreGone) {
  SealedCity city(test_kek('a'));
  const std::string a1 = city.reg(kAigerim);
  const std::string b1 = city.reg(kBolat);
  const std::string aigerim = city.applicant_id(a1);
  city.close();
  const std::string old_wrapped = wrapped_key_of(city.dir() + "/keys", aigerim);
  EXPECT_EQ(KeyStore::rotate(city.dir() + "/keys", test_kek('a'), test_kek('a')).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(KeyStore::rotate(city.dir() + "/keys", test_kek('c'), test_kek('b')).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(KeyStore::rotate(city.dir() + "/keys", test_kek('a'), test_kek('b')).ok());
  EXPECT_EQ(KeyStore::open(city.dir() + "/keys", test_kek('a')).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(files_containing(city.dir(), old_wrapped), std::vector<std::string>());
  auto ks = KeyStore::open(city.dir() + "/keys", test_kek('b'));
  ASSERT_TRUE(ks.ok()) << ks.status().ToString();
  auto store = store::open_rocks_store(city.dir() + "/log");
  ASSERT_TRUE(store.ok());
  AeadApplicantSealer sealer(**ks);
  Engine engine(**store, SystemClock::instance(), nullptr, sealer);
  EXPECT_EQ(*engine.applicant(*engine.load(a1)), kAigerim);
  EXPECT_EQ(*engine.applicant(*engine.load(b1)), kBolat);
  // The identity index survives too: the same person still finds the same applicant.
  EXPECT_EQ((*ks)->find("phone:77015551234")->value_or(""), aigerim);
}

// ---- the access log --------------------------------------------------------------------------------------------

TEST(AccessLog, NReadsAreNRecordsInFewAppendsAndTheViewAnswersPerAppeal) {
  SealedCity city;
  const std::string a1 = city.reg(kAigerim);
  const std::string b1 = city.reg(kBolat);
  {
    AccessRecorder recorder(city.store(), city.clock(), {.flush_every = std::chrono::milliseconds(1000)});
    for (int i = 0; i < 25; ++i) {
      recorder.record({"tok" + std::to_string(i % 3), "operator", ""},
                      {i % 5 == 0 ? b1 : a1, "ap-x", "contact", "callback " + std::to_string(i)});
    }
    ASSERT_TRUE(recorder.flush().ok());
    const auto st = recorder.stats();
    EXPECT_EQ(st.recorded, 25u);
    EXPECT_EQ(st.appended, 25u);
    EXPECT_LE(st.appends, 2u) << "reads are batched, not an fsync each";
  }
  auto runner = ProjectionRunner::open(city.store(), city.dir() + "/views", standard_projections());
  ASSERT_TRUE(runner.ok());
  ASSERT_TRUE((*runner)->catch_up().ok());
  auto log = read_access_log(**(*runner)->reader("access"), a1);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 20u);
  EXPECT_EQ((*log)[0].token_id, "tok1");
  EXPECT_EQ((*log)[0].purpose, "callback 1");
  EXPECT_EQ((*log)[0].what, "contact");
  EXPECT_EQ(read_access_log(**(*runner)->reader("access"), b1)->size(), 5u);
  auto day = city.store().read_stream(access_stream(city.clock().now()), 1, store::Direction::kForward, 100);
  ASSERT_TRUE(day.ok());
  EXPECT_EQ(day->size(), 25u);
}

TEST(AccessLog, RecordsQueuedAtDestructionAreAppended) {
  SealedCity city;
  const std::string a1 = city.reg(kAigerim);
  {
    AccessRecorder recorder(city.store(), city.clock(), {.flush_every = std::chrono::hours(1)});
    recorder.record({"tok", "operator", ""}, {a1, "ap-x", "contact", "callback"});
  }
  auto day = city.store().read_stream(access_stream(city.clock().now()), 1, store::Direction::kForward, 10);
  ASSERT_TRUE(day.ok());
  EXPECT_EQ(day->size(), 1u);
}

}  // namespace
}  // namespace otinish::engine::privacy

// ---- retention -------------------------------------------------------------------------------------------------

namespace otinish::engine::privacy {
namespace {

rules::RuleSet retention_rules() {
  std::vector<rules::Diagnostic> diags;
  auto rs = rules::parse_rule_set(
      "rule_set: t\ncalendars: {kz: kz.yaml}\ndefault_calendar: kz\nrules:\n"
      "  - {id: a, clocks: [{name: x, target: 1h, start: registered, stop: closed}]}\n"
      "retention:\n"
      "  - {id: complaints, category: complaint, keep: 60mo}\n"
      "  - {id: gratitude, category: gratitude, keep: 30d}\n",
      "t.yaml", &diags);
  EXPECT_TRUE(rs.has_value());
  return *rs;
}

Timestamp at(const char* text) {
  Timestamp t;
  EXPECT_TRUE(parse_utc(text, &t)) << text;
  return t;
}

TEST(Retention, PeriodsEndInDaysOrCalendarMonthsInKazakhstanTime) {
  rules::Target months{60, rules::Unit::kMonths}, month{1, rules::Unit::kMonths}, days{30, rules::Unit::kDays};
  EXPECT_EQ(retention_end(at("2026-03-02T10:00:00+05:00"), months), at("2031-03-02T10:00:00+05:00"));
  EXPECT_EQ(retention_end(at("2026-01-31T12:00:00+05:00"), month), at("2026-02-28T12:00:00+05:00"));
  // 20:00 UTC on 31 Jan is already 1 Feb in Kazakhstan: a month later is 1 March there.
  EXPECT_EQ(retention_end(at("2026-01-31T20:00:00Z"), month), at("2026-03-01T01:00:00+05:00"));
  EXPECT_EQ(retention_end(at("2026-03-02T10:00:00Z"), days), at("2026-04-01T10:00:00Z"));
}

// A gratitude: registered, sent for review, forwarded to the agency and closed in one step.
std::string closed_gratitude(SealedCity& city, const Applicant& a) {
  RegisterAppeal r{.centre = "SHY", .category = Category::kGratitude, .topic = "gratitude.general",
                   .location = {"Abay", "Tauke khan"}, .text = "thank you", .applicant = a};
  static int n = 0;
  auto reg = city.engine().register_appeal(r, {"g-" + std::to_string(++n), {"operator:t", "operator", ""}, ""});
  EXPECT_TRUE(reg.ok());
  EXPECT_TRUE(city.engine().execute(reg->appeal_id, SendForReview{}, {"g-" + std::to_string(++n), {}, ""}).ok());
  auto closed = city.engine().execute(reg->appeal_id, Assign{"akimat"}, {"g-" + std::to_string(++n), {}, ""});
  EXPECT_TRUE(closed.ok() && closed->stage == Stage::kClosed);
  return reg->appeal_id;
}

TEST(Retention, AnApplicantIsDueOnlyOnceEveryAppealIsClosedAndPastItsPeriod) {
  SealedCity city;
  const rules::RuleSet rs = retention_rules();
  const std::string g1 = closed_gratitude(city, kAigerim);  // closed 2026-03-02
  const std::string open_complaint = city.reg(kBolat);
  const std::string g2 = closed_gratitude(city, kBolat);
  const std::string aigerim = city.applicant_id(g1);

  auto early = plan_retention(city.store(), rs, at("2026-03-20T00:00:00Z"));
  ASSERT_TRUE(early.ok());
  EXPECT_TRUE(early->due.empty());
  EXPECT_EQ(early->applicants, 2u);
  EXPECT_EQ(early->not_yet_due, 1u);
  EXPECT_EQ(early->with_open_appeal, 1u) << "Bolat's complaint is open: his gratitude's period does not erase him";
  ASSERT_TRUE(early->next_due.has_value());

  auto later = plan_retention(city.store(), rs, at("2026-04-02T00:00:00Z"));
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(later->due.size(), 1u);
  EXPECT_EQ(later->due[0].applicant_id, aigerim);
  EXPECT_EQ(later->due[0].rule_id, "gratitude");
  EXPECT_EQ(later->due[0].appeals, std::vector<std::string>{g1});
  EXPECT_NE(format_retention_plan(*later, rs, at("2026-04-02T00:00:00Z")).find("gratitude (keep 30d after closure, line 8): 1"),
            std::string::npos);

  auto run = run_retention(city.keys(), city.store(), rs, std::string(64, 'f'), at("2026-04-02T00:00:00Z"));
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->erased, 1u);
  EXPECT_EQ(city.keys().state(aigerim), ApplicantKeyState::kErased);
  EXPECT_TRUE(city.engine().applicant(*city.engine().load(open_complaint)).ok());
  auto last = city.store().read_stream("appeal-" + g1, UINT64_MAX, store::Direction::kBackward, 1);
  auto ev = decode_privacy_event((*last)[0].type, (*last)[0].schema_version, (*last)[0].payload);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(std::get<ApplicantErased>(*ev).rule, "gratitude");
  EXPECT_NE(std::get<ApplicantErased>(*ev).reason.find("rule gratitude of rule set ffffffffffff keeps personal data 30d"),
            std::string::npos) << std::get<ApplicantErased>(*ev).reason;
  // A second run finds nothing more to do.
  auto again = run_retention(city.keys(), city.store(), rs, std::string(64, 'f'), at("2026-04-02T00:00:00Z"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->erased, 0u);
  (void)g2;
}

TEST(Retention, NoMatchingRuleMeansKeptUntilARequest) {
  SealedCity city;
  std::vector<rules::Diagnostic> diags;
  auto only_complaints = rules::parse_rule_set(
      "rule_set: t\ncalendars: {kz: kz.yaml}\ndefault_calendar: kz\nrules:\n"
      "  - {id: a, clocks: [{name: x, target: 1h, start: registered, stop: closed}]}\n"
      "retention:\n  - {id: complaints, category: complaint, keep: 1d}\n",
      "t.yaml", &diags);
  ASSERT_TRUE(only_complaints.has_value());
  closed_gratitude(city, kAigerim);
  auto plan = plan_retention(city.store(), *only_complaints, at("2030-01-01T00:00:00Z"));
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->due.empty());
  EXPECT_EQ(plan->no_rule, 1u);
}

// The service carries out the rule set in force on its timer, and cites the published rule set's hash.
TEST(Retention, TheServiceErasesOnItsTimerUnderTheRuleSetInForce) {
  SealedCity city;
  RuleRegistry registry(city.store());
  ASSERT_TRUE(registry.load().ok());
  const char* root = std::getenv("OTINISH_SOURCE_DIR");
  std::ifstream kz(std::string(root ? root : ".") + "/examples/calendars/kz.yaml");
  std::stringstream kz_text;
  kz_text << kz.rdbuf();
  ASSERT_TRUE(registry.publish_calendar(kz_text.str(), "kz.yaml", RebindPolicy::kKeep, {"admin:t", "admin", ""}).ok());
  auto published = registry.publish_rule_set(
      "rule_set: t\ncalendars: {kz: kz.yaml}\ndefault_calendar: kz\nrules:\n"
      "  - {id: a, clocks: [{name: x, target: 1h, start: registered, stop: closed}]}\n"
      "retention:\n  - {id: thanks, category: gratitude, keep: 30d}\n",
      "t.yaml", RebindPolicy::kKeep, {"admin:t", "admin", ""});
  ASSERT_TRUE(published.ok()) << published.status().ToString();
  const std::string g = closed_gratitude(city, kAigerim);
  const std::string aigerim = city.applicant_id(g);
  RetentionService service(city.keys(), city.store(), registry, city.clock(),
                           {.interval = std::chrono::milliseconds(10)});
  service.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(city.keys().state(aigerim), ApplicantKeyState::kActive) << "not due yet";
  city.clock().set(city.clock().now() + std::chrono::hours(24 * 31));
  for (int i = 0; i < 200 && city.keys().state(aigerim) != ApplicantKeyState::kErased; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  service.stop();
  EXPECT_TRUE(service.last_status().ok()) << service.last_status().ToString();
  ASSERT_EQ(city.keys().state(aigerim), ApplicantKeyState::kErased);
  auto last = city.store().read_stream("appeal-" + g, UINT64_MAX, store::Direction::kBackward, 1);
  auto ev = decode_privacy_event((*last)[0].type, (*last)[0].schema_version, (*last)[0].payload);
  ASSERT_TRUE(ev.ok());
  EXPECT_NE(std::get<ApplicantErased>(*ev).reason.find(published->content_hash.substr(0, 12)), std::string::npos);
  EXPECT_EQ((*last)[0].actor.user, "retention");
}

}  // namespace
}  // namespace otinish::engine::privacy

// ---- redaction -------------------------------------------------------------------------------------------------


namespace otinish::engine::privacy {
namespace {

TEST(Redaction, PhonesEmailsHandlesAndFlatNumbersAreTakenOutAndTheProblemStays) {
  EXPECT_EQ(redact_personal_data("call me at 8 (701) 555-12-34 please"), "call me at [phone] please");
  EXPECT_EQ(redact_personal_data("+7 701 555 1234, or 87015551234"), "[phone], or [phone]");
  EXPECT_EQ(redact_personal_data("ИИН 900101300123"), "ИИН [phone]");
  EXPECT_EQ(redact_personal_data("write aigerim.s@mail.kz or @aigerim_s"), "write [email] or [contact]");
  EXPECT_EQ(redact_personal_data("Тәуке хан 12, кв. 45; flat 7"), "Тәуке хан 12, [flat]; [flat]");
  // What is not personal stays: dates, times, short numbers, house numbers, amounts.
  for (const char* kept : {"2026-03-02 10:00", "lift in block 3, entrance 2", "Abay ave 150", "replaced 120 m of pipe",
                           "contract 2025/117", "ticket 1234567"}) {
    EXPECT_EQ(redact_personal_data(kept), kept);
  }
}

TEST(Redaction, TheApplicantsOwnNameAddressAndPhoneGoWhereverTheyAre) {
  const Applicant a{"Айгерім Сәрсенова", "8 777 710 9109", "Тәуке хан даңғылы 12, кв. 45"};
  EXPECT_EQ(redact_personal_data("Сәрсенова жалуется: лифт на Тәуке хан даңғылы 12, кв. 45 стоит", a),
            "[applicant] жалуется: лифт на [applicant] стоит");
  EXPECT_EQ(redact_personal_data("перезвонить Айгерім по 8 777 710 9109", a), "перезвонить [applicant] по [applicant]");
}

RC_GTEST_PROP(Redaction, NoPhoneNumberSurvivesInAnyFormat, ()) {
  const auto digits = *rc::gen::container<std::string>(10, rc::gen::inRange('0', static_cast<char>('9' + 1)));
  const std::string phone = "7" + digits.substr(0, 10);
  const std::vector<std::string> seps = {"", " ", "-", "."};
  std::string written = *rc::gen::element<std::string>("+", "8", "");
  written += written == "8" ? phone.substr(1, 3) : phone.substr(written == "+" ? 0 : 1, written == "+" ? 4 : 3);
  std::string tail = phone.substr(4);
  const std::string sep = *rc::gen::elementOf(seps);
  written += sep + tail.substr(0, 3) + sep + tail.substr(3, 2) + sep + tail.substr(5);
  const std::string before = *rc::gen::element<std::string>("", "мой номер ", "call ", "тел.: ");
  const std::string after = *rc::gen::element<std::string>("", " спасибо", ", thanks", ".");
  const std::string out = redact_personal_data(before + written + after);
  std::string only_digits;
  for (char c : out) {
    if (c >= '0' && c <= '9') only_digits += c;
  }
  RC_ASSERT(only_digits.find(tail) == std::string::npos);
  RC_ASSERT(out.find("[phone]") != std::string::npos);
}

TEST(Redaction, RegistrationStoresTheRedactedTextAndSealsTheTextAsGiven) {
  SealedCity city;
  const std::string text = "Aigerim Sadykova: the lift is stuck, call +7 701 555 1234 or kv. 5";
  const std::string id = city.reg(kAigerim, "Sadykova says the lift at flat 5 is stuck; call 8 701 555 12 34");
  auto state = city.engine().load(id);
  auto first = city.store().read_stream("appeal-" + id, 1, store::Direction::kForward, 1);
  auto ev = decode_event((*first)[0].type, (*first)[0].schema_version, (*first)[0].payload);
  const auto& reg = std::get<AppealRegistered>(ev->body);
  EXPECT_EQ(reg.text, "[applicant] says the lift at [flat] is stuck; call [phone]");
  auto opened = city.engine().applicant(*state);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->original_text, "Sadykova says the lift at flat 5 is stuck; call 8 701 555 12 34");
  // Later free text too.
  ASSERT_TRUE(city.engine().execute(id, Comment{"applicant asked to call 87015551234"}, {"c1", {}, ""}).ok());
  auto last = city.store().read_stream("appeal-" + id, UINT64_MAX, store::Direction::kBackward, 1);
  auto comment = decode_event((*last)[0].type, (*last)[0].schema_version, (*last)[0].payload);
  EXPECT_EQ(std::get<AppealCommented>(comment->body).text, "applicant asked to call [phone]");
  (void)text;
}

}  // namespace
}  // namespace otinish::engine::privacy

// ---- review: crash windows and races ---------------------------------------------------------------------------

namespace otinish::engine::privacy {
namespace {

// ---- a new applicant's key is durable before its appeal ---------------------------------------------------------

Applicant person(int i) {
  return {"Person " + std::to_string(i), "+7 701 555 " + std::to_string(1000 + i), "Tole bi " + std::to_string(i)};
}

// A power cut keeps of each file only what was last synced (the log's and the key store's alike). Every appeal
// acknowledged before it must still open with its applicant's key: a new applicant's key is written unsynced
// when it is made, and must be synced before the appeal that names it is appended, on both registration
// paths. (Appended first, the log's fsync would keep appeals whose keys the cut took.) Both ways a new
// applicant gets a key: made ahead (synced with its batch), and made as it comes (no keys made ahead).
class KeyStorePowerCut : public ::testing::TestWithParam<std::size_t> {};
// (64: the batch made at open is the only one, and no sync of the key store's runs before the cut.)
INSTANTIATE_TEST_SUITE_P(KeysAhead, KeyStorePowerCut, ::testing::Values(64, 0));
TEST_P(KeyStorePowerCut, APowerCutKeepsTheKeyOfEveryAcknowledgedAppeal) {
  auto fs = std::make_shared<store::testing::FaultFs>();
  SealedCity city(test_kek(), fs, /*keys_ahead=*/GetParam());
  std::vector<std::string> acknowledged;
  for (int i = 0; i < 4; ++i) acknowledged.push_back(city.reg(person(i)));
  std::mutex mu;
  std::vector<std::thread> desks;
  for (int d = 0; d < 4; ++d) {
    desks.emplace_back([&, d] {
      for (int i = 0; i < 4; ++i) {
        std::promise<Result<CommandResult>> answer;
        city.engine().register_appeal_async(SealedCity::registration(person(100 + 10 * d + i)), city.meta(),
                                            [&answer](Result<CommandResult> r) { answer.set_value(std::move(r)); });
        auto r = answer.get_future().get();
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        std::lock_guard lock(mu);
        acknowledged.push_back(r->appeal_id);
      }
    });
  }
  for (auto& d : desks) d.join();
  ASSERT_EQ(acknowledged.size(), 20u);
  fs->power_cut();
  city.close();
  fs->drop_unsynced();
  city.open();
  for (const std::string& id : acknowledged) {
    auto state = city.engine().load(id);
    ASSERT_TRUE(state.ok()) << id << ": " << state.status().ToString();
    auto opened = city.engine().applicant(*state);
    EXPECT_TRUE(opened.ok()) << id << ": " << opened.status().ToString();
  }
}

// sync() and sync_async() make every key made before them durable, with fsyncs shared by whoever waits; with
// nothing new they answer at once, on the caller's thread, without an fsync.
TEST(KeyStore, NewKeysAreDurableOnceASyncAnswersAndWaitersShareIt) {
  const std::string dir = testing::make_temp_dir();
  auto fs = std::make_shared<store::testing::FaultFs>();
  std::vector<std::string> made;
  {
    auto ks = KeyStore::open(dir + "/keys", test_kek(), {.file_system = fs, .keys_ahead = 0});
    ASSERT_TRUE(ks.ok()) << ks.status().ToString();
    const auto me = std::this_thread::get_id();
    std::uint64_t syncs = fs->syncs();
    bool answered_here = false;
    (*ks)->sync_async([&](Status s) { answered_here = s.ok() && std::this_thread::get_id() == me; });
    EXPECT_TRUE(answered_here) << "nothing to sync: answered at once, on the calling thread";
    EXPECT_TRUE((*ks)->sync().ok());
    EXPECT_EQ(fs->syncs(), syncs);

    fs->set_sync_delay(std::chrono::milliseconds(100));
    syncs = fs->syncs();
    constexpr int kDesks = 8;
    std::mutex mu;
    std::vector<int> answers(kDesks, 0);
    std::vector<std::thread> desks;
    for (int i = 0; i < kDesks; ++i) {
      desks.emplace_back([&, i] {
        auto k = (*ks)->key_for("phone:7701555" + std::to_string(2000 + i));
        ASSERT_TRUE(k.ok());
        std::promise<Status> synced;
        (*ks)->sync_async([&, i](Status s) {
          std::lock_guard lock(mu);
          ++answers[i];
          synced.set_value(s);
        });
        EXPECT_TRUE(synced.get_future().get().ok());
        std::lock_guard lock(mu);
        made.push_back(k->applicant_id);
      });
    }
    for (auto& d : desks) d.join();
    fs->set_sync_delay(std::chrono::microseconds(0));
    EXPECT_EQ(answers, std::vector<int>(kDesks, 1));
    EXPECT_LT(fs->syncs() - syncs, std::uint64_t{kDesks}) << "each new key had an fsync of its own";
    syncs = fs->syncs();
    EXPECT_TRUE((*ks)->sync().ok());
    EXPECT_EQ(fs->syncs(), syncs) << "everything was synced already";
    fs->power_cut();
  }
  fs->drop_unsynced();
  auto ks = KeyStore::open(dir + "/keys", test_kek());
  ASSERT_TRUE(ks.ok()) << ks.status().ToString();
  for (const std::string& id : made) EXPECT_EQ((*ks)->state(id), ApplicantKeyState::kActive) << id;
  std::filesystem::remove_all(dir);
}

// Records in memory, as a RocksDB key store's (written once sync() is asked, not durable on write), that
// count their writes and can be made to refuse them.
class MemoryRecords final : public KeyRecords {
 public:
  struct State {
    std::mutex mu;
    std::map<std::string, std::string> records;
    std::vector<std::size_t> writes;  // how many ops each write held
    std::vector<bool> durable;        // and whether it was asked to be durable
    std::vector<std::vector<std::string>> keys;  // and its ops' keys
    int syncs = 0;
    bool refuse = false;
    std::function<void()> before_write;  // called (without the lock) as a write begins, when set
    bool has(const std::string& k) {
      std::lock_guard lock(mu);
      return records.contains(k);
    }
  };
  explicit MemoryRecords(std::shared_ptr<State> state) : state_(std::move(state)) {}
  const std::string& where() const noexcept override { return where_; }
  Result<std::optional<std::string>> get(std::string_view k) override {
    std::lock_guard lock(state_->mu);
    auto it = state_->records.find(std::string(k));
    return it == state_->records.end() ? std::optional<std::string>() : std::optional<std::string>(it->second);
  }
  Status scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& visit) override {
    std::lock_guard lock(state_->mu);
    auto& records = state_->records;
    for (auto it = records.lower_bound(std::string(prefix)); it != records.end() && it->first.starts_with(prefix); ++it) {
      visit(it->first, it->second);
    }
    return Status::Ok();
  }
  Status write(const std::vector<Op>& ops, bool durable) override {
    if (state_->before_write) state_->before_write();
    std::lock_guard lock(state_->mu);
    if (state_->refuse) return Status::Unavailable("the test's records refuse writes");
    for (const Op& op : ops) {
      if (op.kind == Op::Kind::kCreate && state_->records.contains(op.key)) return Status::AlreadyExists(op.key);
      if (op.kind == Op::Kind::kDelete) {
        state_->records.erase(op.key);
      } else {
        state_->records[op.key] = op.value;
      }
    }
    state_->writes.push_back(ops.size());
    state_->durable.push_back(durable);
    auto& keys = state_->keys.emplace_back();
    for (const Op& op : ops) keys.push_back(op.key);
    return Status::Ok();
  }
  Status sync() override {
    std::lock_guard lock(state_->mu);
    ++state_->syncs;
    return Status::Ok();
  }
  Status purge() override { return Status::Ok(); }
  Status checkpoint_to(const std::string&) override { return Status::FailedPrecondition("not here"); }

 private:
  std::shared_ptr<State> state_;
  std::string where_ = "the test's records";
};

// A new applicant is one write of its two records, not durable (a key log's buffer), and sync() makes every
// such write durable with one call of the records' sync; with nothing new, sync() calls nothing. Records that
// refuse writes (a full disk) refuse the new applicant at once, and reads go on.
// A returning applicant's registration does not wait for other people's new keys to be synced: its own key is
// durable already, and sync_async for it answers at once, on the caller's thread. A new key answers only once a
// sync covers it, on the key store's sync thread; a key read back after a restart is durable. (Keys made as
// they come, as when no key made ahead is left.)
TEST(KeyStore, AKeyAlreadyDurableDoesNotWaitForOtherPeoplesNewKeys) {
  const std::string dir = testing::make_temp_dir();
  std::string known, fresh;
  // The thread `done` ran on, and its status, once it has run.
  auto answered_on = [](KeyStore& ks, const std::string& id) {
    auto got = std::make_shared<std::promise<std::pair<std::thread::id, Status>>>();
    auto answer = got->get_future();
    ks.sync_async(id, [got](Status st) { got->set_value({std::this_thread::get_id(), st}); });
    return answer.get();
  };
  {
    auto ks = KeyStore::open(dir + "/keys", test_kek(), {.keys_ahead = 0});
    ASSERT_TRUE(ks.ok());
    known = (*ks)->key_for("phone:77015550101")->applicant_id;
    ASSERT_TRUE((*ks)->sync().ok());
    fresh = (*ks)->key_for("phone:77015550102")->applicant_id;  // made, not yet synced
    auto [thread, st] = answered_on(**ks, known);
    EXPECT_TRUE(st.ok());
    EXPECT_EQ(thread, std::this_thread::get_id()) << "a durable key waited for someone else's sync";
    std::tie(thread, st) = answered_on(**ks, fresh);
    EXPECT_TRUE(st.ok());
    EXPECT_NE(thread, std::this_thread::get_id()) << "a new key was answered before a sync covered it";
    std::tie(thread, st) = answered_on(**ks, fresh);
    EXPECT_EQ(thread, std::this_thread::get_id()) << "synced now";
    // An id the store has not cached (or does not know) waits for every key written so far.
    ASSERT_TRUE((*ks)->key_for("phone:77015550103").ok());
    std::tie(thread, st) = answered_on(**ks, "ap-0000000000000000");
    EXPECT_NE(thread, std::this_thread::get_id());
  }
  auto ks = KeyStore::open(dir + "/keys", test_kek(), {.keys_ahead = 0});
  ASSERT_TRUE(ks.ok());
  ASSERT_TRUE((*ks)->key_for("phone:77015550101").ok());  // read back from the file
  ASSERT_TRUE((*ks)->key_for("phone:77015550104").ok());  // someone new, not yet synced
  auto [thread, st] = answered_on(**ks, known);
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(thread, std::this_thread::get_id());
  std::filesystem::remove_all(dir);
}

TEST(KeyStore, ANewApplicantIsOneWriteMadeDurableBySync) {
  auto state = std::make_shared<MemoryRecords::State>();
  auto ks = KeyStore::open(std::make_unique<MemoryRecords>(state), test_kek(), {.keys_ahead = 0});
  ASSERT_TRUE(ks.ok()) << ks.status().ToString();
  const std::size_t opened_writes = state->writes.size();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto k = (*ks)->key_for("phone:770155500" + std::to_string(i));
    ASSERT_TRUE(k.ok() && k->created);
    ids.push_back(k->applicant_id);
  }
  ASSERT_EQ(state->writes.size(), opened_writes + 3);
  for (std::size_t i = opened_writes; i < state->writes.size(); ++i) {
    EXPECT_EQ(state->writes[i], 2u) << "two records: the key (with its identity's hash) and the identity";
    EXPECT_FALSE(state->durable[i]) << "a new applicant's write was made durable on the registration's thread";
  }
  EXPECT_EQ(state->syncs, 0);
  EXPECT_EQ(*(*ks)->find("phone:7701555001"), std::optional<std::string>(ids[1]));
  auto again = (*ks)->key_for("phone:7701555000");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->applicant_id, ids[0]);
  ASSERT_TRUE((*ks)->sync().ok());
  EXPECT_EQ(state->syncs, 1) << "one sync for the three applicants";
  ASSERT_TRUE((*ks)->sync().ok());
  EXPECT_EQ(state->syncs, 1) << "nothing new, and synced again";

  state->refuse = true;
  EXPECT_EQ((*ks)->key_for("phone:7701555009").status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE((*ks)->sync().ok()) << "nothing new to sync";
  EXPECT_TRUE((*ks)->data_key(ids[2]).ok());
  EXPECT_TRUE((*ks)->stats().ok());
  state->refuse = false;
  auto late = (*ks)->key_for("phone:7701555009");
  ASSERT_TRUE(late.ok() && late->created);
  ASSERT_TRUE((*ks)->sync().ok());
  EXPECT_EQ(state->syncs, 2);
}

// Keys made ahead: a batch is one write, synced, of its keys and its record; a new applicant then takes one and
// writes only its identity's link (the index's record and the reverse one), not durable, with no sync at all,
// and its sync_async answers at once on the caller's thread. A returning applicant finds the key; the key
// store counts only applicants, not the keys still waiting; a clean close deletes those and the batch record.
TEST(KeyStore, ANewApplicantTakesAKeyMadeAheadAndWritesOnlyItsLink) {
  auto state = std::make_shared<MemoryRecords::State>();
  {
    auto ks = KeyStore::open(std::make_unique<MemoryRecords>(state), test_kek(), {.keys_ahead = 64});
    ASSERT_TRUE(ks.ok()) << ks.status().ToString();
    const std::size_t opened_writes = state->writes.size();
    ASSERT_TRUE((*ks)->make_keys_ahead().ok());
    ASSERT_EQ(state->writes.size(), opened_writes + 1);
    EXPECT_EQ(state->writes.back(), 65u) << "64 keys and the batch's record";
    EXPECT_EQ(state->syncs, 1) << "a batch is durable before any of its keys is handed out";
    ASSERT_TRUE((*ks)->make_keys_ahead().ok());
    EXPECT_EQ(state->writes.size(), opened_writes + 1) << "a full reserve makes no batch";

    auto k = (*ks)->key_for("phone:77015550301");
    ASSERT_TRUE(k.ok() && k->created);
    ASSERT_EQ(state->writes.size(), opened_writes + 2);
    EXPECT_EQ(state->writes.back(), 2u) << "the identity's link and its reverse";
    EXPECT_FALSE(state->durable.back());
    EXPECT_EQ(state->syncs, 1);
    EXPECT_TRUE(state->has("k/" + k->applicant_id)) << "the key was one of the batch's";
    EXPECT_TRUE(state->has("r/" + k->applicant_id));
    std::thread::id answered;
    (*ks)->sync_async(k->applicant_id, [&](Status st) {
      EXPECT_TRUE(st.ok());
      answered = std::this_thread::get_id();
    });
    EXPECT_EQ(answered, std::this_thread::get_id()) << "a key made ahead waited for a sync";
    EXPECT_EQ(state->syncs, 1);
    auto again = (*ks)->key_for("phone:77015550301");
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(again->created);
    EXPECT_EQ(again->applicant_id, k->applicant_id);
    EXPECT_EQ(raw(again->key), raw(k->key));
    EXPECT_EQ(*(*ks)->find("phone:77015550301"), std::optional<std::string>(k->applicant_id));
    auto stats = (*ks)->stats();
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->applicants, 1u) << "keys nobody took yet are no applicants";
    EXPECT_TRUE((*ks)->unlinked().empty()) << "this process's own keys are never unlinked";

    // The batch's record goes once every key of it is linked, in the buffer after the links.
    std::string batch_record;
    {
      std::lock_guard lock(state->mu);
      for (const auto& [key, value] : state->records) {
        if (key.starts_with("v/")) batch_record = key;
      }
    }
    ASSERT_FALSE(batch_record.empty());
    for (int i = 2; i <= 63; ++i) {
      ASSERT_TRUE((*ks)->key_for("phone:770155503" + std::to_string(10 + i)).ok());
      EXPECT_TRUE(state->has(batch_record)) << i << " keys taken";
    }
    auto last = (*ks)->key_for("phone:77015550399");  // the batch's 64th key (a second batch waits behind it)
    ASSERT_TRUE(last.ok());
    EXPECT_FALSE(state->has(batch_record));
    std::lock_guard lock(state->mu);
    std::optional<std::size_t> link, deletion;
    for (std::size_t w = 0; w < state->keys.size(); ++w) {
      const auto& keys = state->keys[w];
      if (std::find(keys.begin(), keys.end(), "r/" + last->applicant_id) != keys.end()) link = w;
      if (keys == std::vector<std::string>{batch_record}) deletion = w;
    }
    ASSERT_TRUE(link && deletion);
    EXPECT_LT(*link, *deletion) << "the batch's record went before the last link";
    EXPECT_FALSE(state->durable[*deletion]);
  }
  std::lock_guard lock(state->mu);
  std::size_t keys = 0, batches = 0;
  for (const auto& [k, v] : state->records) {
    keys += k.starts_with("k/");
    batches += k.starts_with("v/");
  }
  EXPECT_EQ(keys, 64u) << "a clean close deletes the keys nobody took";
  EXPECT_EQ(batches, 0u);
}

// A power cut takes the identity links of new applicants that took keys made ahead (they wait in the buffer),
// never their keys (synced with their batch) nor their acknowledged appeals. At the next start the keys of the
// batch are unlinked, none is handed out again, and restore_identity_links() links each person back to the key
// the log says their appeals are sealed with (reading the log from where the batch was made): the returning
// person finds it, an erasure unlinks it, and the key store counts the people, not the keys nobody took.
TEST(KeyStore, AnIdentityLinkAPowerCutTookIsRestoredFromTheLogAndItsKeyIsNeverGivenAgain) {
  auto fs = std::make_shared<store::testing::FaultFs>();
  SealedCity city(test_kek(), fs, /*keys_ahead=*/64, /*link_sync_within=*/std::chrono::hours(1));
  for (int i = 50; i < 53; ++i) city.reg(person(i));  // so that the batch below is made past the log's start
  city.close();
  city.open();
  std::map<std::string, std::string> applicant_of_appeal;
  std::vector<std::string> appeals;
  for (int i = 0; i < 5; ++i) appeals.push_back(city.reg(person(i)));
  appeals.push_back(city.reg(person(0)));  // a returning person: the same key
  for (const std::string& a : appeals) applicant_of_appeal[a] = city.applicant_id(a);
  EXPECT_EQ(applicant_of_appeal[appeals[0]], applicant_of_appeal[appeals[5]]);
  fs->power_cut();
  city.close();
  fs->drop_unsynced();
  std::set<std::string> batch;
  ASSERT_TRUE(read_key_log(city.dir() + "/keys", [&](std::string_view k, std::string_view v) {
                if (!k.starts_with("v/")) return;
                std::istringstream ids{std::string(v)};
                std::string id;
                ids >> id;  // the log's position
                while (ids >> id) batch.insert(id);
              }).ok());
  ASSERT_EQ(batch.size(), 64u) << "the batch's record was synced with it";
  for (const auto& [appeal, id] : applicant_of_appeal) EXPECT_TRUE(batch.contains(id)) << id;

  city.open();
  EXPECT_EQ(city.restored(), 5u) << "the five people's links came back from the log";
  EXPECT_TRUE(city.keys().unlinked().empty());
  for (int i = 0; i < 5; ++i) {
    const std::string identity = sealing_identity(person(i), appeals[i]);
    EXPECT_EQ(*city.keys().find(identity), std::optional<std::string>(applicant_of_appeal[appeals[i]])) << i;
    auto state = city.engine().load(appeals[i]);
    ASSERT_TRUE(state.ok());
    auto opened = city.engine().applicant(*state);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(opened->name, person(i).name);
  }
  const std::string again = city.reg(person(3));
  EXPECT_EQ(city.applicant_id(again), applicant_of_appeal[appeals[3]]) << "the returning person got a new key";
  for (int i = 100; i < 200; ++i) {
    EXPECT_FALSE(batch.contains(city.applicant_id(city.reg(person(i))))) << "a key of the cut's batch was given again";
  }
  const std::string erased[] = {applicant_of_appeal[appeals[1]]};
  ASSERT_TRUE(erase_applicants(city.keys(), city.store(), {{erased[0]}, "request of the applicant", "", {"dpo", "privacy_officer", ""}}).ok());
  EXPECT_EQ(*city.keys().find(sealing_identity(person(1), appeals[1])), std::nullopt) << "the restored link outlived the erasure";
  auto stats = city.keys().stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->applicants, 3u + 5u - 1u + 100u) << "people, not keys: the cut batch's 59 untaken keys are nobody's";

  // Restored links are durable: a second cut after the restart takes none of them.
  fs->power_cut();
  city.close();
  fs->drop_unsynced();
  city.open();
  EXPECT_EQ(*city.keys().find(sealing_identity(person(2), appeals[2])), std::optional<std::string>(applicant_of_appeal[appeals[2]]));
}

// A link to a key made ahead waits in the buffer only until the key store's thread syncs it, at most
// link_sync_within later, even when nothing else is written: a power cut after that loses nothing to restore.
TEST(KeyStore, ALinkIsSyncedWithinItsDeadlineWhenNothingElseIsWritten) {
  auto fs = std::make_shared<store::testing::FaultFs>();
  SealedCity city(test_kek(), fs, /*keys_ahead=*/64, /*link_sync_within=*/std::chrono::milliseconds(20));
  const std::string appeal = city.reg(person(7));
  const std::string id = city.applicant_id(appeal);
  const std::uint64_t syncs = fs->syncs();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // 25 times the deadline
  EXPECT_GT(fs->syncs(), syncs);
  fs->power_cut();
  city.close();
  fs->drop_unsynced();
  city.open();
  EXPECT_EQ(city.restored(), 0u) << "the link was lost: it had not been synced";
  EXPECT_EQ(*city.keys().find(sealing_identity(person(7), appeal)), std::optional<std::string>(id));
}

// The key store over random histories: people register (new and returning), are erased, the power is cut or the
// server restarts cleanly, with keys made ahead or not and links synced at once or only with the batches. After
// every step each acknowledged appeal whose person was not erased since opens; all the appeals a person made since
// their last erasure are sealed with one key, which their identity finds; and no key is two people's.
RC_GTEST_PROP(KeyStore, EachPersonFindsTheOneKeyTheirAppealsAreSealedWithThroughCutsAndRestarts, ()) {
  const std::size_t keys_ahead = *rc::gen::element<std::size_t>(64, 0);
  const auto link_sync = *rc::gen::element(std::chrono::milliseconds(1), std::chrono::milliseconds(3'600'000));
  const auto steps = *rc::gen::container<std::vector<std::pair<int, int>>>(
      *rc::gen::inRange(1, 25), rc::gen::pair(rc::gen::inRange(0, 10), rc::gen::inRange(0, 6)));
  auto fs = std::make_shared<store::testing::FaultFs>();
  SealedCity city(test_kek(), fs, keys_ahead, link_sync);
  // Per person: the appeals acknowledged since their last erasure; erased appeals only need to stay erased.
  std::map<int, std::vector<std::string>> current;
  std::map<std::string, int> person_of_key;
  auto check = [&] {
    for (const auto& [who, appeals] : current) {
      if (appeals.empty()) continue;
      std::optional<std::string> key;
      for (const std::string& appeal : appeals) {
        auto state = city.engine().load(appeal);
        RC_ASSERT(state.ok());
        auto opened = city.engine().applicant(*state);
        RC_ASSERT(opened.ok());
        if (key) RC_ASSERT(state->applicant.key_id == *key);
        key = state->applicant.key_id;
        auto [it, first] = person_of_key.emplace(*key, who);
        RC_ASSERT(it->second == who);
      }
      auto found = city.keys().find(sealing_identity(person(who), appeals.front()));
      RC_ASSERT(found.ok());
      RC_ASSERT(*found == key);
    }
  };
  for (const auto& [what, who] : steps) {
    if (what <= 5) {  // registers (most steps)
      const std::string appeal = city.reg(person(who));
      RC_ASSERT(!appeal.empty());
      current[who].push_back(appeal);
    } else if (what == 6 && !current[who].empty()) {  // erased on request
      const std::string id = city.applicant_id(current[who].front());
      RC_ASSERT(erase_applicants(city.keys(), city.store(), {{id}, "request of the applicant", "", {}}).ok());
      current[who].clear();
    } else if (what == 7 || what == 8) {  // the power is cut
      fs->power_cut();
      city.close();
      fs->drop_unsynced();
      city.open();
    } else {  // a clean restart
      city.close();
      city.open();
    }
    check();
  }
}

// A clean close deletes the keys made ahead that nobody took and the batch records, after making the links
// durable: the next open has nothing unlinked and nothing to restore.
TEST(KeyStore, ACleanCloseLeavesNoKeyMadeAheadAndNothingUnlinked) {
  SealedCity city(test_kek(), nullptr, /*keys_ahead=*/64);
  std::vector<std::string> appeals;
  for (int i = 0; i < 3; ++i) appeals.push_back(city.reg(person(i)));
  city.close();
  std::size_t keys = 0, batches = 0, links = 0;
  ASSERT_TRUE(read_key_log(city.dir() + "/keys", [&](std::string_view k, std::string_view) {
                keys += k.starts_with("k/");
                batches += k.starts_with("v/");
                links += k.starts_with("i/");
              }).ok());
  EXPECT_EQ(keys, 3u);
  EXPECT_EQ(batches, 0u);
  EXPECT_EQ(links, 3u);
  city.open();
  EXPECT_EQ(city.restored(), 0u);
  EXPECT_TRUE(city.keys().unlinked().empty());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(*city.keys().find(sealing_identity(person(i), appeals[i])), std::optional<std::string>(city.applicant_id(appeals[i])));
  }
}

// ---- the key log ---------------------------------------------------------------------------------------------

std::uintmax_t klog_size(const std::string& dir) {
  std::uintmax_t size = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".klog") size += e.file_size();
  }
  return size;
}
std::vector<std::string> klog_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name != "klog.lock") out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}
using KOp = KeyRecords::Op;

// Writes that are not durable are read at once and reach the file with the next sync: one append and one
// fsync for all of them. An append the disk refuses (full) leaves them for the next sync, and nothing of them
// is half in the file.
TEST(KeyLog, BufferedWritesAreReadAtOnceAndOneSyncWritesThemAll) {
  const std::string dir = testing::make_temp_dir();
  auto fs = std::make_shared<store::testing::FaultFs>();
  {
    auto r = open_key_log(dir + "/keys", {.file_system = fs});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    KeyRecords& log = **r;
    const std::uintmax_t empty = klog_size(dir + "/keys");
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(log.write({{KOp::Kind::kPut, "k/ap-" + std::to_string(i), "wrapped " + std::to_string(i)},
                             {KOp::Kind::kPut, "i/" + std::to_string(i), "ap-" + std::to_string(i)}}, false).ok());
    }
    EXPECT_EQ(*log.get("k/ap-1"), std::optional<std::string>("wrapped 1"));
    int scanned = 0;
    ASSERT_TRUE(log.scan("k/", [&](std::string_view, std::string_view) { ++scanned; }).ok());
    EXPECT_EQ(scanned, 3);
    EXPECT_EQ(klog_size(dir + "/keys"), empty) << "a write that was not asked to be durable reached the file";
    const std::uint64_t syncs = fs->syncs();
    ASSERT_TRUE(log.sync().ok());
    EXPECT_EQ(fs->syncs(), syncs + 1);
    // One frame for the three writes: its head's length covers all that the sync added.
    {
      std::ifstream in(dir + "/keys/" + klog_files(dir + "/keys").at(0), std::ios::binary);
      std::string bytes(std::istreambuf_iterator<char>(in), {});
      ASSERT_GT(bytes.size(), empty + 12);
      const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + empty);
      const std::uint32_t length = p[0] | p[1] << 8 | p[2] << 16 | static_cast<std::uint32_t>(p[3]) << 24;
      EXPECT_EQ(empty + 12 + length, bytes.size()) << "the sync wrote more than one frame";
    }

    fs->set_no_space(true);
    ASSERT_TRUE(log.write({{KOp::Kind::kPut, "k/ap-full", "made while the disk was full"}}, false).ok());
    const std::uintmax_t before = klog_size(dir + "/keys");
    const Status full = log.sync();
    EXPECT_EQ(full.code(), StatusCode::kUnavailable) << full.ToString();
    EXPECT_EQ(klog_size(dir + "/keys"), before);
    EXPECT_EQ(*log.get("k/ap-full"), std::optional<std::string>("made while the disk was full"));
    fs->set_no_space(false);
    ASSERT_TRUE(log.sync().ok());
    fs->power_cut();
  }
  fs->drop_unsynced();
  {
    auto r = open_key_log(dir + "/keys", {.file_system = fs});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*(*r)->get("k/ap-full"), std::optional<std::string>("made while the disk was full"));
    EXPECT_EQ(*(*r)->get("i/2"), std::optional<std::string>("ap-2"));
    // A durable write the disk refuses is reported failed and never written afterwards, not even as the store
    // closes; the store refuses writes until it is opened again.
    fs->set_no_space(true);
    EXPECT_FALSE((*r)->write({{KOp::Kind::kPut, "m/kek", "a rotation's new verifier"}}, true).ok());
    fs->set_no_space(false);
    EXPECT_FALSE((*r)->write({{KOp::Kind::kPut, "k/ap-later", "x"}}, true).ok());
  }
  auto r = open_key_log(dir + "/keys", {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*(*r)->get("m/kek"), std::nullopt) << "a write reported failed reached the file";
  EXPECT_EQ(*(*r)->get("k/ap-full"), std::optional<std::string>("made while the disk was full"));
  std::filesystem::remove_all(dir);
}

// What a crash leaves of a write that was not synced (a frame cut short, or whole but with bytes that never
// reached the disk) is dropped at the next open, which writes the file anew; a damaged frame with whole frames
// after it is not a crash's work, and is refused.
TEST(KeyLog, ATornFrameAtTheEndIsDroppedADamagedOneBeforeTheEndIsRefused) {
  const std::string dir = testing::make_temp_dir() + "/keys";
  {
    auto r = open_key_log(dir, {});
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE((*r)->write({{KOp::Kind::kPut, "k/first", "one"}}, true).ok());
    ASSERT_TRUE((*r)->write({{KOp::Kind::kPut, "k/second", "two"}}, true).ok());
  }
  const std::string file = dir + "/" + klog_files(dir).at(0);
  std::string whole;
  {
    std::ifstream in(file, std::ios::binary);
    whole.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto rewrite = [&](const std::string& bytes) {
    for (const std::string& f : klog_files(dir)) std::filesystem::remove(dir + "/" + f);
    std::ofstream(file, std::ios::binary) << bytes;
  };
  const std::size_t last_frame = whole.rfind("k/second") - 2 /* kind, key length */ - 12 /* frame head */;
  for (std::size_t cut : {whole.size() - 1, last_frame + 5, last_frame + 13}) {
    rewrite(whole.substr(0, cut));
    auto r = open_key_log(dir, {});
    ASSERT_TRUE(r.ok()) << cut << ": " << r.status().ToString();
    EXPECT_EQ(*(*r)->get("k/first"), std::optional<std::string>("one")) << cut;
    EXPECT_EQ(*(*r)->get("k/second"), std::nullopt) << cut;
    ASSERT_TRUE((*r)->write({{KOp::Kind::kPut, "k/third", "three"}}, true).ok());
    r->reset();
    auto again = open_key_log(dir, {});
    ASSERT_TRUE(again.ok()) << cut << ": the torn frame was not dropped: " << again.status().ToString();
    EXPECT_EQ(*(*again)->get("k/third"), std::optional<std::string>("three")) << cut;
  }
  std::string garbled = whole;
  garbled[garbled.size() - 1] ^= 0x55;  // the last frame's value: whole, but not what was written
  rewrite(garbled);
  {
    auto r = open_key_log(dir, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*(*r)->get("k/second"), std::nullopt);
  }
  garbled = whole;
  garbled[last_frame - 1] ^= 0x55;  // the first frame's value, with the second frame whole after it
  rewrite(garbled);
  auto damaged = open_key_log(dir, {});
  EXPECT_EQ(damaged.status().code(), StatusCode::kCorruption) << damaged.status().ToString();
  // The first frame's length zeroed, or made longer than the file: damaged too, not a tail a crash cut short.
  const std::size_t first_frame = 16;
  for (const char* length : {"\0\0\0\0", "\xff\xff\0\0"}) {
    garbled = whole;
    garbled.replace(first_frame, 4, std::string(length, 4));
    rewrite(garbled);
    auto bad_length = open_key_log(dir, {});
    EXPECT_EQ(bad_length.status().code(), StatusCode::kCorruption) << bad_length.status().ToString();
    std::string after;
    std::ifstream in(file, std::ios::binary);
    after.assign(std::istreambuf_iterator<char>(in), {});
    EXPECT_EQ(after, garbled) << "a damaged file was rewritten";
  }
  std::filesystem::remove_all(dir);
}

// A purge writes the live records into the next generation's file and deletes the old one: a deleted value is
// in no file. A purge a crash interrupted (the old generation still there, or the new one unfinished) is
// finished at the next open, and a second open of a directory in use is refused.
TEST(KeyLog, APurgeLeavesNoDeletedValueInAnyFileAndAnInterruptedOneIsFinished) {
  const std::string dir = testing::make_temp_dir() + "/keys";
  const std::string secret = "wrapped-key-that-an-erasure-destroys";
  {
    auto r = open_key_log(dir, {});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(open_key_log(dir, {}).status().code(), StatusCode::kIOError) << "a second open of a directory in use";
    ASSERT_TRUE((*r)->write({{KOp::Kind::kPut, "k/kept", "kept"}, {KOp::Kind::kPut, "k/gone", secret}}, true).ok());
    ASSERT_TRUE((*r)->write({{KOp::Kind::kDelete, "k/gone", {}}}, true).ok());
    EXPECT_EQ(testing::files_containing(dir, secret).size(), 1u);
    ASSERT_TRUE((*r)->purge().ok());
    EXPECT_EQ(testing::files_containing(dir, secret), std::vector<std::string>());
    EXPECT_EQ(klog_files(dir), std::vector<std::string>{"keys-00000002.klog"});
    EXPECT_EQ(*(*r)->get("k/kept"), std::optional<std::string>("kept"));
    EXPECT_EQ(*(*r)->get("k/gone"), std::nullopt);
    ASSERT_TRUE((*r)->write({{KOp::Kind::kPut, "k/after", "after"}}, true).ok());
  }
  // Stopped before deleting the old file, or before renaming the new one into place.
  std::ofstream(dir + "/keys-00000001.klog", std::ios::binary) << "otinish-keylog1\n" << secret;
  std::ofstream(dir + "/keys-00000003.klog.tmp", std::ios::binary) << "otinish-keylog1\n" << secret;
  auto r = open_key_log(dir, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(klog_files(dir), std::vector<std::string>{"keys-00000002.klog"});
  EXPECT_EQ(*(*r)->get("k/after"), std::optional<std::string>("after"));
  EXPECT_EQ(testing::files_containing(dir, secret), std::vector<std::string>());
  std::filesystem::remove_all(dir);
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A store of many records and an erasure of a few: the purge overwrites the erased records (and the deletes
// that erased them) where they lie, and leaves every other byte of the file as it was: no new generation, no
// copy of the live records. Nothing erased comes back after reopening, and the file keeps taking writes.
TEST(KeyLog, APurgeOverwritesOnlyWhatWasErasedWhereItLies) {
  const std::string dir = testing::make_temp_dir() + "/keys";
  const std::string secret = "wrapped-key-that-an-erasure-destroys";
  const std::string file = dir + "/keys-00000001.klog";
  std::string before;
  {
    auto r = open_key_log(dir, {});
    ASSERT_TRUE(r.ok());
    for (int batch = 0; batch < 20; ++batch) {
      std::vector<KOp> ops;
      for (int i = 0; i < 50; ++i) {
        const std::string n = std::to_string(batch * 50 + i);
        ops.push_back({KOp::Kind::kPut, "k/live-" + n, "value-" + n});
      }
      if (batch == 7) ops.push_back({KOp::Kind::kPut, "i/gone-identity", secret});
      ASSERT_TRUE((*r)->write(ops, true).ok());
    }
    ASSERT_TRUE((*r)->write({{KOp::Kind::kPut, "k/gone", secret + "-2"}}, true).ok());
    ASSERT_TRUE((*r)->write({{KOp::Kind::kDelete, "i/gone-identity", {}}, {KOp::Kind::kDelete, "k/gone", {}}}, true).ok());
    before = file_bytes(file);
    ASSERT_EQ(testing::files_containing(dir, secret).size(), 1u);
    ASSERT_TRUE((*r)->purge().ok());
    EXPECT_EQ(testing::files_containing(dir, secret), std::vector<std::string>());
    EXPECT_EQ(testing::files_containing(dir, "gone").size(), 0u) << "a delete's key stayed in the file";
    EXPECT_EQ(klog_files(dir), std::vector<std::string>{"keys-00000001.klog"});
    const std::string after = file_bytes(file);
    ASSERT_EQ(after.size(), before.size());
    std::size_t changed = 0;
    for (std::size_t i = 0; i < after.size(); ++i) changed += after[i] != before[i];
    // The two secrets, the deletes' keys, kind bytes and three frames' checksums: about a hundred bytes of 35 KB.
    EXPECT_GT(changed, 2 * secret.size());
    EXPECT_LT(changed, 160u);
    EXPECT_EQ(*(*r)->get("k/gone"), std::nullopt);
    EXPECT_EQ(*(*r)->get("i/gone-identity"), std::nullopt);
    EXPECT_EQ(*(*r)->get("k/live-999"), std::optional<std::string>("value-999"));
    ASSERT_TRUE((*r)->purge().ok());  // nothing left to purge: nothing written
    EXPECT_EQ(file_bytes(file), after);
    ASSERT_TRUE((*r)->compact().ok());  // four holes among a thousand records: not worth a copy
    EXPECT_EQ(file_bytes(file), after);
    ASSERT_TRUE((*r)->write({{KOp::Kind::kPut, "k/gone", "a new one"}}, true).ok());
  }
  {
    auto r = open_key_log(dir, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*(*r)->get("k/gone"), std::optional<std::string>("a new one"));
    EXPECT_EQ(*(*r)->get("i/gone-identity"), std::nullopt);
    int live = 0;
    ASSERT_TRUE((*r)->scan("k/live-", [&](std::string_view, std::string_view) { ++live; }).ok());
    EXPECT_EQ(live, 1000);
    // A large erasure: its holes are a fifth of the records, and compact() writes the file anew without them.
    std::vector<KOp> deletes;
    for (int i = 0; i < 200; ++i) deletes.push_back({KOp::Kind::kDelete, "k/live-" + std::to_string(i), {}});
    ASSERT_TRUE((*r)->write(deletes, true).ok());
    ASSERT_TRUE((*r)->purge().ok());
    EXPECT_EQ(klog_files(dir), std::vector<std::string>{"keys-00000001.klog"});
    const std::uintmax_t holed = std::filesystem::file_size(file);
    ASSERT_TRUE((*r)->compact().ok());
    EXPECT_EQ(klog_files(dir), std::vector<std::string>{"keys-00000002.klog"});
    EXPECT_LT(std::filesystem::file_size(dir + "/keys-00000002.klog"), holed * 85 / 100);
    EXPECT_EQ(*(*r)->get("k/live-199"), std::nullopt);
    EXPECT_EQ(*(*r)->get("k/live-200"), std::optional<std::string>("value-200"));
  }
  std::filesystem::remove_all(dir);
}

// Many records, a twelfth of them deleted and purged: each delete leaves the in-memory index as its hole is
// made, and the records that had probed past it in the index's table must stay reachable. Every read answers
// as before, and after reopening.
TEST(KeyLog, APurgeOfManyDeletesLeavesEveryOtherRecordReachable) {
  const std::string dir = testing::make_temp_dir() + "/keys";
  constexpr int kRecords = 60'000;
  auto name = [](int i) { return "k/ap-" + std::to_string(1'000'003 * i % 9'999'991); };
  auto check = [&](KeyRecords& r) {
    for (int i = 0; i < kRecords; ++i) {
      auto v = r.get(name(i));
      ASSERT_TRUE(v.ok());
      if (i % 12 == 5) {
        ASSERT_EQ(*v, std::nullopt) << i;
      } else {
        ASSERT_EQ(*v, std::optional<std::string>("v" + std::to_string(i))) << i;
      }
    }
  };
  {
    auto r = open_key_log(dir, {.sync = false});
    ASSERT_TRUE(r.ok());
    std::vector<KOp> ops;
    for (int i = 0; i < kRecords; ++i) ops.push_back({KOp::Kind::kPut, name(i), "v" + std::to_string(i)});
    ASSERT_TRUE((*r)->write(ops, true).ok());
    ops.clear();
    for (int i = 5; i < kRecords; i += 12) ops.push_back({KOp::Kind::kDelete, name(i), {}});
    ASSERT_TRUE((*r)->write(ops, true).ok());
    ASSERT_TRUE((*r)->purge().ok());
    EXPECT_EQ(klog_files(dir), std::vector<std::string>{"keys-00000001.klog"}) << "written anew, not purged in place";
    check(**r);
  }
  auto r = open_key_log(dir, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  check(**r);
  std::filesystem::remove_all(dir);
}

// Writes in place the first half of each frame it is given and fails: a purge the power cut in the middle.
class TornInPlaceWrites : public rocksdb::FileSystemWrapper {
 public:
  TornInPlaceWrites() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "TornInPlaceWrites"; }
  rocksdb::IOStatus NewRandomRWFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->NewRandomRWFile(f, o, result, dbg);
    if (s.ok()) *result = std::make_unique<Torn>(std::move(*result));
    return s;
  }

 private:
  struct Torn : rocksdb::FSRandomRWFileOwnerWrapper {
    using FSRandomRWFileOwnerWrapper::FSRandomRWFileOwnerWrapper;
    rocksdb::IOStatus Write(std::uint64_t at, const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                            rocksdb::IODebugContext* dbg) override {
      target()->Write(at, rocksdb::Slice(data.data(), data.size() / 2), o, dbg).PermitUncheckedError();
      return rocksdb::IOStatus::IOError("the power went off");
    }
  };
};

// A purge stopped while it overwrites the file leaves its intent: the next open finishes it (the erased values
// gone, the frame whole again), and an intent cut short (never synced, so nothing was overwritten for it) is
// dropped. A frame damaged some other way is not taken for an interrupted purge.
TEST(KeyLog, APurgeTheCrashInterruptedIsFinishedFromItsIntentAtTheNextOpen) {
  const std::string dir = testing::make_temp_dir() + "/keys";
  const std::string secret = "wrapped-key-that-an-erasure-destroys";
  auto fill = [&](KeyRecords& r) {
    std::vector<KOp> ops;
    // The erased value in the frame's second half: the half the power cut never wrote.
    for (int i = 0; i < 300; ++i) ops.push_back({KOp::Kind::kPut, "k/live-" + std::to_string(i), std::string(40, 'v')});
    ops.push_back({KOp::Kind::kPut, "k/gone", secret});
    for (int i = 300; i < 400; ++i) ops.push_back({KOp::Kind::kPut, "k/live-" + std::to_string(i), std::string(40, 'v')});
    ASSERT_TRUE(r.write(ops, true).ok());
    ASSERT_TRUE(r.write({{KOp::Kind::kDelete, "k/gone", {}}}, true).ok());
  };
  {
    auto r = open_key_log(dir, {.file_system = std::make_shared<TornInPlaceWrites>()});
    ASSERT_TRUE(r.ok());
    fill(**r);
    EXPECT_EQ((*r)->purge().code(), StatusCode::kIOError);
    EXPECT_EQ((*r)->write({{KOp::Kind::kPut, "k/after", "x"}}, true).code(), StatusCode::kIOError)
        << "a store whose purge stopped half way must be opened again before it is written";
  }
  ASSERT_TRUE(std::filesystem::exists(dir + "/scrub.intent"));
  {
    auto r = open_key_log(dir, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_FALSE(std::filesystem::exists(dir + "/scrub.intent"));
    EXPECT_EQ(testing::files_containing(dir, secret), std::vector<std::string>());
    EXPECT_EQ(testing::files_containing(dir, "k/gone"), std::vector<std::string>()) << "the delete, with what it deleted";
    EXPECT_EQ(*(*r)->get("k/gone"), std::nullopt);
    EXPECT_EQ(*(*r)->get("k/live-399"), std::optional<std::string>(std::string(40, 'v')));
  }
  // An intent cut short, or empty (killed as the file was made): dropped, and the file left as it is.
  const std::string file = dir + "/keys-00000001.klog";
  const std::string whole = file_bytes(file);
  for (const std::string& cut : {"otinish-scrub01\n" + std::string(7, '\1'), std::string()}) {
    std::ofstream(dir + "/scrub.intent", std::ios::binary) << cut;
    auto r = open_key_log(dir, {});
    ASSERT_TRUE(r.ok()) << cut.size() << ": " << r.status().ToString();
    EXPECT_FALSE(std::filesystem::exists(dir + "/scrub.intent"));
    EXPECT_EQ(file_bytes(file), whole);
  }
  // Again, in a store of its own, and the frame the purge was writing then damaged elsewhere too: refused.
  const std::string other = testing::make_temp_dir() + "/keys";
  {
    auto r = open_key_log(other, {.file_system = std::make_shared<TornInPlaceWrites>()});
    ASSERT_TRUE(r.ok());
    fill(**r);
    EXPECT_FALSE((*r)->purge().ok());
  }
  std::string damaged = file_bytes(other + "/keys-00000001.klog");
  const std::size_t value = damaged.find(std::string(40, 'v'));
  damaged[value] = 'w';  // a live value in the torn frame, before the half the power cut
  std::ofstream(other + "/keys-00000001.klog", std::ios::binary | std::ios::trunc) << damaged;
  auto refused = open_key_log(other, {});
  EXPECT_EQ(refused.status().code(), StatusCode::kCorruption) << refused.status().ToString();
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(other);
}

// The key log against a map, over random writes (puts, deletes, creates, in atomic groups, durable or not),
// syncs, purges and reopenings: every read answers what the map holds.
RC_GTEST_PROP(KeyLog, ReadsAnswerWhatWasWrittenThroughPurgesAndReopenings, ()) {
  const std::string dir = testing::make_temp_dir() + "/keys";
  std::map<std::string, std::string> model;
  auto r = open_key_log(dir, {.sync = false});
  RC_ASSERT(r.ok());
  const auto keys = *rc::gen::container<std::vector<std::string>>(
      *rc::gen::inRange(1, 12),
      rc::gen::map(rc::gen::inRange(0, 40), [](int i) { return (i % 3 ? "k/" : "x/") + std::to_string(i); }));
  // Records never written again, as most of a key store's are: with enough of them a purge overwrites what
  // was deleted where it lies instead of writing the file anew.
  std::vector<KOp> background;
  for (int i = *rc::gen::inRange(0, 80); i > 0; --i) {
    background.push_back({KOp::Kind::kPut, "k/b" + std::to_string(i), std::string(i, 'b')});
    model[background.back().key] = background.back().value;
  }
  if (!background.empty()) RC_ASSERT((*r)->write(background, true).ok());
  const int steps = *rc::gen::inRange(1, 60);
  for (int step = 0; step < steps; ++step) {
    const int what = *rc::gen::inRange(0, 10);
    if (what == 0) {
      RC_ASSERT((*r)->purge().ok());
    } else if (what == 1) {
      r->reset();  // closing writes the buffer to the OS
      r = open_key_log(dir, {.sync = false});
      RC_ASSERT(r.ok());
    } else if (what == 2) {
      RC_ASSERT((*r)->sync().ok());
    } else {
      std::vector<KOp> ops;
      std::map<std::string, std::string> after = model;
      bool refused = false;
      const int n = *rc::gen::inRange(1, 4);
      for (int i = 0; i < n; ++i) {
        const std::string key = *rc::gen::elementOf(keys);
        const int kind = *rc::gen::inRange(0, 3);
        const std::string value = *rc::gen::string<std::string>();
        if (kind == 0) {
          ops.push_back({KOp::Kind::kPut, key, value});
          after[key] = value;
        } else if (kind == 1) {
          ops.push_back({KOp::Kind::kDelete, key, {}});
          after.erase(key);
        } else {
          ops.push_back({KOp::Kind::kCreate, key, value});
          if (model.contains(key)) refused = true;
          after[key] = value;
        }
      }
      const Status st = (*r)->write(ops, *rc::gen::arbitrary<bool>());
      if (refused) {
        RC_ASSERT(st.code() == StatusCode::kAlreadyExists);
      } else {
        RC_ASSERT(st.ok());
        model = after;
      }
    }
    for (const std::string& key : keys) {
      auto got = (*r)->get(key);
      RC_ASSERT(got.ok());
      const auto it = model.find(key);
      RC_ASSERT(*got == (it == model.end() ? std::nullopt : std::optional<std::string>(it->second)));
    }
    std::map<std::string, std::string> scanned;
    RC_ASSERT((*r)->scan("k/", [&](std::string_view k, std::string_view v) { scanned.emplace(k, v); }).ok());
    std::map<std::string, std::string> under_k;
    for (const auto& [k, v] : model) {
      if (k.starts_with("k/")) under_k.emplace(k, v);
    }
    RC_ASSERT(scanned == under_k);
    // Several prefixes in one pass, in no order: each live record once, and nothing under a prefix not asked.
    std::vector<std::pair<std::string, std::string>> unordered;
    const std::string_view prefixes[] = {"y/", "x/", "k/"};
    RC_ASSERT((*r)->scan_unordered(prefixes, [&](std::string_view k, std::string_view v) { unordered.emplace_back(k, v); }).ok());
    std::sort(unordered.begin(), unordered.end());
    RC_ASSERT((unordered == std::vector<std::pair<std::string, std::string>>(model.begin(), model.end())));
    std::size_t under_x = 0;
    const std::string_view only_x[] = {"x/"};
    RC_ASSERT((*r)->scan_unordered(only_x, [&](std::string_view, std::string_view) { ++under_x; }).ok());
    RC_ASSERT(under_x == model.size() - under_k.size());
  }
  r->reset();
  std::map<std::string, std::string> on_disk;
  RC_ASSERT(read_key_log(dir, [&](std::string_view k, std::string_view v) { on_disk.emplace(k, v); }).ok());
  RC_ASSERT(on_disk == model);
  std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

// Runs `body` in a forked child and returns what it returned; nothing when the child did not exit cleanly.
std::optional<std::string> in_child(const std::function<std::string()>& body) {
  int fds[2];
  if (pipe(fds) != 0) return std::nullopt;
  const pid_t child = fork();
  if (child < 0) return std::nullopt;
  if (child == 0) {
    close(fds[0]);
    const std::string out = body();
    const bool written = write(fds[1], out.data(), out.size()) == static_cast<ssize_t>(out.size());
    _exit(written ? 0 : 1);
  }
  close(fds[1]);
  std::string out(4096, '\0');
  ssize_t n = 0;
  for (ssize_t got; (got = read(fds[0], out.data() + n, out.size() - static_cast<std::size_t>(n))) > 0;) n += got;
  close(fds[0]);
  out.resize(static_cast<std::size_t>(n));
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return out;
}

// New applicants' random bytes come from a pool per thread, and keys are made ahead: a forked child must neither
// draw what its parent draws next nor take a key its parent made ahead (either way the same applicant id and
// the same data key in two processes). Two key stores: one making keys as they come (the pool), one ahead.
// Nothing of the key store's runs at the fork: its keys are made ahead on this thread (make_keys_ahead), and
// its thread, woken by the first link, waits out a link deadline of an hour (a fork while it held a lock would
// leave the child that lock held for ever).
TEST(KeyStore, AForkedChildDrawsRandomBytesOfItsOwn) {
  auto as_they_come = KeyStore::open(std::make_unique<MemoryRecords>(std::make_shared<MemoryRecords::State>()),
                                     test_kek(), {.keys_ahead = 0});
  ASSERT_TRUE(as_they_come.ok()) << as_they_come.status().ToString();
  auto ahead = KeyStore::open(std::make_unique<MemoryRecords>(std::make_shared<MemoryRecords::State>()), test_kek(),
                              {.keys_ahead = 64, .link_sync_within = std::chrono::hours(1)});
  ASSERT_TRUE(ahead.ok()) << ahead.status().ToString();
  ASSERT_TRUE((*ahead)->make_keys_ahead().ok());                      // the parent's keys, not the child's
  ASSERT_TRUE((*ahead)->key_for("phone:7701555100").ok());             // one taken: the thread waits for links
  ASSERT_TRUE((*as_they_come)->key_for("phone:7701555200").ok());      // the pool is filled, most of it unused
  const std::optional<std::string> child = in_child([&] {
    std::string out;
    for (auto* ks : {&*as_they_come, &*ahead}) {
      auto k = (*ks)->key_for("phone:7701555201");
      out += k.ok() ? k->applicant_id + raw(k->key) : std::string("failed");
    }
    return out;
  });
  ASSERT_TRUE(child.has_value()) << "the child failed";
  const std::string& theirs = *child;
  auto drawn = (*as_they_come)->key_for("phone:7701555201");
  auto taken = (*ahead)->key_for("phone:7701555201");
  ASSERT_TRUE(drawn.ok() && taken.ok());
  ASSERT_EQ(theirs.find("failed"), std::string::npos) << theirs;
  const std::size_t one = drawn->applicant_id.size() + raw(drawn->key).size();
  ASSERT_EQ(theirs.size(), 2 * one);
  int i = 0;
  for (const ApplicantKey* mine : {&*drawn, &*taken}) {
    const std::string_view their = std::string_view(theirs).substr(i++ * one, one);
    EXPECT_NE(their.substr(0, mine->applicant_id.size()), mine->applicant_id)
        << (i == 1 ? "the child drew the parent's next id" : "the child took the parent's key made ahead");
    EXPECT_NE(their.substr(mine->applicant_id.size()), raw(mine->key)) << "the same data key in both processes";
  }
}

// Applicant ids are 64 random bits: two people must never be given one (the second key would replace the
// first's, whose appeals would no longer open). Forced in a child process whose system randomness gives every
// seed twice, so that every second pool of random bytes repeats the one before: ids drawn twice in one batch of
// keys made ahead, and ids of keys already in the store, are drawn again, with keys made ahead and as they come.
namespace repeating_random {
std::atomic<int> seeds = 0;  // read by a test while the key store's thread draws
int others = 0;
std::vector<int> order;  // the seeds given in turn, when set
const char* name() { return "repeating"; }
std::uint32_t random() { return 4; }
void buf(void* out, std::size_t n) {
  // A seed (32 bytes) is `order`'s next, or given twice in turn: 1, 1, 2, 2, ...; anything else is new each time.
  const int k = n != 32 ? 1000 + ++others : seeds < static_cast<int>(order.size()) ? order[seeds++] : (++seeds + 1) / 2;
  // (One thread draws at a time in the tests below: the key store's thread while a registering thread waits.)
  auto* p = static_cast<unsigned char*>(out);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(k * 131 + i * 29 + (i >> 8) * 7);
}
randombytes_implementation implementation = {&name, &random, nullptr, nullptr, &buf, nullptr};
}  // namespace repeating_random

// Runs `body` in a child process whose system randomness repeats (repeating_random); its failures, if any.
std::string in_repeating_child(const std::function<std::string()>& body) {
  const std::optional<std::string> failure = in_child([&] {
    randombytes_set_implementation(&repeating_random::implementation);
    return body();
  });
  return failure ? *failure : "the child failed";
}

// Gives `people` new applicants from `first` on, checking that no id is given twice (`given`: id -> data key).
std::string give(KeyStore& ks, int first, int people, std::map<std::string, std::string>& given) {
  for (int i = first; i < first + people; ++i) {
    auto k = ks.key_for("phone:77015" + std::to_string(100000 + i));
    if (!k.ok()) return k.status().ToString();
    if (!given.emplace(k->applicant_id, raw(k->key)).second) return "id " + k->applicant_id + " given twice; ";
  }
  return "";
}

TEST(KeyStore, AnApplicantIdDrawnTwiceIsDrawnAgain) {
  const std::string dir = testing::make_temp_dir();
  // Keys made ahead (a batch meets its own ids, and the keys already made) and as they come.
  EXPECT_EQ(in_repeating_child([&] {
              for (const std::size_t keys_ahead : {std::size_t{64}, std::size_t{0}}) {
                auto ks = KeyStore::open(dir + "/keys" + std::to_string(keys_ahead), test_kek(),
                                         {.sync = false, .keys_ahead = keys_ahead});
                if (!ks.ok()) return ks.status().ToString();
                if (!(*ks)->make_keys_ahead().ok()) return std::string("no keys made ahead");
                std::map<std::string, std::string> given;
                const std::string failure = give(**ks, 0, 150, given);
                if (!failure.empty()) return failure + " (keys ahead " + std::to_string(keys_ahead) + ")";
                for (int i = 0; i < 150; ++i) {  // nobody's key was replaced by another's
                  auto again = (*ks)->key_for("phone:77015" + std::to_string(100000 + i));
                  if (!again.ok() || !given.contains(again->applicant_id) || given.at(again->applicant_id) != raw(again->key)) {
                    return std::string("a key replaced");
                  }
                }
              }
              return std::string();
            }),
            "");
  // An erased applicant's id (its key record deleted, its erasure marks kept) drawn again is not given: its
  // new owner's key would count as erased. The 85th draw repeats the 43rd (the second seed's pool again).
  EXPECT_EQ(in_repeating_child([&] {
              auto ks = KeyStore::open(dir + "/erased", test_kek(), {.sync = false, .keys_ahead = 0});
              if (!ks.ok()) return ks.status().ToString();
              std::map<std::string, std::string> given;
              std::string failure = give(**ks, 0, 43, given);
              if (!failure.empty()) return failure;
              auto erased = (*ks)->find("phone:77015" + std::to_string(100000 + 42));
              if (!erased.ok() || !*erased) return std::string("the 43rd applicant not found");
              const std::string ids[] = {**erased};
              if (!(*ks)->begin_erasure(ids, "test").ok() || !(*ks)->finish_erasure(ids).ok() || !(*ks)->purge().ok()) {
                return std::string("the erasure failed");
              }
              given.erase(**erased);
              failure = give(**ks, 43, 100, given);
              if (!failure.empty()) return failure;
              for (const auto& [id, data_key] : given) {
                if ((*ks)->state(id) != ApplicantKeyState::kActive) return "the new applicant " + id + " counts as erased";
              }
              return std::string();
            }),
            "");
  // The same in a batch of keys made ahead (made on this thread by make_keys_ahead, so that the seeds come in a
  // known order: the identity-hashing key's, then the first batch's two pools, then the first pool's again).
  // The thread's pool outlives the store: the reopened store's batch takes what the second pool had left, then
  // the first pool again, whose first keys were erased; 64 people take that whole batch.
  EXPECT_EQ(in_repeating_child([&] {
              repeating_random::order = {100, 1, 2, 1};
              std::map<std::string, std::string> given;
              {
                auto ks = KeyStore::open(dir + "/ahead", test_kek(), {.sync = false, .keys_ahead = 64});
                if (!ks.ok()) return ks.status().ToString();
                if (!(*ks)->make_keys_ahead().ok()) return std::string("no keys made ahead");
                // 32 people take the first pool's first 32 keys (no more: the reserve would ask its thread for a
                // batch), and are erased.
                std::string failure = give(**ks, 0, 32, given);
                if (!failure.empty()) return failure;
                std::vector<std::string> ids;
                for (const auto& [id, data_key] : given) ids.push_back(id);
                if (!(*ks)->begin_erasure(ids, "test").ok() || !(*ks)->finish_erasure(ids).ok() || !(*ks)->purge().ok()) {
                  return std::string("the erasure failed");
                }
              }  // the keys nobody took are deleted
              given.clear();
              auto ks = KeyStore::open(dir + "/ahead", test_kek(), {.sync = false, .keys_ahead = 64});
              if (!ks.ok()) return ks.status().ToString();
              if (!(*ks)->make_keys_ahead().ok()) return std::string("no keys made ahead");  // the first pool again
              const std::string failure = give(**ks, 100, 64, given);
              if (!failure.empty()) return failure;
              for (const auto& [id, data_key] : given) {
                if ((*ks)->state(id) != ApplicantKeyState::kActive) return "the new applicant " + id + " counts as erased";
              }
              return std::string();
            }),
            "");
  // Within one batch, for certain: the first batch (64 keys, made on this thread) spans two pools of one seed,
  // so its 57th draw (a key of a batch draws 72 bytes: 56 a pool) repeats its first. (The first scenario above
  // meets this only when its timing puts both pools in one batch.) Its 64 keys go to 64 people before anything
  // else: the batch asked for at 32 is appended after them.
  EXPECT_EQ(in_repeating_child([&] {
              repeating_random::order = {100, 1, 1};
              auto ks = KeyStore::open(dir + "/one-batch", test_kek(), {.sync = false, .keys_ahead = 64});
              if (!ks.ok()) return ks.status().ToString();
              if (!(*ks)->make_keys_ahead().ok()) return std::string("no keys made ahead");
              std::map<std::string, std::string> given;
              return give(**ks, 0, 64, given);
            }),
            "");
  std::filesystem::remove_all(dir);
}

// A batch of keys that cannot draw enough unused ids (a random source that repeats) fails like any refill
// that fails: the reserve asks for a batch again at the next new applicant, and a working source then makes
// it. (A refill that returned early from that failure left the reserve's request standing for good: no batch
// was ever asked for again, and every new applicant made its own key.)
TEST(KeyStore, ABatchThatCannotDrawIdsIsAskedForAgain) {
  const std::string dir = testing::make_temp_dir();
  EXPECT_EQ(in_repeating_child([&] {
              // Seeds: the identity-hashing key's; the first batch's two pools (made on this thread); then six
              // pools of one seed for the key store's thread, whose batch of 64 sees 56 ids again and again
              // until it gives up (more than 4 x 64 + 64 draws); then new seeds.
              repeating_random::order = {100, 1, 2, 7, 7, 7, 7, 7, 7, 7, 7};
              for (int seed = 20; seed < 60; ++seed) repeating_random::order.push_back(seed);
              auto inner = open_key_log(dir + "/keys", {.sync = false});
              if (!inner.ok()) return inner.status().ToString();
              auto counting = std::make_unique<PassThroughRecords>(std::move(*inner));
              PassThroughRecords& records = *counting;
              auto ks = KeyStore::open(std::move(counting), test_kek(),
                                       {.sync = false, .keys_ahead = 64, .link_sync_within = std::chrono::hours(1)});
              if (!ks.ok()) return ks.status().ToString();
              if (!(*ks)->make_keys_ahead().ok()) return std::string("no keys made ahead");
              if (records.batches() != 1) return "batches after the first: " + std::to_string(records.batches());
              std::map<std::string, std::string> given;
              // The 33rd takes the reserve below half: its thread is asked for a batch, which fails.
              std::string failure = give(**ks, 0, 33, given);
              if (!failure.empty()) return failure;
              const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
              while (repeating_random::seeds.load() < 9) {  // the six pools of seed 7 drawn
                if (std::chrono::steady_clock::now() > deadline) return std::string("the failing batch never drew");
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
              }
              std::this_thread::sleep_for(std::chrono::milliseconds(200));  // its last draws, and its end
              if (records.batches() != 1) return std::string("the batch of repeated ids was written");
              // The next new applicant asks again; the key store's thread now draws new seeds. On a slow machine
              // the failed batch may still be ending when the 34th comes (its request still stands, so the 34th
              // asks nothing): then the one after it asks. Without the fix none ever does.
              int next = 33;
              while (records.batches() < 2) {
                if (next == 40 || std::chrono::steady_clock::now() > deadline) {
                  return std::string("no batch asked for again");
                }
                failure = give(**ks, next++, 1, given);
                if (!failure.empty()) return failure;
                const auto asked_by = std::chrono::steady_clock::now() + std::chrono::seconds(1);
                while (records.batches() < 2 && std::chrono::steady_clock::now() < asked_by) {
                  std::this_thread::sleep_for(std::chrono::milliseconds(1));
                }
              }
              return give(**ks, next, 60, given);  // and nobody's id given twice meanwhile
            }),
            "");
  std::filesystem::remove_all(dir);
}

// Every key a batch wraps under the KEK has a nonce of its own: the batch's random prefix, then the key's place in
// the batch. (A constant place, or one prefix for every batch, would reuse nonces under the KEK while every key
// still opened: only the nonces themselves show it.)
TEST(KeyStore, EveryKeyOfABatchIsWrappedWithANonceOfItsOwn) {
  const std::string dir = testing::make_temp_dir();
  auto inner = open_key_log(dir + "/keys", {.sync = false});
  ASSERT_TRUE(inner.ok());
  auto counting = std::make_unique<PassThroughRecords>(std::move(*inner));
  PassThroughRecords& records = *counting;
  auto ks = KeyStore::open(std::move(counting), test_kek(), {.sync = false, .keys_ahead = 64});
  ASSERT_TRUE(ks.ok()) << ks.status().ToString();
  ASSERT_TRUE((*ks)->make_keys_ahead().ok());
  std::map<std::string, std::string> given;
  ASSERT_EQ(give(**ks, 0, 40, given), "");  // the 33rd asks the key store's thread for a second batch
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (records.batches() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(records.batches(), 2);
  std::set<std::string> nonces;
  std::map<std::string, std::vector<std::uint64_t>> places;  // a batch's prefix -> the places of its keys
  ASSERT_TRUE(records
                  .scan("k/",
                        [&](std::string_view, std::string_view wrapped) {
                          ASSERT_GE(wrapped.size(), kAeadNonceBytes);
                          const std::string nonce(wrapped.substr(0, kAeadNonceBytes));
                          EXPECT_TRUE(nonces.insert(nonce).second) << "a nonce used twice under the KEK";
                          std::uint64_t place = 0;
                          for (int i = 0; i < 8; ++i) place |= std::uint64_t{static_cast<unsigned char>(nonce[16 + i])} << (8 * i);
                          places[nonce.substr(0, AeadBatchSealer::kPrefixBytes)].push_back(place);
                        })
                  .ok());
  EXPECT_EQ(nonces.size(), 128u);
  ASSERT_EQ(places.size(), 2u) << "one prefix a batch";
  std::vector<std::uint64_t> all_places(64);
  std::iota(all_places.begin(), all_places.end(), 0);
  for (auto& [prefix, p] : places) {
    std::sort(p.begin(), p.end());
    EXPECT_EQ(p, all_places);
  }
  ks->reset();
  std::filesystem::remove_all(dir);
}

TEST(KeyStore, AKillBetweenDestroyingAKeyAndPurgingIsPurgedAtTheNextOpen) {
  SealedCity city;
  const std::string a1 = city.reg(kAigerim);
  const std::string aigerim = city.applicant_id(a1);
  city.close();
  const std::string wrapped = wrapped_key_of(city.dir() + "/keys", aigerim);
  {
    auto ks = KeyStore::open(city.dir() + "/keys", test_kek());
    ASSERT_TRUE(ks.ok());
    const std::string ids[] = {aigerim};
    ASSERT_TRUE((*ks)->begin_erasure(ids, "").ok());
    ASSERT_TRUE((*ks)->finish_erasure(ids).ok());
    // No purge(): the process "dies" here.
  }
  EXPECT_FALSE(files_containing(city.dir() + "/keys", wrapped).empty()) << "not purged yet";
  { ASSERT_TRUE(KeyStore::open(city.dir() + "/keys", test_kek()).ok()); }
  EXPECT_EQ(files_containing(city.dir() + "/keys", wrapped), std::vector<std::string>());
  city.open();
}

// A backup's copy of the key store: taken before an erasure it holds the key (so the search below can find
// it); taken after the key was destroyed, even before the purge ran, it holds no trace of it.
TEST(KeyStore, ACopyWrittenAfterAKeyIsDestroyedHoldsNoTraceOfIt) {
  SealedCity city;
  const std::string a1 = city.reg(kAigerim);
  const std::string aigerim = city.applicant_id(a1);
  city.close();
  const std::string wrapped = wrapped_key_of(city.dir() + "/keys", aigerim);
  auto ks = KeyStore::open(city.dir() + "/keys", test_kek());
  ASSERT_TRUE(ks.ok());
  ASSERT_TRUE((*ks)->checkpoint_to(city.dir() + "/copy-before").ok());
  EXPECT_FALSE(files_containing(city.dir() + "/copy-before", wrapped).empty()) << "the copy lacks the live key";
  EXPECT_EQ((*ks)->checkpoint_to(city.dir() + "/copy-before").code(), StatusCode::kAlreadyExists);
  const std::string ids[] = {aigerim};
  ASSERT_TRUE((*ks)->begin_erasure(ids, "").ok());
  ASSERT_TRUE((*ks)->finish_erasure(ids).ok());
  // The purge has not run yet (an erasure between its two steps): the copy must purge first.
  ASSERT_TRUE((*ks)->checkpoint_to(city.dir() + "/copy-after").ok());
  EXPECT_EQ(files_containing(city.dir() + "/copy-after", wrapped), std::vector<std::string>());
  EXPECT_EQ(files_containing(city.dir() + "/keys", wrapped), std::vector<std::string>());
}

// A backup holds erasures between its copy of the log and its copy of the keys: finish_erasure waits.
TEST(KeyStore, AnErasureDoesNotFinishWhileABackupHoldsErasures) {
  SealedCity city;
  const std::string aigerim = city.applicant_id(city.reg(kAigerim));
  city.close();
  auto ks = KeyStore::open(city.dir() + "/keys", test_kek());
  ASSERT_TRUE(ks.ok());
  const std::string ids[] = {aigerim};
  ASSERT_TRUE((*ks)->begin_erasure(ids, "").ok());
  std::atomic<bool> finished{false};
  std::thread eraser;
  {
    auto hold = (*ks)->hold_erasures();
    eraser = std::thread([&] {
      EXPECT_TRUE((*ks)->finish_erasure(ids).ok());
      finished = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_FALSE(finished.load()) << "an erasure finished while a backup held erasures";
    EXPECT_EQ((*ks)->state(aigerim), ApplicantKeyState::kErasing);
  }
  eraser.join();
  EXPECT_TRUE(finished.load());
  EXPECT_EQ((*ks)->state(aigerim), ApplicantKeyState::kErased);
}

TEST(KeyStore, RetryingAnOldErasureLeavesThePersonsNewApplicantAlone) {
  SealedCity city;
  const std::string a1 = city.reg(kAigerim);
  const std::string old_id = city.applicant_id(a1);
  const std::string ids[] = {old_id};
  ASSERT_TRUE(city.keys().begin_erasure(ids, "").ok());
  const std::string a2 = city.reg(kAigerim);  // she calls again while the erasure is pending
  const std::string new_id = city.applicant_id(a2);
  ASSERT_NE(new_id, old_id);
  ASSERT_TRUE(city.keys().begin_erasure(ids, "").ok());  // the retry
  EXPECT_EQ(city.keys().find("phone:77015551234")->value_or(""), new_id);
}

// A log that, once its first full scan is done, lets a desk comment on an appeal: activity between a retention
// plan and its erasure.
class ActivityAfterPlan final : public testing::ForwardingStore {
 public:
  ActivityAfterPlan(store::EventStore& inner, std::function<void()> act)
      : ForwardingStore(inner), act_(std::move(act)) {}
  Result<std::uint64_t> scan(std::uint64_t p, std::uint64_t n,
                             const std::function<bool(const store::RecordedEvent&)>& v) const override {
    auto r = inner_.scan(p, n, v);
    if (p == 1 && act_) std::exchange(act_, nullptr)();
    return r;
  }

 private:
  mutable std::function<void()> act_;
};

TEST(Retention, AnApplicantWhoseAppealMovedSinceThePlanIsSpared) {
  SealedCity city;
  const rules::RuleSet rs = retention_rules();
  const std::string g1 = closed_gratitude(city, kAigerim);
  const std::string g2 = closed_gratitude(city, kBolat);
  const std::string aigerim = city.applicant_id(g1);
  ActivityAfterPlan log(city.store(), [&] {
    ASSERT_TRUE(city.engine().execute(g1, Comment{"the applicant called about it again"}, {"late", {}, ""}).ok());
  });
  auto run = run_retention(city.keys(), log, rs, std::string(64, 'f'), at("2026-04-02T00:00:00Z"));
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->spared, 1u);
  EXPECT_EQ(run->erased, 1u);
  EXPECT_EQ(city.keys().state(aigerim), ApplicantKeyState::kActive);
  EXPECT_EQ(city.keys().state(city.applicant_id(g2)), ApplicantKeyState::kErased);
}

TEST(AccessLog, ARecorderWhoseLogRefusesIsUnhealthyAndKeepsItsRecords) {
  SealedCity city;
  const std::string a1 = city.reg(kAigerim);
  class RefuseAll final : public testing::ForwardingStore {
   public:
    using ForwardingStore::ForwardingStore;
    Result<store::AppendResult> append(std::string_view, store::ExpectedVersion, std::span<const store::EventData>,
                                       const store::AppendOptions&) override {
      return refuse ? Result<store::AppendResult>(Status::IOError("disk full (injected)")) : Result<store::AppendResult>(store::AppendResult{});
    }
    std::atomic<bool> refuse{true};
  } log(city.store());
  AccessRecorder recorder(log, city.clock(), {.flush_every = std::chrono::milliseconds(2)});
  EXPECT_TRUE(recorder.healthy());
  recorder.record({"tok", "operator", ""}, {a1, "ap-x", "contact", "callback"});
  EXPECT_EQ(recorder.flush().code(), StatusCode::kIOError);
  EXPECT_FALSE(recorder.healthy()) << "a server must stop serving personal data it cannot record";
  EXPECT_GE(recorder.stats().failures, 1u);
  log.refuse = false;
  ASSERT_TRUE(recorder.flush().ok());
  EXPECT_TRUE(recorder.healthy());
  EXPECT_EQ(recorder.stats().appended, 1u) << "the refused record was kept and appended once the log took it";
}

}  // namespace
}  // namespace otinish::engine::privacy
