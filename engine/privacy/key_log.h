// engine/privacy/key_log.h: a one-node key store's records (engine/privacy/key_records.h) in a log file of
// their own, `DIR/keys/keys-<generation>.klog`, with an index in memory. What KeyStore::open(path, ...) uses.
//
// Why not a RocksDB: a key store holds two small records per applicant, written once and read rarely, and
// destroyed only by an erasure. RocksDB spent on each new applicant a memtable insert, then a flush that sorts
// it and a compaction that rewrites it: two thirds of what sealing a new applicant cost. Here a new
// applicant's records are appended to a buffer, and the next sync writes the buffer with one write and one
// fsync; nothing is sorted or rewritten until an erasure asks for it (purge()).
//
// The file: a 16-byte header ("otinish-keylog1\n"), then frames, each what one sync (or durable write) wrote:
// every write made since the previous one, the ops of each write side by side:
//   u32 length of the payload (little-endian, > 0), its SipHash-2-4 under the key "otinish-keylog-1" (a
//   checksum), the payload: its ops,
//   each a kind byte (1 put, 2 delete), the key's length (varint), the key, and for a put the value's length
//   (varint) and the value.
// A frame is whole or dropped, so each write is atomic. A crash leaves at most the last frame unfinished (each
// sync writes one frame and waits for it): cut short, or whole but failing its checksum. open() drops it,
// writing the file anew without it; a damaged frame with a whole frame after it is kCorruption (refused, the
// file left as it is). A write made durable that failed (a full disk, a failed fsync) is never written later:
// the store then refuses every write until it is opened again.
//
// In memory: an open-addressing table from a 64-bit hash of each key to where its latest op is in the file
// (or in the buffer not yet written): 16 bytes a slot, under 40 bytes a record; values are read from the file
// when asked for (the KeyStore caches the keys it unwrapped).
//
// purge() writes the live records into the next generation's file (written, synced, renamed into place, the
// directory synced), then deletes the old file: a deleted value is then in no file of the directory. open()
// finishes an interrupted purge (a newer generation wins; older files and unfinished ".tmp" ones are deleted).
// It holds every other write and read of the store while it runs (a copy of the live records: about 0.1 s per
// 100,000 applicants on a slow disk).
//
// A directory holding a RocksDB key store (an earlier otinish's) is converted on open: its records are copied
// into generation 1's file, then the RocksDB files are deleted (CURRENT first: until then the RocksDB is what
// counts, and an interrupted conversion starts over).
//
// Thread-safety: thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "engine/privacy/key_records.h"
#include "engine/privacy/key_store.h"

namespace otinish::engine::privacy {

// The records of the key log in `dir` (converting a RocksDB key store there first); a new one when the
// directory holds none and options.create_if_missing. Errors: kNotFound, kIOError (cannot read or write,
// locked by another process), kCorruption (a damaged frame before the file's end).
Result<std::unique_ptr<KeyRecords>> open_key_log(const std::string& dir, const KeyStoreOptions& options);

// True when `dir` holds a key store: a key log, or a RocksDB key store not yet converted.
bool key_store_exists(const std::string& dir);

// Every live record of the (closed) key log in `dir`, in key order, without opening it for writing: for
// tools and tests that look at what is on disk.
Status read_key_log(const std::string& dir, const std::function<void(std::string_view key, std::string_view value)>& visit);

}  // namespace otinish::engine::privacy
