// The SLA service decides incrementally: an appeal's kept view takes each new event, so the events it reads
// grow with the events written, not with their square (a mass incident's parent with thousands of children).
// What it decides is pinned elsewhere (sla_property_test: the same events as the pure function, at every
// instant); these tests pin what it reads.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/engine/forwarding_store.h"
#include "tests/engine/sla_test_city.h"

namespace otinish::engine {
namespace {

using testing::SlaCity;

// The city's store, counting the events read_stream returns.
class CountingStore final : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::uint64_t events_read() const { return read_.load(); }
  Result<std::vector<store::RecordedEvent>> read_stream(std::string_view stream, std::uint64_t from_version,
                                                        store::Direction direction,
                                                        std::size_t limit) const override {
    auto r = inner_.read_stream(stream, from_version, direction, limit);
    if (r.ok()) read_ += r->size();
    return r;
  }

 private:
  mutable std::atomic<std::uint64_t> read_{0};
};

struct CountedService {
  explicit CountedService(SlaCity& city, std::size_t cached_appeals = SlaServiceOptions{}.cached_appeals)
      : counting(city.store()) {
    city.stop_service();
    SlaServiceOptions o = city.service_options("sla-counted");
    o.cached_appeals = cached_appeals;
    service = city.start_service_over(counting, o);
  }
  CountingStore counting;
  std::unique_ptr<SlaService> service;
};

// A log that, while `losing` is set, acknowledges the SLA service's unsynced appends without keeping them; then
// recover() counts a recovery, as the RocksDB store does before it takes any append again: what a store that
// recovers in place from a failed fsync may leave of writes it had acknowledged before the sync.
class LosingStore final : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::atomic<bool> losing{false};
  std::atomic<int> lost{0};
  std::atomic<std::uint64_t> recovered{0};
  void recover() {
    losing = false;
    ++recovered;
  }
  std::uint64_t recoveries() const override { return recovered.load(); }
  Result<store::AppendResult> append(std::string_view s, store::ExpectedVersion e,
                                     std::span<const store::EventData> ev, const store::AppendOptions& o) override {
    if (losing.load() && !o.wait_for_sync && !e.is_any() && !ev.empty() && is_sla_event_type(ev.front().type)) {
      ++lost;
      const std::uint64_t head = inner_.head_position();
      return store::AppendResult{head + 1, head + ev.size(), e.version() + ev.size(), false};
    }
    return inner_.append(s, e, ev, o);
  }
};

