// The engine keeps the folded state of long streams (a mass incident's parent) and reads only the events after
// it: what it loads must equal a fold of the whole stream, whatever was appended since (commands, merges,
// comments, other writers' events), and loads as of a past time must not use it.
#include <gtest/gtest.h>

#include <sstream>

#include "tests/engine/test_city.h"

namespace otinish::engine {
namespace {

using testing::TestCity;

// The fields a decision or a view reads, as one string to compare.
std::string summary(const AppealState& s) {
  std::ostringstream o;
  o << s.id << " v" << s.version << " dv" << s.decision_version << " dsv" << s.decision_stream_version << " pos"
    << s.last_position << " " << to_string(s.stage) << " agency=" << s.agency << " outcome=" << static_cast<int>(s.outcome)
    << " result=" << s.result << " parent=" << s.parent << " children=" << s.children.size() << ":";
  for (const auto& c : s.children) o << c << ",";
  o << " commands=" << s.applied_commands.size() << " updated=" << format_utc(s.updated_at);
  return o.str();
}

// A fold of the whole stream: a load as of a time after every event bypasses the kept state.
std::string full_fold(TestCity& city, const std::string& id) {
  auto s = city.engine().load_as_of(id, city.clock().now() + std::chrono::hours(24 * 365));
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? summary(*s) : "";
}

TEST(KeptState, ALongStreamLoadsAsItsWholeFold) {
  TestCity city;
  const std::string parent = city.reg(Category::kIncident, "roads.manhole_open");
  city.run(parent, Assign{}, "inspector");
  for (int i = 0; i < 150; ++i) {
    if (i % 3 == 0) {
      const std::string child =
          city.reg(Category::kIncident, "roads.manhole_open", "+7 701 200 " + std::to_string(1000 + i));
      city.run(child, MergeInto{parent, "same manhole"}, "inspector");
    } else {
      city.run(parent, Comment{"note " + std::to_string(i)}, "operator");
    }
    city.clock().advance(std::chrono::seconds(7));
    if (i % 10 == 9) {
      auto kept = city.engine().load(parent);
      ASSERT_TRUE(kept.ok()) << kept.status().ToString();
      ASSERT_EQ(summary(*kept), full_fold(city, parent)) << "after step " << i;
    }
  }
  auto loaded = city.engine().load(parent);
  ASSERT_TRUE(loaded.ok());
  EXPECT_GE(loaded->version, 150u) << "the stream must pass the length from which states are kept";
  EXPECT_EQ(loaded->children.size(), 50u);
  // Events written by another writer on the same store (as the SLA service's are) are read on the next load.
  store::EventData other;
  other.type = "ExternalNote";  // a type this build does not know: it only advances the versions
  other.payload = "opaque to this build's fold";
  auto id = AppealId::parse(parent);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(city.store().append(id->stream(), store::ExpectedVersion::any(), {&other, 1}).ok());
  auto after = city.engine().load(parent);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->version, loaded->version + 1);
  EXPECT_EQ(summary(*after), full_fold(city, parent));
  // The resolution still reaches every child through the kept parent.
  city.run(parent, Accept{}, "agency");
  city.run(parent, StartWork{}, "agency");
  city.run(parent, Resolve{Outcome::kDone, "covered"}, "agency");
  EXPECT_EQ(summary(*city.engine().load(parent)), full_fold(city, parent));
  auto resolved = city.engine().load(parent);
  ASSERT_TRUE(resolved.ok());
  for (const auto& c : resolved->children) {
    EXPECT_EQ(city.engine().load(c)->stage, Stage::kResolved) << c;
  }
}

TEST(KeptState, ALoadAsOfAnEarlierTimeIsNotTheKeptState) {
  TestCity city;
  const std::string id = city.reg(Category::kComplaint, "utilities.heating.no_heat");
  const Timestamp early = city.clock().now();
  for (int i = 0; i < 80; ++i) {
    city.clock().advance(std::chrono::minutes(1));
    city.run(id, Comment{"note " + std::to_string(i)}, "operator");
  }
  ASSERT_TRUE(city.engine().load(id).ok());  // now kept
  auto then = city.engine().load_as_of(id, early);
  ASSERT_TRUE(then.ok());
  EXPECT_EQ(then->version, 1u) << "as of registration, only the registration";
}

}  // namespace
}  // namespace otinish::engine
