// store/key_layout.h (internal): column families and keys. docs/log-format.md is the normative description;
// tests/store/log_format_golden_test.cc pins the bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "store/coding.h"

namespace otinish::store::keys {

inline constexpr const char* kLogCf = "log";                  // position(BE64) -> envelope
inline constexpr const char* kStreamsCf = "streams";          // stream 0x00 version(BE64) -> position(BE64)
inline constexpr const char* kIdempotencyCf = "idempotency";  // key -> first,last,version(LE64) digest(32)
inline constexpr const char* kHeadsCf = "heads";              // stream -> its newest version (LE64)
inline constexpr const char* kTreeCf = "tree";                // row(1) tile(BE64) -> tile (store/merkle_tiles.h)
// The default column family holds metadata: "format" -> "otinish-log/1".
inline constexpr const char* kFormatKey = "format";
inline constexpr const char* kFormatValue = "otinish-log/1";

inline std::string log_key(std::uint64_t position) {
  std::string k;
  coding::put_big_endian64(&k, position);
  return k;
}

inline std::string stream_key(std::string_view stream, std::uint64_t version) {
  std::string k;
  k.reserve(stream.size() + 9);
  k.append(stream);
  k.push_back('\0');
  coding::put_big_endian64(&k, version);
  return k;
}

}  // namespace otinish::store::keys
