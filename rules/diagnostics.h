// rules/diagnostics.h: findings about a YAML rule or calendar file, each with file:line:column.
//
// Validation collects every finding instead of stopping at the first, so an admin fixes a file in one pass.
// Errors make a file unusable (nothing is loaded); warnings are lint findings that leave it usable.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace otinish::rules {

enum class Severity { kError, kWarning };

// A position in a source file; line and column are 1-based (0 means unknown).
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
};

struct Diagnostic {
  Severity severity = Severity::kError;
  SourceLocation where;
  std::string code;     // stable kebab-case id, e.g. "unknown-key", "shadowed-rule"
  std::string message;  // what is wrong and what to do
};

// "city.yaml:12:7: error: unknown key 'trget' [unknown-key]..." in the compiler style editors understand.
std::string format_diagnostic(const Diagnostic& d);

// True if any diagnostic is an error.
bool has_errors(std::span<const Diagnostic> diagnostics) noexcept;

// Sorts by file, line, column, then severity (stable), so output is deterministic.
void sort_diagnostics(std::vector<Diagnostic>& diagnostics);

// The candidate closest to `word` by edit distance, or "" if none is reasonably close.
std::string closest_word(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace otinish::rules
