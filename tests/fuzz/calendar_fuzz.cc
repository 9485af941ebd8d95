// Fuzz target for the calendar parser (PUT /v1/calendars/{name}, `otinish calendar check`): any bytes give a
// calendar or diagnostics, never a crash, a hang or an exception; a calendar that parsed is added to a library
// and, when it stands alone and spans a few years, compiled and counted.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "common/utf8.h"
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
  for (const Diagnostic& d : diags) {
    // Diagnostics go into JSON (the 422 of a publication): UTF-8 whatever the input was.
    if (!otinish::is_utf8(format_diagnostic(d))) {
      std::fprintf(stderr, "property violated: a diagnostic is not UTF-8: %s\n", format_diagnostic(d).c_str());
      std::abort();
    }
  }
  return 0;
}
