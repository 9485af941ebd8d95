// The proof an auditor carries away, through the server and the command line: checkpoints signed on a period
// and at shutdown, proofs over HTTP that verify against them, a server that refuses a log older than its
// checkpoints, evidence bundles checked offline (every flipped byte fails), `verify --since` on a rewritten
// copy, a witness's cosignature, and `replay` explaining each decision.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "api/http/node.h"
#include "engine/proof/checkpoint.h"
#include "engine/proof/evidence.h"
#include "tests/api/cli_runner.h"
#include "tests/api/test_node.h"
#include "tests/store/rewrite.h"

namespace otinish::api {
namespace {

using namespace std::chrono_literals;
namespace proof = engine::proof;
namespace merkle = store::merkle;
using namespace otinish::api::testing;

const std::vector<proof::NoteVerifier> kTestKey = {test_checkpoint_signer().verifier()};

// Waits until the newest checkpoint served covers the log's head; returns it.
std::string checkpoint_at_head(TestNode& node) {
  for (int i = 0; i < 300; ++i) {
    ClientResponse r = node.as(Role::kPublic, "GET", "/v1/checkpoint");
    if (r.status == 200) {
      auto opened = proof::open_checkpoint(r.body, kTestKey);
      if (opened.ok() && opened->checkpoint.size == node.node().store().head_position()) return r.body;
    }
    std::this_thread::sleep_for(10ms);
  }
  ADD_FAILURE() << "no checkpoint of the head was served";
  return "";
}

merkle::Hash decoded(const boost::json::value& v) {
  std::string raw;
  EXPECT_TRUE(proof::from_base64(v.as_string(), &raw));
  merkle::Hash h{};
  if (raw.size() == 32) std::memcpy(h.data(), raw.data(), 32);
  return h;
}

std::vector<merkle::Hash> decoded_list(const boost::json::value& v) {
  std::vector<merkle::Hash> out;
  for (const auto& h : v.as_array()) out.push_back(decoded(h));
  return out;
}

TEST(ProofApi, CheckpointsAreSignedServedAndProofsVerifyAgainstThem) {
  TestNode node(make_temp_dir(), {}, {.checkpoints = true});
  for (int i = 0; i < 3; ++i) node.register_appeal();
  const std::string note = checkpoint_at_head(node);
  auto opened = proof::open_checkpoint(note, kTestKey);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->checkpoint.origin, "test.109.kz/log");
  const std::uint64_t size = opened->checkpoint.size;
  ASSERT_GE(size, 6u);

  for (std::uint64_t position = 1; position <= size; ++position) {
    ClientResponse r = node.as(Role::kPublic, "GET",
                               "/v1/proofs/inclusion?position=" + std::to_string(position) + "&size=" + std::to_string(size));
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = TestNode::json(r).as_object();
    Hash256 event_hash{};
    ASSERT_TRUE(merkle::from_hex(j.at("event_hash").as_string(), &event_hash));
    EXPECT_TRUE(merkle::verify_inclusion(position - 1, size, merkle::leaf_hash(event_hash), decoded_list(j.at("proof")),
                                         opened->checkpoint.root))
        << position;
  }
  node.register_appeal();
  ClientResponse c = node.as(Role::kPublic, "GET", "/v1/proofs/consistency?from=" + std::to_string(size));
  ASSERT_EQ(c.status, 200) << c.body;
  auto cj = TestNode::json(c).as_object();
  EXPECT_EQ(decoded(cj.at("from_root")), opened->checkpoint.root);
  EXPECT_TRUE(merkle::verify_consistency(size, cj.at("to").to_number<std::uint64_t>(), opened->checkpoint.root,
                                         decoded(cj.at("to_root")), decoded_list(cj.at("proof"))));
  EXPECT_EQ(node.as(Role::kPublic, "GET", "/v1/proofs/inclusion?position=1&size=999999").status, 422);
  EXPECT_EQ(node.as(Role::kPublic, "GET", "/v1/proofs/inclusion?position=x").status, 400);
  EXPECT_EQ(node.as(Role::kPublic, "GET", "/v1/checkpoint?size=" + std::to_string(size)).body, note);

  // Shutdown signs a last checkpoint of everything the log holds.
  const std::uint64_t head = node.node().store().head_position();
  node.stop();
  proof::CheckpointDirectory kept(node.dir() + "/checkpoints");
  auto latest = proof::open_checkpoint(*kept.latest(), kTestKey);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->checkpoint.size, head);
}

