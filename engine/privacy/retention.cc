#include "engine/privacy/retention.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <unordered_map>

#include <date/date.h>

#include "common/thread_name.h"
#include "engine/events.h"
#include "engine/privacy/erasure.h"
#include "engine/privacy/privacy_events.h"

namespace otinish::engine::privacy {

namespace {

// What retention needs of one appeal, folded from its events.
struct AppealFacts {
  std::string applicant;
  Category category = Category::kConsultation;
  bool closed = false;
  Timestamp closed_at{};
  bool erased = false;
};

const rules::RetentionRule* rule_for(const rules::RuleSet& rs, Category c) {
  const std::string_view name = to_string(c);
  for (const rules::RetentionRule& r : rs.retention) {
    if (r.category.empty() || std::find(r.category.begin(), r.category.end(), name) != r.category.end()) return &r;
  }
  return nullptr;
}

}  // namespace

Timestamp retention_end(Timestamp closed_at, const rules::Target& keep) {
  using namespace std::chrono;
  if (keep.unit != rules::Unit::kMonths) return closed_at + microseconds(keep.base_amount());
  const auto offset = hours(5);
  const auto local = closed_at + offset;
  const auto day = floor<days>(local);
  const auto time_of_day = local - day;
  const date::year_month_day ymd{day};
  auto target = ymd.year() / ymd.month() / ymd.day() + date::months(keep.amount);
  if (!target.ok()) target = date::year_month_day{target.year() / target.month() / date::last};
  return Timestamp(date::sys_days(target)) + duration_cast<microseconds>(time_of_day) - offset;
}

Result<RetentionPlan> plan_retention(const store::EventStore& log, const rules::RuleSet& rs, Timestamp as_of) {
  std::unordered_map<std::string, AppealFacts> appeals;
  Status bad;
  std::uint64_t scanned_to = 0;
  OTINISH_RETURN_IF_ERROR(log.scan(1, UINT64_MAX, [&](const store::RecordedEvent& e) {
                               if (e.recorded_at > as_of) return false;
                               scanned_to = e.position;
                               if (!e.stream.starts_with(kAppealStreamPrefix)) return true;
                               const std::string id = e.stream.substr(kAppealStreamPrefix.size());
                               if (e.type == kApplicantErasedType) {
                                 appeals[id].erased = true;
                                 return true;
                               }
                               if (!is_appeal_event_type(e.type)) return true;
                               auto ev = decode_event(e.type, e.schema_version, e.payload);
                               if (!ev.ok()) {
                                 bad = ev.status();
                                 return false;
                               }
                               AppealFacts& a = appeals[id];
                               if (const auto* reg = std::get_if<AppealRegistered>(&ev->body)) {
                                 a.applicant = reg->applicant.scheme == 0 ? std::string() : reg->applicant.key_id;
                                 a.category = reg->category;
                               } else if (const auto* cls = std::get_if<AppealClassified>(&ev->body)) {
                                 a.category = cls->category;
                               }
                               a.closed = ev->to == Stage::kClosed;
                               if (a.closed && ev->from != Stage::kClosed) a.closed_at = e.recorded_at;
                               return true;
                             }).status());
  OTINISH_RETURN_IF_ERROR(bad);

  struct Person {
    std::vector<std::string> appeals;
    bool open = false, no_rule = false;
    Timestamp due{};
    std::string rule;
  };
  std::map<std::string, Person> people;
  for (const auto& [id, a] : appeals) {
    if (a.applicant.empty() || a.erased) continue;
    Person& p = people[a.applicant];
    p.appeals.push_back(id);
    if (!a.closed) {
      p.open = true;
      continue;
    }
    const rules::RetentionRule* rule = rule_for(rs, a.category);
    if (!rule) {
      p.no_rule = true;
      continue;
    }
    const Timestamp end = retention_end(a.closed_at, rule->keep);
    if (end >= p.due) {
      p.due = end;
      p.rule = rule->id;
    }
  }
  RetentionPlan plan;
  plan.scanned_to = scanned_to;
  for (auto& [applicant, p] : people) {
    ++plan.applicants;
    if (p.open) {
      ++plan.with_open_appeal;
    } else if (p.no_rule) {
      ++plan.no_rule;
    } else if (p.due > as_of) {
      ++plan.not_yet_due;
      if (!plan.next_due || p.due < *plan.next_due) plan.next_due = p.due;
    } else {
      std::sort(p.appeals.begin(), p.appeals.end());
      ++plan.by_rule[p.rule];
      plan.due.push_back({applicant, std::move(p.appeals), p.due, p.rule});
    }
  }
  return plan;
}

std::string format_retention_plan(const RetentionPlan& plan, const rules::RuleSet& rs, Timestamp as_of) {
  std::ostringstream out;
  out << "retention as of " << format_utc(as_of) << ": ";
  if (rs.retention.empty()) {
    out << "the rule set has no retention section; personal data is kept until erased by request\n";
    return out.str();
  }
  std::uint64_t appeals = 0;
  for (const PlannedErasure& p : plan.due) appeals += p.appeals.size();
  out << plan.due.size() << " applicant(s) (" << appeals << " appeal(s)) would be erased; " << plan.applicants
      << " sealed applicant(s) in the log: " << plan.with_open_appeal << " kept for an open appeal, "
      << plan.not_yet_due << " not yet due, " << plan.no_rule << " with no matching retention rule\n";
  for (const rules::RetentionRule& r : rs.retention) {
    auto it = plan.by_rule.find(r.id);
    out << "  " << r.id << " (keep " << rules::canonical(r.keep) << " after closure, line " << r.where.line
        << "): " << (it == plan.by_rule.end() ? 0 : it->second) << " applicant(s)\n";
  }
  if (plan.next_due) out << "  next due: " << format_utc(*plan.next_due) << "\n";
  return out.str();
}

Result<RetentionRun> run_retention(KeyStore& keys, store::EventStore& log, const rules::RuleSet& rs,
                                   const std::string& rule_set_hash, Timestamp now, std::size_t batch) {
  RetentionRun run;
  OTINISH_ASSIGN_OR_RETURN(run.plan, plan_retention(log, rs, now));
  // One erasure per rule and batch: each ApplicantErased cites the rule that decided it.
  std::map<std::string, std::vector<const PlannedErasure*>> by_rule;
  for (const PlannedErasure& p : run.plan.due) by_rule[p.rule_id].push_back(&p);
  std::unordered_map<std::string, std::string> owner;  // appeal -> applicant, of the planned erasures
  for (const PlannedErasure& p : run.plan.due) {
    for (const std::string& a : p.appeals) owner[a] = p.applicant_id;
  }
  // Applicants with activity since `from` (an event on one of their appeals, or a new appeal of theirs).
  std::uint64_t checked_to = run.plan.scanned_to;
  std::set<std::string> busy;
  auto moved_since_plan = [&]() -> Status {
    Status bad;
    auto scanned = log.scan(checked_to + 1, UINT64_MAX, [&](const store::RecordedEvent& e) {
      checked_to = e.position;
      if (!e.stream.starts_with(kAppealStreamPrefix) || !is_appeal_event_type(e.type)) return true;
      const std::string appeal = e.stream.substr(kAppealStreamPrefix.size());
      if (auto it = owner.find(appeal); it != owner.end()) busy.insert(it->second);
      if (e.stream_version == 1 && e.type == "AppealRegistered") {
        auto applicant = applicant_of(e);
        if (!applicant.ok()) {
          bad = applicant.status();
          return false;
        }
        busy.insert(*applicant);
      }
      return true;
    });
    OTINISH_RETURN_IF_ERROR(scanned.status());
    return bad;
  };
  for (const auto& [rule_id, due] : by_rule) {
    const rules::RetentionRule* rule = nullptr;
    for (const auto& r : rs.retention) rule = r.id == rule_id ? &r : rule;
    const std::string reason = "retention: rule " + rule_id + " of rule set " + rule_set_hash.substr(0, 12) +
                               " keeps personal data " + (rule ? rules::canonical(rule->keep) : std::string("?")) +
                               " after the applicant's last appeal was closed";
    for (std::size_t i = 0; i < due.size(); i += batch) {
      ErasureRequest r{{}, reason, rule_id, {"retention", "system", ""}};
      OTINISH_RETURN_IF_ERROR(moved_since_plan());
      for (std::size_t j = i; j < std::min(due.size(), i + batch); ++j) {
        if (busy.contains(due[j]->applicant_id)) {
          ++run.spared;
          continue;
        }
        r.applicant_ids.push_back(due[j]->applicant_id);
        r.known_appeals[due[j]->applicant_id] = due[j]->appeals;
      }
      if (r.applicant_ids.empty()) continue;
      OTINISH_ASSIGN_OR_RETURN(auto erased, erase_applicants(keys, log, r));
      for (const ErasedApplicant& e : erased) {
        if (e.already_erased) continue;
        ++run.erased;
        run.appeals += e.appeals.size();
      }
    }
  }
  // Each erasure's purge left holes where it erased; a run that erased many leaves the key store compacted.
  if (run.erased > 0) OTINISH_RETURN_IF_ERROR(keys.compact());
  return run;
}

RetentionService::RetentionService(KeyStore& keys, store::EventStore& log, RuleRegistry& registry,
                                   const Clock& clock, RetentionOptions options)
    : keys_(keys), log_(log), registry_(registry), clock_(clock), options_(options) {}

RetentionService::~RetentionService() { stop(); }

void RetentionService::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] {
    name_this_thread("otinish-retain");
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      auto run = run_once();
      lock.lock();
      last_ = run.ok() ? Status::Ok() : run.status();
      wake_.wait_for(lock, options_.interval, [&] { return stopping_; });
    }
  });
}

void RetentionService::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<RetentionRun> RetentionService::run_once() {
  std::lock_guard run_lock(run_mu_);
  OTINISH_ASSIGN_OR_RETURN(auto bundle, registry_.current());
  if (!bundle || bundle->rules.retention.empty()) return RetentionRun{};
  return run_retention(keys_, log_, bundle->rules, bundle->ref.rule_set_hash, clock_.now(), options_.batch);
}

Status RetentionService::last_status() const {
  std::lock_guard lock(mu_);
  return last_;
}

}  // namespace otinish::engine::privacy
