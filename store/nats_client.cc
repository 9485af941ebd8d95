#include "store/nats_client.h"

#include <sstream>
#include <thread>

namespace otinish::store {

NatsClient::~NatsClient() {
  if (js) jsCtx_Destroy(js);
  if (conn) natsConnection_Destroy(conn);
  if (options) natsOptions_Destroy(options);
}

Status from_nats(natsStatus s, jsErrCode jerr, const std::string& what) {
  std::string msg = what + ": " + natsStatus_GetText(s);
  if (const char* last = nats_GetLastError(nullptr); last && *last) msg += std::string(" (") + last + ")";
  if (jerr != 0) msg += " [JetStream error " + std::to_string(static_cast<int>(jerr)) + "]";
  switch (jerr) {
    // What the cluster answers while it elects a leader or recovers after servers restarted: a retry cures it.
    case JSClusterNotAvailErr:   // "JetStream system temporarily unavailable"
    case JSClusterNotLeaderErr:  // "JetStream cluster can not handle request"
    case JSStreamOfflineErr:
    case JSConsumerOfflineErr:
      return Status::Unavailable(msg);
    default:
      break;
  }
  switch (s) {
    case NATS_TIMEOUT:
    case NATS_NO_RESPONDERS:
    case NATS_NO_SERVER:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_STALE_CONNECTION:
      return Status::Unavailable(msg);
    default:
      return Status::IOError(msg);
  }
}

std::vector<std::string> split_urls(const std::string& urls) {
  std::vector<std::string> out;
  std::stringstream in(urls);
  for (std::string u; std::getline(in, u, ',');) {
    u.erase(0, u.find_first_not_of(' '));
    u.erase(u.find_last_not_of(' ') + 1);
    if (!u.empty()) out.push_back(u);
  }
  return out;
}

Status check_replicas(int replicas) {
  if (replicas >= 1 && replicas <= 5) return Status::Ok();
  return Status::InvalidArgument("replicas must be 1 to 5, not " + std::to_string(replicas));
}

Status retry_while_unavailable(std::chrono::milliseconds timeout, const std::function<Status()>& attempt) {
  const auto deadline = std::chrono::steady_clock::now() + 3 * timeout;
  for (;;) {
    Status st = attempt();
    if (st.code() != StatusCode::kUnavailable || std::chrono::steady_clock::now() > deadline) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

bool plain_name_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

Result<std::unique_ptr<NatsClient>> connect_nats(const std::string& urls, std::chrono::milliseconds timeout,
                                                 std::function<void()> on_reconnected) {
  const std::vector<std::string> list = split_urls(urls);
  if (list.empty()) return Status::InvalidArgument("no NATS server URL in '" + urls + "'");
  std::vector<const char*> servers;
  for (const auto& u : list) servers.push_back(u.c_str());
  auto c = std::make_unique<NatsClient>();
  natsStatus s = natsOptions_Create(&c->options);
  if (s == NATS_OK) s = natsOptions_SetServers(c->options, servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK) s = natsOptions_SetTimeout(c->options, timeout.count());
  // Reconnect forever, quickly: a server that dies is replaced by another of the cluster.
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(c->options, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(c->options, 100);
  // A server that hangs (a stopped process, a frozen machine) keeps its TCP connection open: without pings
  // the client would wait on it for NATS's default two minutes. With these it moves to another server after
  // about three seconds.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(c->options, 1000);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(c->options, 2);
  if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(c->options, false, nullptr, nullptr);
  if (s == NATS_OK && on_reconnected) {
    c->on_reconnected = std::move(on_reconnected);
    s = natsOptions_SetReconnectedCB(
        c->options, [](natsConnection*, void* client) { static_cast<NatsClient*>(client)->on_reconnected(); }, c.get());
  }
  if (s != NATS_OK) return from_nats(s, static_cast<jsErrCode>(0), "setting up the NATS client");
  s = natsConnection_Connect(&c->conn, c->options);
  if (s != NATS_OK) return from_nats(s, static_cast<jsErrCode>(0), "connecting to NATS at " + urls);
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = timeout.count();
  s = natsConnection_JetStream(&c->js, c->conn, &jo);
  if (s != NATS_OK) return from_nats(s, static_cast<jsErrCode>(0), "opening JetStream at " + urls);
  return c;
}

}  // namespace otinish::store
