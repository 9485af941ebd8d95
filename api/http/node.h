// api/http/node.h: one otinish server process put together: log, views, engine, SLA service, tokens, API,
// listener.
//
// `otinish serve` is a Node plus signal handling; the integration tests run Nodes in-process on port 0.
//
// Usage:
//   NodeOptions o{.data_dir = "/var/lib/otinish"};
//   o.server.listen_port = 0;
//   o.catalogue_dir = "examples/catalogue";       // optional: topics checked, dangerous flags known
//   o.calendar_files = {"kz.yaml", "shymkent.yaml"};  // optional: published at start when changed
//   o.rules_file = "city.yaml";
//   auto node = Node::open(o);                    // opens DIR/log, DIR/views, DIR/sla, DIR/tokens.jsonl
//   OTINISH_RETURN_IF_ERROR((*node)->start());    // views, SLA service, start-up publications, listener
//   std::uint16_t port = (*node)->port();
//   (*node)->shutdown(std::chrono::seconds(10));  // graceful; also done by the destructor
//
// Thread-safety: open/start/shutdown from one thread.
#pragma once

#include <chrono>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "api/http/server.h"
#include "api/http/service.h"
#include "common/status.h"
#include "common/time.h"
#include "engine/rule_registry.h"
#include "engine/sla_service.h"

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
  // The clock for events, SLA timers and logs; must outlive the node.
  const Clock* clock = &SystemClock::instance();
  // A folder holding topics.yaml and agencies.yaml (as examples/catalogue/). Set: the engine checks topics
  // against it and knows dangerous topics (an incident on one is critical). Empty: topics are not checked.
  std::string catalogue_dir;
  // Calendar files published at start, in order (a parent before the calendars inheriting it), each unless the
  // calendar of that name in force has the same content hash: restarts do not republish. Policy keep.
  std::vector<std::string> calendar_files;
  // A rule set file published at start, after the calendars, unless the rule set in force has the same content
  // hash. Empty: none. Policy keep.
  std::string rules_file;
};

class Node {
 public:
  // Errors: the store's (kIOError when another process holds the log), the token file's, the views', the SLA
  // timer index's, the catalogue's (kNotFound, kInvalidArgument with file:line:column).
  static Result<std::unique_ptr<Node>> open(const NodeOptions& options);
  ~Node();

  // Starts the views, the SLA service (it loads the rule registry and fires overdue timers), publishes the
  // configured calendars and rule set, then listens. Errors: those of each, a publication's naming its file.
  Status start();
  std::uint16_t port() const;
  void shutdown(std::chrono::milliseconds grace);

  ApiService& service();
  store::EventStore& store();
  TokenStore& tokens();
  engine::RuleRegistry& registry();
  engine::SlaService& sla();

  struct Parts;

 private:
  explicit Node(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace otinish::api
