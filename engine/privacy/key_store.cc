#include "engine/privacy/key_store.h"

#include <charconv>
#include <sodium.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include "common/hash.h"
#include "engine/privacy/aead.h"
#include "store/disk_space.h"
#include "store/info_log.h"
#include "store/table_options.h"

namespace otinish::engine::privacy {

namespace {

// Keys of the store's one column family. Every value is either empty or wrapped (wrap() below).
constexpr std::string_view kFormatKey = "m/format";
constexpr std::string_view kFormat = "otinish-keys-1";
constexpr std::string_view kVerifierKey = "m/kek";      // "<kek id>" then the wrapped verifier
constexpr std::string_view kIndexKeyKey = "m/index-key";  // the wrapped identity-hashing key
constexpr std::string_view kKeyPrefix = "k/";       // k/<applicant> -> wrapped data key
constexpr std::string_view kIdentityPrefix = "i/";  // i/<keyed hash hex> -> applicant
constexpr std::string_view kReversePrefix = "r/";   // r/<applicant> -> keyed hash hex (to drop i/ on erasure)
constexpr std::string_view kErasingPrefix = "e/";   // e/<applicant> -> "" while erasure runs
constexpr std::string_view kErasedPrefix = "x/";    // x/<applicant> -> "" once erased
constexpr std::string_view kVerifierName = "verifier";
constexpr std::string_view kIndexKeyName = "index-key";
constexpr std::string_view kVerifierText = "otinish key store v1";
// Set in the same write that deletes or rewraps keys, cleared once purge() compacted them away: a crash in
// between leaves it, and open() purges then, so a destroyed key never stays in an old file.
constexpr std::string_view kPurgePendingKey = "m/purge-pending";

std::string key(std::string_view prefix, std::string_view a, std::string_view b = {}) {
  std::string k(prefix);
  k += a;
  if (!b.empty()) {
    k += '/';
    k += b;
  }
  return k;
}

std::string associated(std::string_view name) { return "otinish wrapped key v1\x1f" + std::string(name); }

// nonce || XChaCha20-Poly1305(kek, plain, ad = name), a random nonce: the name binds a wrapped key to its place.
std::string wrap(const SecretKey& kek, std::string_view name, std::string_view plain) {
  return aead_seal(kek, random_nonce(), associated(name), plain);
}

bool unwrap(const SecretKey& kek, std::string_view name, std::string_view wrapped, std::string& plain) {
  return aead_open(kek, wrapped, associated(name), plain);
}

std::string wrap_key(const SecretKey& kek, std::string_view name, const SecretKey& k) {
  return wrap(kek, name, std::string_view(reinterpret_cast<const char*>(k.data()), SecretKey::kSize));
}

Result<SecretKey> unwrap_key(const SecretKey& kek, std::string_view name, std::string_view wrapped) {
  std::string plain;
  if (!unwrap(kek, name, wrapped, plain) || plain.size() != SecretKey::kSize) {
    sodium_memzero(plain.data(), plain.size());
    return Status::Corruption("the wrapped key '" + std::string(name) +
                              "' does not open with the key store's key-encryption key (damaged or altered)");
  }
  SecretKey k(reinterpret_cast<const std::uint8_t*>(plain.data()));
  sodium_memzero(plain.data(), plain.size());
  return k;
}

Status from_rocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  if (s.IsCorruption()) return Status::Corruption(std::string(what) + ": " + s.ToString());
  return Status::IOError(std::string(what) + ": " + s.ToString());
}

std::string new_applicant_id() {
  std::array<std::uint8_t, 8> r{};
  randombytes_buf(r.data(), r.size());
  return "ap-" + to_hex(r);
}

std::string_view without(std::string_view k, std::string_view prefix) { return k.substr(prefix.size()); }

}  // namespace

std::string_view to_string(ApplicantKeyState s) noexcept {
  switch (s) {
    case ApplicantKeyState::kUnknown: return "unknown";
    case ApplicantKeyState::kActive: return "active";
    case ApplicantKeyState::kErasing: return "erasing";
    case ApplicantKeyState::kErased: return "erased";
  }
  return "unknown";
}

struct KeyStore::Impl {
  std::string path;
  KeyStoreOptions options;
  KeyEncryptionKey kek;
  std::string kek_id;
  SecretKey index_key;
  std::unique_ptr<rocksdb::Env> env;  // over options.file_system, when one is given; outlives db
  std::unique_ptr<rocksdb::DB> db;
  std::unique_ptr<store::DiskSpaceGuard> space;

