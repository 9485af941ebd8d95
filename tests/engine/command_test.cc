// The command handler on the real RocksDB store: numbering, idempotency, conflicts, errors, replay as of a time.
#include <chrono>
#include <atomic>
#include <condition_variable>
#include <tuple>
#include <future>
#include <memory>
#include <new>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/engine/forwarding_store.h"
#include "tests/engine/test_city.h"

namespace otinish::engine {
namespace {

using testing::TestCity;

TEST(CommandHandler, NumbersAreDensePerCentreAndYear) {
  TestCity city;
  EXPECT_EQ(city.reg(Category::kComplaint, "lifts.broken"), "SHY-2026-0000001");
  EXPECT_EQ(city.reg(Category::kComplaint, "lifts.broken"), "SHY-2026-0000002");
  RegisterAppeal r{.centre = "TRZ", .category = Category::kConsultation, .topic = "reference.address",
                   .text = "where is the CSC?"};
  auto other = city.engine().register_appeal(r, city.meta());
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->appeal_id, "TRZ-2026-0000001");
  // The year follows Almaty time: 2026-12-31T19:30Z is already 2027 there.
  Timestamp ny;
  ASSERT_TRUE(parse_utc("2026-12-31T19:30:00Z", &ny));
  city.clock().set(ny);
  EXPECT_EQ(city.reg(Category::kComplaint, "lifts.broken"), "SHY-2027-0000001");
}

TEST(CommandHandler, ConcurrentRegistrationsGetDenseDistinctNumbers) {
  TestCity city;
  constexpr int kThreads = 4, kEach = 25;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<std::string> ids;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        RegisterAppeal r{.centre = "SHY", .category = Category::kComplaint, .topic = "lifts.broken", .text = "x"};
        CommandMeta m{"t" + std::to_string(t) + "-" + std::to_string(i), {}, ""};
        auto res = city.engine().register_appeal(r, m);
        ASSERT_TRUE(res.ok()) << res.status().ToString();
        std::lock_guard lock(mu);
        ids.insert(res->appeal_id);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(ids.size(), static_cast<std::size_t>(kThreads * kEach));
  EXPECT_EQ(*ids.begin(), "SHY-2026-0000001");
  EXPECT_EQ(*ids.rbegin(), "SHY-2026-0000100");
}

TEST(CommandHandler, RetriedRegistrationReturnsTheSameNumber) {
  TestCity city;
  RegisterAppeal r{.centre = "SHY", .category = Category::kComplaint, .topic = "lifts.broken", .text = "x"};
  CommandMeta m{"desk-1:42", {"operator:a", "operator", ""}, ""};
  auto first = city.engine().register_appeal(r, m);
  auto second = city.engine().register_appeal(r, m);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(first->appeal_id, second->appeal_id);
  EXPECT_TRUE(second->duplicate);
  EXPECT_EQ(city.reg(Category::kComplaint, "lifts.broken"), "SHY-2026-0000002");
}

// register_appeal_async answers what register_appeal would: dense numbers from several threads, a re-sent command's
// first outcome (duplicate), a refusal on the calling thread before the call returns; the appeal loads once answered.
TEST(CommandHandler, AsynchronousRegistrationAnswersWhatTheWaitingOneWould) {
  TestCity city;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Result<CommandResult>> got;
  auto collect = [&](Result<CommandResult> r) {
    std::lock_guard lock(mu);
    got.push_back(std::move(r));
    cv.notify_all();
  };
  auto wait_for = [&](std::size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(20), [&] { return got.size() >= n; });
  };
  const RegisterAppeal r{.centre = "SHY", .category = Category::kComplaint, .topic = "lifts.broken", .text = "x"};
  constexpr int kThreads = 4, kEach = 10;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        city.engine().register_appeal_async(r, {"t" + std::to_string(t) + "-" + std::to_string(i), {}, ""}, collect);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(wait_for(kThreads * kEach));
  std::set<std::string> ids;
  {
    std::lock_guard lock(mu);
    for (const auto& g : got) {
      ASSERT_TRUE(g.ok()) << g.status().ToString();
      EXPECT_FALSE(g->duplicate);
      ids.insert(g->appeal_id);
      auto loaded = city.engine().load(g->appeal_id);  // durable and visible once answered
      ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
      EXPECT_EQ(loaded->version, g->version);
    }
  }
  ASSERT_EQ(ids.size(), std::size_t{kThreads * kEach});
  EXPECT_EQ(*ids.begin(), "SHY-2026-0000001");
  EXPECT_EQ(*ids.rbegin(), "SHY-2026-0000040");

