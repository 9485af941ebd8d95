// The decision version (AppealState::decision_version, CommandMeta::expected_version): commands conflict with
// commands, and with SLA facts only where those change who should act or what the guards see.
#include <atomic>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "engine/sla_events.h"
#include "tests/engine/forwarding_store.h"
#include "tests/engine/test_city.h"

namespace otinish::engine {
namespace {

using testing::ForwardingStore;
using testing::TestCity;

SlaClockEvent clock_event(SlaClockKind kind, std::string label = "") {
  SlaClockEvent e;
  e.kind = kind;
  e.rule_id = "complaint.answer";
  e.rule_where = "city.yaml:12:5";
  e.rule_set_hash = std::string(64, 'a');
  e.clock = "law.answer";
  e.calendar = "kz";
  e.calendar_version = "kz@2026-1";
  e.at = testing::t0() + std::chrono::hours(24);
  if (kind == SlaClockKind::kDeadlineSet) e.deadline = testing::t0() + std::chrono::hours(24 * 15);
  if (!label.empty()) {
    e.step = 0;
    e.label = std::move(label);
    e.notify = {"head_of_agency"};
  }
  return e;
}

SlaClockEvent warning() { return clock_event(SlaClockKind::kWarning, "75%"); }

SlaClockEvent escalation_to(std::string agency) {
  SlaClockEvent e = clock_event(SlaClockKind::kEscalated, "breach+1wd");
  e.reassign_agency = std::move(agency);
  return e;
}

// Appends `e` to the appeal's stream as the SLA service does (after whatever is there).
void append_sla(store::EventStore& store, const std::string& id, const SlaEvent& e) {
  const store::EventData d = encode_sla_event(e);
  auto r = store.append(std::string(kAppealStreamPrefix) + id, store::ExpectedVersion::any(), {&d, 1});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
}

CommandMeta desk(std::string command_id, std::uint64_t expected) {
  return CommandMeta{std::move(command_id), {"operator:desk", "operator", ""}, "", expected};
}

TEST(DecisionVersion, SlaTimingFactsLeaveItAndActionsMoveIt) {
  TestCity city;
  const std::string id = city.reg(Category::kComplaint, "lifts.broken");
  append_sla(city.store(), id, SlaBound{});
  append_sla(city.store(), id, clock_event(SlaClockKind::kStarted));
  append_sla(city.store(), id, clock_event(SlaClockKind::kDeadlineSet));
  append_sla(city.store(), id, warning());
  append_sla(city.store(), id, clock_event(SlaClockKind::kBreached, "breach"));  // notifies only
  auto s = city.engine().load(id);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->version, 6u);
  EXPECT_EQ(s->decision_version, 1u) << "timing facts and rungs that only notify are not a desk's business";
  EXPECT_EQ(s->decision_stream_version, 1u);

  SlaClockEvent raise = clock_event(SlaClockKind::kBreached, "breach");
  raise.raise_priority = "critical";
  append_sla(city.store(), id, raise);
  append_sla(city.store(), id, escalation_to("city-roads"));
  SlaClockEvent to_role = clock_event(SlaClockKind::kEscalated, "breach+2wd");
  to_role.reassign_role = "emergency_coordinator";
  append_sla(city.store(), id, to_role);
  s = city.engine().load(id);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->version, 9u);
  EXPECT_EQ(s->decision_version, 4u) << "raising the priority and reassigning change what a desk decides on";
  EXPECT_EQ(s->decision_stream_version, 9u);
}

TEST(DecisionVersion, CommandDecidedBeforeAnSlaWarningGoesThrough) {
  TestCity city;
  const std::string id = city.reg(Category::kComplaint, "lifts.broken");
  const std::uint64_t seen = city.engine().load(id)->decision_version;
  append_sla(city.store(), id, clock_event(SlaClockKind::kDeadlineSet));
  append_sla(city.store(), id, warning());
  auto r = city.engine().execute(id, SendForReview{}, desk("desk-1:review", seen));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->stage, Stage::kUnderReview);
  EXPECT_EQ(r->version, 4u);
  EXPECT_EQ(r->decision_version, seen + 1);
  EXPECT_EQ(city.engine().load(id)->decision_version, seen + 1);
}

