// Desks, the subscription and the timer thread at once: four desks drive their appeals while a driver moves the
// clock and the SLA service's own timer thread fires. At the end every appeal's SLA events are exactly the pure
// function's, each once (the same invariant as the property test, under real concurrency).
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "tests/engine/sla_test_city.h"

namespace otinish::engine {
namespace {

using testing::SlaCity;

TEST(SlaConcurrency, DesksTimerThreadAndSubscriptionTogetherWriteEachDecisionOnce) {
  SlaCity city;
  // Replace the hand-fired service by one with its own timer thread.
  city.stop_service();
  SlaServiceOptions o;
  o.index_path = city.dir() + "/sla-threaded";
  o.timer_thread = true;
  o.poll_interval = std::chrono::milliseconds(1);
  auto svc = SlaService::open(city.store(), city.registry(), city.clock(), o);
  ASSERT_TRUE(svc.ok());
  ASSERT_TRUE((*svc)->start().ok());

  std::atomic<bool> stop{false};
  std::thread driver([&] {
    while (!stop) {
      city.clock().advance(std::chrono::minutes(7));
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  });
  std::mutex ids_mu;
  std::vector<std::string> ids;
  std::vector<std::thread> desks;
  for (int d = 0; d < 4; ++d) {
    desks.emplace_back([&, d] {
      static const char* kTopics[] = {"lifts.broken", "roads.manhole_open", "utilities.heating.no_heat"};
      static const Category kCats[] = {Category::kComplaint, Category::kIncident, Category::kIncident};
      int n = 0;
      auto meta = [&] { return CommandMeta{"desk" + std::to_string(d) + ":" + std::to_string(++n), {}, ""}; };
      for (int a = 0; a < 6; ++a) {
        RegisterAppeal r;
        r.centre = "SHY";
        r.category = kCats[(a + d) % 3];
        r.topic = kTopics[(a + d) % 3];
        r.location = {"Abay", "street"};
        r.text = "text";
        r.applicant = {"A", "+7 701 000 0001", "x"};
        auto reg = city.engine().register_appeal(r, meta());
        ASSERT_TRUE(reg.ok()) << reg.status().ToString();
        {
          std::lock_guard lock(ids_mu);
          ids.push_back(reg->appeal_id);
        }
        const Command steps[] = {SendForReview{}, Assign{}, Accept{}, StartWork{}, Hold{"waiting"}, Resume{"back"}};
        for (const Command& c : steps) {
          city.engine().execute(reg->appeal_id, c, meta()).status().IgnoreError();
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        if (a % 2 == 0) {
          city.engine().execute(reg->appeal_id, Resolve{Outcome::kDone, "done"}, meta()).status().IgnoreError();
        }
      }
    });
  }
  for (auto& t : desks) t.join();
  stop = true;
  driver.join();

  // Quiesce: past every fact, everything fired, the subscription at the head.
  city.clock().advance(std::chrono::hours(24 * 40));
  for (int i = 0; i < 50; ++i) {
    const auto head = city.store().head_position();
    ASSERT_TRUE((*svc)->wait_for(head, std::chrono::seconds(10))) << (*svc)->status().ToString();
    ASSERT_TRUE((*svc)->fire_due().ok());
    if (city.store().head_position() == head && (*svc)->index().due_until(city.clock().now(), 1)->empty()) break;
  }
  const Timestamp now = city.clock().now() - std::chrono::microseconds(1);
  std::size_t events = 0;
  for (const std::string& id : ids) {
    const SlaAppealView v = city.view(id);
    ASSERT_TRUE(v.bound.has_value()) << id;
    auto bundle = city.registry().bundle(v.bound->rules_version, v.bound->calendars_version);
    ASSERT_TRUE(bundle.ok());
    auto plan = plan_sla(**bundle, v.facts, now);
    ASSERT_TRUE(plan.ok());
    std::set<std::string> keys;
    for (const auto& e : v.clock_events) EXPECT_TRUE(keys.insert(e.key()).second) << id << " " << e.key();
    auto recorded = v.clock_events, derived = plan->events;
    auto by_key = [](const SlaClockEvent& a, const SlaClockEvent& b) { return a.key() < b.key(); };
    std::sort(recorded.begin(), recorded.end(), by_key);
    std::sort(derived.begin(), derived.end(), by_key);
    EXPECT_EQ(recorded, derived) << id;
    events += recorded.size();
  }
  EXPECT_EQ(ids.size(), 24u);
  EXPECT_GT(events, 100u);
  for (std::int64_t late : (*svc)->stats().lateness_us) EXPECT_GT(late, 0);
  (*svc)->stop();
}

}  // namespace
}  // namespace otinish::engine