  // The same command again: its first outcome, nothing written.
  city.engine().register_appeal_async(r, {"t0-3", {}, ""}, collect);
  ASSERT_TRUE(wait_for(kThreads * kEach + 1));
  {
    std::lock_guard lock(mu);
    const auto& again = got.back();
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_TRUE(again->duplicate);
    EXPECT_TRUE(ids.contains(again->appeal_id));
  }
  EXPECT_EQ(city.reg(Category::kComplaint, "lifts.broken"), "SHY-2026-0000041");

  // Refused before any number is taken: answered before the call returns.
  RegisterAppeal bad = r;
  bad.topic = "";
  city.engine().register_appeal_async(bad, {"bad-1", {}, ""}, collect);
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(got.size(), std::size_t{kThreads * kEach + 2});
    EXPECT_EQ(got.back().status().code(), StatusCode::kInvalidArgument) << got.back().status().ToString();
  }
  EXPECT_EQ(city.reg(Category::kComplaint, "lifts.broken"), "SHY-2026-0000042");
}

// execute_async answers what execute would: the same versions and stages along a lifecycle, a re-sent
// command's first outcome, a stale expected version and a refusal; many commands on one appeal at once, each
// appended once (the later ones conflict with the earlier ones' unsynced appends and are decided again); a
// merge and a mass incident's resolution reaching its children.
TEST(CommandHandler, AsynchronousCommandsAnswerWhatTheWaitingOnesWould) {
  TestCity city;
  auto async = [&](const std::string& id, const Command& c, const CommandMeta& m) -> Result<CommandResult> {
    auto answer = std::make_shared<std::promise<Result<CommandResult>>>();
    auto got = answer->get_future();
    city.engine().execute_async(id, c, m, [answer](Result<CommandResult> r) { answer->set_value(std::move(r)); });
    if (got.wait_for(std::chrono::seconds(20)) != std::future_status::ready) return Status::Internal("no answer in 20 s");
    return got.get();
  };
  const std::string waited = city.reg(Category::kComplaint, "lifts.broken");
  const std::string handed = city.reg(Category::kComplaint, "lifts.broken");
  const std::vector<Command> steps = {SendForReview{}, Assign{}, Accept{}, Comment{"the lift is on floor 4"},
                                      StartWork{}, Resolve{Outcome::kDone, "repaired"}};
  for (std::size_t i = 0; i < steps.size(); ++i) {
    auto w = city.engine().execute(waited, steps[i], city.meta());
    const CommandMeta m = city.meta();
    auto h = async(handed, steps[i], m);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE(h.ok()) << "step " << i << ": " << h.status().ToString();
    EXPECT_EQ(h->stage, w->stage) << "step " << i;
    EXPECT_EQ(h->version, w->version) << "step " << i;
    EXPECT_EQ(h->decision_version, w->decision_version) << "step " << i;
    EXPECT_FALSE(h->duplicate);
    EXPECT_EQ(city.engine().load(handed)->version, h->version) << "durable and visible once answered";
    // Re-sent: the first outcome, nothing written.
    auto again = async(handed, steps[i], m);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_TRUE(again->duplicate);
    EXPECT_EQ(again->version, h->version);
  }
  CommandMeta stale = city.meta();
  stale.expected_version = 1;
  auto conflict = async(handed, Comment{"late"}, stale);
  EXPECT_EQ(conflict.status().code(), StatusCode::kConflict) << conflict.status().ToString();
  EXPECT_EQ(conflict.status().current_version(), city.engine().load(handed)->decision_version);
  EXPECT_EQ(async(handed, Accept{}, city.meta()).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(async("SHY-2026-0999999", Comment{"x"}, city.meta()).status().code(), StatusCode::kNotFound);

  // Answers collected from callbacks that may outlive a failed assertion: shared, not on the stack.
  struct Answers : std::enable_shared_from_this<Answers> {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Result<CommandResult>> got;
    Engine::CommandCallback add() {
      return [self = shared_from_this()](Result<CommandResult> r) {
        std::lock_guard lock(self->mu);
        self->got.push_back(std::move(r));
        self->cv.notify_all();
      };
    }
    bool wait_for(std::size_t n) {
      std::unique_lock lock(mu);
      return cv.wait_for(lock, std::chrono::seconds(30), [&] { return got.size() >= n; });
    }
  };

  // 40 comments on one appeal at once, from four threads that do not wait for their answers: taken in turn,
  // each appended once.
  const std::string busy = city.reg(Category::kComplaint, "lifts.broken");
  const std::uint64_t start = city.engine().load(busy)->version;
  auto comments = std::make_shared<Answers>();
  std::vector<std::thread> desks;
  for (int t = 0; t < 4; ++t) {
    desks.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        city.engine().execute_async(busy, Comment{"note " + std::to_string(t) + "/" + std::to_string(i)},
                                    {"c" + std::to_string(t) + "-" + std::to_string(i), {}, ""}, comments->add());
      }
    });
  }
  for (auto& d : desks) d.join();
  ASSERT_TRUE(comments->wait_for(40)) << comments->got.size();
  {
    std::lock_guard lock(comments->mu);
    std::set<std::uint64_t> versions;
    for (const auto& r : comments->got) {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      versions.insert(r->version);
    }
    EXPECT_EQ(versions.size(), 40u) << "two comments answered with one version";
  }
  EXPECT_EQ(city.engine().load(busy)->version, start + 40);

  // Sent one after the other without waiting, the second decided on what the first left: start_work is
  // allowed only once the appeal is accepted.
  const std::string quick = city.reg(Category::kComplaint, "lifts.broken");
  ASSERT_TRUE(async(quick, SendForReview{}, city.meta()).ok());
  ASSERT_TRUE(async(quick, Assign{}, city.meta("inspector")).ok());
  auto in_turn = std::make_shared<Answers>();
  city.engine().execute_async(quick, Accept{}, city.meta("agency"), in_turn->add());
  city.engine().execute_async(quick, StartWork{}, city.meta("agency"), in_turn->add());
  ASSERT_TRUE(in_turn->wait_for(2));
  {
    std::lock_guard lock(in_turn->mu);
    ASSERT_TRUE(in_turn->got[0].ok()) << in_turn->got[0].status().ToString();
    ASSERT_TRUE(in_turn->got[1].ok()) << in_turn->got[1].status().ToString();
    EXPECT_EQ(in_turn->got[1]->stage, Stage::kInProgress);
  }

  // Two desks with the same If-Match at once: one goes through, the other is told the version now.
  const std::uint64_t seen = city.engine().load(quick)->decision_version;
  auto racing = std::make_shared<Answers>();
  for (int i = 0; i < 2; ++i) {
    CommandMeta m = city.meta("agency");
    m.expected_version = seen;
    city.engine().execute_async(quick, Comment{"desk " + std::to_string(i)}, m, racing->add());
  }
  ASSERT_TRUE(racing->wait_for(2));
  {
    std::lock_guard lock(racing->mu);
    const auto& [a, b] = std::tie(racing->got[0], racing->got[1]);
    ASSERT_NE(a.ok(), b.ok()) << a.status().ToString() << " / " << b.status().ToString();
    const auto& refused = a.ok() ? b : a;
    EXPECT_EQ(refused.status().code(), StatusCode::kConflict) << refused.status().ToString();
    EXPECT_EQ(refused.status().current_version(), (a.ok() ? a : b)->decision_version);
  }

  // A mass incident: children merged, then the parent's resolution reaches them.
  const std::string parent = city.reg(Category::kIncident, "roads.manhole_open");
  ASSERT_TRUE(async(parent, Assign{}, city.meta("inspector")).ok());
  std::vector<std::string> children;
  for (int i = 0; i < 3; ++i) {
    children.push_back(city.reg(Category::kIncident, "roads.manhole_open", "+7 701 300 000" + std::to_string(i)));
    auto merged = async(children.back(), MergeInto{parent, "same manhole"}, city.meta("inspector"));
    ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  }
  EXPECT_EQ(city.engine().load(parent)->children.size(), 3u);
  ASSERT_TRUE(async(parent, Accept{}, city.meta("agency")).ok());
  ASSERT_TRUE(async(parent, StartWork{}, city.meta("agency")).ok());
  auto resolved = async(parent, Resolve{Outcome::kDone, "the manhole is covered"}, city.meta("agency"));
  ASSERT_TRUE(resolved.ok()) << resolved.status().ToString();
  for (const std::string& child : children) {
    EXPECT_EQ(city.engine().load(child)->stage, Stage::kResolved) << child;
  }
}

