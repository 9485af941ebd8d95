// tests/fuzz/fuzz_node.h: one otinish node for the HTTP fuzz targets, opened once per process and kept until
// exit: a fresh data directory (under $TMPDIR), the example calendars, city rules and catalogue, sealed
// applicants, a token per role, and one registered appeal. The targets call its ApiService directly; its
// listener is bound to a loopback port nobody uses.
//
// Inputs name tokens and the appeal with placeholders the node replaces: "TOKEN-<role>" (TOKEN-operator,
// TOKEN-admin, TOKEN-privacy_officer, ...) and "APPEAL-ID".
//
// Also the checks every response must pass: a status an HTTP client understands, never a 500 (a body the
// service could not handle is a bug: every refusal has its own 4xx), and JSON where JSON is announced.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include <boost/json.hpp>

#include "api/http/auth.h"
#include "api/http/node.h"
#include "engine/privacy/kek.h"

#ifndef OTINISH_FUZZ_SOURCE_DIR
#define OTINISH_FUZZ_SOURCE_DIR "."
#endif

namespace otinish::fuzz {

[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "property violated: %s\n", what.c_str());
  std::abort();
}

class FuzzNode {
 public:
  // The node of this process, opened at the first call, shut down and its directory removed at exit. Aborts
  // (with the reason) if it cannot start.
  static FuzzNode& get() {
    static FuzzNode node;
    return node;
  }
  ~FuzzNode() {
    node_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  api::ApiService& service() { return node_->service(); }
  const std::string& appeal_id() const { return appeal_id_; }
  std::string token(api::Role r) const { return tokens_.at(r); }
  api::Node& node() { return *node_; }

  // Serves one request as `role` (its bearer token, a JSON body), with `headers` added (names in lower case).
  api::HttpResponse call(api::Role role, std::string method, std::string target, std::string body = {},
                         const std::map<std::string, std::string>& headers = {}) {
    api::HttpRequest q;
    q.method = std::move(method);
    q.target = q.path = std::move(target);
    q.headers = {headers.begin(), headers.end()};
    q.headers["authorization"] = "Bearer " + tokens_.at(role);
    q.headers.try_emplace("content-type", "application/json");
    q.body = std::move(body);
    q.request_id = "fuzz";
    return service().handle(q);
  }

  // `text` with every placeholder replaced.
  std::string substitute(std::string text) const {
    for (const auto& [role, token] : tokens_) replace_all(text, "TOKEN-" + std::string(api::to_string(role)), token);
    replace_all(text, "APPEAL-ID", appeal_id_);
    return text;
  }

  // Aborts with the request and response if the response breaks the rules above.
  static void check(const api::HttpRequest& q, const api::HttpResponse& r) {
    if (r.status < 100 || r.status > 599 || r.status == 500) {
      fail(q.method + " " + q.target + " answered " + std::to_string(r.status) + ": " + r.body);
    }
    if (r.content_type.find("json") != std::string::npos && !r.body.empty() && !r.stream) {
      boost::system::error_code ec;
      (void)boost::json::parse(r.body, ec);
      if (ec) fail(q.method + " " + q.target + " announced JSON but sent: " + r.body);
    }
  }

 private:
  FuzzNode() {
    const char* env = std::getenv("OTINISH_SOURCE_DIR");
    const std::string src = env ? env : OTINISH_FUZZ_SOURCE_DIR;
    std::string tmpl = (std::filesystem::temp_directory_path() / "otinish-fuzz-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) fail("cannot make a data directory under " + tmpl);
    dir_ = tmpl;
    api::NodeOptions o;
    o.data_dir = dir_;
    o.server.listen_host = "127.0.0.1";
    o.server.listen_port = 0;
    o.server.io_threads = 1;
    o.server.worker_threads = 2;
    o.service.access_log = false;
    for (const char* f : {"kz.yaml", "shymkent.yaml", "round-the-clock.yaml"}) {
      o.calendar_files.push_back(src + "/examples/calendars/" + f);
    }
    o.rules_file = src + "/examples/rules/city.yaml";
    o.catalogue_dir = src + "/examples/catalogue";
    o.personal_data.kek = *engine::privacy::kek_from_hex(std::string(64, '7'), "fuzz key-encryption key");
    o.personal_data.retention_interval = std::chrono::milliseconds(0);
    auto n = api::Node::open(o);
    if (!n.ok()) fail("cannot open the fuzz node: " + n.status().ToString());
    node_ = std::move(n).value();
    if (Status s = node_->start(); !s.ok()) fail("cannot start the fuzz node: " + s.ToString());
    for (api::Role r : api::kAllRoles) {
      auto c = node_->tokens().create(r, r == api::Role::kAgency ? "city-lifts" : "", "fuzz");
      if (!c.ok()) fail("cannot create a token: " + c.status().ToString());
      tokens_[r] = c->token;
    }
    register_appeal();
  }

  void register_appeal() {
    const api::HttpResponse r = call(
        api::Role::kOperator, "POST", "/v1/appeals",
        R"({"centre":"SHY","category":"complaint","topic":"lifts.operation.not_working","channel":"phone",)"
        R"("location":{"district":"abay","street":"Tauke khan"},"text":"the lift is stuck",)"
        R"("applicant":{"name":"Aigerim","phone":"+7 700 123 4567","address":"Tauke khan 5, flat 12"}})");
    if (r.status != 201) fail("cannot register the fuzz node's appeal: " + r.body);
    appeal_id_ = boost::json::parse(r.body).at("id").as_string().c_str();
  }

  static void replace_all(std::string& s, const std::string& from, const std::string& to) {
    for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
      s.replace(at, from.size(), to);
    }
  }

  std::string dir_;
  std::unique_ptr<api::Node> node_;
  std::map<api::Role, std::string> tokens_;
  std::string appeal_id_;
};

}  // namespace otinish::fuzz