  std::shared_mutex mu;
  std::unordered_map<std::string, SecretKey> keys;         // GUARDED_BY(mu): applicant -> data key (cache)
  std::unordered_map<std::string, std::string> identities;  // GUARDED_BY(mu): keyed hash -> applicant (cache)
  std::unordered_set<std::string> closed;                   // GUARDED_BY(mu): erasing or erased applicants
  // The two caches hold the applicants seen lately, about 300 bytes each; past kCachedApplicants a cache starts
  // over (a key is then read and unwrapped from the store again: a point read and an AEAD open).
  static constexpr std::size_t kCachedApplicants = 100'000;
  void remember_key(const std::string& id, const SecretKey& k) {  // REQUIRES: mu held exclusively
    if (keys.size() >= kCachedApplicants) keys.clear();
    keys.emplace(id, k);
  }
  void remember_identity(const std::string& hash, const std::string& id) {  // REQUIRES: mu held exclusively
    if (identities.size() >= kCachedApplicants) identities.clear();
    identities[hash] = id;
  }
  // New applicants of one identity are made under that identity's stripe, so two concurrent first appeals
  // of one person share a key; different people's creations run (and sync) concurrently.
  std::array<std::mutex, 64> stripes;
  // Held by finish_erasure, and by a backup between its copies of the log and of the key store.
  std::mutex erasure_gate;

  // Every write but a new applicant's is durable before it returns (synced unless KeyStoreOptions::sync is
  // off, and then at least in the OS); RocksDB groups concurrent synced writes into one fsync. A new
  // applicant's (`sync` false) reaches the OS and is synced by sync().
  Status write(rocksdb::WriteBatch& b, const std::string& what, bool sync = true) {
    OTINISH_RETURN_IF_ERROR(space->check());
    rocksdb::WriteOptions w;
    w.sync = sync && options.sync;
    return from_rocks(db->Write(w, &b), what);
  }

  // New applicants written, and how many of them an fsync covered: sync() has work only while they differ.
  // `written` grows after a new applicant's write returns and before anyone can be handed its key (key_for
  // holds the identity's stripe until then), so whoever seals with a key and then calls sync() is covered.
  std::atomic<std::uint64_t> written{0};
  std::atomic<std::uint64_t> synced{0};
  std::mutex sync_mu;  // one fsync at a time; the callers queued behind it are usually covered by it

  Status sync() {
    if (!options.sync) return Status::Ok();
    const std::uint64_t target = written.load(std::memory_order_acquire);
    if (synced.load(std::memory_order_acquire) >= target) return Status::Ok();
    std::lock_guard lock(sync_mu);
    if (synced.load(std::memory_order_acquire) >= target) return Status::Ok();
    const std::uint64_t covered = written.load(std::memory_order_acquire);
    // Syncs every WAL file written so far (RocksDB tracks which are not yet synced), so it covers each write
    // counted in `covered`, which all returned before this call began.
    OTINISH_RETURN_IF_ERROR(from_rocks(db->SyncWAL(), "syncing new applicant keys in " + path));
    synced.store(covered, std::memory_order_release);
    return Status::Ok();
  }

  // sync_async's callers, served by one thread started on first need: each round takes every waiting caller,
  // runs one sync() for all of them, and answers them.
  std::mutex async_mu;
  std::condition_variable async_cv;
  std::vector<std::function<void(Status)>> waiting;  // GUARDED_BY(async_mu)
  bool stopping = false;                              // GUARDED_BY(async_mu)
  std::thread syncer;                                 // GUARDED_BY(async_mu) (started once)

  void sync_loop() {
    std::unique_lock lock(async_mu);
    for (;;) {
      async_cv.wait(lock, [&] { return stopping || !waiting.empty(); });
      if (waiting.empty()) return;  // stopping, and everyone answered
      std::vector<std::function<void(Status)>> round = std::move(waiting);
      waiting.clear();
      lock.unlock();
      const Status s = sync();
      for (auto& done : round) done(s);
      lock.lock();
    }
  }

  ~Impl() {
    {
      std::lock_guard lock(async_mu);
      stopping = true;
    }
    async_cv.notify_all();
    if (syncer.joinable()) syncer.join();  // before the database closes: it answers who still waits
  }

