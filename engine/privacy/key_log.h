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
//   (varint) and the value. A kind byte with its top bit set (0x81, 0x82) is a hole: an op a purge overwrote,
//   its key and value bytes zero, its lengths kept so that the frame still parses.
// A frame is whole or dropped, so each write is atomic. A crash leaves at most the last frame unfinished (each
// sync writes one frame and waits for it): cut short, or whole but failing its checksum. open() drops it,
// writing the file anew without it; a damaged frame with a whole frame after it is kCorruption (refused, the
// file left as it is). A write made durable that failed (a full disk, a failed fsync) is never written later:
// the store then refuses every write until it is opened again.
//
// In memory: an open-addressing table from a 64-bit hash of each key to where its latest op is in the file
// (or in the buffer not yet written): 16 bytes a slot, under 40 bytes a record; values are read from the file
// when asked for (the KeyStore caches the keys it unwrapped). Also where each frame starts and which ops no
// read reaches any more (8 bytes each).
//
// purge() overwrites in place every op a later op of its key replaced, and every delete together with what it
// deleted, turning each into a hole: a deleted value, or a deleted key, is then in no file of the directory,
// and the cost follows what was erased, not the store's size. It is atomic across a crash: the frames' new
// bytes (their holes and checksums) are first written to an intent file, `scrub.intent` (synced, the directory
// synced), then over the frames, then the file is synced and the intent deleted; open() finishes an intent it
// finds (one cut short was never synced, so nothing was overwritten for it, and it is dropped; a frame that the
// intent does not turn into what it recorded was damaged otherwise: kCorruption). Once the holes and what is to
// be holed outnumber the live records, purge() instead writes the live records into the next generation's file
// (written, synced, renamed into place, the directory synced) and deletes the old file; open() finishes an
// interrupted one (a newer generation wins; older files and unfinished ".tmp" ones are deleted). Either holds
// every other write and read of the store while it runs.
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
