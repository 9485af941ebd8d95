// `otinish serve`: the HTTP server on a data directory, until SIGTERM or SIGINT.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "api/cli/commands.h"
#include "api/cli/config_file.h"
#include "api/cli/service_notify.h"
#include "api/http/client.h"
#include "api/http/node.h"

namespace otinish::cli {

namespace {

// glibc's allocator keeps what the server frees in its per-thread arenas, and gives little of it back: under a
// long burst the resident set grew by about 140 bytes a registration while the memory in use stayed level
// (malloc_stats, bench/README.md "memory"). malloc_trim(0) hands the free pages of every arena back to the
// system. It runs on its own thread, every `every`, for the server's whole life; a trim takes milliseconds.
class MemoryTrimmer {
 public:
  explicit MemoryTrimmer(std::chrono::seconds every) {
    if (every.count() <= 0) return;
    thread_ = std::jthread([this, every](std::stop_token stop) {
      std::unique_lock lock(mu_);
      while (!cv_.wait_for(lock, stop, every, [] { return false; }) && !stop.stop_requested()) {
        malloc_trim(0);
      }
    });
  }

 private:
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::jthread thread_;  // last: stopped and joined before the members it uses are destroyed
};

struct ServeArgs {
  std::string config;
  std::string data = ".";
  std::string store;
  int store_replicas = 3;
  std::string listen = "127.0.0.1:8109";
  int io_threads = 2;
  int workers = 64;
  std::size_t max_connections = 1024;
  std::size_t max_body_bytes = 1 << 20;
  int grace_ms = 10'000;
  bool no_access_log = false;
  std::uint64_t max_sla_lag = api::NodeOptions{}.max_sla_lag;
  int sla_workers = api::NodeOptions{}.sla_workers;
  bool no_views = false;
  std::string catalogue;
  std::vector<std::string> calendars;
  std::string rules;
  std::string kek;
  bool plain_personal_data = false;
  bool new_key_store = false;
  std::string checkpoint_key;
  std::string checkpoint_origin;
  int checkpoint_every_s = 60;
  std::string backup_dir;
  int malloc_trim_every_s = 30;
  std::string open311_centre = "SHY";
  std::uint32_t max_auth_failures = api::AuthThrottleOptions{}.max_failures;
  std::int64_t auth_failure_window_s = api::AuthThrottleOptions{}.window.count();
};

bool split_listen(const std::string& listen, std::string* host, std::uint16_t* port) {
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = listen.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  try {
    const int p = std::stoi(listen.substr(colon + 1));
    if (p < 0 || p > 65535) return false;
    *port = static_cast<std::uint16_t>(p);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

void serve(const ServeArgs& a, Context& ctx) {
  api::NodeOptions o;
  o.data_dir = a.data;
  if (!a.store.empty()) {
    if (!a.store.starts_with("nats://")) {
      ctx.err << "otinish serve: --store takes the NATS servers of a JetStream cluster, "
                 "nats://HOST:PORT,nats://HOST:PORT,... (without it the log is DIR/log)\n";
      ctx.exit_code = 2;
      return;
    }
    o.store_urls = a.store;
    o.jetstream.replicas = a.store_replicas;
  }
  if (!split_listen(a.listen, &o.server.listen_host, &o.server.listen_port)) {
    ctx.err << "otinish serve: --listen must be HOST:PORT, e.g. 127.0.0.1:8109 (port 0 picks a free one)\n";
    ctx.exit_code = 2;
    return;
  }
  o.server.io_threads = a.io_threads;
  o.server.worker_threads = a.workers;
  o.server.max_connections = a.max_connections;
  o.server.max_body_bytes = a.max_body_bytes;
  o.service.access_log = !a.no_access_log;
  o.max_sla_lag = a.max_sla_lag;
  o.sla_workers = a.sla_workers;
  o.views = !a.no_views;
  o.catalogue_dir = a.catalogue;
  o.calendar_files = a.calendars;
  o.rules_file = a.rules;
  o.service.open311_centre = a.open311_centre;
  o.service.auth_throttle.max_failures = a.max_auth_failures;
  o.service.auth_throttle.window = std::chrono::seconds(a.auth_failure_window_s);
  o.log = &std::cerr;
  if (a.plain_personal_data) {
    o.personal_data.plain = true;
  } else {
    auto kek = kek_from_option(a.kek, a.data, ctx, "serve");
    if (!kek) return;
    o.personal_data.kek = std::move(kek);
  }
  o.personal_data.create_key_store = a.new_key_store;
  // Checkpoints: signed when a key is given (or found in the default places); without one, said loudly.
  if (auto signer = engine::proof::load_signer(a.checkpoint_key, a.data); signer.ok()) {
    o.checkpoints.signer = std::move(signer).value();
  } else if (!a.checkpoint_key.empty() || signer.status().code() != StatusCode::kNotFound) {
    ctx.err << "otinish serve: " << signer.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  } else {
    ctx.err << "otinish serve: WARNING: checkpoints are not signed (" << signer.status().message()
            << "); an auditor cannot hold this log to its past\n";
  }
  o.checkpoints.origin = a.checkpoint_origin;
  if (a.checkpoint_every_s <= 0) {
    ctx.err << "otinish serve: --checkpoint-every must be a positive number of seconds\n";
    ctx.exit_code = 2;
    return;
  }
  o.checkpoints.interval = std::chrono::seconds(a.checkpoint_every_s);
  o.backup_dir = a.backup_dir;
  if (a.malloc_trim_every_s < 0) {
    ctx.err << "otinish serve: --malloc-trim-every must be 0 (off) or a positive number of seconds\n";
    ctx.exit_code = 2;
    return;
  }

  // SIGTERM and SIGINT are taken by sigwait below: block them before any thread starts, so every thread
  // inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto node = api::Node::open(o);
  if (!node.ok()) {
    ctx.err << "otinish serve: " << node.status().ToString() << "\n";
    const bool key_problem = node.status().code() == StatusCode::kFailedPrecondition &&
                             node.status().message().find("key") != std::string::npos;
    ctx.exit_code = key_problem ? kKekExitCode : 1;
    return;
  }
  if (Status s = (*node)->start(); !s.ok()) {
    ctx.err << "otinish serve: " << s.ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  const std::uint16_t port = (*node)->port();
  const std::string address = "http://" + o.server.listen_host + ":" + std::to_string(port);
  ctx.out << "listening on " << address << std::endl;
  // Under systemd: ready now, and alive for as long as the server answers its own /healthz.
  std::string probe_host = o.server.listen_host;
  if (probe_host == "0.0.0.0") probe_host = "127.0.0.1";
  if (probe_host == "::") probe_host = "::1";
  ServiceNotifier notifier;
  notifier.ready("listening on " + address, [probe_host, port] {
    api::HttpClient client(probe_host, port, std::chrono::seconds(5));
    auto answer = client.request("GET", "/healthz", {}, {{"User-Agent", std::string(api::kWatchdogUserAgent)}});
    return answer.ok() && answer->status == 200;
  });
  MemoryTrimmer trimmer{std::chrono::seconds(a.malloc_trim_every_s)};
  int sig = 0;
  sigwait(&signals, &sig);
  notifier.stopping();
  (*node)->shutdown(std::chrono::milliseconds(a.grace_ms));
  ctx.exit_code = 0;
}

}  // namespace

void add_serve_commands(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "Run the HTTP API on a data directory until SIGTERM");
  cmd->add_option("--config", args->config,
                  "YAML file whose keys are these flags without their dashes (flags given here win; "
                  "examples/config/otinish.yaml lists every key)");
  cmd->add_option("--data", args->data, "Data directory: DIR/log, DIR/views, DIR/sla, DIR/tokens.jsonl")->capture_default_str();
  cmd->add_option("--store", args->store,
                  "The log on a NATS JetStream cluster instead of DIR/log, and the applicants' keys in a bucket "
                  "there instead of DIR/keys (shared by every node): nats://HOST:PORT,nats://HOST:PORT,... "
                  "(docs/jetstream.md)");
  cmd->add_option("--store-replicas", args->store_replicas,
                  "Copies the JetStream cluster keeps of the log (1 on a single server)")->capture_default_str();
  cmd->add_option("--listen", args->listen, "HOST:PORT to listen on (port 0: any free port)")->capture_default_str();
  cmd->add_option("--io-threads", args->io_threads, "Threads for sockets")->capture_default_str();
  cmd->add_option("--workers", args->workers, "Threads running requests (none waits there for an fsync: registrations and commands are answered from their completion)")->capture_default_str();
  cmd->add_option("--max-connections", args->max_connections, "Connections at once (503 above)")->capture_default_str();
  cmd->add_option("--max-body-bytes", args->max_body_bytes, "Largest request body (413 above)")->capture_default_str();
  cmd->add_option("--grace-ms", args->grace_ms, "On SIGTERM: time for in-flight requests")->capture_default_str();
  cmd->add_flag("--no-access-log", args->no_access_log, "Do not log one JSON line per request");
  cmd->add_option("--max-sla-lag", args->max_sla_lag,
                  "Registrations and commands wait (up to 5 s) while the SLA service is more than this many log "
                  "events behind; 0: never")
      ->capture_default_str();
  cmd->add_option("--sla-workers", args->sla_workers,
                  "Threads that decide appeals' deadlines; each decision waits for its append, so several share "
                  "the log's group commit")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--max-auth-failures", args->max_auth_failures,
                  "Invalid tokens one address may present per window before it is refused (429); 0: no limit")
      ->capture_default_str();
  cmd->add_option("--auth-failure-window", args->auth_failure_window_s,
                  "Seconds the failures are counted, and a refused address waits after its last one")
      ->check(CLI::Range(1, 86'400))
      ->capture_default_str();
  cmd->add_flag("--no-views", args->no_views, "Do not run projections (lists, scorecards, feed answer 503)");
  cmd->add_option("--catalogue", args->catalogue,
                  "Folder with topics.yaml and agencies.yaml: topics are checked, dangerous ones made critical");
  cmd->add_option("--calendar", args->calendars,
                  "Calendar YAML to publish at start unless already in force (repeatable; parents first)");
  cmd->add_option("--rules", args->rules, "Rule set YAML to publish at start (after the calendars) unless in force");
  cmd->add_option("--open311-centre", args->open311_centre,
                  "Centre code of appeals registered through Open311 without a jurisdiction_id (docs/open311.md)")
      ->capture_default_str();
  cmd->add_option("--kek", args->kek,
                  "Key-encryption key of the applicants' data keys: file:PATH, env:NAME or credential:NAME "
                  "(default: the systemd credential otinish-kek, then $OTINISH_KEK)");
  cmd->add_flag("--plain-personal-data", args->plain_personal_data,
                "Store applicants in plain text, without a key (tests only: nothing can be erased)");
  cmd->add_flag("--new-key-store", args->new_key_store,
                "Create DIR/keys although the log holds events (first sealed start of a plain log)");
  cmd->add_option("--checkpoint-key", args->checkpoint_key,
                  "Signing key of the log's checkpoints: file:PATH, env:NAME or credential:NAME (default: the "
                  "systemd credential otinish-checkpoint-key, then $OTINISH_CHECKPOINT_KEY; none: not signed, "
                  "with a warning)");
  cmd->add_option("--checkpoint-origin", args->checkpoint_origin, "The checkpoints' origin (default: the key's name)");
  cmd->add_option("--checkpoint-every", args->checkpoint_every_s,
                  "Seconds between checkpoints while the log grows (one more at shutdown)")->capture_default_str();
  cmd->add_option("--backup-dir", args->backup_dir,
                  "Where POST /v1/backups and `otinish backup --server` may write backups (none: off)");
  cmd->add_option("--malloc-trim-every", args->malloc_trim_every_s,
                  "Seconds between handing the allocator's free memory back to the system (0: never)")
      ->capture_default_str();
  cmd->footer(
      "Example: otinish serve --data /var/lib/otinish --listen 127.0.0.1:8109 --kek file:/etc/otinish/kek\n"
      "Example: otinish serve --config /etc/otinish/otinish.yaml --listen 127.0.0.1:9000\n"
      "Example: otinish serve --data /var/lib/otinish --catalogue examples/catalogue \\\n"
      "           --calendar examples/calendars/kz.yaml --calendar examples/calendars/shymkent.yaml \\\n"
      "           --calendar examples/calendars/round-the-clock.yaml --rules examples/rules/city.yaml\n"
      "Runs the SLA service (timers in DIR/sla). A calendar or rule set whose content hash equals the one in\n"
      "force is not published again, so a restart with the same flags changes nothing.\n"
      "Prints 'listening on http://HOST:PORT' on stdout, logs JSON lines on stderr. SIGTERM stops accepting,\n"
      "finishes requests in flight and exits 0. Exit 1 if the data directory, the catalogue or a file to publish\n"
      "cannot be loaded, 2 on bad arguments or a --config file with errors (each at file:line:column), 3 if the\n"
      "key-encryption key is missing, unreadable or not the one DIR/keys was written with (the message names\n"
      "where it looked); it never falls back to plain text.");
  cmd->callback([args, cmd, &ctx] {
    if (!args->config.empty()) {
      const std::vector<rules::Diagnostic> findings = apply_config_file(*cmd, args->config);
      for (const rules::Diagnostic& d : findings) ctx.err << rules::format_diagnostic(d) << "\n";
      if (rules::has_errors(findings)) {
        ctx.err << "otinish serve: " << args->config << " is not a valid configuration; nothing was started\n";
        ctx.exit_code = 2;
        return;
      }
    }
    serve(*args, ctx);
  });
}

}  // namespace otinish::cli
