#include "engine/proof/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <fstream>
#include <sstream>

#include "common/secret.h"

namespace otinish::engine::proof {

namespace fs = std::filesystem;
namespace merkle = store::merkle;

std::string Checkpoint::text() const {
  std::string t = origin + "\n" + std::to_string(size) + "\n" + base64(root) + "\n";
  for (const auto& e : extensions) t += e + "\n";
  return t;
}

Result<Checkpoint> parse_checkpoint(std::string_view text) {
  auto bad = [](std::string what) { return Status::InvalidArgument("not a checkpoint: " + what); };
  if (text.empty() || text.back() != '\n') return bad("the text does not end in a newline");
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start < text.size();) {
    const auto nl = text.find('\n', start);
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  if (lines.size() < 3) return bad("fewer than three lines (origin, size, root)");
  Checkpoint c;
  c.origin = std::string(lines[0]);
  if (c.origin.empty()) return bad("the origin line is empty");
  const std::string_view size = lines[1];
  if (size.empty() || size.size() > 20 || (size.size() > 1 && size[0] == '0') ||
      size.find_first_not_of("0123456789") != std::string_view::npos) {
    return bad("the size line '" + std::string(size.substr(0, 30)) + "' is not a decimal number");
  }
  errno = 0;
  c.size = std::strtoull(std::string(size).c_str(), nullptr, 10);
  if (errno == ERANGE) return bad("the size is too large");
  std::string root;
  if (!from_base64(lines[2], &root) || root.size() != 32) return bad("the root line is not base64 of 32 bytes");
  std::memcpy(c.root.data(), root.data(), 32);
  for (std::size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) return bad("an extension line is empty");
    c.extensions.emplace_back(lines[i]);
  }
  return c;
}

Result<OpenedCheckpoint> open_checkpoint(std::string_view bytes, std::span<const NoteVerifier> verifiers,
                                         std::size_t required) {
  OpenedCheckpoint out;
  if (required == 0) return Status::InvalidArgument("at least one signature must be required");
  OTINISH_ASSIGN_OR_RETURN(out.note, parse_signed_note(bytes));
  OTINISH_ASSIGN_OR_RETURN(out.signed_by, verify_note(out.note, verifiers));
  if (out.signed_by.size() < required) {
    std::string names;
    for (const auto& v : verifiers) names += (names.empty() ? "" : ", ") + v.name();
    return Status::FailedPrecondition("the checkpoint carries " + std::to_string(out.signed_by.size()) +
                                      " valid signature(s) of the " + std::to_string(verifiers.size()) +
                                      " key(s) given (" + names + "); " + std::to_string(required) + " required");
  }
  OTINISH_ASSIGN_OR_RETURN(out.checkpoint, parse_checkpoint(out.note.text));
  return out;
}

Result<std::string> sign_checkpoint(const store::EventStore& store, std::string_view origin, const NoteSigner& signer,
                                    std::optional<std::uint64_t> size) {
  Checkpoint c;
  c.origin = std::string(origin);
  if (c.origin.empty() || c.origin.find('\n') != std::string::npos) {
    return Status::InvalidArgument("a checkpoint's origin is one non-empty line");
  }
  c.size = size.value_or(store.head_position());
  OTINISH_ASSIGN_OR_RETURN(c.root, store.tree_root(c.size));
  SignedNote note{c.text(), {}};
  note.signatures.push_back(signer.sign(note.text));
  return note.format();
}

Result<std::string> cosign(std::string_view bytes, const NoteSigner& signer) {
  OTINISH_ASSIGN_OR_RETURN(SignedNote note, parse_signed_note(bytes));
  OTINISH_RETURN_IF_ERROR(parse_checkpoint(note.text).status());
  std::erase_if(note.signatures,
                [&](const NoteSignature& s) { return s.name == signer.name() && s.key_hash == signer.key_hash(); });
  note.signatures.push_back(signer.sign(note.text));
  return note.format();
}

namespace {

std::string file_name(std::uint64_t size) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu.ckpt", static_cast<unsigned long long>(size));
  return buf;
}

Result<std::string> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

Result<std::vector<std::uint64_t>> CheckpointDirectory::sizes() const {
  std::vector<std::uint64_t> out;
  std::error_code ec;
  if (!fs::exists(path_, ec)) return out;
  for (const auto& e : fs::directory_iterator(path_, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() != 25 || !name.ends_with(".ckpt")) continue;  // temporary files and strays
    out.push_back(std::strtoull(name.substr(0, 20).c_str(), nullptr, 10));
  }
  if (ec) return Status::IOError("cannot list " + path_ + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::string> CheckpointDirectory::at(std::uint64_t size) const {
  auto bytes = read_all(fs::path(path_) / file_name(size));
  if (!bytes.ok()) return Status::NotFound("no checkpoint of size " + std::to_string(size) + " is kept in " + path_);
  return bytes;
}

Result<std::string> CheckpointDirectory::latest() const {
  OTINISH_ASSIGN_OR_RETURN(auto all, sizes());
  if (all.empty()) return Status::NotFound("no checkpoint has been signed yet (" + path_ + " is empty)");
  return at(all.back());
}

Status CheckpointDirectory::write(std::uint64_t size, std::string_view bytes) const {
  std::error_code ec;
  fs::create_directories(path_, ec);
  if (ec) return Status::IOError("cannot create " + path_ + ": " + ec.message());
  const std::string final_path = (fs::path(path_) / file_name(size)).string();
  const std::string tmp = final_path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot create " + tmp + ": " + std::strerror(errno));
  const bool written = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!written) return Status::IOError("cannot write " + tmp + ": " + std::strerror(err));
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    return Status::IOError("cannot rename " + tmp + ": " + std::strerror(errno));
  }
  // The rename is durable once the directory is synced.
  const int dir = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return Status::Ok();
}

