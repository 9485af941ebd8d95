// Signed notes against the Go implementation's published example (golang.org/x/mod/sumdb/note), checkpoints
// of a real log, cosignatures, and what `verify --since` rests on: a log rewritten before a checkpoint and
// re-chained verifies on its own, but no longer extends the checkpoint.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/proof/checkpoint.h"
#include "engine/proof/note.h"
#include "store/rocks_store.h"
#include "tests/store/rewrite.h"
#include "tests/store/store_test_util.h"

namespace otinish::engine::proof {
namespace {

// The example in the documentation of Go's sumdb/note: the same key must give the same signature (Ed25519 is
// deterministic), and our verifier must accept the Go-made note.
constexpr const char* kGoSkey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr const char* kGoVkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr const char* kGoText =
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
constexpr const char* kGoNote =
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n"
    "\xE2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

TEST(Note, SignsExactlyAsTheGoImplementation) {
  auto signer = NoteSigner::parse(kGoSkey);
  ASSERT_TRUE(signer.ok()) << signer.status().ToString();
  EXPECT_EQ(signer->verifier_key(), kGoVkey);
  SignedNote note{kGoText, {signer->sign(kGoText)}};
  EXPECT_EQ(note.format(), kGoNote);
}

TEST(Note, OpensTheGoNoteAndRefusesAnyAlteredByte) {
  auto verifier = NoteVerifier::parse(kGoVkey);
  ASSERT_TRUE(verifier.ok());
  const std::vector<NoteVerifier> vs = {*verifier};
  auto note = parse_signed_note(kGoNote);
  ASSERT_TRUE(note.ok());
  auto signed_by = verify_note(*note, vs);
  ASSERT_TRUE(signed_by.ok());
  EXPECT_EQ(*signed_by, std::vector<std::string>{"PeterNeumann"});
  const std::string good = kGoNote;
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x01;
    auto n = parse_signed_note(bad);
    if (!n.ok()) continue;
    auto v = verify_note(*n, vs);
    EXPECT_TRUE(!v.ok() || v->empty()) << "byte " << i;
  }
}

TEST(Note, KeysAreCheckedAndGeneratedKeysWork) {
  EXPECT_FALSE(NoteVerifier::parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").ok());
  EXPECT_FALSE(NoteSigner::parse("PRIVATE+KEY+Peter+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz").ok());
  EXPECT_FALSE(NoteVerifier::parse("a b+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").ok());
  auto [skey, vkey] = NoteSigner::generate("shymkent.109.kz/log");
  auto signer = NoteSigner::parse(skey);
  ASSERT_TRUE(signer.ok());
  EXPECT_EQ(signer->verifier_key(), vkey);
  EXPECT_EQ(NoteSigner::parse(skey).status().message().find(skey), std::string::npos);
}

struct Log {
  store::testing::TempDir dir;
  std::unique_ptr<store::EventStore> store;
  explicit Log(std::string_view name = "log") {
    store = std::move(store::open_rocks_store(dir.path() + "/" + std::string(name), {.sync_writes = false})).value();
  }
  void append(int n, int from = 0, int altered = -1) {
    for (int i = from; i < from + n; ++i) {
      store::EventData e = store::testing::make_event("E", i == altered ? "rewritten" : "event " + std::to_string(i));
      ASSERT_TRUE(store->append("appeal-" + std::to_string(i % 7), store::ExpectedVersion::any(), {&e, 1}).ok());
    }
  }
};

TEST(Checkpoint, SignedOpenedAndCosigned) {
  Log log;
  log.append(40);
  auto [skey, vkey] = NoteSigner::generate("shymkent.109.kz/log");
  auto [wskey, wvkey] = NoteSigner::generate("maslikhat.shymkent.kz/witness");
  auto signer = *NoteSigner::parse(skey);
  auto witness = *NoteSigner::parse(wskey);
  auto bytes = sign_checkpoint(*log.store, "shymkent.109.kz/log", signer);
  ASSERT_TRUE(bytes.ok());
  EXPECT_TRUE(bytes->starts_with("shymkent.109.kz/log\n40\n"));
  const std::vector<NoteVerifier> both = {*NoteVerifier::parse(vkey), *NoteVerifier::parse(wvkey)};
  auto opened = open_checkpoint(*bytes, both);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->checkpoint.size, 40u);
  EXPECT_EQ(opened->checkpoint.root, *log.store->tree_root(40));
  EXPECT_FALSE(open_checkpoint(*bytes, both, 2).ok());  // the witness has not signed yet
  // The log's key given twice is still one signer; and no signature at all may never be enough.
  const std::vector<NoteVerifier> twice_the_log = {*NoteVerifier::parse(vkey), *NoteVerifier::parse(vkey)};
  EXPECT_FALSE(open_checkpoint(*bytes, twice_the_log, 2).ok());
  EXPECT_FALSE(open_checkpoint(*bytes, both, 0).ok());
  auto cosigned = cosign(*bytes, witness);
  ASSERT_TRUE(cosigned.ok());
  auto twice = open_checkpoint(*cosigned, both, 2);
  ASSERT_TRUE(twice.ok()) << twice.status().ToString();
  EXPECT_EQ(twice->signed_by.size(), 2u);
  // Cosigning again replaces the witness's signature instead of adding a second.
  EXPECT_EQ(parse_signed_note(*cosign(*cosigned, witness))->signatures.size(), 2u);
  // Any altered byte fails.
  for (std::size_t i = 0; i < cosigned->size(); ++i) {
    std::string bad = *cosigned;
    bad[i] ^= 0x04;
    EXPECT_FALSE(open_checkpoint(bad, both, 2).ok()) << "byte " << i;
  }
}

TEST(Checkpoint, KeptByCrashSafeFilesAndFoundBySize) {
  Log log;
  CheckpointDirectory dir(log.dir.path() + "/checkpoints");
  EXPECT_EQ(dir.latest().status().code(), StatusCode::kNotFound);
  auto signer = *NoteSigner::parse(NoteSigner::generate("o").first);
  for (int round = 1; round <= 3; ++round) {
    log.append(10, round * 10);
    auto bytes = sign_checkpoint(*log.store, "o", signer);
    ASSERT_TRUE(dir.write(log.store->head_position(), *bytes).ok());
  }
  std::ofstream(dir.path() + "/00000000000000000099.ckpt.tmp") << "a torn write";
  EXPECT_EQ(*dir.sizes(), (std::vector<std::uint64_t>{10, 20, 30}));
  EXPECT_TRUE(dir.latest()->starts_with("o\n30\n"));
  EXPECT_TRUE(dir.at(20)->starts_with("o\n20\n"));
}

TEST(Checkpoint, OldCheckpointsAreThinnedToOneADay) {
  Log log;
  CheckpointDirectory dir(log.dir.path() + "/checkpoints");
  auto signer = *NoteSigner::parse(NoteSigner::generate("o").first);
  using namespace std::chrono;
  const auto now = floor<days>(system_clock::now()) + hours(12);
  // Sizes 10..60: two of ten days ago (morning, evening), two of nine days ago, and two of today.
  const std::vector<system_clock::time_point> written = {now - days(10) - hours(4), now - days(10) + hours(4),
                                                         now - days(9) - hours(4),  now - days(9) + hours(4),
                                                         now - hours(2),            now - hours(1)};
  for (std::size_t i = 0; i < written.size(); ++i) {
    log.append(10, static_cast<int>(i) * 10);
    ASSERT_TRUE(dir.write(log.store->head_position(), *sign_checkpoint(*log.store, "o", signer)).ok());
    std::filesystem::last_write_time(dir.path() + "/" + std::string(20 - std::to_string((i + 1) * 10).size(), '0') +
                                         std::to_string((i + 1) * 10) + ".ckpt",
                                     file_clock::from_sys(written[i]));
  }
  auto removed = dir.prune(now, hours(24 * 7));
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 2u);
  EXPECT_EQ(*dir.sizes(), (std::vector<std::uint64_t>{20, 40, 50, 60}));  // the newest of each old day, all recent
}

