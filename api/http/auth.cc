#include "api/http/auth.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <boost/json.hpp>
#include <sodium.h>

namespace otinish::api {

namespace json = boost::json;
using engine::CommandKind;

std::string_view to_string(Role r) noexcept {
  switch (r) {
    case Role::kOperator: return "operator";
    case Role::kInspector: return "inspector";
    case Role::kController: return "controller";
    case Role::kAgency: return "agency";
    case Role::kAdmin: return "admin";
    case Role::kAuditor: return "auditor";
    case Role::kPublic: return "public";
    case Role::kPrivacyOfficer: return "privacy_officer";
    case Role::kCivicApp: return "civic_app";
  }
  return "public";
}

Result<Role> parse_role(std::string_view s) {
  for (Role r : kAllRoles)
    if (to_string(r) == s) return r;
  return Status::InvalidArgument("unknown role '" + std::string(s) +
                                 "'; use one of operator, inspector, controller, agency, admin, auditor, public, "
                                 "privacy_officer, civic_app");
}

std::string_view to_string(Permission p) noexcept {
  switch (p) {
    case Permission::kRegisterAppeal: return "register appeals";
    case Permission::kReadAppeals: return "read appeals";
    case Permission::kReadEvents: return "read the event log";
    case Permission::kReadScorecards: return "read scorecards";
    case Permission::kReadPublicFeed: return "read the public feed";
    case Permission::kReadRules: return "read the rules";
    case Permission::kWriteRules: return "publish rules";
    case Permission::kReadMetrics: return "read metrics";
    case Permission::kRebuildViews: return "rebuild projections";
    case Permission::kReadPersonalData: return "read personal data";
    case Permission::kReadAccessLog: return "read access logs";
    case Permission::kReadProofs: return "read checkpoints and proofs";
    case Permission::kReadEvidence: return "read evidence bundles";
    case Permission::kEraseApplicants: return "erase applicants";
    case Permission::kWriteBackups: return "write backups";
  }
  return "?";
}

std::string_view permission_key(Permission p) noexcept {
  switch (p) {
    case Permission::kRegisterAppeal: return "register_appeals";
    case Permission::kReadAppeals: return "read_appeals";
    case Permission::kReadEvents: return "read_events";
    case Permission::kReadScorecards: return "read_scorecards";
    case Permission::kReadPublicFeed: return "read_public_feed";
    case Permission::kReadRules: return "read_rules";
    case Permission::kWriteRules: return "write_rules";
    case Permission::kReadMetrics: return "read_metrics";
    case Permission::kRebuildViews: return "rebuild_views";
    case Permission::kReadPersonalData: return "read_personal_data";
    case Permission::kReadAccessLog: return "read_access_logs";
    case Permission::kEraseApplicants: return "erase_applicants";
    case Permission::kReadProofs: return "read_proofs";
    case Permission::kReadEvidence: return "read_evidence";
    case Permission::kWriteBackups: return "write_backups";
  }
  return "?";
}

bool role_has(Role role, Permission p) noexcept {
  using P = Permission;
  // Checkpoints and proofs are hashes of the log, meant to be published: anyone may check them.
  if (p == P::kReadProofs) return true;
  switch (role) {
    case Role::kOperator:
      return p == P::kRegisterAppeal || p == P::kReadAppeals || p == P::kReadEvents || p == P::kReadPublicFeed ||
             p == P::kReadRules || p == P::kReadPersonalData;
    case Role::kInspector:
      return p == P::kReadAppeals || p == P::kReadEvents || p == P::kReadScorecards || p == P::kReadPublicFeed ||
             p == P::kReadRules;
    case Role::kController:
      return p == P::kReadAppeals || p == P::kReadEvents || p == P::kReadScorecards || p == P::kReadPublicFeed ||
             p == P::kReadRules || p == P::kReadPersonalData;
    case Role::kAgency:
      return p == P::kReadAppeals || p == P::kReadScorecards || p == P::kReadPublicFeed || p == P::kReadRules;
    case Role::kAdmin:
      return p == P::kReadRules || p == P::kWriteRules || p == P::kReadMetrics || p == P::kReadPublicFeed ||
             p == P::kRebuildViews || p == P::kEraseApplicants || p == P::kWriteBackups;
    case Role::kAuditor:
      return p == P::kReadAppeals || p == P::kReadEvents || p == P::kReadScorecards || p == P::kReadPublicFeed ||
             p == P::kReadRules || p == P::kReadMetrics || p == P::kReadAccessLog || p == P::kReadEvidence;
    case Role::kPublic:
      // Scorecards are aggregates per agency (no appeal, no person): what the public page charts.
      return p == P::kReadPublicFeed || p == P::kReadScorecards;
    case Role::kPrivacyOfficer:
      return p == P::kReadAppeals || p == P::kReadPublicFeed || p == P::kReadPersonalData || p == P::kReadAccessLog ||
             p == P::kEraseApplicants;
    case Role::kCivicApp:
      // A resident's own registration, then only what the public sees: it never reads an appeal's details.
      return p == P::kRegisterAppeal || p == P::kReadPublicFeed;
  }
  return false;
}

bool role_may_run(Role role, CommandKind c) noexcept {
  using K = CommandKind;
  switch (role) {
    case Role::kOperator:
      return c == K::kAnswerOnFirstContact || c == K::kClassify || c == K::kSendForReview ||
             c == K::kRecordCallback || c == K::kClose || c == K::kReopen || c == K::kMerge || c == K::kComment;
    case Role::kInspector:
      return c == K::kClassify || c == K::kReclassify || c == K::kReturnToOperator || c == K::kAssign ||
             c == K::kRedirect || c == K::kMerge || c == K::kComment;
    case Role::kController:
      return c == K::kReclassify || c == K::kAssign || c == K::kRedirect || c == K::kGrantExtension ||
             c == K::kReopen || c == K::kClose || c == K::kComment;
    case Role::kAgency:
      return c == K::kAccept || c == K::kStartWork || c == K::kHold || c == K::kResume ||
             c == K::kRequestExtension || c == K::kResolve || c == K::kRedirect || c == K::kComment;
    case Role::kAdmin:
    case Role::kAuditor:
    case Role::kPublic:
    case Role::kPrivacyOfficer:
    case Role::kCivicApp:
      return false;
  }
  return false;
}

std::string token_hash_hex(std::string_view token) { return to_hex(blake2b_256(token)); }

namespace {

std::uint64_t stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  std::uint64_t h = static_cast<std::uint64_t>(st.st_size);
  h = h * 1'000'003u ^ static_cast<std::uint64_t>(st.st_mtim.tv_sec);
  h = h * 1'000'003u ^ static_cast<std::uint64_t>(st.st_mtim.tv_nsec);
  h = h * 1'000'003u ^ static_cast<std::uint64_t>(st.st_ino);
  return h | 1;  // never 0 for an existing file
}

bool valid_agency_code(std::string_view a) {
  if (a.empty() || a.size() > 64) return false;
  for (char c : a)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  return to_hex({reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size()});
}

}  // namespace

