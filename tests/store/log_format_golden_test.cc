// Pins the bytes of docs/log-format.md: keys and one envelope, against golden files in tests/store/golden/.
// If this fails, the on-disk format changed: bump kEnvelopeFormat / the format marker, write an upcaster, and
// update docs/log-format.md together with the golden files (OTINISH_UPDATE_GOLDEN=1 rewrites them).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "store/envelope_codec.h"
#include "store/event_store.h"
#include "store/key_layout.h"
#include "store/merkle.h"
#include "store/merkle_tiles.h"

namespace otinish::store {
namespace {

std::string golden_path(const std::string& name) {
  const char* root = std::getenv("OTINISH_SOURCE_DIR");
  return std::string(root ? root : ".") + "/tests/store/golden/" + name;
}

// Hex, 32 bytes a line, so that a diff points at the changed field.
std::string hex_lines(const std::string& bytes) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 32) {
    const std::string chunk = bytes.substr(i, 32);
    out += to_hex(std::span(reinterpret_cast<const std::uint8_t*>(chunk.data()), chunk.size()));
    out += '\n';
  }
  return out;
}

void expect_golden(const std::string& name, const std::string& actual) {
  const std::string path = golden_path(name);
  if (std::getenv("OTINISH_UPDATE_GOLDEN")) {
    std::ofstream(path) << actual;
    return;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in) << "missing golden file " << path;
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(expected.str(), actual) << "bytes differ from " << path;
}

RecordedEvent sample_event() {
  RecordedEvent e;
  e.position = 258;
  e.stream = "appeal-SHY-2026-0000001";
  e.stream_version = 3;
  e.id = EventId::derived("golden");
  e.type = "AppealAssigned";
  e.schema_version = 2;
  e.recorded_at = timestamp_from_micros(1'774'000'000'123'456);
  e.actor = Actor{"inspector:dana", "inspector", ""};
  e.correlation_id = "call-77";
  e.causation_id = "cmd-9";
  e.idempotency_key = "desk-1:cmd-9";
  e.payload = std::string("\x01\x02payload", 9);
  e.prev_hash = blake2b_256("previous");
  e.hash = compute_event_hash(e);
  return e;
}

TEST(LogFormatGoldenTest, EnvelopeBytesMatchTheDocumentedLayout) {
  expect_golden("envelope_v1.hex", hex_lines(encode_envelope(sample_event())));
}

TEST(LogFormatGoldenTest, EnvelopeHashIsBlake2bOfTheBodyWhichEndsWithPrevHash) {
  const RecordedEvent e = sample_event();
  const std::string stored = encode_envelope(e);
  const std::string body = stored.substr(0, stored.size() - 32);
  EXPECT_EQ(blake2b_256(body), e.hash);
  EXPECT_EQ(body.substr(body.size() - 32), std::string(reinterpret_cast<const char*>(e.prev_hash.data()), 32));
  expect_golden("envelope_v1.hash", to_hex(e.hash) + "\n");
}

TEST(LogFormatGoldenTest, EnvelopeRoundTrips) {
  const RecordedEvent e = sample_event();
  RecordedEvent back;
  ASSERT_TRUE(decode_envelope(encode_envelope(e), &back).ok());
  EXPECT_EQ(back, e);
}

TEST(LogFormatGoldenTest, TruncatedEnvelopeNamesTheField) {
  const std::string stored = encode_envelope(sample_event());
  RecordedEvent back;
  Status s = decode_envelope(stored.substr(0, 20), &back);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("recorded_at"), std::string::npos) << s.message();
  EXPECT_EQ(decode_envelope(stored + "x", &back).code(), StatusCode::kCorruption);
  std::string other_format = stored;
  other_format[0] = 9;
  EXPECT_NE(decode_envelope(other_format, &back).message().find("unknown envelope format 9"), std::string::npos);
}

TEST(LogFormatGoldenTest, KeysAreBigEndianSoByteOrderIsNumericOrder) {
  EXPECT_EQ(hex_lines(keys::log_key(258)), "0000000000000102\n");
  EXPECT_EQ(hex_lines(keys::stream_key("appeal-1", 3)), to_hex(std::span(reinterpret_cast<const std::uint8_t*>("appeal-1"), 8)) + "000000000000000003\n");
  EXPECT_LT(keys::log_key(255), keys::log_key(256));
  EXPECT_LT(keys::stream_key("a", 9), keys::stream_key("a", 10));
  EXPECT_LT(keys::stream_key("a", UINT64_MAX), keys::stream_key("a0", 0)) << "a stream never interleaves with its prefix-sharing neighbour";
}

// Format 2's stream index: one entry per append, keyed by the stream and the append's first version, holding its
// first position (big-endian, the bytes of a log key) and its number of events (4 bytes little-endian).
TEST(LogFormatGoldenTest, AStreamRunIsItsFirstPositionAndItsEventCount) {
  EXPECT_EQ(hex_lines(keys::stream_run_value(258, 3)), "000000000000010203000000\n");
  EXPECT_EQ(std::string(keys::kFormatValue), "otinish-log/2");
}

}  // namespace
}  // namespace otinish::store

namespace otinish::store {
namespace {

// The Merkle tree's leaf for the sample event: SHA-256(0x00 || its 32-byte hash), and a tile of 21 leaves
// (docs/log-format.md, "The Merkle tree"): its key and value bytes, and the root of the tree they make.
TEST(LogFormatGoldenTest, MerkleLeafTileAndRootMatchTheDocumentedLayout) {
  const RecordedEvent e = sample_event();
  const merkle::Hash leaf = merkle::leaf_hash(e.hash);
  std::string prefixed(1, '\0');
  prefixed.append(reinterpret_cast<const char*>(e.hash.data()), 32);
  EXPECT_EQ(leaf, merkle::sha256(std::span(reinterpret_cast<const std::uint8_t*>(prefixed.data()), prefixed.size())));
  // Leaves i = 0..20: the leaf hash of the sample event's hash with its first byte replaced by i.
  merkle::Frontier tree;
  std::vector<tiles::Tile> row0(2), row1(1);
  for (int i = 0; i < 21; ++i) {
    Hash256 h = e.hash;
    h[0] = static_cast<std::uint8_t>(i);
    tree.append(merkle::leaf_hash(h), [&](int level, std::uint64_t index, const merkle::Hash& node) {
      const tiles::Place p = tiles::place_of(level, index);
      (p.row == 0 ? row0[p.tile] : row1[p.tile]).set(p.level, p.index, node);
    });
  }
  expect_golden("merkle_v1.txt",
                "leaf " + merkle::to_hex(leaf) + "\n" +
                "tile key row 0, tile 1: " + hex_lines(tiles::key(0, 1)) +
                "tile value row 0, tile 1 (5 leaves):\n" + hex_lines(row0[1].encode()) +
                "tile value row 1, tile 0 (1 node):\n" + hex_lines(row1[0].encode()) +
                "root of 21 leaves " + merkle::to_hex(tree.root()) + "\n");
  EXPECT_EQ(row0[0].size(), 16);
  EXPECT_EQ(row0[0].encode().size(), 1u + 32 * (16 + 8 + 4 + 2));
  EXPECT_EQ(row0[1].encode().size(), 1u + 32 * (5 + 2 + 1));
}

}  // namespace
}  // namespace otinish::store