TEST(Checkpoint, ALogRewrittenBeforeItAndRechainedVerifiesButDoesNotExtendIt) {
  auto signer = *NoteSigner::parse(NoteSigner::generate("o").first);
  const std::vector<NoteVerifier> v = {signer.verifier()};
  Log honest;
  CheckpointDirectory kept(honest.dir.path() + "/checkpoints");
  for (int size : {10, 20, 30, 40}) {
    honest.append(10, size - 10);
    ASSERT_TRUE(kept.write(static_cast<std::uint64_t>(size), *sign_checkpoint(*honest.store, "o", signer)).ok());
  }
  const std::string auditors_copy = *kept.at(30);
  honest.append(10, 40);

  auto extends = check_consistency(*honest.store, open_checkpoint(auditors_copy, v)->checkpoint, &kept);
  ASSERT_TRUE(extends.ok());
  EXPECT_TRUE(extends->ok) << extends->to_string();
  EXPECT_EQ(extends->log_size, 50u);

  // The operator rewrites position 26 in a copy of the data directory and recomputes everything after it.
  const std::string copy = honest.dir.path() + "/copy";
  honest.store.reset();
  std::filesystem::copy(honest.dir.path() + "/log", copy);
  store::testing::rewrite_and_rechain(copy, 26, "rewritten");
  auto rewritten = store::open_rocks_store(copy);
  ASSERT_TRUE(rewritten.ok()) << rewritten.status().ToString();
  auto alone = store::verify_log(**rewritten, {.indexes = true});
  ASSERT_TRUE(alone.ok());
  EXPECT_TRUE(alone->ok) << alone->to_string();
  auto since = check_consistency(**rewritten, open_checkpoint(auditors_copy, v)->checkpoint, &kept);
  ASSERT_TRUE(since.ok());
  EXPECT_FALSE(since->ok);
  EXPECT_EQ(since->first_differing_size, 30u);
  EXPECT_EQ(since->last_matching_size, 20u);
  EXPECT_NE(since->to_string().find("the first size where they differ is 30"), std::string::npos) << since->to_string();
  EXPECT_NE(since->to_string().find("positions 21..30"), std::string::npos) << since->to_string();
  // A log that lost events does not extend it either.
  Log shorter("shorter");
  shorter.append(20);
  auto lost = check_consistency(*shorter.store, open_checkpoint(auditors_copy, v)->checkpoint);
  ASSERT_TRUE(lost.ok());
  EXPECT_FALSE(lost->ok);
  EXPECT_NE(lost->problem.find("holds only 20 events"), std::string::npos);
}

}  // namespace
}  // namespace otinish::engine::proof
