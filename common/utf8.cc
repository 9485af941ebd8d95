#include "common/utf8.h"

namespace otinish {

std::size_t find_invalid_utf8(std::string_view s) noexcept {
  const auto byte = [&s](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  std::size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = byte(i);
    if (c < 0x80) {
      ++i;
      continue;
    }
    // The lead byte gives the length and the range the second byte must fall in (RFC 3629, section 4): this
    // excludes overlong forms (E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code points above U+10FFFF.
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return i;
    }
    if (i + len > s.size() || byte(i + 1) < lo || byte(i + 1) > hi) return i;
    for (std::size_t k = 2; k < len; ++k) {
      if ((byte(i + k) & 0xC0) != 0x80) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

std::string to_utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t bad = find_invalid_utf8(s); bad != std::string_view::npos; bad = find_invalid_utf8(s)) {
    out.append(s.substr(0, bad)).append("\xEF\xBF\xBD");
    s.remove_prefix(bad + 1);
  }
  return out.append(s);
}

}  // namespace otinish
