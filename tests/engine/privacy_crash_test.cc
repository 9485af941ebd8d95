// Crash safety of sealed registrations, erasure and key rotation: a child process registers new applicants,
// erases applicants one request at a time, or rotates the key-encryption key, and reports each finished
// operation through a pipe; the parent kills it with
// SIGKILL at a random moment (or right after a random number of its reports), reopens the log and the key store
// as a restarting server does (finishing interrupted erasures), and checks that every applicant is either
// wholly erased (key gone, ApplicantErased in each of its appeals, once) or wholly intact (key opens its
// appeals, no ApplicantErased), that every reported erasure is whole, that every registered appeal in the log
// (acknowledged or not) opens with its applicant's key, that the key store opens with exactly one
// of the two keys after a rotation, and that the log verifies. Each test runs 10 rounds; OTINISH_CRASH_ROUNDS=N
// runs more (outside CI). The child is this same binary re-executed with --crash-child (a fork alone would
// inherit RocksDB's threads).
#include <gtest/gtest.h>

#include "tests/crash_support.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <future>
#include <mutex>
#include <map>
#include <optional>
#include <random>
#include <iostream>
#include <set>
#include <thread>

#include "engine/engine.h"
#include "engine/privacy/erasure.h"
#include "engine/privacy/privacy_events.h"
#include "engine/privacy/sealer.h"
#include "store/rocks_store.h"
#include "tests/engine/privacy_test_city.h"

namespace otinish::engine::privacy {
namespace {

namespace fs = std::filesystem;

constexpr int kApplicants = 60;  // two appeals each
constexpr int kRotationApplicants = 3000;

KeyEncryptionKey kek_a() { return *kek_from_hex(std::string(64, 'a'), "key a"); }
KeyEncryptionKey kek_b() { return *kek_from_hex(std::string(64, 'b'), "key b"); }

// A data directory with `n` applicants of two appeals each, sealed under key a. Returns the applicant ids.
std::vector<std::string> make_city(const std::string& dir, int n) {
  ManualClock clock(testing::t0());
  auto store = store::open_rocks_store(dir + "/log", {.sync_writes = false}, clock);
  EXPECT_TRUE(store.ok());
  auto keys = KeyStore::open(dir + "/keys", kek_a(), {.sync = false});
  EXPECT_TRUE(keys.ok());
  AeadApplicantSealer sealer(**keys);
  InMemoryTopicCatalogue topics(testing::test_topics());
  Engine engine(**store, clock, &topics, sealer);
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < 2; ++k) {
      RegisterAppeal r{.centre = "SHY", .category = Category::kComplaint, .topic = "lifts.broken",
                       .location = {"Abay", "Tauke khan"}, .text = "stuck",
                       .applicant = {"Person " + std::to_string(i), "+7 701 " + std::to_string(1000000 + i), "Abay 1"}};
      auto res = engine.register_appeal(r, {"reg-" + std::to_string(i) + "-" + std::to_string(k), {}, ""});
      EXPECT_TRUE(res.ok()) << res.status().ToString();
      if (k == 0) ids.push_back(engine.load(res->appeal_id)->applicant.key_id);
    }
  }
  EXPECT_TRUE((*keys)->purge().ok());
  return ids;
}

int rounds() { return otinish::testing::crash_rounds(10); }

// Each record the child writes is one fixed-size line: an applicant id it erased, or "rotated".
struct Done {
  char what[32];
};
static_assert(sizeof(Done) <= PIPE_BUF);

void report(int fd, const std::string& what) {
  Done d{};
  std::strncpy(d.what, what.c_str(), sizeof d.what - 1);
  if (write(fd, &d, sizeof d) != sizeof d) _exit(5);
}

