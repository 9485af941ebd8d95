// Two engine nodes on one NATS JetStream cluster (tests/store/nats_cluster.h), as a centre that must go on when
// a machine dies would run them: registrations arriving at both get dense, unique numbers; each node's views
// follow the whole log; and each SLA fact is in the log once although both nodes' SLA services decide every
// appeal (their appends carry expected versions and idempotency keys derived from the fact).
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "api/http/client.h"
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
  // Sealed, with one key-encryption key on both nodes: the applicants' keys are in the cluster's bucket.
  s.store_urls = cluster.urls();
  s.jetstream.stream = "TWO" + std::to_string(getpid());
  s.jetstream.subject_prefix = "two" + std::to_string(getpid());
  TestNode a(testing::make_temp_dir(), {}, s);
  TestNode b(testing::make_temp_dir(), {}, s);  // started second: finds the rules and calendars in force
  ASSERT_FALSE(::testing::Test::HasFatalFailure()) << "a node did not start";

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

  // A node lists an appeal registered through the other one once its projection has followed the log there:
  // within a few seconds, not at once.
  const std::set<std::string> want(ids.begin(), ids.end());
  for (TestNode* node : {&a, &b}) {
    std::set<std::string> seen = listed(*node);
    for (int i = 0; i < 50 && seen != want; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      seen = listed(*node);
    }
    EXPECT_EQ(seen, want);
  }

  // Every desk registered the same person (TestNode::register_appeal), on both nodes at once: one applicant,
  // whose contact either node opens, whichever sealed the appeal.
  std::set<std::string> applicants;
  for (const std::string& id : ids) {
    for (TestNode* node : {&a, &b}) {
      const ClientResponse contact =
          node->as(Role::kOperator, "GET", "/v1/appeals/" + id + "/applicant", {}, {{"Access-Purpose", "callback"}});
      ASSERT_EQ(contact.status, 200) << id << ": " << contact.body;
      EXPECT_NE(contact.body.find("Aigerim"), std::string::npos) << contact.body;
      applicants.insert(TestNode::json(contact).at("applicant_id").as_string().c_str());
    }
  }
  EXPECT_EQ(applicants.size(), 1u) << "one person got several applicant keys";

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

// A node on the cluster keeps the refusals DIR/keys has: plain text beside the cluster's keys, and a log with
// events whose key bucket is missing (a lost bucket must not be replaced by an empty one without a word).
TEST(TwoNodesOnJetStream, ANodeRefusesPlainTextBesideTheBucketAndALogWithoutItsBucket) {
  store::testing::Cluster& cluster = store::testing::Cluster::get();
  ASSERT_TRUE(cluster.ok()) << cluster.error();
  TestNodeSetup s;
  s.store_urls = cluster.urls();
  s.jetstream.stream = "REFUSE" + std::to_string(getpid());
  s.jetstream.subject_prefix = "refuse" + std::to_string(getpid());
  { TestNode sealed(testing::make_temp_dir(), {}, s); }  // makes the log and its bucket

  NodeOptions o;
  o.data_dir = testing::make_temp_dir();
  o.store_urls = s.store_urls;
  o.jetstream = s.jetstream;
  o.personal_data.plain = true;
  auto plain = Node::open(o);
  ASSERT_FALSE(plain.ok());
  EXPECT_NE(plain.status().message().find("plain text is refused"), std::string::npos) << plain.status().ToString();
  EXPECT_NE(plain.status().message().find("bucket REFUSE"), std::string::npos) << plain.status().ToString();

  // Another deployment's stream with events and no bucket: a sealed node refuses until told --new-key-store.
  TestNodeSetup p = s;
  p.plain_personal_data = true;
  p.jetstream.stream = "NOKEYS" + std::to_string(getpid());
  p.jetstream.subject_prefix = "nokeys" + std::to_string(getpid());
  {
    TestNode plain_node(testing::make_temp_dir(), {}, p);
    plain_node.register_appeal();
  }
  o.jetstream = p.jetstream;
  o.personal_data.plain = false;
  o.personal_data.kek = testing::test_node_kek();
  auto missing = Node::open(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.status().message().find("is missing but the log holds"), std::string::npos)
      << missing.status().ToString();
}

