#include "engine/privacy/key_log.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <functional>
#include <optional>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>

#include "common/large_table.h"
#include "store/disk_space.h"

namespace otinish::engine::privacy {

namespace {

constexpr std::string_view kHeader = "otinish-keylog1\n";  // 16 bytes
constexpr std::size_t kFrameHead = 12;                   // u32 length, 8-byte hash
constexpr std::uint32_t kMaxFrame = 1u << 30;
// A purge writes the live records in frames of about this size (a reader holds one frame at a time).
constexpr std::size_t kPurgeFrame = 1 << 16;
constexpr std::uint8_t kOpPut = 1;
constexpr std::uint8_t kOpDelete = 2;
// An op a purge overwrote in place: its kind byte with this bit set, its key and value bytes zero, its lengths
// kept (so the frame still parses). parse_op() reports it as kOpHole.
constexpr std::uint8_t kHoleBit = 0x80;
constexpr std::uint8_t kOpHole = 3;
// What a purge is about to overwrite, written and synced before it does (see KeyLog::purge()).
constexpr std::string_view kIntentName = "scrub.intent";
constexpr std::string_view kIntentHeader = "otinish-scrub01\n";  // 16 bytes
constexpr std::string_view kLockName = "klog.lock";
constexpr std::string_view kSuffix = ".klog";

std::string file_name(std::uint64_t generation) {
  char name[40];
  std::snprintf(name, sizeof name, "keys-%08llu.klog", static_cast<unsigned long long>(generation));
  return name;
}

// The generation of "keys-<n>.klog"; false for any other name (a ".tmp" one included).
bool generation_of(std::string_view name, std::uint64_t& generation) {
  if (!name.starts_with("keys-") || !name.ends_with(kSuffix)) return false;
  const std::string_view digits = name.substr(5, name.size() - 5 - kSuffix.size());
  if (digits.empty() || digits.size() > 18) return false;
  generation = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    generation = generation * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

// The files an earlier otinish's RocksDB key store kept (CURRENT goes first, on its own).
bool rocksdb_file(std::string_view name) {
  return name == "IDENTITY" || name == "LOCK" || name == "LOG" || name.starts_with("LOG.old") ||
         name.starts_with("MANIFEST-") || name.starts_with("OPTIONS-") || name.ends_with(".sst") ||
         name.ends_with(".dbtmp") || (name.ends_with(".log") && !name.ends_with(kSuffix));
}

// Little-endian, into the 4 bytes at `p` (a frame head written before its length is known).
void set_u32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void put_u32(std::string& out, std::uint32_t v) {
  out.append(4, '\0');
  set_u32(out.data() + out.size() - 4, v);
}
std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}
void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
bool get_varint(std::string_view& in, std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    const auto b = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

// A checksum against torn and damaged writes, not a MAC (nothing secret is in the file unwrapped): SipHash-2-4
// under a fixed key, a quarter of BLAKE2b's cost on the short frames a new applicant writes.
std::array<char, 8> payload_hash(std::string_view payload) {
  static constexpr unsigned char kChecksumKey[crypto_shorthash_KEYBYTES] = {'o', 't', 'i', 'n', 'i', 's', 'h', '-',
                                                                            'k', 'e', 'y', 'l', 'o', 'g', '-', '1'};
  std::array<char, 8> h{};
  crypto_shorthash(reinterpret_cast<unsigned char*>(h.data()), reinterpret_cast<const unsigned char*>(payload.data()),
                   payload.size(), kChecksumKey);
  return h;
}

struct LogOp {
  std::uint8_t kind = 0;
  std::string_view key, value;
};

// One op at the start of `in`, which it passes; false when `in` ends first or the kind is unknown. A hole is
// kOpHole, its key and value the zeros that replaced them.
bool parse_op(std::string_view& in, LogOp& op) {
  if (in.empty()) return false;
  const auto byte = static_cast<std::uint8_t>(in.front());
  const std::uint8_t layout = byte & ~kHoleBit;
  if (layout != kOpPut && layout != kOpDelete) return false;
  op.kind = byte & kHoleBit ? kOpHole : layout;
  std::string_view rest = in.substr(1);
  std::uint64_t n = 0;
  if (!get_varint(rest, n) || n > rest.size()) return false;
  op.key = rest.substr(0, n);
  rest.remove_prefix(n);
  op.value = {};
  if (layout == kOpPut) {
    if (!get_varint(rest, n) || n > rest.size()) return false;
    op.value = rest.substr(0, n);
    rest.remove_prefix(n);
  }
  in = rest;
  return true;
}

void encode_op(std::string& out, std::uint8_t kind, std::string_view key, std::string_view value) {
  out.push_back(static_cast<char>(kind));
  put_varint(out, key.size());
  out += key;
  if (kind == kOpPut) {
    put_varint(out, value.size());
    out += value;
  }
}

// Makes the op at `at` in `bytes` a hole (kind bit set, key and value zeroed, lengths kept) and returns its
// length; 0 when no op parses there. A hole made again is the same hole.
std::size_t make_hole(std::string& bytes, std::size_t at) {
  if (at >= bytes.size()) return 0;
  std::string_view rest = std::string_view(bytes).substr(at);
  const std::size_t before = rest.size();
  LogOp op;
  if (!parse_op(rest, op)) return 0;
  bytes[at] = static_cast<char>(static_cast<std::uint8_t>(bytes[at]) | kHoleBit);
  for (std::string_view part : {op.key, op.value}) {
    if (!part.empty()) std::memset(bytes.data() + (part.data() - bytes.data()), 0, part.size());
  }
  return before - rest.size();
}

// Fills in the head of the frame at `at` in `bytes` (kFrameHead bytes, then the payload to the end): the
// payload's length and checksum.
void set_frame_head(std::string& bytes, std::size_t at = 0) {
  const std::string_view payload = std::string_view(bytes).substr(at + kFrameHead);
  std::string head;
  put_u32(head, static_cast<std::uint32_t>(payload.size()));
  const auto h = payload_hash(payload);
  head.append(h.data(), h.size());
  bytes.replace(at, kFrameHead, head);
}

// The frame around `payload`.
std::string frame_of(std::string_view payload) {
  std::string f(kFrameHead, '\0');
  f.reserve(kFrameHead + payload.size());
  f += payload;
  set_frame_head(f);
  return f;
}

// Calls visit(where the op starts, op) for each op of the whole frames in `bytes` (which start at `base`).
template <typename Visit>
void for_each_op_in_memory(std::string_view bytes, std::uint64_t base, Visit&& visit) {
  std::size_t pos = 0;
  while (pos + kFrameHead <= bytes.size()) {
    const std::uint32_t len = get_u32(bytes.data() + pos);
    std::string_view payload = bytes.substr(pos + kFrameHead, len);
    const std::size_t payload_start = pos + kFrameHead;
    LogOp op;
    while (!payload.empty()) {
      const std::uint64_t at = base + payload_start + (len - payload.size());
      if (!parse_op(payload, op)) break;
      visit(at, op);
    }
    pos += kFrameHead + len;
  }
}

Status from_io(const rocksdb::IOStatus& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  if (s.IsNoSpace()) return Status::Unavailable(what + ": no space left on the device: " + s.ToString());
  return Status::IOError(what + ": " + s.ToString());
}

// Reads the frames of a key log file from its header on, in chunks.
class FrameReader {
 public:
  FrameReader(rocksdb::FSRandomAccessFile& file, std::uint64_t end, std::string where)
      : file_(file), end_(end), where_(std::move(where)) {}

  // Checks the header. Errors: kCorruption.
  Status start() {
    std::string_view h;
    OTINISH_RETURN_IF_ERROR(bytes(0, kHeader.size(), h));
    if (h.size() != kHeader.size() || h != kHeader) return Status::Corruption(where_ + " is not an otinish key log");
    pos_ = kHeader.size();
    return Status::Ok();
  }

  // The next whole frame's payload and where it starts; false at the end, or where what follows is what a
  // crash leaves of a write that was not synced (torn()). Errors: kCorruption (a damaged frame with a whole
  // frame after it), kIOError.
  Result<bool> next(std::string_view& payload, std::uint64_t& payload_at) {
    if (pos_ >= end_) return false;
    OTINISH_ASSIGN_OR_RETURN(bool whole, frame_at(pos_, payload));
    if (!whole) {
      // Each sync writes one frame and waits for it, so a crash leaves at most the last frame unfinished (cut
      // short, or whole but with blocks that never reached the disk). A whole frame anywhere after this one
      // means the file was damaged, not torn.
      for (std::uint64_t q = pos_ + 1; q + kFrameHead < end_; ++q) {
        std::string_view later;
        OTINISH_ASSIGN_OR_RETURN(bool found, frame_at(q, later));
        if (found) {
          return Status::Corruption(where_ + ": the frame at byte " + std::to_string(pos_) +
                                    " is damaged and a whole frame follows it at byte " + std::to_string(q) +
                                    " (the file was damaged, not cut short by a crash)");
        }
      }
      torn_ = true;
      return false;
    }
    payload_at = pos_ + kFrameHead;
    pos_ += kFrameHead + payload.size();
    return true;
  }

  // Where the whole frames end (all of the file unless torn()).
  std::uint64_t good_end() const { return pos_; }
  bool torn() const { return torn_; }

 private:
  // True (and its payload) when a whole frame, passing its checksum, starts at `at`.
  Result<bool> frame_at(std::uint64_t at, std::string_view& payload) {
    if (end_ - at < kFrameHead) return false;
    std::string_view head;
    OTINISH_RETURN_IF_ERROR(bytes(at, kFrameHead, head));
    const std::uint32_t len = get_u32(head.data());
    if (len == 0 || len > kMaxFrame || at + kFrameHead + len > end_) return false;
    std::string_view frame;
    OTINISH_RETURN_IF_ERROR(bytes(at, kFrameHead + len, frame));
    payload = frame.substr(kFrameHead);
    const auto h = payload_hash(payload);
    return std::memcmp(h.data(), frame.data() + 4, h.size()) == 0;
  }
  // The file's bytes [at, at + n), through a chunk of at least 1 MiB.
  Status bytes(std::uint64_t at, std::size_t n, std::string_view& out) {
    if (at < chunk_at_ || at + n > chunk_at_ + chunk_.size()) {
      const std::size_t want = std::max<std::size_t>(n, std::min<std::uint64_t>(1 << 20, end_ - at));
      chunk_.resize(want);
      rocksdb::Slice got;
      OTINISH_RETURN_IF_ERROR(from_io(file_.Read(at, want, rocksdb::IOOptions(), &got, chunk_.data(), nullptr),
                                      "reading " + where_));
      if (got.data() != chunk_.data()) std::memmove(chunk_.data(), got.data(), got.size());
      chunk_.resize(got.size());
      chunk_at_ = at;
      if (chunk_.size() < n) return Status::IOError("reading " + where_ + ": the file is shorter than it was");
    }
    out = std::string_view(chunk_).substr(at - chunk_at_, n);
    return Status::Ok();
  }

  rocksdb::FSRandomAccessFile& file_;
  std::uint64_t end_;
  std::string where_;
  std::uint64_t pos_ = 0;
  bool torn_ = false;
  std::string chunk_;
  std::uint64_t chunk_at_ = 0;
};

// Calls visit(where the op starts, op), which returns a Status, for each op of the whole frames `frames` reads
// (from the file's header on); stops at the first error.
template <typename Visit, typename VisitFrame = void (*)(std::uint64_t)>
Status for_each_op_in_file(FrameReader& frames, const std::string& where, Visit&& visit,
                           VisitFrame&& visit_frame = [](std::uint64_t) {}) {
  OTINISH_RETURN_IF_ERROR(frames.start());
  std::string_view payload;
  std::uint64_t payload_at = 0;
  for (;;) {
    OTINISH_ASSIGN_OR_RETURN(bool more, frames.next(payload, payload_at));
    if (!more) return Status::Ok();
    visit_frame(payload_at - kFrameHead);
    const std::size_t len = payload.size();
    LogOp op;
    while (!payload.empty()) {
      const std::uint64_t at = payload_at + (len - payload.size());
      if (!parse_op(payload, op)) return Status::Corruption(where + ": a damaged record at byte " + std::to_string(at));
      OTINISH_RETURN_IF_ERROR(visit(at, op));
    }
  }
}

// From a key's 64-bit hash to where its latest op is: open addressing, linear probing. Two keys of one hash
// share it by taking two slots; `key_at` (where -> that op's key) tells them apart. Never shrinks; a purge
// builds a new one.
class Index {
 public:
  static std::uint64_t hash(std::string_view key) {
    const std::uint64_t h = std::hash<std::string_view>()(key);
    return h == 0 ? 1 : h;
  }

  // Starts loading the cache line where a probe for hash `h` begins. A probe of a table of many megabytes is a
  // cache miss; a write of several ops asks for all their lines first, so that the misses overlap instead of
  // coming one after another (a batch of new keys: one probe each).
  void prefetch(std::uint64_t h) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[h & mask_]);
  }