Result<std::unique_ptr<TokenStore>> TokenStore::open(std::string path, const Clock& clock) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  std::unique_ptr<TokenStore> s(new TokenStore(std::move(path), clock));
  std::unique_lock lock(s->mu_);
  OTINISH_RETURN_IF_ERROR(s->reload_if_changed());
  return s;
}

Status TokenStore::reload_if_changed() {
  const std::uint64_t stamp = stamp_of(path_);
  if (stamp == file_stamp_.load(std::memory_order_acquire)) return Status::Ok();
  std::vector<TokenRecord> records;
  std::unordered_map<std::string, std::size_t> by_id;
  std::ifstream in(path_);
  if (stamp != 0 && !in) return Status::IOError("cannot read token file " + path_ + ": " + std::strerror(errno));
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    const std::string where = path_ + ":" + std::to_string(line_no);
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (ec || !v.is_object()) {
      // A torn last line (a crash mid-append) is ignored: its token was never shown to anyone.
      if (in.peek() == EOF) break;
      return Status::Corruption(where + ": not a JSON object; restore the token file from a backup");
    }
    const json::object& o = v.as_object();
    auto str = [&o](std::string_view k) {
      const json::value* f = o.if_contains(k);
      return f && f->is_string() ? std::string(f->as_string()) : std::string();
    };
    const std::string op = str("op");
    if (op == "create") {
      TokenRecord r;
      r.id = str("id");
      auto role = parse_role(str("role"));
      if (!role.ok()) return Status::Corruption(where + ": " + role.status().message());
      r.role = *role;
      r.agency = str("agency");
      r.label = str("label");
      r.hash_hex = str("hash");
      if (!parse_utc(str("created_at"), &r.created_at)) r.created_at = {};
      if (r.id.empty() || r.hash_hex.size() != 64) return Status::Corruption(where + ": token without id or hash");
      by_id[r.id] = records.size();
      records.push_back(std::move(r));
    } else if (op == "revoke") {
      auto it = by_id.find(str("id"));
      if (it != by_id.end()) records[it->second].revoked = true;
    } else {
      return Status::Corruption(where + ": unknown op '" + op + "'");
    }
  }
  by_hash_.clear();
  for (std::size_t i = 0; i < records.size(); ++i) by_hash_[records[i].hash_hex] = i;
  records_ = std::move(records);
  file_stamp_.store(stamp, std::memory_order_release);
  return Status::Ok();
}

