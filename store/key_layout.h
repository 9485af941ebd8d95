// store/key_layout.h (internal): column families and keys. docs/log-format.md is the normative description;
// tests/store/log_format_golden_test.cc pins the bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "store/coding.h"

namespace otinish::store::keys {

inline constexpr const char* kLogCf = "log";                  // position(BE64) -> envelope
// One entry per append (a *run*: its events have consecutive versions and positions):
// stream 0x00 first version(BE64) -> first position(BE64) number of events(LE32).
inline constexpr const char* kStreamsCf = "streams";
inline constexpr const char* kIdempotencyCf = "idempotency";  // key -> first,last,version(LE64) digest(32)
inline constexpr const char* kTreeCf = "tree";                // row(1) tile(BE64) -> tile (store/merkle_tiles.h)
// The default column family holds metadata: "format" -> "otinish-log/2".
inline constexpr const char* kFormatKey = "format";
inline constexpr const char* kFormatValue = "otinish-log/2";
// Format 1 kept one `streams` entry per event (value: the position alone) and each stream's newest version in a
// `heads` column family. Its envelopes are those of format 2, so its export imports unchanged.
inline constexpr const char* kFormat1Value = "otinish-log/1";
inline constexpr const char* kFormat1HeadsCf = "heads";

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

// The value of a `streams` entry.
inline std::string stream_run_value(std::uint64_t first_position, std::uint32_t events) {
  std::string v;
  v.reserve(12);
  coding::put_big_endian64(&v, first_position);
  coding::put_fixed32(&v, events);
  return v;
}

}  // namespace otinish::store::keys
