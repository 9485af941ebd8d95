// Projections on the real store: live views follow commands, equal a rebuild, survive restarts, and the public
// feed carries no personal data.
#include "engine/views.h"

#include <gtest/gtest.h>

#include "engine/sla_events.h"

#include "tests/engine/test_city.h"

namespace otinish::engine {
namespace {

using namespace std::chrono_literals;
using testing::TestCity;

std::unique_ptr<ProjectionRunner> open_runner(TestCity& city, const std::string& sub = "views") {
  auto r = ProjectionRunner::open(city.store(), city.dir() + "/" + sub, standard_projections(),
                                  RunnerOptions{.live_batch_events = 7, .rebuild_batch_events = 5});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

void sync(TestCity& city, ProjectionRunner& runner) {
  ASSERT_TRUE(runner.wait_for(city.store().head_position(), 10s)) << runner.status().ToString();
}

// A small day: a consultation answered at once, a lift complaint reopened, a redirect, a merged duplicate.
void small_day(TestCity& city) {
  auto c = city.reg(Category::kConsultation, "reference.address", "+7 701 111 1111", "Abay 1, flat 1", "Abay");
  city.run(c, AnswerOnFirstContact{"here"});
  auto lift = city.reg(Category::kComplaint, "lifts.broken", "+7 701 222 2222", "Tauke khan 5, flat 9", "Al-Farabi");
  city.clock().advance(1h);
  city.run(lift, SendForReview{});
  city.run(lift, Assign{});
  city.clock().advance(1h);
  city.run(lift, Accept{});
  city.run(lift, StartWork{});
  city.clock().advance(5h);
  city.run(lift, Resolve{Outcome::kDone, "repaired"});
  city.run(lift, RecordCallback{false, "no"});
  city.run(lift, Reopen{"not satisfied"});
  auto heat = city.reg(Category::kIncident, "utilities.heating.no_heat", "+7 701 333 3333", "Baiterek 3", "Enbekshi");
  city.run(heat, SendForReview{});
  city.run(heat, Assign{"housing-dept"});
  city.run(heat, Redirect{"heat-networks", "not ours"});
  auto dup = city.reg(Category::kComplaint, "lifts.broken", "+7 701 222 2222", "Tauke khan 5, flat 9", "Al-Farabi");
  city.run(dup, MergeInto{lift, "same lift"});
}

TEST(Views, CurrentViewFollowsCommandsAndAnswersQueries) {
  TestCity city;
  auto runner = open_runner(city);
  ASSERT_TRUE(runner->start().ok());
  small_day(city);
  sync(city, *runner);
  auto appeals = runner->reader("appeals");
  ASSERT_TRUE(appeals.ok());
  auto row = get_appeal_row(**appeals, "SHY-2026-0000002");
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->stage, Stage::kReopened);
  EXPECT_EQ(row->agency, "housing-dept");
  EXPECT_EQ(row->reopen_count, 1u);
  EXPECT_EQ(row->children, 1u);

  auto by_agency = query_appeals(**appeals, {.agency = std::string("heat-networks")});
  ASSERT_TRUE(by_agency.ok());
  ASSERT_EQ(by_agency->rows.size(), 1u);
  EXPECT_EQ(by_agency->rows[0].id, "SHY-2026-0000003");
  EXPECT_EQ(query_appeals(**appeals, {.agency = std::string("housing-dept")})->rows.size(), 1u);
  EXPECT_EQ(query_appeals(**appeals, {.stage = Stage::kClosed})->rows.size(), 1u);
  EXPECT_EQ(query_appeals(**appeals, {.category = Category::kComplaint})->rows.size(), 2u);
  EXPECT_EQ(query_appeals(**appeals, {.district = std::string("Al-Farabi")})->rows.size(), 2u);
  EXPECT_EQ(query_appeals(**appeals, {.stage = Stage::kMerged, .topic = std::string("lifts.broken")})->rows.size(),
            1u);
}

TEST(Views, QueriesPageInIdOrder) {
  TestCity city;
  auto runner = open_runner(city);
  ASSERT_TRUE(runner->start().ok());
  for (int i = 0; i < 7; ++i) city.reg(Category::kComplaint, "lifts.broken", "+7 700 " + std::to_string(i));
  sync(city, *runner);
  auto appeals = std::move(runner->reader("appeals")).value();
  std::vector<std::string> seen;
  AppealQuery q{.category = Category::kComplaint, .limit = 3};
  for (;;) {
    auto page = query_appeals(*appeals, q);
    ASSERT_TRUE(page.ok());
    for (auto& r : page->rows) seen.push_back(r.id);
    if (page->next_after.empty()) break;
    q.after = page->next_after;
  }
  ASSERT_EQ(seen.size(), 7u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(query_appeals(*appeals, {.limit = 0}).status().code(), StatusCode::kInvalidArgument);
}

TEST(Views, OverdueListsOpenAppealsPastTheirDeadline) {
  TestCity city;
  auto runner = open_runner(city);
  ASSERT_TRUE(runner->start().ok());
  auto id = city.reg(Category::kComplaint, "lifts.broken");
  city.run(id, SendForReview{});
  city.run(id, Assign{});
  city.run(id, Accept{});
  city.run(id, RequestExtension{city.clock().now() + 24h * 10, "parts"});
  city.run(id, GrantExtension{"ok"});
  sync(city, *runner);
  auto appeals = std::move(runner->reader("appeals")).value();
  EXPECT_TRUE(query_appeals(*appeals, {.overdue_only = true, .now = city.clock().now()})->rows.empty());
  EXPECT_EQ(query_appeals(*appeals, {.overdue_only = true, .now = city.clock().now() + 24h * 11})->rows.size(), 1u);
}

// The due date is the earliest deadline of the SLA clocks that are running: a paused clock has none until it
// resumes, a stopped one none at all (the SLA service writes these events; here they are appended directly).
TEST(Views, DueDateFollowsRunningSlaClocksOnly) {
  TestCity city;
  auto runner = open_runner(city);
  ASSERT_TRUE(runner->start().ok());
  auto id = city.reg(Category::kComplaint, "lifts.broken");
  const Timestamp t0 = city.clock().now();
  auto sla = [&](SlaClockKind kind, const char* clock, std::optional<Timestamp> deadline) {
    SlaClockEvent c;
    c.kind = kind;
    c.clock = clock;
    c.at = city.clock().now();
    c.deadline = deadline;
    store::EventData d = encode_sla_event(c);
    d.id = store::EventId::random();
    ASSERT_TRUE(city.store().append("appeal-" + id, store::ExpectedVersion::any(), {&d, 1}).ok());
  };
  auto due = [&] {
    sync(city, *runner);
    return get_appeal_row(*std::move(runner->reader("appeals")).value(), id)->due_at;
  };
  sla(SlaClockKind::kDeadlineSet, "law.answer", t0 + 24h * 20);
  sla(SlaClockKind::kDeadlineSet, "answer", t0 + 24h);
  EXPECT_EQ(due(), t0 + 24h);
  sla(SlaClockKind::kPaused, "answer", std::nullopt);  // on hold: the short clock has no deadline now
  EXPECT_EQ(due(), t0 + 24h * 20);
  auto appeals = std::move(runner->reader("appeals")).value();
  EXPECT_TRUE(query_appeals(*appeals, {.overdue_only = true, .now = t0 + 48h})->rows.empty());
  sla(SlaClockKind::kDeadlineSet, "answer", t0 + 72h);  // resumed
  EXPECT_EQ(due(), t0 + 72h);
  sla(SlaClockKind::kStopped, "answer", std::nullopt);
  sla(SlaClockKind::kStopped, "law.answer", std::nullopt);
  EXPECT_EQ(due(), Timestamp{});
}

TEST(Views, TimelineSaysWhoWhenAndWhat) {
  TestCity city;
  auto runner = open_runner(city);
  ASSERT_TRUE(runner->start().ok());
  small_day(city);
  sync(city, *runner);
  auto tl = read_timeline(*std::move(runner->reader("timeline")).value(), "SHY-2026-0000003");
  ASSERT_TRUE(tl.ok());
  ASSERT_EQ(tl->size(), 4u);
  EXPECT_EQ((*tl)[0].summary, "registered via phone as incident on utilities.heating.no_heat in Enbekshi (priority normal)");
  EXPECT_EQ((*tl)[3].summary, "redirected from housing-dept to heat-networks: not ours");
  EXPECT_EQ((*tl)[3].role, "controller");
  EXPECT_EQ((*tl)[3].from, Stage::kAssigned);
}

TEST(Views, PublicFeedIsAnonymous) {
  TestCity city;
  auto runner = open_runner(city);
  ASSERT_TRUE(runner->start().ok());
  small_day(city);
  sync(city, *runner);
  auto feed = read_public_feed(*std::move(runner->reader("public")).value(), 0, 1000);
  ASSERT_TRUE(feed.ok());
  ASSERT_FALSE(feed->empty());
  EXPECT_EQ(feed->front().what, "registered");
  EXPECT_EQ(feed->front().district, "Abay");
  for (const auto& name : {"public", "appeals", "timeline", "scorecards", "repeats"}) {
    auto rows = dump_view(*std::move(runner->reader(name)).value());
    ASSERT_TRUE(rows.ok());
    for (const auto& [k, v] : *rows) {
      for (const auto* pii : {"Aigerim", "701 222", "7012222222", "flat 9", "Tauke khan 5"}) {
        EXPECT_EQ(k.find(pii), std::string::npos) << name;
        EXPECT_EQ(v.find(pii), std::string::npos) << name << " holds " << pii;
      }
    }
  }
}

TEST(Views, RebuildEqualsLiveAndSwapsWhileAReaderServes) {
  TestCity city;
  auto runner = open_runner(city);
  ASSERT_TRUE(runner->start().ok());
  small_day(city);
  sync(city, *runner);
  for (const auto& name : {"appeals", "timeline", "public", "scorecards", "repeats"}) {
    auto old_reader = std::move(runner->reader(name)).value();
    auto live = dump_view(*old_reader);
    auto report = runner->rebuild(name);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_EQ(report->generation, 2u);
    EXPECT_EQ(report->events, city.store().head_position());
    auto rebuilt = dump_view(*std::move(runner->reader(name)).value());
    EXPECT_EQ(*live, *rebuilt) << name;
    EXPECT_EQ(*dump_view(*old_reader), *live) << "a reader keeps its generation after the swap";
  }
  // Live updates continue into the new generation.
  auto id = city.reg(Category::kComplaint, "lifts.broken");
  sync(city, *runner);
  EXPECT_TRUE(get_appeal_row(*std::move(runner->reader("appeals")).value(), id).ok());
}

// Progress of a rebuild over several read batches (here other modules' events, which no view keeps) grows
// and ends at the log's head.
TEST(Views, RebuildReportsGrowingProgressEndingAtTheTotal) {
  TestCity city;
  small_day(city);
  std::vector<store::EventData> batch(5'000, store::EventData{.type = "NoteTaken", .payload = "x"});
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(city.store().append("notes", store::ExpectedVersion::any(), batch).ok());
  }
  small_day(city);
  auto runner = open_runner(city);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;
  auto report = runner->rebuild("timeline", [&](std::uint64_t done, std::uint64_t total) {
    calls.emplace_back(done, total);
  });
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const std::uint64_t head = city.store().head_position();
  ASSERT_GE(calls.size(), 3u) << "one call per batch of a few thousand events, and a last one";
  for (std::size_t i = 1; i < calls.size(); ++i) {
    EXPECT_GT(calls[i].first, calls[i - 1].first) << i;
    EXPECT_LE(calls[i].first, calls[i].second) << i;
  }
  EXPECT_EQ(calls.back(), std::make_pair(head, head));
  EXPECT_EQ(report->events, head);
}

TEST(Views, CheckpointResumesAfterRestartWithoutDoubleCounting) {
  TestCity city;
  {
    auto runner = open_runner(city);
    ASSERT_TRUE(runner->start().ok());
    small_day(city);
    sync(city, *runner);
  }
  small_day(city);  // while the views are down
  auto runner = open_runner(city);
  ASSERT_TRUE(runner->start().ok());
  sync(city, *runner);
  auto fresh = ProjectionRunner::open(city.store(), city.dir() + "/views-fresh", standard_projections());
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE((*fresh)->catch_up().ok());
  for (const auto& name : {"appeals", "timeline", "public", "scorecards", "repeats"}) {
    EXPECT_EQ(*dump_view(*std::move(runner->reader(name)).value()),
              *dump_view(*std::move((*fresh)->reader(name)).value()))
        << name;
  }
}

// A bulk catch-up (table files ingested, here several per view, on several threads) writes the same rows as
// the live path, resumes from its checkpoints, and stops at as_of like the live path.
TEST(Views, BulkCatchUpEqualsLiveViews) {
  TestCity city;
  auto live = open_runner(city);
  ASSERT_TRUE(live->start().ok());
  small_day(city);
  small_day(city);
  sync(city, *live);
  const RunnerOptions bulk{.rebuild_batch_events = 4, .bulk_min_events = 1, .bulk_threads = 3};
  auto fresh = ProjectionRunner::open(city.store(), city.dir() + "/views-bulk", standard_projections(), bulk);
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE((*fresh)->catch_up().ok());
  EXPECT_EQ((*fresh)->checkpoint(), city.store().head_position());
  small_day(city);  // later events: a second bulk catch-up starts from the checkpoints
  sync(city, *live);
  ASSERT_TRUE((*fresh)->catch_up().ok());
  for (const auto& name : {"appeals", "timeline", "public", "scorecards", "repeats"}) {
    EXPECT_EQ(*dump_view(*std::move(live->reader(name)).value()),
              *dump_view(*std::move((*fresh)->reader(name)).value()))
        << name;
  }
}

TEST(Views, AsOfBuildShowsThePast) {
  TestCity city;
  auto id = city.reg(Category::kComplaint, "lifts.broken");
  Timestamp morning = city.clock().now();
  city.clock().advance(3h);
  city.run(id, SendForReview{});
  city.run(id, Assign{});
  for (std::size_t bulk_min_events : {std::size_t{50'000}, std::size_t{1}}) {
    auto past = ProjectionRunner::open(city.store(), city.dir() + "/as-of-" + std::to_string(bulk_min_events),
                                       standard_projections(), RunnerOptions{.bulk_min_events = bulk_min_events});
    ASSERT_TRUE(past.ok());
    ASSERT_TRUE((*past)->catch_up(morning + 1h).ok());
    auto row = get_appeal_row(*std::move((*past)->reader("appeals")).value(), id);
    ASSERT_TRUE(row.ok());
    EXPECT_EQ(row->stage, Stage::kRegistered) << "bulk_min_events " << bulk_min_events;
    EXPECT_EQ(row->agency, "");
  }
}

TEST(Views, RepeatsLinkTheSameApplicantOrAddressOnTheSameTopicWithinTheWindow) {
  TestCity city;
  auto runner = open_runner(city);
  ASSERT_TRUE(runner->start().ok());
  auto first = city.reg(Category::kComplaint, "lifts.broken", "8 701 555 0000", "Abay 7, flat 1");
  city.clock().advance(24h * 3);
  auto same_phone = city.reg(Category::kComplaint, "lifts.broken", "+7 (701) 555-00-00", "elsewhere 1");
  auto other_topic = city.reg(Category::kIncident, "roads.manhole_open", "8 701 555 0000", "Abay 7, flat 1");
  auto neighbour = city.reg(Category::kComplaint, "lifts.broken", "+7 777 000 0000", "abay 7,  FLAT 1");
  city.clock().advance(24h * 40);
  auto late = city.reg(Category::kComplaint, "lifts.broken", "8 701 555 0000", "Abay 7, flat 1");
  sync(city, *runner);
  auto view = std::move(runner->reader("repeats")).value();
  auto links = read_repeats(*view, same_phone);
  ASSERT_EQ(links->size(), 1u);
  EXPECT_EQ((*links)[0].earlier_id, first);
  EXPECT_EQ((*links)[0].reason, "same applicant and topic");
  EXPECT_TRUE(read_repeats(*view, other_topic)->empty());
  ASSERT_EQ(read_repeats(*view, neighbour)->size(), 1u);
  EXPECT_EQ((*read_repeats(*view, neighbour))[0].reason, "same address and topic");
  EXPECT_TRUE(read_repeats(*view, late)->empty());
  EXPECT_EQ(*count_repeats(*view), 2u);
}

TEST(Views, ScorecardsRankOnlyAgenciesAboveTheMinimumSample) {
  TestCity city;
  auto runner = open_runner(city);
  ASSERT_TRUE(runner->start().ok());
  auto work = [&](const std::string& topic, bool satisfied) {
    auto id = city.reg(Category::kComplaint, topic);
    city.run(id, SendForReview{});
    city.run(id, Assign{});
    city.run(id, Accept{});
    city.run(id, StartWork{});
    city.clock().advance(2h);
    city.run(id, Resolve{Outcome::kDone, "done"});
    city.run(id, RecordCallback{satisfied, ""});
  };
  for (int i = 0; i < 3; ++i) work("lifts.broken", i != 0);
  work("transport.route", true);
  sync(city, *runner);
  auto cards = read_scorecards(*std::move(runner->reader("scorecards")).value(), 3);
  ASSERT_TRUE(cards.ok());
  ASSERT_EQ(cards->ranked.size(), 1u);
  const auto& housing = cards->ranked[0];
  EXPECT_EQ(housing.agency, "housing-dept");
  EXPECT_EQ(housing.resolved, 3u);
  EXPECT_EQ(housing.callbacks, 3u);
  EXPECT_NEAR(housing.satisfaction(), 2.0 / 3, 1e-9);
  EXPECT_NEAR(housing.average_hours_to_resolve(), 2.0, 1e-9);
  ASSERT_EQ(cards->too_small.size(), 1u);
  EXPECT_EQ(cards->too_small[0].agency, "transport-dept");
}

}  // namespace
}  // namespace otinish::engine
