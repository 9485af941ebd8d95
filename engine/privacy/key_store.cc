#include "engine/privacy/key_store.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <pthread.h>
#include <sodium.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <thread>
#include <unordered_map>
#include <unordered_set>


#include "common/fork.h"
#include "common/hash.h"
#include "common/large_table.h"
#include "common/thread_name.h"
#include "engine/privacy/aead.h"
#include "engine/privacy/key_log.h"
#include "engine/privacy/key_records.h"

namespace otinish::engine::privacy {

namespace {

// Keys of the store's one column family. Every value is either empty or wrapped (wrap() below).
constexpr std::string_view kFormatKey = "m/format";
// Format 4 is format 3 with the identity's hash made by SipHash-2-4-128 instead of BLAKE2b (identity_hash()):
// every store made from December 2026 on. The hash names the identity's record, so a store keeps the function
// it was made with: formats 1 to 3 keep BLAKE2b for good (the identities themselves are not kept, so nothing
// could be hashed again), and an older build must refuse format 4 (it would hash identities differently, find
// nobody, and give a returning person a second key).
constexpr std::string_view kFormat = "otinish-keys-4";
constexpr std::string_view kFormat3 = "otinish-keys-3";
// Format 1 kept an identity's hash in a record of its own (r/ below), format 2 never made keys ahead (v/ below);
// both are read as well, and marked 3 on open. (An older build must refuse format 3: it would take a key made
// ahead's placeholder for its identity's hash, and an erasure would leave the identity linked.)
constexpr std::string_view kFormat1 = "otinish-keys-1";
constexpr std::string_view kFormat2 = "otinish-keys-2";
constexpr std::string_view kVerifierKey = "m/kek";      // "<kek id>" then the wrapped verifier
constexpr std::string_view kIndexKeyKey = "m/index-key";  // the wrapped identity-hashing key
constexpr std::string_view kKeyPrefix = "k/";       // k/<applicant> -> wrapped data key, then its identity's hash
constexpr std::string_view kIdentityPrefix = "i/";  // i/<keyed hash hex> -> applicant
constexpr std::string_view kReversePrefix = "r/";   // r/<applicant> -> keyed hash hex (see kNoIdentityHash)
constexpr std::string_view kBatchPrefix = "v/";     // v/<first applicant> -> a batch of keys made ahead (Reserve)
constexpr std::string_view kErasingPrefix = "e/";   // e/<applicant> -> "" while erasure runs
constexpr std::string_view kErasedPrefix = "x/";    // x/<applicant> -> "" once erased
constexpr std::string_view kIdPrefix = "ap-";        // an applicant id: "ap-" and 16 hex characters
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

// A k/ value: the wrapped key material, then the keyed hash of the identity it was made for (32 hex
// characters), so that an erasure can unlink the identity without a record of its own (a new applicant's third
// record was a third of its key store cost). Format 1 values, and every value of shared records, hold the
// wrapped material alone. The material is the data key and then its nonce key (random: see create()), or, for
// keys made before December 2026 and in shared records, the data key alone (its nonce key then derived,
// nonce_subkey). So a value is 72 bytes (a key alone, no hash), 104 (a key alone, then the hash) or 136 (a key
// and its nonce key, then the hash); a key and its nonce key without the hash is never written.
constexpr std::size_t kWrappedKeyBytes = kAeadNonceBytes + SecretKey::kSize + kAeadTagBytes;
constexpr std::size_t kWrappedPairBytes = kWrappedKeyBytes + SecretKey::kSize;
constexpr std::size_t kIdentityHexBytes = 32;
std::size_t wrapped_size(std::string_view v) {
  return v.size() == kWrappedPairBytes + kIdentityHexBytes ? kWrappedPairBytes : kWrappedKeyBytes;
}
std::string_view wrapped_of(std::string_view v) { return v.substr(0, wrapped_size(v)); }
// A key made ahead (KeyStore::Impl's reserve) is written before anyone it will belong to is known: its k/ value
// ends with this in place of the hash, and the identity's hash is given, once known, by an r/ record.
constexpr std::string_view kNoIdentityHash = "00000000000000000000000000000000";
std::string_view identity_hash_of(std::string_view v) {
  const std::string_view h = v.size() > wrapped_size(v) ? v.substr(wrapped_size(v)) : std::string_view();
  return h == kNoIdentityHash ? std::string_view() : h;
}

constexpr std::string_view kWrappedKeyAd = "otinish wrapped key v1\x1f";  // then the wrapped key's name
std::string associated(std::string_view name) { return std::string(kWrappedKeyAd).append(name); }

// nonce || XChaCha20-Poly1305(kek, plain, ad = name) appended to `out`, a random nonce unless given: the name
// binds a wrapped key to its place.
void wrap_into(std::string& out, const SecretKey& kek, std::string_view name, std::string_view plain,
               const AeadNonce& nonce = random_nonce()) {
  aead_seal_into(out, kek, nonce, associated(name), plain);
}
// The same for the n-th key of a batch, whose nonces share a random prefix (AeadBatchSealer: the same bytes as
// wrap_into with that nonce).
void wrap_into(std::string& out, const AeadBatchSealer& batch, std::uint64_t n, std::string_view name,
               std::string_view plain) {
  thread_local std::string ad;  // associated(name), built in the thread's room: a batch wraps many keys
  ad.assign(kWrappedKeyAd).append(name);
  batch.seal_into(out, n, ad, plain);
}

std::string wrap(const SecretKey& kek, std::string_view name, std::string_view plain, const AeadNonce& nonce = random_nonce()) {
  std::string out;
  wrap_into(out, kek, name, plain, nonce);
  return out;
}

bool unwrap(const SecretKey& kek, std::string_view name, std::string_view wrapped, std::string& plain) {
  return aead_open(kek, wrapped, associated(name), plain);
}

std::string wrap_key(const SecretKey& kek, std::string_view name, const SecretKey& k, const AeadNonce& nonce = random_nonce()) {
  return wrap(kek, name, std::string_view(reinterpret_cast<const char*>(k.data()), SecretKey::kSize), nonce);
}

// The plain key material of `wrapped` into `plain`: one key, or (`pair_allowed`) one or two.
Status unwrap_material(const SecretKey& kek, std::string_view name, std::string_view wrapped, std::string& plain,
                       bool pair_allowed) {
  if (!unwrap(kek, name, wrapped, plain) ||
      (plain.size() != SecretKey::kSize && !(pair_allowed && plain.size() == 2 * SecretKey::kSize))) {
    sodium_memzero(plain.data(), plain.size());
    return Status::Corruption("the wrapped key '" + std::string(name) +
                              "' does not open with the key store's key-encryption key (damaged or altered)");
  }
  return Status::Ok();
}

Result<SecretKey> unwrap_key(const SecretKey& kek, std::string_view name, std::string_view wrapped) {
  std::string plain;
  OTINISH_RETURN_IF_ERROR(unwrap_material(kek, name, wrapped, plain, /*pair_allowed=*/false));
  SecretKey k(reinterpret_cast<const std::uint8_t*>(plain.data()));
  sodium_memzero(plain.data(), plain.size());
  return k;
}

// Random bytes for new applicants, 4 KiB at a time per thread: each pool is ChaCha20's keystream
// (randombytes_buf_deterministic) under a fresh 32-byte seed from the OS (libsodium's randombytes, getrandom
// on Linux), the seed wiped once used. A getrandom is a system call and the kernel's generator is slow on this
// kind of VM: drawing the whole 4 KiB from it cost a tenth of a new applicant's sealing; a seed a pool costs
// 32 bytes of it. Bytes are wiped from the pool as they are handed out, so the pool never holds what was used;
// a forked child starts its pools over.
void draw_random(std::uint8_t* out, std::size_t n) {
  struct Pool {
    std::array<std::uint8_t, 4096> bytes{};
    std::size_t used = sizeof bytes;
    std::uint64_t generation = 0;
    ~Pool() { sodium_memzero(bytes.data(), bytes.size()); }
  };
  thread_local Pool pool;
  const std::uint64_t generation = fork_generation();
  if (n > pool.bytes.size()) return randombytes_buf(out, n);
  if (pool.generation != generation || pool.bytes.size() - pool.used < n) {
    std::array<std::uint8_t, randombytes_SEEDBYTES> seed;
    randombytes_buf(seed.data(), seed.size());
    randombytes_buf_deterministic(pool.bytes.data(), pool.bytes.size(), seed.data());
    sodium_memzero(seed.data(), seed.size());
    pool.used = 0;
    pool.generation = generation;
  }
  std::memcpy(out, pool.bytes.data() + pool.used, n);
  sodium_memzero(pool.bytes.data() + pool.used, n);
  pool.used += n;
}

// An applicant id's 8 bytes as a number (big-endian: the order of its hex characters), for the caches.
std::uint64_t id_number_of(std::span<const std::uint8_t, 8> b) {
  std::uint64_t n = 0;
  for (std::uint8_t x : b) n = n << 8 | x;
  return n;
}

// An applicant id's characters, "ap-" and the 8 bytes in hex, spelt on the stack.
using IdChars = std::array<char, kIdPrefix.size() + 16>;
IdChars spell_id(std::span<const std::uint8_t, 8> b) {
  IdChars out;
  std::copy(kIdPrefix.begin(), kIdPrefix.end(), out.begin());
  to_hex(b, out.data() + kIdPrefix.size());
  return out;
}

// What a new applicant needs at random: its id, its data key, its nonce key and the nonce that wraps them (not
// drawn for a key of a batch, `wrap_nonce` false: a batch's wraps take their nonces from the batch).
struct NewApplicantRandom {
  std::array<std::uint8_t, 8 + 2 * SecretKey::kSize + kAeadNonceBytes> bytes{};
  const bool drew_nonce;
  explicit NewApplicantRandom(bool wrap_nonce = true) : drew_nonce(wrap_nonce) {
    draw_random(bytes.data(), bytes.size() - (wrap_nonce ? 0 : kAeadNonceBytes));
  }
  ~NewApplicantRandom() { sodium_memzero(bytes.data(), bytes.size()); }
  NewApplicantRandom(const NewApplicantRandom&) = delete;
  NewApplicantRandom& operator=(const NewApplicantRandom&) = delete;
  IdChars id_chars() const { return spell_id(std::span(bytes).first<8>()); }
  std::string applicant_id() const {
    const IdChars c = id_chars();
    return std::string(c.data(), c.size());
  }
  std::uint64_t number() const { return id_number_of(std::span(bytes).first<8>()); }  // id_number(applicant_id())
  SecretKey key() const { return SecretKey(bytes.data() + 8); }
  SecretKey nonce_key() const { return SecretKey(bytes.data() + 8 + SecretKey::kSize); }
  std::string_view material() const {  // the data key, then the nonce key
    return {reinterpret_cast<const char*>(bytes.data() + 8), 2 * SecretKey::kSize};
  }
  AeadNonce nonce() const {
    // Without a drawn nonce these bytes are zeros: the same nonce under the KEK for every key wrapped with it.
    // Never so today (a batch's keys are wrapped with the batch's nonces); a hard stop, should that change.
    if (!drew_nonce) std::abort();
    AeadNonce n;
    std::copy_n(bytes.data() + 8 + 2 * SecretKey::kSize, n.size(), n.begin());
    return n;
  }
};

std::string_view without(std::string_view k, std::string_view prefix) { return k.substr(prefix.size()); }

// An applicant id as a number, for the caches: "ap-" and 16 hex characters are 8 bytes (NewApplicantRandom).
// Nothing for an id of another form (none is made, but one read from a damaged store is not cached).
std::optional<std::uint64_t> id_number(std::string_view id) {
  std::array<std::uint8_t, 8> b;
  if (!id.starts_with(kIdPrefix) || !from_hex(id.substr(kIdPrefix.size()), b)) return std::nullopt;
  return id_number_of(b);
}
std::string id_text(std::uint64_t n) {
  std::array<std::uint8_t, 8> b;
  for (int i = 7; i >= 0; --i, n >>= 8) b[i] = static_cast<std::uint8_t>(n);
  const IdChars c = spell_id(b);
  return std::string(c.data(), c.size());
}

}  // namespace

// (Outside the anonymous namespace: KeyStore::Impl, which has linkage, holds two.)
// A cache of fixed size, made once: `sets` sets of four entries, an entry's set chosen by its key's hash (the
// keys here are random or keyed hashes, so their low bits spread well). A full set drops its entries in turn.
// No allocation once made, and nothing to rehash: the std::unordered_map of strings it replaced cost a new
// applicant two allocations and most of a microsecond. Values are wiped when dropped and when the cache goes
// (they are data keys). Not thread-safe: the key store's `mu` guards it (find under a shared lock).
template <typename Key, typename Value>
class SetCache {
 public:
  explicit SetCache(std::size_t sets) : count_(sets), sets_(sets), values_(sets * kWays) {}
  ~SetCache() { clear(); }
  SetCache(const SetCache&) = delete;
  SetCache& operator=(const SetCache&) = delete;