  // Where `key`'s latest op is, if anywhere.
  template <typename KeyAt>
  Result<std::optional<std::uint64_t>> find(std::string_view key, std::uint64_t h, KeyAt&& key_at) const {
    if (slots_.empty()) return std::optional<std::uint64_t>();
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.h == 0) return std::optional<std::uint64_t>();
      if (s.h != h) continue;
      OTINISH_ASSIGN_OR_RETURN(bool same, key_at(s.at, key));
      if (same) return std::optional<std::uint64_t>(s.at);
    }
  }

  // Points `key` to `at`; where it pointed before goes into `replaced` (when given), if anywhere.
  template <typename KeyAt>
  Status set(std::string_view key, std::uint64_t h, std::uint64_t at, KeyAt&& key_at,
             std::optional<std::uint64_t>* replaced = nullptr) {
    grow_if_needed();
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.h == 0) {
        s = {h, at};
        ++used_;
        return Status::Ok();
      }
      if (s.h != h) continue;
      OTINISH_ASSIGN_OR_RETURN(bool same, key_at(s.at, key));
      if (same) {
        if (replaced) *replaced = s.at;
        s.at = at;
        return Status::Ok();
      }
    }
  }

  // Forgets the key whose latest op is `at` (hash `h`), if it is. Linear probing's deletion: the entries after
  // it that probed past its slot move back, so that every entry stays reachable from its home slot.
  void erase(std::uint64_t h, std::uint64_t at) {
    if (slots_.empty()) return;
    std::size_t i = h & mask_;
    for (;; i = (i + 1) & mask_) {
      if (slots_[i].h == 0) return;
      if (slots_[i].h == h && slots_[i].at == at) break;
    }
    for (std::size_t j = (i + 1) & mask_; slots_[j].h != 0; j = (j + 1) & mask_) {
      const std::size_t home = slots_[j].h & mask_;
      // Slot j's entry may fill the hole at i unless its home lies cyclically in (i, j].
      const bool home_after_hole = i <= j ? (home > i && home <= j) : (home > i || home <= j);
      if (home_after_hole) continue;
      slots_[i] = slots_[j];
      i = j;
    }
    slots_[i] = Slot{};
    --used_;
  }

  // True when the op at `at` is the latest of its key (whose hash is `h`): no key comparison needed.
  bool latest(std::uint64_t h, std::uint64_t at) const {
    if (slots_.empty()) return false;
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.h == 0) return false;
      if (s.h == h && s.at == at) return true;
    }
  }

  std::size_t size() const { return used_; }

  // Room for `n` keys without growing (a purge knows how many it will place). At least 64 Ki slots (1 MiB):
  // growing a table in small steps cost a new applicant page faults and rehashing.
  void reserve(std::size_t n) {
    std::size_t slots = 1 << 16;
    while (n * 10 > slots * 7) slots *= 2;
    if (slots <= slots_.size()) return;
    auto old = std::move(slots_);
    slots_.assign(slots, Slot{});
    mask_ = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.h == 0) continue;
      std::size_t i = s.h & mask_;
      while (slots_[i].h != 0) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

 private:
  struct Slot {
    std::uint64_t h = 0;  // 0: empty
    std::uint64_t at = 0;
  };
  void grow_if_needed() {
    if (!slots_.empty() && (used_ + 1) * 10 <= slots_.size() * 7) return;
    reserve(std::max<std::size_t>(used_ + 1, slots_.size()));  // doubles
  }
  std::vector<Slot, LargeTableAllocator<Slot>> slots_;
  std::size_t mask_ = 0;
  std::size_t used_ = 0;
};

