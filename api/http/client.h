// api/http/client.h: a small blocking HTTP/1.1 client over one keep-alive connection.
//
// For `otinish load`, the integration tests and scripts: not a general client (no TLS, no redirects).
//
// Usage:
//   HttpClient c("127.0.0.1", port);
//   auto r = c.request("POST", "/v1/appeals", body, {{"Authorization", "Bearer " + token}});
//   if (r.ok() && r->status == 201) ... r->header("etag") ...
//
// Thread-safety: one thread per HttpClient.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace otinish::api {

struct ClientResponse {
  int status = 0;
  std::map<std::string, std::string, std::less<>> headers;  // lower-case names
  std::string body;
  std::string header(std::string_view name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

class HttpClient {
 public:
  HttpClient(std::string host, std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request (connecting, or reconnecting once if the kept-alive connection was closed) and reads
  // the whole response. Errors: kIOError (connect, send, receive, timeout), kCorruption (not HTTP).
  Result<ClientResponse> request(std::string_view method, std::string_view target, std::string_view body = {},
                                 const HeaderList& headers = {});

  // Writes `bytes` on a fresh connection and returns everything the server sends until it closes the
  // connection or `timeout` passes (then what arrived so far). For tests of malformed or slow requests.
  Result<std::string> raw(std::string_view bytes, std::chrono::milliseconds timeout);

  // Opens a fresh connection, sends `request_bytes`, then reads until `until(received_so_far)` is true, the
  // server closes, or `timeout` passes; returns what arrived. The connection is then dropped (an SSE client
  // that goes away).
  Result<std::string> stream(std::string_view request_bytes, const std::function<bool(std::string_view)>& until,
                             std::chrono::milliseconds timeout);

  void close();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace otinish::api
