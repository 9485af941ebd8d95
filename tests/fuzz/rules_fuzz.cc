// Fuzz target for the rule-set parser (PUT /v1/rules, `otinish rules check`): any bytes give a rule set or
// diagnostics, never a crash, a hang or an exception; a rule set that parsed prints canonically and lints.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "rules/rules.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace otinish::rules;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<Diagnostic> diags;
  if (auto rs = parse_rule_set(text, "fuzz.yaml", &diags)) {
    (void)canonical_text(*rs);
    (void)lint(*rs, nullptr);
  }
  for (const Diagnostic& d : diags) (void)format_diagnostic(d);
  return 0;
}