class KeyLog final : public KeyRecords {
 public:
  static Result<std::unique_ptr<KeyLog>> open(const std::string& dir, const KeyStoreOptions& options);
  ~KeyLog() override;

  const std::string& where() const noexcept override { return where_; }
  Result<std::optional<std::string>> get(std::string_view key) override;
  void prefetch(std::string_view key) noexcept override {
    std::shared_lock lock(mu_, std::try_to_lock);  // a hint: never waits for a writer
    if (lock.owns_lock()) index_.prefetch(Index::hash(key));
  }
  Status scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& visit) override;
  Status scan_unordered(std::span<const std::string_view> prefixes,
                        const std::function<void(std::string_view, std::string_view)>& visit) override;
  Status write(const std::vector<KeyRecords::Op>& ops, bool durable) override;
  Status sync() override {
    std::lock_guard f(flush_mu_);
    return flush_locked(options_.sync);
  }
  Status purge() override;
  Status compact() override;
  Status checkpoint_to(const std::string& dir) override;

 private:
  KeyLog() = default;
  std::string file_path(std::uint64_t generation) const { return dir_ + "/" + file_name(generation); }

  // Where the stream of ops ends: the file, then what is being written, then the buffer.
  std::uint64_t end() const { return file_size_ + inflight_.size() + buffer_.size(); }  // REQUIRES: mu_
  // The op at `at`, its bytes in `scratch` when read from the file. REQUIRES: mu_ (either way).
  Status op_at(std::uint64_t at, std::string& scratch, LogOp& op) const;
  auto key_at() const {
    return [this](std::uint64_t at, std::string_view key) -> Result<bool> {
      std::string scratch;
      LogOp op;
      OTINISH_RETURN_IF_ERROR(op_at(at, scratch, op));
      return op.key == key;
    };
  }
  // The latest op of `key` (hash `h`) into `op`, its bytes in `scratch` when read from the file; false when the
  // key has none. The op read to tell the key apart from others of its hash is the one kept, not read again (a
  // read from the file is a system call: half of a look-up that misses the key store's caches).
  // REQUIRES: mu_ (either way).
  Result<bool> latest_op(std::string_view key, std::uint64_t h, std::string& scratch, LogOp& op) const {
    auto same_key_kept = [&](std::uint64_t candidate, std::string_view k) -> Result<bool> {
      OTINISH_RETURN_IF_ERROR(op_at(candidate, scratch, op));
      return op.key == k;  // the last op read is the one found
    };
    OTINISH_ASSIGN_OR_RETURN(auto at, index_.find(key, h, same_key_kept));
    return at.has_value();
  }
  // Calls visit(at, op) for every op in the stream, the file's included. REQUIRES: mu_ (either way).
  template <typename Visit>
  Status for_each_op(Visit&& visit) const;

  // Writes the buffer to the file, and syncs the file when `fsync` (then nothing written before is unsynced).
  Status flush_locked(bool fsync);  // REQUIRES: flush_mu_
  // Writes the live records (the buffer's included) into the next generation's file and makes it the store's.
  // REQUIRES: flush_mu_.
  Status compact_locked();
  // purge() (in place, or written anew once the garbage outnumbers the live records) or, with `compact`,
  // compact() (written anew already once the garbage is an eighth of them). REQUIRES: flush_mu_ not held.
  Status purge_or_compact(bool compact);
  // Overwrites in place every op no read can reach any more (dead_, and tombstones_ once what they deleted is
  // overwritten with them): see purge(). REQUIRES: flush_mu_ and mu_ held exclusively, the buffer written.
  Status scrub_locked();
  // Finishes a scrub a crash interrupted, from its intent file, before the file is read. REQUIRES: the files open.
  Status finish_scrub();
  // Overwrites the frames an intent names, as it says, and syncs the file. Errors: kCorruption (a frame that
  // does not become what the intent recorded: damaged some other way), kIOError.
  Status apply_intent(std::string_view payload);
  // The file's bytes [at, at + n) into `out`. Errors: kCorruption (the file ends first), kIOError.
  Status read_at(std::uint64_t at, std::size_t n, std::string& out) const;
  std::string intent_path() const { return dir_ + "/" + std::string(kIntentName); }
  Status open_files(std::uint64_t generation, std::uint64_t size);  // the reader and the appending writer
  Status sync_dir();
  // A new file `generation` holding the header and `body` (frames), synced, renamed into place, the directory
  // synced.
  // `renamed` (when given) says whether the rename happened, whatever is returned.
  Status write_generation(std::uint64_t generation, bool* renamed,
                          const std::function<Status(rocksdb::FSWritableFile&, std::uint64_t&)>& body);
  // Finishes the buffer's open frame (its checksum). REQUIRES: mu_ held exclusively.
  void close_frame_locked();
  Status replay();
  Status convert_rocksdb();

  std::string dir_, where_;
  KeyStoreOptions options_;
  std::shared_ptr<rocksdb::FileSystem> fs_;
  rocksdb::FileLock* lock_ = nullptr;
  std::unique_ptr<store::DiskSpaceGuard> space_;

  std::mutex flush_mu_;                        // one writer of the file at a time (flush, purge, copy)
  mutable std::shared_mutex mu_;               // everything below
  std::uint64_t generation_ = 0;
  std::unique_ptr<rocksdb::FSRandomAccessFile> reader_;
  std::unique_ptr<rocksdb::FSWritableFile> writer_;
  std::uint64_t file_size_ = 0;    // bytes in the file, whole frames
  std::uint64_t synced_size_ = 0;  // of which synced
  std::string inflight_;           // being appended by flush_locked (outside mu_)
  std::string buffer_;             // frames not yet handed to the file: one, usually (see flush_locked)
  std::size_t open_frame_ = std::string::npos;  // where the frame writes still join starts in buffer_
  Index index_;
  Status failed_;                  // a write whose outcome is unknown: every later write is refused
  // What purge() needs to find the ops to overwrite without reading the whole file:
  std::vector<std::uint64_t> frames_;      // where each frame in the file starts, in order
  std::vector<std::uint64_t> dead_;        // ops a later op of their key replaced (in the file or not yet)
  std::vector<std::uint64_t> tombstones_;  // deletes, latest or not
  std::uint64_t holes_ = 0;                // holes in the file: a purge's garbage, dropped by a compaction
};