// New applicants from four threads until killed, syncs on as a server runs: two threads wait for each
// registration (the key store's sync()), two hand it on (register_appeal_async, the key store's sync thread).
// Each acknowledged appeal is reported. Each person registers twice in a row (the second time a returning
// applicant). A new applicant takes a key made ahead and its identity's link waits in the key store's buffer
// (or, the reserve run dry, its key waits there until that sync), so a kill must lose nothing the log names,
// and the links it takes are restored from the log at the next start.
[[noreturn]] void register_until_killed(const std::string& dir, int fd) {
  auto store = store::open_rocks_store(dir + "/log");
  auto keys = store.ok() ? KeyStore::open(dir + "/keys", kek_a(),
                                          // Links synced with the batches only: a kill loses every link since.
                                          {.link_sync_within = std::chrono::hours(1),
                                           .log_position = [log = store->get()] { return log->head_position(); }})
                         : Result<std::unique_ptr<KeyStore>>(store.status());
  if (!keys.ok() || !(*keys)->make_keys_ahead().ok()) _exit(3);
  AeadApplicantSealer sealer(**keys);
  InMemoryTopicCatalogue topics(testing::test_topics());
  Engine engine(**store, SystemClock::instance(), &topics, sealer);
  std::mutex report_mu;
  auto acknowledged = [&](const Result<CommandResult>& r) {
    if (!r.ok()) _exit(4);
    std::lock_guard lock(report_mu);
    report(fd, r->appeal_id);
  };
  report(fd, "ready");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        const std::string n = std::to_string(t) + "-" + std::to_string(i);
        RegisterAppeal r{.centre = "SHY", .category = Category::kComplaint, .topic = "lifts.broken",
                         .location = {"Abay", "Tauke khan"}, .text = "stuck",
                         .applicant = {"Person " + n, "+7 702 " + std::to_string(t * 1000000 + i / 2), "Abay 1"}};
        const CommandMeta meta{"reg-" + n, {}, ""};
        if (t < 2) {
          acknowledged(engine.register_appeal(r, meta));
        } else {
          std::promise<void> answered;
          engine.register_appeal_async(r, meta, [&](Result<CommandResult> res) {
            acknowledged(res);
            answered.set_value();
          });
          answered.get_future().wait();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  _exit(0);
}

[[noreturn]] void child(const std::string& dir, int fd, const std::string& mode) {
  if (mode == "register") register_until_killed(dir, fd);
  if (mode == "rotate") {
    report(fd, "ready");
    Status st = KeyStore::rotate(dir + "/keys", kek_a(), kek_b());
    if (!st.ok()) _exit(4);
    report(fd, "rotated");
    pause();
    _exit(0);
  }
  auto store = store::open_rocks_store(dir + "/log");
  auto keys = store.ok() ? KeyStore::open(dir + "/keys", kek_a(), {.create_if_missing = false})
                         : Result<std::unique_ptr<KeyStore>>(store.status());
  if (!keys.ok()) _exit(3);
  std::vector<std::string> ids;
  auto scanned = (*store)->scan(1, UINT64_MAX, [&](const store::RecordedEvent& e) {
    if (e.type == "AppealRegistered" && e.stream_version == 1) {
      auto ev = decode_event(e.type, e.schema_version, e.payload);
      if (ev.ok()) {
        const std::string& id = std::get<AppealRegistered>(ev->body).applicant.key_id;
        if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
      }
    }
    return true;
  });
  if (!scanned.ok()) _exit(3);
  report(fd, "ready");
  for (const std::string& id : ids) {
    auto r = erase_applicants(**keys, **store, {{id}, "request of the applicant", "", {"crash", "privacy_officer", ""}});
    if (!r.ok()) _exit(4);
    if (!r->front().already_erased) report(fd, id);
  }
  pause();
  _exit(0);
}

struct Round {
  std::set<std::string> reported;
  bool ready = false;
};

// Starts the child on `dir` and kills it, returns what it reported. The kill comes after a random delay of up to
// `max_ms` from when the child is ready or, when `after_reports` is set, right after its n-th report: a timed
// kill may land anywhere (inside an erasure too), but on a fast disk every erasure may finish within the delay,
// and a test that never kills a half-done run proves nothing; a counted kill always leaves some work undone.
Round kill_child(const std::string& dir, const std::string& mode, int max_ms, std::mt19937& rng,
                 std::optional<std::size_t> after_reports = std::nullopt) {
  Round round;
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  const std::string exe = otinish::testing::self_exe();
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    execl(exe.c_str(), exe.c_str(), "--crash-child", dir.c_str(), std::to_string(fds[1]).c_str(), mode.c_str(),
          nullptr);
    _exit(6);
  }
  close(fds[1]);
  Done first{};
  round.ready = read(fds[0], &first, sizeof first) == sizeof first && std::string(first.what) == "ready";
  otinish::testing::ReportCount reports;
  std::thread reader([&] {
    Done d{};
    while (read(fds[0], &d, sizeof d) == sizeof d) {
      round.reported.insert(d.what);  // read by this thread only until it is joined
      reports.add();
    }
  });
  if (after_reports) {
    reports.wait_for(*after_reports, std::chrono::seconds(60));
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, max_ms)(rng)));
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  reader.join();
  close(fds[0]);
  EXPECT_TRUE(WIFSIGNALED(status)) << "the child ended on its own (status " << status << ")";
  return round;
}

