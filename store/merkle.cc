#include "store/merkle.h"

#include <sodium.h>

#include <bit>

namespace otinish::store::merkle {

namespace {

// The largest power of two smaller than n (n >= 2): where RFC 6962 splits a tree of n leaves.
std::uint64_t split_point(std::uint64_t n) { return std::bit_floor(n - 1); }

// The hash of leaves [lo, hi). In every range the RFC's recursion asks for, lo is a multiple of a power of two
// at least as large as the range, so the range is one stored perfect subtree or splits into a stored left one
// and a smaller such range: O(log n) reads.
Result<Hash> subtree(std::uint64_t lo, std::uint64_t hi, const NodeReader& read) {
  const std::uint64_t n = hi - lo;
  if (std::has_single_bit(n) && lo % n == 0) return read(std::countr_zero(n), lo >> std::countr_zero(n));
  const std::uint64_t k = split_point(n);
  OTINISH_ASSIGN_OR_RETURN(Hash left, subtree(lo, lo + k, read));
  OTINISH_ASSIGN_OR_RETURN(Hash right, subtree(lo + k, hi, read));
  return node_hash(left, right);
}

// PATH(m, D[lo:hi]), appended bottom-up.
Status path(std::uint64_t m, std::uint64_t lo, std::uint64_t hi, const NodeReader& read, std::vector<Hash>& out) {
  if (hi - lo <= 1) return Status::Ok();
  const std::uint64_t k = split_point(hi - lo);
  if (m < k) {
    OTINISH_RETURN_IF_ERROR(path(m, lo, lo + k, read, out));
    OTINISH_ASSIGN_OR_RETURN(Hash h, subtree(lo + k, hi, read));
    out.push_back(h);
  } else {
    OTINISH_RETURN_IF_ERROR(path(m - k, lo + k, hi, read, out));
    OTINISH_ASSIGN_OR_RETURN(Hash h, subtree(lo, lo + k, read));
    out.push_back(h);
  }
  return Status::Ok();
}

// SUBPROOF(m, D[lo:hi], b).
Status subproof(std::uint64_t m, std::uint64_t lo, std::uint64_t hi, bool whole, const NodeReader& read,
                std::vector<Hash>& out) {
  const std::uint64_t n = hi - lo;
  if (m == n) {
    if (!whole) {
      OTINISH_ASSIGN_OR_RETURN(Hash h, subtree(lo, hi, read));
      out.push_back(h);
    }
    return Status::Ok();
  }
  const std::uint64_t k = split_point(n);
  if (m <= k) {
    OTINISH_RETURN_IF_ERROR(subproof(m, lo, lo + k, whole, read, out));
    OTINISH_ASSIGN_OR_RETURN(Hash h, subtree(lo + k, hi, read));
    out.push_back(h);
  } else {
    OTINISH_RETURN_IF_ERROR(subproof(m - k, lo + k, hi, false, read, out));
    OTINISH_ASSIGN_OR_RETURN(Hash h, subtree(lo, lo + k, read));
    out.push_back(h);
  }
  return Status::Ok();
}

}  // namespace

Hash sha256(std::span<const std::uint8_t> data) {
  Hash h;
  crypto_hash_sha256(h.data(), data.data(), data.size());
  return h;
}

Hash leaf_hash(std::span<const std::uint8_t> data) {
  crypto_hash_sha256_state s;
  crypto_hash_sha256_init(&s);
  const std::uint8_t prefix = 0x00;
  crypto_hash_sha256_update(&s, &prefix, 1);
  crypto_hash_sha256_update(&s, data.data(), data.size());
  Hash h;
  crypto_hash_sha256_final(&s, h.data());
  return h;
}

Hash node_hash(const Hash& left, const Hash& right) {
  std::array<std::uint8_t, 65> in;
  in[0] = 0x01;
  std::copy(left.begin(), left.end(), in.begin() + 1);
  std::copy(right.begin(), right.end(), in.begin() + 33);
  return sha256(in);
}

Hash empty_root() { return sha256({}); }

std::string to_hex(const Hash& h) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(64);
  for (std::uint8_t b : h) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 15]);
  }
  return s;
}

bool from_hex(std::string_view hex, Hash* out) {
  if (hex.size() != 64) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < 32; ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

Result<Hash> root(std::uint64_t size, const NodeReader& read) {
  if (size == 0) return empty_root();
  return subtree(0, size, read);
}

Result<std::vector<Hash>> inclusion_proof(std::uint64_t index, std::uint64_t size, const NodeReader& read) {
  if (index >= size) {
    return Status::InvalidArgument("no leaf " + std::to_string(index) + " in a tree of " + std::to_string(size) +
                                   " leaves");
  }
  std::vector<Hash> out;
  OTINISH_RETURN_IF_ERROR(path(index, 0, size, read, out));
  return out;
}

Result<std::vector<Hash>> consistency_proof(std::uint64_t from, std::uint64_t to, const NodeReader& read) {
  if (from > to) {
    return Status::InvalidArgument("a tree of " + std::to_string(to) + " leaves cannot extend one of " +
                                   std::to_string(from));
  }
  std::vector<Hash> out;
  if (from == 0 || from == to) return out;
  OTINISH_RETURN_IF_ERROR(subproof(from, 0, to, true, read, out));
  return out;
}

bool verify_inclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf, std::span<const Hash> proof,
                      const Hash& root) {
  if (index >= size) return false;
  std::uint64_t fn = index, sn = size - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      r = node_hash(p, r);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

bool verify_consistency(std::uint64_t from, std::uint64_t to, const Hash& from_root, const Hash& to_root,
                        std::span<const Hash> proof) {
  if (from > to) return false;
  if (from == to) return proof.empty() && from_root == to_root;
  if (from == 0) return proof.empty() && from_root == empty_root();
  if (proof.empty()) return false;
  std::vector<Hash> path;
  path.reserve(proof.size() + 1);
  if (std::has_single_bit(from)) path.push_back(from_root);
  path.insert(path.end(), proof.begin(), proof.end());
  std::uint64_t fn = from - 1, sn = to - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0], sr = path[0];
  for (std::size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return fr == from_root && sr == to_root && sn == 0;
}

void Frontier::append(const Hash& leaf, const Store& stored) {
  const std::uint64_t n = size_;  // the new leaf's index
  Hash h = leaf;
  stored(0, n, h);
  int level = 0;
  // Each set low bit of n is a complete left sibling waiting on the right edge: combine with it and carry up.
  while ((n >> level) & 1) {
    h = node_hash(roots_[level], h);
    ++level;
    stored(level, n >> level, h);
  }
  roots_[level] = h;
  ++size_;
}

Hash Frontier::root() const {
  if (size_ == 0) return empty_root();
  // Fold the perfect subtrees from the smallest (rightmost) up: MTH = H(s1, H(s2, ... H(s_{m-1}, s_m))).
  bool have = false;
  Hash acc{};
  for (int level = 0; level < 64; ++level) {
    if (!((size_ >> level) & 1)) continue;
    acc = have ? node_hash(roots_[level], acc) : roots_[level];
    have = true;
  }
  return acc;
}

Result<Frontier> Frontier::load(std::uint64_t size, const NodeReader& read) {
  Frontier f;
  std::uint64_t start = 0;
  for (int level = 63; level >= 0; --level) {
    if (!((size >> level) & 1)) continue;
    OTINISH_ASSIGN_OR_RETURN(f.roots_[level], read(level, start >> level));
    start += std::uint64_t{1} << level;
  }
  f.size_ = size;
  return f;
}

}  // namespace otinish::store::merkle
