// Online backups and restoring one: api/http/backup.h.
#include "api/http/backup.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>

#include "common/version.h"
#include "engine/proof/checkpoint.h"
#include "store/rocks_store.h"

namespace otinish::api {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// The parts of a data directory a backup holds (api/cli/data_dir.h); the views and the SLA timers are rebuilt.
constexpr const char* kLog = "log";
constexpr const char* kKeys = "keys";
constexpr const char* kTokens = "tokens.jsonl";
constexpr const char* kCheckpoints = "checkpoints";
constexpr const char* kManifest = "backup.json";

Status io_error(const std::string& what, const std::error_code& ec) {
  return Status::IOError(what + ": " + ec.message());
}

// Makes what was written under `dir` durable: every file and directory fsynced (a RocksDB checkpoint syncs
// its own files; the copies made here with std::filesystem do not).
Status sync_tree(const fs::path& dir) {
  std::error_code ec;
  std::vector<fs::path> paths{dir};
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    paths.push_back(it->path());
  }
  if (ec) return io_error("listing " + dir.string(), ec);
  for (const fs::path& p : paths) {
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::IOError("opening " + p.string() + " to sync it");
    const int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) return Status::IOError("syncing " + p.string());
  }
  const int fd = ::open(dir.parent_path().empty() ? "." : dir.parent_path().c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  return Status::Ok();
}

Status copy_if_present(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  if (!fs::exists(from, ec)) return Status::Ok();
  fs::copy(from, to, fs::copy_options::recursive, ec);
  return ec ? io_error("copying " + from.string() + " to " + to.string(), ec) : Status::Ok();
}

// The signed checkpoints, one by one through their directory's own reader and writer: the server writes new
// ones (through a temporary file) and thins old ones while the copy runs, so one listed may be gone when it is
// read, which is fine (a backup needs the ones that remain, the newest above all).
Status copy_checkpoints(const fs::path& from, const fs::path& to) {
  const engine::proof::CheckpointDirectory source(from.string());
  OTINISH_ASSIGN_OR_RETURN(const std::vector<std::uint64_t> sizes, source.sizes());
  if (sizes.empty()) return Status::Ok();
  std::error_code ec;
  fs::create_directory(to, ec);
  if (ec) return io_error("creating " + to.string(), ec);
  const engine::proof::CheckpointDirectory copy(to.string());
  for (std::uint64_t size : sizes) {
    auto bytes = source.at(size);
    if (!bytes.ok()) continue;  // thinned away since it was listed
    OTINISH_RETURN_IF_ERROR(copy.write(size, *bytes));
  }
  return Status::Ok();
}

// The token file, up to its last complete line: `otinish token create` may be appending one while it is read
// (a token made during the backup is not in it, as an event appended then is not).
Status copy_tokens(const fs::path& from, const fs::path& to) {
  std::ifstream in(from, std::ios::binary);
  if (!in) return Status::Ok();  // no token made yet
  std::stringstream text;
  text << in.rdbuf();
  std::string lines = text.str();
  lines.resize(lines.rfind('\n') == std::string::npos ? 0 : lines.rfind('\n') + 1);
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  out << lines;
  return out.flush() ? Status::Ok() : Status::IOError("writing " + to.string());
}

struct Verified {
  std::uint64_t events = 0;
  Hash256 head_hash{};
};

// Opens the copy of a log and verifies its chain and indexes.
Result<Verified> verify_copy(const std::string& log_dir) {
  store::StoreOptions o;
  o.create_if_missing = false;
  OTINISH_ASSIGN_OR_RETURN(auto log, store::open_rocks_store(log_dir, o));
  OTINISH_ASSIGN_OR_RETURN(auto report, store::verify_log(*log, {.indexes = true}));
  if (!report.ok) {
    return Status::Corruption("the copy of the log at " + log_dir + " does not verify: " + report.to_string());
  }
  return Verified{report.events, report.head_hash};
}

Result<std::uint64_t> open_key_copy(const std::string& keys_dir, const engine::privacy::KeyEncryptionKey& kek) {
  OTINISH_ASSIGN_OR_RETURN(auto keys, engine::privacy::KeyStore::open(keys_dir, kek, {.create_if_missing = false}));
  OTINISH_ASSIGN_OR_RETURN(auto stats, keys->stats());
  return stats.applicants;
}

Status write_manifest(const fs::path& dir, const std::string& text) {
  const fs::path path = dir / kManifest;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) return Status::IOError("writing " + path.string());
  }
  return sync_tree(dir);
}

Result<BackupReport> write_backup_into(const BackupSources& from, const fs::path& to, BackupReport report) {
  const auto started = std::chrono::steady_clock::now();
  report.head_at_start = from.log->head_position();
  std::error_code ec;
  fs::create_directory(to, ec);
  if (ec) return io_error("creating " + to.string(), ec);
  // The owner's alone, whatever the umask: a backup holds the wrapped data keys and the token hashes.
  fs::permissions(to, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) return io_error("restricting " + to.string(), ec);
  const fs::path data(from.data_dir);
  // The checkpoints before the log: each one is then of a tree the log's copy extends, as a server checks.
  OTINISH_RETURN_IF_ERROR(copy_checkpoints(data / kCheckpoints, to / kCheckpoints));
  {
    std::unique_lock<std::mutex> erasures;
    if (from.keys != nullptr) erasures = from.keys->hold_erasures();
    OTINISH_RETURN_IF_ERROR(from.log->checkpoint_to((to / kLog).string()));
    if (from.keys != nullptr) OTINISH_RETURN_IF_ERROR(from.keys->checkpoint_to((to / kKeys).string()));
  }
  OTINISH_RETURN_IF_ERROR(copy_tokens(data / kTokens, to / kTokens));
  OTINISH_RETURN_IF_ERROR(sync_tree(to));

  OTINISH_ASSIGN_OR_RETURN(const Verified v, verify_copy((to / kLog).string()));
  if (v.events < report.head_at_start) {
    return Status::Corruption("the copy of the log holds " + std::to_string(v.events) + " events, fewer than the " +
                              std::to_string(report.head_at_start) + " acknowledged when the backup began");
  }
  report.events = v.events;
  report.head_hash = v.head_hash;
  if (from.keys != nullptr) {
    OTINISH_ASSIGN_OR_RETURN(report.applicants, open_key_copy((to / kKeys).string(), *from.kek));
    report.key_store = true;
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  OTINISH_RETURN_IF_ERROR(write_manifest(to, report.manifest()));
  return report;
}

}  // namespace

