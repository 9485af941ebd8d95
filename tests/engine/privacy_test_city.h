// tests/engine/privacy_test_city.h: a test city whose applicants are sealed with per-applicant keys, and a
// byte search over a whole data directory (every file, WAL and SST files included).
#pragma once

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "tests/engine/forwarding_store.h"
#include "engine/privacy/aead.h"
#include "engine/privacy/key_log.h"
#include "engine/privacy/key_store.h"
#include "engine/privacy/sealer.h"
#include "store/rocks_store.h"
#include "tests/engine/test_city.h"
#include "tests/engine/test_kek.h"

namespace otinish::engine::testing {

// The files under `dir` (recursively) that contain `needle`, as paths relative to `dir`.
inline std::vector<std::string> files_containing(const std::string& dir, std::string_view needle) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (bytes.str().find(needle) != std::string::npos) {
      found.push_back(std::filesystem::relative(entry.path(), dir).string());
    }
  }
  return found;
}

// Each applicant's wrapped key as stored in the key log at `keys_dir` (read from its file: the store must be
// closed), to search the files for later.
// A data key wrapped by the KEK, as the key store's k/ records begin: nonce, key, tag.
inline constexpr std::size_t kWrappedKeyBytes =
    privacy::kAeadNonceBytes + privacy::SecretKey::kSize + privacy::kAeadTagBytes;

inline std::map<std::string, std::string> wrapped_keys(const std::string& keys_dir,
                                                       const std::vector<std::string>& applicants) {
  std::map<std::string, std::string> all;
  const Status read = privacy::read_key_log(keys_dir, [&](std::string_view k, std::string_view v) { all.emplace(k, v); });
  EXPECT_TRUE(read.ok()) << keys_dir << ": " << read.ToString();
  std::map<std::string, std::string> out;
  for (const std::string& id : applicants) {
    auto it = all.find("k/" + id);
    EXPECT_TRUE(it != all.end()) << id;
    if (it == all.end()) continue;
    // The wrapped key material alone (nonce, the data key and its nonce key, tag), without the identity's
    // hash that follows it: a copy of the key anywhere is what must not survive an erasure.
    out[id] = it->second.substr(0, kWrappedKeyBytes + privacy::SecretKey::kSize);
    EXPECT_EQ(it->second.size(), kWrappedKeyBytes + privacy::SecretKey::kSize + 32) << id;
  }
  return out;
}

class SealedCity {
 public:
  // `fs`: the file system under the log and the key store (the default one when null), for the tests that
  // cut the power.
  // `keys_ahead`, `link_sync_within`: as privacy::KeyStoreOptions (the first batch, made at open as the server
  // does, is 64 keys at most; with 64, no other batch is made before 32 are taken; with a long link_sync_within
  // as well, no link is synced before the close).
  explicit SealedCity(privacy::KeyEncryptionKey kek = test_kek(), std::shared_ptr<rocksdb::FileSystem> fs = nullptr,
                      std::size_t keys_ahead = 1024,
                      std::chrono::milliseconds link_sync_within = privacy::KeyStoreOptions{}.link_sync_within)
      : dir_(make_temp_dir()), clock_(t0()), catalogue_(test_topics()), kek_(std::move(kek)), fs_(std::move(fs)),
        keys_ahead_(keys_ahead), link_sync_within_(link_sync_within) {
    open();
  }
  ~SealedCity() {
    close();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void open() {
    auto s = store::open_rocks_store(dir_ + "/log", {.file_system = fs_}, clock_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    auto k = privacy::KeyStore::open(
        dir_ + "/keys", kek_,
        {.file_system = fs_,
         .keys_ahead = keys_ahead_,
         .link_sync_within = link_sync_within_,
         .log_position = [log = store_.get()] { return log->head_position(); }});
    ASSERT_TRUE(k.ok()) << k.status().ToString();
    keys_ = std::move(k).value();
    // As the server starts: the links a crash took are restored, and keys are made ahead.
    auto restored = privacy::restore_identity_links(*keys_, *store_);
    ASSERT_TRUE(restored.ok()) << restored.status().ToString();
    restored_ = *restored;
    ASSERT_TRUE(keys_->make_keys_ahead().ok());
    sealer_ = std::make_unique<privacy::AeadApplicantSealer>(*keys_);
    engine_ = std::make_unique<Engine>(*store_, clock_, &catalogue_, *sealer_);
  }
  void close() {
    engine_.reset();
    sealer_.reset();
    keys_.reset();
    store_.reset();
  }

  std::string reg(const Applicant& a, std::string text = "text of the appeal") {
    auto res = engine_->register_appeal(registration(a, std::move(text)), meta());
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    return res.ok() ? res->appeal_id : std::string();
  }
  // The command reg() sends, and a command's metadata with a fresh id.
  static RegisterAppeal registration(const Applicant& a, std::string text = "text of the appeal") {
    RegisterAppeal r;
    r.centre = "SHY";
    r.category = Category::kComplaint;
    r.topic = "lifts.broken";
    r.location = {"Abay", "Tauke khan ave"};
    r.text = std::move(text);
    r.applicant = a;
    return r;
  }
  CommandMeta meta() { return {"cmd-" + std::to_string(++next_), {"operator:test", "operator", ""}, ""}; }
  std::string applicant_id(const std::string& appeal) {
    auto s = engine_->load(appeal);
    EXPECT_TRUE(s.ok());
    return s.ok() ? s->applicant.key_id : std::string();
  }

  Engine& engine() { return *engine_; }
  store::EventStore& store() { return *store_; }
  privacy::KeyStore& keys() { return *keys_; }
  const std::string& dir() const { return dir_; }
  ManualClock& clock() { return clock_; }
  std::size_t restored() const { return restored_; }  // identity links the last open() restored

 private:
  std::string dir_;
  ManualClock clock_;
  InMemoryTopicCatalogue catalogue_;
  privacy::KeyEncryptionKey kek_;
  std::shared_ptr<rocksdb::FileSystem> fs_;
  std::unique_ptr<store::EventStore> store_;
  std::unique_ptr<privacy::KeyStore> keys_;
  std::unique_ptr<privacy::AeadApplicantSealer> sealer_;
  std::unique_ptr<Engine> engine_;
  std::atomic<int> next_{0};
  std::size_t keys_ahead_;
  std::chrono::milliseconds link_sync_within_;
  std::size_t restored_ = 0;
};

}  // namespace otinish::engine::testing
