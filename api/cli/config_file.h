// api/cli/config_file.h: a command's flags read from a YAML file (`otinish serve --config FILE`).
//
// Every long flag of the command is a key, spelled without its dashes:
//   listen: 127.0.0.1:8109
//   calendar: [kz.yaml, shymkent.yaml]     # a flag that may be repeated takes a list (or one value)
//   no-access-log: true                    # a flag without a value takes true or false
// A flag given on the command line wins over the file. Every finding is reported at once, at the file's
// line:column in the rules' diagnostic format: an unknown key (with the closest flag), a list for a flag that
// takes one value, a value the flag refuses (not a number, out of its range), YAML that does not parse.
// The complete example is examples/config/otinish.yaml, installed as /etc/otinish/otinish.yaml by the package.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "rules/diagnostics.h"

namespace otinish::cli {

// Sets each option of `command` that its command line left unset from the YAML map in `path`; the option
// named `skip` (the one that names the file) is not a key. Returns the findings; no errors among them means
// the file was applied (a key whose value was refused leaves that option as it was). REQUIRES: `command` was
// parsed (call it from the command's callback).
std::vector<rules::Diagnostic> apply_config_file(CLI::App& command, const std::string& path,
                                                 const std::string& skip = "config");

}  // namespace otinish::cli
