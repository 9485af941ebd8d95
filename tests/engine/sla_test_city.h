// tests/engine/sla_test_city.h: TestCity plus the SLA: a rule registry with the shipped calendars and a golden
// rule set published at t0 (2026-03-02 09:00 Almaty), and an SLA service whose timers the test fires by hand.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/rule_registry.h"
#include "engine/sla_service.h"
#include "tests/engine/test_city.h"

namespace otinish::engine::testing {

inline std::string source_dir() {
  const char* d = std::getenv("OTINISH_SOURCE_DIR");
  return d ? d : ".";
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline Timestamp utc(const std::string& s) {
  Timestamp t;
  EXPECT_TRUE(parse_utc(s, &t)) << s;
  return t;
}

// The seeds' golden rules: a dangerous incident on the 24/7 calendar, an incident clock that pauses while
// waiting (on hold), and the law's 15 working days with the 75% warning and the escalation to the head.
inline std::string golden_rules(const std::string& answer_within = "15wd", const std::string& label = "t1") {
  return R"(rule_set: golden
version: ")" + label + R"("
calendars:
  kz: kz.yaml
  round-the-clock: round-the-clock.yaml
default_calendar: kz
rules:
  - id: dangerous-incident
    match: {category: incident, dangerous: true}
    clocks:
      - name: make_safe
        target: 4h
        calendar: round-the-clock
        start: registered
        stop: [resolved, closed]
        escalation:
          - {at: 75%, notify: head_of_agency}
          - {at: breach, notify: [head_of_agency, deputy_akim], raise_priority: critical}
          - {at: breach+2h, notify: akim, reassign: {role: emergency_coordinator}}
  - id: incident
    match: {category: incident}
    clocks:
      - name: resolve
        target: 16bh
        start: registered
        stop: [resolved, closed]
        pause: on_hold
        resume: in_progress
        escalation:
          - {at: breach, notify: head_of_agency}
  - id: complaint
    match: {category: complaint}
    law:
      answer_within: )" + answer_within + R"(
      extension: {max_total: 2mo, notify_applicant_within: 3wd}
      redirect_within: 3wd
      escalation:
        - {at: 75%, notify: controller}
        - {at: breach, notify: head_of_agency}
)";
}

class SlaCity : public TestCity {
 public:
  explicit SlaCity(const std::string& rules = golden_rules()) : registry_(store()) {
    const std::string cal = source_dir() + "/examples/calendars/";
    for (const char* name : {"kz", "round-the-clock"}) {
      auto r = registry_.publish_calendar(read_text(cal + name + ".yaml"), std::string(name) + ".yaml",
                                          RebindPolicy::kKeep, admin());
      EXPECT_TRUE(r.ok()) << r.status().ToString();
    }
    auto r = registry_.publish_rule_set(rules, "golden.yaml", RebindPolicy::kKeep, admin());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    open_service();
  }

  static store::Actor admin() { return {"admin:test", "admin", ""}; }

