// The Merkle tree against RFC 6962's reference vectors (the Certificate Transparency test data), and as
// properties: every proof for random sizes verifies, and any one changed bit of a proof, a leaf or a root fails.
#include "store/merkle.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace otinish::store::merkle {
namespace {

Hash h(std::string_view hex) {
  Hash out{};
  EXPECT_TRUE(from_hex(hex, &out)) << hex;
  return out;
}

std::vector<std::uint8_t> bytes(std::string_view hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

// A tree kept the way the store keeps it: every complete subtree, by level and index.
struct MemoryTree {
  Frontier frontier;
  std::map<std::pair<int, std::uint64_t>, Hash> nodes;

  void append(const Hash& leaf) {
    frontier.append(leaf, [&](int level, std::uint64_t index, const Hash& hash) { nodes[{level, index}] = hash; });
  }
  NodeReader reader() const {
    return [this](int level, std::uint64_t index) -> Result<Hash> {
      auto it = nodes.find({level, index});
      if (it == nodes.end()) return Status::NotFound("no node " + std::to_string(level) + "/" + std::to_string(index));
      return it->second;
    };
  }
};

// The reference leaves and roots of RFC 6962's test data (certificate-transparency's merkle_tree_test).
const std::vector<std::string> kLeaves = {"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                          "606162636465666768696a6b6c6d6e6f"};
const std::vector<std::string> kRoots = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

MemoryTree reference() {
  MemoryTree t;
  for (const auto& l : kLeaves) t.append(leaf_hash(bytes(l)));
  return t;
}

TEST(Merkle, RootsMatchRfc6962ForEverySize) {
  const MemoryTree t = reference();
  for (std::uint64_t size = 0; size <= kLeaves.size(); ++size) {
    auto r = root(size, t.reader());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(to_hex(*r), kRoots[size]) << "size " << size;
  }
  EXPECT_EQ(to_hex(t.frontier.root()), kRoots[8]);
  EXPECT_EQ(to_hex(empty_root()), kRoots[0]);
}

TEST(Merkle, InclusionProofsMatchRfc6962) {
  struct Vector {
    std::uint64_t index, size;
    std::vector<std::string> path;
  };
  const std::vector<Vector> vectors = {
      {0, 8,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {5, 8,
       {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
      {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
      {1, 5,
       {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
  };
  const MemoryTree t = reference();
  for (const auto& v : vectors) {
    auto p = inclusion_proof(v.index, v.size, t.reader());
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    std::vector<std::string> got;
    for (const auto& x : *p) got.push_back(to_hex(x));
    EXPECT_EQ(got, v.path) << "leaf " << v.index << " of " << v.size;
    EXPECT_TRUE(verify_inclusion(v.index, v.size, leaf_hash(bytes(kLeaves[v.index])), *p, h(kRoots[v.size])));
  }
  EXPECT_FALSE(inclusion_proof(8, 8, t.reader()).ok());
}

TEST(Merkle, ConsistencyProofsMatchRfc6962) {
  struct Vector {
    std::uint64_t from, to;
    std::vector<std::string> proof;
  };
  const std::vector<Vector> vectors = {
      {1, 1, {}},
      {1, 8,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {6, 8,
       {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
      {2, 5,
       {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
  };
  const MemoryTree t = reference();
  for (const auto& v : vectors) {
    auto p = consistency_proof(v.from, v.to, t.reader());
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    std::vector<std::string> got;
    for (const auto& x : *p) got.push_back(to_hex(x));
    EXPECT_EQ(got, v.proof) << v.from << " -> " << v.to;
    EXPECT_TRUE(verify_consistency(v.from, v.to, h(kRoots[v.from]), h(kRoots[v.to]), *p)) << v.from << " -> " << v.to;
  }
  EXPECT_FALSE(consistency_proof(5, 4, t.reader()).ok());
}

TEST(Merkle, FrontierLoadsFromStoredNodes) {
  MemoryTree t;
  for (int i = 0; i < 100; ++i) {
    t.append(leaf_hash(bytes("0" + std::to_string(i % 10))));
    auto loaded = Frontier::load(t.frontier.size(), t.reader());
    ASSERT_TRUE(loaded.ok());
    EXPECT_EQ(loaded->root(), t.frontier.root());
    EXPECT_EQ(loaded->size(), t.frontier.size());
  }
}

Hash flip(Hash x, unsigned bit) {
  x[(bit / 8) % 32] ^= static_cast<std::uint8_t>(1u << (bit % 8));
  return x;
}

MemoryTree random_tree(std::uint64_t n) {
  MemoryTree t;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::string s = std::to_string(i * 2654435761u);
    t.append(leaf_hash(std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size())));
  }
  return t;
}

RC_GTEST_PROP(MerkleProperty, InclusionProofsVerifyAndAnyFlippedBitFails, ()) {
  const auto n = *rc::gen::inRange<std::uint64_t>(1, 300);
  const auto index = *rc::gen::inRange<std::uint64_t>(0, n);
  const auto size = *rc::gen::inRange<std::uint64_t>(index + 1, n + 1);
  const MemoryTree t = random_tree(n);
  const auto r = root(size, t.reader());
  RC_ASSERT(r.ok());
  const Hash leaf = t.nodes.at({0, index});
  auto p = inclusion_proof(index, size, t.reader());
  RC_ASSERT(p.ok());
  RC_ASSERT(verify_inclusion(index, size, leaf, *p, *r));
  const auto bit = *rc::gen::inRange<unsigned>(0, 256);
  RC_ASSERT(!verify_inclusion(index, size, flip(leaf, bit), *p, *r));
  RC_ASSERT(!verify_inclusion(index, size, leaf, *p, flip(*r, bit)));
  if (!p->empty()) {
    auto bad = *p;
    const auto which = *rc::gen::inRange<std::size_t>(0, bad.size());
    bad[which] = flip(bad[which], bit);
    RC_ASSERT(!verify_inclusion(index, size, leaf, bad, *r));
    bad = *p;
    bad.pop_back();
    RC_ASSERT(!verify_inclusion(index, size, leaf, bad, *r));
  }
  if (size > 1) RC_ASSERT(!verify_inclusion((index + 1) % size, size, leaf, *p, *r));
}

RC_GTEST_PROP(MerkleProperty, ConsistencyProofsVerifyAndAnyFlippedBitFails, ()) {
  const auto n = *rc::gen::inRange<std::uint64_t>(1, 300);
  const auto to = *rc::gen::inRange<std::uint64_t>(1, n + 1);
  const auto from = *rc::gen::inRange<std::uint64_t>(1, to + 1);
  const MemoryTree t = random_tree(n);
  const auto from_root = root(from, t.reader());
  const auto to_root = root(to, t.reader());
  RC_ASSERT(from_root.ok() && to_root.ok());
  auto p = consistency_proof(from, to, t.reader());
  RC_ASSERT(p.ok());
  RC_ASSERT(verify_consistency(from, to, *from_root, *to_root, *p));
  const auto bit = *rc::gen::inRange<unsigned>(0, 256);
  RC_ASSERT(!verify_consistency(from, to, flip(*from_root, bit), *to_root, *p));
  RC_ASSERT(!verify_consistency(from, to, *from_root, flip(*to_root, bit), *p));
  if (!p->empty()) {
    auto bad = *p;
    const auto which = *rc::gen::inRange<std::size_t>(0, bad.size());
    bad[which] = flip(bad[which], bit);
    RC_ASSERT(!verify_consistency(from, to, *from_root, *to_root, bad));
  }
  // A log rewritten at any leaf before `from` has another root there: the old root does not verify against it.
  MemoryTree rewritten;
  const auto changed = *rc::gen::inRange<std::uint64_t>(0, from);
  for (std::uint64_t i = 0; i < to; ++i) {
    Hash leaf = t.nodes.at({0, i});
    rewritten.append(i == changed ? flip(leaf, bit) : leaf);
  }
  auto rewritten_root = root(to, rewritten.reader());
  auto rewritten_proof = consistency_proof(from, to, rewritten.reader());
  RC_ASSERT(rewritten_root.ok() && rewritten_proof.ok());
  RC_ASSERT(!verify_consistency(from, to, *from_root, *rewritten_root, *rewritten_proof));
}

}  // namespace
}  // namespace otinish::store::merkle

// The RocksDB store keeps the same tree as the reference: for appends of random sizes (so that groups end
// anywhere in a tile), every root from 0 to the head, and proofs for random leaves and sizes, match and verify;
// again after reopening (the newest tiles read back) and after more appends.
#include "store/rocks_store.h"
#include "tests/store/store_test_util.h"

namespace otinish::store::merkle {
namespace {

RC_GTEST_PROP(MerkleStoreProperty, TheStoresTreeIsTheReferenceTree, ()) {
  testing::TempDir dir;
  const auto appends = *rc::gen::container<std::vector<int>>(*rc::gen::inRange(1, 8), rc::gen::inRange(1, 40));
  MemoryTree reference;
  auto check = [&](const EventStore& store) {
    const std::uint64_t head = store.head_position();
    RC_ASSERT(head == reference.frontier.size());
    for (std::uint64_t n = 0; n <= head; ++n) {
      auto want = root(n, reference.reader());
      auto got = store.tree_root(n);
      RC_ASSERT(got.ok());
      RC_ASSERT(*got == *want);
    }
    if (head == 0) return;
    const auto size = *rc::gen::inRange<std::uint64_t>(1, head + 1);
    const auto position = *rc::gen::inRange<std::uint64_t>(1, size + 1);
    auto proof = store.inclusion_proof(position, size);
    RC_ASSERT(proof.ok());
    RC_ASSERT(verify_inclusion(position - 1, size, reference.nodes.at({0, position - 1}), *proof, *store.tree_root(size)));
    const auto from = *rc::gen::inRange<std::uint64_t>(0, size + 1);
    auto consistency = store.consistency_proof(from, size);
    RC_ASSERT(consistency.ok());
    RC_ASSERT(verify_consistency(from, size, *store.tree_root(from), *store.tree_root(size), *consistency));
    RC_ASSERT(!store.tree_root(head + 1).ok());
    RC_ASSERT(!store.inclusion_proof(size + 1, size).ok());
  };
  auto append_all = [&](EventStore& store, std::size_t from, std::size_t to) {
    for (std::size_t a = from; a < to; ++a) {
      std::vector<EventData> batch;
      for (int i = 0; i < appends[a]; ++i) batch.push_back(testing::make_event("E", std::to_string(a * 100 + i)));
      auto r = store.append("s-" + std::to_string(a % 3), ExpectedVersion::any(), batch);
      RC_ASSERT(r.ok());
      auto events = store.read_all(r->first_position, batch.size());
      RC_ASSERT(events.ok());
      for (const auto& e : *events) reference.append(leaf_hash(e.hash));
    }
  };
  const std::size_t half = appends.size() / 2;
  {
    auto store = open_rocks_store(dir.path(), {.sync_writes = false});
    RC_ASSERT(store.ok());
    append_all(**store, 0, half);
    check(**store);
  }
  auto store = open_rocks_store(dir.path(), {.sync_writes = false});
  RC_ASSERT(store.ok());
  check(**store);
  append_all(**store, half, appends.size());
  check(**store);
}

}  // namespace
}  // namespace otinish::store::merkle
