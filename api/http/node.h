// api/http/node.h: one otinish server process put together: log, views, engine, tokens, API, listener.
//
// `otinish serve` is a Node plus signal handling; the integration tests run Nodes in-process on port 0.
//
// Usage:
//   NodeOptions o{.data_dir = "/var/lib/otinish"};
//   o.server.listen_port = 0;
//   auto node = Node::open(o);                    // opens DIR/log, DIR/views, DIR/tokens.jsonl
//   OTINISH_RETURN_IF_ERROR((*node)->start());    // starts the views and the listener
//   std::uint16_t port = (*node)->port();
//   (*node)->shutdown(std::chrono::seconds(10));  // graceful; also done by the destructor
//
// Thread-safety: open/start/shutdown from one thread.
#pragma once

#include <chrono>
#include <memory>
#include <ostream>
#include <string>

#include "api/http/server.h"
#include "api/http/service.h"
#include "common/status.h"
#include "common/time.h"

namespace otinish::api {

struct NodeOptions {
  // The data directory (layout in api/cli/data_dir.h). Created if missing.
  std::string data_dir;
  ServerOptions server;
  ServiceOptions service;
  // Run the projections (lists, timelines, scorecards, public feed). Off: those resources answer 503.
  bool views = true;
  // Where structured logs go (one JSON object per line); null for none.
  std::ostream* log = nullptr;
  // The clock for events and logs; must outlive the node.
  const Clock* clock = &SystemClock::instance();
};

class Node {
 public:
  // Errors: the store's (kIOError when another process holds the log), the token file's, the views'.
  static Result<std::unique_ptr<Node>> open(const NodeOptions& options);
  ~Node();

  Status start();
  std::uint16_t port() const;
  void shutdown(std::chrono::milliseconds grace);

  ApiService& service();
  store::EventStore& store();
  TokenStore& tokens();

  struct Parts;

 private:
  explicit Node(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace otinish::api
