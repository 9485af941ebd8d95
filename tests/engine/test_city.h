// tests/engine/test_city.h: a small city for engine tests: a fresh log in a temporary directory, a manual
// clock at 2026-03-02 09:00 Almaty time, a six-topic catalogue and an engine.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "store/rocks_store.h"

namespace otinish::engine::testing {

inline std::vector<Topic> test_topics() {
  return {
      {"reference.address", "Мекенжай", "Адрес", "Address", "akimat-info", Category::kConsultation, false},
      {"lifts.broken", "Лифт", "Лифт не работает", "Lift broken", "housing-dept", Category::kComplaint, false},
      {"roads.manhole_open", "Ашық құдық", "Открытый люк", "Open manhole", "city-roads", Category::kIncident, true},
      {"utilities.heating.no_heat", "Жылу жоқ", "Нет отопления", "No heating", "heat-networks",
       Category::kIncident, false},
      {"transport.route", "Бағыт", "Маршрут", "Bus route", "transport-dept", Category::kProposal, false},
      {"gratitude.general", "Алғыс", "Благодарность", "Thanks", "akimat", Category::kGratitude, false},
  };
}

inline std::string make_temp_dir() {
  std::string templ = (std::filesystem::temp_directory_path() / "otinish-engine-XXXXXX").string();
  char* p = mkdtemp(templ.data());
  EXPECT_NE(p, nullptr);
  return templ;
}

inline Timestamp t0() {
  Timestamp t;
  parse_utc("2026-03-02T04:00:00Z", &t);
  return t;
}

class TestCity {
 public:
  TestCity() : dir_(make_temp_dir()), clock_(t0()), catalogue_(test_topics()) {
    auto s = store::open_rocks_store(dir_ + "/log", {}, clock_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    engine_ = std::make_unique<Engine>(*store_, clock_, &catalogue_);
  }
  ~TestCity() {
    engine_.reset();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  Engine& engine() { return *engine_; }
  store::EventStore& store() { return *store_; }
  ManualClock& clock() { return clock_; }
  const std::string& dir() const { return dir_; }
  const TopicCatalogue& catalogue() const { return catalogue_; }

  CommandMeta meta(std::string role = "operator") {
    return CommandMeta{"cmd-" + std::to_string(++next_command_), {role + ":test", role, ""}, ""};
  }

  // Registers and returns the id; fails the test on error.
  std::string reg(Category c, std::string topic, std::string phone = "+7 701 000 0001",
                  std::string address = "Tauke khan ave 10, flat 5", std::string district = "Abay") {
    RegisterAppeal r;
    r.centre = "SHY";
    r.category = c;
    r.topic = std::move(topic);
    r.channel = Channel::kPhone;
    r.location = {std::move(district), "Tauke khan ave"};
    r.text = "text of the appeal";
    r.applicant = {"Aigerim Sadykova", std::move(phone), std::move(address)};
    auto res = engine_->register_appeal(r, meta());
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    return res.ok() ? res->appeal_id : std::string();
  }

  // Executes and expects success; returns the stage after.
  Stage run(const std::string& id, const Command& c, std::string role = "controller") {
    auto res = engine_->execute(id, c, meta(std::move(role)));
    EXPECT_TRUE(res.ok()) << id << " " << to_string(kind_of(c)) << ": " << res.status().ToString();
    return res.ok() ? res->stage : Stage::kRegistered;
  }

 private:
  std::string dir_;
  ManualClock clock_;
  InMemoryTopicCatalogue catalogue_;
  std::unique_ptr<store::EventStore> store_;
  std::unique_ptr<Engine> engine_;
  int next_command_ = 0;
};

}  // namespace otinish::engine::testing