  std::string identity_hash(std::string_view identity) const {
    std::array<std::uint8_t, 16> out{};
    crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(identity.data()),
                       identity.size(), index_key.data(), SecretKey::kSize);
    return to_hex(out);
  }

  Result<std::optional<std::string>> get(std::string_view k) const {
    std::string v;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), k, &v);
    if (s.IsNotFound()) return std::optional<std::string>();
    OTINISH_RETURN_IF_ERROR(from_rocks(s, "reading the key store at " + path));
    return std::optional<std::string>(std::move(v));
  }

  // Every key with `prefix`, in order.
  Status scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& visit) const {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      visit(std::string_view(it->key().data(), it->key().size()), std::string_view(it->value().data(), it->value().size()));
    }
    return from_rocks(it->status(), "reading the key store at " + path);
  }

  Result<ApplicantKey> create(const std::optional<std::string>& hash) {
    ApplicantKey out{new_applicant_id(), SecretKey::random(), true};
    rocksdb::WriteBatch b;
    b.Put(key(kKeyPrefix, out.applicant_id), wrap_key(kek.key, out.applicant_id, out.key));
    if (hash) {
      b.Put(key(kIdentityPrefix, *hash), out.applicant_id);
      b.Put(key(kReversePrefix, out.applicant_id), *hash);
    }
    OTINISH_RETURN_IF_ERROR(write(b, "writing a new applicant key to " + path, /*sync=*/false));
    written.fetch_add(1, std::memory_order_acq_rel);
    std::unique_lock lock(mu);
    remember_key(out.applicant_id, out.key);
    if (hash) remember_identity(*hash, out.applicant_id);
    return out;
  }
};

KeyStore::KeyStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KeyStore::~KeyStore() = default;

const std::string& KeyStore::path() const noexcept { return impl_->path; }
std::string KeyStore::kek_id() const { return impl_->kek_id; }