// The number (1..3) of the server leading `stream` now, as scripts/nats-cluster.sh names them; 0 if unknown.
int stream_leader(const std::string& urls, const std::string& stream) {
  store::JetStreamOptions o;
  o.urls = urls;
  o.stream = stream;
  auto leader = store::jetstream_stream_leader(o);
  return leader.ok() && !leader->empty() ? leader->back() - '0' : 0;
}

// Waits (up to 30 s) until each of `streams` has a leader and its two other replicas are current, as an operator
// restarting the servers one at a time waits before the next: false if that does not happen.
bool wait_current(const std::string& urls, const std::vector<std::string>& streams) {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  bool current = false;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!current && std::chrono::steady_clock::now() < until) {
    if (!nc && natsConnection_ConnectTo(&nc, urls.c_str()) == NATS_OK) natsConnection_JetStream(&js, nc, nullptr);
    current = js != nullptr;
    for (const std::string& stream : streams) {
      jsStreamInfo* si = nullptr;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      if (!js || js_GetStreamInfo(&si, js, stream.c_str(), nullptr, &jerr) != NATS_OK) {
        current = false;
        continue;
      }
      const jsClusterInfo* c = si->Cluster;
      bool ok = c && c->Leader && *c->Leader && c->ReplicasLen == 2;
      for (int i = 0; ok && i < c->ReplicasLen; ++i) {
        ok = c->Replicas[i]->Current && !c->Replicas[i]->Offline && c->Replicas[i]->Lag == 0;
      }
      current = current && ok;
      jsStreamInfo_Destroy(si);
    }
    if (!current) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (js) jsCtx_Destroy(js);
  if (nc) natsConnection_Destroy(nc);
  return current;
}

