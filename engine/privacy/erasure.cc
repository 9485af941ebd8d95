#include "engine/privacy/erasure.h"

#include <algorithm>

#include "engine/events.h"
#include "engine/privacy/privacy_events.h"
#include "engine/serialization.h"

namespace otinish::engine::privacy {

namespace {

// The request as kept with the erasing mark (cereal bytes; no personal data).
struct StoredRequest {
  std::string reason, rule, user, role;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(reason, rule, user, role);
  }
};

// An ApplicantErased in each appeal. Only the last append waits for the fsync; it covers every earlier one.
Status record_erasures(store::EventStore& log, const std::vector<ErasedApplicant>& erased, const ErasureRequest& r) {
  std::size_t left = 0;
  for (const ErasedApplicant& a : erased) left += a.already_erased ? 0 : a.appeals.size();
  for (const ErasedApplicant& a : erased) {
    if (a.already_erased) continue;
    for (const std::string& appeal : a.appeals) {
      store::EventData e = encode_privacy_event(ApplicantErased{a.applicant_id, r.reason, r.rule});
      e.actor = r.actor;
      store::AppendOptions o;
      o.idempotency_key = "erase-applicant:" + a.applicant_id + ":" + appeal;
      o.wait_for_sync = --left == 0;
      OTINISH_RETURN_IF_ERROR(
          log.append(std::string(kAppealStreamPrefix) + appeal, store::ExpectedVersion::any(), {&e, 1}, o).status());
    }
  }
  return Status::Ok();
}

}  // namespace

namespace {

// The sealed applicant an AppealRegistered event names.
Result<SealedApplicant> sealed_applicant_of(const store::RecordedEvent& registered) {
  OTINISH_ASSIGN_OR_RETURN(AppealEvent ev, decode_event(registered.type, registered.schema_version, registered.payload));
  auto* reg = std::get_if<AppealRegistered>(&ev.body);
  if (!reg) return Status::Corruption(registered.stream + " does not begin with AppealRegistered");
  return std::move(reg->applicant);
}

}  // namespace

Result<std::string> applicant_of(const store::RecordedEvent& registered) {
  OTINISH_ASSIGN_OR_RETURN(SealedApplicant sealed, sealed_applicant_of(registered));
  return sealed.scheme == 0 ? std::string() : std::move(sealed.key_id);
}

Status for_each_registration(const store::EventStore& log, std::uint64_t from,
                             const std::function<Status(std::string_view, const SealedApplicant&)>& visit) {
  Status bad;
  OTINISH_RETURN_IF_ERROR(log.scan(from, UINT64_MAX, [&](const store::RecordedEvent& e) {
                               if (e.stream_version != 1 || e.type != "AppealRegistered" ||
                                   !e.stream.starts_with(kAppealStreamPrefix)) {
                                 return true;
                               }
                               auto sealed = sealed_applicant_of(e);
                               bad = sealed.ok() ? visit(std::string_view(e.stream).substr(kAppealStreamPrefix.size()), *sealed)
                                                 : sealed.status();
                               return bad.ok();
                             }).status());
  return bad;
}

Result<std::string> applicant_of(const store::EventStore& log, std::string_view appeal_id) {
  OTINISH_ASSIGN_OR_RETURN(auto first, log.read_stream(std::string(kAppealStreamPrefix) + std::string(appeal_id), 1,
                                                       store::Direction::kForward, 1));
  if (first.empty()) return Status::NotFound("no appeal " + std::string(appeal_id));
  return applicant_of(first[0]);
}

