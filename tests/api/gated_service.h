// tests/api/gated_service.h: an ApiService called directly (no sockets) over views a test can hold back, for
// the answers that only a slow or busy server gives: views behind the log, a rebuild still running.
//
// GatedViews wraps the real projection runner and changes two things at the test's word: wait_for() can be
// made to time out at once (the views are "behind"), and rebuild() can be held until the test releases it.
#pragma once

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "api/http/auth.h"
#include "api/http/service.h"
#include "engine/engine.h"
#include "engine/projection.h"
#include "engine/rule_registry.h"
#include "engine/views.h"
#include "store/rocks_store.h"
#include "tests/api/test_node.h"

namespace otinish::api::testing {

using HeaderMap = std::map<std::string, std::string, std::less<>>;

class GatedViews final : public engine::ProjectionRunner {
 public:
  explicit GatedViews(std::unique_ptr<engine::ProjectionRunner> inner) : inner_(std::move(inner)) {}

  // While set, wait_for() answers false at once, as when the views have not caught up within its timeout.
  void fall_behind(bool behind) {
    std::lock_guard lock(mu_);
    behind_ = behind;
  }
  // Rebuilds started from now on wait (inside rebuild()) until release_rebuilds().
  void hold_rebuilds() {
    std::lock_guard lock(mu_);
    held_ = true;
  }
  void release_rebuilds() {
    {
      std::lock_guard lock(mu_);
      held_ = false;
    }
    cv_.notify_all();
  }
  // Blocks until `n` rebuilds have been entered in all (held or not).
  void wait_until_rebuilds_entered(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return rebuilds_ >= n; });
  }
  int rebuilds() const {
    std::lock_guard lock(mu_);
    return rebuilds_;
  }

  Status start() override { return inner_->start(); }
  void stop() override { inner_->stop(); }
  Status status() const override { return inner_->status(); }
  bool wait_for(std::uint64_t position, std::chrono::milliseconds timeout) const override {
    {
      std::lock_guard lock(mu_);
      if (behind_) return false;
    }
    return inner_->wait_for(position, timeout);
  }
  Status catch_up(Timestamp as_of) override { return inner_->catch_up(as_of); }
  using engine::ProjectionRunner::rebuild;
  Result<engine::RebuildReport> rebuild(std::string_view name, const engine::RebuildProgress& progress) override {
    {
      std::unique_lock lock(mu_);
      ++rebuilds_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !held_; });
    }
    return inner_->rebuild(name, progress);
  }
  Result<std::unique_ptr<engine::ViewReader>> reader(std::string_view name) const override {
    return inner_->reader(name);
  }
  std::uint64_t checkpoint() const override { return inner_->checkpoint(); }

 private:
  std::unique_ptr<engine::ProjectionRunner> inner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool behind_ = false;  // GUARDED_BY(mu_)
  bool held_ = false;    // GUARDED_BY(mu_)
  int rebuilds_ = 0;     // GUARDED_BY(mu_)
};

// The parts of a server that a service needs, in a fresh directory, with an admin and an operator token.
class GatedService {
 public:
  GatedService() : dir_(make_temp_dir()) {
    auto st = store::open_rocks_store(dir_ + "/log", {}, SystemClock::instance());
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    store_ = std::move(st).value();
    auto tokens = TokenStore::open(dir_ + "/tokens.jsonl");
    EXPECT_TRUE(tokens.ok()) << tokens.status().ToString();
    tokens_ = std::move(tokens).value();
    auto runner = engine::ProjectionRunner::open(*store_, dir_ + "/views", engine::standard_projections());
    EXPECT_TRUE(runner.ok()) << runner.status().ToString();
    views_ = std::make_unique<GatedViews>(std::move(runner).value());
    EXPECT_TRUE(views_->start().ok());
    registry_ = std::make_unique<engine::RuleRegistry>(*store_);
    EXPECT_TRUE(registry_->load().ok());
    engine_ = std::make_unique<engine::Engine>(*store_, SystemClock::instance(), nullptr);
    service_ = std::make_unique<ApiService>(*engine_, *store_, *registry_, *tokens_, SystemClock::instance(),
                                            views_.get(), nullptr);
    admin_ = tokens_->create(Role::kAdmin, "", "test")->token;
    operator_ = tokens_->create(Role::kOperator, "", "test")->token;
    auditor_ = tokens_->create(Role::kAuditor, "", "test")->token;
  }
  ~GatedService() {
    views_->release_rebuilds();
    service_.reset();
    views_->stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  GatedViews& views() { return *views_; }
  ApiService& service() { return *service_; }
  store::EventStore& store() { return *store_; }

  // A request as the server would hand it over (path and query already split), answered whole.
  HttpResponse call(std::string method, std::string path, const std::string& token, std::string body = {},
                    HeaderMap headers = {}, HeaderMap query = {}) {
    return service_->handle(request(std::move(method), std::move(path), token, std::move(body), std::move(headers),
                                    std::move(query)));
  }
  static HttpRequest request(std::string method, std::string path, const std::string& token, std::string body = {},
                             HeaderMap headers = {}, HeaderMap query = {}) {
    HttpRequest q;
    q.method = std::move(method);
    q.path = std::move(path);
    q.target = q.path;
    q.query = std::move(query);
    q.headers = std::move(headers);
    q.headers["authorization"] = "Bearer " + token;
    q.body = std::move(body);
    q.remote = "127.0.0.1:40000";
    q.request_id = "test";
    return q;
  }
  // Registers an appeal as the operator; returns its id.
  std::string register_appeal(const HeaderMap& headers = {}) {
    HttpResponse r = call("POST", "/v1/appeals", operator_,
                          R"({"centre":"SHY","category":"complaint","topic":"lifts.stuck","channel":"phone",)"
                          R"("location":{"district":"Abay","street":"Tauke khan"},"text":"the lift is stuck"})",
                          headers);
    EXPECT_EQ(r.status, 201) << r.body;
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(r.body, ec);
    return !ec && v.is_object() && v.as_object().contains("id") ? std::string(v.at("id").as_string()) : "";
  }
  const std::string& admin() const { return admin_; }
  const std::string& op() const { return operator_; }
  const std::string& auditor() const { return auditor_; }

 private:
  std::string dir_;
  std::unique_ptr<store::EventStore> store_;
  std::unique_ptr<TokenStore> tokens_;
  std::unique_ptr<GatedViews> views_;
  std::unique_ptr<engine::RuleRegistry> registry_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<ApiService> service_;
  std::string admin_, operator_, auditor_;
};

}  // namespace otinish::api::testing