TEST(SlaIncremental, AfterTheLogRecoveredInPlaceKeptViewsAreReadAgain) {
  // The service's kept view took its own appends; the log lost them in a recovery, and the appeal's next event
  // takes the version they had. Without reading the view again, that event looks covered by decisions that are
  // not in the log, and nothing is decided for it.
  SlaCity city;
  city.stop_service();
  LosingStore losing(city.store());
  auto svc = city.start_service_over(losing, city.service_options("sla-losing"));
  ASSERT_NE(svc, nullptr);
  losing.losing = true;
  const std::string id = city.reg(Category::kComplaint, "lifts.broken");
  // The registration handled: its binding appended without waiting for the fsync ("acknowledged", lost) and its
  // timer written.
  for (int i = 0; i < 1000 && !(losing.lost.load() > 0 && svc->index().find(id).has_value()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(losing.lost.load(), 0);
  ASSERT_TRUE(svc->index().find(id).has_value());
  losing.recover();
  city.clock().advance(std::chrono::seconds(1));
  city.run(id, SendForReview{});  // takes the stream version the lost binding had; its decision covers the registration
  city.settle(*svc);
  EXPECT_EQ(svc->stats().decision_errors, 0u) << svc->stats().last_decision_error;
  const auto [recorded, derived] = city.recorded_and_planned_keys(id);
  EXPECT_FALSE(derived.empty());
  EXPECT_EQ(recorded, derived);
}

TEST(SlaIncremental, AParentWithManyChildrenIsReadOnceNotOncePerChild) {
  SlaCity city;
  CountedService svc(city);
  const std::string parent = city.reg(Category::kIncident, "utilities.heating.no_heat");
  city.settle(*svc.service);
  const std::uint64_t before = svc.counting.events_read();
  constexpr int kChildren = 150;
  for (int i = 0; i < kChildren; ++i) {
    const std::string child = city.reg(Category::kIncident, "utilities.heating.no_heat");
    city.clock().advance(std::chrono::seconds(1));
    ASSERT_TRUE(city.engine().execute(child, MergeInto{parent, "same outage"}, city.meta()).ok());
    city.clock().advance(std::chrono::seconds(1));
  }
  city.settle(*svc.service);
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
  city.settle(*svc.service);
  const std::uint64_t before = svc.counting.events_read();
  const std::uint64_t decisions = svc.service->stats().syncs;
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(city.engine().execute(id, Comment{"called the applicant"}, city.meta()).ok());
    city.clock().advance(std::chrono::seconds(1));
  }
  city.settle(*svc.service);
  EXPECT_EQ(svc.counting.events_read() - before, 0u);  // each comment arrives by the subscription, in order
  EXPECT_EQ(svc.service->stats().syncs, decisions);     // and changes nothing a clock reacts to
  // Entering review moves no clock of the golden rules either; the assignment stops the law's redirect clock and
  // is decided as before.
  ASSERT_TRUE(city.engine().execute(id, SendForReview{}, city.meta()).ok());
  ASSERT_TRUE(city.engine().execute(id, Assign{}, city.meta()).ok());
  city.clock().advance(std::chrono::seconds(1));
  city.settle(*svc.service);
  EXPECT_GT(svc.service->stats().syncs, decisions);
}

TEST(SlaIncremental, AnAppealPushedOutOfMemoryIsReadBackAndDecidedTheSame) {
  SlaCity city;
  CountedService svc(city, /*cached_appeals=*/0);  // one appeal per stripe
  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i) ids.push_back(city.reg(Category::kComplaint, "lifts.broken"));
  for (const std::string& id : ids) ASSERT_TRUE(city.engine().execute(id, Comment{"again"}, city.meta()).ok());
  city.settle(*svc.service);
  // The registrations were recorded at the service's `now`: they are decided at the first look after it.
  city.clock().advance(std::chrono::seconds(1));
  ASSERT_TRUE(svc.service->fire_due().ok());
  city.settle(*svc.service);
  // 200 appeals on 64 stripes: most were pushed out and read back from their streams.
  EXPECT_GT(svc.counting.events_read(), 200u);
  for (const std::string& id : ids) {
    const SlaAppealView v = city.view(id);
    auto plan = city.plan(v);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    EXPECT_EQ(v.clock_events.size(), plan->events.size()) << id;
  }
}

TEST(SlaIncremental, AHoldAndAResumeAroundAPublicationMetAfterARestartAreDecided) {
  // Applying a publication reads each open appeal up to its stream's end without always deciding it (stricter
  // keeps an equally strict binding). A service that was stopped meets Hold before the publication and Resume
  // after it already in the stream: both must be decided. (The race where a running service's kept view is read
  // ahead by the publication is what Kept::decided guards; the property test's publications reach it only
  // now and then.)
  SlaCity city;
  const std::string id = city.reg(Category::kIncident, "lifts.broken");
  for (const Command& c : std::vector<Command>{SendForReview{}, Assign{}, Accept{}, StartWork{}}) city.run(id, c);
  city.tick();
  city.stop_service();
  city.clock().advance(std::chrono::minutes(10));
  city.run(id, Hold{"waiting for the applicant"});
  city.clock().advance(std::chrono::minutes(10));
  auto p = city.registry().publish_rule_set(testing::golden_rules("15wd", "t2"), "golden.yaml",
                                            RebindPolicy::kStricter, SlaCity::admin());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  city.clock().advance(std::chrono::minutes(10));
  city.run(id, Resume{"the applicant called back"});
  city.clock().advance(std::chrono::minutes(10));
  city.open_service();
  city.settle();
  ASSERT_TRUE(city.service().fire_due().ok());
  city.settle();

  auto plan = city.plan(city.view(id));
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const auto [recorded, derived] = city.recorded_and_planned_keys(id);
  EXPECT_EQ(recorded, derived);  // the resumed clock and its new deadline are recorded
  ASSERT_TRUE(plan->next_due.has_value());
  EXPECT_EQ(city.service().index().find(id), std::optional<std::optional<Timestamp>>(plan->next_due));
}