  // Starts loading the set `hash` falls in (a cache miss in a table of megabytes) ahead of a find or put.
  void prefetch(std::uint64_t hash) const noexcept {
    const std::size_t at = hash % count_;
    __builtin_prefetch(&sets_[at]);
    __builtin_prefetch(&values_[at * kWays]);
  }
  const Value* find(const Key& k, std::uint64_t hash) const {
    const std::size_t at = hash % count_;
    const int i = sets_[at].find(k);
    return i < 0 ? nullptr : &values_[at * kWays + i];
  }
  void put(const Key& k, std::uint64_t hash, const Value& v) {
    const std::size_t at = hash % count_;
    Set& set = sets_[at];
    int i = set.find(k);
    for (int j = 0; j < int(kWays) && i < 0; ++j) {
      if (!(set.used & 1u << j)) i = j;
    }
    if (i < 0) i = set.next++ % kWays;
    set.keys[i] = k;
    set.used |= 1u << i;
    values_[at * kWays + i] = v;
  }
  void erase(const Key& k, std::uint64_t hash) {
    const std::size_t at = hash % count_;
    if (const int i = sets_[at].find(k); i >= 0) drop(at, i);
  }
  void clear() {
    for (std::size_t at = 0; at < count_; ++at) {
      for (std::size_t i = 0; i < kWays; ++i) {
        if (sets_[at].used & 1u << i) drop(at, i);
      }
    }
  }

 private:
  static constexpr std::size_t kWays = 4;
  // A set's keys apart from the values, so that a look-up reads one or two cache lines, not the four values.
  struct Set {
    std::array<Key, kWays> keys{};
    std::uint8_t used = 0;  // a bit an entry
    std::uint8_t next = 0;  // the entry a full set drops next
    int find(const Key& k) const {
      for (std::size_t i = 0; i < kWays; ++i) {
        if ((used & 1u << i) && keys[i] == k) return int(i);
      }
      return -1;
    }
  };
  void drop(std::size_t at, std::size_t i) {
    sets_[at].used &= ~(1u << i);
    sodium_memzero(&values_[at * kWays + i], sizeof(Value));
  }
  std::size_t count_;
  // Probed at random: huge pages where the kernel gives them (common/large_table.h).
  std::vector<Set, LargeTableAllocator<Set>> sets_;
  std::vector<Value, LargeTableAllocator<Value>> values_;
};


SecretKey nonce_subkey(const SecretKey& data_key) {
  static constexpr std::string_view kNonceLabel = "otinish applicant nonce key v1";
  SecretKey out;
  crypto_generichash(out.data(), SecretKey::kSize, reinterpret_cast<const unsigned char*>(kNonceLabel.data()),
                     kNonceLabel.size(), data_key.data(), SecretKey::kSize);
  return out;
}

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
  std::string path;  // the key log's directory; empty over other records
  KeyStoreOptions options;
  KeyEncryptionKey kek;
  std::string kek_id;
  SecretKey index_key;
  bool siphash_identities = false;  // which function identity_hash() is: set at open from the store's format
  std::unique_ptr<KeyRecords> records;
  const std::string& where() const { return records->where(); }