TEST(PrivacyCrashTest, AKilledErasureIsWholeOrAbsentAfterTheRestart) {
  const std::string base = testing::make_temp_dir();
  const std::vector<std::string> applicants = make_city(base + "/city", kApplicants);
  const std::map<std::string, std::string> wrapped = testing::wrapped_keys(base + "/city/keys", applicants);
  std::mt19937 rng(std::random_device{}());
  std::size_t erased_total = 0, intact_total = 0;
  for (int r = 0; r < rounds(); ++r) {
    const std::string dir = base + "/round";
    fs::remove_all(dir);
    fs::copy(base + "/city", dir, fs::copy_options::recursive);
    // Odd rounds kill after a random number of finished erasures (at most half of them), even rounds at a
    // random moment.
    std::optional<std::size_t> after;
    if (r % 2 == 1) after = std::uniform_int_distribution<std::size_t>(1, kApplicants / 2)(rng);
    Round round = kill_child(dir, "erase", 1500, rng, after);
    ASSERT_TRUE(round.ready) << "round " << r;

    // The restart: open both, finish what a crash interrupted.
    auto store = store::open_rocks_store(dir + "/log");
    ASSERT_TRUE(store.ok()) << "round " << r << ": " << store.status().ToString();
    auto keys = KeyStore::open(dir + "/keys", kek_a(), {.create_if_missing = false});
    ASSERT_TRUE(keys.ok()) << "round " << r << ": the key store must always open: " << keys.status().ToString();
    ASSERT_TRUE(finish_interrupted_erasures(**keys, **store).ok());
    AeadApplicantSealer sealer(**keys);
    Engine engine(**store, SystemClock::instance(), nullptr, sealer);

    std::map<std::string, int> erasure_events;  // per appeal
    std::map<std::string, std::string> owner;   // appeal -> applicant
    ASSERT_TRUE((*store)->scan(1, UINT64_MAX, [&](const store::RecordedEvent& e) {
      const std::string appeal = e.stream.substr(std::string("appeal-").size());
      if (e.type == kApplicantErasedType) ++erasure_events[appeal];
      if (e.type == "AppealRegistered") {
        owner[appeal] = std::get<AppealRegistered>(decode_event(e.type, e.schema_version, e.payload)->body).applicant.key_id;
      }
      return true;
    }).ok());
    for (const std::string& id : applicants) {
      const ApplicantKeyState s = (*keys)->state(id);
      ASSERT_TRUE(s == ApplicantKeyState::kErased || s == ApplicantKeyState::kActive)
          << "round " << r << ": " << id << " is " << to_string(s) << " after the restart";
      if (round.reported.contains(id)) {
        ASSERT_EQ(s, ApplicantKeyState::kErased) << "round " << r << ": a reported erasure of " << id << " was lost";
      }
      for (const auto& [appeal, who] : owner) {
        if (who != id) continue;
        auto opened = engine.applicant(*engine.load(appeal));
        if (s == ApplicantKeyState::kErased) {
          ASSERT_EQ(erasure_events[appeal], 1) << "round " << r << ": " << appeal;
          ASSERT_EQ(opened.status().code(), StatusCode::kNotFound);
        } else {
          ASSERT_EQ(erasure_events[appeal], 0) << "round " << r << ": " << appeal << " records an erasure of a live key";
          ASSERT_TRUE(opened.ok()) << "round " << r << ": " << opened.status().ToString();
        }
      }
      // Physically: an erased applicant's wrapped key is in no file of the key store any more.
      const bool on_disk = !testing::files_containing(dir + "/keys", wrapped.at(id)).empty();
      ASSERT_EQ(on_disk, s == ApplicantKeyState::kActive) << "round " << r << ": " << id << " is " << to_string(s);
      (s == ApplicantKeyState::kErased ? erased_total : intact_total) += 1;
    }
    auto verified = store::verify_log(**store, {.indexes = true});
    ASSERT_TRUE(verified.ok() && verified->ok) << "round " << r;
  }
  fs::remove_all(base);
  EXPECT_GT(erased_total, 0u) << "no erasure happened in any round: the test proved nothing";
  EXPECT_GT(intact_total, 0u) << "every erasure finished before the kill in every round: kill sooner";
}

