// store/merkle_tiles.h (internal): how the Merkle tree's nodes are stored. docs/log-format.md is the normative
// description.
//
// Nodes are grouped in tiles of four levels: tile (t, i) holds the nodes of levels 4t .. 4t+3 above the 16
// nodes [16i, 16i + 16) of level 4t (its bottom row), 16 + 8 + 4 + 2 = 30 of them. A tile's top node (level
// 4t + 4) is in the bottom row of tile (t + 1, i / 16). A tile is written when it gains nodes (the newest tile
// of each row, then, once per group commit), so one event costs about one sixteenth of a tile write instead of
// two node writes, and a proof for a 10M-event log reads seven tiles instead of 24 nodes.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "store/coding.h"
#include "store/merkle.h"

namespace otinish::store::tiles {

inline constexpr int kHeight = 4;                // levels per tile
inline constexpr int kWidth = 1 << kHeight;      // nodes in a tile's bottom row
inline constexpr int kSlots = 30;                // 16 + 8 + 4 + 2
inline constexpr int kOffset[kHeight] = {0, 16, 24, 28};  // first slot of each level within the tile

struct Place {
  int row;             // t: the tile row, level / 4
  std::uint64_t tile;  // i: the tile's index in its row
  int level;           // k: the node's level within the tile, level % 4
  int index;           // j: the node's index within that level of the tile
};

inline Place place_of(int level, std::uint64_t index) {
  Place p;
  p.row = level / kHeight;
  p.level = level % kHeight;
  const int per_tile = kWidth >> p.level;  // nodes of this level in one tile
  p.tile = index / static_cast<std::uint64_t>(per_tile);
  p.index = static_cast<int>(index % static_cast<std::uint64_t>(per_tile));
  return p;
}

// Key: the row (1 byte), then the tile's index (8 bytes, big-endian): each row's tiles are contiguous, in order.
inline std::string key(int row, std::uint64_t tile) {
  std::string k(1, static_cast<char>(row));
  coding::put_big_endian64(&k, tile);
  return k;
}

// A tile's nodes. Value: the number n of bottom-row nodes present (1 byte, 1..16), then the nodes of level k
// for k = 0..3, n >> k of them each, 32 bytes apiece. A node is present iff all the bottom-row nodes below it are.
class Tile {
 public:
  int size() const noexcept { return n_; }
  bool has(int level, int index) const noexcept { return ((index + 1) << level) <= n_; }
  const merkle::Hash& get(int level, int index) const noexcept { return slots_[kOffset[level] + index]; }
  void set(int level, int index, const merkle::Hash& h) noexcept {
    slots_[kOffset[level] + index] = h;
    if (level == 0 && index + 1 > n_) n_ = index + 1;
  }

  std::string encode() const {
    std::string v(1, static_cast<char>(n_));
    for (int k = 0; k < kHeight; ++k) {
      for (int j = 0; j < (n_ >> k); ++j) v.append(reinterpret_cast<const char*>(get(k, j).data()), 32);
    }
    return v;
  }
  // False if `v` is not a well-formed tile.
  static bool decode(std::string_view v, Tile* out) {
    if (v.empty()) return false;
    const int n = static_cast<std::uint8_t>(v[0]);
    if (n < 1 || n > kWidth) return false;
    std::size_t expected = 1;
    for (int k = 0; k < kHeight; ++k) expected += 32 * static_cast<std::size_t>(n >> k);
    if (v.size() != expected) return false;
    out->n_ = n;
    std::size_t at = 1;
    for (int k = 0; k < kHeight; ++k) {
      for (int j = 0; j < (n >> k); ++j, at += 32) std::memcpy(out->slots_[kOffset[k] + j].data(), v.data() + at, 32);
    }
    return true;
  }
  // Where node (level k, index j) starts in the encoded tile of n bottom-row nodes (for tests that alter one).
  static std::size_t offset_in_value(int n, int level, int index) {
    std::size_t at = 1;
    for (int k = 0; k < level; ++k) at += 32 * static_cast<std::size_t>(n >> k);
    return at + 32 * static_cast<std::size_t>(index);
  }

 private:
  int n_ = 0;
  std::array<merkle::Hash, kSlots> slots_{};
};

}  // namespace otinish::store::tiles
