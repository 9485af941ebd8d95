// The city in a box: the catalogue loads and is consistent; the workload is reproducible and has the seeds'
// shape; simulating it through the real engine on a real log is refused nowhere.
#include <gtest/gtest.h>

#include <set>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/engine.h"
#include "examples/city/workload.h"
#include "store/rocks_store.h"
#include "tests/store/store_test_util.h"

namespace otinish::city {
namespace {

std::string catalogue_dir() {
  const char* root = std::getenv("OTINISH_SOURCE_DIR");
  return std::string(root ? root : ".") + "/examples/catalogue";
}

TEST(CityCatalogueTest, ShippedCatalogueLoadsWithEnoughTopicsAndAgencies) {
  auto city = CityCatalogue::load(catalogue_dir());
  ASSERT_TRUE(city.ok()) << city.status().ToString();
  EXPECT_GE(city->topics.size(), 150u);
  EXPECT_GE(city->agencies.size(), 30u);
  EXPECT_EQ(city->districts.size(), 5u);
  for (const auto& t : city->topics) {
    EXPECT_FALSE(t.topic.name_kk.empty() || t.topic.name_ru.empty() || t.topic.name_en.empty()) << t.topic.code;
    EXPECT_NE(city->agency(t.topic.default_agency), nullptr) << t.topic.code;
  }
  ASSERT_NE(city->topic("utilities.heating.no_heat"), nullptr);
  EXPECT_TRUE(city->topic("utilities.heating.no_heat")->topic.dangerous);
}

TEST(CityCatalogueTest, BrokenCatalogueNamesFileLineAndColumn) {
  store::testing::TempDir dir;
  std::ofstream(dir.sub("agencies.yaml")) << "version: 1\ndistricts: []\nagencies:\n  - id: water\n    names: {kk: a, ru: b, en: c}\n    kind: utility\n    districts: [all]\n    head_role: head_water\n";
  std::ofstream(dir.sub("topics.yaml")) << "version: 1\ntopics:\n  - id: utilities.water.none\n    names: {kk: a, ru: b, en: c}\n    category: incident\n    agency: gas\n";
  auto city = CityCatalogue::load(dir.path());
  ASSERT_FALSE(city.ok());
  EXPECT_EQ(city.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(city.status().message().find("topics.yaml:3:5: topic 'utilities.water.none' names unknown agency 'gas'"),
            std::string::npos)
      << city.status().message();
}

TEST(CityCatalogueTest, PublishingIsAnEventAndUnchangedContentIsNotRepublished) {
  store::testing::TempDir dir;
  auto log = store::open_rocks_store(dir.sub("log"));
  ASSERT_TRUE(log.ok());
  const store::Actor admin{"admin:t", "admin", ""};
  auto first = publish_catalogue(**log, catalogue_dir(), admin);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->version, 1u);
  EXPECT_FALSE(first->unchanged);
  auto again = publish_catalogue(**log, catalogue_dir(), admin);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->unchanged);
  EXPECT_EQ((*log)->stream_version(kCatalogueStream).value(), 1u);

  // A changed catalogue (one topic renamed) is version 2; version 1 stays readable as it was.
  const std::string copy = dir.sub("catalogue");
  std::filesystem::create_directories(copy);
  std::filesystem::copy_file(catalogue_dir() + "/agencies.yaml", copy + "/agencies.yaml");
  std::ifstream in(catalogue_dir() + "/topics.yaml");
  std::stringstream text;
  text << in.rdbuf();
  std::string topics = text.str();
  const std::string from = "en: \"No heating\"";
  ASSERT_NE(topics.find(from), std::string::npos);
  topics.replace(topics.find(from), from.size(), "en: \"No heating at all\"");
  std::ofstream(copy + "/topics.yaml") << topics;
  auto second = publish_catalogue(**log, copy, admin);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->version, 2u);
  auto v1 = load_published_catalogue(**log, 1);
  auto latest = load_published_catalogue(**log);
  ASSERT_TRUE(v1.ok() && latest.ok());
  EXPECT_EQ(v1->topic("utilities.heating.no_heat")->topic.name_en, "No heating");
  EXPECT_EQ(latest->topic("utilities.heating.no_heat")->topic.name_en, "No heating at all");

  // An invalid catalogue is refused and nothing is appended.
  std::ofstream(copy + "/topics.yaml") << "topics:\n  - id: x.y.z\n    category: nonsense\n";
  auto bad = publish_catalogue(**log, copy, admin);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*log)->stream_version(kCatalogueStream).value(), 2u);
}

WorkloadOptions small(std::uint64_t seed) {
  WorkloadOptions o;
  o.seed = seed;
  o.days = 2;
  o.min_per_day = 150;
  o.max_per_day = 250;
  o.mass_incident_per_day = 0.5;
  o.mass_incident_children = 20;
  return o;
}