// An engine destroyed while its execute_async commands are in flight answers every one of them first.
TEST(CommandHandler, AnEngineAnswersEveryAsynchronousCommandBeforeItGoes) {
  TestCity city;
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(city.reg(Category::kComplaint, "lifts.broken"));
  auto answered = std::make_shared<std::atomic<int>>(0);
  {
    Engine engine(city.store(), city.clock(), &city.catalogue());
    for (int i = 0; i < 20; ++i) {
      engine.execute_async(ids[i % ids.size()], Comment{"note " + std::to_string(i)},
                           {"gone-" + std::to_string(i), {}, ""}, [answered](Result<CommandResult> r) {
                             EXPECT_TRUE(r.ok()) << r.status().ToString();
                             answered->fetch_add(1);
                           });
    }
  }
  EXPECT_EQ(answered->load(), 20);
  for (const std::string& id : ids) EXPECT_EQ(city.engine().load(id)->version, 1u + 5u) << id;
}

// The same for registrations: their completions use the engine too (a re-sent one reads its appeal).
TEST(CommandHandler, AnEngineAnswersEveryAsynchronousRegistrationBeforeItGoes) {
  TestCity city;
  auto answered = std::make_shared<std::atomic<int>>(0);
  const RegisterAppeal r{.centre = "SHY", .category = Category::kComplaint, .topic = "lifts.broken", .text = "x"};
  {
    Engine engine(city.store(), city.clock(), &city.catalogue());
    for (int i = 0; i < 20; ++i) {
      engine.register_appeal_async(r, {"gone-reg-" + std::to_string(i), {}, ""}, [answered](Result<CommandResult> r) {
        EXPECT_TRUE(r.ok()) << r.status().ToString();
        answered->fetch_add(1);
      });
    }
  }
  EXPECT_EQ(answered->load(), 20);
}

