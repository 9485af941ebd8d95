// `otinish backup` and `otinish restore`: verified backups of a data directory (api/http/backup.h).
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <string>

#include <boost/json.hpp>

#include "api/cli/commands.h"
#include "api/cli/data_dir.h"
#include "api/http/backup.h"
#include "api/http/client.h"
#include "store/rocks_store.h"

namespace otinish::cli {

namespace json = boost::json;
namespace privacy = engine::privacy;

bool split_http_url(const std::string& url, std::string* host, std::uint16_t* port) {
  std::string rest = url;
  if (rest.starts_with("http://")) rest = rest.substr(7);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  try {
    const int p = std::stoi(rest.substr(colon + 1));
    if (p <= 0 || p > 65535) return false;
    *port = static_cast<std::uint16_t>(p);
  } catch (const std::exception&) {
    return false;
  }
  *host = rest.substr(0, colon);
  return true;
}

namespace {

struct BackupArgs {
  std::string to;
  std::string server;
  std::string token;
  std::string data;
  std::string kek;
  std::string from;
};

void print_report(const api::BackupReport& r, Context& ctx) {
  ctx.out << "backup written to " << r.dir << ": " << r.events << " events (head " << to_hex(r.head_hash).substr(0, 16)
          << "…), every one acknowledged before it began (" << r.head_at_start << ") among them; ";
  if (r.key_store) {
    ctx.out << "the key store with " << r.applicants << " applicants; ";
  } else {
    ctx.out << "no key store (plain personal data); ";
  }
  ctx.out << "chain and indexes verified, in " << std::fixed << std::setprecision(2) << r.seconds << " s\n";
}

// While the server runs: it writes the backup itself (it holds the log's lock), where --backup-dir allows.
void backup_online(const BackupArgs& a, Context& ctx) {
  std::string host;
  std::uint16_t port = 0;
  if (!split_http_url(a.server, &host, &port)) {
    ctx.err << "otinish backup: --server must be http://HOST:PORT\n";
    ctx.exit_code = 2;
    return;
  }
  std::string token = a.token;
  if (token.empty()) {
    if (const char* env = std::getenv("OTINISH_TOKEN")) token = env;
  }
  if (token.empty()) {
    ctx.err << "otinish backup: an admin token is needed (--token, or $OTINISH_TOKEN)\n";
    ctx.exit_code = 2;
    return;
  }
  json::object body;
  if (!a.to.empty()) body["to"] = std::filesystem::absolute(a.to).lexically_normal().string();
  api::HttpClient client(host, port, std::chrono::minutes(30));
  auto r = client.request("POST", "/v1/backups", json::serialize(body),
                          {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}});
  if (!r.ok()) {
    ctx.err << "otinish backup: " << r.status().ToString() << " (is the server running at " << a.server << "?)\n";
    ctx.exit_code = 1;
    return;
  }
  if (r->status != 201) {
    ctx.err << "otinish backup: the server answered " << r->status << ": " << r->body << "\n";
    ctx.exit_code = 1;
    return;
  }
  json::error_code ec;
  const json::value answer = json::parse(r->body, ec);
  if (ec || !answer.is_object()) {
    ctx.err << "otinish backup: the server's answer is not JSON: " << r->body << "\n";
    ctx.exit_code = 1;
    return;
  }
  const json::object& o = answer.as_object();
  api::BackupReport report;
  report.dir = json::value_to<std::string>(o.at("dir"));
  report.events = json::value_to<std::uint64_t>(o.at("events"));
  report.head_at_start = json::value_to<std::uint64_t>(o.at("head_at_start"));
  from_hex(json::value_to<std::string>(o.at("head_hash")), report.head_hash);
  report.key_store = o.at("key_store").as_bool();
  report.applicants = json::value_to<std::uint64_t>(o.at("applicants"));
  report.seconds = o.at("seconds").to_number<double>();
  print_report(report, ctx);
}

// With the server stopped: this process opens the data directory itself.
void backup_offline(const BackupArgs& a, Context& ctx) {
  if (a.to.empty()) {
    ctx.err << "otinish backup: --to DIR is needed with --data\n";
    ctx.exit_code = 2;
    return;
  }
  store::StoreOptions o;
  o.create_if_missing = false;
  auto log = store::open_rocks_store(log_dir(a.data), o);
  if (!log.ok()) {
    ctx.err << "otinish backup: " << log.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  std::optional<privacy::KeyEncryptionKey> kek;
  std::unique_ptr<privacy::KeyStore> keys;
  if (privacy::KeyStore::exists(keys_dir(a.data))) {
    kek = kek_from_option(a.kek, a.data, ctx, "backup");
    if (!kek) return;
    auto opened = privacy::KeyStore::open(keys_dir(a.data), *kek, {.create_if_missing = false});
    if (!opened.ok()) {
      ctx.err << "otinish backup: " << opened.status().ToString() << "\n";
      ctx.exit_code = opened.status().code() == StatusCode::kFailedPrecondition ? kKekExitCode : 1;
      return;
    }
    keys = std::move(opened).value();
  }
  auto report = api::write_backup(
      {.log = log->get(), .keys = keys.get(), .kek = kek ? &*kek : nullptr, .data_dir = a.data}, a.to);
  if (!report.ok()) {
    ctx.err << "otinish backup: " << report.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  print_report(*report, ctx);
}

void restore(const BackupArgs& a, Context& ctx) {
  std::optional<privacy::KeyEncryptionKey> kek;
  if (!a.kek.empty() || privacy::KeyStore::exists(a.from + "/keys")) {
    kek = kek_from_option(a.kek, a.data, ctx, "restore");
    if (!kek) return;
  }
  auto r = api::restore_backup(a.from, a.data, kek ? &*kek : nullptr);
  if (!r.ok()) {
    ctx.err << "otinish restore: " << r.status().ToString() << "\n";
    ctx.exit_code = r.status().code() == StatusCode::kFailedPrecondition ? kKekExitCode : 1;
    return;
  }
  ctx.out << "restored " << a.from << " into " << a.data << ": " << r->events << " events (head "
          << to_hex(r->head_hash).substr(0, 16) << "…), chain and indexes verified, as the manifest says; "
          << (r->key_store ? "the key store opens with the key-encryption key" : "no key store")
          << ". The views and the SLA timers are rebuilt from the log when the server starts.\n";
}

}  // namespace

void add_backup_commands(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<BackupArgs>();
  CLI::App* backup = app.add_subcommand("backup", "Write a verified backup of a data directory, while serving or not");
  backup->add_option("--to", args->to, "The new directory for the backup (with --server: inside its --backup-dir; "
                                       "left out: the server names one there)");
  backup->add_option("--server", args->server, "The running server, http://HOST:PORT: it writes the backup");
  backup->add_option("--token", args->token, "An admin token (default: $OTINISH_TOKEN)");
  backup->add_option("--data", args->data, "The data directory, when no server runs on it");
  backup->add_option("--kek", args->kek, "With --data: the key-encryption key (file:PATH, env:NAME, credential:NAME)");
  backup->footer(
      "Example: otinish backup --server http://127.0.0.1:8109 --to /var/backups/otinish/2026-12-05\n"
      "Example: otinish backup --data /var/lib/otinish --kek file:/etc/otinish/kek --to /mnt/backup/otinish\n"
      "The backup holds the log, the applicants' keys, the API tokens and the signed checkpoints, and a\n"
      "backup.json written last, once the copy of the log verified (chain and indexes) and the copy of the keys\n"
      "opened. Every event acknowledged before it began is in it. Exit 0 written and verified, 1 failed (nothing\n"
      "is left in --to), 2 usage, 3 the key-encryption key is missing or wrong.");
  backup->callback([args, &ctx] {
    if (args->server.empty() == args->data.empty()) {
      ctx.err << "otinish backup: give either --server (a running server writes it) or --data (no server runs)\n";
      ctx.exit_code = 2;
    } else if (!args->server.empty()) {
      backup_online(*args, ctx);
    } else {
      backup_offline(*args, ctx);
    }
  });

  CLI::App* restore_cmd = app.add_subcommand("restore", "Restore a backup into a new data directory, verified");
  restore_cmd->add_option("--from", args->from, "The backup's directory (with its backup.json)")->required();
  restore_cmd->add_option("--data", args->data, "The data directory to create (new or empty)")->required();
  restore_cmd->add_option("--kek", args->kek, "The key-encryption key, to check that the keys open (default: as serve)");
  restore_cmd->footer(
      "Example: otinish restore --from /var/backups/otinish/2026-12-05 --data /var/lib/otinish\n"
      "Copies the backup beside --data, verifies the copied log (chain and indexes) against the backup's\n"
      "manifest and the keys against the key-encryption key, then renames it into place: an interrupted restore\n"
      "leaves nothing half-restored. Start the server on it as before; it rebuilds its views and SLA timers.\n"
      "Exit 0 restored, 1 failed (not a backup, --data not empty, a copy that does not verify), 2 usage, 3 the\n"
      "key-encryption key is missing or wrong.");
  restore_cmd->callback([args, &ctx] { restore(*args, ctx); });
}

}  // namespace otinish::cli
