#include "api/http/node.h"

#include <filesystem>

#include "engine/engine.h"
#include "engine/projection.h"
#include "engine/views.h"
#include "store/rocks_store.h"

namespace otinish::api {

struct Node::Parts {
  NodeOptions options;
  std::unique_ptr<store::EventStore> store;
  std::unique_ptr<TokenStore> tokens;
  std::unique_ptr<engine::ProjectionRunner> views;
  std::unique_ptr<engine::Engine> engine;
  std::unique_ptr<ApiService> service;
  std::unique_ptr<HttpServer> server;
  bool stopped = false;
};

Result<std::unique_ptr<Node>> Node::open(const NodeOptions& o) {
  auto parts = std::make_unique<Parts>();
  parts->options = o;
  std::error_code ec;
  std::filesystem::create_directories(o.data_dir, ec);
  if (ec) return Status::IOError("cannot create data directory " + o.data_dir + ": " + ec.message());
  auto st = store::open_rocks_store(o.data_dir + "/log", {}, *o.clock);
  if (!st.ok()) return st.status();
  parts->store = std::move(st).value();
  auto tokens = TokenStore::open(o.data_dir + "/tokens.jsonl", *o.clock);
  if (!tokens.ok()) return tokens.status();
  parts->tokens = std::move(tokens).value();
  if (o.views) {
    auto runner = engine::ProjectionRunner::open(*parts->store, o.data_dir + "/views", engine::standard_projections());
    if (!runner.ok()) return runner.status();
    parts->views = std::move(runner).value();
  }
  // No topic catalogue yet: topics are not checked (engine/domain.h; a catalogue loader is to come).
  parts->engine = std::make_unique<engine::Engine>(*parts->store, *o.clock, nullptr);
  parts->service = std::make_unique<ApiService>(*parts->engine, *parts->store, *parts->tokens, *o.clock,
                                                parts->views.get(), o.service, o.log);
  ApiService* svc = parts->service.get();
  parts->server = std::make_unique<HttpServer>(
      o.server, [svc](const HttpRequest& q) { return svc->handle(q); },
      [svc](const RequestRecord& r) { svc->observe(r); });
  HttpServer* srv = parts->server.get();
  svc->metrics().add_gauge("otinish_http_connections", "Open HTTP connections.",
                           [srv] { return static_cast<double>(srv->open_connections()); });
  svc->metrics().add_gauge("otinish_sse_clients", "Open Server-Sent Event streams.",
                           [srv] { return static_cast<double>(srv->open_streams()); });
  return std::unique_ptr<Node>(new Node(std::move(parts)));
}

Node::Node(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Node::~Node() { shutdown(std::chrono::seconds(10)); }

Status Node::start() {
  if (parts_->views) OTINISH_RETURN_IF_ERROR(parts_->views->start());
  OTINISH_RETURN_IF_ERROR(parts_->service->start());
  OTINISH_RETURN_IF_ERROR(parts_->server->start());
  parts_->service->log_line("info", "listening",
                            "{\"address\":\"" + parts_->options.server.listen_host + ":" +
                                std::to_string(parts_->server->port()) + "\",\"data\":\"" +
                                parts_->options.data_dir + "\"}");
  return Status::Ok();
}

std::uint16_t Node::port() const { return parts_->server->port(); }

void Node::shutdown(std::chrono::milliseconds grace) {
  if (parts_->stopped) return;
  parts_->stopped = true;
  parts_->service->log_line("info", "shutting down", "{}");
  parts_->server->shutdown(grace);  // every acknowledged append is already durable (the store syncs first)
  if (parts_->views) parts_->views->stop();
  parts_->service->log_line("info", "stopped", "{}");
}

ApiService& Node::service() { return *parts_->service; }
store::EventStore& Node::store() { return *parts_->store; }
TokenStore& Node::tokens() { return *parts_->tokens; }

}  // namespace otinish::api
