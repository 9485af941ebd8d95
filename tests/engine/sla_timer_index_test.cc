// The timer index: a queue ordered by (due, appeal id), the open set, and the checkpoint written in one batch.
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/timer_index.h"
#include "tests/engine/test_city.h"

namespace otinish::engine {
namespace {

Timestamp at(std::int64_t s) { return timestamp_from_micros(s * 1'000'000); }

class TimerIndexTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::make_temp_dir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<TimerIndex> open() {
    auto r = TimerIndex::open(dir_ + "/sla");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return std::move(r).value();
  }
  std::string dir_;
};

TEST_F(TimerIndexTest, DueTimersComeInDueThenAppealOrderAndNeverEarly) {
  auto idx = open();
  std::vector<TimerIndex::Change> c = {{"B", true, at(20)}, {"A", true, at(20)}, {"C", true, at(10)},
                                       {"D", true, at(30)}, {"E", true, std::nullopt}};
  ASSERT_TRUE(idx->apply(c, std::nullopt).ok());
  auto due = idx->due_until(at(20), 100);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 3u);
  EXPECT_EQ((*due)[0], std::pair(at(10), std::string("C")));
  EXPECT_EQ((*due)[1], std::pair(at(20), std::string("A")));
  EXPECT_EQ((*due)[2], std::pair(at(20), std::string("B")));
  EXPECT_EQ(idx->next_due(), at(10));
  EXPECT_EQ(idx->open_count(), 5u);
  EXPECT_EQ(idx->timer_count(), 4u);
  EXPECT_EQ(idx->find("E"), std::optional<std::optional<Timestamp>>(std::optional<Timestamp>()));
  EXPECT_EQ(idx->find("Z"), std::nullopt);
}

TEST_F(TimerIndexTest, MovingOrClosingAnAppealReplacesItsOnlyTimer) {
  auto idx = open();
  std::vector<TimerIndex::Change> c = {{"A", true, at(10)}};
  ASSERT_TRUE(idx->apply(c, std::nullopt).ok());
  c = {{"A", true, at(50)}};
  ASSERT_TRUE(idx->apply(c, std::nullopt).ok());
  EXPECT_TRUE(idx->due_until(at(49), 10)->empty());
  EXPECT_EQ(idx->due_until(at(50), 10)->size(), 1u);
  c = {{"A", false, std::nullopt}};
  ASSERT_TRUE(idx->apply(c, std::nullopt).ok());
  EXPECT_TRUE(idx->due_until(at(100), 10)->empty());
  EXPECT_EQ(idx->open_count(), 0u);
  EXPECT_EQ(idx->timer_count(), 0u);
}

TEST_F(TimerIndexTest, CheckpointTimersAndCountsSurviveReopen) {
  {
    auto idx = open();
    std::vector<TimerIndex::Change> c = {{"A", true, at(10)}, {"B", true, std::nullopt}};
    ASSERT_TRUE(idx->apply(c, 42).ok());
    EXPECT_EQ(idx->checkpoint(), 42u);
  }
  auto idx = open();
  EXPECT_EQ(idx->checkpoint(), 42u);
  EXPECT_EQ(idx->open_count(), 2u);
  EXPECT_EQ(idx->timer_count(), 1u);
  EXPECT_EQ(idx->next_due(), at(10));
  std::vector<std::string> open_ids;
  ASSERT_TRUE(idx->for_each_open([&](const std::string& id, std::optional<Timestamp>) {
    open_ids.push_back(id);
    return true;
  }).ok());
  EXPECT_EQ(open_ids, (std::vector<std::string>{"A", "B"}));
}

}  // namespace
}  // namespace otinish::engine