  std::shared_mutex mu;
  // A cached data key, with its nonce subkey (derived once: a keyed BLAKE2b a seal would otherwise repeat).
  struct CachedKey {
    SecretKey key;
    SecretKey nonce_key;
    // The count of new keys written (`written` below) that covers this one: it is durable once `synced`
    // reaches it. A key read back from the store takes the count at that moment (its id reached the reader
    // only after its key was written and counted: key_for's stripe, or the seal's result).
    std::uint64_t written_at = 0;
  };
  // The identity's keyed hash, the identity index's key (hex in the store's records).
  static constexpr std::size_t kIdentityHashBytes = 16;
  using IdentityHash = std::array<std::uint8_t, kIdentityHashBytes>;
  static std::uint64_t spread(const IdentityHash& h) {  // a keyed hash's bytes are already uniform
    std::uint64_t n;
    std::memcpy(&n, h.data(), sizeof n);
    return n;
  }
  // The applicants seen lately: their data keys by applicant id, and which applicant an identity hash names.
  // Fixed at kCachedSets * 4 entries each (about 10 and 3 MiB, filled as applicants come); an applicant dropped
  // from them is read and unwrapped from the store again when next needed (a read and an AEAD open).
  static constexpr std::size_t kCachedSets = 1 << 15;
  SetCache<std::uint64_t, CachedKey> keys{kCachedSets};         // GUARDED_BY(mu)
  SetCache<IdentityHash, std::uint64_t> identities{kCachedSets};  // GUARDED_BY(mu)
  std::unordered_set<std::string> closed;                       // GUARDED_BY(mu): erasing or erased applicants
  static std::uint64_t spread(std::uint64_t id) { return id; }  // random
  static CachedKey cached(const SecretKey& k) { return {k, nonce_subkey(k), 0}; }

  // The data key of `id` with its nonce subkey: cached, else read and unwrapped (kNotFound: unknown, erasing or
  // erased).
  Result<CachedKey> load(const std::string& id) { return load(id, id_number(id)); }
  Result<CachedKey> load(const std::string& id, std::optional<std::uint64_t> n) {  // n: id_number(id)
    {
      std::shared_lock lock(mu);
      if (!closed.empty() && closed.contains(id)) return Status::NotFound("applicant " + id + " was erased");
      if (n) {
        if (const CachedKey* k = keys.find(*n, spread(*n))) return *k;
      }
    }
    OTINISH_ASSIGN_OR_RETURN(auto wrapped, get(key(kKeyPrefix, id)));
    if (!wrapped) return Status::NotFound("applicant " + id + " has no key in " + where());
    std::string plain;
    OTINISH_RETURN_IF_ERROR(unwrap_material(kek.key, id, wrapped_of(*wrapped), plain, /*pair_allowed=*/true));
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(plain.data());
    CachedKey c = plain.size() == 2 * SecretKey::kSize ? CachedKey{SecretKey(bytes), SecretKey(bytes + SecretKey::kSize), 0}
                                                       : cached(SecretKey(bytes));
    sodium_memzero(plain.data(), plain.size());
    c.written_at = written.load(std::memory_order_acquire);
    std::unique_lock lock(mu);
    if (closed.contains(id)) return Status::NotFound("applicant " + id + " was erased");
    if (n) keys.put(*n, spread(*n), c);
    return c;
  }
  // An applicant whose erasure began, here or (shared records) on another node: its key is never used again.
  void close(const std::string& id) {
    std::unique_lock lock(mu);
    closed.insert(id);
    if (auto n = id_number(id)) keys.erase(*n, spread(*n));  // wiped
  }
  // New applicants of one identity are made under that identity's stripe, so two concurrent first appeals
  // of one person share a key; different people's creations run (and sync) concurrently.
  std::array<std::mutex, 64> stripes;
  // Held by finish_erasure, and by a backup between its copies of the log and of the key store.
  std::mutex erasure_gate;