TEST(PrivacyCrashTest, EveryRegisteredAppealOpensAfterAKill) {
  const std::string base = testing::make_temp_dir();
  std::mt19937 rng(std::random_device{}());
  std::size_t appended_total = 0, restored_total = 0;
  std::map<std::string, std::string> identity_of_key;  // each key is one person's, across the rounds' logs
  for (int r = 0; r < rounds(); ++r) {
    const std::string dir = base + "/round";
    fs::remove_all(dir);
    // Odd rounds kill right after a random number of acknowledgements, even rounds at a random moment.
    const auto after = r % 2 ? std::optional<std::size_t>(std::uniform_int_distribution<std::size_t>(1, 300)(rng))
                             : std::nullopt;
    Round round = kill_child(dir, "register", 400, rng, after);
    ASSERT_TRUE(round.ready);
    auto store = store::open_rocks_store(dir + "/log");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto keys = KeyStore::open(dir + "/keys", kek_a(), {.create_if_missing = false});
    ASSERT_TRUE(keys.ok()) << "round " << r << ": " << keys.status().ToString();
    auto restored = restore_identity_links(**keys, **store);
    ASSERT_TRUE(restored.ok()) << restored.status().ToString();
    restored_total += *restored;
    EXPECT_TRUE((*keys)->unlinked().empty());
    AeadApplicantSealer sealer(**keys);
    Engine engine(**store, SystemClock::instance(), nullptr, sealer);
    std::set<std::string> in_log;
    ASSERT_TRUE((*store)->scan(1, UINT64_MAX, [&](const store::RecordedEvent& e) {
      if (e.type == "AppealRegistered") in_log.insert(e.stream.substr(std::string_view("appeal-").size()));
      return true;
    }).ok());
    for (const std::string& id : round.reported) {
      ASSERT_TRUE(in_log.contains(id)) << "round " << r << ": acknowledged appeal " << id << " is not in the log";
    }
    for (const std::string& id : in_log) {
      auto state = engine.load(id);
      ASSERT_TRUE(state.ok()) << id << ": " << state.status().ToString();
      auto opened = engine.applicant(*state);
      ASSERT_TRUE(opened.ok()) << "round " << r << ": appeal " << id << " names a key the kill took: "
                               << opened.status().ToString();
      EXPECT_TRUE(opened->name.starts_with("Person ")) << id;
      // Whether its link survived the kill or was restored, the person's identity finds the key the log names
      // (a returning person's two appeals share it).
      auto owner = (*keys)->find(sealing_identity(*opened, id));
      ASSERT_TRUE(owner.ok());
      EXPECT_EQ(*owner, std::optional<std::string>(state->applicant.key_id))
          << "round " << r << ": appeal " << id << "'s person does not find the key it is sealed with";
      const std::string person = sealing_identity(*opened, id);
      auto [it, first] = identity_of_key.emplace(std::to_string(r) + "/" + state->applicant.key_id, person);
      EXPECT_EQ(it->second, person) << "round " << r << ": two people were given the key " << state->applicant.key_id;
    }
    appended_total += in_log.size();
  }
  fs::remove_all(base);
  EXPECT_GT(appended_total, 0u) << "no round registered anything before the kill";
  std::cout << "registrations in the log: " << appended_total << ", identity links restored after the kills: "
            << restored_total << "\n";
  EXPECT_GT(restored_total, 0u) << "no kill took a link: the restoring was never tried";
}

