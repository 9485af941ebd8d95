// api/cli/commands.h: how the `otinish` command line is put together.
//
// Each area of the command line (rules, later serve, verify, ...) lives in its own file, api/cli/<area>_commands.cc,
// and exposes one function that adds its subcommands to the root CLI11 app. main.cc lists those functions in one
// table; adding an area is a new file plus one line there. Every subcommand has --help with an example (set it with
// `footer`, which also states the exit codes: tests/api/cli_test.cc checks every one). A subcommand's callback
// writes to ctx.out / ctx.err and sets ctx.exit_code (0 ok, 1 findings or failure, 2 usage), so areas can be
// tested without a process.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "engine/privacy/kek.h"
#include "engine/proof/note.h"

namespace otinish::cli {

struct Context {
  std::ostream& out;
  std::ostream& err;
  int exit_code = 0;
};

// Adds one area's subcommands to `app`. REQUIRES: ctx outlives app.run.
using AddCommands = void (*)(CLI::App& app, Context& ctx);

// `otinish rules check|deadline|calendar`: api/cli/rules_commands.cc.
void add_rules_commands(CLI::App& app, Context& ctx);
// `otinish serve`: api/cli/serve_commands.cc.
void add_serve_commands(CLI::App& app, Context& ctx);
// `otinish token create|revoke|list`: api/cli/token_commands.cc.
void add_token_commands(CLI::App& app, Context& ctx);
// `otinish verify|export|import|replay`: api/cli/log_commands.cc.
void add_log_commands(CLI::App& app, Context& ctx);
// `otinish describe lifecycle`: api/cli/describe_commands.cc.
void add_describe_commands(CLI::App& app, Context& ctx);
// `otinish projections rebuild`: api/cli/describe_commands.cc.
void add_projection_commands(CLI::App& app, Context& ctx);
// `otinish load`: api/cli/load_commands.cc.
void add_load_commands(CLI::App& app, Context& ctx);
// `otinish rules simulate`: api/cli/simulate_commands.cc. REQUIRES: add_rules_commands ran first.
void add_simulate_commands(CLI::App& app, Context& ctx);
// `otinish rules publish`: api/cli/publish_commands.cc. REQUIRES: add_rules_commands ran first.
void add_publish_commands(CLI::App& app, Context& ctx);
// `otinish calendar check`: api/cli/rules_commands.cc.
void add_calendar_commands(CLI::App& app, Context& ctx);
// `otinish calendar publish`: api/cli/publish_commands.cc. Called by add_calendar_commands.
void add_calendar_publish_command(CLI::App& calendar, Context& ctx);

// `otinish keys generate|rotate|status`, `otinish applicant erase|find`, `otinish access`:
// api/cli/privacy_commands.cc.
void add_privacy_commands(CLI::App& app, Context& ctx);

// `otinish checkpoint keygen|create|show|verify|cosign`: api/cli/proof_commands.cc.
void add_proof_commands(CLI::App& app, Context& ctx);

// Verifier keys given on the command line, each NAME+HASH+BASE64 or @FILE (as `checkpoint keygen` writes
// FILE.pub): api/cli/proof_commands.cc. Errors: kNotFound (an unreadable file), kInvalidArgument (a bad key).
Result<std::vector<engine::proof::NoteVerifier>> verifier_keys(const std::vector<std::string>& args);

// The exit code of a command that needs the key-encryption key and cannot have it (missing, unreadable, or
// not the key the key store was written with): `otinish serve` and the privacy commands.
inline constexpr int kKekExitCode = 3;

// The KEK named by `spec` (file:PATH, env:NAME, credential:NAME), or the default sources when empty. On failure
// writes why to ctx.err, sets kKekExitCode and returns nullopt.
std::optional<engine::privacy::KeyEncryptionKey> kek_from_option(const std::string& spec, const std::string& data,
                                                                 Context& ctx, std::string_view command);

// `otinish backup`, `otinish restore`: api/cli/backup_commands.cc.
void add_backup_commands(CLI::App& app, Context& ctx);

// `otinish upgrade`: api/cli/upgrade_commands.cc.
void add_upgrade_commands(CLI::App& app, Context& ctx);

// "http://HOST:PORT" (or "HOST:PORT") split; false when it is neither.
bool split_http_url(const std::string& url, std::string* host, std::uint16_t* port);

// Every area above, in order: the whole `otinish` command line (main.cc, and the tests that walk it).
void add_all_commands(CLI::App& app, Context& ctx);

}  // namespace otinish::cli
