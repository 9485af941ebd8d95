// tests/api/test_node.h: a real otinish server on a free loopback port, with a token per role, and helpers to
// talk HTTP to it.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include <boost/json.hpp>

#include "api/http/auth.h"
#include "api/http/client.h"
#include "api/http/node.h"

namespace otinish::api::testing {

inline std::string make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "otinish-api-XXXXXX").string();
  char* d = ::mkdtemp(tmpl.data());
  EXPECT_NE(d, nullptr);
  return tmpl;
}

// The agency the agency token belongs to.
inline constexpr const char* kAgency = "city-lifts";

// The source tree (ctest sets OTINISH_SOURCE_DIR), for the examples' calendars, rules and catalogue.
inline std::string source_dir() {
  const char* d = std::getenv("OTINISH_SOURCE_DIR");
  return d ? d : ".";
}

// What a TestNode publishes and loads at start, through NodeOptions as `otinish serve` does. The default is a
// bare node: no publications (the log starts empty), no catalogue (topics unchecked).
struct TestNodeSetup {
  // Publish examples/calendars (kz, shymkent, round-the-clock): log positions 1..3.
  bool calendars = false;
  // Also publish examples/rules/city.yaml (position 4): the SLA service then binds every appeal.
  bool city_rules = false;
  // Load examples/catalogue: topics are checked, dangerous topics known.
  bool catalogue = false;
  // The node's clock (events, SLA timers, /healthz); the system clock when null. Must outlive the node.
  const Clock* clock = nullptr;
  // Store applicants in plain text instead of sealing them (the default is sealed, with a test key).
  bool plain_personal_data = false;
  // Sign checkpoints with a fixed test key (test_checkpoint_signer()) every 20 ms.
  bool checkpoints = false;
  // The log's file system and how soon it retries after a disk failure (tests/store/fault_fs.h).
  std::shared_ptr<rocksdb::FileSystem> file_system;
  std::chrono::milliseconds store_recovery_interval{1000};
  // Run the projections; off: lists, scorecards and the public feed answer 503 views-unavailable.
  bool views = true;
  // Where the node's structured log goes (null: nowhere); must outlive the node.
  std::ostream* log = nullptr;
  // Write the access log (one line per request) to `log`.
  bool access_log = false;
  // The limit on failed authentications per address (all of a test's clients are 127.0.0.1).
  AuthThrottleOptions auth_throttle;
  // Where POST /v1/backups may write (empty: off).
  std::string backup_dir;
  // The server's worker threads (the handlers' threads).
  int worker_threads = 8;
  // The log on a NATS JetStream cluster (NodeOptions::store_urls) instead of DIR/log; empty: DIR/log.
  std::string store_urls;
  store::JetStreamOptions jetstream;
};

// The signing key of TestNodeSetup::checkpoints: a fixed seed, never a real key.
inline engine::proof::NoteSigner test_checkpoint_signer() {
  return *engine::proof::NoteSigner::parse(
      "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz");
}

// The key-encryption key a sealed TestNode is given: a fixed test key, never a real one.
inline engine::privacy::KeyEncryptionKey test_node_kek() {
  return *engine::privacy::kek_from_hex(std::string(64, '7'), "test key-encryption key");
}

class TestNode {
 public:
  explicit TestNode(std::string dir = make_temp_dir(), ServerOptions server = {}, TestNodeSetup setup = {})
      : dir_(std::move(dir)), setup_(setup) {
    server.listen_host = "127.0.0.1";
    server.listen_port = 0;
    server.worker_threads = setup.worker_threads;
    server_options_ = server;
    open();
    // A node that did not open has failed the test already (open() asserts); a test checks HasFatalFailure()
    // before using it.
    if (!node_) return;
    for (Role r : kAllRoles) {
      auto c = node_->tokens().create(r, r == Role::kAgency ? kAgency : "", "test");
      EXPECT_TRUE(c.ok()) << c.status().ToString();
      tokens_[r] = c->token;
    }
  }
  ~TestNode() {
    node_.reset();
    std::error_code ec;
    if (!keep_dir_) std::filesystem::remove_all(dir_, ec);
  }