TEST(DecisionVersion, SecondOfTwoDesksOnOneVersionGetsTheFirstsNewVersion) {
  TestCity city;
  const std::string id = city.reg(Category::kComplaint, "lifts.broken");
  const std::uint64_t seen = city.engine().load(id)->decision_version;
  auto first = city.engine().execute(id, Comment{"called the applicant"}, desk("desk-1:note", seen));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = city.engine().execute(id, SendForReview{}, desk("desk-2:review", seen));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kConflict);
  EXPECT_EQ(second.status().current_version(), first->decision_version);
  EXPECT_EQ(city.engine().load(id)->stage, Stage::kRegistered) << "a refused command writes nothing";
}

TEST(DecisionVersion, ReassigningEscalationMakesAnEarlierDecisionStale) {
  TestCity city;
  const std::string id = city.reg(Category::kComplaint, "lifts.broken");
  city.run(id, SendForReview{}, "operator");
  city.run(id, Assign{"housing-dept"}, "inspector");
  const std::uint64_t seen = city.engine().load(id)->decision_version;
  append_sla(city.store(), id, escalation_to("city-roads"));
  auto r = city.engine().execute(id, Accept{}, desk("agency-desk:accept", seen));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kConflict);
  EXPECT_EQ(r.status().current_version(), seen + 1);
  auto fresh = city.engine().execute(id, Accept{}, desk("agency-desk:accept-again", seen + 1));
  EXPECT_TRUE(fresh.ok()) << fresh.status().ToString();
}

TEST(DecisionVersion, RetriedCommandIsAnsweredWithItsFirstVersions) {
  TestCity city;
  const std::string id = city.reg(Category::kComplaint, "lifts.broken");
  auto first = city.engine().execute(id, SendForReview{}, desk("desk-1:review", 1));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  append_sla(city.store(), id, warning());
  city.run(id, Comment{"later"}, "operator");
  auto again = city.engine().execute(id, SendForReview{}, desk("desk-1:review", 1));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->version, first->version);
  EXPECT_EQ(again->decision_version, first->decision_version);
}

// Runs `inject` once, through the real store, just before the first append to `stream` that follows arm():
// another writer landing between the engine's load and its append.
class InjectingStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  void arm(std::string stream, std::function<void()> inject) {
    stream_ = std::move(stream);
    inject_ = std::move(inject);
  }
  int appends_to_stream() const { return appends_; }

  Result<store::AppendResult> append(std::string_view s, store::ExpectedVersion e, std::span<const store::EventData> ev,
                                     const store::AppendOptions& o) override {
    if (s == stream_) {
      ++appends_;
      if (inject_) std::exchange(inject_, nullptr)();
    }
    return inner_.append(s, e, ev, o);
  }

 private:
  std::string stream_;
  std::function<void()> inject_;
  int appends_ = 0;
};

struct RacedCity {
  TestCity city;
  InjectingStore store{city.store()};
  Engine engine{store, city.clock(), &city.catalogue()};
};

TEST(DecisionVersion, SlaFactLandingBetweenLoadAndAppendIsPassedExactlyOnce) {
  RacedCity c;
  const std::string id = c.city.reg(Category::kComplaint, "lifts.broken");
  const std::string stream = std::string(kAppealStreamPrefix) + id;
  c.store.arm(stream, [&] { append_sla(c.city.store(), id, warning()); });
  auto r = c.engine.execute(id, SendForReview{}, desk("desk-1:review", 1));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->duplicate);
  EXPECT_EQ(c.store.appends_to_stream(), 2) << "refused at the stale stream version, then decided again";
  EXPECT_EQ(r->version, 3u);
  EXPECT_EQ(r->decision_version, 2u);
  auto events = c.city.store().read_stream(stream, 1, store::Direction::kForward, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[1].type, "SlaWarning");
  EXPECT_EQ((*events)[2].type, "AppealSentForReview");
}

TEST(DecisionVersion, CommandLandingBetweenLoadAndAppendIsAConflict) {
  RacedCity c;
  const std::string id = c.city.reg(Category::kComplaint, "lifts.broken");
  const std::string stream = std::string(kAppealStreamPrefix) + id;
  c.store.arm(stream, [&] {
    auto other = c.city.engine().execute(id, Comment{"another desk"}, desk("desk-2:note", 1));
    ASSERT_TRUE(other.ok()) << other.status().ToString();
  });
  auto r = c.engine.execute(id, SendForReview{}, desk("desk-1:review", 1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kConflict);
  EXPECT_EQ(r.status().current_version(), 2u);
  auto s = c.city.engine().load(id);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->version, 2u) << "only the other desk's comment was written";
  EXPECT_EQ(s->stage, Stage::kRegistered);
}

}  // namespace
}  // namespace otinish::engine