TEST(WorkloadTest, SameSeedGivesTheSameCity) {
  auto city = CityCatalogue::load(catalogue_dir());
  ASSERT_TRUE(city.ok());
  Workload a = generate_workload(*city, small(7)), b = generate_workload(*city, small(7)),
           c = generate_workload(*city, small(8));
  ASSERT_EQ(a.appeals.size(), b.appeals.size());
  for (std::size_t i = 0; i < a.appeals.size(); ++i) {
    EXPECT_EQ(a.appeals[i].registered_at, b.appeals[i].registered_at);
    EXPECT_EQ(a.appeals[i].registration.topic, b.appeals[i].registration.topic);
    EXPECT_EQ(a.appeals[i].steps.size(), b.appeals[i].steps.size());
  }
  EXPECT_NE(a.totals.by_topic, c.totals.by_topic);
}

TEST(WorkloadTest, AMonthHasTheSeedsShape) {
  auto city = CityCatalogue::load(catalogue_dir());
  ASSERT_TRUE(city.ok());
  WorkloadOptions o;
  o.days = 30;
  Workload w = generate_workload(*city, o);
  const auto& t = w.totals;
  EXPECT_GE(t.appeals, 30u * 2000);
  EXPECT_LE(t.appeals, 30u * 5000 + t.merged_children);
  const double consultations = static_cast<double>(t.by_category[0]);
  EXPECT_NEAR(t.first_contact / consultations, 0.70, 0.03);
  EXPECT_NEAR(static_cast<double>(t.housing_utilities) / t.appeals, 0.80, 0.03);
  EXPECT_NEAR(static_cast<double>(t.by_channel[0]) / t.appeals, 0.85, 0.02);
  EXPECT_GT(t.repeats, t.appeals / 10);
  for (std::size_t i = 1; i < w.appeals.size(); ++i) ASSERT_LE(w.appeals[i - 1].registered_at, w.appeals[i].registered_at);
  for (const auto& a : w.appeals) {
    for (std::size_t s = 0; s < a.steps.size(); ++s) {
      ASSERT_GE(a.steps[s].at, s ? a.steps[s - 1].at : a.registered_at) << "appeal " << a.key;
    }
  }
}

// A mass incident's parent is resolved only after its children are merged, hours after the call: its
// resolution moves later, and what follows it (the applicant's callback, the closing) moves with it, so that
// no callback is planned before the resolution it is about (the engine would refuse it). Many mass incidents,
// several seeds.
TEST(WorkloadTest, AMassIncidentsParentIsCalledBackAfterItsResolution) {
  auto city = CityCatalogue::load(catalogue_dir());
  ASSERT_TRUE(city.ok());
  int parents = 0;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    WorkloadOptions o = small(seed);
    o.days = 20;
    o.min_per_day = 20;
    o.max_per_day = 40;
    o.mass_incident_per_day = 1.0;
    o.mass_incident_children = 2;
    const Workload w = generate_workload(*city, o);
    std::set<std::uint32_t> with_children;
    for (const auto& a : w.appeals) {
      if (a.merge_parent) with_children.insert(*a.merge_parent);
    }
    for (std::uint32_t key : with_children) {
      ++parents;
      const auto& steps = w.appeals[key].steps;
      bool resolved = false;
      for (std::size_t s = 0; s < steps.size(); ++s) {
        if (s > 0) {
          ASSERT_GE(steps[s].at, steps[s - 1].at) << "seed " << seed << ", appeal " << key;
        }
        resolved |= std::holds_alternative<engine::Resolve>(steps[s].command);
        if (std::holds_alternative<engine::RecordCallback>(steps[s].command)) {
          EXPECT_TRUE(resolved) << "seed " << seed << ", appeal " << key << ": a callback before the resolution";
        }
      }
    }
  }
  EXPECT_GE(parents, 40) << "mass incidents to check";
}

TEST(SimulationTest, TheEngineRefusesNoCommandOfAConsistentPlan) {
  auto city = CityCatalogue::load(catalogue_dir());
  ASSERT_TRUE(city.ok());
  Workload w = generate_workload(*city, small(3));
  store::testing::TempDir dir;
  ManualClock clock(w.options.start);
  auto log = store::open_rocks_store(dir.path(), {}, clock);
  ASSERT_TRUE(log.ok());
  auto topics = city->engine_catalogue();
  engine::Engine engine(**log, clock, &topics);
  auto report = simulate(engine, clock, w, {.threads = 4});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  for (const auto& [message, n] : report->refusals) ADD_FAILURE() << n << " x " << message;
  EXPECT_EQ(report->refused, 0u);
  std::size_t registered = 0;
  for (const auto& id : report->appeal_ids) registered += !id.empty();
  EXPECT_EQ(registered, w.totals.appeals);
  auto first = engine.load(report->appeal_ids[0]);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(report->appeal_ids[0], "SHY-2026-0000001");
}

}  // namespace
}  // namespace otinish::city
