// store/nats_client.h: a connection to a NATS cluster with JetStream, set up the way otinish's stores on it
// want one (the log, store/jetstream_store.h; the applicants' keys, engine/privacy/jetstream_keys.h): any
// of the servers, reconnecting forever, and noticing a hung server within about three seconds.
// For those stores' code; an integrator opens the stores, not this.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace otinish::store {

struct NatsClient {
  natsOptions* options = nullptr;
  natsConnection* conn = nullptr;
  jsCtx* js = nullptr;
  // Called (on the NATS library's thread) each time the connection comes back after it was lost.
  std::function<void()> on_reconnected;
  NatsClient() = default;
  NatsClient(const NatsClient&) = delete;
  NatsClient& operator=(const NatsClient&) = delete;
  ~NatsClient();
};

// Connects to any of `urls` ("nats://a:4222,nats://b:4222"); JetStream requests wait up to `timeout`.
// `on_reconnected`, if given, is called each time the connection comes back (every server may have restarted
// meanwhile). Errors: kInvalidArgument (no URL), kUnavailable (no server answers), kIOError.
Result<std::unique_ptr<NatsClient>> connect_nats(const std::string& urls, std::chrono::milliseconds timeout,
                                                 std::function<void()> on_reconnected = {});

// A Status for a failed NATS call, saying `what` was being done: kUnavailable for the errors a retry may cure
// (timeouts, no responders, a lost connection, and the cluster's own "temporarily unavailable", "not leader",
// "stream offline" and "consumer offline" while it elects a leader or recovers), kIOError for the rest.
Status from_nats(natsStatus s, jsErrCode jerr, const std::string& what);

// "a, b,c" -> {"a", "b", "c"}.
std::vector<std::string> split_urls(const std::string& urls);

// kInvalidArgument unless 1 <= replicas <= 5 (how many copies JetStream can keep of a stream).
Status check_replicas(int replicas);

// Calls `attempt` until it returns anything but kUnavailable, or until three `timeout`s have passed (then its
// last answer). While the cluster elects a stream's leader (a server just came back, or the client reached one
// still catching up), its answers time out; a store opening then tries again for a while before giving up.
Status retry_while_unavailable(std::chrono::milliseconds timeout, const std::function<Status()>& attempt);

// A byte NATS takes as it is in a subject token and in a stream or bucket name: [A-Za-z0-9_-].
bool plain_name_byte(unsigned char c);

}  // namespace otinish::store
