// Property: random histories of appeals (comments, merges into a parent and reclassifications that hand an
// appeal to another rule among them), with the clock jumping, timers firing, the SLA service restarting
// (sometimes with its timer index lost, sometimes keeping almost no appeal in memory) and syncs repeated, end with
//   - no SLA event written twice (no timer doubled),
//   - exactly the events the pure function derives from the same history (no timer lost, nothing invented;
//     after a publication rebound the appeal, what the earlier binding decided stands, so every derived key is
//     recorded and what was recorded since the rebinding is derived), and the pure function deciding at the
//     instants of the facts that may move a clock derives what it does deciding at every fact's instant: the
//     service's incremental state and skipped events change nothing,
//   - every escalation citing a rule, clock and ladder rung that exist in the bound rule set,
//   - every open appeal's timer at the pure function's next due moment, none overdue, none fired early.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <set>

#include "tests/engine/sla_test_city.h"

namespace otinish::engine {
namespace {

using testing::SlaCity;

struct Step {
  int kind = 0;    // see apply()
  int appeal = 0;  // which of the registered appeals
  int param = 0;
};

void showValue(const Step& s, std::ostream& os) { os << "{" << s.kind << "," << s.appeal << "," << s.param << "}"; }

// The three kinds of appeal the histories mix; each matches another rule of the golden set (a complaint, a
// dangerous incident, an incident), so that a reclassification moves an appeal from one rule to another.
const char* const kTopics[] = {"lifts.broken", "roads.manhole_open", "utilities.heating.no_heat"};
const Category kCats[] = {Category::kComplaint, Category::kIncident, Category::kIncident};

Command command_for(int kind, int param, Timestamp now) {
  switch (kind) {
    case 0: return SendForReview{};
    case 1: return Assign{};
    case 2: return Accept{};
    case 3: return StartWork{};
    case 4: return Hold{"waiting for the applicant"};
    case 5: return Resume{"back"};
    case 6: return RequestExtension{now + std::chrono::hours(24 * (1 + param % 40)), "needs time"};
    case 7: return GrantExtension{"the head agrees"};
    case 8: return Resolve{Outcome::kDone, "done"};
    case 9: return RecordCallback{param % 2 == 0, "called"};
    case 10: return Close{};
    case 11: return Reopen{"not satisfied"};
    case 12: return Redirect{param % 2 ? "city-roads" : "heat-networks", "not ours"};
    // Another rule takes over: the old rule's clocks the new one lacks stop, the new rule's run from its own
    // start facts (a reclassify after assignment, a classify during the review).
    case 13: return Reclassify{kCats[param % 3], kTopics[param % 3], std::nullopt, "was misread"};
    default: return Classify{kCats[param % 3], kTopics[param % 3], std::nullopt, "reviewed"};
  }
}

const rules::ClockRule* find_clock(const Bundle& b, const std::string& rule, const std::string& clock) {
  for (const auto& r : b.rules.rules) {
    if (r.id != rule) continue;
    for (const auto& c : r.clocks) {
      if (c.name == clock) return &c;
    }
  }
  return nullptr;
}

// How many of the appeal's clock events precede its last SlaRebound (0 when it was never rebound).
std::size_t clock_events_before_last_rebinding(SlaCity& city, const std::string& id) {
  auto stream = city.store().read_stream("appeal-" + id, 1, store::Direction::kForward, 100000);
  if (!stream.ok()) return 0;
  std::size_t clock_events = 0, before = 0;
  for (const auto& e : *stream) {
    if (e.type == "SlaRebound") before = clock_events;
    else if (is_sla_event_type(e.type) && e.type != "SlaBound") ++clock_events;
  }
  return before;
}

TEST(SlaProperty, RandomHistoriesWithRestartsFireEveryTimerExactlyOnceAsThePureFunctionSays) {
  setenv("RC_PARAMS", "max_success=25", /*overwrite=*/0);
  const bool ok = rc::check("SLA events == pure decisions, each once, across restarts", [] {
    const auto steps = *rc::gen::container<std::vector<Step>>(
        *rc::gen::inRange(5, 60),
        rc::gen::build<Step>(rc::gen::set(&Step::kind, rc::gen::inRange(0, 35)),
                             rc::gen::set(&Step::appeal, rc::gen::inRange(0, 4)),
                             rc::gen::set(&Step::param, rc::gen::inRange(0, 1000))));
    const int first_topic = *rc::gen::inRange(0, 3);
    SlaCity city;
    const std::size_t cached = *rc::gen::element<std::size_t>(0, SlaServiceOptions{}.cached_appeals);
    city.open_service("sla", cached);
    std::vector<std::string> ids;
    int restarts = 0;
    const Timestamp start = city.clock().now();
    ids.push_back(city.reg(kCats[first_topic], kTopics[first_topic]));
    for (const Step& s : steps) {
      if (s.kind <= 12) {
        if (ids.empty()) continue;
        const std::string& id = ids[static_cast<std::size_t>(s.appeal) % ids.size()];
        city.engine().execute(id, command_for(s.kind, s.param, city.clock().now()), city.meta()).status().IgnoreError();
      } else if (s.kind >= 27) {
        // Another category or topic: a reclassify where the stage allows it, else a classify (during the review).
        const std::string& id = ids[static_cast<std::size_t>(s.appeal) % ids.size()];
        if (!city.engine().execute(id, command_for(13, s.param, city.clock().now()), city.meta()).ok()) {
          city.engine().execute(id, command_for(14, s.param, city.clock().now()), city.meta()).status().IgnoreError();
        }
      } else if (s.kind == 13 || s.kind == 14) {
        const int t = s.param % 3;
        ids.push_back(city.reg(kCats[t], kTopics[t]));
      } else if (s.kind <= 17) {
        // Minutes to three weeks, within 200 days of the start (the calendars cover 2025-2026).
        if (city.clock().now() - start < std::chrono::hours(24 * 200)) {
          city.clock().advance(std::chrono::minutes(1 + s.param * (s.kind == 17 ? 30 : 1)));
        }
      } else if (s.kind == 18) {
        city.settle();
        RC_ASSERT(city.service().fire_due().ok());
      } else if (s.kind == 19) {
        city.settle();
        city.stop_service();
        city.clock().advance(std::chrono::minutes(s.param));
        // Sometimes the index is lost too: the service rebuilds it from the log.
        city.open_service(s.param % 3 == 0 ? "sla-" + std::to_string(++restarts) : "sla", cached);
      } else if (s.kind <= 21) {
        // A comment: a fact no clock reacts to, which the service folds without deciding.
        const std::string& id = ids[static_cast<std::size_t>(s.appeal) % ids.size()];
        city.engine().execute(id, Comment{"called the agency"}, city.meta()).status().IgnoreError();
      } else if (s.kind == 22) {
        // A merge: the child's clocks stop (merged), the parent gains a child_attached fact.
        const std::string& child = ids[static_cast<std::size_t>(s.appeal) % ids.size()];
        const std::string& parent = ids[static_cast<std::size_t>(s.param) % ids.size()];
        if (child != parent) {
          city.engine().execute(child, MergeInto{parent, "same outage"}, city.meta()).status().IgnoreError();
        }
      } else if (s.kind >= 24 && s.kind <= 26) {
        // A publication the service meets while behind: commands before and after it are in the stream when
        // it applies the policy, which reads the appeals without necessarily deciding them (stricter keeps an
        // equally strict binding); the commands after it must still be decided.
        city.settle();
        city.stop_service();
        const std::string& id = ids[static_cast<std::size_t>(s.appeal) % ids.size()];
        city.engine().execute(id, command_for(s.param % 15, s.param, city.clock().now()), city.meta()).status().IgnoreError();
        city.clock().advance(std::chrono::minutes(1));
        // Now and then a stricter one, which rebinds the open complaints (SLA events after their own).
        const std::string answer_within = s.param % 2 ? "10wd" : "15wd";
        auto p = city.registry().publish_rule_set(testing::golden_rules(answer_within, "t" + std::to_string(s.param)),
                                                  "golden.yaml", RebindPolicy::kStricter, SlaCity::admin());
        RC_ASSERT(p.ok());
        city.clock().advance(std::chrono::minutes(1));
        city.engine().execute(id, command_for((s.param / 15) % 15, s.param, city.clock().now()), city.meta()).status().IgnoreError();
        city.open_service("sla", cached);
      } else if (!ids.empty()) {
        RC_ASSERT(city.service().sync(ids[static_cast<std::size_t>(s.appeal) % ids.size()]).ok());
      }
    }
    city.settle();
    city.clock().advance(std::chrono::seconds(1));  // past the last fact: everything is decidable
    RC_ASSERT(city.service().fire_due().ok());
    city.settle();
    const Timestamp now = city.clock().now() - std::chrono::microseconds(1);  // the service decides before now

    for (const std::string& id : ids) {
      const SlaAppealView v = city.view(id);
      RC_ASSERT(v.bound.has_value());
      auto bundle = city.registry().bundle(v.bound->rules_version, v.bound->calendars_version);
      RC_ASSERT(bundle.ok());
      auto plan = plan_sla(**bundle, v.facts, now);
      RC_ASSERT(plan.ok());
      auto every_instant = plan_sla(**bundle, v.facts, now, /*every_instant=*/true);
      RC_ASSERT(every_instant.ok());
      RC_ASSERT(every_instant->events == plan->events);
      RC_ASSERT(every_instant->next_due == plan->next_due);
      RC_ASSERT(every_instant->open == plan->open);

      std::set<std::string> keys;
      for (const auto& e : v.clock_events) RC_ASSERT(keys.insert(e.key()).second);  // never twice

      // A publication that rebound the appeal: what was decided under the earlier binding stands (a rung
      // that fired is not fired again), so the plan on the new binding meets some of its keys with other
      // payloads. Every derived key is then recorded, and what was recorded since the rebinding is derived.
      const std::size_t rebound_at = clock_events_before_last_rebinding(city, id);
      std::vector<SlaClockEvent> recorded(v.clock_events.begin() + static_cast<std::ptrdiff_t>(rebound_at),
                                          v.clock_events.end());
      std::vector<SlaClockEvent> derived = plan->events;
      if (rebound_at > 0) {
        for (const auto& d : derived) RC_ASSERT(keys.contains(d.key()));
        std::set<std::string> recent;
        for (const auto& e : recorded) recent.insert(e.key());
        std::erase_if(derived, [&](const SlaClockEvent& d) { return !recent.contains(d.key()); });
      }
      auto by_key = [](const SlaClockEvent& a, const SlaClockEvent& b) { return a.key() < b.key(); };
      std::sort(recorded.begin(), recorded.end(), by_key);
      std::sort(derived.begin(), derived.end(), by_key);
      RC_ASSERT(recorded == derived);  // nothing lost, nothing invented, same payloads

      for (std::size_t i = rebound_at; i < v.clock_events.size(); ++i) {
        const SlaClockEvent& e = v.clock_events[i];
        RC_ASSERT(e.rule_set_hash == (*bundle)->ref.rule_set_hash);
        const rules::ClockRule* c = find_clock(**bundle, e.rule_id, e.clock);
        RC_ASSERT(c != nullptr);
        if (e.step >= 0) {
          RC_ASSERT(static_cast<std::size_t>(e.step) < c->escalation.size());
          RC_ASSERT(c->escalation[static_cast<std::size_t>(e.step)].label() == e.label);
        }
      }
      const auto entry = city.service().index().find(id);
      if (plan->next_due) {
        RC_ASSERT(entry.has_value());
        RC_ASSERT(*entry == plan->next_due);
        RC_ASSERT(*plan->next_due > now);
      } else if (entry) {
        RC_ASSERT(!entry->has_value());
      }
    }
    for (std::int64_t late : city.service().stats().lateness_us) RC_ASSERT(late > 0);  // never early
    std::size_t rungs = 0, events = 0;
    for (const std::string& id : ids) {
      for (const auto& e : city.view(id).clock_events) rungs += e.step >= 0 ? 1 : 0, ++events;
    }
    RC_CLASSIFY(rungs > 0, "escalations fired");
    RC_CLASSIFY(restarts > 0, "index lost and rebuilt");
    RC_CLASSIFY(events > 10, "more than 10 SLA events");
    RC_CLASSIFY(cached == 0, "one appeal kept per stripe");
    RC_CLASSIFY(std::any_of(steps.begin(), steps.end(), [](const Step& s) { return s.kind >= 24 && s.kind <= 26; }),
                "a publication met while behind");
    RC_CLASSIFY(std::any_of(ids.begin(), ids.end(),
                            [&](const std::string& id) { return city.rules_cited(id).size() > 1; }),
                "another rule took over an appeal");
  });
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace otinish::engine