KeyLog::~KeyLog() {
  {
    std::lock_guard f(flush_mu_);
    flush_locked(/*fsync=*/false).IgnoreError();  // to the OS, as RocksDB's WAL buffer was at close
  }
  if (writer_) writer_->Close(rocksdb::IOOptions(), nullptr).PermitUncheckedError();
  if (lock_) fs_->UnlockFile(lock_, rocksdb::IOOptions(), nullptr).PermitUncheckedError();
}

Status KeyLog::op_at(std::uint64_t at, std::string& scratch, LogOp& op) const {
  std::string_view bytes;
  if (at >= file_size_ + inflight_.size()) {
    bytes = std::string_view(buffer_).substr(at - file_size_ - inflight_.size());
  } else if (at >= file_size_) {
    bytes = std::string_view(inflight_).substr(at - file_size_);
  } else {
    // Values are short (a wrapped key and a hash, an applicant id, an erasure's request): one read usually.
    for (std::size_t want : {std::size_t{512}, std::size_t{1} << 20}) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(want, file_size_ - at));
      scratch.resize(n);
      rocksdb::Slice got;
      OTINISH_RETURN_IF_ERROR(from_io(reader_->Read(at, n, rocksdb::IOOptions(), &got, scratch.data(), nullptr),
                                      "reading " + where_));
      bytes = std::string_view(got.data(), got.size());
      std::string_view probe = bytes;
      if (parse_op(probe, op)) return Status::Ok();
    }
    return Status::Corruption(where_ + ": no record at byte " + std::to_string(at));
  }
  if (!parse_op(bytes, op)) return Status::Corruption(where_ + ": no record at byte " + std::to_string(at));
  return Status::Ok();
}

template <typename Visit>
Status KeyLog::for_each_op(Visit&& visit) const {
  FrameReader frames(*reader_, file_size_, where_);
  OTINISH_RETURN_IF_ERROR(for_each_op_in_file(frames, where_, [&](std::uint64_t at, const LogOp& op) {
    visit(at, op);
    return Status::Ok();
  }));
  if (frames.torn()) return Status::Corruption(where_ + ": the file ends inside a frame it had whole");
  for_each_op_in_memory(inflight_, file_size_, visit);
  for_each_op_in_memory(buffer_, file_size_ + inflight_.size(), visit);
  return Status::Ok();
}

Result<std::optional<std::string>> KeyLog::get(std::string_view key) {
  std::shared_lock lock(mu_);
  std::string scratch;
  LogOp op;
  OTINISH_ASSIGN_OR_RETURN(bool found, latest_op(key, Index::hash(key), scratch, op));
  if (!found || op.kind == kOpDelete) return std::optional<std::string>();
  return std::optional<std::string>(std::string(op.value));
}

Status KeyLog::scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& visit) {
  // Collected under the lock, visited in order outside it.
  std::vector<std::pair<std::string, std::string>> found;
  OTINISH_RETURN_IF_ERROR(scan_unordered(std::span(&prefix, 1), [&](std::string_view k, std::string_view v) {
    found.emplace_back(k, v);
  }));
  std::sort(found.begin(), found.end());
  for (const auto& [k, v] : found) visit(k, v);
  return Status::Ok();
}

Status KeyLog::scan_unordered(std::span<const std::string_view> prefixes,
                              const std::function<void(std::string_view, std::string_view)>& visit) {
  std::shared_lock lock(mu_);
  return for_each_op([&](std::uint64_t at, const LogOp& op) {
    if (op.kind != kOpPut) return;
    for (std::string_view prefix : prefixes) {
      if (!op.key.starts_with(prefix)) continue;
      if (index_.latest(Index::hash(op.key), at)) visit(op.key, op.value);
      return;
    }
  });
}

Status KeyLog::write(const std::vector<KeyRecords::Op>& ops, bool durable) {
  if (ops.empty()) return Status::Ok();
  OTINISH_RETURN_IF_ERROR(space_->check());
  // The ops, encoded; each one's offset in them is where the index will point once they are in the buffer.
  std::string encoded;
  std::size_t bytes = 0;
  for (const KeyRecords::Op& op : ops) bytes += 1 + 10 + op.key.size() + 10 + op.value.size();
  encoded.reserve(bytes);
  // Each op's offset in `encoded`, and its key's hash (the index's, computed once for the probes below).
  struct Placed {
    std::size_t offset;
    std::uint64_t hash;
  };
  std::array<Placed, 8> inline_placed;
  std::vector<Placed> more_placed;
  if (ops.size() > inline_placed.size()) more_placed.resize(ops.size());
  Placed* placed = ops.size() > inline_placed.size() ? more_placed.data() : inline_placed.data();
  for (std::size_t i = 0; i < ops.size(); ++i) {
    placed[i] = {encoded.size(), Index::hash(ops[i].key)};
    encode_op(encoded, ops[i].kind == KeyRecords::Op::Kind::kDelete ? kOpDelete : kOpPut, ops[i].key, ops[i].value);
  }
  if (encoded.size() > kMaxFrame) return Status::InvalidArgument("a write of " + std::to_string(encoded.size()) + " bytes to " + where_);
  {
    std::unique_lock lock(mu_);
    OTINISH_RETURN_IF_ERROR(failed_);
    // The index's lines for the first ops at once, then each op's a few ops ahead of its probe: the misses
    // overlap (the line fill buffers take about ten at a time). This pass loads every op's line, so the sets
    // below find them in the cache.
    constexpr std::size_t kAhead = 8;
    for (std::size_t i = 0; i < std::min(ops.size(), kAhead); ++i) index_.prefetch(placed[i].hash);
    for (std::size_t i = 0; i < ops.size(); ++i) {
      if (i + kAhead < ops.size()) index_.prefetch(placed[i + kAhead].hash);
      const KeyRecords::Op& op = ops[i];
      if (op.kind != KeyRecords::Op::Kind::kCreate) continue;
      std::string scratch;
      LogOp existing;
      OTINISH_ASSIGN_OR_RETURN(bool found, latest_op(op.key, placed[i].hash, scratch, existing));
      if (found && existing.kind == kOpPut) return Status::AlreadyExists(op.key + " exists in " + where_);
    }
    // The buffer is one frame (see flush_locked): the ops join it, and its head's length follows.
    if (open_frame_ != std::string::npos && buffer_.size() - open_frame_ - kFrameHead + encoded.size() > kMaxFrame) {
      close_frame_locked();
    }
    if (open_frame_ == std::string::npos) {
      open_frame_ = buffer_.size();
      buffer_.append(kFrameHead, '\0');
    }
    const std::uint64_t base = end();
    buffer_ += encoded;
    set_u32(buffer_.data() + open_frame_, static_cast<std::uint32_t>(buffer_.size() - open_frame_ - kFrameHead));
    for (std::size_t i = 0; i < ops.size(); ++i) {
      std::optional<std::uint64_t> replaced;
      const Status st = index_.set(ops[i].key, placed[i].hash, base + placed[i].offset, key_at(), &replaced);
      if (!st.ok()) {
        // The ops are in the buffer; an index that lost track of them must not be used.
        failed_ = st;
        return st;
      }
      if (replaced) dead_.push_back(*replaced);
      if (ops[i].kind == KeyRecords::Op::Kind::kDelete) tombstones_.push_back(base + placed[i].offset);
    }
  }
  if (!durable) return Status::Ok();
  std::lock_guard f(flush_mu_);
  const Status st = flush_locked(options_.sync);
  if (!st.ok()) {
    // The caller is told the write failed: it must never reach the file later (a rotation's new verifier
    // written as the store closes would lock out the key it reported still in use). Nothing more is written
    // until the store is opened again.
    std::unique_lock lock(mu_);
    if (failed_.ok()) failed_ = st;
  }
  return st;
}

