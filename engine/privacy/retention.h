// engine/privacy/retention.h: personal data erased when the rules in force say its time is up.
//
// The rule set's `retention:` section (rules/rule_set.h RetentionRule) gives, per category, how long an
// applicant's personal data is kept after an appeal is closed. An applicant is due once every appeal of theirs
// is closed and past its period (a reopened appeal is open again and keeps the person); then the applicant is
// erased as a request would erase them (engine/privacy/erasure.h), with the rule cited in each ApplicantErased.
//
// plan_retention() is the pure part: what the rules would erase as of an instant, read from the log (it is what
// `otinish rules simulate` prints for a candidate rule set). RetentionService runs it on a timer against the
// rule set in force and erases what is due, in batches (each batch one key-store purge).
//
// Thread-safety: plan_retention and run_retention are thread-safe; RetentionService's methods are too.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "engine/privacy/key_store.h"
#include "engine/rule_registry.h"
#include "rules/rule_set.h"
#include "store/event_store.h"

namespace otinish::engine::privacy {

struct PlannedErasure {
  std::string applicant_id;
  std::vector<std::string> appeals;
  Timestamp due{};       // when the last of its appeals' periods ended
  std::string rule_id;   // the retention rule of the appeal whose period ended last
};

struct RetentionPlan {
  std::vector<PlannedErasure> due;              // by applicant id
  std::map<std::string, std::uint64_t> by_rule;  // applicants due per rule
  std::uint64_t applicants = 0;       // sealed applicants not yet erased
  std::uint64_t with_open_appeal = 0;  // kept: an appeal of theirs is not closed
  std::uint64_t not_yet_due = 0;       // kept: all closed, a period has not ended
  std::uint64_t no_rule = 0;           // kept: no retention rule matches an appeal of theirs
  std::optional<Timestamp> next_due;   // the earliest due instant after as_of, if any
  std::uint64_t scanned_to = 0;        // the last log position the plan read
};

// What `rules` would erase as of `as_of`, from the log (events recorded after `as_of` are ignored). Plain
// (unsealed) applicants are not counted: there is no key to destroy.
// Errors: the log's (kIOError), kCorruption for an appeal event that does not decode.
Result<RetentionPlan> plan_retention(const store::EventStore& log, const rules::RuleSet& rules, Timestamp as_of);

// A plan as text for people: totals, then per rule.
std::string format_retention_plan(const RetentionPlan& plan, const rules::RuleSet& rules, Timestamp as_of);

// The closing instant plus a retention period: days of 24 hours, or calendar months in Kazakhstan's time
// (UTC+5), a day past the month's end clamped to its last day.
Timestamp retention_end(Timestamp closed_at, const rules::Target& keep);

struct RetentionRun {
  std::uint64_t erased = 0;  // applicants erased by this run
  std::uint64_t appeals = 0;
  std::uint64_t spared = 0;  // due in the plan, but an appeal of theirs moved (or a new one came) since: kept
  RetentionPlan plan;
};

// Plans as of `now` and erases what is due, `batch` applicants per erasure (one purge each). Each erasure cites
// its rule and the rule set's content hash. Right before each batch the log written since the plan is read
// again: an applicant with an appeal reopened, commented or newly registered meanwhile is spared (the next run
// decides again). Errors: plan_retention's, erase_applicants'.
Result<RetentionRun> run_retention(KeyStore& keys, store::EventStore& log, const rules::RuleSet& rules,
                                   const std::string& rule_set_hash, Timestamp now, std::size_t batch = 1000);

struct RetentionOptions {
  // How often the service runs (it also runs once right after start()).
  std::chrono::milliseconds interval = std::chrono::hours(1);
  std::size_t batch = 1000;
};

class RetentionService {
 public:
  // Everything passed must outlive the service.
  RetentionService(KeyStore& keys, store::EventStore& log, RuleRegistry& registry, const Clock& clock,
                   RetentionOptions options = {});
  ~RetentionService();
  void start();
  void stop();
  // One run now against the rule set in force (none published: nothing to do). The service's timer calls it.
  Result<RetentionRun> run_once();
  // The last run's error (OK if it succeeded or none ran).
  Status last_status() const;

 private:
  KeyStore& keys_;
  store::EventStore& log_;
  RuleRegistry& registry_;
  const Clock& clock_;
  const RetentionOptions options_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  Status last_;            // GUARDED_BY(mu_)
  std::mutex run_mu_;      // one run at a time
  std::thread thread_;
};

}  // namespace otinish::engine::privacy
