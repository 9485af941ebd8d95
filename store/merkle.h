// store/merkle.h: the Merkle tree over the global log, as Certificate Transparency defines it (RFC 6962,
// section 2.1; RFC 9162, section 2.1), so that any implementation of that standard can check our proofs.
//
// The tree's leaves are the log's events in global order: the leaf for position P is leaf number P - 1, and its
// data is the event's 32-byte BLAKE2b hash (envelope field 17, docs/log-format.md), which covers every stored
// byte of the event and the hash of the one before it. So:
//   leaf hash  = SHA-256(0x00 || event hash)
//   node hash  = SHA-256(0x01 || left || right)
//   root of the empty tree = SHA-256("")
//
// What each proves: the BLAKE2b chain shows, inside one data directory, that no stored event was altered,
// dropped or reordered; whoever runs the server can still rewrite history and recompute the whole chain. The
// tree's root at size N, signed and published (a checkpoint), fixes the first N events for anyone who kept it:
// an inclusion proof shows that one event is among them, a consistency proof that a later log extends them
// unchanged. Both need only hashes, never the data directory.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace otinish::store::merkle {

using Hash = std::array<std::uint8_t, 32>;  // SHA-256

Hash sha256(std::span<const std::uint8_t> data);
// SHA-256(0x00 || data): the hash of a leaf whose data is `data`.
Hash leaf_hash(std::span<const std::uint8_t> data);
// SHA-256(0x01 || left || right).
Hash node_hash(const Hash& left, const Hash& right);
// SHA-256 of nothing: the root of the tree with no leaves.
Hash empty_root();

std::string to_hex(const Hash& h);
// Parses 64 hex characters; false if `hex` is not exactly that.
bool from_hex(std::string_view hex, Hash* out);

// The hash of the perfect subtree at `level` (0 = the leaves) and `index`: it covers leaves
// [index << level, (index + 1) << level). A store keeps every such subtree once it is complete, which is all a
// root or a proof for any size up to the tree's needs (O(log n) of them each).
using NodeReader = std::function<Result<Hash>(int level, std::uint64_t index)>;

// The root of the first `size` leaves.
Result<Hash> root(std::uint64_t size, const NodeReader& read);
// The audit path of leaf `index` in the tree of `size` leaves (RFC 6962 PATH(m, D[n]); bottom-up).
// Errors: kInvalidArgument unless index < size.
Result<std::vector<Hash>> inclusion_proof(std::uint64_t index, std::uint64_t size, const NodeReader& read);
// The proof that the tree of `to` leaves extends the tree of `from` leaves (RFC 6962 PROOF(m, D[n])). Empty when
// from is 0 or from == to. Errors: kInvalidArgument unless from <= to.
Result<std::vector<Hash>> consistency_proof(std::uint64_t from, std::uint64_t to, const NodeReader& read);

// RFC 9162 2.1.3.2: true iff `proof` shows that `leaf` (a leaf hash) is leaf `index` of the tree of `size`
// leaves whose root is `root`.
bool verify_inclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf, std::span<const Hash> proof,
                      const Hash& root);
// RFC 9162 2.1.4.2: true iff `proof` shows that the tree of `to` leaves with root `to_root` extends the tree of
// `from` leaves with root `from_root`. A tree extends the empty tree, and itself (with an empty proof).
bool verify_consistency(std::uint64_t from, std::uint64_t to, const Hash& from_root, const Hash& to_root,
                        std::span<const Hash> proof);

// The right edge of a growing tree: the roots of its perfect subtrees, one per set bit of its size. Appending a
// leaf completes new subtrees; each is reported once to `stored`, to be kept where NodeReader finds it.
class Frontier {
 public:
  using Store = std::function<void(int level, std::uint64_t index, const Hash& hash)>;

  std::uint64_t size() const noexcept { return size_; }
  void append(const Hash& leaf, const Store& stored);
  Hash root() const;
  // The frontier of a tree of `size` leaves, read from its stored subtrees.
  static Result<Frontier> load(std::uint64_t size, const NodeReader& read);

 private:
  std::uint64_t size_ = 0;
  std::array<Hash, 64> roots_{};  // roots_[level] is meaningful when bit `level` of size_ is set
};

}  // namespace otinish::store::merkle
