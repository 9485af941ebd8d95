// engine/privacy/erasure.h: erasing applicants (crypto-shredding) while the log keeps every event.
//
// erase_applicants() runs three steps, each durable before the next:
//   1. the key store marks the applicants erasing (their keys are never handed out again; the identity index
//      forgets them), keeping the request with the mark;
//   2. each appeal of each applicant gets an ApplicantErased event (idempotency key "erase-applicant:<id>:<appeal>",
//      so a repeated step writes nothing twice). The appeals are found in the log (each AppealRegistered names its
//      sealed applicant's id): one pass over the log per request, about 0.4 s per million events, unless the
//      caller already knows them (a retention run does);
//   3. the key store destroys the keys and purges (flush and compaction: the wrapped keys are gone from its live
//      files, its WAL and its SST files).
// A crash anywhere leaves the erasure pending in the key store; finish_interrupted_erasures() (run by the
// server at start and by every command that opens the key store for writing) completes it as it was asked.
// So after a restart either nothing happened (the crash came before step 1) or the whole erasure did.
//
// The appeals keep their lifecycle, SLA history and scorecards; only the sealed applicant can no longer be
// opened (AeadApplicantSealer::open says kNotFound "applicant ... was erased").
//
// Thread-safety: thread-safe (the key store and the log are).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/privacy/key_store.h"
#include "store/event_store.h"

namespace otinish::engine::privacy {

// The longest reason (and rule id) an erasure takes, in bytes: it goes into one event per appeal.
inline constexpr std::size_t kMaxErasureReason = 500;

struct ErasureRequest {
  std::vector<std::string> applicant_ids;
  std::string reason;  // REQUIRED: why, in words an auditor reads ("request of the applicant", "retention: ...")
  std::string rule;    // the retention rule, when a rule erases
  store::Actor actor;  // who asked (the privacy officer's token, or "retention")
  // The appeals of each applicant, when the caller knows them (a retention plan does); the others are found in
  // the log.
  std::map<std::string, std::vector<std::string>> known_appeals;
};

struct ErasedApplicant {
  std::string applicant_id;
  std::vector<std::string> appeals;  // the appeals whose streams record the erasure
  bool already_erased = false;       // erased before this request: nothing was written
};

// Errors: kInvalidArgument (no ids, an empty or oversized reason), kNotFound (an unknown applicant id: nothing is erased),
// the key store's and the log's (the erasure then stays pending and is finished later).
Result<std::vector<ErasedApplicant>> erase_applicants(KeyStore& keys, store::EventStore& log,
                                                      const ErasureRequest& request);

// Finishes every erasure a crash interrupted. Returns how many applicants it finished.
Result<std::size_t> finish_interrupted_erasures(KeyStore& keys, store::EventStore& log);

// The applicant id an AppealRegistered event names (its sealed key id); empty for a plain (scheme 0) applicant.
// Errors: kCorruption (not an AppealRegistered, or it does not decode).
Result<std::string> applicant_of(const store::RecordedEvent& registered);
// The same for an appeal, read from the log. Errors: kNotFound (no such appeal), kCorruption.
Result<std::string> applicant_of(const store::EventStore& log, std::string_view appeal_id);

// Calls visit(appeal id, its sealed applicant) for every appeal registered in the log at position `from` or
// later, in the log's order, until visit returns an error, which is returned. Errors: the log's, kCorruption (a
// registration that does not decode).
Status for_each_registration(const store::EventStore& log, std::uint64_t from,
                             const std::function<Status(std::string_view appeal_id, const SealedApplicant&)>& visit);

// The appeals of each of `applicant_ids`, in number order, from one pass over the log.
Result<std::map<std::string, std::vector<std::string>>> appeals_of(const store::EventStore& log,
                                                                   const std::vector<std::string>& applicant_ids);

}  // namespace otinish::engine::privacy
