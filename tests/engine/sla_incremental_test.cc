// The SLA service decides incrementally: an appeal's kept view takes each new event, so the events it reads
// grow with the events written, not with their square (a mass incident's parent with thousands of children).
// What it decides is pinned elsewhere (sla_property_test: the same events as the pure function, at every
// instant); these tests pin what it reads.
#include <gtest/gtest.h>

#include <atomic>

#include "tests/engine/sla_test_city.h"

namespace otinish::engine {
namespace {

using testing::SlaCity;

// The city's store, counting the events read_stream returns.
class CountingStore final : public store::EventStore {
 public:
  explicit CountingStore(store::EventStore& real) : real_(real) {}
  std::uint64_t events_read() const { return read_.load(); }

  Result<store::AppendResult> append(std::string_view stream, store::ExpectedVersion expected,
                                     std::span<const store::EventData> events,
                                     const store::AppendOptions& options) override {
    return real_.append(stream, expected, events, options);
  }
  Result<std::vector<store::RecordedEvent>> read_stream(std::string_view stream, std::uint64_t from_version,
                                                        store::Direction direction,
                                                        std::size_t limit) const override {
    auto r = real_.read_stream(stream, from_version, direction, limit);
    if (r.ok()) read_ += r->size();
    return r;
  }
  Result<std::vector<store::RecordedEvent>> read_all(std::uint64_t from, std::size_t limit) const override {
    return real_.read_all(from, limit);
  }
  Result<std::uint64_t> scan(std::uint64_t from, std::uint64_t limit,
                             const std::function<bool(const store::RecordedEvent&)>& visit) const override {
    return real_.scan(from, limit, visit);
  }
  Result<std::uint64_t> stream_version(std::string_view stream) const override {
    return real_.stream_version(stream);
  }
  std::uint64_t head_position() const override { return real_.head_position(); }
  Hash256 head_hash() const override { return real_.head_hash(); }
  std::unique_ptr<store::Subscription> subscribe(std::uint64_t after, store::EventHandler handler) override {
    return real_.subscribe(after, std::move(handler));
  }

 private:
  store::EventStore& real_;
  mutable std::atomic<std::uint64_t> read_{0};
};

struct CountedService {
  explicit CountedService(SlaCity& city, std::size_t cached_appeals = SlaServiceOptions{}.cached_appeals)
      : counting(city.store()) {
    city.stop_service();
    SlaServiceOptions o;
    o.index_path = city.dir() + "/sla-counted";
    o.timer_thread = false;
    o.cached_appeals = cached_appeals;
    auto s = SlaService::open(counting, city.registry(), city.clock(), o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    service = std::move(s).value();
    EXPECT_TRUE(service->start().ok());
  }
  void settle(SlaCity& city) {
    for (int i = 0; i < 100; ++i) {
      const std::uint64_t head = city.store().head_position();
      ASSERT_TRUE(service->wait_for(head, std::chrono::seconds(10))) << service->status().ToString();
      if (city.store().head_position() == head) return;
    }
    FAIL() << "the SLA service never caught up";
  }
  CountingStore counting;
  std::unique_ptr<SlaService> service;
};

TEST(SlaIncremental, AParentWithManyChildrenIsReadOnceNotOncePerChild) {
  SlaCity city;
  CountedService svc(city);
  const std::string parent = city.reg(Category::kIncident, "utilities.heating.no_heat");
  svc.settle(city);
  const std::uint64_t before = svc.counting.events_read();
  constexpr int kChildren = 150;
  for (int i = 0; i < kChildren; ++i) {
    const std::string child = city.reg(Category::kIncident, "utilities.heating.no_heat");
    city.clock().advance(std::chrono::seconds(1));
    ASSERT_TRUE(city.engine().execute(child, MergeInto{parent, "same outage"}, city.meta()).ok());
    city.clock().advance(std::chrono::seconds(1));
  }
  svc.settle(city);
  // Each child's stream (registration, its SLA events, the merge, the SLA's stop) is read about once, and the
  // parent's child_attached facts are folded as they come. Re-reading the parent per child, as a
  // from-scratch decision does, would read kChildren² / 2 = 11,250 events for the parent alone.
  const std::uint64_t read = svc.counting.events_read() - before;
  EXPECT_LT(read, 12u * kChildren) << read << " events read for " << kChildren << " children";
  // The parent took no decision for them: its clocks were decided once, at registration.
  const SlaAppealView v = city.view(parent);
  EXPECT_EQ(v.facts.history.size(), 1u + kChildren);
}

TEST(SlaIncremental, CommentsAreFoldedWithoutReadingTheStreamAgain) {
  SlaCity city;
  CountedService svc(city);
  const std::string id = city.reg(Category::kComplaint, "lifts.broken");
  svc.settle(city);
  const std::uint64_t before = svc.counting.events_read();
  const std::uint64_t decisions = svc.service->stats().syncs;
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(city.engine().execute(id, Comment{"called the applicant"}, city.meta()).ok());
    city.clock().advance(std::chrono::seconds(1));
  }
  svc.settle(city);
  EXPECT_EQ(svc.counting.events_read() - before, 0u);  // each comment arrives by the subscription, in order
  EXPECT_EQ(svc.service->stats().syncs, decisions);     // and changes nothing a clock reacts to
  // Entering review moves no clock of the golden rules either; the assignment stops the law's redirect clock and
  // is decided as before.
  ASSERT_TRUE(city.engine().execute(id, SendForReview{}, city.meta()).ok());
  ASSERT_TRUE(city.engine().execute(id, Assign{}, city.meta()).ok());
  city.clock().advance(std::chrono::seconds(1));
  svc.settle(city);
  EXPECT_GT(svc.service->stats().syncs, decisions);
}

TEST(SlaIncremental, AnAppealPushedOutOfMemoryIsReadBackAndDecidedTheSame) {
  SlaCity city;
  CountedService svc(city, /*cached_appeals=*/0);  // one appeal per stripe
  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i) ids.push_back(city.reg(Category::kComplaint, "lifts.broken"));
  for (const std::string& id : ids) ASSERT_TRUE(city.engine().execute(id, Comment{"again"}, city.meta()).ok());
  svc.settle(city);
  // The registrations were recorded at the service's `now`: they are decided at the first look after it.
  city.clock().advance(std::chrono::seconds(1));
  ASSERT_TRUE(svc.service->fire_due().ok());
  svc.settle(city);
  // 200 appeals on 64 stripes: most were pushed out and read back from their streams.
  EXPECT_GT(svc.counting.events_read(), 200u);
  for (const std::string& id : ids) {
    const SlaAppealView v = city.view(id);
    ASSERT_TRUE(v.bound.has_value());
    auto bundle = city.registry().bundle(v.bound->rules_version, v.bound->calendars_version);
    ASSERT_TRUE(bundle.ok());
    auto plan = plan_sla(**bundle, v.facts, city.clock().now() - std::chrono::microseconds(1));
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(v.clock_events.size(), plan->events.size()) << id;
  }
}

}  // namespace
}  // namespace otinish::engine
