// Our checkpoints and proofs checked by an independent implementation of the same standards: Go's
// golang.org/x/mod/sumdb/note (signed notes, Ed25519 verifier keys) and .../tlog (RFC 6962 inclusion and
// consistency proofs), run with `go run` on tests/interop/tlog_check.go. Needs golang-go and
// golang-golang-x-mod-dev (scripts/apt-packages-test.txt: scripts/test.sh installs them).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "engine/proof/checkpoint.h"
#include "store/rocks_store.h"
#include "tests/store/store_test_util.h"

namespace otinish::engine::proof {
namespace {

std::string source_dir() {
  const char* s = std::getenv("OTINISH_SOURCE_DIR");
  return s ? s : ".";
}

// Runs the Go checker; returns its exit status and output.
std::pair<int, std::string> go_check(const std::string& dir, const std::string& vkey, const std::string& checkpoint,
                                     const std::string& cases) {
  const std::string cmd = "cd " + dir + " && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=" + dir +
                          "/gocache GOFLAGS= go run " + source_dir() + "/tests/interop/tlog_check.go '" + vkey +
                          "' " + checkpoint + " " + cases + " 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string joined(const std::vector<store::merkle::Hash>& proof) {
  if (proof.empty()) return "-";
  std::string s;
  for (const auto& h : proof) s += (s.empty() ? "" : ",") + base64(h);
  return s;
}

TEST(ProofInterop, GoVerifiesOurCheckpointAndProofs) {
  ASSERT_EQ(std::system("command -v go >/dev/null 2>&1"), 0)
      << "the Go toolchain is missing: apt-get install golang-go golang-golang-x-mod-dev (scripts/test.sh does)";
  ASSERT_TRUE(std::filesystem::exists("/usr/share/gocode/src/golang.org/x/mod/sumdb/tlog"))
      << "golang.org/x/mod is missing: apt-get install golang-golang-x-mod-dev";
  store::testing::TempDir dir;
  auto store = std::move(store::open_rocks_store(dir.path() + "/log", {.sync_writes = false})).value();
  for (int i = 0; i < 300; ++i) {
    store::EventData e = store::testing::make_event("E", "event " + std::to_string(i));
    ASSERT_TRUE(store->append("appeal-" + std::to_string(i % 11), store::ExpectedVersion::any(), {&e, 1}).ok());
  }
  auto [skey, vkey] = NoteSigner::generate("shymkent.109.kz/log");
  auto signer = *NoteSigner::parse(skey);
  const std::uint64_t size = 300;
  std::ofstream(dir.path() + "/checkpoint") << *sign_checkpoint(*store, "shymkent.109.kz/log", signer, size);

  std::ofstream cases(dir.path() + "/cases");
  auto events = *store->read_all(1, 300);
  int n = 0;
  for (std::uint64_t t : std::vector<std::uint64_t>{1, 2, 7, 16, 17, 255, 256, 257, 300}) {
    for (std::uint64_t position : std::vector<std::uint64_t>{1, 2, t / 2 + 1, t}) {
      if (position > t) continue;
      cases << "inclusion " << position << " " << t << " " << to_hex(events[position - 1].hash) << " "
            << base64(*store->tree_root(t)) << " " << joined(*store->inclusion_proof(position, t)) << "\n";
      ++n;
    }
    for (std::uint64_t from : std::vector<std::uint64_t>{1, 3, 16, t}) {
      if (from > t) continue;
      cases << "consistency " << from << " " << t << " " << base64(*store->tree_root(from)) << " "
            << base64(*store->tree_root(t)) << " " << joined(*store->consistency_proof(from, t)) << "\n";
    }
  }
  cases.close();
  auto [status, out] = go_check(dir.path(), vkey, "checkpoint", "cases");
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("ok: checkpoint shymkent.109.kz/log at size 300"), std::string::npos) << out;
  EXPECT_NE(out.find(std::to_string(n) + " inclusion"), std::string::npos) << out;

  // The same checker fails a proof with one hash changed, and a checkpoint with its size changed.
  {
    std::ofstream bad(dir.path() + "/bad-cases");
    auto proof = *store->inclusion_proof(100, 300);
    proof[2][0] ^= 1;
    bad << "inclusion 100 300 " << to_hex(events[99].hash) << " " << base64(*store->tree_root(300)) << " "
        << joined(proof) << "\n";
  }
  auto [bad_status, bad_out] = go_check(dir.path(), vkey, "checkpoint", "bad-cases");
  EXPECT_EQ(bad_status, 1) << bad_out;
  std::string note = *sign_checkpoint(*store, "shymkent.109.kz/log", signer, size);
  note.replace(note.find("\n300\n"), 5, "\n299\n");
  std::ofstream(dir.path() + "/altered") << note;
  auto [altered_status, altered_out] = go_check(dir.path(), vkey, "altered", "cases");
  EXPECT_EQ(altered_status, 1) << altered_out;
  EXPECT_NE(altered_out.find("checkpoint"), std::string::npos) << altered_out;
}

}  // namespace
}  // namespace otinish::engine::proof