Result<std::unique_ptr<KeyStore>> KeyStore::open(const std::string& path, const KeyEncryptionKey& kek,
                                                 const KeyStoreOptions& options) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  const bool exists = std::filesystem::exists(std::filesystem::path(path) / "CURRENT");
  if (!exists && !options.create_if_missing) return Status::NotFound("no key store at " + path);
  if (!exists) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return Status::IOError("cannot create the key store directory " + path + ": " + ec.message());
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = options;
  impl->kek = kek;
  impl->kek_id = kek.id();
  impl->space = std::make_unique<store::DiskSpaceGuard>(path, "the key store", options.min_free_disk_mb << 20);
  rocksdb::Options o;
  o.create_if_missing = options.create_if_missing;
  o.paranoid_checks = true;
  o.info_log = store::open_info_log(path);
  if (options.file_system) {
    impl->env = rocksdb::NewCompositeEnv(options.file_system);
    o.env = impl->env.get();
  }
  // Keys are small and few (a city: tens of thousands a year); keep the store small and its files few, so that
  // purge() has little to rewrite. No WAL archive or recycling: an obsolete WAL must be deleted, not kept.
  o.write_buffer_size = 16 << 20;  // with max_write_buffer_number 2: at most 32 MiB of memtables
  o.max_write_buffer_number = 2;
  o.WAL_ttl_seconds = 0;
  o.WAL_size_limit_MB = 0;
  o.recycle_log_file_num = 0;
  o.keep_log_file_num = 2;
  // Stored as written: nothing is gained compressing random key bytes, and a byte search of the directory (the
  // tests', an auditor's) then sees exactly what is on disk.
  o.compression = rocksdb::kNoCompression;
  o.bottommost_compression = rocksdb::kNoCompression;
  // Point reads of one applicant's key: a Bloom filter; indexes and filters within a 16 MiB block cache, so
  // that a million applicants do not hold their table files' indexes in memory beside it.
  o.table_factory.reset(
      rocksdb::NewBlockBasedTableFactory(store::bounded_table_options(store::new_block_cache(16), /*bloom=*/true)));
  rocksdb::DB* raw = nullptr;
  OTINISH_RETURN_IF_ERROR(from_rocks(rocksdb::DB::Open(o, path, &raw), "opening the key store at " + path));
  impl->db.reset(raw);

  OTINISH_ASSIGN_OR_RETURN(auto format, impl->get(kFormatKey));
  OTINISH_ASSIGN_OR_RETURN(auto verifier, impl->get(kVerifierKey));
  if (!format) {
    // A new store: its format, the KEK's verifier and the identity-hashing key, in one synced write.
    rocksdb::WriteBatch b;
    b.Put(kFormatKey, kFormat);
    b.Put(kVerifierKey, impl->kek_id + wrap(kek.key, kVerifierName, kVerifierText));
    impl->index_key = SecretKey::random();
    b.Put(kIndexKeyKey, wrap_key(kek.key, kIndexKeyName, impl->index_key));
    OTINISH_RETURN_IF_ERROR(impl->write(b, "creating the key store at " + path));
  } else {
    if (*format != kFormat) {
      // A later format is a newer otinish's: say so, as the log does (data is never downgraded).
      // (from_chars, not stoull: a marker of more digits than fit must be refused, not throw.)
      constexpr std::string_view kFamily = "otinish-keys-";
      std::uint64_t n = 0;
      const char* digits = format->data() + kFamily.size();
      const char* end = format->data() + format->size();
      if (format->starts_with(kFamily) && std::from_chars(digits, end, n).ptr == end && digits != end && n > 1) {
        return Status::InvalidArgument(path + " holds key store format '" + *format + "', written by a newer "
                                       "otinish; this build reads otinish-keys-1. Run the newer otinish; data is "
                                       "never downgraded");
      }
      return Status::InvalidArgument(path + " holds key store format '" + *format + "', which this build does not read");
    }
    if (!verifier || verifier->size() < 16) return Status::Corruption(path + ": the key store's KEK record is missing");
    const std::string stored_id = verifier->substr(0, 16);
    if (stored_id != impl->kek_id) {
      return Status::FailedPrecondition("the key-encryption key from " + kek.source + " (key id " + impl->kek_id +
                                        ") is not the one the key store " + path + " was written with (key id " +
                                        stored_id + "); give that key, or the new one if it was rotated");
    }
    std::string text;
    if (!unwrap(kek.key, kVerifierName, std::string_view(*verifier).substr(16), text) || text != kVerifierText) {
      return Status::Corruption(path + ": the key store's KEK record does not open with key id " + impl->kek_id +
                                " (damaged or altered)");
    }
    OTINISH_ASSIGN_OR_RETURN(auto wrapped, impl->get(kIndexKeyKey));
    if (!wrapped) return Status::Corruption(path + ": the key store's identity-hashing key is missing");
    OTINISH_ASSIGN_OR_RETURN(impl->index_key, unwrap_key(kek.key, kIndexKeyName, *wrapped));
    OTINISH_RETURN_IF_ERROR(impl->scan(kErasingPrefix, [&](std::string_view k, std::string_view) {
      impl->closed.emplace(without(k, kErasingPrefix));
    }));
    OTINISH_RETURN_IF_ERROR(impl->scan(kErasedPrefix, [&](std::string_view k, std::string_view) {
      impl->closed.emplace(without(k, kErasedPrefix));
    }));
  }
  auto store = std::unique_ptr<KeyStore>(new KeyStore(std::move(impl)));
  OTINISH_ASSIGN_OR_RETURN(auto pending_purge, store->impl_->get(kPurgePendingKey));
  if (pending_purge) OTINISH_RETURN_IF_ERROR(store->purge());
  return store;
}

Result<ApplicantKey> KeyStore::key_for(std::string_view identity) {
  Impl& m = *impl_;
  const std::string hash = m.identity_hash(identity);
  std::lock_guard stripe(m.stripes[std::hash<std::string>()(hash) % m.stripes.size()]);
  std::optional<std::string> applicant;
  {
    std::shared_lock lock(m.mu);
    if (auto it = m.identities.find(hash); it != m.identities.end()) applicant = it->second;
  }
  if (!applicant) {
    OTINISH_ASSIGN_OR_RETURN(applicant, m.get(key(kIdentityPrefix, hash)));
    if (applicant) {
      std::unique_lock lock(m.mu);
      m.remember_identity(hash, *applicant);
    }
  }
  if (!applicant) return m.create(hash);
  auto k = data_key(*applicant);
  if (!k.ok()) {
    if (k.status().code() != StatusCode::kNotFound) return k.status();
    return m.create(hash);  // erased meanwhile: the person starts afresh
  }
  return ApplicantKey{*applicant, std::move(k).value(), false};
}