TEST(CommandHandler, RetriedCommandIsHarmless) {
  TestCity city;
  auto id = city.reg(Category::kComplaint, "lifts.broken");
  CommandMeta m{"inspector:send-1", {"inspector:b", "inspector", ""}, ""};
  auto a = city.engine().execute(id, SendForReview{}, m);
  auto b = city.engine().execute(id, SendForReview{}, m);
  ASSERT_TRUE(a.ok() && b.ok()) << b.status().ToString();
  EXPECT_FALSE(a->duplicate);
  EXPECT_TRUE(b->duplicate);
  EXPECT_EQ(a->version, b->version);
  EXPECT_EQ(city.engine().load(id)->version, 2u);
}

TEST(CommandHandler, ExpectedVersionRefusesAStaleCommandWithoutRetrying) {
  TestCity city;
  auto id = city.reg(Category::kComplaint, "lifts.broken");
  CommandMeta stale{"desk-2:send", {"operator:b", "operator", ""}, "", 0};
  auto r = city.engine().execute(id, SendForReview{}, stale);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kConflict);
  EXPECT_EQ(r.status().current_version(), 1u);
  EXPECT_EQ(city.engine().load(id)->version, 1u) << "a refused command writes nothing";
  CommandMeta fresh{"desk-2:send-again", {"operator:b", "operator", ""}, "", 1};
  auto ok = city.engine().execute(id, SendForReview{}, fresh);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->version, 2u);
}

