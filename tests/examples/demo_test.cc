// The demo's figures equal what the workload generator put in: every planned appeal registered, by category
// and by channel; every first-contact answer and every merged duplicate in the log; nothing refused; the log
// verifies; the chart is written.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "engine/projection.h"
#include "engine/views.h"
#include "examples/city/demo.h"
#include "store/rocks_store.h"
#include "tests/store/store_test_util.h"

namespace otinish::city {
namespace {

TEST(CityDemoTest, FiguresMatchTheGeneratorsInputs) {
  store::testing::TempDir dir;
  DemoOptions o;
  o.data_dir = dir.sub("demo");
  const char* root = std::getenv("OTINISH_SOURCE_DIR");
  o.source_dir = root ? root : ".";
  o.progress_bar = false;
  o.workload.days = 6;
  o.workload.min_per_day = 80;
  o.workload.max_per_day = 120;
  o.workload.mass_incident_per_day = 0.5;
  o.workload.mass_incident_children = 12;
  std::ostringstream out;
  auto f = run_city_demo(o, out);
  ASSERT_TRUE(f.ok()) << f.status().ToString();

  auto city = CityCatalogue::load(o.source_dir + "/examples/catalogue");
  ASSERT_TRUE(city.ok());
  const WorkloadTotals planned = generate_workload(*city, o.workload).totals;
  EXPECT_EQ(f->refused, 0u) << out.str();
  EXPECT_EQ(f->appeals, planned.appeals);
  EXPECT_EQ(f->by_category, planned.by_category);
  EXPECT_EQ(f->by_channel, planned.by_channel);
  EXPECT_EQ(f->first_contact, planned.first_contact);
  EXPECT_EQ(f->merged, planned.merged_children);
  EXPECT_EQ(f->reclassified, planned.reclassified);
  EXPECT_GT(planned.reclassified, 0u) << "the demo shows an appeal handed from one category's rule to another's";
  EXPECT_GT(planned.merged_children, 0u) << "pick a seed with a mass incident so the merge path is shown";
  EXPECT_GT(f->repeats, 0u);
  EXPECT_GT(f->with_deadline, f->appeals / 2);
  EXPECT_GT(f->breached, 0u) << "slow agencies must breach somewhere in six days";
  EXPECT_GT(f->overdue, 0u) << "slow agencies leave appeals past their SLA deadline";
  EXPECT_GT(f->scorecard_with_deadline, 0u);
  EXPECT_LT(f->scorecard_on_time, f->scorecard_with_deadline);
  EXPECT_TRUE(f->verified);
  EXPECT_GT(f->events, f->appeals * 3);
  // Sealed by default: no applicant's name or phone anywhere in the data directory; one erasure, and the log
  // still verifies.
  EXPECT_GE(f->plaintext_checked, 20u);
  EXPECT_EQ(f->plaintext_found, 0u);
  EXPECT_TRUE(f->erased_applicant.starts_with("ap-")) << f->erased_applicant;
  EXPECT_GE(f->erased_appeals, 1u);
  EXPECT_TRUE(f->verified_after_erasure);
  EXPECT_GT(f->checkpoint_size, f->events);
  EXPECT_TRUE(f->evidence_verified);
  EXPECT_TRUE(f->altered_evidence_rejected);

  std::ifstream chart(f->chart_path);
  std::stringstream svg;
  svg << chart.rdbuf();
  EXPECT_EQ(svg.str().rfind("<svg", 0), 0u);
  EXPECT_NE(svg.str().find("SLA compliance by agency"), std::string::npos);

  const std::string text = out.str();
  for (const char* section : {"== What came in ==", "== SLA compliance by agency", "== Busiest topics ==",
                              "== Repeat appeals ==", "== Audit timeline of ", "== verify ==\nok, ", "== Privacy ==",
                              "found 0 in plain text", "== Proof ==", "verified offline"}) {
    EXPECT_NE(text.find(section), std::string::npos) << section << "\n" << text;
  }
  EXPECT_NE(text.find("[rule "), std::string::npos) << "the timeline must cite the rule behind each deadline";

  // The views built live during the simulation (SLA events interleaved with commands) equal a rebuild from 0.
  auto log = store::open_rocks_store(o.data_dir + "/log");
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  auto live = engine::ProjectionRunner::open(**log, o.data_dir + "/views", engine::standard_projections());
  auto fresh = engine::ProjectionRunner::open(**log, dir.sub("rebuilt-views"), engine::standard_projections());
  ASSERT_TRUE(live.ok() && fresh.ok());
  ASSERT_TRUE((*live)->catch_up().ok());
  ASSERT_TRUE((*fresh)->catch_up().ok());
  for (const char* name : {"appeals", "timeline", "public", "scorecards", "repeats"}) {
    auto a = (*live)->reader(name), b = (*fresh)->reader(name);
    ASSERT_TRUE(a.ok() && b.ok());
    auto rows_a = engine::dump_view(**a), rows_b = engine::dump_view(**b);
    ASSERT_TRUE(rows_a.ok() && rows_b.ok());
    EXPECT_TRUE(*rows_a == *rows_b) << name << ": live " << rows_a->size() << " rows, rebuilt " << rows_b->size();
  }
}

}  // namespace
}  // namespace otinish::city