void KeyLog::close_frame_locked() {
  if (open_frame_ == std::string::npos) return;
  set_frame_head(buffer_, open_frame_);  // the open frame runs to the buffer's end
  open_frame_ = std::string::npos;
}

Status KeyLog::flush_locked(bool fsync) {
  {
    std::unique_lock lock(mu_);
    OTINISH_RETURN_IF_ERROR(failed_);
    if (buffer_.empty() && (!fsync || synced_size_ == file_size_)) return Status::Ok();
    close_frame_locked();
    inflight_.swap(buffer_);
  }
  rocksdb::IOStatus s;
  if (!inflight_.empty()) s = writer_->Append(inflight_, rocksdb::IOOptions(), nullptr);
  if (s.ok()) s = writer_->Flush(rocksdb::IOOptions(), nullptr);
  const bool appended = s.ok();
  if (appended && fsync) s = writer_->Sync(rocksdb::IOOptions(), nullptr);
  std::unique_lock lock(mu_);
  if (appended) {
    for (std::size_t pos = 0; pos + kFrameHead <= inflight_.size(); pos += kFrameHead + get_u32(inflight_.data() + pos)) {
      frames_.push_back(file_size_ + pos);
    }
    file_size_ += inflight_.size();
    inflight_.clear();
  }
  if (s.ok()) {
    if (fsync) synced_size_ = file_size_;
    return Status::Ok();
  }
  const Status failed = from_io(s, "writing " + where_);
  if (appended) {
    // Written but not known durable (a failed fsync may have dropped the pages it failed to write): nothing
    // written later can be trusted to be durable either until the store is opened again.
    failed_ = failed;
    return failed;
  }
  // The append failed (a full disk): cut the file back to its whole frames, and the frames go back in front of
  // the buffer for the next write to retry. If it cannot be cut back, the file's end is unknown.
  if (writer_->Truncate(file_size_, rocksdb::IOOptions(), nullptr).ok()) {
    buffer_.insert(0, inflight_);  // a frame of its own: the ops after it keep their places
    if (open_frame_ != std::string::npos) open_frame_ += inflight_.size();
    inflight_.clear();
  } else {
    failed_ = failed;
  }
  return failed;
}

Status KeyLog::sync_dir() {
  std::unique_ptr<rocksdb::FSDirectory> d;
  OTINISH_RETURN_IF_ERROR(from_io(fs_->NewDirectory(dir_, rocksdb::IOOptions(), &d, nullptr), "opening " + dir_));
  return from_io(d->FsyncWithDirOptions(rocksdb::IOOptions(), nullptr, rocksdb::DirFsyncOptions()), "syncing " + dir_);
}

Status KeyLog::write_generation(std::uint64_t generation, bool* renamed,
                                const std::function<Status(rocksdb::FSWritableFile&, std::uint64_t&)>& body) {
  if (renamed) *renamed = false;
  const std::string final_path = file_path(generation);
  const std::string tmp = final_path + ".tmp";
  std::unique_ptr<rocksdb::FSWritableFile> out;
  OTINISH_RETURN_IF_ERROR(from_io(fs_->NewWritableFile(tmp, rocksdb::FileOptions(), &out, nullptr), "creating " + tmp));
  std::uint64_t size = kHeader.size();
  Status st = from_io(out->Append(rocksdb::Slice(kHeader.data(), kHeader.size()), rocksdb::IOOptions(), nullptr), "writing " + tmp);
  if (st.ok()) st = body(*out, size);
  if (st.ok()) st = from_io(out->Flush(rocksdb::IOOptions(), nullptr), "writing " + tmp);
  if (st.ok()) st = from_io(out->Sync(rocksdb::IOOptions(), nullptr), "syncing " + tmp);
  if (st.ok()) st = from_io(out->Close(rocksdb::IOOptions(), nullptr), "closing " + tmp);
  if (!st.ok()) {
    out.reset();
    fs_->DeleteFile(tmp, rocksdb::IOOptions(), nullptr).PermitUncheckedError();
    return st;
  }
  OTINISH_RETURN_IF_ERROR(from_io(fs_->RenameFile(tmp, final_path, rocksdb::IOOptions(), nullptr), "renaming " + tmp));
  if (renamed) *renamed = true;
  return sync_dir();
}

Status KeyLog::open_files(std::uint64_t generation, std::uint64_t size) {
  const std::string path = file_path(generation);
  std::unique_ptr<rocksdb::FSRandomAccessFile> reader;
  std::unique_ptr<rocksdb::FSWritableFile> writer;
  OTINISH_RETURN_IF_ERROR(from_io(fs_->NewRandomAccessFile(path, rocksdb::FileOptions(), &reader, nullptr), "opening " + path));
  OTINISH_RETURN_IF_ERROR(from_io(fs_->ReopenWritableFile(path, rocksdb::FileOptions(), &writer, nullptr), "opening " + path));
  if (writer_) writer_->Close(rocksdb::IOOptions(), nullptr).PermitUncheckedError();
  reader_ = std::move(reader);
  writer_ = std::move(writer);
  generation_ = generation;
  file_size_ = synced_size_ = size;
  return Status::Ok();
}

Status KeyLog::compact_locked() {
  std::unique_lock lock(mu_);
  OTINISH_RETURN_IF_ERROR(failed_);
  const std::uint64_t next = generation_ + 1;
  Index fresh;
  fresh.reserve(index_.size());
  std::vector<std::uint64_t> fresh_frames;
  bool renamed = false;
  const Status renamed_ok = write_generation(next, &renamed, [&](rocksdb::FSWritableFile& out, std::uint64_t& size) -> Status {
    std::string payload;
    std::vector<std::pair<std::uint64_t, std::size_t>> placed;  // (hash, offset in payload)
    Status st;
    auto emit = [&]() {
      if (payload.empty() || !st.ok()) return;
      const std::string frame = frame_of(payload);
      st = from_io(out.Append(frame, rocksdb::IOOptions(), nullptr), "writing " + where_);
      fresh_frames.push_back(size);
      for (const auto& [h, off] : placed) {
        // Keys are unique in a compacted file, so the hash alone places them (no comparison needed).
        if (st.ok()) st = fresh.set({}, h, size + kFrameHead + off, [](std::uint64_t, std::string_view) -> Result<bool> { return false; });
      }
      size += frame.size();
      payload.clear();
      placed.clear();
    };
    OTINISH_RETURN_IF_ERROR(for_each_op([&](std::uint64_t at, const LogOp& op) {
      const std::uint64_t h = Index::hash(op.key);
      if (op.kind != kOpPut || !index_.latest(h, at)) return;
      placed.emplace_back(h, payload.size());
      encode_op(payload, kOpPut, op.key, op.value);
      if (payload.size() >= kPurgeFrame) emit();
    }));
    emit();
    return st;
  });
  if (!renamed) return renamed_ok;  // nothing changed: the old file is still the store's
  const std::uint64_t old = generation_;
  // Once the new file is renamed into place, the next open takes it: whatever fails from here on, nothing may be
  // written to the old file again.
  Status opened = renamed_ok;
  std::uint64_t size = 0;
  if (opened.ok()) opened = from_io(fs_->GetFileSize(file_path(next), rocksdb::IOOptions(), &size, nullptr), "reading " + where_);
  if (opened.ok()) opened = open_files(next, size);
  if (!opened.ok()) {
    failed_ = opened;
    return opened;
  }
  index_ = std::move(fresh);
  frames_ = std::move(fresh_frames);
  dead_.clear();
  tombstones_.clear();
  holes_ = 0;
  // What the buffer held is in the new file (its latest values; what it deleted is not there at all).
  sodium_memzero(buffer_.data(), buffer_.size());
  buffer_.clear();
  open_frame_ = std::string::npos;
  // A purge is done only once the old file is gone (the caller keeps its purge-pending mark otherwise, and the
  // next open deletes the older generation).
  OTINISH_RETURN_IF_ERROR(from_io(fs_->DeleteFile(file_path(old), rocksdb::IOOptions(), nullptr), "deleting " + file_path(old)));
  return sync_dir();
}

