// The applicants' keys in a JetStream bucket that several engine nodes share (engine/privacy/jetstream_keys.h),
// on a three-server NATS cluster started for this program (tests/store/nats_cluster.h), and the KeyStore's
// behaviour being the same over its two kinds of records.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>

#include "engine/privacy/jetstream_keys.h"
#include "engine/privacy/key_records.h"
#include "engine/privacy/key_store.h"
#include "tests/engine/test_kek.h"
#include "tests/store/nats_cluster.h"

namespace otinish::engine::privacy {
namespace {

namespace fs = std::filesystem;
using store::testing::Cluster;
using store::testing::TempDir;
using Op = KeyRecords::Op;
using engine::testing::test_kek;

bool same(const SecretKey& x, const SecretKey& y) { return std::equal(x.data(), x.data() + SecretKey::kSize, y.data()); }


std::string unique_bucket() {
  static int n = 0;
  return "KEYS" + std::to_string(getpid()) + "x" + std::to_string(++n);
}

JetStreamKeyOptions bucket_options(const std::string& bucket) {
  JetStreamKeyOptions o;
  o.urls = Cluster::get().urls();
  o.bucket = bucket;
  o.replicas = 3;
  return o;
}

// One node's key store on the bucket (its own connection to the cluster).
std::unique_ptr<KeyStore> open_node(const std::string& bucket, char kek = 'a') {
  auto ks = open_jetstream_key_store(bucket_options(bucket), test_kek(kek));
  EXPECT_TRUE(ks.ok()) << ks.status().ToString();
  return ks.ok() ? std::move(ks).value() : nullptr;
}

std::unique_ptr<KeyRecords> open_raw(const std::string& bucket) {
  auto r = open_jetstream_key_records(bucket_options(bucket));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

// How many of the bucket's message files, over the three servers, hold `bytes`.
int servers_holding(const std::string& bucket, const std::string& bytes) {
  int n = 0;
  for (int server = 1; server <= 3; ++server) {
    bool found = false;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(Cluster::get().dir() + "/n" + std::to_string(server), ec), end;
         !ec && it != end; it.increment(ec)) {
      const std::string path = it->path().string();
      if (!it->is_regular_file() || path.find("/streams/KV_" + bucket + "/msgs/") == std::string::npos) continue;
      std::ifstream in(path, std::ios::binary);
      const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      found = found || data.find(bytes) != std::string::npos;
    }
    n += found;
  }
  return n;
}

class SharedKeys : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(Cluster::get().ok()) << "no NATS cluster: " << Cluster::get().error(); }
};

TEST_F(SharedKeys, TwoNodesGiveOnePersonOneKeyAndOpenEachOthersApplicants) {
  const std::string bucket = unique_bucket();
  auto a = open_node(bucket);
  auto b = open_node(bucket);
  ASSERT_TRUE(a && b);
  auto made = a->key_for("77011234567");
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_TRUE(made->created);
  auto again = b->key_for("77011234567");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->applicant_id, made->applicant_id);
  auto k = b->data_key(made->applicant_id);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_TRUE(same(*k, made->key));
  EXPECT_EQ(b->state(made->applicant_id), ApplicantKeyState::kActive);
  EXPECT_NE(b->where().find(bucket), std::string::npos) << b->where();

  // A node with another KEK is refused, naming both key ids.
  auto wrong = open_jetstream_key_store(bucket_options(bucket), test_kek('b'));
  ASSERT_EQ(wrong.status().code(), StatusCode::kFailedPrecondition) << wrong.status().ToString();
  EXPECT_NE(wrong.status().message().find(test_kek('b').id()), std::string::npos) << wrong.status().message();
  EXPECT_NE(wrong.status().message().find(test_kek().id()), std::string::npos) << wrong.status().message();
}