Status KeyStore::sync() { return impl_->sync(); }

void KeyStore::sync_async(std::function<void(Status)> done) {
  Impl& m = *impl_;
  if (!m.options.sync || m.synced.load(std::memory_order_acquire) >= m.written.load(std::memory_order_acquire)) {
    return done(Status::Ok());
  }
  {
    std::lock_guard lock(m.async_mu);
    if (!m.syncer.joinable()) m.syncer = std::thread([&m] { m.sync_loop(); });
    m.waiting.push_back(std::move(done));
  }
  m.async_cv.notify_one();
}

Result<SecretKey> KeyStore::data_key(std::string_view applicant_id) {
  Impl& m = *impl_;
  const std::string id(applicant_id);
  {
    std::shared_lock lock(m.mu);
    if (m.closed.contains(id)) return Status::NotFound("applicant " + id + " was erased");
    if (auto it = m.keys.find(id); it != m.keys.end()) return it->second;
  }
  OTINISH_ASSIGN_OR_RETURN(auto wrapped, m.get(key(kKeyPrefix, id)));
  if (!wrapped) return Status::NotFound("applicant " + id + " has no key in " + m.path);
  OTINISH_ASSIGN_OR_RETURN(SecretKey k, unwrap_key(m.kek.key, id, *wrapped));
  std::unique_lock lock(m.mu);
  if (m.closed.contains(id)) return Status::NotFound("applicant " + id + " was erased");
  m.remember_key(id, k);
  return k;
}

ApplicantKeyState KeyStore::state(std::string_view applicant_id) {
  Impl& m = *impl_;
  auto has = [&](std::string_view prefix) {
    auto v = m.get(key(prefix, applicant_id));
    return v.ok() && v->has_value();
  };
  if (has(kErasedPrefix)) return ApplicantKeyState::kErased;
  if (has(kErasingPrefix)) return ApplicantKeyState::kErasing;
  if (has(kKeyPrefix)) return ApplicantKeyState::kActive;
  return ApplicantKeyState::kUnknown;
}

Result<std::optional<std::string>> KeyStore::find(std::string_view identity) {
  return impl_->get(key(kIdentityPrefix, impl_->identity_hash(identity)));
}

Status KeyStore::begin_erasure(std::span<const std::string> applicant_ids, std::string_view request) {
  Impl& m = *impl_;
  rocksdb::WriteBatch b;
  std::vector<std::string> hashes;
  for (const std::string& id : applicant_ids) {
    const ApplicantKeyState s = state(id);
    if (s == ApplicantKeyState::kUnknown) return Status::NotFound("no applicant " + id + " in " + m.path);
    if (s == ApplicantKeyState::kErased) continue;
    b.Put(key(kErasingPrefix, id), request);
    OTINISH_ASSIGN_OR_RETURN(auto hash, m.get(key(kReversePrefix, id)));
    // The identity may already belong to a newer applicant (the person came back after this erasure began).
    if (hash) {
      OTINISH_ASSIGN_OR_RETURN(auto owner, m.get(key(kIdentityPrefix, *hash)));
      if (owner && *owner == id) {
        b.Delete(key(kIdentityPrefix, *hash));
        hashes.push_back(*hash);
      }
    }
  }
  OTINISH_RETURN_IF_ERROR(m.write(b, "beginning an erasure in " + m.path));
  std::unique_lock lock(m.mu);
  for (const std::string& id : applicant_ids) {
    m.closed.insert(id);
    m.keys.erase(id);  // SecretKey wipes itself
  }
  for (const std::string& h : hashes) m.identities.erase(h);
  return Status::Ok();
}

Status KeyStore::finish_erasure(std::span<const std::string> applicant_ids) {
  Impl& m = *impl_;
  std::lock_guard gate(m.erasure_gate);
  rocksdb::WriteBatch b;
  for (const std::string& id : applicant_ids) {
    b.Delete(key(kKeyPrefix, id));
    b.Delete(key(kReversePrefix, id));
    b.Delete(key(kErasingPrefix, id));
    b.Put(key(kErasedPrefix, id), "");
  }
  b.Put(kPurgePendingKey, "");
  OTINISH_RETURN_IF_ERROR(m.write(b, "finishing an erasure in " + m.path));
  std::unique_lock lock(m.mu);
  for (const std::string& id : applicant_ids) m.closed.insert(id);
  return Status::Ok();
}