// A purge overwrites what no read can reach any more where it lies (scrub_locked): the ops an erasure deleted
// or replaced, and its deletes with them, each turned into a hole of zeros. Its cost follows what was erased,
// not the store's size: an erasure of one applicant in a store of a million rewrites a few frames, not the
// file. Once the garbage (holes, and what this purge would hole) outnumbers the live records, the file is
// written anew instead (compact_locked), so that the holes take at most about as much room as the records.
Status KeyLog::purge() { return purge_or_compact(/*compact=*/false); }
Status KeyLog::compact() { return purge_or_compact(/*compact=*/true); }

// One decision for both, so that compact() never holes in place what it then writes anew.
Status KeyLog::purge_or_compact(bool compact) {
  std::lock_guard f(flush_mu_);
  OTINISH_RETURN_IF_ERROR(flush_locked(/*fsync=*/true));
  {
    std::unique_lock lock(mu_);
    OTINISH_RETURN_IF_ERROR(failed_);
    const bool pending = !dead_.empty() || !tombstones_.empty();
    const std::uint64_t garbage = holes_ + dead_.size() + tombstones_.size();
    // Written anew once the garbage outnumbers the live records, or, asked to compact, is an eighth of them.
    const bool anew = garbage > 0 && (compact ? garbage * 8 >= index_.size() : pending && garbage >= index_.size());
    if (!anew) return pending ? scrub_locked() : Status::Ok();
  }
  return compact_locked();
}

// Every dead op and every delete becomes a hole in one step that a crash cannot split: the frames' new bytes
// are recorded first in an intent file (written, synced), then written over the old ones and synced, then
// the intent goes. A crash in between leaves the intent, and open() finishes it (finish_scrub) before it reads
// the file. The deletes go with what they deleted (every older op of a deleted key is dead, so a hole too):
// nothing a delete hid can come back, and no key of an erased record is left in the file.
Status KeyLog::scrub_locked() {
  std::vector<std::uint64_t> targets = dead_;
  targets.insert(targets.end(), tombstones_.begin(), tombstones_.end());
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  // The intent: this generation, then each frame to overwrite: where it starts, its payload's length, its new
  // checksum, and where its ops to hole start (from the frame's start).
  std::string intent, body;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> forget;  // (hash, at): deletes leaving the index
  std::uint64_t frames = 0, holed = 0;
  std::string frame;
  std::vector<std::uint64_t> offsets;
  auto finish_frame = [&](std::uint64_t frame_at) {
    if (offsets.empty()) return;
    set_frame_head(frame);
    put_varint(body, frame_at);
    put_varint(body, frame.size() - kFrameHead);
    body.append(frame.data() + 4, 8);
    put_varint(body, offsets.size());
    for (std::uint64_t off : offsets) put_varint(body, off);
    ++frames;
    offsets.clear();
  };
  std::uint64_t current = UINT64_MAX;
  for (std::uint64_t at : targets) {
    auto it = std::upper_bound(frames_.begin(), frames_.end(), at);
    if (at >= file_size_ || it == frames_.begin()) {
      return Status::Internal(where_ + ": a record to purge at byte " + std::to_string(at) + " is in no frame of the file");
    }
    const std::uint64_t frame_at = *(it - 1);
    if (frame_at != current) {
      finish_frame(current);
      current = frame_at;
      std::string head;
      OTINISH_RETURN_IF_ERROR(read_at(frame_at, kFrameHead, head));
      frame.clear();
      OTINISH_RETURN_IF_ERROR(read_at(frame_at, kFrameHead + get_u32(head.data()), frame));
    }
    std::string_view rest = std::string_view(frame).substr(std::min<std::uint64_t>(at - frame_at, frame.size()));
    LogOp op;
    if (!parse_op(rest, op)) return Status::Corruption(where_ + ": no record at byte " + std::to_string(at));
    if (op.kind == kOpDelete && index_.latest(Index::hash(op.key), at)) forget.emplace_back(Index::hash(op.key), at);
    make_hole(frame, at - frame_at);  // parsed just above
    offsets.push_back(at - frame_at);
    ++holed;
  }
  finish_frame(current);
  put_varint(intent, generation_);
  put_varint(intent, frames);
  intent += body;
  // The intent, durable before any byte of the file changes.
  {
    std::unique_ptr<rocksdb::FSWritableFile> out;
    const std::string path = intent_path();
    OTINISH_RETURN_IF_ERROR(from_io(fs_->NewWritableFile(path, rocksdb::FileOptions(), &out, nullptr), "creating " + path));
    const std::string bytes = std::string(kIntentHeader) + frame_of(intent);
    Status st = from_io(out->Append(bytes, rocksdb::IOOptions(), nullptr), "writing " + path);
    if (st.ok()) st = from_io(out->Sync(rocksdb::IOOptions(), nullptr), "syncing " + path);
    if (st.ok()) st = from_io(out->Close(rocksdb::IOOptions(), nullptr), "closing " + path);
    if (st.ok()) st = sync_dir();
    if (!st.ok()) {
      out.reset();
      fs_->DeleteFile(path, rocksdb::IOOptions(), nullptr).PermitUncheckedError();
      return st;
    }
  }
  // From here on a failure leaves the file between two states only the intent can finish: nothing more is
  // written until the store is opened again (which finishes it).
  Status st = apply_intent(intent);
  if (st.ok()) st = from_io(fs_->DeleteFile(intent_path(), rocksdb::IOOptions(), nullptr), "deleting " + intent_path());
  if (st.ok()) st = sync_dir();
  if (!st.ok()) {
    failed_ = st;
    return st;
  }
  for (const auto& [h, at] : forget) index_.erase(h, at);
  holes_ += holed;
  dead_.clear();
  tombstones_.clear();
  return Status::Ok();
}

Status KeyLog::read_at(std::uint64_t at, std::size_t n, std::string& out) const {
  out.resize(n);
  rocksdb::Slice got;
  OTINISH_RETURN_IF_ERROR(from_io(reader_->Read(at, n, rocksdb::IOOptions(), &got, out.data(), nullptr), "reading " + where_));
  if (got.size() != n) return Status::Corruption(where_ + ": the file ends inside the frame at byte " + std::to_string(at));
  if (got.data() != out.data()) std::memmove(out.data(), got.data(), n);
  return Status::Ok();
}