namespace {

// Truncates the file after its last newline (nothing to do when it is empty or ends with one).
Status cut_torn_tail(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status::IOError(std::strerror(errno));
  off_t end = st.st_size;
  char buf[4096];
  while (end > 0) {
    const off_t from = end > static_cast<off_t>(sizeof buf) ? end - static_cast<off_t>(sizeof buf) : 0;
    const ssize_t n = ::pread(fd, buf, static_cast<std::size_t>(end - from), from);
    if (n != end - from) return Status::IOError(n < 0 ? std::strerror(errno) : "short read");
    for (ssize_t i = n - 1; i >= 0; --i) {
      if (buf[i] != '\n') continue;
      const off_t keep = from + i + 1;
      if (keep == st.st_size) return Status::Ok();
      if (::ftruncate(fd, keep) != 0) return Status::IOError(std::strerror(errno));
      return Status::Ok();
    }
    end = from;
  }
  if (st.st_size > 0 && ::ftruncate(fd, 0) != 0) return Status::IOError(std::strerror(errno));
  return Status::Ok();
}

}  // namespace

Status TokenStore::append_line(const std::string& line) {
  const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("cannot open token file " + path_ + ": " + std::strerror(errno));
  ::flock(fd, LOCK_EX);  // one writer at a time (the server and the command line may both write)
  // A torn last line (a crash mid-append; its token was never shown) is cut off first: appended to, it would
  // swallow this line, which the next load would then ignore as torn too (a revocation silently lost).
  if (Status cut = cut_torn_tail(fd); !cut.ok()) {
    ::close(fd);
    return Status::IOError("cannot repair token file " + path_ + ": " + cut.message());
  }
  const std::string data = line + "\n";
  const ssize_t n = ::write(fd, data.data(), data.size());
  const bool ok = n == static_cast<ssize_t>(data.size()) && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) return Status::IOError("cannot write token file " + path_ + ": " + std::strerror(err));
  return Status::Ok();
}

Result<TokenStore::Created> TokenStore::create(Role role, std::string agency, std::string label) {
  if (role == Role::kAgency && agency.empty()) {
    return Status::InvalidArgument("an agency token needs --agency CODE (the agency whose appeals it may see)");
  }
  if (role != Role::kAgency && !agency.empty()) {
    return Status::InvalidArgument("--agency applies only to --role agency");
  }
  if (!agency.empty() && !valid_agency_code(agency)) {
    return Status::InvalidArgument("agency code '" + agency + "' must be 1..64 letters, digits, '-', '_' or '.'");
  }
  Created c;
  c.record.id = random_hex(8);
  c.record.role = role;
  c.record.agency = std::move(agency);
  c.record.label = std::move(label);
  c.record.created_at = clock_.now();
  c.token = "otn_" + c.record.id + "_" + random_hex(32);
  c.record.hash_hex = token_hash_hex(c.token);
  json::object o{{"op", "create"},
                 {"id", c.record.id},
                 {"hash", c.record.hash_hex},
                 {"role", std::string(to_string(role))},
                 {"agency", c.record.agency},
                 {"label", c.record.label},
                 {"created_at", format_utc(c.record.created_at)}};
  std::unique_lock lock(mu_);
  OTINISH_RETURN_IF_ERROR(append_line(json::serialize(o)));
  OTINISH_RETURN_IF_ERROR(reload_if_changed());
  return c;
}

Status TokenStore::revoke(std::string_view id) {
  std::unique_lock lock(mu_);
  OTINISH_RETURN_IF_ERROR(reload_if_changed());
  const TokenRecord* found = nullptr;
  for (const auto& r : records_)
    if (r.id == id) found = &r;
  if (found == nullptr) return Status::NotFound("no token with id '" + std::string(id) + "'; `otinish token list` shows them");
  if (found->revoked) return Status::FailedPrecondition("token " + std::string(id) + " is already revoked");
  json::object o{{"op", "revoke"}, {"id", std::string(id)}, {"at", format_utc(clock_.now())}};
  OTINISH_RETURN_IF_ERROR(append_line(json::serialize(o)));
  return reload_if_changed();
}

std::string token_id_of(std::string_view token) {
  if (token.size() != 4 + 16 + 1 + 64 || token.substr(0, 4) != "otn_" || token[4 + 16] != '_') return "";
  const std::string_view id = token.substr(4, 16);
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return "";
  }
  return std::string(id);
}

std::optional<Principal> TokenStore::authenticate(std::string_view token) {
  if (token.size() != 4 + 16 + 1 + 64 || token.substr(0, 4) != "otn_") return std::nullopt;
  const std::string hash = token_hash_hex(token);
  if (stamp_of(path_) != file_stamp_.load(std::memory_order_acquire)) {
    std::unique_lock lock(mu_);
    // A file that cannot be read keeps the tokens known so far (logged by the caller's metrics as 401s).
    reload_if_changed().IgnoreError();
  }
  std::shared_lock lock(mu_);
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  const TokenRecord& r = records_[it->second];
  if (r.revoked) return std::nullopt;
  return Principal{.token_id = r.id, .role = r.role, .agency = r.agency};
}

std::vector<TokenRecord> TokenStore::list() {
  std::unique_lock lock(mu_);
  reload_if_changed().IgnoreError();
  return records_;
}

}  // namespace otinish::api
