// api/http/auth.h: API tokens, roles, and what each role may do.
//
// A token is "otn_<id>_<secret>": <id> (16 hex) names it in logs and for revocation, <secret> is 32 random
// bytes (libsodium) in hex. Only the BLAKE2b-256 of the whole token is stored, in an append-only JSON Lines
// file (`<data>/tokens.jsonl`, format in docs/http.md): a stolen file gives no usable token. `otinish token
// create` appends to the same file the server reads; the server notices the change at the next request, so a
// created or revoked token takes effect without a restart.
//
// Roles (DESIGN.md, the three desks of a 109 centre and their overseers):
//   operator    registers appeals, answers on first contact, sends for review, calls back, closes
//   inspector   checks quality, classifies, routes to an agency, returns to the operator, merges duplicates
//   controller  follows execution: reassigns, grants extensions, reopens, closes; reads scorecards
//   agency      staff of one agency: accepts, works, holds, resolves; sees only its agency's appeals
//   admin       rules and calendars (and tokens, on the command line); may erase an applicant; no appeal data
//   auditor     reads everything but personal data (appeals, timelines, the event log, access logs, metrics),
//               changes nothing
//   public      the anonymised public feed only
//   privacy_officer  the data-protection officer: reads appeals, the applicant's data (with a stated purpose)
//               and who read it; erases applicants
//   civic_app   a civic app (a city portal, a chat bot) acting for residents: registers appeals, as an operator
//               does and with the same checks (POST /v1/appeals, Open311's POST requests), and reads the
//               anonymised public data (the feed, Open311's requests, proofs); no personal data, no commands
// Personal data (the applicant's name, phone and address) is read only through GET /v1/appeals/{id}/applicant,
// by operator, controller and privacy_officer (the desks that call the applicant back, and the officer), each
// read with a stated purpose and recorded.
//
// Thread-safety: TokenStore is thread-safe; the rest are pure functions.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/hash.h"
#include "common/status.h"
#include "common/time.h"
#include "engine/lifecycle.h"

namespace otinish::api {

enum class Role : std::uint8_t {
  kOperator, kInspector, kController, kAgency, kAdmin, kAuditor, kPublic, kPrivacyOfficer, kCivicApp
};
inline constexpr Role kAllRoles[] = {Role::kOperator, Role::kInspector, Role::kController,
                                     Role::kAgency,   Role::kAdmin,     Role::kAuditor,
                                     Role::kPublic,   Role::kPrivacyOfficer, Role::kCivicApp};

std::string_view to_string(Role r) noexcept;
// Errors: kInvalidArgument listing the roles.
Result<Role> parse_role(std::string_view s);

// What a request may need besides running a command.
enum class Permission : std::uint8_t {
  kRegisterAppeal,  // POST /v1/appeals, POST /open311/v2/requests.json
  kReadAppeals,     // appeals, lists, timelines (an agency: its own appeals only)
  kReadEvents,      // the global event feed and its live stream
  kReadScorecards,  // agency scorecards (an agency: its own)
  kReadPublicFeed,  // the anonymised feed and Open311's services and requests
  kReadRules,       // GET /v1/rules
  kWriteRules,      // PUT /v1/rules
  kReadMetrics,     // GET /metrics
  kRebuildViews,    // POST /v1/projections/{name}/rebuild
  kReadPersonalData,  // GET /v1/appeals/{id}/applicant (with Access-Purpose; each read is recorded)
  kReadAccessLog,     // GET /v1/appeals/{id}/access-log
  kEraseApplicants,   // DELETE /v1/applicants/{id}
  kReadProofs,        // GET /v1/checkpoint, /v1/proofs/* (hashes only: every role)
  kReadEvidence,      // GET /v1/appeals/{id}/evidence
  kWriteBackups,      // POST /v1/backups
};
inline constexpr Permission kAllPermissions[] = {
    Permission::kRegisterAppeal,   Permission::kReadAppeals,   Permission::kReadEvents,
    Permission::kReadScorecards,   Permission::kReadPublicFeed, Permission::kReadRules,
    Permission::kWriteRules,       Permission::kReadMetrics,   Permission::kRebuildViews,
    Permission::kReadPersonalData, Permission::kReadAccessLog, Permission::kEraseApplicants,
    Permission::kReadProofs,       Permission::kReadEvidence,  Permission::kWriteBackups};
// In words, for error messages: "register appeals".
std::string_view to_string(Permission p) noexcept;
// A stable snake_case name, for clients that test for a permission (GET /v1/session): "register_appeals".
std::string_view permission_key(Permission p) noexcept;

bool role_has(Role role, Permission p) noexcept;
// Whether `role` may send `command` (to an appeal it can see). No role may send apply_parent_resolution (the
// engine issues it) or register (that is kRegisterAppeal).
bool role_may_run(Role role, engine::CommandKind command) noexcept;

// Who is calling: the token's id, role and (for kAgency) agency.
struct Principal {
  std::string token_id;
  Role role = Role::kPublic;
  std::string agency;
};

struct TokenRecord {
  std::string id;  // 16 hex characters
  Role role = Role::kPublic;
  std::string agency;  // non-empty exactly for kAgency
  std::string label;   // who it is for, free text
  Timestamp created_at{};
  bool revoked = false;
  std::string hash_hex;  // BLAKE2b-256 of the full token
};

class TokenStore {
 public:
  // Opens the token file at `path` (it need not exist yet: the first create() makes it).
  // Errors: kCorruption naming the line of a file that does not parse; kIOError.
  static Result<std::unique_ptr<TokenStore>> open(std::string path, const Clock& clock = SystemClock::instance());

  // Creates a token and appends it (fsynced). Returns the record and the token, which is not stored and cannot
  // be shown again. Errors: kInvalidArgument (kAgency without an agency, an agency for another role, a
  // malformed agency code); kIOError.
  struct Created {
    TokenRecord record;
    std::string token;
  };
  Result<Created> create(Role role, std::string agency, std::string label);

  // Revokes by id (fsynced). Errors: kNotFound; kFailedPrecondition if already revoked; kIOError.
  Status revoke(std::string_view id);

  // The principal of a bearer token; nullopt if the token is unknown, malformed or revoked. Re-reads the file
  // when another process changed it.
  std::optional<Principal> authenticate(std::string_view token);

  // Every token ever created, in creation order.
  std::vector<TokenRecord> list();

 private:
  TokenStore(std::string path, const Clock& clock) : path_(std::move(path)), clock_(clock) {}
  Status reload_if_changed();  // REQUIRES: mu_ held exclusively
  Status append_line(const std::string& line);

  const std::string path_;
  const Clock& clock_;
  std::shared_mutex mu_;
  std::vector<TokenRecord> records_;                          // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::size_t> by_hash_;     // GUARDED_BY(mu_): hash hex -> index
  std::atomic<std::uint64_t> file_stamp_{0};  // size, mtime and inode of the file last read (written under mu_)
};

// Hash of a token as stored.
std::string token_hash_hex(std::string_view token);

// The id a well-formed token names ("otn_<id>_<secret>": its 16 hex digits), whether or not the token is known;
// "" for anything else. Safe to log: the id is not secret.
std::string token_id_of(std::string_view token);

}  // namespace otinish::api