TEST(ProofApi, AServerRefusesALogOlderThanItsCheckpoints) {
  const std::string dir = make_temp_dir();
  const std::string backup = dir + ".backup";
  {
    TestNode node(dir, {}, {.checkpoints = true});
    node.keep_dir();
    node.register_appeal();
    checkpoint_at_head(node);
    node.stop();
    node.node().store();  // still open: the copy is taken below, after the node is gone
  }
  std::filesystem::copy(dir + "/log", backup, std::filesystem::copy_options::recursive);
  {
    TestNode node(dir, {}, {.checkpoints = true});
    node.keep_dir();
    node.register_appeal();
    node.register_appeal();
    checkpoint_at_head(node);
  }
  // The log restored from the older backup: the checkpoints describe events it no longer holds.
  std::filesystem::remove_all(dir + "/log");
  std::filesystem::rename(backup, dir + "/log");
  NodeOptions o;
  o.data_dir = dir;
  o.server.listen_host = "127.0.0.1";
  o.personal_data.kek = test_node_kek();
  auto opened = Node::open(o);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(opened.status().message().find("does not extend the newest checkpoint"), std::string::npos)
      << opened.status().message();
  EXPECT_NE(opened.status().message().find("holds only"), std::string::npos) << opened.status().message();
  std::filesystem::remove_all(dir);
}

// An appeal with SLA decisions (the city's rules), its bundle over HTTP, checked offline.
struct AppealWithDecisions {
  TestNode node{make_temp_dir(), {}, {.city_rules = true, .checkpoints = true}};
  std::string id;
  AppealWithDecisions() {
    id = node.register_appeal();
    // The SLA service appends to the appeal's stream too, but timing facts only: they leave the If-Match valid.
    EXPECT_EQ(node.command(Role::kOperator, id, "send_for_review").status, 200);
    EXPECT_EQ(node.command(Role::kInspector, id, "assign", std::string("{\"agency\":\"") + kAgency + "\"}").status, 200);
    // The SLA service decides after the facts: wait for its clocks in the appeal's stream.
    for (int i = 0; i < 300; ++i) {
      auto events = node.node().store().read_stream("appeal-" + id, 1, store::Direction::kForward, 100);
      int clocks = 0;
      if (events.ok()) {
        for (const auto& e : *events) clocks += e.type.starts_with("SlaClock");
      }
      if (clocks >= 2) break;
      std::this_thread::sleep_for(10ms);
    }
    checkpoint_at_head(node);
  }
};

TEST(ProofApi, AnEvidenceBundleVerifiesOfflineAndEveryFlippedByteFails) {
  AppealWithDecisions a;
  ClientResponse r = a.node.as(Role::kAuditor, "GET", "/v1/appeals/" + a.id + "/evidence");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(a.node.as(Role::kOperator, "GET", "/v1/appeals/" + a.id + "/evidence").status, 403);
  const std::string bundle = r.body;
  const proof::EvidenceReport report = proof::verify_evidence(bundle, kTestKey);
  ASSERT_TRUE(report.ok) << report.to_string();
  EXPECT_GE(report.timeline.size(), 5u);
  EXPECT_GE(report.publications, 2u);
  const std::string text = report.to_string();
  EXPECT_NE(text.find("city.yaml:"), std::string::npos) << text;  // each decision names its rule's file:line
  EXPECT_NE(text.find("ok: " + std::to_string(report.timeline.size()) + " events of " + a.id), std::string::npos) << text;
  EXPECT_EQ(text.find("Aigerim"), std::string::npos);  // the applicant stays sealed
  // The HTTP timeline shows each event in the centre's local time beside UTC, and each decision's rule.
  ClientResponse timeline = a.node.as(Role::kAuditor, "GET", "/v1/appeals/" + a.id + "/timeline");
  ASSERT_EQ(timeline.status, 200);
  EXPECT_NE(timeline.body.find("\"at_local\":\"20"), std::string::npos) << timeline.body;
  EXPECT_NE(timeline.body.find("+05:00"), std::string::npos) << timeline.body;
  EXPECT_NE(timeline.body.find("city.yaml:"), std::string::npos) << timeline.body;

  for (std::size_t i = 0; i < bundle.size(); ++i) {
    std::string bad = bundle;
    bad[i] ^= 0x01;
    const proof::EvidenceReport b = proof::verify_evidence(bad, kTestKey);
    ASSERT_FALSE(b.ok) << "byte " << i << " of " << bundle.size() << " ('" << bundle[i] << "') changed and still "
                       << "verified";
  }
  // Another key, or two required signers with one, fail too.
  const std::vector<proof::NoteVerifier> other = {
      *proof::NoteVerifier::parse(proof::NoteSigner::generate("PeterNeumann").second)};
  EXPECT_FALSE(proof::verify_evidence(bundle, other).ok);
  EXPECT_FALSE(proof::verify_evidence(bundle, kTestKey, 2).ok);
}

