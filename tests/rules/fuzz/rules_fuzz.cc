// Fuzz target for the rule-set and calendar parsers: any bytes must give either a value or diagnostics,
// never a crash, a hang or an exception. Built two ways (tests/rules/CMakeLists.txt):
//  - with clang's libFuzzer (-fsanitize=fuzzer) as rules_fuzz_libfuzzer, run for a few seconds by CTest;
//  - with g++ and replay_main.cc as rules_fuzz_replay, a plain test that replays the corpus/ files.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "rules/rules.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace otinish::rules;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<Diagnostic> diags;
  if (auto spec = parse_calendar(text, "fuzz.yaml", &diags)) {
    CalendarLibrary lib;
    if (lib.add(*spec, &diags) && spec->inherits.empty() && spec->last_year - spec->first_year <= 3) {
      if (auto cal = lib.compile(spec->name); cal.ok()) {
        (void)cal->working_days_in_year(spec->first_year);
      }
    }
  }
  if (auto rs = parse_rule_set(text, "fuzz.yaml", &diags)) {
    (void)canonical_text(*rs);
    (void)lint(*rs, nullptr);
  }
  for (const Diagnostic& d : diags) (void)format_diagnostic(d);
  return 0;
}