Status KeyLog::apply_intent(std::string_view payload) {
  const Status bad = Status::Corruption(where_ + ": the intent of an interrupted purge (" + intent_path() + ") is damaged");
  std::uint64_t generation = 0, count = 0;
  if (!get_varint(payload, generation) || !get_varint(payload, count)) return bad;
  if (generation != generation_) return Status::Ok();  // an older file's, which a compaction replaced since
  std::unique_ptr<rocksdb::FSRandomRWFile> file;
  const std::string path = file_path(generation_);
  OTINISH_RETURN_IF_ERROR(from_io(fs_->NewRandomRWFile(path, rocksdb::FileOptions(), &file, nullptr), "opening " + path));
  std::string frame;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t at = 0, len = 0, ops = 0;
    if (!get_varint(payload, at) || !get_varint(payload, len) || payload.size() < 8) return bad;
    const std::string_view checksum = payload.substr(0, 8);
    payload.remove_prefix(8);
    if (!get_varint(payload, ops) || at > file_size_ || len > file_size_ - at || kFrameHead > file_size_ - at - len) return bad;
    OTINISH_RETURN_IF_ERROR(read_at(at, kFrameHead + len, frame));
    std::vector<std::pair<std::uint64_t, std::size_t>> holes;  // where in the frame, how long
    for (std::uint64_t k = 0; k < ops; ++k) {
      std::uint64_t off = 0;
      if (!get_varint(payload, off) || off < kFrameHead) return bad;
      const std::size_t n = make_hole(frame, off);
      if (n == 0) return bad;
      holes.emplace_back(off, n);
    }
    // Old bytes, new ones or a mix of the two (a write the crash cut): holed, they are the new frame, or the
    // frame was damaged some other way.
    set_frame_head(frame);
    if (std::memcmp(frame.data() + 4, checksum.data(), checksum.size()) != 0) {
      return Status::Corruption(where_ + ": the frame at byte " + std::to_string(at) + " does not become what the "
                                "interrupted purge recorded in " + intent_path() + " (damaged otherwise)");
    }
    // Only what changed: the head (its checksum) and the holes. A frame a compaction wrote is 64 KiB; an
    // erasure's purge writes its few hundred bytes.
    holes.emplace_back(0, kFrameHead);
    for (const auto& [off, n] : holes) {
      const rocksdb::Slice bytes(frame.data() + off, n);
      OTINISH_RETURN_IF_ERROR(from_io(file->Write(at + off, bytes, rocksdb::IOOptions(), nullptr), "writing " + path));
    }
  }
  OTINISH_RETURN_IF_ERROR(from_io(file->Sync(rocksdb::IOOptions(), nullptr), "syncing " + path));
  return from_io(file->Close(rocksdb::IOOptions(), nullptr), "closing " + path);
}

Status KeyLog::finish_scrub() {
  const std::string path = intent_path();
  if (!fs_->FileExists(path, rocksdb::IOOptions(), nullptr).ok()) return Status::Ok();
  std::uint64_t size = 0;
  OTINISH_RETURN_IF_ERROR(from_io(fs_->GetFileSize(path, rocksdb::IOOptions(), &size, nullptr), "reading " + path));
  std::string bytes;
  // (An empty intent, a process killed as it created the file, is not read: a read of nothing is an error.)
  if (size > 0) {
    std::unique_ptr<rocksdb::FSRandomAccessFile> file;
    OTINISH_RETURN_IF_ERROR(from_io(fs_->NewRandomAccessFile(path, rocksdb::FileOptions(), &file, nullptr), "opening " + path));
    bytes.resize(size);
    rocksdb::Slice got;
    OTINISH_RETURN_IF_ERROR(from_io(file->Read(0, size, rocksdb::IOOptions(), &got, bytes.data(), nullptr), "reading " + path));
    bytes.assign(got.data(), got.size());
  }
  // An intent cut short or failing its checksum was never synced, so no byte of the file was changed for it.
  const std::string_view rest = std::string_view(bytes).substr(std::min(bytes.size(), kIntentHeader.size()));
  const bool whole = bytes.starts_with(kIntentHeader) && rest.size() >= kFrameHead &&
                     get_u32(rest.data()) == rest.size() - kFrameHead &&
                     std::memcmp(payload_hash(rest.substr(kFrameHead)).data(), rest.data() + 4, 8) == 0;
  if (whole) OTINISH_RETURN_IF_ERROR(apply_intent(rest.substr(kFrameHead)));
  OTINISH_RETURN_IF_ERROR(from_io(fs_->DeleteFile(path, rocksdb::IOOptions(), nullptr), "deleting " + path));
  return sync_dir();
}

Status KeyLog::checkpoint_to(const std::string& dir) {
  std::lock_guard f(flush_mu_);
  OTINISH_RETURN_IF_ERROR(flush_locked(options_.sync));
  std::shared_lock lock(mu_);
  OTINISH_RETURN_IF_ERROR(from_io(fs_->CreateDir(dir, rocksdb::IOOptions(), nullptr), "creating " + dir));
  const std::string to = dir + "/" + file_name(generation_);
  std::unique_ptr<rocksdb::FSWritableFile> out;
  OTINISH_RETURN_IF_ERROR(from_io(fs_->NewWritableFile(to, rocksdb::FileOptions(), &out, nullptr), "creating " + to));
  std::string scratch(1 << 20, '\0');
  for (std::uint64_t at = 0; at < file_size_;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(scratch.size(), file_size_ - at));
    rocksdb::Slice got;
    OTINISH_RETURN_IF_ERROR(from_io(reader_->Read(at, n, rocksdb::IOOptions(), &got, scratch.data(), nullptr), "reading " + where_));
    if (got.size() != n) return Status::IOError("reading " + where_ + ": the file is shorter than it was");
    OTINISH_RETURN_IF_ERROR(from_io(out->Append(got, rocksdb::IOOptions(), nullptr), "writing " + to));
    at += n;
  }
  OTINISH_RETURN_IF_ERROR(from_io(out->Sync(rocksdb::IOOptions(), nullptr), "syncing " + to));
  OTINISH_RETURN_IF_ERROR(from_io(out->Close(rocksdb::IOOptions(), nullptr), "closing " + to));
  std::unique_ptr<rocksdb::FSDirectory> d;
  OTINISH_RETURN_IF_ERROR(from_io(fs_->NewDirectory(dir, rocksdb::IOOptions(), &d, nullptr), "opening " + dir));
  return from_io(d->FsyncWithDirOptions(rocksdb::IOOptions(), nullptr, rocksdb::DirFsyncOptions()), "syncing " + dir);
}

// Builds the index from the file, whose whole frames end at file_size_ (a torn frame after them is set aside
// by open(), which then writes the file anew).
Status KeyLog::replay() {
  FrameReader frames(*reader_, file_size_, where_);
  frames_.clear();
  OTINISH_RETURN_IF_ERROR(for_each_op_in_file(
      frames, where_,
      [&](std::uint64_t at, const LogOp& op) {
        if (op.kind == kOpHole) {
          ++holes_;
          return Status::Ok();
        }
        if (op.kind == kOpDelete) tombstones_.push_back(at);
        // The keys compared here are read back from the file: only when two keys share a 64-bit hash, or a key
        // is written again (an erasure's deletes).
        std::optional<std::uint64_t> replaced;
        OTINISH_RETURN_IF_ERROR(index_.set(op.key, Index::hash(op.key), at, key_at(), &replaced));
        if (replaced) dead_.push_back(*replaced);
        return Status::Ok();
      },
      [&](std::uint64_t frame_at) { frames_.push_back(frame_at); }));
  if (frames.torn()) file_size_ = synced_size_ = frames.good_end();
  return Status::Ok();
}