// Asks the server leading `stream` to hand the lead to another one (as an operator does before restarting it) and
// waits (up to 30 s) until server `n` no longer leads it.
bool move_leader_off(const std::string& urls, const std::string& stream, int n) {
  natsConnection* nc = nullptr;
  bool moved = false;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!moved && std::chrono::steady_clock::now() < until) {
    const int leader = stream_leader(urls, stream);
    moved = leader != 0 && leader != n;
    if (moved) break;
    if (leader == n && (nc || natsConnection_ConnectTo(&nc, urls.c_str()) == NATS_OK)) {
      natsMsg* reply = nullptr;
      natsConnection_RequestString(&reply, nc, ("$JS.API.STREAM.LEADER.STEPDOWN." + stream).c_str(), "", 5000);
      if (reply) natsMsg_Destroy(reply);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (nc) natsConnection_Destroy(nc);
  return moved;
}

// The server (1..3) that leads neither the log's stream nor the keys' stream now; 0 if the cluster cannot say.
int server_leading_nothing(const std::string& urls, const std::vector<std::string>& streams) {
  std::set<int> leaders;
  for (const std::string& stream : streams) {
    int leader = 0;  // a restarted server may still be catching up: ask until the cluster answers
    for (int i = 0; i < 50 && leader == 0; ++i) {
      leader = stream_leader(urls, stream);
      if (leader == 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (leader == 0) return 0;
    leaders.insert(leader);
  }
  for (int n = 1; n <= 3; ++n) {
    if (!leaders.contains(n)) return n;
  }
  return 0;
}

// Four desks register without pause on two nodes, each request re-sent with its Idempotency-Key until it is
// answered 201, while one server is killed (SIGKILL, then restarted), hangs longer than an election (SIGSTOP for
// 10 s, then SIGCONT), and is restarted (SIGTERM, then started). In the cluster's log, read by a node started
// afterwards: the chain verifies, every appeal answered 201 is in it once, under a number, and numbers stay
// dense; both nodes read the appeals and open their applicants. The longest time without any 201 in each phase
// is printed (how long writes stopped), and how many nodes' views differ from the cluster's log.
//
// With `leader_faults`, the server is the log stream's leader, and the last phase restarts all three in turn,
// each handing its streams' leadership over first. nats-server 2.9.10 (Debian bookworm's) then sometimes takes
// back messages it had delivered, and a node may fork the log or stop (docs/jetstream.md, "What an
// acknowledgement means"), so that variant is not run by default: it shows the server's defect, not ours.
// Without it, the server faulted leads neither stream: the faults the nodes must ride through (their
// connections move, their consumers are recreated) without a leader change.
void desks_through_faults(bool leader_faults) {
  store::testing::Cluster& cluster = store::testing::Cluster::get();
  ASSERT_TRUE(cluster.ok()) << cluster.error();
  TestNodeSetup s;  // sealed: the applicants' keys are in a bucket on the same cluster, and live through it all
  s.store_urls = cluster.urls();
  s.jetstream.stream = "FAULT" + std::to_string(getpid());
  s.jetstream.subject_prefix = "fault" + std::to_string(getpid());
  s.jetstream.timeout = std::chrono::seconds(3);
  TestNode a(testing::make_temp_dir(), {}, s);
  TestNode b(testing::make_temp_dir(), {}, s);
  ASSERT_FALSE(::testing::Test::HasFatalFailure()) << "a node did not start";

  // `stop`: no new appeals (each desk still sees its current one answered); `give_up`: not even that (the test
  // is ending early).
  std::atomic<bool> stop{false}, give_up{false};
  std::mutex mu;
  std::set<std::string> acknowledged;
  std::vector<std::string> unanswered;  // a desk's appeal never answered after the cluster came back, and why
  std::atomic<std::int64_t> last_ack_ms{0};
  std::atomic<int> retries{0};
  const auto t0 = std::chrono::steady_clock::now();
  auto ms_now = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  };
  std::vector<std::thread> desks;
  // However the test ends (an ASSERT returns early), the desks stop and are joined first.
  struct JoinDesks {
    std::atomic<bool>& give_up;
    std::vector<std::thread>& desks;
    ~JoinDesks() {
      give_up.store(true);
      for (auto& t : desks) {
        if (t.joinable()) t.join();
      }
    }
  } join_desks{give_up, desks};
  for (int d = 0; d < 4; ++d) {
    desks.emplace_back([&, d] {
      TestNode& node = d % 2 == 0 ? a : b;
      const std::string body = std::string("{\"centre\":\"SHY\",\"category\":\"complaint\",\"topic\":\"lifts.stuck\",") +
                               "\"channel\":\"phone\",\"location\":{\"district\":\"Abay\",\"street\":\"Tauke khan\"}," +
                               "\"text\":\"the lift is stuck\",\"applicant\":{\"name\":\"Desk " + std::to_string(d) +
                               "\",\"phone\":\"+7 700 123 456" + std::to_string(d) + "\",\"address\":\"x\"}}";
      for (int i = 0; !stop.load() && !give_up.load(); ++i) {
        const std::string key = "desk-" + std::to_string(d) + "-" + std::to_string(i);
        // Until answered: a desk does not drop a caller's appeal (a number taken by an unanswered attempt is
        // the one its re-send gets, so numbers stay dense only if every appeal is seen through).
        // Once the cluster is back (`stop`), an appeal still unanswered a minute later never will be: the desk
        // says why and stops, so that the test fails instead of hanging.
        std::optional<std::chrono::steady_clock::time_point> deadline;
        while (!give_up.load()) {
          HttpClient client("127.0.0.1", node.port(), std::chrono::seconds(15));
          auto r = client.request("POST", "/v1/appeals", body,
                                  {{"Authorization", "Bearer " + node.token(Role::kOperator)}, {"Idempotency-Key", key}});
          if (r.ok() && r->status == 201) {
            const std::string id = TestNode::json(*r).at("id").as_string().c_str();
            std::lock_guard lock(mu);
            acknowledged.insert(id);
            last_ack_ms.store(ms_now());
            break;
          }
          ++retries;
          if (stop.load() && !deadline) deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
          if (deadline && std::chrono::steady_clock::now() > *deadline) {
            std::lock_guard lock(mu);
            unanswered.push_back(key + ": " + (r.ok() ? std::to_string(r->status) + " " + r->body : r.status().ToString()));
            break;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
    });
  }
  // The longest stretch without any 201 from `from_ms` until writes are answered again for `settle` (and, with
  // `busy`, until it is false).
  auto longest_stop = [&](std::int64_t from_ms, std::chrono::milliseconds settle,
                          const std::atomic<bool>* busy = nullptr) {
    std::int64_t longest = 0, prev = last_ack_ms.load();
    for (auto until = std::chrono::steady_clock::now() + settle;
         std::chrono::steady_clock::now() < until || (busy && busy->load());) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      const std::int64_t ack = last_ack_ms.load();
      const std::int64_t gap = (ack != prev ? ack : ms_now()) - std::max(prev, from_ms);
      longest = std::max(longest, gap);
      if (ack != prev) prev = ack;
    }
    return longest;
  };
  std::this_thread::sleep_for(std::chrono::seconds(1));

  const std::vector<std::string> streams{s.jetstream.stream, "KV_" + s.jetstream.stream + "_KEYS"};
  auto target = [&] {
    return leader_faults ? stream_leader(cluster.urls(), s.jetstream.stream)
                         : server_leading_nothing(cluster.urls(), streams);
  };
  int victim = target();
  ASSERT_GT(victim, 0) << "the cluster does not say who leads its streams";
  const int killed = victim;
  std::int64_t from = ms_now();
  ASSERT_TRUE(cluster.signal("kill " + std::to_string(victim)));
  const std::int64_t kill_one = longest_stop(from, std::chrono::milliseconds(1500));
  ASSERT_TRUE(cluster.signal("restart " + std::to_string(victim)));
  ASSERT_TRUE(wait_current(cluster.urls(), streams)) << "server " << victim << " did not catch up";

  const int hung = victim = target();
  ASSERT_GT(victim, 0) << "the cluster does not say who leads its streams";
  from = ms_now();
  ASSERT_TRUE(cluster.signal("stopsig " + std::to_string(victim)));
  std::this_thread::sleep_for(std::chrono::seconds(10));  // longer than NATS's election timeout (4-9 s)
  ASSERT_TRUE(cluster.signal("cont " + std::to_string(victim)));
  const std::int64_t hung_leader = longest_stop(from, std::chrono::seconds(3));
  ASSERT_TRUE(wait_current(cluster.urls(), streams)) << "server " << victim << " did not catch up";

  from = ms_now();
  // As an operator upgrading the servers does: the streams' leadership handed to another server first (when the
  // server leads one), SIGTERM, started again, the next one only once both streams are current on all three.
  std::atomic<bool> restarting{true};
  std::string restart_error;
  std::vector<int> to_restart{1, 2, 3};
  if (!leader_faults) to_restart = {target()};
  ASSERT_GT(to_restart.front(), 0) << "the cluster does not say who leads its streams";
  std::thread rolling([&] {
    for (int n : to_restart) {
      for (const std::string& stream : streams) {
        if (!move_leader_off(cluster.urls(), stream, n)) restart_error = "server " + std::to_string(n) + " still leads " + stream;
      }
      if (!restart_error.empty()) break;
      if (!cluster.signal("term " + std::to_string(n)) || !cluster.signal("restart " + std::to_string(n))) {
        restart_error = "server " + std::to_string(n) + " did not stop or start";
      } else if (!wait_current(cluster.urls(), streams)) {
        restart_error = "the log's and the keys' streams are not current on all three servers 30 s after server " +
                        std::to_string(n) + " restarted";
      }
      if (!restart_error.empty()) break;
    }
    restarting.store(false);
  });
  const std::int64_t all_restarted = longest_stop(from, std::chrono::seconds(3), &restarting);
  rolling.join();
  ASSERT_TRUE(restart_error.empty()) << restart_error;
  stop.store(true);
  for (auto& t : desks) t.join();
  desks.clear();

  std::printf("%s: writes stopped for at most: %lld ms after server %d was killed; %lld ms with server %d hung for "
              "10 s; %lld ms while %zu server(s) were restarted in turn. %zu appeals acknowledged, %d requests re-sent\n",
              leader_faults ? "the streams' leaders faulted" : "a server leading no stream faulted",
              static_cast<long long>(kill_one), killed, static_cast<long long>(hung_leader), hung,
              static_cast<long long>(all_restarted), to_restart.size(), acknowledged.size(), retries.load());
  EXPECT_LT(all_restarted, 40'000) << "writes did not resume while the servers were restarted in turn";
  // nats-server 2.9 has been seen, rarely, to take back messages it had already delivered when a stream's
  // leader changes (docs/jetstream.md, "What an acknowledgement means"). A node that finds this stops with
  // kCorruption rather than fork the log; the desks on it are then never answered. That is the one reason an
  // appeal may stay unanswered here.
  const std::string kRolledBack = "no longer holds the messages this node applied";
  const bool rolled_back =
      !unanswered.empty() && std::all_of(unanswered.begin(), unanswered.end(), [&](const std::string& u) {
        return u.find(kRolledBack) != std::string::npos;
      });
  if (!rolled_back) {
    for (const std::string& u : unanswered) ADD_FAILURE() << "a desk's appeal was never answered: " << u;
  }

  // The log as the cluster holds it, read by a node started now: its chain verifies, every appeal in it is
  // registered once, numbers are dense.
  store::JetStreamOptions fresh_options = s.jetstream;
  fresh_options.urls = cluster.urls();
  fresh_options.timeout = std::chrono::seconds(60);  // it reads the whole stream before it answers
  auto fresh = store::open_jetstream_store(fresh_options);
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  auto report = store::verify_chain(**fresh);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok) << report->to_string();
  auto all = (*fresh)->read_all(1, 10'000'000);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  std::map<std::string, int> registered;
  for (const store::RecordedEvent& e : *all) {
    if (e.type == "AppealRegistered") ++registered[e.stream];
  }
  std::set<int> numbers;
  for (const auto& [stream, n] : registered) {
    EXPECT_EQ(n, 1) << stream << " registered " << n << " times";
    numbers.insert(std::stoi(stream.substr(stream.rfind('-') + 1)));
  }
  ASSERT_FALSE(numbers.empty());
  EXPECT_EQ(*numbers.begin(), 1);
  // Each node holds that log, or has stopped because the cluster took back what it applied. Not asserted, but
  // printed: after faults, nats-server 2.9.10 sometimes hands a node's consumer a history that differs from what
  // a node started later reads (the same positions, another message where two carried one key, or one the
  // others do not have), without a reconnection or a recreated consumer that would make the node check; the
  // cluster's own log above stays whole. docs/jetstream.md says what that leaves.
  int forked = 0;
  for (TestNode* node : {&a, &b}) {
    store::EventStore& view = node->node().store();
    const Status caught_up = view.stream_version("any-stream").status();  // waits until it applied the stream
    if (!caught_up.ok()) {
      EXPECT_TRUE(rolled_back && caught_up.code() == StatusCode::kCorruption &&
                  caught_up.message().find(kRolledBack) != std::string::npos)
          << caught_up.ToString();
      continue;
    }
    if (view.head_position() != (*fresh)->head_position() || view.head_hash() != (*fresh)->head_hash()) ++forked;
  }
  std::printf("nodes whose log differs from the cluster's: %d of 2\n", forked);
  if (rolled_back) {
    // What the cluster took back may include acknowledged appeals: there is nothing more this run can check.
    std::printf("nats-server took back messages the nodes had applied; they stopped: %s\n", unanswered.front().c_str());
    return;
  }
  EXPECT_EQ(static_cast<std::size_t>(*numbers.rbegin()), numbers.size()) << "numbers are not dense";
  for (const std::string& id : acknowledged) {
    EXPECT_EQ(registered.count("appeal-" + id), 1u) << id << " was acknowledged but is not in the log";
  }
  // Each node reads them, and opens their applicant's contact (every 25th, to keep the test short).
  int k = 0;
  for (const std::string& id : acknowledged) {
    if (k++ % 25 != 0) continue;
    for (TestNode* node : {&a, &b}) {
      for (const std::string& path : {"/v1/appeals/" + id, "/v1/appeals/" + id + "/applicant"}) {
        ClientResponse r;  // 503 while the node's connection is still coming back from the restart: ask again
        for (int attempt = 0; attempt < 20; ++attempt) {
          r = node->as(Role::kOperator, "GET", path, {}, {{"Access-Purpose", "callback"}});
          if (r.status != 503) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
        EXPECT_EQ(r.status, 200) << path << ": " << r.body;
      }
    }
  }
}

TEST(TwoNodesOnJetStream, ServersDyingHangingAndRestartingLoseNoAcknowledgedAppeal) { desks_through_faults(false); }

// Run by hand (--gtest_also_run_disabled_tests): see desks_through_faults.
TEST(TwoNodesOnJetStream, DISABLED_TheStreamsLeadersDyingHangingAndRestarting) { desks_through_faults(true); }

}  // namespace
}  // namespace otinish::api