std::string BackupReport::manifest() const {
  json::object m{{"format", kBackupFormat},
                 {"otinish", kVersionString},
                 {"created", format_utc(created)},
                 {"head_at_start", head_at_start},
                 {"events", events},
                 {"head_hash", to_hex(head_hash)},
                 {"key_store", key_store},
                 {"applicants", applicants},
                 {"verified", "chain and indexes"},
                 {"seconds", seconds}};
  return json::serialize(m) + "\n";
}

Result<BackupReport> write_backup(const BackupSources& from, const std::string& to) {
  if (from.log == nullptr) return Status::InvalidArgument("a backup needs the log");
  if (from.keys != nullptr && from.kek == nullptr) {
    return Status::InvalidArgument("a backup of the key store needs the key-encryption key, to check the copy");
  }
  std::error_code ec;
  if (fs::exists(to, ec)) return Status::AlreadyExists(to + " exists: a backup goes into a new directory");
  const fs::path target = fs::absolute(to, ec);
  if (ec || !fs::is_directory(target.parent_path(), ec)) {
    return Status::InvalidArgument("the directory a backup goes into must exist: " + target.parent_path().string());
  }
  BackupReport report;
  report.dir = target.string();
  report.created = from.clock->now();
  auto written = write_backup_into(from, target, std::move(report));
  if (!written.ok()) fs::remove_all(target, ec);  // nothing half-written claims to be a backup
  return written;
}

Result<RestoreReport> restore_backup(const std::string& from, const std::string& data_dir,
                                     const engine::privacy::KeyEncryptionKey* kek) {
  const fs::path source(from);
  std::ifstream in(source / kManifest, std::ios::binary);
  if (!in) {
    return Status::NotFound(from + " holds no " + kManifest + ": it is not a backup, or one that did not finish");
  }
  std::stringstream text;
  text << in.rdbuf();
  json::error_code jec;
  const json::value manifest = json::parse(text.str(), jec);
  const json::object* m = jec ? nullptr : manifest.if_object();
  const json::value* format = m ? m->if_contains("format") : nullptr;
  if (!format || !format->is_string() || format->as_string() != kBackupFormat) {
    return Status::InvalidArgument((source / kManifest).string() + " is not a manifest of format " + kBackupFormat);
  }
  const json::value* events = m->if_contains("events");
  const json::value* head = m->if_contains("head_hash");
  if (!events || !events->is_int64() || !head || !head->is_string()) {
    return Status::InvalidArgument((source / kManifest).string() + " lacks events or head_hash");
  }

  std::error_code ec;
  const fs::path target = fs::absolute(data_dir, ec);
  if (fs::exists(target, ec) && !fs::is_empty(target, ec)) {
    return Status::AlreadyExists(data_dir + " is not empty: restore into a new or empty directory (move the old one "
                                 "aside first)");
  }
  const fs::path staging = target.string() + ".restoring";
  fs::remove_all(staging, ec);  // what an interrupted restore left
  fs::create_directories(staging, ec);
  if (ec) return io_error("creating " + staging.string(), ec);
  fs::permissions(staging, fs::perms::owner_all, fs::perm_options::replace, ec);
  auto restore = [&]() -> Result<RestoreReport> {
    for (const char* part : {kLog, kKeys, kTokens, kCheckpoints}) {
      OTINISH_RETURN_IF_ERROR(copy_if_present(source / part, staging / part));
    }
    OTINISH_RETURN_IF_ERROR(sync_tree(staging));
    OTINISH_ASSIGN_OR_RETURN(const Verified v, verify_copy((staging / kLog).string()));
    if (v.events != static_cast<std::uint64_t>(events->as_int64()) || to_hex(v.head_hash) != head->as_string()) {
      return Status::Corruption("the restored log (" + std::to_string(v.events) + " events, head " +
                                to_hex(v.head_hash) + ") is not the one the manifest describes (" +
                                std::to_string(events->as_int64()) + " events, head " +
                                std::string(head->as_string()) + ")");
    }
    RestoreReport r{v.events, v.head_hash, fs::exists(staging / kKeys)};
    if (kek != nullptr && r.key_store) {
      OTINISH_RETURN_IF_ERROR(open_key_copy((staging / kKeys).string(), *kek).status());
    }
    // Verifying opened the copies, which writes RocksDB's own files: sync again before the rename.
    OTINISH_RETURN_IF_ERROR(sync_tree(staging));
    fs::remove(target, ec);  // an empty directory, if any
    fs::rename(staging, target, ec);
    if (ec) return io_error("renaming " + staging.string() + " to " + target.string(), ec);
    OTINISH_RETURN_IF_ERROR(sync_tree(target));
    return r;
  };
  auto restored = restore();
  if (!restored.ok()) fs::remove_all(staging, ec);
  return restored;
}

}  // namespace otinish::api