  // Every write but a new applicant's is durable before it returns (synced unless KeyStoreOptions::sync is
  // off, and then at least in the OS). A new applicant's goes into the key log's buffer (`durable` false: no
  // write of a file on the registration's thread) and is made durable by sync(), usually on the key store's
  // sync thread, one write and one fsync for every applicant made meanwhile.
  Status write(const std::vector<KeyRecords::Op>& ops, bool durable = true) { return records->write(ops, durable); }
  Result<std::optional<std::string>> get(std::string_view k) { return records->get(k); }
  // After a purge: the purge-pending mark goes (a crash before this purges again at the next open).
  Status purged() { return write({{KeyRecords::Op::Kind::kDelete, std::string(kPurgePendingKey), {}}}); }
  Status scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& visit) {
    return records->scan(prefix, visit);
  }

  // New applicants written, and how many of them an fsync covered: sync() has work only while they differ.
  // `written` grows once a new applicant's records are written (records durable on write need no sync) and
  // before anyone can be handed its key (key_for holds the identity's stripe until then), so whoever seals
  // with a key and then calls sync() is covered. Keys made ahead (below) are durable before they are handed
  // out, and are not counted.
  std::atomic<std::uint64_t> written{0};
  std::atomic<std::uint64_t> synced{0};
  // The identities linked to keys made ahead, and how many of those links an fsync covered: no caller waits
  // for them (see the reserve), the sync thread makes them durable within KeyStoreOptions::link_sync_within.
  std::atomic<std::uint64_t> links_written{0};
  std::atomic<std::uint64_t> links_synced{0};
  std::mutex sync_mu;  // one fsync at a time; the callers queued behind it are usually covered by it

  // Makes the new applicants written so far durable, with `links` the links to keys made ahead as well, and
  // with `everything` whatever was written (a batch of keys made ahead).
  Status sync(bool links = false, bool everything = false) {
    const std::uint64_t target = written.load(std::memory_order_acquire);
    const std::uint64_t links_target = links ? links_written.load(std::memory_order_acquire) : 0;
    auto covered_already = [&] {
      return !everything && synced.load(std::memory_order_acquire) >= target &&
             links_synced.load(std::memory_order_acquire) >= links_target;
    };
    if (covered_already()) return Status::Ok();
    std::lock_guard lock(sync_mu);
    if (covered_already()) return Status::Ok();
    const std::uint64_t covered = written.load(std::memory_order_acquire);
    const std::uint64_t links_covered = links_written.load(std::memory_order_acquire);
    // Covers each write counted in `covered`: each was in the records' buffer before it was counted.
    OTINISH_RETURN_IF_ERROR(records->sync());
    synced.store(covered, std::memory_order_release);
    links_synced.store(links_covered, std::memory_order_release);
    return Status::Ok();
  }

  // The reserve: keys made ahead, over a key log of this process's own (not over shared records, whose
  // writes are durable as they return). A new applicant's key must be durable before the appeal that names it
  // is appended; made at registration, that cost an fsync of the key log for every few new applicants and the
  // registration's wait for it, four fifths of sealing a new applicant under load. So the sync thread makes
  // keys ahead, a batch at a time, written and synced together with a batch record (v/<first id> -> the log's
  // position then, and the batch's ids), and a new applicant takes the next key: what it writes then, its
  // identity's link to the key (i/ and r/), waits in the buffer for the sync thread (within link_sync_within, or
  // with the next batch). The batch record is deleted once every key of it is linked (after the links in the
  // buffer, so it never reaches the disk before them), and at a clean close with the keys nobody took.
  // A process killed meanwhile may lose links of applicants whose appeals the log holds: the next open finds the
  // batch records' keys that have no r/ (unlinked()), never hands them out again (only a batch this process
  // made is), and restore_identity_links() (engine/privacy/sealer.h) links them again from the log.
  struct Reserved {
    std::uint64_t number;  // the applicant id's
    CachedKey key;
    std::uint64_t batch;
  };
  struct Batch {
    std::string record;  // its v/ key
    std::size_t size = 0, linked = 0;
  };
  // A process that registers a few applicants makes few keys: batches double from kFirstBatch up to
  // KeyStoreOptions::keys_ahead.
  static constexpr std::size_t kFirstBatch = 64;
  std::mutex reserve_mu;
  // The keys not taken yet are reserve[reserve_head..]: a vector taken from the front, its room reused by the
  // next batch. (A deque freed a block on the registration's thread every few keys, blocks the sync thread
  // had allocated: the allocator's slow path on both threads, a tenth of a new applicant's sealing.)
  std::vector<Reserved> reserve;            // GUARDED_BY(reserve_mu)
  std::size_t reserve_head = 0;             // GUARDED_BY(reserve_mu)
  std::size_t reserve_left() const { return reserve.size() - reserve_head; }  // REQUIRES(reserve_mu)
  // Drops every key not taken, wiped (the taken ones were wiped as they were taken).
  void drop_reserve() {  // REQUIRES(reserve_mu)
    for (std::size_t i = reserve_head; i < reserve.size(); ++i) sodium_memzero(&reserve[i].key, sizeof(CachedKey));
    reserve.clear();
    reserve_head = 0;
  }
  std::map<std::uint64_t, Batch> batches;   // GUARDED_BY(reserve_mu): this process's, with a record in the store
  std::uint64_t batches_made = 0;           // GUARDED_BY(reserve_mu)
  std::size_t next_batch = 0;               // GUARDED_BY(reserve_mu) (set at open)
  bool refill_asked = false;                // GUARDED_BY(reserve_mu)
  // The process the reserve was made in (fork_generation): a forked child's copy of it is its parent's, whose
  // keys the parent hands out too, so the child drops it and makes its keys as they come.
  std::uint64_t reserve_generation = 0;     // GUARDED_BY(reserve_mu)
  bool uses_reserve() const {
    return options.keys_ahead > 0 && !records->shared() && !records->durable_on_write();
  }

  // What an earlier process that stopped without closing left unlinked (KeyStore::unlinked), and the batch
  // records that name them.
  std::vector<UnlinkedKey> left_unlinked;           // GUARDED_BY(mu)
  std::unordered_set<std::string> left_to_link;     // GUARDED_BY(mu): of them, the ones relink() may still link
  std::vector<std::string> left_batches;            // GUARDED_BY(mu)
  // Held by relink() and by begin_erasure(): an erasure that read no link while relink() was writing one would
  // leave the identity linked to the erased applicant.
  std::mutex relink_gate;

  // Applicant ids are 64 random bits: two people given one would share a key record, the second replacing the
  // first's (whose appeals would no longer open). So a new key is created only where no key is (kCreate), and
  // an id drawn again that is being or was erased (no key record left, but its erasure marks) is never used.
  // Over shared records (JetStream) a key is still a plain put: there its create could not be told from the
  // identity's (see create()).
  // True when any of `ids` (numbers) is an erasing or erased applicant's: one lock for all of them.
  bool any_closed(std::span<const std::uint64_t> ids) {
    std::shared_lock lock(mu);
    if (closed.empty()) return false;
    return std::any_of(ids.begin(), ids.end(), [&](std::uint64_t n) { return closed.contains(id_text(n)); });
  }

  // The next key made ahead, if any, asking the sync thread for more as the reserve runs low.
  std::optional<Reserved> take_reserved() {
    std::optional<Reserved> out;
    bool ask = false;
    {
      std::lock_guard lock(reserve_mu);
      if (reserve_left() > 0 && reserve_generation != fork_generation()) {
        drop_reserve();
        batches.clear();
        return out;
      }
      if (reserve_left() > 0) {
        Reserved& next = reserve[reserve_head++];
        out.emplace(next);
        sodium_memzero(&next.key, sizeof(CachedKey));
      }
      if (reserve_left() * 2 < next_batch && !refill_asked) ask = refill_asked = true;
    }
    if (ask) {
      {
        std::lock_guard lock(async_mu);
        if (stopping) return out;
        start_syncer_locked();
        refill_wanted = true;
      }
      async_cv.notify_one();
    }
    return out;
  }

  // Counts a key taken from batch `b` as linked (or abandoned: its link could not be written, and nothing
  // names it); the batch's record goes once all are.
  void linked(std::uint64_t b) {
    std::string done;
    {
      std::lock_guard lock(reserve_mu);
      auto it = batches.find(b);
      if (it == batches.end() || ++it->second.linked < it->second.size) return;
      done = it->second.record;
    }
    // After the links in the buffer. Should it fail, the record stays and a clean close deletes it.
    if (write({{KeyRecords::Op::Kind::kDelete, done, {}}}, /*durable=*/false).ok()) {
      std::lock_guard lock(reserve_mu);
      batches.erase(b);
    }
  }

  // Makes a batch of keys ahead: written and synced (with whatever else waits in the buffer) before any of
  // them joins the reserve.
  Status refill() {
    using Op = KeyRecords::Op;
    std::size_t n;
    std::uint64_t b;
    {
      std::lock_guard lock(reserve_mu);
      n = next_batch;
      b = batches_made++;
    }
    std::vector<Reserved> made;
    made.reserve(n);
    // The batch's ops, kept by the thread from one batch to the next: their strings keep their room, so that a
    // key made costs no allocation (five a key had been, and their frees a tenth of the key store's thread).
    // Nothing secret stays in them: a value is a wrapped key.
    thread_local std::vector<Op> ops;
    // The ids drawn in this batch (an open-addressing set of numbers, 0 kept apart), to draw a repeat anew.
    thread_local std::vector<std::uint64_t> drawn;
    Status st;
    // Twice more at most: a batch whose key meets a key already in the store (kCreate) is drawn anew.
    for (int attempt = 0; attempt < 3; ++attempt) {
      made.clear();
      std::size_t used = 0;
      auto next_op = [&]() -> Op& {
        if (used == ops.size()) ops.emplace_back();
        return ops[used++];
      };
      std::string record = std::to_string(options.log_position ? options.log_position() : 0);
      record.reserve(record.size() + n * 20);
      std::size_t slots = 16;
      while (slots < 2 * n) slots *= 2;
      drawn.assign(slots, 0);
      bool drew_zero = false;
      auto first_draw = [&](std::uint64_t x) {
        if (x == 0) return !std::exchange(drew_zero, true);
        for (std::size_t i = (x ^ x >> 29) & (slots - 1);; i = (i + 1) & (slots - 1)) {
          if (drawn[i] == x) return false;
          if (drawn[i] == 0) {
            drawn[i] = x;
            return true;
          }
        }
      };
      // The wraps' nonces: a random prefix for the batch (from the OS: one system call a batch), then the key's
      // place in it.
      std::array<std::uint8_t, AeadBatchSealer::kPrefixBytes> prefix;
      randombytes_buf(prefix.data(), prefix.size());
      const AeadBatchSealer wrapper(kek.key, prefix);
      bool drew_all = true;
      for (std::size_t draws = 0; made.size() < n; ++draws) {
        if (draws > 4 * n + 64) {
          drew_all = false;
          break;
        }
        const NewApplicantRandom random(/*wrap_nonce=*/false);
        if (!first_draw(random.number())) continue;
        const IdChars id_chars = random.id_chars();
        const std::string_view id(id_chars.data(), id_chars.size());
        Op& op = next_op();
        op.kind = Op::Kind::kCreate;
        op.key.assign(kKeyPrefix).append(id);
        op.value.clear();
        wrap_into(op.value, wrapper, made.size(), id, random.material());
        op.value += kNoIdentityHash;
        record += ' ';
        record += id;
        made.push_back({random.number(), {random.key(), random.nonce_key(), 0}, b});
      }
      if (!drew_all) {
        // Not returned from here: the refill must still be marked done and the keys drawn wiped (below).
        st = Status::Internal(where() + ": could not draw unused applicant ids");
        break;
      }
      // An erased applicant's id drawn again (one lock for the batch, not one a key): the batch is drawn anew.
      std::vector<std::uint64_t> ids(made.size());
      std::transform(made.begin(), made.end(), ids.begin(), [](const Reserved& r) { return r.number; });
      if (any_closed(ids)) {
        st = Status::AlreadyExists("an erased applicant's id drawn");
        continue;
      }
      Op& batch = next_op();
      batch.kind = Op::Kind::kPut;
      batch.key = key(kBatchPrefix, id_text(made.front().number));
      batch.value = std::move(record);
      ops.resize(used);  // the batch's ops exactly (nothing dropped once batches keep one size)
      st = write(ops, /*durable=*/false);  // atomic (the reserve is a key log's only): all of it or nothing
      if (st.code() != StatusCode::kAlreadyExists) break;
    }
    if (st.ok()) st = sync(/*links=*/true, /*everything=*/true);
    std::lock_guard lock(reserve_mu);
    refill_asked = false;
    if (st.ok()) {
      reserve_generation = fork_generation();
      batches.emplace(b, Batch{ops.back().key, n, 0});  // the batch record, written last
      reserve.erase(reserve.begin(), reserve.begin() + static_cast<std::ptrdiff_t>(reserve_head));  // wiped as taken
      reserve_head = 0;
      reserve.insert(reserve.end(), made.begin(), made.end());
      next_batch = std::min(options.keys_ahead, 2 * n);
    }
    for (Reserved& r : made) sodium_memzero(&r.key, sizeof(CachedKey));
    return st;
  }

  // At a clean close: the keys nobody took and the batch records go (after the links, all synced), so that
  // the next open finds nothing unlinked.
  void release_reserve() {
    using Op = KeyRecords::Op;
    std::vector<Op> ops;
    {
      std::lock_guard lock(reserve_mu);
      for (std::size_t i = reserve_head; i < reserve.size(); ++i) {
        ops.push_back({Op::Kind::kDelete, key(kKeyPrefix, id_text(reserve[i].number)), {}});
      }
      drop_reserve();
      for (const auto& [b, batch] : batches) ops.push_back({Op::Kind::kDelete, batch.record, {}});
      batches.clear();
    }
    if (!ops.empty()) write(ops, /*durable=*/false).IgnoreError();
    sync(/*links=*/true, /*everything=*/!ops.empty()).IgnoreError();
  }

  // sync_async's callers, and the reserve, served by one thread started on first need: each round takes every
  // waiting caller, makes a batch of keys if the reserve asked, runs one sync() for all of them (the batch's
  // covers them), answers them; woken by a link written to a key made ahead, it lets others join it for up to
  // KeyStoreOptions::link_sync_within, then syncs them all.
  std::mutex async_mu;
  std::condition_variable async_cv;
  std::vector<std::function<void(Status)>> waiting;  // GUARDED_BY(async_mu)
  bool refill_wanted = false;                         // GUARDED_BY(async_mu)
  bool links_wanted = false;                          // GUARDED_BY(async_mu)
  std::atomic<bool> links_flagged{false};             // a link waits for the sync thread, which was told
  bool stopping = false;                              // GUARDED_BY(async_mu)
  std::thread syncer;                                 // GUARDED_BY(async_mu) (started once)

  void start_syncer_locked() {  // REQUIRES: async_mu
    if (syncer.joinable()) return;
    syncer = std::thread([this] {
      name_this_thread("otinish-keys");  // as `top -H` and the benchmarks see it
      sync_loop();
    });
  }

  void sync_loop() {
    std::unique_lock lock(async_mu);
    for (;;) {
      auto busy = [&] { return stopping || refill_wanted || !waiting.empty(); };
      async_cv.wait(lock, [&] { return busy() || links_wanted; });
      // Only links: others may join them until a batch, a waiter or the deadline comes.
      if (!busy()) async_cv.wait_for(lock, options.link_sync_within, busy);
      if (stopping && waiting.empty()) return;  // everyone answered (the close syncs the links)
      std::vector<std::function<void(Status)>> round = std::move(waiting);
      waiting.clear();
      const bool make_batch = refill_wanted && !stopping;
      refill_wanted = links_wanted = false;
      // Before the sync counts the links: one written after this flags itself again.
      links_flagged.store(false, std::memory_order_release);
      lock.unlock();
      // A batch that cannot be written (a full disk) leaves new applicants to make their keys as they come.
      if (make_batch) refill().IgnoreError();
      const Status s = sync(/*links=*/true);
      for (auto& done : round) done(s);
      lock.lock();
    }
  }

  // Counts a link to a key made ahead written, and tells the sync thread of the first since its last round.
  void link_written() {
    links_written.fetch_add(1, std::memory_order_acq_rel);
    if (links_flagged.exchange(true, std::memory_order_acq_rel)) return;
    {
      std::lock_guard lock(async_mu);
      if (stopping) return;  // the close syncs it
      start_syncer_locked();
      links_wanted = true;
    }
    async_cv.notify_one();
  }

  ~Impl() {
    {
      std::lock_guard lock(async_mu);
      stopping = true;
    }
    async_cv.notify_all();
    if (syncer.joinable()) syncer.join();  // before the records close: it answers who still waits
    if (records && uses_reserve()) release_reserve();
    records.reset();                       // stops the records' watchers before the caches they update go
  }

  // The identity's keyed hash: in a store of format 4, SipHash-2-4-128 keyed with the first 16 bytes of the
  // identity-hashing key (a PRF made for short inputs: 0.02 us for a phone number); in one made before (formats
  // 1 to 3, and the shared store, which older nodes read too), BLAKE2b-128 keyed with the whole key, 0.44 us,
  // a tenth of sealing a new applicant. Either way nobody without the KEK can tell whose hash it is.
  IdentityHash identity_hash(std::string_view identity) const {
    static_assert(crypto_shorthash_siphashx24_BYTES == kIdentityHashBytes &&
                  crypto_shorthash_siphashx24_KEYBYTES <= SecretKey::kSize);
    IdentityHash out{};
    const auto* in = reinterpret_cast<const unsigned char*>(identity.data());
    if (siphash_identities) {
      crypto_shorthash_siphashx24(out.data(), in, identity.size(), index_key.data());
    } else {
      crypto_generichash(out.data(), out.size(), in, identity.size(), index_key.data(), SecretKey::kSize);
    }
    return out;
  }

  // A new applicant for `hash` with a key made ahead: only its links are written, to wait in the buffer (the key
  // is durable already, and a lost link is restored from the log: see the reserve).
  Result<ApplicantKey> link(const IdentityHash& identity, std::string_view hash, Reserved& r) {
    keys.prefetch(spread(r.number));  // put below, after the write: its miss overlaps with the write's
    const std::string id = id_text(r.number);
    const Status st = write(link_ops(hash, id), /*durable=*/false);
    if (st.ok()) link_written();
    linked(r.batch);
    ApplicantKey out{id, r.key.key, r.key.nonce_key, true};
    const CachedKey made = r.key;
    sodium_memzero(&r.key, sizeof(CachedKey));
    OTINISH_RETURN_IF_ERROR(st);
    std::unique_lock lock(mu);
    keys.put(r.number, spread(r.number), made);
    identities.put(identity, spread(identity), r.number);
    return out;
  }
  // An identity's link to a key made ahead: the index's record, and the reverse one erasure reads (the key's own
  // record, written before the identity was known, holds kNoIdentityHash).
  // The ops are the calling thread's scratch, valid until its next call: once their strings have room, a link
  // allocates nothing (building them afresh was five allocations, a twentieth of a new applicant's sealing).
  static const std::vector<KeyRecords::Op>& link_ops(std::string_view hash, std::string_view id) {
    using Op = KeyRecords::Op;
    thread_local std::vector<Op> ops{{Op::Kind::kPut, {}, {}}, {Op::Kind::kPut, {}, {}}};
    ops[0].key.assign(kIdentityPrefix).append(hash);
    ops[0].value.assign(id);
    ops[1].key.assign(kReversePrefix).append(id);
    ops[1].value.assign(hash);
    return ops;
  }

  // A new applicant for `hash`. The key goes first: over JetStream's one-by-one writes, a stop after it leaves
  // an unused key and nothing that names it. The identity then points to it, created only if no other node
  // (shared records) made this person meanwhile (kAlreadyExists: look again), or replacing an erased
  // applicant (`replace`).
  Result<ApplicantKey> create(const IdentityHash& identity, std::string_view hash, bool replace) {
    if (uses_reserve()) {
      if (std::optional<Reserved> r = take_reserved()) return link(identity, hash, *r);
    }
    // An id drawn that is taken (see any_closed and the key's kCreate below) is drawn again; never more than a
    // few times but by a broken random source. The bound only ends an endless loop: a source that repeats whole
    // pools of random bytes (42 draws each) may repeat two or three in a row, and must still get through.
    for (int attempt = 0; attempt < 256; ++attempt) {
      OTINISH_ASSIGN_OR_RETURN(std::optional<ApplicantKey> made, create_once(identity, hash, replace));
      if (made) return std::move(*made);
    }
    return Status::Internal(where() + ": could not draw an unused applicant id");
  }
  // create()'s one try: nothing when the id drawn is taken (nothing written then).
  Result<std::optional<ApplicantKey>> create_once(const IdentityHash& identity, std::string_view hash, bool replace) {
    using Op = KeyRecords::Op;
    const NewApplicantRandom random;
    const std::uint64_t drawn[] = {random.number()};
    if (!records->shared() && any_closed(drawn)) return std::optional<ApplicantKey>();
    // Over records only this process writes, the identity's stripe (held by key_for, which just read the
    // identity absent) already makes this the only creator: a plain put, without create's read.
    const bool create_if_absent = !replace && records->shared();
    // Shared records keep format 1's layout (the hash in an r/ record, the data key alone): nodes of an older
    // build may be running on the same bucket, and would neither open a longer k/ value nor find the identity
    // to unlink on erasure.
    const bool format1 = records->shared();
    // The nonce key is drawn with the data key and wrapped with it (one AEAD either way: the pair is one
    // ChaCha20 block), not derived from it: a derivation is a keyed BLAKE2b, a tenth of a new applicant's cost.
    // Shared records hold the data key alone, and derive the nonce key as the older nodes do.
    CachedKey made = format1 ? cached(random.key()) : CachedKey{random.key(), random.nonce_key(), 0};
    ApplicantKey out{random.applicant_id(), made.key, made.nonce_key, true};
    std::string wrapped;
    wrapped.reserve(kWrappedPairBytes + hash.size());
    wrap_into(wrapped, kek.key, out.applicant_id,
              format1 ? random.material().substr(0, SecretKey::kSize) : random.material(), random.nonce());
    if (!format1) wrapped += hash;
    std::vector<Op> ops;
    ops.reserve(3);
    ops.push_back({records->shared() ? Op::Kind::kPut : Op::Kind::kCreate, key(kKeyPrefix, out.applicant_id),
                   std::move(wrapped)});
    ops.push_back({create_if_absent ? Op::Kind::kCreate : Op::Kind::kPut, key(kIdentityPrefix, hash), out.applicant_id});
    if (format1) ops.push_back({Op::Kind::kPut, key(kReversePrefix, out.applicant_id), std::string(hash)});
    // Not durable yet (a key log's buffer): sync() makes it so before anything names the key.
    Status st = write(ops, /*durable=*/false);
    if (st.code() == StatusCode::kAlreadyExists && !records->shared()) {
      // Only the key is created here (a key log's write is atomic: nothing was written): its id is taken.
      return std::optional<ApplicantKey>();
    }
    if (st.code() == StatusCode::kAlreadyExists) {
      // Another node made this person first: drop the unused key.
      write({{Op::Kind::kDelete, key(kKeyPrefix, out.applicant_id), {}}}).IgnoreError();
      return st;
    }
    OTINISH_RETURN_IF_ERROR(st);
    // Counted once written: a sync() that counts it covers it.
    if (!records->durable_on_write()) made.written_at = written.fetch_add(1, std::memory_order_acq_rel) + 1;
    const std::uint64_t n = random.number();
    std::unique_lock lock(mu);
    keys.put(n, spread(n), made);
    identities.put(identity, spread(identity), n);
    return std::optional<ApplicantKey>(std::move(out));
  }

  // A new store: the KEK's verifier, the identity-hashing key and the format marker, each created only if
  // missing (another node may be creating the same shared store; a stop between them is finished by the next
  // open). Then checks the KEK and reads the identity-hashing key.
  Status initialise() {
    using Op = KeyRecords::Op;
    OTINISH_ASSIGN_OR_RETURN(auto format, get(kFormatKey));
    if (format && *format != kFormat && *format != kFormat3 && *format != kFormat2 && *format != kFormat1) {
      return unknown_format(*format);
    }
    if (!format) {
      for (auto [name, make] : {std::pair<std::string_view, int>{kVerifierKey, 0}, {kIndexKeyKey, 1}}) {
        OTINISH_ASSIGN_OR_RETURN(auto have, get(name));
        if (have) continue;
        const std::string value = make == 0 ? kek_id + wrap(kek.key, kVerifierName, kVerifierText)
                                            : wrap_key(kek.key, kIndexKeyName, SecretKey::random());
        Status st = write({{Op::Kind::kCreate, std::string(name), value}});
        if (!st.ok() && st.code() != StatusCode::kAlreadyExists) return st;
      }
    }
    OTINISH_ASSIGN_OR_RETURN(auto verifier, get(kVerifierKey));
    if (!verifier || verifier->size() < 16) return Status::Corruption(where() + ": the key store's KEK record is missing");
    const std::string stored_id = verifier->substr(0, 16);
    if (stored_id != kek_id) {
      return Status::FailedPrecondition("the key-encryption key from " + kek.source + " (key id " + kek_id +
                                        ") is not the one " + where() + " was written with (key id " + stored_id +
                                        "); give that key, or the new one if it was rotated");
    }
    std::string text;
    if (!unwrap(kek.key, kVerifierName, std::string_view(*verifier).substr(16), text) || text != kVerifierText) {
      return Status::Corruption(where() + ": the key store's KEK record does not open with key id " + kek_id +
                                " (damaged or altered)");
    }
    OTINISH_ASSIGN_OR_RETURN(auto wrapped, get(kIndexKeyKey));
    if (!wrapped) return Status::Corruption(where() + ": the key store's identity-hashing key is missing");
    OTINISH_ASSIGN_OR_RETURN(index_key, unwrap_key(kek.key, kIndexKeyName, *wrapped));
    // A new store is format 4 (shared records: format 1, see create()); format 1 or 2 is read from now on as 3
    // (its records stay readable; an older otinish refuses it), and keeps hashing identities with BLAKE2b.
    const std::string_view mine = records->shared() ? kFormat1 : !format || *format == kFormat ? kFormat : kFormat3;
    siphash_identities = mine == kFormat;
    if (!format || (*format != mine && !records->shared())) {
      OTINISH_RETURN_IF_ERROR(write({{Op::Kind::kPut, std::string(kFormatKey), std::string(mine)}}));
    }
    // Erasing and erased applicants: read now, and (shared records) followed as other nodes erase. With the
    // batch records of keys made ahead, in one pass over a key log.
    std::vector<std::pair<std::string, std::string>> batches_left;
    if (records->shared()) {
      for (std::string_view prefix : {kErasingPrefix, kErasedPrefix}) {
        OTINISH_RETURN_IF_ERROR(records->watch(prefix, [this, prefix](std::string_view k, std::string_view) {
          close(std::string(without(k, prefix)));
        }));
      }
      OTINISH_RETURN_IF_ERROR(scan(kBatchPrefix, [&](std::string_view k, std::string_view v) { batches_left.emplace_back(k, v); }));
    } else {
      std::vector<std::string> closing;
      const std::string_view prefixes[] = {kErasingPrefix, kErasedPrefix, kBatchPrefix};
      OTINISH_RETURN_IF_ERROR(records->scan_unordered(prefixes, [&](std::string_view k, std::string_view v) {
        if (k.starts_with(kBatchPrefix)) {
          batches_left.emplace_back(k, v);
        } else {
          closing.emplace_back(without(k, k.starts_with(kErasingPrefix) ? kErasingPrefix : kErasedPrefix));
        }
      }));
      for (const std::string& id : closing) close(id);  // after the scan: not under the records' lock
      std::sort(batches_left.begin(), batches_left.end());
    }
    return find_unlinked(batches_left);
  }

  // The batch records an earlier process left (it stopped without closing), and the keys of them no identity
  // links to: see the reserve. A key erased since, or linked, is not unlinked.
  Status find_unlinked(const std::vector<std::pair<std::string, std::string>>& found) {
    for (const auto& [record, value] : found) {
      left_batches.push_back(record);
      std::string_view rest = value;
      const std::size_t space = rest.find(' ');
      std::uint64_t position = 0;
      const std::string_view digits = rest.substr(0, space);
      if (std::from_chars(digits.data(), digits.data() + digits.size(), position).ptr != digits.data() + digits.size()) {
        return Status::Corruption(where() + ": the record " + record + " of keys made ahead is malformed");
      }
      rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
      while (!rest.empty()) {
        const std::size_t end = std::min(rest.find(' '), rest.size());
        const std::string id(rest.substr(0, end));
        rest.remove_prefix(std::min(end + 1, rest.size()));
        if (closed.contains(id)) continue;
        OTINISH_ASSIGN_OR_RETURN(auto wrapped, get(key(kKeyPrefix, id)));
        OTINISH_ASSIGN_OR_RETURN(auto reverse, get(key(kReversePrefix, id)));
        if (wrapped && !reverse) {
          left_unlinked.push_back({id, position});
          left_to_link.insert(id);
        }
      }
    }
    return Status::Ok();
  }

  Status unknown_format(const std::string& format) const {
    // A later format is a newer otinish's: say so, as the log does (data is never downgraded).
    // (from_chars, not stoull: a marker of more digits than fit must be refused, not throw.)
    constexpr std::string_view kFamily = "otinish-keys-";
    std::uint64_t n = 0;
    const char* digits = format.data() + kFamily.size();
    const char* end = format.data() + format.size();
    if (format.starts_with(kFamily) && std::from_chars(digits, end, n).ptr == end && digits != end && n > 1) {
      return Status::InvalidArgument(where() + " holds key store format '" + format + "', written by a newer "
                                     "otinish; this build reads otinish-keys-4, 3, 2 and 1. Run the newer otinish; data is "
                                     "never downgraded");
    }
    return Status::InvalidArgument(where() + " holds key store format '" + format + "', which this build does not read");
  }
};

