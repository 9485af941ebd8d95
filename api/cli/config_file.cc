// A command's flags from a YAML file: api/cli/config_file.h.
#include "api/cli/config_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include "rules/yaml_support.h"

namespace otinish::cli {

namespace {

// The command's option whose long name is `name`, or null; --help and the file's own option are not keys.
CLI::Option* option_named(CLI::App& command, const std::string& name, const std::string& skip) {
  if (name == "help" || name == skip) return nullptr;
  for (CLI::Option* o : command.get_options()) {
    for (const std::string& lname : o->get_lnames()) {
      if (lname == name) return o;
    }
  }
  return nullptr;
}

std::vector<std::string> key_names(CLI::App& command, const std::string& skip) {
  std::vector<std::string> names;
  for (CLI::Option* o : command.get_options()) {
    for (const std::string& lname : o->get_lnames()) {
      if (lname != "help" && lname != skip) names.push_back(lname);
    }
  }
  return names;
}

}  // namespace

std::vector<rules::Diagnostic> apply_config_file(CLI::App& command, const std::string& path,
                                                 const std::string& skip) {
  std::vector<rules::Diagnostic> out;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out.push_back({rules::Severity::kError, {path, 0, 0}, "unreadable",
                   std::string("cannot read the configuration file: ") + std::strerror(errno)});
    return out;
  }
  std::stringstream text;
  text << in.rdbuf();
  rules::internal::YamlReader yaml(path, &out);
  const std::optional<YAML::Node> doc = yaml.load(text.str());
  if (!doc || doc->IsNull()) return out;  // a syntax error is reported; an empty file sets nothing
  if (!yaml.expect_map(*doc, "the configuration")) return out;

  const std::string command_name = "otinish " + command.get_name();
  const std::vector<std::string> names = key_names(command, skip);
  const std::vector<std::string_view> candidates(names.begin(), names.end());
  // What the command line gave, before the file adds anything; and where the file named each key first.
  std::set<const CLI::Option*> on_command_line;
  for (const CLI::Option* o : command.get_options()) {
    if (o->count() > 0) on_command_line.insert(o);
  }
  std::map<std::string, rules::SourceLocation> seen;
  for (const auto& entry : *doc) {
    const YAML::Node& key = entry.first;
    const YAML::Node& value = entry.second;
    const std::optional<std::string> name = yaml.scalar(key, "a key");
    if (!name) continue;
    CLI::Option* option = option_named(command, *name, skip);
    if (option == nullptr) {
      std::string message = "unknown key '" + *name + "': the keys are the flags of `" + command_name +
                            " --help` without their dashes";
      if (const std::string near = rules::closest_word(*name, candidates); !near.empty()) {
        message += "; did you mean '" + near + "'?";
      }
      yaml.error(key, "unknown-key", std::move(message));
      continue;
    }
    if (const auto [first, fresh] = seen.emplace(*name, yaml.at(key)); !fresh) {
      yaml.error(key, "duplicate-key", "key '" + *name + "' is given twice (first at line " +
                                           std::to_string(first->second.line) + ")");
      continue;
    }
    if (on_command_line.contains(option)) continue;  // the command line wins

    const std::string flag = "--" + *name;
    std::vector<std::string> values;
    if (option->get_expected_max() == 0) {  // a flag without a value: on or off
      const std::optional<bool> on = yaml.boolean(value, flag);
      if (!on) continue;
      values.push_back(*on ? "true" : "false");
    } else if (value.IsSequence()) {
      if (option->get_expected_max() <= 1) {
        yaml.error(value, "not-a-list", flag + " takes one value, not a list");
        continue;
      }
      values = yaml.scalar_list(value, flag);
    } else {
      const std::optional<std::string> one = yaml.scalar(value, flag);
      if (!one) continue;
      values.push_back(*one);
    }
    try {
      for (std::string& v : values) option->add_result(std::move(v));
      option->run_callback();
    } catch (const CLI::Error& e) {
      option->clear();
      yaml.error(value, "invalid-value", flag + ": " + e.what());
    }
  }
  return out;
}

}  // namespace otinish::cli