Result<std::vector<std::pair<std::string, std::string>>> KeyStore::pending_erasures() {
  std::vector<std::pair<std::string, std::string>> out;
  OTINISH_RETURN_IF_ERROR(impl_->scan(kErasingPrefix, [&](std::string_view k, std::string_view v) {
    out.emplace_back(without(k, kErasingPrefix), v);
  }));
  return out;
}

Status KeyStore::purge() {
  Impl& m = *impl_;
  rocksdb::FlushOptions f;
  f.wait = true;
  OTINISH_RETURN_IF_ERROR(from_rocks(m.db->Flush(f), "flushing the key store at " + m.path));
  rocksdb::CompactRangeOptions c;
  // Rewrite even the bottom level: that is where a deleted key's older version and its tombstone meet and
  // both disappear.
  c.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  c.exclusive_manual_compaction = true;
  OTINISH_RETURN_IF_ERROR(from_rocks(m.db->CompactRange(c, nullptr, nullptr), "compacting the key store at " + m.path));
  // Obsolete WAL and SST files are deleted by the flush and the compaction themselves (no archive is kept).
  rocksdb::WriteBatch done;
  done.Delete(kPurgePendingKey);
  return m.write(done, "finishing a purge of the key store at " + m.path);
}

std::unique_lock<std::mutex> KeyStore::hold_erasures() { return std::unique_lock(impl_->erasure_gate); }

Status KeyStore::checkpoint_to(const std::string& dir) {
  Impl& m = *impl_;
  if (std::filesystem::exists(dir)) return Status::AlreadyExists(dir + " exists: a copy of the key store goes into a new directory");
  OTINISH_ASSIGN_OR_RETURN(auto pending_purge, m.get(kPurgePendingKey));
  if (pending_purge) OTINISH_RETURN_IF_ERROR(purge());
  rocksdb::Checkpoint* raw = nullptr;
  OTINISH_RETURN_IF_ERROR(from_rocks(rocksdb::Checkpoint::Create(m.db.get(), &raw), "copying the key store to " + dir));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  return from_rocks(checkpoint->CreateCheckpoint(dir, 0), "copying the key store to " + dir);
}

Result<KeyStoreStats> KeyStore::stats() {
  KeyStoreStats s;
  OTINISH_RETURN_IF_ERROR(impl_->scan(kKeyPrefix, [&](std::string_view, std::string_view) { ++s.applicants; }));
  OTINISH_RETURN_IF_ERROR(impl_->scan(kErasingPrefix, [&](std::string_view, std::string_view) { ++s.erasing; }));
  OTINISH_RETURN_IF_ERROR(impl_->scan(kErasedPrefix, [&](std::string_view, std::string_view) { ++s.erased; }));
  s.applicants -= std::min(s.applicants, s.erasing);
  return s;
}

Status KeyStore::rotate(const std::string& path, const KeyEncryptionKey& from, const KeyEncryptionKey& to) {
  if (from.id() == to.id()) {
    return Status::InvalidArgument("the new key-encryption key (" + to.source + ") is the same key as the old one");
  }
  OTINISH_ASSIGN_OR_RETURN(auto store, open(path, from, {.create_if_missing = false}));
  Impl& m = *store->impl_;
  rocksdb::WriteBatch b;
  Status bad;
  OTINISH_RETURN_IF_ERROR(m.scan(kKeyPrefix, [&](std::string_view k, std::string_view v) {
    if (!bad.ok()) return;
    const std::string_view id = without(k, kKeyPrefix);
    auto dk = unwrap_key(from.key, id, v);
    if (!dk.ok()) {
      bad = dk.status();
      return;
    }
    b.Put(k, wrap_key(to.key, id, *dk));
  }));
  OTINISH_RETURN_IF_ERROR(bad);
  b.Put(kIndexKeyKey, wrap_key(to.key, kIndexKeyName, m.index_key));
  b.Put(kVerifierKey, to.id() + wrap(to.key, kVerifierName, kVerifierText));
  b.Put(kPurgePendingKey, "");
  OTINISH_RETURN_IF_ERROR(m.write(b, "rewrapping the key store at " + path));
  return store->purge();
}

}  // namespace otinish::engine::privacy
