// engine/proof/evidence.h: an evidence bundle: everything needed to check one appeal's history offline, without
// the server or its data directory (docs/evidence.md is the normative description, for verifiers in other
// languages).
//
// A bundle is one JSON object: the signed checkpoint it is proven against, the appeal's events (the stored
// envelope bytes, each with its RFC 6962 inclusion proof in the tree of the checkpoint's size), and the rule-set
// and calendar publications its SLA decisions cite (also with inclusion proofs). Verifying it checks the
// checkpoint's signature, each envelope's hash, each inclusion proof, that the appeal's versions run 1, 2, 3, ...
// without a gap, and that every rule set and calendar cited was published in the log before the decision citing
// it; then it prints the appeal's timeline with each decision's rule.
//
// What it cannot show: that no later version of the appeal was left out (the tree orders the whole log; it
// commits to no per-appeal index). The bundle states its last version and the checkpoint's size; a newer
// bundle, or the server's stream, shows whether more followed.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/proof/checkpoint.h"
#include "engine/views.h"
#include "store/event_store.h"

namespace otinish::engine::proof {

inline constexpr std::string_view kEvidenceFormat = "otinish-evidence/1";

// The bundle of `appeal_id` against `checkpoint` (a signed checkpoint of this log; its size must not pass the
// head). Events after the checkpoint's size are left out (a newer checkpoint includes them).
// Errors: kNotFound (no such appeal up to that size), kInvalidArgument (a malformed checkpoint or one of
// another log: its root is not this log's root at its size), the store's.
Result<std::string> make_evidence(const store::EventStore& store, std::string_view appeal_id,
                                  std::string_view checkpoint);

struct EvidenceReport {
  bool ok = false;
  std::string problem;  // the first thing that failed (when !ok)
  std::string appeal_id;
  Checkpoint checkpoint;
  std::vector<std::string> signed_by;
  std::vector<TimelineEntry> timeline;  // the appeal's events, described (when ok)
  std::size_t publications = 0;         // rule sets and calendars cited, all proven
  std::string to_string() const;        // the timeline, then "ok: ..." or "FAILED: ..."
};

// Checks a bundle with the log's verifier key (and witnesses' keys: `required` of `verifiers` must have
// signed the checkpoint). Never needs a data directory. A malformed or altered bundle is a report with ok
// false naming what failed, not an error.
EvidenceReport verify_evidence(std::string_view bundle, std::span<const NoteVerifier> verifiers,
                               std::size_t required = 1);

}  // namespace otinish::engine::proof
