// The applicant's privacy at the edge: the audited read of the contact, the access log, erasure over HTTP and
// on the command line, key rotation and a wrong or missing key-encryption key.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <cstdlib>
#include <sys/wait.h>
#include <unistd.h>
#include <fstream>
#include <sstream>
#include <thread>

#include "api/cli/commands.h"
#include "engine/privacy/kek.h"
#include "engine/privacy/privacy_events.h"
#include "examples/city/city_catalogue.h"
#include "examples/city/workload.h"
#include "store/rocks_store.h"
#include "tests/api/cli_runner.h"
#include "tests/api/test_node.h"
#include "tests/engine/privacy_test_city.h"

namespace otinish::api::testing {
namespace {

using engine::testing::files_containing;
using R = Role;

const HeaderList kPurpose = {{"Access-Purpose", "callback with the result"}};

// The access log of `id` once it holds `n` reads (the recorder batches; the view follows the log).
boost::json::array wait_for_reads(TestNode& node, const std::string& id, std::size_t n) {
  boost::json::array reads;
  for (int i = 0; i < 200; ++i) {
    ClientResponse r = node.as(R::kAuditor, "GET", "/v1/appeals/" + id + "/access-log");
    EXPECT_EQ(r.status, 200) << r.body;
    reads = TestNode::json(r).at("reads").as_array();
    if (reads.size() >= n) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return reads;
}

std::size_t count_read_events(store::EventStore& log) {
  std::size_t n = 0;
  auto scanned = log.scan(1, UINT64_MAX, [&](const store::RecordedEvent& e) {
    n += e.type == engine::privacy::kPersonalDataReadType;
    return true;
  });
  EXPECT_TRUE(scanned.ok());
  return n;
}

TEST(ApplicantResource, AReadNeedsAStatedPurposeAndIsNeverCached) {
  TestNode node;
  const std::string id = node.register_appeal();
  ClientResponse bare = node.as(R::kOperator, "GET", "/v1/appeals/" + id + "/applicant");
  EXPECT_EQ(bare.status, 400);
  EXPECT_EQ(TestNode::json(bare).at("type").as_string(), "urn:otinish:problem:purpose-required");
  EXPECT_EQ(TestNode::json(bare).at("field").as_string(), "Access-Purpose");
  ClientResponse r = node.as(R::kOperator, "GET", "/v1/appeals/" + id + "/applicant", "", kPurpose);
  ASSERT_EQ(r.status, 200) << r.body;
  const boost::json::value body = TestNode::json(r);
  const auto& o = body.as_object();
  EXPECT_EQ(o.at("name").as_string(), "Aigerim");
  EXPECT_EQ(o.at("phone").as_string(), "+7 700 123 4567");
  EXPECT_EQ(o.at("address").as_string(), "Tauke khan 5, flat 12");
  EXPECT_TRUE(o.at("sealed").as_bool());
  EXPECT_TRUE(std::string(o.at("applicant_id").as_string()).starts_with("ap-"));
  EXPECT_EQ(r.header("cache-control"), "no-store");
  EXPECT_EQ(node.as(R::kOperator, "GET", "/v1/appeals/SHY-2026-0099999/applicant", "", kPurpose).status, 404);
}

TEST(ApplicantResource, NReadsAreNAccessEventsAndOtherRolesSeeNothingAndLeaveNoTrace) {
  TestNode node;
  const std::string id = node.assigned_appeal();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(node.as(R::kOperator, "GET", "/v1/appeals/" + id + "/applicant", "", kPurpose).status, 200);
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(node.as(R::kController, "GET", "/v1/appeals/" + id + "/applicant", "",
                      {{"Access-Purpose", "checking satisfaction"}}).status, 200);
  }
  for (Role r : {R::kInspector, R::kAgency, R::kAuditor, R::kPublic, R::kAdmin}) {
    ClientResponse refused = node.as(r, "GET", "/v1/appeals/" + id + "/applicant", "", kPurpose);
    EXPECT_EQ(refused.status, 403) << to_string(r);
    EXPECT_EQ(refused.body.find("Aigerim"), std::string::npos);
    // Everything else such a role reads about the appeal carries no personal data either.
    for (const std::string& path : {"/v1/appeals/" + id, "/v1/appeals/" + id + "/timeline", std::string("/v1/appeals"),
                                    std::string("/v1/public/feed"), std::string("/v1/events")}) {
      ClientResponse other = node.as(r, "GET", path);
      for (const char* pd : {"Aigerim", "123 4567", "flat 12"}) {
        EXPECT_EQ(other.body.find(pd), std::string::npos) << to_string(r) << " " << path << ": " << other.body;
      }
    }
  }
  // A read without the purpose is refused and leaves no record.
  EXPECT_EQ(node.as(R::kOperator, "GET", "/v1/appeals/" + id + "/applicant").status, 400);
  boost::json::array reads = wait_for_reads(node, id, 7);
  ASSERT_EQ(reads.size(), 7u);
  EXPECT_EQ(reads[0].at("role").as_string(), "operator");
  EXPECT_EQ(reads[0].at("purpose").as_string(), "callback with the result");
  EXPECT_EQ(reads[0].at("what").as_string(), "contact");
  EXPECT_EQ(reads[6].at("role").as_string(), "controller");
  EXPECT_EQ(reads[6].at("purpose").as_string(), "checking satisfaction");
  node.stop();
  EXPECT_EQ(count_read_events(node.node().store()), 7u);
}

TEST(ApplicantResource, ErasureOverHttpLeavesTheAppealAndRemovesThePerson) {
  TestNode node;
  const std::string id = node.assigned_appeal();
  const std::string other = node.register_appeal();
  ClientResponse who = node.as(R::kPrivacyOfficer, "GET", "/v1/appeals/" + id + "/applicant", "",
                               {{"Access-Purpose", "erasure request of the applicant"}});
  ASSERT_EQ(who.status, 200) << who.body;
  const std::string applicant(TestNode::json(who).at("applicant_id").as_string());
  EXPECT_EQ(node.as(R::kPrivacyOfficer, "DELETE", "/v1/applicants/" + applicant, "{}").status, 400);
  EXPECT_EQ(node.as(R::kPrivacyOfficer, "DELETE", "/v1/applicants/ap-0000000000000000", R"({"reason":"x"})").status,
            404);
  ClientResponse erased = node.as(R::kPrivacyOfficer, "DELETE", "/v1/applicants/" + applicant,
                                  R"({"reason":"request of the applicant"})");
  ASSERT_EQ(erased.status, 200) << erased.body;
  const boost::json::value erased_body = TestNode::json(erased);
  const auto& e = erased_body.as_object();
  EXPECT_FALSE(e.at("already_erased").as_bool());
  // Both appeals were registered with the same phone: one person, one key, both appeals.
  EXPECT_EQ(e.at("appeals").as_array().size(), 2u) << erased.body;

  ClientResponse gone = node.as(R::kOperator, "GET", "/v1/appeals/" + other + "/applicant", "", kPurpose);
  EXPECT_EQ(gone.status, 410) << gone.body;
  EXPECT_EQ(TestNode::json(gone).at("type").as_string(), "urn:otinish:problem:applicant-erased");
  EXPECT_EQ(node.as(R::kAuditor, "GET", "/v1/appeals/" + id).status, 200);
  ClientResponse again = node.as(R::kAdmin, "DELETE", "/v1/applicants/" + applicant, R"({"reason":"again"})");
  ASSERT_EQ(again.status, 200);
  EXPECT_TRUE(TestNode::json(again).at("already_erased").as_bool());
  // The timeline says what happened, and the list view marks the appeal.
  bool marked = false;
  for (int i = 0; i < 200 && !marked; ++i) {
    ClientResponse t = node.as(R::kAuditor, "GET", "/v1/appeals/" + id + "/timeline");
    marked = t.body.find("applicant's personal data erased: request of the applicant") != std::string::npos;
    if (!marked) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_TRUE(marked);
  ClientResponse list = node.as(R::kAuditor, "GET", "/v1/appeals");
  EXPECT_NE(list.body.find("\"applicant_erased\":true"), std::string::npos) << list.body;

  node.stop();
  for (const char* pd : {"Aigerim", "123 4567", "77001234567", "flat 12"}) {
    EXPECT_EQ(files_containing(node.dir(), pd), std::vector<std::string>()) << pd;
  }
  auto verified = store::verify_log(node.node().store(), {.indexes = true});
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->ok) << verified->to_string();
}

TEST(ApplicantResource, APlainServerSaysThereIsNothingToErase) {
  TestNode node(make_temp_dir(), {}, {.plain_personal_data = true});
  const std::string id = node.register_appeal();
  ClientResponse r = node.as(R::kOperator, "GET", "/v1/appeals/" + id + "/applicant", "", kPurpose);
  ASSERT_EQ(r.status, 200);
  EXPECT_FALSE(TestNode::json(r).at("sealed").as_bool());
  ClientResponse d = node.as(R::kPrivacyOfficer, "DELETE", "/v1/applicants/ap-0000000000000000", R"({"reason":"x"})");
  EXPECT_EQ(d.status, 503);
  EXPECT_EQ(TestNode::json(d).at("type").as_string(), "urn:otinish:problem:not-sealed");
}

// ---- the key-encryption key at start ---------------------------------------------------------------------------

TEST(KeyEncryptionKey, ServeRefusesAWrongOrMissingKeyWithExitThreeNamingTheSource) {
  const std::string dir = make_temp_dir();
  { TestNode node(dir + "/data"); node.keep_dir(); node.register_appeal(); }
  ::unsetenv("OTINISH_KEK");
  ::unsetenv("CREDENTIALS_DIRECTORY");
  CliResult missing = run_cli({"serve", "--data", dir + "/data", "--listen", "127.0.0.1:0"});
  EXPECT_EQ(missing.exit_code, 3) << missing.err;
  EXPECT_NE(missing.err.find("no key-encryption key"), std::string::npos) << missing.err;
  ASSERT_TRUE(engine::privacy::generate_kek_file(dir + "/other.kek", dir + "/data").ok());
  CliResult wrong = run_cli({"serve", "--data", dir + "/data", "--listen", "127.0.0.1:0", "--kek", "file:" + dir + "/other.kek"});
  EXPECT_EQ(wrong.exit_code, 3) << wrong.err;
  EXPECT_NE(wrong.err.find("key-encryption key file " + dir + "/other.kek"), std::string::npos) << wrong.err;
  EXPECT_NE(wrong.err.find("is not the one the key store"), std::string::npos) << wrong.err;
  ::setenv("OTINISH_KEK", "not hex", 1);
  CliResult bad = run_cli({"serve", "--data", dir + "/data", "--listen", "127.0.0.1:0"});
  EXPECT_EQ(bad.exit_code, 3) << bad.err;
  EXPECT_NE(bad.err.find("environment variable OTINISH_KEK"), std::string::npos) << bad.err;
  ::unsetenv("OTINISH_KEK");
  // Plain text on a data directory that seals is refused: new applicants would be written unsealed.
  CliResult plain = run_cli({"serve", "--data", dir + "/data", "--listen", "127.0.0.1:0", "--plain-personal-data"});
  EXPECT_EQ(plain.exit_code, 3) << plain.err;
  EXPECT_NE(plain.err.find("plain text is refused"), std::string::npos) << plain.err;
  // A key store that went missing beside a log that holds appeals is refused, not silently recreated.
  std::filesystem::remove_all(dir + "/data/keys");
  CliResult lost = run_cli({"serve", "--data", dir + "/data", "--listen", "127.0.0.1:0", "--kek", "file:" + dir + "/other.kek"});
  EXPECT_EQ(lost.exit_code, 3) << lost.err;
  EXPECT_NE(lost.err.find("restore it from its backup"), std::string::npos) << lost.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/data/keys"));
  std::filesystem::remove_all(dir);
}

// ---- the command line ------------------------------------------------------------------------------------------

// A process killed after registering a new person, whose identity's link was still in the key store's buffer:
// `otinish applicant find` restores the link from the log before it looks, so the officer finds the person
// (else: "no applicant with that phone", and an erasure by phone would miss their appeals).
TEST(PrivacyCli, FindsAPersonWhoseLinkAKillTook) {
  const std::string dir = make_temp_dir();
  const std::string data = dir + "/data";
  {
    TestNode node(data);
    node.keep_dir();
    node.register_appeal();
  }
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // registers one new person and is gone without closing anything, as if killed
    auto store = store::open_rocks_store(data + "/log");
    if (!store.ok()) _exit(3);
    auto keys = engine::privacy::KeyStore::open(
        data + "/keys", test_node_kek(),
        // One batch of 64 (no other before 32 are taken) and no link synced before a close: the kill takes it.
        {.keys_ahead = 64,
         .link_sync_within = std::chrono::hours(1),
         .log_position = [&] { return (*store)->head_position(); }});
    if (!keys.ok() || !(*keys)->make_keys_ahead().ok()) _exit(4);
    engine::privacy::AeadApplicantSealer sealer(**keys);
    engine::Engine engine(**store, SystemClock::instance(), nullptr, sealer);
    auto reg = engine.register_appeal(engine::testing::SealedCity::registration({"Late Caller", "8 701 999 00 11", "Abay 2"}),
                                      {"late-1", {"operator:test", "operator", ""}, ""});
    _exit(reg.ok() ? 0 : 5);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  std::ofstream(dir + "/node.kek") << std::string(64, '7') << "\n";
  CliResult found = run_cli({"applicant", "find", "--data", data, "--kek", "file:" + dir + "/node.kek", "--phone",
                             "8 701 999 00 11"});
  ASSERT_EQ(found.exit_code, 0) << found.err << found.out;
  EXPECT_NE(found.out.find("SHY-"), std::string::npos) << "the person's appeal: " << found.out;
  std::filesystem::remove_all(dir);
}

TEST(PrivacyCli, RotateFindEraseAndAccessOnAStoppedServersData) {
  const std::string dir = make_temp_dir();
  std::string id;
  {
    TestNode node(dir + "/data");
    node.keep_dir();
    id = node.register_appeal();
    EXPECT_EQ(node.as(R::kOperator, "GET", "/v1/appeals/" + id + "/applicant", "", kPurpose).status, 200);
    wait_for_reads(node, id, 1);
  }
  const std::string data = dir + "/data";
  // The test node's key (test_node.h), as a file outside the data directory.
  std::ofstream(dir + "/old.kek") << std::string(64, '7') << "\n";
  ASSERT_EQ(run_cli({"keys", "generate", "--out", dir + "/new.kek", "--data", data}).exit_code, 0);
  EXPECT_EQ(run_cli({"keys", "generate", "--out", dir + "/new.kek", "--data", data}).exit_code, 1);
  EXPECT_EQ(run_cli({"keys", "generate", "--out", data + "/kek", "--data", data}).exit_code, 1);

  CliResult status = run_cli({"keys", "status", "--data", data, "--kek", "file:" + dir + "/old.kek"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("1 applicants, 0 erased"), std::string::npos) << status.out;

  CliResult rotated = run_cli({"keys", "rotate", "--data", data, "--kek", "file:" + dir + "/old.kek", "--new-kek",
                               "file:" + dir + "/new.kek"});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  EXPECT_EQ(run_cli({"keys", "status", "--data", data, "--kek", "file:" + dir + "/old.kek"}).exit_code, 3);
  EXPECT_EQ(run_cli({"keys", "rotate", "--data", data, "--kek", "file:" + dir + "/old.kek", "--new-kek",
                     "file:" + dir + "/new.kek"}).exit_code, 3);

  CliResult found = run_cli({"applicant", "find", "--data", data, "--kek", "file:" + dir + "/new.kek", "--phone",
                             "8 700 123 45 67"});
  ASSERT_EQ(found.exit_code, 0) << found.err;
  EXPECT_NE(found.out.find(id), std::string::npos) << found.out;

  CliResult access = run_cli({"access", "--data", data, "--appeal", id});
  ASSERT_EQ(access.exit_code, 0) << access.err;
  EXPECT_NE(access.out.find("1 read(s)"), std::string::npos) << access.out;
  EXPECT_NE(access.out.find("purpose: callback with the result"), std::string::npos) << access.out;

  EXPECT_EQ(run_cli({"applicant", "erase", "--data", data, "--kek", "file:" + dir + "/new.kek", "--appeal", id}).exit_code,
            2) << "--reason is required";
  CliResult erased = run_cli({"applicant", "erase", "--data", data, "--kek", "file:" + dir + "/new.kek", "--appeal", id,
                              "--reason", "request of the applicant"});
  ASSERT_EQ(erased.exit_code, 0) << erased.err;
  EXPECT_NE(erased.out.find("ApplicantErased in 1 appeal(s): " + id), std::string::npos) << erased.out;
  CliResult none = run_cli({"applicant", "find", "--data", data, "--kek", "file:" + dir + "/new.kek", "--phone",
                            "+7 700 123 4567"});
  EXPECT_EQ(none.exit_code, 1);
  for (const char* pd : {"Aigerim", "123 4567"}) EXPECT_EQ(files_containing(data, pd), std::vector<std::string>());
  CliResult verify = run_cli({"verify", "--data", data});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  // The erased appeal's history is whole: replay shows its lifecycle and the erasure, without the person; a
  // what-if over the history and an export still run.
  CliResult replay = run_cli({"replay", "--data", data, "--appeal", id});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_NE(replay.out.find("AppealRegistered"), std::string::npos) << replay.out;
  EXPECT_NE(replay.out.find("ApplicantErased"), std::string::npos) << replay.out;
  EXPECT_NE(replay.out.find("state: "), std::string::npos) << replay.out;
  EXPECT_EQ(replay.out.find("Aigerim"), std::string::npos) << replay.out;
  std::vector<std::string> publish{"rules", "publish", "--data", data};
  for (const char* f : {"calendars/kz.yaml", "calendars/shymkent.yaml", "calendars/round-the-clock.yaml"}) {
    publish.push_back(source_dir() + "/examples/" + f);
  }
  ASSERT_EQ(run_cli(publish).exit_code, 0);
  CliResult sim = run_cli({"rules", "simulate", source_dir() + "/examples/rules/city.yaml", "--data", data, "--quiet"});
  EXPECT_EQ(sim.exit_code, 0) << sim.err;
  EXPECT_NE(sim.out.find("retention as of"), std::string::npos) << sim.out;
  CliResult exported = run_cli({"export", "--data", data, "--out", dir + "/log.jsonl"});
  EXPECT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_EQ(files_containing(dir, "Aigerim").size(), 0u) << "no plaintext in the export either";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace otinish::api::testing

// ---- nothing personal in what public and agency tokens read ----------------------------------------------------


namespace otinish::api::testing {
namespace {

// Generated appeals (the seeds' workload generator) whose texts hold the applicant's phone, name and address in
// varied forms, registered and assigned to the agency token's agency: nothing a public or agency token reads
// about them carries the name, the phone (in any spelling) or the flat.
TEST(PublicAndAgencyAnswers, CarryNoPersonalDataOverGeneratedAppeals) {
  auto city = city::CityCatalogue::load(source_dir() + "/examples/catalogue");
  ASSERT_TRUE(city.ok()) << city.status().ToString();
  TestNode node;
  std::string last_id;  // the list is read from the appeal before this one on
  const auto ok = rc::check("public and agency answers hold no personal data", [&] {
    city::WorkloadOptions wo;
    wo.days = 1;
    wo.min_per_day = 2;
    wo.max_per_day = 2;
    wo.seed = *rc::gen::inRange<std::uint64_t>(1, 1'000'000);
    const city::Workload w = city::generate_workload(*city, wo);
    std::string prev = last_id;
    for (const city::PlannedAppeal& planned : w.appeals) {
      const engine::Applicant& a = planned.registration.applicant;
      const std::string digits = engine::normalise_phone(a.phone);  // 7XXXXXXXXXX
      const std::vector<std::string> spellings = {
          a.phone, "8" + digits.substr(1),
          "8 (" + digits.substr(1, 3) + ") " + digits.substr(4, 3) + "-" + digits.substr(7, 2) + "-" + digits.substr(9)};
      const std::string spelled = *rc::gen::elementOf(spellings);
      const std::string text = planned.registration.text + ". " +
                               *rc::gen::element<std::string>(std::string("Звоните: "), std::string("Мой номер "), std::string("call me on "), std::string()) + spelled +
                               ", " + a.name + ", " + a.address;
      boost::json::object body{{"centre", "SHY"},
                               {"category", std::string(engine::to_string(planned.registration.category))},
                               {"topic", planned.registration.topic},
                               {"channel", "phone"},
                               {"location", {{"district", planned.registration.location.district},
                                             {"street", planned.registration.location.street}}},
                               {"text", text},
                               {"applicant", {{"name", a.name}, {"phone", a.phone}, {"address", a.address}}}};
      ClientResponse reg = node.as(R::kOperator, "POST", "/v1/appeals", boost::json::serialize(body));
      RC_ASSERT(reg.status == 201);
      const std::string id(TestNode::json(reg).at("id").as_string());
      RC_ASSERT(node.command(R::kOperator, id, "send_for_review").status == 200);
      // A desk writes the person into a comment too: the agency reads comments in the timeline.
      boost::json::object comment{{"text", "перезвонить " + a.name + " по " + spelled + ", " + a.address}};
      RC_ASSERT(node.command(R::kOperator, id, "comment", boost::json::serialize(comment)).status == 200);
      RC_ASSERT(node.command(R::kInspector, id, "assign", std::string("{\"agency\":\"") + kAgency + "\"}").status == 200);
      const std::string flat = a.address.substr(a.address.rfind("пәтер"));
      const auto position = static_cast<std::uint64_t>(TestNode::json(reg).at("position").to_number<std::int64_t>());
      // Each read waits until the views show this appeal, so that the check is never vacuous.
      const std::vector<std::tuple<Role, std::string, std::string>> reads = {
          {R::kAgency, "/v1/appeals/" + id, "\"agency\":\"" + std::string(kAgency)},
          {R::kAgency, "/v1/appeals/" + id + "/timeline", " to " + std::string(kAgency)},
          {R::kAgency, "/v1/appeals?agency=" + std::string(kAgency) + "&after=" + prev + "&limit=5", id},
          {R::kPublic, "/v1/public/feed?after=" + std::to_string(position - 1) + "&limit=50", id},
          {R::kAgency, "/v1/public/feed?after=" + std::to_string(position - 1) + "&limit=50", id}};
      for (const auto& [role, path, expect] : reads) {
        std::string got;
        for (int i = 0; i < 400; ++i) {
          got = node.as(role, "GET", path).body;
          if (got.find(expect) != std::string::npos) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        if (got.find(expect) == std::string::npos) RC_FAIL(path + " never showed " + expect + ": " + got);
        std::string only_digits;
        for (char ch : got) only_digits += (ch >= '0' && ch <= '9') ? ch : ' ';
        RC_ASSERT(got.find(a.name) == std::string::npos);
        RC_ASSERT(got.find(a.phone) == std::string::npos);
        RC_ASSERT(got.find(spelled) == std::string::npos);
        RC_ASSERT(only_digits.find(digits.substr(1)) == std::string::npos);
        RC_ASSERT(got.find(flat) == std::string::npos);
        RC_ASSERT(got.find(a.address) == std::string::npos);
      }
      prev = id;
      last_id = id;
    }
  });
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace otinish::api::testing