TEST(ProofApi, TheCommandLineMakesAndChecksBundlesAndHoldsALogToItsCheckpoint) {
  std::string dir, id, note;
  {
    AppealWithDecisions a;
    a.node.keep_dir();
    dir = a.node.dir();
    id = a.id;
    note = checkpoint_at_head(a.node);
  }
  const std::string work = dir + ".work";
  std::filesystem::create_directories(work);
  std::ofstream(work + "/log.pub") << test_checkpoint_signer().verifier_key() << "\n";
  std::ofstream(work + "/auditors.ckpt") << note;

  auto made = run_cli({"evidence", id, "--data", dir, "--out", work + "/bundle.json"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto checked = run_cli({"evidence", "verify", work + "/bundle.json", "--key", "@" + work + "/log.pub"});
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  EXPECT_NE(checked.out.find("SlaClock"), std::string::npos) << checked.out;
  EXPECT_NE(checked.out.find("[rule "), std::string::npos) << checked.out;

  auto since = run_cli({"verify", "--data", dir, "--since", work + "/auditors.ckpt", "--key", "@" + work + "/log.pub"});
  EXPECT_EQ(since.exit_code, 0) << since.out << since.err;
  EXPECT_NE(since.out.find("extends the checkpoint"), std::string::npos) << since.out;

  // The operator rewrites an early event in a copy and re-chains: `verify` alone passes, `--since` does not.
  const std::string copy = work + "/copy";
  std::filesystem::copy(dir, copy, std::filesystem::copy_options::recursive);
  store::testing::rewrite_and_rechain(copy + "/log", 5, "rewritten");
  auto alone = run_cli({"verify", "--data", copy});
  EXPECT_EQ(alone.exit_code, 0) << alone.out << alone.err;
  auto caught = run_cli({"verify", "--data", copy, "--since", work + "/auditors.ckpt", "--key", "@" + work + "/log.pub"});
  EXPECT_EQ(caught.exit_code, 1) << caught.out << caught.err;
  EXPECT_NE(caught.out.find("the first size where they differ is"), std::string::npos) << caught.out;
  auto stale = run_cli({"evidence", "verify", work + "/bundle.json", "--key", "@" + work + "/log.pub", "--require", "2"});
  EXPECT_EQ(stale.exit_code, 1);

  // A witness cosigns only a checkpoint that extends the last one it cosigned.
  auto [wskey, wvkey] = proof::NoteSigner::generate("maslikhat.shymkent.kz/witness");
  std::ofstream(work + "/witness.key") << wskey << "\n";
  std::ofstream(work + "/witness.pub") << wvkey << "\n";
  auto first = run_cli({"checkpoint", "cosign", work + "/auditors.ckpt", "--key", "file:" + work + "/witness.key",
                        "--log-key", "@" + work + "/log.pub", "--out", work + "/cosigned.ckpt"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto both = run_cli({"checkpoint", "verify", work + "/cosigned.ckpt", "--key", "@" + work + "/log.pub", "--key",
                       "@" + work + "/witness.pub", "--require", "2", "--data", dir});
  EXPECT_EQ(both.exit_code, 0) << both.out << both.err;
  auto created = run_cli({"checkpoint", "create", "--data", copy, "--key",
                          "env:OTINISH_TEST_NO_SUCH_VARIABLE"});
  EXPECT_EQ(created.exit_code, 1);
  ::setenv("OTINISH_TEST_CHECKPOINT_KEY",
           "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", 1);
  auto forked = run_cli({"checkpoint", "create", "--data", copy, "--key", "env:OTINISH_TEST_CHECKPOINT_KEY",
                         "--origin", "test.109.kz/log"});
  ASSERT_EQ(forked.exit_code, 0) << forked.err;
  std::ofstream(work + "/forked.ckpt") << forked.out;
  auto refused = run_cli({"checkpoint", "cosign", work + "/forked.ckpt", "--key", "file:" + work + "/witness.key",
                          "--log-key", "@" + work + "/log.pub", "--last", work + "/cosigned.ckpt", "--data", copy});
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_NE(refused.err.find("does not extend"), std::string::npos) << refused.err << refused.out;

  auto replay = run_cli({"replay", "--data", dir, "--appeal", id});
  EXPECT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_NE(replay.out.find("city.yaml:"), std::string::npos) << replay.out;
  EXPECT_NE(replay.out.find("+05:00"), std::string::npos) << replay.out;
  auto replay_json = run_cli({"replay", "--data", dir, "--appeal", id, "--format", "json"});
  EXPECT_EQ(replay_json.exit_code, 0) << replay_json.err;
  EXPECT_NE(replay_json.out.find("\"rule_where\""), std::string::npos) << replay_json.out;
  std::filesystem::remove_all(work);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace otinish::api
