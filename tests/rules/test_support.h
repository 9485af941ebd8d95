// tests/rules/test_support.h: helpers shared by the rules tests.
#pragma once

#include <cstdlib>
#include <string>

#include <date/date.h>
#include <gtest/gtest.h>

#include "common/time.h"
#include "rules/calendar_spec.h"

namespace otinish::rules::testing {

inline std::string source_dir() {
  const char* dir = std::getenv("OTINISH_SOURCE_DIR");
  return dir ? dir : ".";
}

inline std::string example(const std::string& relative) { return source_dir() + "/examples/" + relative; }

inline Timestamp utc(const std::string& text) {
  Timestamp t;
  EXPECT_TRUE(parse_utc(text, &t)) << text;
  return t;
}

// Loads the shipped calendars (kz, shymkent, round-the-clock).
inline CalendarLibrary shipped_calendars() {
  CalendarLibrary lib;
  std::vector<Diagnostic> diags;
  for (const char* f : {"calendars/kz.yaml", "calendars/shymkent.yaml", "calendars/round-the-clock.yaml"}) {
    EXPECT_TRUE(lib.load_file(example(f), &diags)) << f << (diags.empty() ? "" : format_diagnostic(diags.front()));
  }
  return lib;
}

inline Calendar compile_or_die(const CalendarLibrary& lib, const std::string& name,
                               std::optional<date::sys_days> as_of = std::nullopt) {
  Result<Calendar> c = lib.compile(name, as_of);
  if (!c.ok()) ADD_FAILURE() << c.status().ToString();
  return std::move(c).value();
}

}  // namespace otinish::rules::testing