Result<std::map<std::string, std::vector<std::string>>> appeals_of(const store::EventStore& log,
                                                                   const std::vector<std::string>& applicant_ids) {
  std::map<std::string, std::vector<std::string>> out;
  for (const std::string& id : applicant_ids) out[id];
  OTINISH_RETURN_IF_ERROR(for_each_registration(log, 1, [&](std::string_view appeal, const SealedApplicant& sealed) {
    if (sealed.scheme == 0) return Status::Ok();  // plain: no applicant id
    if (auto it = out.find(sealed.key_id); it != out.end()) it->second.emplace_back(appeal);
    return Status::Ok();
  }));
  for (auto& [id, appeals] : out) std::sort(appeals.begin(), appeals.end());
  return out;
}

namespace {

// Step 2's list: the appeals of each applicant to erase, known or found in the log.
Status find_appeals(const store::EventStore& log, const ErasureRequest& r, std::vector<ErasedApplicant>& out) {
  std::vector<std::string> unknown;
  for (ErasedApplicant& a : out) {
    if (a.already_erased) continue;
    if (auto it = r.known_appeals.find(a.applicant_id); it != r.known_appeals.end()) {
      a.appeals = it->second;
    } else {
      unknown.push_back(a.applicant_id);
    }
  }
  if (unknown.empty()) return Status::Ok();
  OTINISH_ASSIGN_OR_RETURN(auto found, appeals_of(log, unknown));
  for (ErasedApplicant& a : out) {
    if (auto it = found.find(a.applicant_id); it != found.end()) a.appeals = std::move(it->second);
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<ErasedApplicant>> erase_applicants(KeyStore& keys, store::EventStore& log,
                                                      const ErasureRequest& r) {
  if (r.applicant_ids.empty()) return Status::InvalidArgument("no applicant to erase");
  if (r.reason.empty()) return Status::InvalidArgument("an erasure needs a reason (the auditor reads it)");
  if (r.reason.size() > kMaxErasureReason || r.rule.size() > kMaxErasureReason) {
    return Status::InvalidArgument("an erasure's reason is " + std::to_string(r.reason.size()) + " bytes; at most " +
                                   std::to_string(kMaxErasureReason));
  }
  std::vector<ErasedApplicant> out;
  std::vector<std::string> to_erase;
  for (const std::string& id : r.applicant_ids) {
    const ApplicantKeyState s = keys.state(id);
    if (s == ApplicantKeyState::kUnknown) return Status::NotFound("no applicant " + id);
    out.push_back({id, {}, s == ApplicantKeyState::kErased});
    if (s != ApplicantKeyState::kErased) to_erase.push_back(id);
  }
  if (to_erase.empty()) return out;
  StoredRequest stored{r.reason, r.rule, r.actor.user, r.actor.role};
  OTINISH_RETURN_IF_ERROR(keys.begin_erasure(to_erase, to_bytes(stored)));
  OTINISH_RETURN_IF_ERROR(find_appeals(log, r, out));
  OTINISH_RETURN_IF_ERROR(record_erasures(log, out, r));
  OTINISH_RETURN_IF_ERROR(keys.finish_erasure(to_erase));
  OTINISH_RETURN_IF_ERROR(keys.purge());
  return out;
}

Result<std::size_t> finish_interrupted_erasures(KeyStore& keys, store::EventStore& log) {
  OTINISH_ASSIGN_OR_RETURN(auto pending, keys.pending_erasures());
  for (const auto& [id, bytes] : pending) {
    StoredRequest stored;
    OTINISH_RETURN_IF_ERROR(from_bytes(bytes, stored, "erasure request of " + id));
    ErasureRequest r{{id}, stored.reason, stored.rule, {stored.user, stored.role, ""}};
    std::vector<ErasedApplicant> done{{id, {}, false}};
    OTINISH_RETURN_IF_ERROR(find_appeals(log, r, done));
    OTINISH_RETURN_IF_ERROR(record_erasures(log, done, r));
    const std::string ids[] = {id};
    OTINISH_RETURN_IF_ERROR(keys.finish_erasure(ids));
  }
  if (!pending.empty()) OTINISH_RETURN_IF_ERROR(keys.purge());
  return pending.size();
}

}  // namespace otinish::engine::privacy
