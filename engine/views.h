// engine/views.h: the standard projections and their queries.
//
//   "appeals"    the current appeal view: one row per appeal, indexes by stage, category, topic, agency and
//                district; query_appeals() with filters, overdue and paging.
//   "timeline"   the audit timeline of each appeal: who, when, what, which rule (rule is filled by SLA events).
//   "public"     the anonymised public feed: category, topic, district, agency, stage, outcome. Never a name,
//                phone, exact address or free text.
//   "scorecards" per agency: assigned, resolved, on time (against known deadlines), average hours to resolve,
//                reopen rate, callback satisfaction; ranked only above a minimum sample.
//   "repeats"    repeat-appeal links: the same applicant on the same topic within a window. A sealed applicant
//                (scheme 1) is known by its applicant id (one person's appeals share it; the key store's
//                identity index gives it); the view never opens sealed data, so it is the same before and after
//                an erasure and in a rebuild. A plain applicant (scheme 0) is linked by phone and by address.
//                Keys are BLAKE2b digests: the view stores no phone or address.
//   "access"     who read each appeal's personal data (engine/privacy/access_log.h).
//
// Rows are cereal portable binary; keys are documented in docs/events.md ("Views").
//
// Thread-safety: the projections are stateless (thread-safe); the query functions are thread-safe given a
// ViewReader per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "engine/domain.h"
#include "engine/lifecycle.h"
#include "engine/projection.h"

namespace otinish::engine {

struct ViewsOptions {
  // Repeat links: an earlier appeal on the same topic by the same phone or at the same address within this
  // window makes the new one a repeat.
  std::chrono::hours repeat_window{24 * 30};
};

// The six standard projections, named as above.
std::vector<std::unique_ptr<Projection>> standard_projections(const ViewsOptions& options = {});
std::unique_ptr<Projection> make_appeals_projection();
std::unique_ptr<Projection> make_timeline_projection();
std::unique_ptr<Projection> make_public_feed_projection();
std::unique_ptr<Projection> make_scorecards_projection();
std::unique_ptr<Projection> make_repeats_projection(const ViewsOptions& options = {});

// ---- "appeals" ------------------------------------------------------------------------------------------------

struct AppealRow {
  std::string id;
  Stage stage = Stage::kRegistered;
  Category category = Category::kConsultation;
  std::string topic;
  Priority priority = Priority::kNormal;
  Channel channel = Channel::kPhone;
  std::string district;
  // The street or landmark without a house number (Location::street), as registered. "" in a row written before
  // the view kept it, until `projections rebuild appeals`.
  std::string street;
  std::string agency;
  Timestamp registered_at{}, updated_at{}, resolved_at{}, closed_at{};
  Timestamp due_at{};  // the earliest open deadline (SLA clocks, or an extension); 0 = none
  // Non-empty when due_at was computed across a provisional calendar year: what is provisional, e.g. "kz 2027
  // is provisional: kurban_ait, transfer_decree not published" (SlaClockEvent::provisional).
  std::string due_provisional;
  // The applicant's personal data was erased (ApplicantErased): the appeal stays, the person is gone.
  bool applicant_erased = false;
  // The most severe SLA rung fired since the earliest deadline was last set: "" (none), "warned" or "breached"
  // (a breach or an escalation). A queue marks the appeal by it.
  std::string sla_alert;
  Outcome outcome = Outcome::kNone;
  std::string parent;
  std::uint32_t children = 0;
  std::uint32_t reopen_count = 0;
  std::uint32_t redirect_count = 0;
  std::uint64_t version = 0;
  friend bool operator==(const AppealRow&, const AppealRow&) = default;
};

struct AppealQuery {
  std::optional<Stage> stage;
  std::optional<Category> category;
  std::optional<std::string> topic;
  std::optional<std::string> agency;
  std::optional<std::string> district;
  // Only appeals not yet resolved whose due_at is set and earlier than `now`.
  bool overdue_only = false;
  Timestamp now{};
  // Paging: rows come in appeal-id order; pass the previous page's next_after to continue.
  std::string after;
  std::size_t limit = 50;  // at most 10,000
};

struct AppealPage {
  std::vector<AppealRow> rows;
  std::string next_after;  // empty on the last page
};

// Errors: kInvalidArgument (limit 0 or over 10,000), kIOError, kCorruption (a row does not decode).
Result<AppealPage> query_appeals(const ViewReader& appeals, const AppealQuery& query);
// One appeal's row. Errors: kNotFound.
Result<AppealRow> get_appeal_row(const ViewReader& appeals, std::string_view id);

// ---- "timeline" -----------------------------------------------------------------------------------------------

struct TimelineEntry {
  std::uint64_t version = 0;
  std::uint64_t position = 0;
  Timestamp at{};
  std::string type;  // the event type, e.g. "AppealAssigned"
  std::string user, role, agency;
  Stage from = Stage::kRegistered, to = Stage::kRegistered;
  std::string summary;  // e.g. "assigned to city-roads"; never personal data
  std::string rule;     // the SLA rule behind it, when the event names one
  friend bool operator==(const TimelineEntry&, const TimelineEntry&) = default;
};
Result<std::vector<TimelineEntry>> read_timeline(const ViewReader& timeline, std::string_view appeal_id);
// One event of an appeal's stream as a timeline row: its summary in words and the rule behind it (an SLA
// decision's rule id, file:line, rule-set hash and calendar). `ev` is the event decoded (null for another
// module's event, e.g. SLA); `stage_before` the appeal's stage before it. The timeline projection, `otinish
// replay` and evidence bundles describe events with it.
void describe_appeal_event(const store::RecordedEvent& e, const AppealEvent* ev, Stage stage_before, TimelineEntry* t);

// ---- "public" -------------------------------------------------------------------------------------------------

struct PublicEntry {
  std::uint64_t position = 0;
  Timestamp at{};
  std::string appeal_id;
  std::string what;  // "registered", "assigned", "redirected", "resolved", "closed", "reopened", "merged"
  Category category = Category::kConsultation;
  std::string topic;
  std::string district;
  std::string agency;
  Stage stage = Stage::kRegistered;
  Outcome outcome = Outcome::kNone;
  friend bool operator==(const PublicEntry&, const PublicEntry&) = default;
};
// Entries with position > `after`, oldest first, at most `limit`.
Result<std::vector<PublicEntry>> read_public_feed(const ViewReader& feed, std::uint64_t after, std::size_t limit);

// ---- "scorecards" ---------------------------------------------------------------------------------------------

struct AgencyScorecard {
  std::string agency;
  std::uint64_t assigned = 0;         // appeals that reached the agency (assignments and redirects to it)
  std::uint64_t resolved = 0;
  std::uint64_t with_deadline = 0;    // resolved appeals whose deadline was known
  std::uint64_t on_time = 0;          // of those, resolved by the deadline
  std::uint64_t reopened = 0;
  std::uint64_t callbacks = 0;
  std::uint64_t satisfied = 0;
  double total_hours_to_resolve = 0;  // wall-clock hours from assignment to resolution (not working hours)