// The first appeals of the same people arrive at both nodes at once: each person still gets one applicant
// (the identity's link is created only if absent; the node that loses the race takes the winner's key).
TEST_F(SharedKeys, ConcurrentFirstAppealsOfOnePersonOnTwoNodesMakeOneApplicant) {
  const std::string bucket = unique_bucket();
  auto a = open_node(bucket);
  auto b = open_node(bucket);
  ASSERT_TRUE(a && b);
  constexpr int kPeople = 24;
  std::vector<std::string> got_a(kPeople), got_b(kPeople);
  auto run = [&](KeyStore& ks, std::vector<std::string>& got) {
    for (int i = 0; i < kPeople; ++i) {
      auto k = ks.key_for("7701000" + std::to_string(1000 + i));
      ASSERT_TRUE(k.ok()) << k.status().ToString();
      got[static_cast<std::size_t>(i)] = k->applicant_id;
    }
  };
  std::thread ta([&] { run(*a, got_a); });
  std::thread tb([&] { run(*b, got_b); });
  ta.join();
  tb.join();
  for (int i = 0; i < kPeople; ++i) {
    EXPECT_EQ(got_a[static_cast<std::size_t>(i)], got_b[static_cast<std::size_t>(i)]) << "person " << i;
    auto ka = a->data_key(got_a[static_cast<std::size_t>(i)]);
    auto kb = b->data_key(got_b[static_cast<std::size_t>(i)]);
    ASSERT_TRUE(ka.ok() && kb.ok());
    EXPECT_TRUE(same(*ka, *kb));
  }
  auto stats = a->stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->applicants, std::uint64_t{kPeople}) << "a losing node's unused key was left behind";
}

// An erasure made on one node closes the applicant on the other (whose cache held the key) within moments,
// and the wrapped key is erased from the bucket's files on all three servers, not just marked deleted.
TEST_F(SharedKeys, AnErasureOnOneNodeReachesTheOtherAndTheKeyIsErasedOnEveryServer) {
  const std::string bucket = unique_bucket();
  auto a = open_node(bucket);
  auto b = open_node(bucket);
  auto raw = open_raw(bucket);
  ASSERT_TRUE(a && b && raw);
  auto made = a->key_for("77015550142");
  ASSERT_TRUE(made.ok());
  const std::string id = made->applicant_id;
  ASSERT_TRUE(b->data_key(id).ok());  // now in b's cache
  auto wrapped = raw->get("k/" + id);
  ASSERT_TRUE(wrapped.ok() && wrapped->has_value());
  // The servers write a message to their files at once; wait for all three (the check below is not vacuous).
  for (int i = 0; i < 100 && servers_holding(bucket, **wrapped) < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(servers_holding(bucket, **wrapped), 3);

  const std::vector<std::string> ids = {id};
  ASSERT_TRUE(a->begin_erasure(ids, "asked by the applicant").ok());
  ASSERT_TRUE(a->finish_erasure(ids).ok());
  ASSERT_TRUE(a->purge().ok());

  Status on_b = Status::Ok();
  for (int i = 0; i < 100; ++i) {
    on_b = b->data_key(id).status();
    if (!on_b.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(on_b.code(), StatusCode::kNotFound) << "the other node still opens an erased applicant";
  EXPECT_EQ(b->state(id), ApplicantKeyState::kErased);
  auto back = b->key_for("77015550142");  // the person comes back: a new applicant
  ASSERT_TRUE(back.ok());
  EXPECT_NE(back->applicant_id, id);
  EXPECT_TRUE(back->created);
  auto gone = raw->get("k/" + id);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
  for (int i = 0; i < 100 && servers_holding(bucket, **wrapped) > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(servers_holding(bucket, **wrapped), 0) << "the erased key's bytes are still in a server's files";
}

// JetStream writes one by one: a stop after the erased mark and before the key's deletion leaves an applicant
// that reads as erased, is never handed out, and is still pending, so the next start finishes it.
TEST_F(SharedKeys, AStopBetweenTheWritesOfAnErasureIsFinishedAtTheNextStart) {
  const std::string bucket = unique_bucket();
  auto raw = open_raw(bucket);
  std::string id;
  {
    auto ks = open_node(bucket);
    ASSERT_TRUE(ks && raw);
    auto made = ks->key_for("77017770000");
    ASSERT_TRUE(made.ok());
    id = made->applicant_id;
    const std::vector<std::string> ids = {id};
    ASSERT_TRUE(ks->begin_erasure(ids, "retention rule 3").ok());
    ASSERT_TRUE(raw->write({{Op::Kind::kPut, "x/" + id, ""}}, true).ok());  // finish_erasure's first write only
  }
  auto ks = open_node(bucket);
  ASSERT_TRUE(ks);
  EXPECT_EQ(ks->state(id), ApplicantKeyState::kErased);
  EXPECT_EQ(ks->data_key(id).status().code(), StatusCode::kNotFound);
  auto pending = ks->pending_erasures();
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].first, id);
  EXPECT_EQ((*pending)[0].second, "retention rule 3");
  ASSERT_TRUE(ks->finish_erasure(std::vector<std::string>{id}).ok());
  auto key = raw->get("k/" + id);
  ASSERT_TRUE(key.ok());
  EXPECT_FALSE(key->has_value());
  EXPECT_TRUE(ks->pending_erasures()->empty());
}

// The same life of an applicant over both kinds of records: made, found again, erasure begun (never handed out
// again, the person gets a new applicant), finished, and all of it still so after the store is reopened.
struct Kind {
  std::string name;
  std::function<Result<std::unique_ptr<KeyStore>>(const std::string& where, char kek)> open;
};

class BothRecords : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (GetParam().name == "jetstream") {
      ASSERT_TRUE(Cluster::get().ok()) << Cluster::get().error();
      where_ = unique_bucket();
    } else {
      where_ = dir_.sub("keys");
    }
  }
  Result<std::unique_ptr<KeyStore>> open(char kek = 'a') { return GetParam().open(where_, kek); }
  TempDir dir_;
  std::string where_;
};