  // Stops the server (gracefully) and starts a new one on the same directory (a new port).
  void restart() {
    node_.reset();
    open();
  }
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5)) { node_->shutdown(grace); }
  void keep_dir() { keep_dir_ = true; }

  std::uint16_t port() const { return node_->port(); }
  Node& node() { return *node_; }
  const std::string& dir() const { return dir_; }
  const std::string& token(Role r) { return tokens_[r]; }
  HeaderList auth(Role r) { return {{"Authorization", "Bearer " + tokens_[r]}}; }

  ClientResponse call(std::string_view method, std::string_view target, std::string_view body = {},
                      HeaderList headers = {}) {
    HttpClient client("127.0.0.1", port());
    auto r = client.request(method, target, body, headers);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ClientResponse{};
  }
  ClientResponse as(Role role, std::string_view method, std::string_view target, std::string_view body = {},
                    HeaderList extra = {}) {
    HeaderList h = auth(role);
    h.insert(h.end(), extra.begin(), extra.end());
    return call(method, target, body, h);
  }

  // Registers an appeal as the operator; returns its id.
  std::string register_appeal(std::string_view category = "complaint", std::string_view topic = "lifts.stuck") {
    const std::string body = std::string("{\"centre\":\"SHY\",\"category\":\"") + std::string(category) +
                             "\",\"topic\":\"" + std::string(topic) +
                             "\",\"channel\":\"phone\",\"location\":{\"district\":\"Abay\",\"street\":\"Tauke khan\"},"
                             "\"text\":\"the lift is stuck\",\"applicant\":{\"name\":\"Aigerim\",\"phone\":\"+7 700 123 4567\","
                             "\"address\":\"Tauke khan 5, flat 12\"}}";
    ClientResponse r = as(Role::kOperator, "POST", "/v1/appeals", body);
    EXPECT_EQ(r.status, 201) << r.body;
    return json(r).at("id").as_string().c_str();
  }

  // Runs a command with If-Match set to the appeal's current version.
  ClientResponse command(Role role, const std::string& id, std::string_view command, std::string_view body = "{}") {
    ClientResponse cur = as(Role::kAuditor, "GET", "/v1/appeals/" + id);
    return as(role, "POST", "/v1/appeals/" + id + "/" + std::string(command), body, {{"If-Match", cur.header("etag")}});
  }

  // An appeal assigned to kAgency.
  std::string assigned_appeal() {
    const std::string id = register_appeal();
    EXPECT_EQ(command(Role::kOperator, id, "send_for_review").status, 200);
    ClientResponse r = command(Role::kInspector, id, "assign", std::string("{\"agency\":\"") + kAgency + "\"}");
    EXPECT_EQ(r.status, 200) << r.body;
    return id;
  }

  static boost::json::value json(const ClientResponse& r) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(r.body, ec);
    EXPECT_FALSE(ec) << "not JSON: " << r.body;
    return v;
  }

 private:
  void open() {
    NodeOptions o;
    o.data_dir = dir_;
    o.server = server_options_;
    o.service.access_log = setup_.access_log;
    o.views = setup_.views;
    o.log = setup_.log;
    o.service.auth_throttle = setup_.auth_throttle;
    o.backup_dir = setup_.backup_dir;
    if (setup_.calendars || setup_.city_rules) {
      for (const char* f : {"kz.yaml", "shymkent.yaml", "round-the-clock.yaml"}) {
        o.calendar_files.push_back(source_dir() + "/examples/calendars/" + f);
      }
    }
    if (setup_.city_rules) o.rules_file = source_dir() + "/examples/rules/city.yaml";
    if (setup_.catalogue) o.catalogue_dir = source_dir() + "/examples/catalogue";
    if (setup_.clock != nullptr) o.clock = setup_.clock;
    // Sealed, as `otinish serve` runs: a fixed test key (never a real one), unless a test asks for plain text.
    if (setup_.plain_personal_data) {
      o.personal_data.plain = true;
    } else {
      o.personal_data.kek = test_node_kek();
    }
    o.personal_data.access.flush_every = std::chrono::milliseconds(5);
    o.store.file_system = setup_.file_system;
    o.store_urls = setup_.store_urls;
    o.jetstream = setup_.jetstream;
    o.store.recovery_interval = setup_.store_recovery_interval;
    if (setup_.checkpoints) {
      o.checkpoints.signer = test_checkpoint_signer();
      o.checkpoints.origin = "test.109.kz/log";
      o.checkpoints.interval = std::chrono::milliseconds(20);
    }
    auto n = Node::open(o);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    node_ = std::move(n).value();
    const Status started = node_->start();
    ASSERT_TRUE(started.ok()) << started.ToString();
  }

  std::string dir_;
  TestNodeSetup setup_;
  ServerOptions server_options_;
  std::unique_ptr<Node> node_;
  std::map<Role, std::string> tokens_;
  bool keep_dir_ = false;
};

}  // namespace otinish::api::testing