  // `cached_appeals`: SlaServiceOptions::cached_appeals (0: one appeal per stripe, so that appeals push each
  // other out and are read back from their streams).
  void open_service(const std::string& index = "sla", std::size_t cached_appeals = SlaServiceOptions{}.cached_appeals) {
    service_.reset();
    SlaServiceOptions o = service_options(index);
    o.cached_appeals = cached_appeals;
    service_ = start_service_over(store(), o);
    ASSERT_TRUE(service_ != nullptr);
  }
  // A service's options with its timer index at DIR/`index` and no timer thread (the test fires timers).
  SlaServiceOptions service_options(const std::string& index) const {
    SlaServiceOptions o;
    o.index_path = dir() + "/" + index;
    o.timer_thread = false;
    return o;
  }
  // A service of the city's registry and clock over `log` (the city's own, or one that injects faults), started.
  // Null, with the test failed, when it does not open or start.
  std::unique_ptr<SlaService> start_service_over(store::EventStore& log, const SlaServiceOptions& o) {
    auto s = SlaService::open(log, registry_, clock(), o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (!s.ok()) return nullptr;
    const Status started = (*s)->start();
    EXPECT_TRUE(started.ok()) << started.ToString();
    return started.ok() ? std::move(s).value() : nullptr;
  }
  void stop_service() { service_.reset(); }

  // Waits until the service (the city's, or `service`) has processed everything in the log, including its own
  // events.
  void settle() { settle(*service_); }
  void settle(SlaService& service) {
    for (int i = 0; i < 100; ++i) {
      const std::uint64_t head = store().head_position();
      ASSERT_TRUE(service.wait_for(head, std::chrono::seconds(10))) << service.status().ToString();
      if (store().head_position() == head) return;
    }
    FAIL() << "the SLA service never caught up";
  }
  // Moves the clock to `t` and fires what is due.
  std::size_t fire_at(const std::string& t) {
    settle();
    clock().set(utc(t));
    auto n = service_->fire_due();
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    settle();
    return n.ok() ? *n : 0;
  }
  // Runs a command at instant `t`, then lets a microsecond pass so the service decides on it (the service
  // decides strictly before now: more facts could still be recorded at `t`).
  Stage run_at(const std::string& t, const std::string& id, const Command& c, std::string role = "controller") {
    clock().set(utc(t));
    Stage s = run(id, c, std::move(role));
    tick();
    return s;
  }
  std::string reg_at(const std::string& t, Category c, std::string topic) {
    clock().set(utc(t));
    std::string id = reg(c, std::move(topic));
    tick();
    return id;
  }
  void tick() {
    settle();
    clock().advance(std::chrono::microseconds(1));
    auto n = service_->fire_due();
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    settle();
  }

  SlaAppealView view(const std::string& id) {
    auto v = read_sla_view(store(), id);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : SlaAppealView{};
  }
  std::vector<SlaClockEvent> events(const std::string& id, SlaClockKind kind, const std::string& clock) {
    std::vector<SlaClockEvent> out;
    for (const auto& e : view(id).clock_events) {
      if (e.kind == kind && e.clock == clock) out.push_back(e);
    }
    return out;
  }

  // What the pure function derives for the appeal's view on its binding, deciding just before now (as the
  // service does).
  Result<SlaPlan> plan(const SlaAppealView& v) {
    if (!v.bound) return Status::FailedPrecondition("appeal " + v.appeal_id + " is not bound");
    auto bundle = registry_.bundle(v.bound->rules_version, v.bound->calendars_version);
    if (!bundle.ok()) return bundle.status();
    return plan_sla(**bundle, v.facts, clock().now() - std::chrono::microseconds(1));
  }
  // The keys of the appeal's recorded clock events and of the plan's, each sorted: equal when the service lost
  // nothing and invented nothing. Both empty, with the test failed, when there is no plan.
  std::pair<std::vector<std::string>, std::vector<std::string>> recorded_and_planned_keys(const std::string& id) {
    const SlaAppealView v = view(id);
    auto p = plan(v);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (!p.ok()) return {};
    std::vector<std::string> recorded, derived;
    for (const auto& e : v.clock_events) recorded.push_back(e.key());
    for (const auto& e : p->events) derived.push_back(e.key());
    std::sort(recorded.begin(), recorded.end());
    std::sort(derived.begin(), derived.end());
    return {recorded, derived};
  }

  // The rules the appeal's clock events cite.
  std::set<std::string> rules_cited(const std::string& id) {
    std::set<std::string> out;
    for (const auto& e : view(id).clock_events) out.insert(e.rule_id);
    return out;
  }

  RuleRegistry& registry() { return registry_; }
  SlaService& service() { return *service_; }

 private:
  RuleRegistry registry_;
  std::unique_ptr<SlaService> service_;
};

// The SlaRebound events of an appeal's stream, in order.
inline std::vector<SlaRebound> rebounds(SlaCity& city, const std::string& id) {
  std::vector<SlaRebound> out;
  auto s = city.store().read_stream("appeal-" + id, 1, store::Direction::kForward, 1000);
  EXPECT_TRUE(s.ok());
  for (const auto& e : *s) {
    if (e.type != "SlaRebound") continue;
    auto d = decode_sla_event(e.type, e.schema_version, e.payload);
    EXPECT_TRUE(d.ok());
    out.push_back(std::get<SlaRebound>(*d));
  }
  return out;
}

// Fires what is due now (as the live service's timer thread would), then replays the log into a fresh index at
// the same instant: it must write nothing, so replay yields exactly the SLA events the live service wrote.
inline void expect_replay_writes_nothing(SlaCity& city) {
  city.fire_at(format_utc(city.clock().now()));
  const auto head = city.store().head_position();
  city.stop_service();
  city.open_service("sla-replayed");
  city.settle();
  EXPECT_EQ(city.store().head_position(), head) << "replaying the log wrote new SLA events";
  auto all = city.store().read_all(head + 1, 100);
  if (all.ok()) {
    for (const auto& e : *all) {
      auto d = decode_sla_event(e.type, e.schema_version, e.payload);
      std::string what;
      if (d.ok() && std::holds_alternative<SlaClockEvent>(*d)) {
        const auto& c = std::get<SlaClockEvent>(*d);
        what = " at " + format_utc(c.at) + " label " + c.label + " calendar " + c.calendar_version;
      }
      ADD_FAILURE() << "replay wrote " << e.type << " to " << e.stream << what << " (now "
                    << format_utc(city.clock().now()) << ")";
    }
  }
}

}  // namespace otinish::engine::testing