Result<std::size_t> CheckpointDirectory::prune(std::chrono::system_clock::time_point now,
                                               std::chrono::hours keep_all) const {
  OTINISH_ASSIGN_OR_RETURN(auto all, sizes());
  if (all.size() <= 1) return std::size_t{0};
  // Newest first: the first seen of each day is the one kept.
  std::set<std::int64_t> days_kept;
  std::size_t removed = 0;
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    const fs::path p = fs::path(path_) / file_name(*it);
    std::error_code ec;
    const auto written = std::chrono::file_clock::to_sys(fs::last_write_time(p, ec));
    if (ec || it == all.rbegin() || now - written < keep_all) continue;
    const std::int64_t day = std::chrono::floor<std::chrono::days>(written).time_since_epoch().count();
    if (days_kept.insert(day).second) continue;
    if (fs::remove(p, ec)) ++removed;
  }
  return removed;
}

std::string ConsistencyReport::to_string() const {
  if (ok) {
    return "ok: the log of " + std::to_string(log_size) + " events extends the checkpoint of size " +
           std::to_string(checkpoint_size) + " (consistency proof of " + std::to_string(proof.size()) +
           " hashes verified)";
  }
  std::string s = "FAILED: the log does not extend the checkpoint of size " + std::to_string(checkpoint_size) + ": " +
                  problem;
  if (first_differing_size != 0) {
    s += "; the first size where they differ is " + std::to_string(first_differing_size);
    s += last_matching_size != 0
             ? " (the kept checkpoint of size " + std::to_string(last_matching_size) + " still matches: the change lies "
               "in positions " + std::to_string(last_matching_size + 1) + ".." + std::to_string(first_differing_size) + ")"
             : " (no earlier kept checkpoint matches: the change lies in positions 1.." +
                   std::to_string(first_differing_size) + ")";
  }
  return s;
}

Result<ConsistencyReport> check_consistency(const store::EventStore& store, const Checkpoint& checkpoint,
                                            const CheckpointDirectory* kept) {
  ConsistencyReport r;
  r.checkpoint_size = checkpoint.size;
  r.log_size = store.head_position();
  if (checkpoint.size > r.log_size) {
    r.problem = "the log holds only " + std::to_string(r.log_size) + " events (events were lost, or this is another log)";
    return r;
  }
  OTINISH_ASSIGN_OR_RETURN(merkle::Hash root, store.tree_root(checkpoint.size));
  if (root != checkpoint.root) {
    r.problem = "its root at size " + std::to_string(checkpoint.size) + " is " + merkle::to_hex(root) +
                ", the checkpoint's is " + merkle::to_hex(checkpoint.root) + " (events up to then were rewritten)";
    r.first_differing_size = checkpoint.size;
    if (kept != nullptr) {
      auto sizes = kept->sizes();
      if (sizes.ok()) {
        for (std::uint64_t size : *sizes) {
          if (size > checkpoint.size) break;
          auto bytes = kept->at(size);
          if (!bytes.ok()) continue;
          auto note = parse_signed_note(*bytes);
          if (!note.ok()) continue;
          auto c = parse_checkpoint(note->text);
          if (!c.ok()) continue;
          auto now = store.tree_root(size);
          if (now.ok() && *now == c->root) {
            r.last_matching_size = size;
          } else {
            r.first_differing_size = size;
            break;
          }
        }
      }
    }
    return r;
  }
  OTINISH_ASSIGN_OR_RETURN(merkle::Hash head_root, store.tree_root(r.log_size));
  OTINISH_ASSIGN_OR_RETURN(r.proof, store.consistency_proof(checkpoint.size, r.log_size));
  if (!merkle::verify_consistency(checkpoint.size, r.log_size, checkpoint.root, head_root, r.proof)) {
    r.problem = "the consistency proof to size " + std::to_string(r.log_size) + " does not verify (the stored tree is damaged: run `otinish verify`)";
    r.proof.clear();
    return r;
  }
  r.ok = true;
  return r;
}

Result<NoteSigner> load_signer(std::string_view spec, std::string_view data_dir) {
  std::string chosen(spec);
  if (chosen.empty()) {
    if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY"); dir && fs::exists(fs::path(dir) / "otinish-checkpoint-key")) {
      chosen = "credential:otinish-checkpoint-key";
    } else if (std::getenv("OTINISH_CHECKPOINT_KEY")) {
      chosen = "env:OTINISH_CHECKPOINT_KEY";
    } else {
      return Status::NotFound("no checkpoint signing key: pass --checkpoint-key file:PATH (see `otinish checkpoint "
                              "keygen`), set OTINISH_CHECKPOINT_KEY, or give the systemd credential "
                              "otinish-checkpoint-key");
    }
  }
  OTINISH_ASSIGN_OR_RETURN(SecretText secret, load_secret(chosen, "checkpoint signing key", data_dir));
  auto signer = NoteSigner::parse(secret.text);
  if (!signer.ok()) return Status::InvalidArgument(secret.source + ": " + signer.status().message());
  return signer;
}

}  // namespace otinish::engine::proof
