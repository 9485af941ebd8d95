// Two engine nodes on one NATS JetStream cluster (tests/store/nats_cluster.h), as a centre that must go on when
// a machine dies would run them: registrations arriving at both get dense, unique numbers; each node's views
// follow the whole log; and each SLA fact is in the log once although both nodes' SLA services decide every
// appeal (their appends carry expected versions and idempotency keys derived from the fact).
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "tests/api/test_node.h"
#include "tests/store/nats_cluster.h"

namespace otinish::api {
namespace {

using testing::TestNode;
using testing::TestNodeSetup;

std::set<std::string> listed(TestNode& node) {
  ClientResponse r = node.as(Role::kAuditor, "GET", "/v1/appeals?limit=1000");
  EXPECT_EQ(r.status, 200) << r.body;
  std::set<std::string> ids;
  const boost::json::value list = TestNode::json(r);  // kept: the loop below reads into it
  for (const auto& a : list.at("appeals").as_array()) ids.insert(a.at("id").as_string().c_str());
  return ids;
}

TEST(TwoNodesOnJetStream, NumbersStayDenseEachNodeSeesEveryAppealAndEachSlaFactIsInTheLogOnce) {
  store::testing::Cluster& cluster = store::testing::Cluster::get();
  ASSERT_TRUE(cluster.ok()) << cluster.error();
  TestNodeSetup s;
  s.calendars = true;
  s.city_rules = true;
  // Each node has its own key store: sealed applicants would open only on the node that sealed them (a shared
  // key store for several nodes is not built yet).
  s.plain_personal_data = true;
  s.store_urls = cluster.urls();
  s.jetstream.stream = "TWO" + std::to_string(getpid());
  s.jetstream.subject_prefix = "two" + std::to_string(getpid());
  TestNode a(testing::make_temp_dir(), {}, s);
  TestNode b(testing::make_temp_dir(), {}, s);  // started second: finds the rules and calendars in force

  constexpr int kPerDesk = 8;
  std::mutex mu;
  std::vector<std::string> ids;
  std::vector<std::thread> desks;
  for (int d = 0; d < 4; ++d) {
    desks.emplace_back([&, d] {
      TestNode& node = d % 2 == 0 ? a : b;
      for (int i = 0; i < kPerDesk; ++i) {
        const std::string id = node.register_appeal();  // asserts the 201
        ASSERT_FALSE(id.empty());
        std::lock_guard lock(mu);
        ids.push_back(id);
      }
    });
  }
  for (auto& t : desks) t.join();
  ASSERT_EQ(ids.size(), std::size_t{4 * kPerDesk});
  std::set<int> numbers;
  for (const std::string& id : ids) numbers.insert(std::stoi(id.substr(id.rfind('-') + 1)));
  EXPECT_EQ(numbers.size(), ids.size()) << "a number was given twice";
  EXPECT_EQ(*numbers.begin(), 1);
  EXPECT_EQ(*numbers.rbegin(), 4 * kPerDesk) << "numbers are not dense";

  const std::set<std::string> want(ids.begin(), ids.end());
  EXPECT_EQ(listed(a), want);
  EXPECT_EQ(listed(b), want);

  // Let both SLA services decide every appeal, then read the whole log through a third view of it.
  store::EventStore& log = a.node().store();
  std::uint64_t head = 0;
  for (int quiet = 0, i = 0; quiet < 10 && i < 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::uint64_t now = log.head_position();
    quiet = now == head ? quiet + 1 : 0;
    head = now;
  }
  auto all = log.read_all(1, 1'000'000);
  ASSERT_TRUE(all.ok());
  std::map<std::string, int> ids_seen;
  int sla_facts = 0;
  for (const store::RecordedEvent& e : *all) {
    ++ids_seen[e.id.to_hex()];
    sla_facts += e.type.starts_with("Sla");
  }
  EXPECT_GT(sla_facts, 0) << "the SLA services decided nothing";
  for (const auto& [id, n] : ids_seen) EXPECT_EQ(n, 1) << "event " << id << " is in the log " << n << " times";
  EXPECT_EQ(b.node().store().head_hash(), a.node().store().head_hash());
}

}  // namespace
}  // namespace otinish::api