KeyStore::KeyStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KeyStore::~KeyStore() = default;

const std::string& KeyStore::path() const noexcept { return impl_->path; }
const std::string& KeyStore::where() const noexcept { return impl_->where(); }
std::string KeyStore::kek_id() const { return impl_->kek_id; }
bool KeyStore::shared() const noexcept { return impl_->records->shared(); }

Result<std::unique_ptr<KeyStore>> KeyStore::open(const std::string& path, const KeyEncryptionKey& kek,
                                                 const KeyStoreOptions& options) {
  OTINISH_ASSIGN_OR_RETURN(auto records, open_key_log(path, options));
  auto store = open(std::move(records), kek, options);
  if (store.ok()) (*store)->impl_->path = path;
  return store;
}

bool KeyStore::exists(const std::string& path) { return key_store_exists(path); }

Result<std::unique_ptr<KeyStore>> KeyStore::open(std::unique_ptr<KeyRecords> records, const KeyEncryptionKey& kek,
                                                 const KeyStoreOptions& options) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->next_batch = std::min(Impl::kFirstBatch, options.keys_ahead);
  impl->kek = kek;
  impl->kek_id = kek.id();
  impl->records = std::move(records);
  OTINISH_RETURN_IF_ERROR(impl->initialise());
  auto store = std::unique_ptr<KeyStore>(new KeyStore(std::move(impl)));
  OTINISH_ASSIGN_OR_RETURN(auto pending_purge, store->impl_->get(kPurgePendingKey));
  if (pending_purge) OTINISH_RETURN_IF_ERROR(store->purge());
  return store;
}