TEST(CommandHandler, DisallowedCommandNamesStageAndAllowedCommands) {
  TestCity city;
  auto id = city.reg(Category::kComplaint, "lifts.broken");
  auto r = city.engine().execute(id, Resolve{Outcome::kDone, "fixed"}, city.meta());
  ASSERT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("resolve is not allowed in stage registered"), std::string::npos);
  EXPECT_NE(r.status().message().find("allowed now: classify, send_for_review, merge, comment"), std::string::npos)
      << r.status().message();
}

TEST(CommandHandler, MissingReasonsAndUnknownTopicsAreInvalidArguments) {
  TestCity city;
  auto id = city.reg(Category::kComplaint, "lifts.broken");
  city.run(id, SendForReview{});
  EXPECT_EQ(city.engine().execute(id, ReturnToOperator{""}, city.meta()).status().code(),
            StatusCode::kInvalidArgument);
  auto bad = city.engine().execute(id, Classify{Category::kIncident, "no.such.topic", {}, ""}, city.meta());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("not in the catalogue"), std::string::npos);
  EXPECT_EQ(city.engine().execute("SHY-2026-0000099", SendForReview{}, city.meta()).status().code(),
            StatusCode::kNotFound);
}

TEST(CommandHandler, ConflictingWritersAreRetriedOnFreshState) {
  TestCity city;
  auto id = city.reg(Category::kComplaint, "lifts.broken");
  constexpr int kThreads = 4, kEach = 20;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        CommandMeta m{"c" + std::to_string(t) + "-" + std::to_string(i), {}, ""};
        auto r = city.engine().execute(id, Comment{"note"}, m);
        EXPECT_TRUE(r.ok()) << r.status().ToString();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(city.engine().load(id)->version, 1u + kThreads * kEach);
}

TEST(CommandHandler, CriticalIncidentIsAssignedStraightFromRegistration) {
  TestCity city;
  auto id = city.reg(Category::kIncident, "roads.manhole_open");
  auto s = city.engine().load(id);
  EXPECT_EQ(s->priority, Priority::kCritical);
  EXPECT_TRUE(s->dangerous_topic);
  EXPECT_EQ(city.run(id, Assign{}), Stage::kAssigned);
  EXPECT_EQ(city.engine().load(id)->agency, "city-roads");
}

TEST(CommandHandler, GratitudeIsForwardedAndClosed) {
  TestCity city;
  auto id = city.reg(Category::kGratitude, "gratitude.general");
  city.run(id, SendForReview{});
  EXPECT_EQ(city.run(id, Assign{"akimat"}), Stage::kClosed);
}