// An earlier otinish's RocksDB key store in dir_: its records into generation 1's file, then its files go.
Status KeyLog::convert_rocksdb() {
  // An interrupted conversion's output is made again from the RocksDB, which counts until CURRENT goes.
  std::vector<std::string> children;
  OTINISH_RETURN_IF_ERROR(from_io(fs_->GetChildren(dir_, rocksdb::IOOptions(), &children, nullptr), "listing " + dir_));
  for (const std::string& c : children) {
    std::uint64_t gen = 0;
    if (generation_of(c, gen) || c.ends_with(".klog.tmp")) {
      OTINISH_RETURN_IF_ERROR(from_io(fs_->DeleteFile(dir_ + "/" + c, rocksdb::IOOptions(), nullptr), "deleting " + c));
    }
  }
  std::vector<std::pair<std::string, std::string>> records;
  {
    rocksdb::Options o;
    std::unique_ptr<rocksdb::Env> env;
    if (options_.file_system) {
      env = rocksdb::NewCompositeEnv(options_.file_system);
      o.env = env.get();
    }
    o.info_log_level = rocksdb::InfoLogLevel::HEADER_LEVEL;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::OpenForReadOnly(o, dir_, &raw);
    if (!s.ok()) return Status::IOError("opening the RocksDB key store at " + dir_ + " to convert it: " + s.ToString());
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::ReadOptions r;
    r.total_order_seek = true;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(r));
    for (it->SeekToFirst(); it->Valid(); it->Next()) records.emplace_back(it->key().ToString(), it->value().ToString());
    if (!it->status().ok()) return Status::IOError("reading the RocksDB key store at " + dir_ + ": " + it->status().ToString());
  }
  OTINISH_RETURN_IF_ERROR(write_generation(1, nullptr, [&](rocksdb::FSWritableFile& out, std::uint64_t& size) -> Status {
    std::string payload;
    for (const auto& [k, v] : records) encode_op(payload, kOpPut, k, v);
    if (payload.empty()) return Status::Ok();
    const std::string frame = frame_of(payload);
    size += frame.size();
    return from_io(out.Append(frame, rocksdb::IOOptions(), nullptr), "writing " + where_);
  }));
  for (auto& [k, v] : records) sodium_memzero(v.data(), v.size());
  // CURRENT first: from then on the key log is the store.
  OTINISH_RETURN_IF_ERROR(from_io(fs_->DeleteFile(dir_ + "/CURRENT", rocksdb::IOOptions(), nullptr), "deleting " + dir_ + "/CURRENT"));
  return sync_dir();
}

Result<std::unique_ptr<KeyLog>> KeyLog::open(const std::string& dir, const KeyStoreOptions& options) {
  auto log = std::unique_ptr<KeyLog>(new KeyLog());
  log->dir_ = dir;
  log->where_ = "the key store at " + dir;
  log->options_ = options;
  log->fs_ = options.file_system ? options.file_system : rocksdb::FileSystem::Default();
  rocksdb::FileSystem& fs = *log->fs_;
  const rocksdb::IOOptions io;
  if (!key_store_exists(dir)) {
    if (!options.create_if_missing) return Status::NotFound("no key store at " + dir);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IOError("cannot create the key store directory " + dir + ": " + ec.message());
  }
  OTINISH_RETURN_IF_ERROR(from_io(fs.LockFile(dir + "/" + std::string(kLockName), io, &log->lock_, nullptr),
                                  "locking " + log->where_ + " (is another otinish using it?)"));
  log->space_ = std::make_unique<store::DiskSpaceGuard>(dir, "the key store", options.min_free_disk_mb << 20);
  if (fs.FileExists(dir + "/CURRENT", io, nullptr).ok()) OTINISH_RETURN_IF_ERROR(log->convert_rocksdb());

  // The newest generation counts; older ones (a purge stopped before deleting them), unfinished ones and an
  // earlier RocksDB's files (a conversion stopped after CURRENT went) are deleted.
  std::vector<std::string> children;
  OTINISH_RETURN_IF_ERROR(from_io(fs.GetChildren(dir, io, &children, nullptr), "listing " + dir));
  std::uint64_t newest = 0;
  for (const std::string& c : children) {
    std::uint64_t g = 0;
    if (generation_of(c, g)) newest = std::max(newest, g);
  }
  bool removed = false;
  for (const std::string& c : children) {
    std::uint64_t g = 0;
    const bool stale = (generation_of(c, g) && g != newest) || c.ends_with(".klog.tmp") || rocksdb_file(c);
    if (!stale) continue;
    OTINISH_RETURN_IF_ERROR(from_io(fs.DeleteFile(dir + "/" + c, io, nullptr), "deleting " + dir + "/" + c));
    removed = true;
  }
  if (removed) OTINISH_RETURN_IF_ERROR(log->sync_dir());
  if (newest == 0) {
    newest = 1;
    OTINISH_RETURN_IF_ERROR(log->write_generation(newest, nullptr, [](rocksdb::FSWritableFile&, std::uint64_t&) { return Status::Ok(); }));
  }
  std::uint64_t size = 0;
  OTINISH_RETURN_IF_ERROR(from_io(fs.GetFileSize(log->file_path(newest), io, &size, nullptr), "reading " + log->where_));
  OTINISH_RETURN_IF_ERROR(log->open_files(newest, size));
  OTINISH_RETURN_IF_ERROR(log->finish_scrub());
  log->index_.reserve(size / 64);  // a record is 60 bytes or more (an identity link), most are longer
  OTINISH_RETURN_IF_ERROR(log->replay());
  if (log->file_size_ != size) {
    // A frame a crash cut short: the store goes on in a file written anew without it.
    std::lock_guard f(log->flush_mu_);
    OTINISH_RETURN_IF_ERROR(log->compact_locked());
  }
  return log;
}

}  // namespace

namespace {

// The newest key log generation in `dir`; 0 when there is none.
std::uint64_t newest_generation(const std::string& dir) {
  std::uint64_t newest = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::uint64_t g = 0;
    if (generation_of(e.path().filename().string(), g)) newest = std::max(newest, g);
  }
  return newest;
}

}  // namespace

bool key_store_exists(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec) || newest_generation(dir) != 0;
}

Result<std::unique_ptr<KeyRecords>> open_key_log(const std::string& dir, const KeyStoreOptions& options) {
  OTINISH_ASSIGN_OR_RETURN(auto log, KeyLog::open(dir, options));
  return std::unique_ptr<KeyRecords>(std::move(log));
}

Status read_key_log(const std::string& dir, const std::function<void(std::string_view, std::string_view)>& visit) {
  const std::uint64_t newest = newest_generation(dir);
  if (newest == 0) return Status::NotFound("no key log in " + dir);
  const std::string path = dir + "/" + file_name(newest);
  auto fs = rocksdb::FileSystem::Default();
  std::unique_ptr<rocksdb::FSRandomAccessFile> file;
  OTINISH_RETURN_IF_ERROR(from_io(fs->NewRandomAccessFile(path, rocksdb::FileOptions(), &file, nullptr), "opening " + path));
  std::uint64_t size = 0;
  OTINISH_RETURN_IF_ERROR(from_io(fs->GetFileSize(path, rocksdb::IOOptions(), &size, nullptr), "reading " + path));
  FrameReader frames(*file, size, path);
  std::map<std::string, std::optional<std::string>> latest;
  OTINISH_RETURN_IF_ERROR(for_each_op_in_file(frames, path, [&](std::uint64_t, const LogOp& op) {
    if (op.kind == kOpHole) return Status::Ok();
    latest[std::string(op.key)] = op.kind == kOpPut ? std::optional<std::string>(std::string(op.value)) : std::nullopt;
    return Status::Ok();
  }));
  for (const auto& [k, v] : latest) {
    if (v) visit(k, *v);
  }
  return Status::Ok();
}

}  // namespace otinish::engine::privacy