TEST(PrivacyCrashTest, AKilledRotationLeavesExactlyOneKeyWorking) {
  const std::string base = testing::make_temp_dir();
  const std::vector<std::string> applicants = make_city(base + "/city", kRotationApplicants);
  const std::map<std::string, std::string> old_wrapped = testing::wrapped_keys(base + "/city/keys", {applicants[0]});
  std::mt19937 rng(std::random_device{}());
  int old_works = 0, new_works = 0;
  for (int r = 0; r < rounds(); ++r) {
    const std::string dir = base + "/round";
    fs::remove_all(dir);
    fs::copy(base + "/city", dir, fs::copy_options::recursive);
    Round round = kill_child(dir, "rotate", 60, rng);
    ASSERT_TRUE(round.ready);
    auto with_a = KeyStore::open(dir + "/keys", kek_a(), {.create_if_missing = false});
    std::unique_ptr<KeyStore> keys;
    if (with_a.ok()) {
      ASSERT_FALSE(round.reported.contains("rotated")) << "round " << r << ": a finished rotation was lost";
      keys = std::move(with_a).value();
      ++old_works;
    } else {
      ASSERT_EQ(with_a.status().code(), StatusCode::kFailedPrecondition) << with_a.status().ToString();
      auto with_b = KeyStore::open(dir + "/keys", kek_b(), {.create_if_missing = false});
      ASSERT_TRUE(with_b.ok()) << "round " << r << ": neither key opens the key store: " << with_b.status().ToString();
      keys = std::move(with_b).value();
      ++new_works;
      // The copies wrapped by the old key are gone once the new one opens the store (open finishes the purge).
      ASSERT_EQ(testing::files_containing(dir + "/keys", old_wrapped.at(applicants[0])), std::vector<std::string>())
          << "round " << r;
    }
    for (std::size_t i = 0; i < applicants.size(); i += 97) {
      ASSERT_TRUE(keys->data_key(applicants[i]).ok()) << "round " << r << ": " << applicants[i];
    }
    auto store = store::open_rocks_store(dir + "/log");
    ASSERT_TRUE(store.ok());
    AeadApplicantSealer sealer(*keys);
    Engine engine(**store, SystemClock::instance(), nullptr, sealer);
    auto opened = engine.applicant(*engine.load("SHY-2026-0000001"));
    ASSERT_TRUE(opened.ok()) << "round " << r << ": " << opened.status().ToString();
    EXPECT_EQ(opened->name, "Person 0");
  }
  fs::remove_all(base);
  std::cout << "rotation rounds: old key still in force " << old_works << ", new key in force " << new_works << "\n";
  EXPECT_EQ(old_works + new_works, rounds());
}

}  // namespace
}  // namespace otinish::engine::privacy

int main(int argc, char** argv) {
  if (argc == 5 && std::strcmp(argv[1], "--crash-child") == 0) {
    otinish::engine::privacy::child(argv[2], std::atoi(argv[3]), argv[4]);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