Result<ApplicantKey> KeyStore::key_for(std::string_view identity) {
  Impl& m = *impl_;
  const Impl::IdentityHash hash = m.identity_hash(identity);
  // The identity's record key, "i/" and the hash in hex: spelt only when the cache does not answer.
  std::array<char, kIdentityPrefix.size() + kIdentityHexBytes> record;
  bool spelt = false;
  auto record_key = [&]() -> std::string_view {
    if (!spelt) {
      std::copy(kIdentityPrefix.begin(), kIdentityPrefix.end(), record.begin());
      to_hex(hash, record.data() + kIdentityPrefix.size());
      spelt = true;
    }
    return {record.data(), record.size()};
  };
  auto hex = [&] { return record_key().substr(kIdentityPrefix.size()); };
  // The identity's line in the cache and in the records' index, both at once: for a new applicant both are
  // read (a miss each, one after the other without this).
  m.identities.prefetch(Impl::spread(hash));
  if (!m.records->shared()) m.records->prefetch(record_key());
  std::lock_guard stripe(m.stripes[Impl::spread(hash) % m.stripes.size()]);
  // Twice at most: over shared records another node may make this person between the read and the create.
  for (int attempt = 0;; ++attempt) {
    std::optional<std::string> applicant;
    std::optional<std::uint64_t> number;
    if (attempt == 0) {
      std::shared_lock lock(m.mu);
      if (const std::uint64_t* n = m.identities.find(hash, Impl::spread(hash))) number = *n;
    }
    if (number) {
      applicant = id_text(*number);
    } else {
      OTINISH_ASSIGN_OR_RETURN(applicant, m.get(record_key()));
      if (applicant) {
        number = id_number(*applicant);
        std::unique_lock lock(m.mu);
        if (number) m.identities.put(hash, Impl::spread(hash), *number);
      }
    }
    bool replace = false;
    if (applicant) {
      auto k = m.load(*applicant, number);
      if (k.ok()) return ApplicantKey{*applicant, k->key, k->nonce_key, false};
      if (k.status().code() != StatusCode::kNotFound) return k.status();
      replace = true;  // erased meanwhile: the person starts afresh
    }
    auto made = m.create(hash, hex(), replace);
    if (made.ok() || made.status().code() != StatusCode::kAlreadyExists || attempt > 0) return made;
  }
}