TEST_P(BothRecords, AnApplicantsLifeReadsTheSameOverEither) {
  std::string first, second;
  {
    auto ks = open();
    ASSERT_TRUE(ks.ok()) << ks.status().ToString();
    KeyStore& k = **ks;
    auto made = k.key_for("77010000001");
    ASSERT_TRUE(made.ok());
    EXPECT_TRUE(made->created);
    first = made->applicant_id;
    auto same = k.key_for("77010000001");
    ASSERT_TRUE(same.ok());
    EXPECT_FALSE(same->created);
    EXPECT_EQ(same->applicant_id, first);
    EXPECT_EQ(k.find("77010000001")->value_or(""), first);
    EXPECT_EQ(k.state(first), ApplicantKeyState::kActive);
    EXPECT_EQ(k.state("ap-0000000000000000"), ApplicantKeyState::kUnknown);
    EXPECT_EQ(k.begin_erasure(std::vector<std::string>{"ap-0000000000000000"}, "x").code(), StatusCode::kNotFound);

    ASSERT_TRUE(k.begin_erasure(std::vector<std::string>{first}, "asked").ok());
    EXPECT_EQ(k.state(first), ApplicantKeyState::kErasing);
    EXPECT_EQ(k.data_key(first).status().code(), StatusCode::kNotFound);
    EXPECT_FALSE(k.find("77010000001")->has_value());
    auto pending = k.pending_erasures();
    ASSERT_TRUE(pending.ok());
    ASSERT_EQ(pending->size(), 1u);
    EXPECT_EQ((*pending)[0].second, "asked");
    auto back = k.key_for("77010000001");
    ASSERT_TRUE(back.ok());
    EXPECT_NE(back->applicant_id, first);
    second = back->applicant_id;

    ASSERT_TRUE(k.finish_erasure(std::vector<std::string>{first}).ok());
    ASSERT_TRUE(k.purge().ok());
    EXPECT_EQ(k.state(first), ApplicantKeyState::kErased);
    EXPECT_TRUE(k.pending_erasures()->empty());
    auto st = k.stats();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->applicants, 1u);
    EXPECT_EQ(st->erasing, 0u);
    EXPECT_EQ(st->erased, 1u);
  }
  EXPECT_EQ(open('b').status().code(), StatusCode::kFailedPrecondition);
  auto ks = open();
  ASSERT_TRUE(ks.ok()) << ks.status().ToString();
  EXPECT_EQ((*ks)->state(first), ApplicantKeyState::kErased);
  EXPECT_EQ((*ks)->data_key(first).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE((*ks)->data_key(second).ok());
  auto again = (*ks)->key_for("77010000001");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->applicant_id, second);
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, BothRecords,
    ::testing::Values(Kind{"rocksdb", [](const std::string& path, char kek) { return KeyStore::open(path, test_kek(kek)); }},
                      Kind{"jetstream",
                           [](const std::string& bucket, char kek) {
                             return open_jetstream_key_store(bucket_options(bucket), test_kek(kek));
                           }}),
    [](const ::testing::TestParamInfo<Kind>& info) { return info.param.name; });

}  // namespace
}  // namespace otinish::engine::privacy