// The golden rules plus a proposal rule whose clocks are the complaint's (the law's), made from the complaint
// rule itself: an appeal moved from one to the other keeps its clocks' keys and changes its rule.
std::string rules_with_a_proposal_like_a_complaint() {
  const std::string golden = testing::golden_rules();
  const auto complaint = golden.find("  - id: complaint\n");
  EXPECT_NE(complaint, std::string::npos);
  std::string proposal = golden.substr(complaint);
  for (const std::string from : {"id: complaint", "category: complaint"}) {
    const auto at = proposal.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    proposal.replace(at, from.size(), from.substr(0, from.find(':') + 2) + "proposal");
  }
  return golden + proposal;
}

// A registration handled again (the timer index rebuilt, or a restart before the checkpoint passed it) whose
// stream holds a later command and the SLA events decided on it is decided on the whole stream. Decided on the
// registration alone (as a new appeal is, to save reading it back), it would bind the registration's rule,
// meet the earlier decision's idempotency key with other events, and stop the service.
TEST(SlaIncremental, ARegistrationHandledAgainIsDecidedOnItsWholeStream) {
  SlaCity city(rules_with_a_proposal_like_a_complaint());
  city.stop_service();
  const std::string id = city.reg(Category::kComplaint, "lifts.broken");
  city.run(id, Classify{Category::kProposal, "transport.route"}, "operator");
  city.clock().advance(std::chrono::minutes(1));
  city.open_service();
  city.settle();
  ASSERT_TRUE(city.service().status().ok()) << city.service().status().ToString();
  ASSERT_TRUE(city.view(id).bound.has_value());
  const std::uint64_t head = city.store().head_position();
  const auto due = city.service().index().find(id);
  city.stop_service();
  city.open_service("sla-rebuilt");
  city.settle();
  EXPECT_TRUE(city.service().status().ok()) << city.service().status().ToString();
  EXPECT_EQ(city.store().head_position(), head) << "the decision was appended again";
  EXPECT_EQ(city.service().index().find(id), due);
}

// At 06:00 of 2026-08-20, publishes the golden rules with an incident resolved in 8 business hours instead of 16,
// as a stricter rule set (appeals rebound to it), and lets the city's service apply it.
void publish_stricter_rules_at_six(SlaCity& city) {
  city.clock().set(testing::utc("2026-08-20T06:00:00Z"));
  std::string stricter = testing::golden_rules("15wd", "t2");
  const auto at = stricter.find("target: 16bh");
  ASSERT_NE(at, std::string::npos);
  stricter.replace(at, 12, "target: 8bh");
  auto p = city.registry().publish_rule_set(stricter, "golden.yaml", RebindPolicy::kStricter, SlaCity::admin());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  city.tick();
}

// The same for a registration whose only later events are the SLA's own (a stricter rule set rebound it): its
// timer, rebuilt, is the rebinding's, not the one the registration alone would give (no appeal event follows
// to correct it).
TEST(SlaIncremental, ARegistrationHandledAgainKeepsItsRebindingsTimer) {
  SlaCity city;
  // Registered while the service is stopped, so that one decision writes the binding and the clocks together
  // (the one a registration alone gives again).
  city.stop_service();
  city.clock().set(testing::utc("2026-08-20T05:00:00Z"));
  const std::string id = city.reg(Category::kIncident, "utilities.heating.no_heat");
  city.clock().advance(std::chrono::minutes(1));
  city.open_service();
  city.settle();
  const auto first = city.service().index().find(id);
  publish_stricter_rules_at_six(city);
  ASSERT_EQ(rebounds(city, id).size(), 1u);
  const auto due = city.service().index().find(id);
  ASSERT_TRUE(due && *due && first && *first);
  ASSERT_LT(**due, **first) << "8 business hours are due before 16";
  city.stop_service();
  city.open_service("sla-rebuilt");
  city.settle();
  EXPECT_TRUE(city.service().status().ok()) << city.service().status().ToString();
  EXPECT_EQ(city.service().index().find(id), due);
}