Status KeyStore::sync() { return impl_->sync(); }

void KeyStore::sync_async(std::function<void(Status)> done) {
  Impl& m = *impl_;
  if (m.synced.load(std::memory_order_acquire) >= m.written.load(std::memory_order_acquire)) return done(Status::Ok());
  // Without fsyncs, sync() only hands the WAL's buffer to the OS: not worth a thread's round trip.
  if (!m.options.sync) return done(m.sync());
  {
    std::lock_guard lock(m.async_mu);
    m.start_syncer_locked();
    m.waiting.push_back(std::move(done));
  }
  m.async_cv.notify_one();
}

void KeyStore::sync_async(std::string_view applicant_id, std::function<void(Status)> done) {
  Impl& m = *impl_;
  std::uint64_t needed = m.written.load(std::memory_order_acquire);  // unknown key: every key written so far
  if (const std::optional<std::uint64_t> n = id_number(applicant_id)) {
    std::shared_lock lock(m.mu);
    if (const Impl::CachedKey* k = m.keys.find(*n, Impl::spread(*n))) needed = k->written_at;
  }
  if (m.synced.load(std::memory_order_acquire) >= needed) return done(Status::Ok());
  sync_async(std::move(done));
}

Result<SecretKey> KeyStore::data_key(std::string_view applicant_id) {
  OTINISH_ASSIGN_OR_RETURN(Impl::CachedKey k, impl_->load(std::string(applicant_id)));
  return k.key;
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
  return impl_->get(key(kIdentityPrefix, to_hex(impl_->identity_hash(identity))));
}

Status KeyStore::make_keys_ahead() {
  Impl& m = *impl_;
  if (!m.uses_reserve()) return Status::Ok();
  {
    std::lock_guard lock(m.reserve_mu);
    if (m.reserve_left() >= m.next_batch / 2 && m.reserve_left() > 0) return Status::Ok();
    m.refill_asked = true;  // the sync thread need not make one too
  }
  return m.refill();
}

std::vector<UnlinkedKey> KeyStore::unlinked() {
  std::shared_lock lock(impl_->mu);
  return impl_->left_unlinked;
}

Result<bool> KeyStore::relink(std::string_view identity, std::string_view applicant_id) {
  Impl& m = *impl_;
  const std::optional<std::uint64_t> number = id_number(applicant_id);
  if (!number) return Status::InvalidArgument("'" + std::string(applicant_id) + "' is not an applicant id");
  const Impl::IdentityHash hash = m.identity_hash(identity);
  const std::string hex = to_hex(hash);
  std::lock_guard gate(m.relink_gate);
  std::lock_guard stripe(m.stripes[Impl::spread(hash) % m.stripes.size()]);
  {
    std::shared_lock lock(m.mu);
    if (!m.left_to_link.contains(std::string(applicant_id))) return false;  // not left unlinked, or linked since
  }
  OTINISH_ASSIGN_OR_RETURN(auto owner, m.get(key(kIdentityPrefix, hex)));
  // The person may have come back after the stop and been given a new key before the log was read: theirs
  // stays (the earlier appeals still open with the key their event names).
  if (owner && state(*owner) == ApplicantKeyState::kActive) return false;
  if (state(applicant_id) != ApplicantKeyState::kActive) return false;
  OTINISH_RETURN_IF_ERROR(m.write(Impl::link_ops(hex, applicant_id), /*durable=*/false));
  m.link_written();
  std::unique_lock lock(m.mu);
  m.left_to_link.erase(std::string(applicant_id));
  m.identities.put(hash, Impl::spread(hash), *number);
  return true;
}

