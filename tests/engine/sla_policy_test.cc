// Rules and calendars that change while appeals are in flight, under each policy, against hand-computed
// deadlines. The calendar change is the real one (kz-calendar.md): on 18 March 2026 30 August stopped being a
// holiday, so Monday 31 August 2026 became a working day. A complaint registered on Thursday 20 August 2026
// at 10:00 with 15 working days is due on 11 September (December calendar) or 10 September (amended), at
// 18:00 local = 13:00Z. With 10 working days on the amended calendar it is due on Thursday 3 September.
//
// After each story the SLA index is thrown away and a new service replays the whole log at the same instant:
// it must write nothing, so replay yields exactly the SLA events the live service wrote.
#include <gtest/gtest.h>

#include "tests/engine/forwarding_store.h"
#include "tests/engine/sla_test_city.h"

namespace otinish::engine {
namespace {

using testing::golden_rules;
using testing::read_text;
using testing::expect_replay_writes_nothing;
using testing::rebounds;
using testing::SlaCity;
using testing::source_dir;
using testing::utc;

std::vector<Timestamp> deadlines(SlaCity& city, const std::string& id, const std::string& clock = "law.answer") {
  std::vector<Timestamp> out;
  for (const auto& e : city.events(id, SlaClockKind::kDeadlineSet, clock)) out.push_back(*e.deadline);
  return out;
}


std::string complaint_in_august(SlaCity& city) {
  const std::string id = city.reg_at("2026-08-20T05:00:00Z", Category::kComplaint, "lifts.broken");
  city.run_at("2026-08-20T06:00:00Z", id, SendForReview{}, "operator");
  city.run_at("2026-08-20T07:00:00Z", id, Assign{}, "inspector");
  city.run_at("2026-08-21T05:00:00Z", id, Accept{}, "agency");
  return id;
}

void publish_amended_kz(SlaCity& city, RebindPolicy policy) {
  city.clock().set(utc("2026-08-24T05:00:00Z"));
  auto r = city.registry().publish_calendar(read_text(source_dir() + "/examples/calendars/kz.yaml"), "kz.yaml",
                                            policy, SlaCity::admin());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  city.settle();
}

void publish_rules(SlaCity& city, const std::string& at, const std::string& answer_within, RebindPolicy policy) {
  city.clock().set(utc(at));
  auto r = city.registry().publish_rule_set(golden_rules(answer_within, answer_within), "golden.yaml", policy,
                                            SlaCity::admin());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  city.settle();
}


// A log whose storage refuses the first rebinding appended through it (a full disk, say), then recovers.
class RefusingTheFirstRebinding final : public testing::ForwardingStore {
 public:
  using testing::ForwardingStore::ForwardingStore;
  Result<store::AppendResult> append(std::string_view s, store::ExpectedVersion e, std::span<const store::EventData> ev,
                                     const store::AppendOptions& o) override {
    const bool rebinding = std::any_of(ev.begin(), ev.end(), [](const auto& d) { return d.type == "SlaRebound"; });
    if (rebinding && !refused.exchange(true)) return Status::Unavailable("no space left on the log's disk (test)");
    return testing::ForwardingStore::append(s, e, ev, o);
  }
  std::atomic<bool> refused{false};
};

// A rebinding the storage refuses during a publication's sweep is tried again with the publication, not
// counted as the appeal's own decision error and left: once the publication is behind the checkpoint nothing
// else would move the appeal, and it would keep the looser deadline for good.
TEST(SlaPolicy, ARebindingTheStorageRefusedIsAppendedWhenItRecovers) {
  SlaCity city;
  const std::string id = complaint_in_august(city);
  city.stop_service();
  RefusingTheFirstRebinding log(city.store());
  auto service = city.start_service_over(log, city.service_options("sla"));
  ASSERT_TRUE(service != nullptr);
  city.clock().set(utc("2026-08-26T05:00:00Z"));
  auto p = city.registry().publish_rule_set(golden_rules("10wd", "10wd"), "golden.yaml", RebindPolicy::kStricter,
                                            SlaCity::admin());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  city.settle(*service);
  EXPECT_TRUE(log.refused.load()) << "the test's fault never happened";
  EXPECT_TRUE(service->status().ok()) << service->status().ToString();
  ASSERT_EQ(rebounds(city, id).size(), 1u);
  EXPECT_EQ(deadlines(city, id).back(), utc("2026-09-03T13:00:00Z"));
  EXPECT_EQ(service->stats().decision_errors, 0u);
}

TEST(SlaPolicy, KeepLeavesAppealsInFlightOnTheirVersionAndBindsNewOnesToTheNew) {
  SlaCity city;
  const std::string id = complaint_in_august(city);
  EXPECT_EQ(deadlines(city, id), std::vector{utc("2026-09-11T13:00:00Z")});
  publish_amended_kz(city, RebindPolicy::kKeep);
  EXPECT_TRUE(rebounds(city, id).empty());
  EXPECT_EQ(deadlines(city, id), std::vector{utc("2026-09-11T13:00:00Z")});
  EXPECT_EQ(city.events(id, SlaClockKind::kDeadlineSet, "law.answer")[0].calendar_version, "kz@2025-12");

  // An appeal registered after the publication is bound to the amended calendar.
  const std::string later = city.reg_at("2026-08-25T05:00:00Z", Category::kComplaint, "lifts.broken");
  const auto later_dl = city.events(later, SlaClockKind::kDeadlineSet, "law.answer");
  ASSERT_EQ(later_dl.size(), 1u);
  EXPECT_EQ(later_dl[0].calendar_version, "kz@2026-03-18");

  city.fire_at("2026-09-12T00:00:00Z");
  const auto breach = city.events(id, SlaClockKind::kBreached, "law.answer");
  ASSERT_EQ(breach.size(), 1u);
  EXPECT_EQ(breach[0].at, utc("2026-09-11T13:00:00Z"));
  expect_replay_writes_nothing(city);
}

TEST(SlaPolicy, ReevaluateMovesTheDeadlineAndRecordsWhatChanged) {
  SlaCity city;
  const std::string id = complaint_in_august(city);
  publish_amended_kz(city, RebindPolicy::kReevaluate);
  const auto rb = rebounds(city, id);
  ASSERT_EQ(rb.size(), 1u);
  EXPECT_EQ(rb[0].policy, RebindPolicy::kReevaluate);
  EXPECT_EQ(rb[0].from.calendars_version, 2u);
  EXPECT_EQ(rb[0].to.calendars_version, 3u);
  bool seen = false;
  for (const auto& d : rb[0].deadlines) {
    if (d.clock != "law.answer") continue;
    seen = true;
    EXPECT_EQ(d.old_deadline, utc("2026-09-11T13:00:00Z"));
    EXPECT_EQ(d.new_deadline, utc("2026-09-10T13:00:00Z"));
  }
  EXPECT_TRUE(seen);
  EXPECT_EQ(deadlines(city, id), (std::vector{utc("2026-09-11T13:00:00Z"), utc("2026-09-10T13:00:00Z")}));
  city.fire_at("2026-09-10T13:00:01Z");
  const auto breach = city.events(id, SlaClockKind::kBreached, "law.answer");
  ASSERT_EQ(breach.size(), 1u);
  EXPECT_EQ(breach[0].at, utc("2026-09-10T13:00:00Z"));
  EXPECT_EQ(breach[0].calendar_version, "kz@2026-03-18");
  expect_replay_writes_nothing(city);
}

TEST(SlaPolicy, StricterTakesTheEarlierDeadlineAndKeepsTheOldWhenTheNewIsLooser) {
  SlaCity city;
  const std::string id = complaint_in_august(city);
  publish_amended_kz(city, RebindPolicy::kStricter);  // 10 Sep < 11 Sep: moved
  ASSERT_EQ(rebounds(city, id).size(), 1u);
  EXPECT_EQ(deadlines(city, id).back(), utc("2026-09-10T13:00:00Z"));

  publish_rules(city, "2026-08-25T05:00:00Z", "20wd", RebindPolicy::kStricter);  // looser: kept
  EXPECT_EQ(rebounds(city, id).size(), 1u);
  EXPECT_EQ(deadlines(city, id).back(), utc("2026-09-10T13:00:00Z"));

  publish_rules(city, "2026-08-26T05:00:00Z", "10wd", RebindPolicy::kStricter);  // stricter: moved
  const auto rb = rebounds(city, id);
  ASSERT_EQ(rb.size(), 2u);
  EXPECT_EQ(rb[1].to.rules_version, 3u);
  EXPECT_EQ(deadlines(city, id).back(), utc("2026-09-03T13:00:00Z"));
  const auto cited = city.events(id, SlaClockKind::kDeadlineSet, "law.answer").back();
  EXPECT_EQ(cited.rule_set_hash, rb[1].to.rule_set_hash);
  EXPECT_NE(cited.rule_set_hash, rb[1].from.rule_set_hash);

  // The summary of each publication is in the rules stream.
  auto rules = city.store().read_stream("sla-rules", 1, store::Direction::kForward, 100);
  ASSERT_TRUE(rules.ok());
  std::vector<RebindPolicy> summaries;  // the first rules (keep), the calendar, 20wd, 10wd
  std::vector<std::uint64_t> rebound;
  for (const auto& e : *rules) {
    if (e.type != "SlaPolicyApplied") continue;
    auto s = decode_policy_applied(e.payload);
    ASSERT_TRUE(s.ok());
    summaries.push_back(s->policy);
    rebound.push_back(s->appeals_rebound);
  }
  EXPECT_EQ(summaries, (std::vector{RebindPolicy::kKeep, RebindPolicy::kStricter, RebindPolicy::kStricter,
                                    RebindPolicy::kStricter}));
  EXPECT_EQ(rebound, (std::vector<std::uint64_t>{0, 1, 0, 1}));
  city.fire_at("2026-09-04T00:00:00Z");
  ASSERT_EQ(city.events(id, SlaClockKind::kBreached, "law.answer").size(), 1u);
  expect_replay_writes_nothing(city);
}

// Decisions never come from today's rules: publishing a new rule set under `keep` leaves the recorded
// decisions and the appeal's binding alone, and re-syncing the appeal later adds nothing.
TEST(SlaPolicy, ReplayNeverRederivesFromTodaysRules) {
  SlaCity city;
  const std::string id = complaint_in_august(city);
  const auto before = city.view(id).clock_events;
  publish_rules(city, "2026-08-24T05:00:00Z", "5wd", RebindPolicy::kKeep);
  ASSERT_TRUE(city.service().sync(id).ok());
  city.settle();
  EXPECT_EQ(city.view(id).clock_events, before);
  EXPECT_EQ(city.view(id).bound->rules_version, 1u);
  expect_replay_writes_nothing(city);
}

}  // namespace
}  // namespace otinish::engine
