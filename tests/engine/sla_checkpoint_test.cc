// The SLA service appends its events for the log it follows without waiting for each fsync, so its checkpoint
// must not pass an event whose SLA events are not durable yet (a power loss would lose them while the
// checkpoint says they were decided), and wait_for() must not report an event done before they are readable.
// A store whose published head the test holds back plays the slow fsync.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/engine/sla_test_city.h"

namespace otinish::engine {
namespace {

using testing::SlaCity;

// Forwards everything to the real store but reports a head no newer than `held` (0: not held).
class HeldHeadStore final : public store::EventStore {
 public:
  explicit HeldHeadStore(store::EventStore& real) : real_(real) {}
  void hold(std::uint64_t at) { held_ = at; }
  void release() { held_ = 0; }
  std::uint64_t recoveries() const override { return real_.recoveries(); }

  Result<store::AppendResult> append(std::string_view stream, store::ExpectedVersion expected,
                                     std::span<const store::EventData> events,
                                     const store::AppendOptions& options) override {
    return real_.append(stream, expected, events, options);
  }
  Result<std::vector<store::RecordedEvent>> read_stream(std::string_view stream, std::uint64_t from_version,
                                                        store::Direction direction,
                                                        std::size_t limit) const override {
    return real_.read_stream(stream, from_version, direction, limit);
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
  std::uint64_t head_position() const override {
    const std::uint64_t h = held_.load();
    return h == 0 ? real_.head_position() : std::min(h, real_.head_position());
  }
  Hash256 head_hash() const override { return real_.head_hash(); }
  std::unique_ptr<store::Subscription> subscribe(std::uint64_t after, store::EventHandler handler) override {
    return real_.subscribe(after, std::move(handler));
  }

 private:
  store::EventStore& real_;
  std::atomic<std::uint64_t> held_{0};
};

RegisterAppeal complaint() {
  RegisterAppeal r;
  r.centre = "SHY";
  r.category = Category::kComplaint;
  r.topic = "lifts.broken";
  r.location = {"Abay", "street"};
  r.text = "the lift has not worked for a week";
  r.applicant = {"A", "+7 701 000 0001", "x"};
  return r;
}

TEST(SlaCheckpoint, HeldBackUntilTheSlaEventsOfEveryEarlierEventAreDurable) {
  SlaCity city;
  city.settle();
  city.stop_service();
  HeldHeadStore held(city.store());
  auto svc = city.start_service_over(held, city.service_options("sla-held"));
  ASSERT_TRUE(svc != nullptr);
  ASSERT_TRUE(svc->wait_for(city.store().head_position(), std::chrono::seconds(10)));

  // From now on nothing newer looks durable to the service.
  held.hold(city.store().head_position());
  city.clock().advance(std::chrono::microseconds(1));
  auto first = city.engine().register_appeal(complaint(), {"desk:1", {}, ""});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  city.clock().advance(std::chrono::microseconds(1));
  // The service processes the registration and appends its SLA events, but they do not look durable: it does
  // not call the registration done, and its checkpoint stays before it.
  for (int i = 0; i < 2000 && svc->stats().events_appended == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_GT(svc->stats().events_appended, 0u);
  EXPECT_FALSE(svc->wait_for(first->position, std::chrono::milliseconds(100)));
  EXPECT_LT(svc->index().checkpoint(), first->position);

  // Durable again: the registration is done, and the next event processed moves the checkpoint past it.
  held.release();
  ASSERT_TRUE(svc->wait_for(first->position, std::chrono::seconds(10)));
  // The subscription may have seen the registration before the clock moved past its instant: then it bound the
  // appeal and left the clocks to the timer at that instant (decisions are strictly before now). Fire it, as the
  // timer thread would.
  ASSERT_TRUE(svc->fire_due().ok());
  auto second = city.engine().register_appeal(complaint(), {"desk:2", {}, ""});
  ASSERT_TRUE(second.ok());
  city.clock().advance(std::chrono::microseconds(1));
  ASSERT_TRUE(svc->wait_for(city.store().head_position(), std::chrono::seconds(10)));
  EXPECT_GE(svc->index().checkpoint(), first->position);

  // A restart from the held-back checkpoint re-decides from there and writes nothing twice.
  const std::size_t before = city.view(first->appeal_id).clock_events.size();
  ASSERT_GT(before, 0u);
  svc.reset();
  city.open_service("sla-held");
  city.settle();
  EXPECT_EQ(city.view(first->appeal_id).clock_events.size(), before);
}

}  // namespace
}  // namespace otinish::engine