Status KeyStore::settle_unlinked() {
  using Op = KeyRecords::Op;
  Impl& m = *impl_;
  std::vector<Op> ops;
  {
    std::shared_lock lock(m.mu);
    for (const std::string& record : m.left_batches) ops.push_back({Op::Kind::kDelete, record, {}});
  }
  // Durable, and after the links relink() wrote: none is lost with the records that led to it.
  OTINISH_RETURN_IF_ERROR(ops.empty() ? m.sync(/*links=*/true) : m.write(ops));
  std::unique_lock lock(m.mu);
  m.left_batches.clear();
  m.left_unlinked.clear();
  m.left_to_link.clear();
  return Status::Ok();
}

// The erasing marks go before the identities are dropped: a stop in between leaves applicants that are
// closed (never handed out) and still findable by identity, which key_for then replaces by a new applicant.
Status KeyStore::begin_erasure(std::span<const std::string> applicant_ids, std::string_view request) {
  using Op = KeyRecords::Op;
  Impl& m = *impl_;
  std::lock_guard gate(m.relink_gate);
  std::vector<Op> marks, unlinks;
  std::vector<std::string> hashes;
  for (const std::string& id : applicant_ids) {
    const ApplicantKeyState s = state(id);
    if (s == ApplicantKeyState::kUnknown) return Status::NotFound("no applicant " + id + " in " + m.where());
    if (s == ApplicantKeyState::kErased) continue;
    marks.push_back({Op::Kind::kPut, key(kErasingPrefix, id), std::string(request)});
    OTINISH_ASSIGN_OR_RETURN(auto wrapped, m.get(key(kKeyPrefix, id)));
    std::optional<std::string> hash;
    if (wrapped && !identity_hash_of(*wrapped).empty()) {
      hash = std::string(identity_hash_of(*wrapped));
    } else {
      OTINISH_ASSIGN_OR_RETURN(hash, m.get(key(kReversePrefix, id)));  // format 1
    }
    // The identity may already belong to a newer applicant (the person came back after this erasure began).
    if (hash) {
      OTINISH_ASSIGN_OR_RETURN(auto owner, m.get(key(kIdentityPrefix, *hash)));
      if (owner && *owner == id) {
        unlinks.push_back({Op::Kind::kDelete, key(kIdentityPrefix, *hash), {}});
        hashes.push_back(*hash);
      }
    }
  }
  marks.insert(marks.end(), unlinks.begin(), unlinks.end());
  OTINISH_RETURN_IF_ERROR(m.write(marks));
  for (const std::string& id : applicant_ids) m.close(id);
  std::unique_lock lock(m.mu);
  for (const std::string& hex : hashes) {
    Impl::IdentityHash h;
    if (from_hex(hex, h)) m.identities.erase(h, Impl::spread(h));
  }
  return Status::Ok();
}

// The erased mark goes first and the erasing mark last: a stop in between leaves an applicant that reads as
// erased and is still pending (pending_erasures), so the next start deletes what is left.
Status KeyStore::finish_erasure(std::span<const std::string> applicant_ids) {
  using Op = KeyRecords::Op;
  Impl& m = *impl_;
  std::lock_guard gate(m.erasure_gate);
  std::vector<Op> ops;
  for (const std::string& id : applicant_ids) {
    ops.push_back({Op::Kind::kPut, key(kErasedPrefix, id), ""});
    ops.push_back({Op::Kind::kDelete, key(kKeyPrefix, id), {}});
    ops.push_back({Op::Kind::kDelete, key(kReversePrefix, id), {}});  // format 1's
    ops.push_back({Op::Kind::kDelete, key(kErasingPrefix, id), {}});
  }
  ops.push_back({Op::Kind::kPut, std::string(kPurgePendingKey), ""});
  OTINISH_RETURN_IF_ERROR(m.write(ops));
  for (const std::string& id : applicant_ids) m.close(id);
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
  OTINISH_RETURN_IF_ERROR(impl_->records->purge());
  return impl_->purged();
}

Status KeyStore::compact() {
  OTINISH_RETURN_IF_ERROR(impl_->records->compact());
  return impl_->purged();
}

std::unique_lock<std::mutex> KeyStore::hold_erasures() { return std::unique_lock(impl_->erasure_gate); }

Status KeyStore::checkpoint_to(const std::string& dir) {
  Impl& m = *impl_;
  if (std::filesystem::exists(dir)) return Status::AlreadyExists(dir + " exists: a copy of the key store goes into a new directory");
  OTINISH_ASSIGN_OR_RETURN(auto pending_purge, m.get(kPurgePendingKey));
  if (pending_purge) OTINISH_RETURN_IF_ERROR(purge());
  return m.records->checkpoint_to(dir);
}

Result<KeyStoreStats> KeyStore::stats() {
  KeyStoreStats s;
  // An applicant is a key someone was given: its record names its identity's hash, or (a key made ahead, or of
  // format 1) an r/ record does. Keys made ahead that nobody took, or whose link a crash took and the log did
  // not give back, are nobody's.
  // One pass over the records, in no order: the keys without a hash, and the reverse links, meet after it.
  // (Ids as numbers: a million strings would be a million allocations; one of another form, which no otinish
  // makes, is counted through its text.)
  std::unordered_set<std::uint64_t> without_hash;
  std::vector<std::uint64_t> reversed;
  std::unordered_set<std::string> odd_without_hash;
  std::vector<std::string> odd_reversed;
  const std::string_view prefixes[] = {kKeyPrefix, kReversePrefix, kErasingPrefix, kErasedPrefix};
  OTINISH_RETURN_IF_ERROR(impl_->records->scan_unordered(prefixes, [&](std::string_view k, std::string_view v) {
    if (k.starts_with(kKeyPrefix) || k.starts_with(kReversePrefix)) {
      const bool reverse = k.starts_with(kReversePrefix);
      if (!reverse && !identity_hash_of(v).empty()) {
        ++s.applicants;
        return;
      }
      const std::string_view id = without(k, reverse ? kReversePrefix : kKeyPrefix);
      if (const std::optional<std::uint64_t> n = id_number(id)) {
        if (reverse) {
          reversed.push_back(*n);
        } else {
          without_hash.insert(*n);
        }
      } else if (reverse) {
        odd_reversed.emplace_back(id);
      } else {
        odd_without_hash.emplace(id);
      }
    } else if (k.starts_with(kErasingPrefix)) {
      ++s.erasing;
    } else {
      ++s.erased;
    }
  }));
  for (std::uint64_t n : reversed) s.applicants += without_hash.contains(n);
  for (const std::string& id : odd_reversed) s.applicants += odd_without_hash.contains(id);
  s.applicants -= std::min(s.applicants, s.erasing);
  return s;
}

Status KeyStore::rotate(const std::string& path, const KeyEncryptionKey& from, const KeyEncryptionKey& to) {
  using Op = KeyRecords::Op;
  if (from.id() == to.id()) {
    return Status::InvalidArgument("the new key-encryption key (" + to.source + ") is the same key as the old one");
  }
  OTINISH_ASSIGN_OR_RETURN(auto store, open(path, from, {.create_if_missing = false}));
  Impl& m = *store->impl_;
  // One atomic write (a key log's frame): a crash leaves the old KEK or the new one working.
  std::vector<Op> ops;
  Status bad;
  OTINISH_RETURN_IF_ERROR(m.scan(kKeyPrefix, [&](std::string_view k, std::string_view v) {
    if (!bad.ok()) return;
    const std::string_view id = without(k, kKeyPrefix);
    std::string plain;  // the data key, and its nonce key if it was drawn with it: rewrapped as they are
    bad = unwrap_material(from.key, id, wrapped_of(v), plain, /*pair_allowed=*/true);
    if (!bad.ok()) return;
    ops.push_back({Op::Kind::kPut, std::string(k), wrap(to.key, id, plain) + std::string(v.substr(wrapped_size(v)))});
    sodium_memzero(plain.data(), plain.size());
  }));
  OTINISH_RETURN_IF_ERROR(bad);
  ops.push_back({Op::Kind::kPut, std::string(kIndexKeyKey), wrap_key(to.key, kIndexKeyName, m.index_key)});
  ops.push_back({Op::Kind::kPut, std::string(kVerifierKey), to.id() + wrap(to.key, kVerifierName, kVerifierText)});
  ops.push_back({Op::Kind::kPut, std::string(kPurgePendingKey), ""});
  OTINISH_RETURN_IF_ERROR(m.write(ops));
  return store->purge();
}

}  // namespace otinish::engine::privacy
