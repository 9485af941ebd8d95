// store/upgrade.h: moving a log written by an older otinish to this build's format (`otinish upgrade`).
//
// A log records its format in its default column family ("format" -> "otinish-log/N"; docs/log-format.md).
// This build reads format 2 only. It refuses an older log at open with a message naming `otinish upgrade`, and
// a newer one with a message saying that a newer otinish wrote it: data is never downgraded.
//
// upgrade_log() never changes the old log. It writes the new one beside it (PATH.upgrading), from the old
// log's events, Merkle tiles and idempotency keys, rebuilding the stream index; verifies the new one (chain
// and indexes); then swaps: PATH becomes PATH.format1 (kept until the admin deletes it) and PATH.upgrading
// becomes PATH. A crash at any point is finished or redone by running it again: a PATH.upgrading left before
// the swap is rebuilt, and "PATH gone, PATH.format1 and PATH.upgrading present" (a crash between the two
// renames, after the new log verified) finishes the swap. The copy needs about the old log's size free.
//
// Usage:
//   auto r = otinish::store::upgrade_log("/var/lib/otinish/log");
//   if (r.ok() && !r->already_current) { /* r->events, r->runs, r->kept_at */ }
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"

namespace otinish::store {

// The format this build reads and writes.
inline constexpr int kLogFormat = 2;

// The format the log at `path` records, read without opening it as a store (a format-1 log cannot be).
// Errors: kNotFound (no RocksDB database at `path`), kInvalidArgument (a database that is not an otinish log,
// or whose marker is not "otinish-log/N"), kIOError.
Result<int> log_format(const std::string& path);

struct UpgradeReport {
  int from_format = 0;
  int to_format = kLogFormat;
  bool already_current = false;  // nothing to do: the log is of this build's format
  bool finished_interrupted = false;  // a crash had come between the swap's two renames; the swap was finished
  std::uint64_t events = 0;
  std::uint64_t streams = 0;
  std::uint64_t runs = 0;  // entries of the new stream index
  std::string kept_at;     // where the old log is kept (empty when nothing was upgraded)
  double seconds = 0;
};

// Upgrades the log at `path` to kLogFormat (see above). `progress`, if set, is called every 65,536 events
// copied. Errors: kInvalidArgument (not an otinish log; a newer format than this build: upgrade otinish, not
// the data), kAlreadyExists (PATH.format1 is there from an earlier upgrade: move it away first),
// kResourceExhausted (not enough free space for the copy), kCorruption (the old log's events do not decode, or
// the new log does not verify: the old one is untouched), kIOError.
Result<UpgradeReport> upgrade_log(const std::string& path,
                                  const std::function<void(std::uint64_t)>& progress = nullptr);

}  // namespace otinish::store