  double on_time_percent() const { return with_deadline ? 100.0 * on_time / with_deadline : 0; }
  double reopen_rate() const { return resolved ? static_cast<double>(reopened) / resolved : 0; }
  double satisfaction() const { return callbacks ? static_cast<double>(satisfied) / callbacks : 0; }
  double average_hours_to_resolve() const { return resolved ? total_hours_to_resolve / resolved : 0; }
  friend bool operator==(const AgencyScorecard&, const AgencyScorecard&) = default;
};
struct Scorecards {
  std::vector<AgencyScorecard> ranked;     // resolved >= min_sample, best first (on time %, then satisfaction)
  std::vector<AgencyScorecard> too_small;  // below the sample, by name: shown, not ranked
};
Result<Scorecards> read_scorecards(const ViewReader& scorecards, std::uint64_t min_sample = 30);

// ---- "repeats" ------------------------------------------------------------------------------------------------

struct RepeatLink {
  std::string appeal_id;
  std::string earlier_id;
  std::string reason;  // "same applicant and topic" or "same address and topic"
  friend bool operator==(const RepeatLink&, const RepeatLink&) = default;
};
// The earlier appeals `appeal_id` repeats (empty if none).
Result<std::vector<RepeatLink>> read_repeats(const ViewReader& repeats, std::string_view appeal_id);
// How many appeals are repeats.
Result<std::uint64_t> count_repeats(const ViewReader& repeats);

// Before registering: the newest appeals a registration would repeat, so a desk can say so while the resident
// is still on the line. `person` is what the view links by: a sealed applicant's id (the key store's find()
// for applicant_identity()), or a plain applicant's normalise_phone(); `address` is normalise_address() of a
// plain applicant's address (sealed applicants are linked by their id only). Either may be empty. An appeal
// counts when it was registered on `topic` no earlier than `now - window`. At most one per kind, newest first.
struct RepeatCandidate {
  std::string earlier_id;
  Timestamp at{};
  std::string reason;  // as RepeatLink::reason
};
Result<std::vector<RepeatCandidate>> find_repeat_candidates(const ViewReader& repeats, std::string_view person,
                                                            std::string_view address, std::string_view topic,
                                                            Timestamp now,
                                                            std::chrono::hours window = ViewsOptions{}.repeat_window);

// Every row of a view as (key, value) pairs, for comparing a live view with a rebuild.
Result<std::vector<std::pair<std::string, std::string>>> dump_view(const ViewReader& view);

}  // namespace otinish::engine
