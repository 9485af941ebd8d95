// store/coding.h (internal): fixed-width integer coding, as in LevelDB's util/coding.h.
// Envelope fields are little-endian; keys are big-endian so that RocksDB's bytewise order is numeric order.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace otinish::store::coding {

inline void put_fixed32(std::string* dst, std::uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  dst->append(b, 4);
}
inline void put_fixed64(std::string* dst, std::uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  dst->append(b, 8);
}
inline void put_big_endian64(std::string* dst, std::uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * (7 - i)));
  dst->append(b, 8);
}
inline void put_length_prefixed(std::string* dst, std::string_view s) {
  put_fixed32(dst, static_cast<std::uint32_t>(s.size()));
  dst->append(s.data(), s.size());
}

inline std::uint64_t decode_big_endian64(const char* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<std::uint8_t>(p[i]);
  return v;
}

// A cursor over bytes that fails softly: every get_ returns false once the input is exhausted.
class Reader {
 public:
  explicit Reader(std::string_view in) noexcept : in_(in) {}
  bool get_u8(std::uint8_t* v) noexcept {
    if (in_.empty()) return false;
    *v = static_cast<std::uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool get_fixed32(std::uint32_t* v) noexcept {
    if (in_.size() < 4) return false;
    *v = 0;
    for (int i = 3; i >= 0; --i) *v = *v << 8 | static_cast<std::uint8_t>(in_[i]);
    in_.remove_prefix(4);
    return true;
  }
  bool get_fixed64(std::uint64_t* v) noexcept {
    if (in_.size() < 8) return false;
    *v = 0;
    for (int i = 7; i >= 0; --i) *v = *v << 8 | static_cast<std::uint8_t>(in_[i]);
    in_.remove_prefix(8);
    return true;
  }
  bool get_bytes(std::size_t n, std::string_view* out) noexcept {
    if (in_.size() < n) return false;
    *out = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool get_length_prefixed(std::string* out) {
    std::uint32_t n;
    std::string_view s;
    if (!get_fixed32(&n) || !get_bytes(n, &s)) return false;
    out->assign(s.data(), s.size());
    return true;
  }
  std::size_t remaining() const noexcept { return in_.size(); }

 private:
  std::string_view in_;
};

}  // namespace otinish::store::coding
