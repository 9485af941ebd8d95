// Fuzz target for the calendar parser (PUT /v1/calendars/{name}, `otinish calendar check`): any bytes give a
// calendar or diagnostics, never a crash, a hang or an exception; a calendar that parsed is added to a library
// and, when it stands alone and spans a few years, compiled and counted.
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
  for (const Diagnostic& d : diags) (void)format_diagnostic(d);
  return 0;
}
