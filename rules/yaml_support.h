// rules/yaml_support.h (internal): reading YAML nodes while collecting diagnostics with file:line:column.
// yaml-cpp exceptions stop here; callers see diagnostics only.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <date/date.h>
#include <yaml-cpp/yaml.h>

#include "rules/diagnostics.h"

namespace otinish::rules::internal {

class YamlReader {
 public:
  YamlReader(std::string file, std::vector<Diagnostic>* out) : file_(std::move(file)), out_(out) {}

  // Parses a whole document; reports a syntax error and returns nullopt on failure.
  std::optional<YAML::Node> load(std::string_view text);

  SourceLocation at(const YAML::Node& node) const;
  void error(const YAML::Node& node, std::string code, std::string message);
  void warning(const YAML::Node& node, std::string code, std::string message);
  bool failed() const noexcept { return errors_ > 0; }
  const std::string& file() const noexcept { return file_; }

  // Reports every key of the map `node` that is not in `allowed`, naming the allowed keys and the closest.
  void check_keys(const YAML::Node& node, std::string_view where, std::initializer_list<std::string_view> allowed);
  // Reports a missing key; returns the child (possibly undefined).
  YAML::Node required(const YAML::Node& map, std::string_view key, std::string_view where);

  bool expect_map(const YAML::Node& node, std::string_view what);
  bool expect_sequence(const YAML::Node& node, std::string_view what);
  std::optional<std::string> scalar(const YAML::Node& node, std::string_view what);
  std::optional<bool> boolean(const YAML::Node& node, std::string_view what);
  std::optional<int> integer(const YAML::Node& node, std::string_view what, int min, int max);
  // A scalar or a sequence of scalars, as a list.
  std::vector<std::string> scalar_list(const YAML::Node& node, std::string_view what);
  // "2025-01-05"
  std::optional<date::year_month_day> date(const YAML::Node& node, std::string_view what);

 private:
  std::string file_;
  std::vector<Diagnostic>* out_;
  int errors_ = 0;
};

// True for lower_snake_case identifiers with dots and dashes allowed inside ("utilities.water", "head-of-dept").
bool is_identifier(std::string_view s) noexcept;

}  // namespace otinish::rules::internal