// A log whose storage refuses every decision's write to an appeal (a dead disk under the SLA's appends).
class RefusingEveryDecision final : public testing::ForwardingStore {
 public:
  using testing::ForwardingStore::ForwardingStore;
  Result<store::AppendResult> append(std::string_view s, store::ExpectedVersion e, std::span<const store::EventData> ev,
                                     const store::AppendOptions& o) override {
    if (!s.starts_with("appeal-")) return testing::ForwardingStore::append(s, e, ev, o);
    refused.fetch_add(1);
    return Status::Unavailable("the log's disk is gone (test)");
  }
  std::atomic<int> refused{0};
};

// Stopping the service while its log refuses every decision returns: its worker is retrying an append, its queue
// is full and the subscription waits for room in it. (It waited for good: the worker left on the stop without
// a word, and the subscription's wait knew of no stop before the subscription itself was stopped.)
TEST(SlaIncremental, StoppingWhileTheLogRefusesEveryDecisionReturns) {
  SlaCity city;
  city.stop_service();
  RefusingEveryDecision log(city.store());
  SlaServiceOptions o = city.service_options("sla-dead-disk");
  o.workers = 1;
  auto service = city.start_service_over(log, o);
  ASSERT_TRUE(service != nullptr);
  // More appeals than a worker's queue holds (256): the subscription ends up waiting for room.
  for (int i = 0; i < 300; ++i) city.reg(Category::kComplaint, "lifts.broken");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (log.refused.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_GT(log.refused.load(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the subscription reaches the full queue
  std::promise<void> stopped;
  std::thread stopper([&] {
    service.reset();
    stopped.set_value();
  });
  if (stopped.get_future().wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "stop() did not return within 20 s";
    std::_Exit(1);  // rather than a test that hangs until the suite's time-out
  }
  stopper.join();
}

// A log that counts the reads of appeal streams; `shared`: it says it is not the only writer of its log (as a
// cluster's is not).
class CountingAppealReads final : public testing::ForwardingStore {
 public:
  CountingAppealReads(store::EventStore& inner, bool shared) : testing::ForwardingStore(inner), shared_(shared) {}
  Result<std::vector<store::RecordedEvent>> read_stream(std::string_view s, std::uint64_t v, store::Direction d,
                                                         std::size_t n) const override {
    if (s.starts_with("appeal-")) reads.fetch_add(1);
    return testing::ForwardingStore::read_stream(s, v, d, n);
  }
  bool exclusive() const override { return !shared_ && testing::ForwardingStore::exclusive(); }
  mutable std::atomic<int> reads{0};

 private:
  const bool shared_;
};

// An appeal registered while the service runs is decided on the registration as the log delivered it: its
// stream is not read back. One registered before the service started may already have been decided by an
// earlier run (its SLA events follow it): that one is read. Both are decided alike, as the log's own decision
// of a re-read stream shows.
TEST(SlaIncremental, ALiveRegistrationIsDecidedWithoutReadingItsStreamBack) {
  SlaCity city;
  city.stop_service();
  const std::string before = city.reg(Category::kComplaint, "lifts.broken");
  CountingAppealReads log(city.store(), /*shared=*/false);
  auto service = city.start_service_over(log, city.service_options("sla-counted"));
  ASSERT_TRUE(service != nullptr);
  city.settle(*service);
  EXPECT_GE(log.reads.load(), 1) << "an appeal registered before the start is read from its stream";
  const int reads_before = log.reads.load();
  std::vector<std::string> live;
  for (int i = 0; i < 20; ++i) live.push_back(city.reg(Category::kComplaint, "lifts.broken"));
  city.settle(*service);
  ASSERT_TRUE(service->status().ok()) << service->status().ToString();
  EXPECT_EQ(log.reads.load(), reads_before) << "live registrations were read back from their streams";
  // Each is bound, with the timer a decision read from its whole stream gives.
  for (const std::string& id : live) {
    auto view = read_sla_view(city.store(), id);
    ASSERT_TRUE(view.ok()) << view.status().ToString();
    ASSERT_TRUE(view->bound.has_value()) << id;
    EXPECT_EQ(service->index().find(id), service->index().find(before)) << id;
  }
}

// A log whose appends to appeal streams wait while `hold` is set.
class HoldingAppealAppends final : public testing::ForwardingStore {
 public:
  using testing::ForwardingStore::ForwardingStore;
  Result<store::AppendResult> append(std::string_view s, store::ExpectedVersion e, std::span<const store::EventData> ev,
                                     const store::AppendOptions& o) override {
    if (s.starts_with("appeal-")) {
      std::unique_lock lock(mu);
      ++held;
      cv.notify_all();
      cv.wait(lock, [&] { return !hold; });
    }
    return testing::ForwardingStore::append(s, e, ev, o);
  }
  void release() {
    std::lock_guard lock(mu);
    hold = false;
    cv.notify_all();
  }
  bool wait_held(int n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return held >= n; });
  }
  std::mutex mu;
  std::condition_variable cv;
  bool hold = true;
  int held = 0;
};

// A decision made on the registration as it was delivered, which finds the same decision already in the stream
// (another decider made it, then rebound the appeal to a stricter rule set), is made again on the stream: its
// timer is the rebinding's, not the registration's. Nothing later would correct it: the publication finds the
// appeal rebound already.
TEST(SlaIncremental, ADecisionOnTheEventAloneThatMeetsItselfInTheStreamIsMadeAgainOnTheStream) {
  SlaCity city;  // its service is the other decider
  HoldingAppealAppends log(city.store());
  auto held = city.start_service_over(log, city.service_options("sla-held"));
  ASSERT_TRUE(held != nullptr);
  city.clock().set(testing::utc("2026-08-20T05:00:00Z"));
  const std::string id = city.reg(Category::kIncident, "utilities.heating.no_heat");
  ASSERT_TRUE(log.wait_held(1)) << "the held service never decided the registration";
  city.settle();  // the other decider binds it
  publish_stricter_rules_at_six(city);
  ASSERT_EQ(rebounds(city, id).size(), 1u);
  const auto due = city.service().index().find(id);
  ASSERT_TRUE(due && *due);
  log.release();
  city.settle(*held);
  ASSERT_TRUE(held->status().ok()) << held->status().ToString();
  EXPECT_EQ(held->index().find(id), due);
  EXPECT_EQ(rebounds(city, id).size(), 1u);
}

// On a log other nodes append to as well (a cluster), another node's decision may already follow a registration
// that this node's service has just been handed: every appeal is read from its stream.
TEST(SlaIncremental, OnASharedLogEveryRegistrationIsReadFromItsStream) {
  SlaCity city;
  city.stop_service();
  CountingAppealReads log(city.store(), /*shared=*/true);
  auto service = city.start_service_over(log, city.service_options("sla-shared"));
  ASSERT_TRUE(service != nullptr);
  for (int i = 0; i < 5; ++i) city.reg(Category::kComplaint, "lifts.broken");
  city.settle(*service);
  ASSERT_TRUE(service->status().ok()) << service->status().ToString();
  EXPECT_GE(log.reads.load(), 5);
}

// Waits (bounded) until `n` callers stand in the service's intake line.
bool line_reaches(const SlaService& s, std::size_t n) {
  for (int i = 0; i < 5000; ++i) {
    if (s.intake_waiting() == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

// A service that has not started: everything the city registered is its lag.
std::unique_ptr<SlaService> behind_by_five(SlaCity& city, const std::string& index) {
  city.settle();
  city.stop_service();
  for (int i = 0; i < 5; ++i) city.reg(Category::kComplaint, "lifts.broken");
  SlaServiceOptions o;
  o.index_path = city.dir() + "/" + index;
  o.timer_thread = false;
  auto svc = SlaService::open(city.store(), city.registry(), city.clock(), o);
  EXPECT_TRUE(svc.ok()) << svc.status().ToString();
  return svc.ok() ? std::move(svc).value() : nullptr;
}

TEST(SlaIncremental, IntakeWaitsWhileTheServiceIsBehindAndGoesOnOnceItCaughtUp) {
  SlaCity city;
  // Registered while no service runs: a service that has not started yet is that far behind.
  auto svc = behind_by_five(city, "sla-gate");
  ASSERT_NE(svc, nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(svc->wait_for_lag_below(3, std::chrono::milliseconds(50)));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(50));  // it did wait
  EXPECT_TRUE(svc->wait_for_lag_below(city.store().head_position(), std::chrono::milliseconds(0)));
  ASSERT_TRUE(svc->start().ok());
  ASSERT_TRUE(svc->wait_for(city.store().head_position(), std::chrono::seconds(10)));
  EXPECT_TRUE(svc->wait_for_lag_below(0, std::chrono::seconds(10)));
}

TEST(SlaIncremental, IntakeGoesOnInTheOrderItCameAndNobodyOvertakes) {
  using std::chrono::milliseconds;
  SlaCity city;
  auto svc = behind_by_five(city, "sla-line");
  ASSERT_NE(svc, nullptr);
  SlaService& s = *svc;
  const std::uint64_t head = city.store().head_position();
  // The first caller needs the service to have caught up completely.
  auto first = std::async(std::launch::async, [&] { return s.wait_for_lag_below(0, milliseconds(20000)); });
  ASSERT_TRUE(line_reaches(s, 1));
  // The next would be content with today's lag, yet waits its turn behind the first, and so do six more.
  std::atomic<int> through{0};
  std::vector<std::future<bool>> next;
  for (int i = 0; i < 7; ++i) {
    next.push_back(std::async(std::launch::async, [&] {
      const bool ok = s.wait_for_lag_below(head, milliseconds(20000));
      ++through;
      return ok;
    }));
    ASSERT_TRUE(line_reaches(s, static_cast<std::size_t>(i) + 2));
  }
  // One more that arrives now and gives up soon: it stood in line too, instead of passing the others.
  EXPECT_FALSE(s.wait_for_lag_below(head, milliseconds(30)));
  EXPECT_EQ(through.load(), 0);
  EXPECT_EQ(s.intake_waiting(), 8u);
  // Once the service caught up, the whole line goes on.
  ASSERT_TRUE(s.start().ok());
  EXPECT_TRUE(first.get());
  for (auto& f : next) EXPECT_TRUE(f.get());
  EXPECT_EQ(s.intake_waiting(), 0u);
}

TEST(SlaIncremental, AnIntakeCallerThatGivesUpLetsTheNextGoOn) {
  using std::chrono::milliseconds;
  SlaCity city;
  auto svc = behind_by_five(city, "sla-give-up");
  ASSERT_NE(svc, nullptr);
  SlaService& s = *svc;
  auto first = std::async(std::launch::async, [&] { return s.wait_for_lag_below(0, milliseconds(300)); });
  ASSERT_TRUE(line_reaches(s, 1));
  const auto t0 = std::chrono::steady_clock::now();
  auto second = std::async(std::launch::async,
                           [&] { return s.wait_for_lag_below(city.store().head_position(), milliseconds(20000)); });
  EXPECT_FALSE(first.get());  // the service never started: the first gave up after its 300 ms
  EXPECT_TRUE(second.get());  // and the second, whose own limit held all along, went on at once
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(10000));
  EXPECT_EQ(s.intake_waiting(), 0u);
}

TEST(SlaIncremental, StoppingTheServiceSendsItsIntakeLineOnRefused) {
  using std::chrono::milliseconds;
  SlaCity city;
  auto svc = behind_by_five(city, "sla-stop");
  ASSERT_NE(svc, nullptr);
  SlaService& s = *svc;
  std::vector<std::future<bool>> line;
  for (int i = 0; i < 3; ++i) {
    line.push_back(std::async(std::launch::async, [&] { return s.wait_for_lag_below(0, milliseconds(20000)); }));
    ASSERT_TRUE(line_reaches(s, static_cast<std::size_t>(i) + 1));
  }
  const auto t0 = std::chrono::steady_clock::now();
  s.stop();  // nothing will move the lag any more
  for (auto& f : line) EXPECT_FALSE(f.get());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(10000));
  EXPECT_EQ(s.intake_waiting(), 0u);
  // One that comes after the stop is refused at once, not after its whole wait.
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_FALSE(s.wait_for_lag_below(0, milliseconds(20000)));
  EXPECT_LT(std::chrono::steady_clock::now() - t1, milliseconds(5000));
}

}  // namespace
}  // namespace otinish::engine
