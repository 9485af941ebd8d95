#include "common/time.h"

#include <cstdio>
#include <ctime>
#include <sstream>

#include <date/date.h>

namespace otinish {

std::string format_utc(Timestamp t) {
  return date::format("%Y-%m-%dT%H:%M:%SZ", t);
}

bool parse_utc(const std::string& text, Timestamp* out) {
  // date::parse with %z accepts "+05:00" via the %Ez form; try the forms we promise.
  for (const char* fmt : {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S%Ez", "%Y-%m-%d %H:%M:%SZ"}) {
    std::istringstream in(text);
    Timestamp t;
    in >> date::parse(fmt, t);
    if (!in.fail() && in.peek() == std::char_traits<char>::eof()) {
      *out = t;
      return true;
    }
  }
  return false;
}

Timestamp SystemClock::now() const noexcept {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

const SystemClock& SystemClock::instance() noexcept {
  static const SystemClock clock;
  return clock;
}

}  // namespace otinish
