// common/utf8.h: UTF-8 as RFC 3629 defines it, which JSON (RFC 8259) and YAML require of their text: no
// overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
//
// Text from outside (a request target, a header, a form or YAML body) is checked with these where it enters;
// inside, every string is UTF-8 and goes into JSON as it is.
//
//   if (std::size_t bad = find_invalid_utf8(text); bad != std::string_view::npos) { /* refuse, naming `bad` */ }
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace otinish {

// The offset of the first byte of `s` that does not begin a well-formed character (or begins one that is cut
// off by the end), or std::string_view::npos when all of `s` is UTF-8.
std::size_t find_invalid_utf8(std::string_view s) noexcept;

inline bool is_utf8(std::string_view s) noexcept { return find_invalid_utf8(s) == std::string_view::npos; }

// `s` with every byte that does not begin a well-formed character replaced by U+FFFD: for text from a library
// that may cut a character in two (a parser quoting the byte it stopped at) before it goes into a message.
std::string to_utf8_lossy(std::string_view s);

}  // namespace otinish
