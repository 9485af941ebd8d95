// common/utf8.h: what is UTF-8 (RFC 3629) and where the first byte that is not sits.
#include "common/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace otinish {
namespace {

constexpr std::size_t kNone = std::string_view::npos;

TEST(Utf8, AcceptsAsciiAndEveryEncodingLength) {
  EXPECT_EQ(find_invalid_utf8(""), kNone);
  EXPECT_EQ(find_invalid_utf8("Tauke khan 5"), kNone);
  EXPECT_EQ(find_invalid_utf8("\xD0\x90\xD0\xB1\xD0\xB0\xD0\xB9"), kNone);  // "Абай"
  EXPECT_EQ(find_invalid_utf8("\xE2\x82\xB8"), kNone);                      // U+20B8 tenge sign
  EXPECT_EQ(find_invalid_utf8("\xF0\x9F\x9B\x97"), kNone);                  // U+1F6D7 elevator
  EXPECT_EQ(find_invalid_utf8("\xF4\x8F\xBF\xBF"), kNone);                  // U+10FFFF, the last
}

TEST(Utf8, NamesTheFirstByteThatIsNot) {
  EXPECT_EQ(find_invalid_utf8("/consol\x9Bm/app.js"), 7u);  // a lone continuation byte
  EXPECT_EQ(find_invalid_utf8("ab\xFF"), 2u);
  EXPECT_EQ(find_invalid_utf8("ok \xD0"), 3u);              // cut off by the end
  EXPECT_EQ(find_invalid_utf8("\xE2\x82x"), 0u);            // a continuation missing
}

TEST(Utf8, RefusesOverlongFormsSurrogatesAndCodePointsAboveTheLast) {
  EXPECT_EQ(find_invalid_utf8("\xC0\xAF"), 0u);          // '/' in two bytes
  EXPECT_EQ(find_invalid_utf8("\xE0\x80\xAF"), 0u);      // '/' in three
  EXPECT_EQ(find_invalid_utf8("\xF0\x80\x80\xAF"), 0u);  // '/' in four
  EXPECT_EQ(find_invalid_utf8("\xED\xA0\x80"), 0u);      // U+D800, a surrogate
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u);  // U+110000
  EXPECT_EQ(find_invalid_utf8("\xF5\x80\x80\x80"), 0u);
}

TEST(Utf8, LossyConversionReplacesEachBadByteAndKeepsTheRest) {
  EXPECT_EQ(to_utf8_lossy("unknown escape character: \xD0"), "unknown escape character: \xEF\xBF\xBD");
  EXPECT_EQ(to_utf8_lossy("a\xFF\xFE" "b\xD0\x90"), "a\xEF\xBF\xBD\xEF\xBF\xBD" "b\xD0\x90");
  EXPECT_EQ(to_utf8_lossy("\xD0\x90\xD0\xB1"), "\xD0\x90\xD0\xB1");
}

}  // namespace
}  // namespace otinish
