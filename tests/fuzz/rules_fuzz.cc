// Fuzz target for the rule-set parser (PUT /v1/rules, `otinish rules check`): any bytes give a rule set or
// diagnostics (in UTF-8), never a crash, a hang or an exception; a rule set that parsed prints canonically and
// lints.
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
  if (auto rs = parse_rule_set(text, "fuzz.yaml", &diags)) {
    (void)canonical_text(*rs);
    (void)lint(*rs, nullptr);
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