TEST(CommandHandler, ProposalEndsDeclinedWithReasons) {
  TestCity city;
  auto id = city.reg(Category::kProposal, "transport.route");
  city.run(id, SendForReview{});
  city.run(id, Assign{});
  city.run(id, Accept{});
  city.run(id, StartWork{});
  EXPECT_EQ(city.engine().execute(id, Resolve{Outcome::kDone, "ok"}, city.meta()).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(city.run(id, Resolve{Outcome::kProposalDeclined, "the route duplicates line 12"}), Stage::kResolved);
  EXPECT_EQ(city.run(id, Close{}), Stage::kClosed);
  EXPECT_EQ(city.engine().load(id)->outcome, Outcome::kProposalDeclined);
}

TEST(CommandHandler, ExtensionIsCappedAtTwoMonthsFromRegistration) {
  TestCity city;
  auto id = city.reg(Category::kComplaint, "lifts.broken");
  city.run(id, SendForReview{});
  city.run(id, Assign{});
  city.run(id, Accept{});
  auto registered = city.engine().load(id)->registered_at;
  Timestamp cap = extension_cap(registered);
  EXPECT_EQ(format_utc(cap), "2026-05-02T04:00:00.000000Z");
  auto too_far = city.engine().execute(id, RequestExtension{cap + std::chrono::hours(1), "parts"}, city.meta());
  EXPECT_EQ(too_far.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_far.status().message().find("two-month cap"), std::string::npos);
  city.run(id, RequestExtension{cap, "waiting for lift parts"});
  EXPECT_EQ(city.engine().execute(id, RequestExtension{cap, "again"}, city.meta()).status().code(),
            StatusCode::kFailedPrecondition);
  city.run(id, GrantExtension{"head: parts ordered from Almaty"});
  auto s = city.engine().load(id);
  EXPECT_EQ(s->extended_deadline, cap);
  EXPECT_FALSE(s->requested_deadline.has_value());
  EXPECT_EQ(city.engine().execute(id, GrantExtension{"nothing pending"}, city.meta()).status().code(),
            StatusCode::kFailedPrecondition);
}

// A store that throws, once armed, from a read or append of a stream with the armed prefix: what memory
// running out looks like to the engine while it decides a command or prepares an append. Its asynchronous
// appends go to the real store's (answered on its completion thread), so that commands on one appeal queue.
class ThrowingStore final : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  // The `nth` read of a stream with this prefix from now on throws (1: the next one).
  void arm_read(std::string prefix, int nth = 1) {
    std::lock_guard lock(mu_);
    read_prefix_ = std::move(prefix);
    reads_left_ = nth;
  }
  void arm_append(std::string prefix) {
    std::lock_guard lock(mu_);
    append_prefix_ = std::move(prefix);
  }
  Result<std::vector<store::RecordedEvent>> read_stream(std::string_view s, std::uint64_t v, store::Direction d,
                                                        std::size_t n) const override {
    if (fires(read_prefix_, s, &reads_left_)) throw std::bad_alloc();
    return inner_.read_stream(s, v, d, n);
  }
  void append_async(std::string s, store::ExpectedVersion e, std::vector<store::EventData> ev, store::AppendOptions o,
                    store::AppendCallback done) override {
    int once = 1;
    if (fires(append_prefix_, s, &once)) throw std::bad_alloc();  // before the store took it
    inner_.append_async(std::move(s), e, std::move(ev), std::move(o), std::move(done));
  }

 private:
  bool fires(std::string& prefix, std::string_view s, int* left) const {
    std::lock_guard lock(mu_);
    if (prefix.empty() || !s.starts_with(prefix) || --*left > 0) return false;
    prefix.clear();
    return true;
  }
  mutable std::mutex mu_;
  mutable std::string read_prefix_;   // guarded by mu_
  mutable int reads_left_ = 0;        // guarded by mu_
  mutable std::string append_prefix_; // guarded by mu_
};

