// `otinish token create|revoke|list`: API tokens in DIR/tokens.jsonl (api/http/auth.h).
#include <filesystem>
#include <string>

#include "api/cli/commands.h"
#include "api/cli/data_dir.h"
#include "api/http/auth.h"

namespace otinish::cli {

namespace {

struct TokenArgs {
  std::string data = ".";
  std::string role;
  std::string agency;
  std::string label;
  std::string id;
};

Result<std::unique_ptr<api::TokenStore>> open_tokens(const std::string& data) {
  std::error_code ec;
  std::filesystem::create_directories(data, ec);
  if (ec) return Status::IOError("cannot create data directory " + data + ": " + ec.message());
  return api::TokenStore::open(tokens_file(data));
}

}  // namespace

void add_token_commands(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<TokenArgs>();
  CLI::App* token = app.add_subcommand("token", "Create, revoke and list API tokens (stored hashed)");
  token->require_subcommand(1);
  token->footer("Example: otinish token create --data /var/lib/otinish --role operator --label 'desk 1'\n"
                "Exit 2 without a subcommand.");

  CLI::App* create = token->add_subcommand("create", "Create a token and print it once (it is not stored)");
  create->add_option("--data", args->data, "Data directory (tokens in DIR/tokens.jsonl)")->capture_default_str();
  create->add_option("--role", args->role,
                     "operator, inspector, controller, agency, admin, auditor, public, privacy_officer or civic_app")->required();
  create->add_option("--agency", args->agency, "For --role agency: the agency code whose appeals it sees");
  create->add_option("--label", args->label, "Who the token is for (shown by `token list`)");
  create->footer(
      "Example: otinish token create --data /var/lib/otinish --role agency --agency city-roads --label 'desk 4'\n"
      "Prints the token on stdout (use it as 'Authorization: Bearer <token>').\n"
      "Exit 1 if the token file cannot be written, 2 on bad arguments (an unknown role, --agency missing).");
  create->callback([args, &ctx] {
    auto role = api::parse_role(args->role);
    if (!role.ok()) {
      ctx.err << "otinish token create: " << role.status().message() << "\n";
      ctx.exit_code = 2;
      return;
    }
    auto store = open_tokens(args->data);
    if (!store.ok()) {
      ctx.err << "otinish token create: " << store.status().ToString() << "\n";
      ctx.exit_code = 1;
      return;
    }
    auto created = (*store)->create(*role, args->agency, args->label);
    if (!created.ok()) {
      ctx.err << "otinish token create: " << created.status().message() << "\n";
      ctx.exit_code = created.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
      return;
    }
    ctx.out << created->token << "\n";
    ctx.err << "token " << created->record.id << " (" << args->role
            << (args->agency.empty() ? "" : ", agency " + args->agency)
            << ") created; it is shown only now\n";
  });

  CLI::App* revoke = token->add_subcommand("revoke", "Revoke a token by its id (the 16 hex after 'otn_')");
  revoke->add_option("--data", args->data, "Data directory")->capture_default_str();
  revoke->add_option("id", args->id, "Token id")->required();
  revoke->footer("Example: otinish token revoke --data /var/lib/otinish 3fa85f6457174562\n"
                 "A running server refuses the token from its next request. Exit 1 if no such token.");
  revoke->callback([args, &ctx] {
    auto store = open_tokens(args->data);
    Status s = store.ok() ? (*store)->revoke(args->id) : store.status();
    if (!s.ok()) {
      ctx.err << "otinish token revoke: " << s.message() << "\n";
      ctx.exit_code = 1;
      return;
    }
    ctx.out << "revoked " << args->id << "\n";
  });

  CLI::App* list = token->add_subcommand("list", "List tokens (ids, roles, agencies; never the secrets)");
  list->add_option("--data", args->data, "Data directory")->capture_default_str();
  list->footer("Example: otinish token list --data /var/lib/otinish\nExit 1 if the token file cannot be read.");
  list->callback([args, &ctx] {
    auto store = open_tokens(args->data);
    if (!store.ok()) {
      ctx.err << "otinish token list: " << store.status().ToString() << "\n";
      ctx.exit_code = 1;
      return;
    }
    for (const auto& r : (*store)->list()) {
      ctx.out << r.id << "  " << api::to_string(r.role) << (r.agency.empty() ? "" : "/" + r.agency) << "  "
              << format_utc(r.created_at) << (r.revoked ? "  revoked" : "") << (r.label.empty() ? "" : "  " + r.label)
              << "\n";
    }
  });
}

}  // namespace otinish::cli