// An exception while a command is decided (on the caller's thread, or on the engine's own thread for a command
// queued behind another on its appeal), or while a registration is handed to the store, answers it with an
// internal error instead of escaping: the appeal takes its next command, and the engine's destructor returns.
// (Thrown on, it left the appeal's queue held, so that every later command on the appeal waited forever, and
// so did the destructor; or it ended the engine's thread.) A hang is reported at once as a failure.
TEST(CommandHandler, AnExceptionOnTheWayAnswersTheCommandAndHoldsNothing) {
  TestCity city;
  const std::string id = city.reg(Category::kComplaint, "lifts.broken");
  ThrowingStore store{city.store()};
  using Answer = std::shared_ptr<std::promise<Result<CommandResult>>>;
  auto callback = [](const Answer& a) { return [a](Result<CommandResult> r) { a->set_value(std::move(r)); }; };
  auto wait = [](const Answer& a) -> Result<CommandResult> {
    auto got = a->get_future();
    if (got.wait_for(std::chrono::seconds(20)) != std::future_status::ready) return Status::Unavailable("no answer in 20 s");
    return got.get();
  };
  auto scenario = std::async(std::launch::async, [&] {
    Engine engine{store, city.clock(), &city.catalogue()};
    auto command = [&](const Command& c) {
      auto a = std::make_shared<std::promise<Result<CommandResult>>>();
      engine.execute_async(id, c, city.meta(), callback(a));
      return a;
    };
    auto expect_internal = [](const Result<CommandResult>& r, std::string_view says) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), StatusCode::kInternal) << r.status().ToString();
      EXPECT_NE(r.status().message().find(says), std::string::npos) << r.status().ToString();
    };
    // On the caller's thread.
    store.arm_read(std::string(kAppealStreamPrefix));
    expect_internal(wait(command(SendForReview{})), "deciding the command failed");
    // Queued behind the first (answered once its append is synced): decided on the engine's own thread.
    store.arm_read(std::string(kAppealStreamPrefix), 2);
    auto first = command(SendForReview{});
    auto queued = command(Assign{});
    auto after = command(Comment{"the appeal still takes commands"});
    auto r1 = wait(first);
    ASSERT_TRUE(r1.ok()) << r1.status().ToString();
    expect_internal(wait(queued), "deciding the command failed");
    auto r3 = wait(after);
    ASSERT_TRUE(r3.ok()) << "the appeal still takes commands: " << r3.status().ToString();
    EXPECT_EQ(r3->stage, Stage::kUnderReview);
    // A registration whose append the store throws on.
    RegisterAppeal r{.centre = "SHY", .category = Category::kComplaint, .topic = "lifts.broken", .text = "again"};
    store.arm_append(std::string(kAppealStreamPrefix));
    auto reg = std::make_shared<std::promise<Result<CommandResult>>>();
    engine.register_appeal_async(r, city.meta(), callback(reg));
    expect_internal(wait(reg), "registration failed before it was appended");
  });  // the destructor waits for every command counted: it returns only if each was answered exactly once
  if (scenario.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    ADD_FAILURE() << "the engine hangs: a command was never answered, or its appeal's queue is held";
    std::fflush(nullptr);
    std::_Exit(1);
  }
  scenario.get();
}

TEST(CommandHandler, ExtensionCapClampsToTheMonthsLastDay) {
  Timestamp t;
  ASSERT_TRUE(parse_utc("2026-12-31T10:00:00+05:00", &t));
  EXPECT_EQ(format_utc(extension_cap(t)), "2027-02-28T05:00:00.000000Z");
}

TEST(CommandHandler, LoadAsOfReturnsThePastState) {
  TestCity city;
  auto id = city.reg(Category::kComplaint, "lifts.broken");
  Timestamp before_review = city.clock().now();
  city.clock().advance(std::chrono::hours(2));
  city.run(id, SendForReview{});
  city.clock().advance(std::chrono::hours(2));
  city.run(id, Assign{});
  EXPECT_EQ(city.engine().load_as_of(id, before_review)->stage, Stage::kRegistered);
  EXPECT_EQ(city.engine().load_as_of(id, before_review + std::chrono::hours(3))->stage, Stage::kUnderReview);
  EXPECT_EQ(city.engine().load(id)->stage, Stage::kAssigned);
  EXPECT_EQ(city.engine().load_as_of(id, before_review - std::chrono::seconds(1)).status().code(),
            StatusCode::kNotFound);
}

TEST(CommandHandler, ApplicantIsKeptApartAndOpensThroughTheSealer) {
  TestCity city;
  auto id = city.reg(Category::kComplaint, "lifts.broken", "8 701 555 1234", "Kazybek bi 1, flat 2");
  auto s = city.engine().load(id);
  auto a = city.engine().applicant(*s);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->phone, "8 701 555 1234");
  EXPECT_EQ(a->address, "Kazybek bi 1, flat 2");
}

}  // namespace
}  // namespace otinish::engine
