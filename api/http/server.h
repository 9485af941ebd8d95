// api/http/server.h: the HTTP/1.1 listener (Boost.Beast on Asio), hardened for the open network.
//
// The server owns sockets, parsing, limits, timeouts, keep-alive and shutdown; it knows nothing of appeals.
// Each parsed request is handed to the Handler on a worker pool (handlers block: an append waits for fsync,
// and many appends in flight is what lets the store commit them in one group), and the response is written
// back on the connection's I/O thread. Requests the InlineRequests predicate names are handled on the I/O
// thread itself: their handlers only parse, check and refuse, and hand what may block to offload(), so that a
// refusal costs no hand-off to a worker and back (two thread wake-ups, a quarter of such a request's CPU).
//
// Usage:
//   ServerOptions o; o.listen_host = "127.0.0.1"; o.listen_port = 0;   // 0: any free port
//   HttpServer server(o, handler, observer);
//   OTINISH_RETURN_IF_ERROR(server.start());
//   std::uint16_t port = server.port();
//   ...
//   server.shutdown(std::chrono::seconds(10));   // stop accepting, finish in-flight requests, close
//
// Refusals the server answers itself, as RFC 9457 problem+json: 400 (unparseable request, a target or header
// value that is not UTF-8), 408 (a request
// not received within read_timeout_ms), 413 (body over max_body_bytes, refused from Content-Length before the
// body is read), 431 (header block over max_header_bytes), 503 (max_connections reached, or shutting down).
// When the process is out of file descriptors the listener tries again every 50 ms (it does not spin on a
// core); the connections arriving meanwhile wait in the kernel's listen backlog and are served once
// descriptors are free.
//
// Thread-safety: start() and shutdown() from one thread; port() and counters from any.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "api/http/http_types.h"
#include "common/status.h"

namespace otinish::api {

struct ServerOptions {
  // Address to bind; a host name is resolved once at start().
  std::string listen_host = "127.0.0.1";
  // Port to bind; 0 picks a free one (read it back with port()).
  std::uint16_t listen_port = 8109;
  // Threads running the sockets (parsing and writing). 1-2 suffice for tens of thousands of requests/s. Each
  // runs its own event loop, and a connection stays on the one it was given when accepted (in turn; a thread
  // of its own accepts), so that a connection's work takes no lock: a thread busy with one connection delays
  // its other connections only.
  int io_threads = 2;
  // Threads running handlers. On the embedded store no handler waits for an fsync (registrations and commands
  // are answered from their append's completion), but some still wait on a worker: for the SLA service's intake
  // line while it is far behind (up to 5 s), for a JetStream cluster's acknowledgement, for reads from disk, and
  // for the rare synchronous work (publishing rules, erasing an applicant, a backup). Many threads keep those
  // from holding up the rest; fewer would save some context switches (bench/README.md).
  int worker_threads = 64;
  // Connections served at once; one more is answered 503 and closed.
  std::size_t max_connections = 1024;
  // Of those, how many may be Server-Sent Event streams (each holds a store subscription thread).
  std::size_t max_streams = 64;
  // Largest request body accepted, in bytes (413 above).
  std::size_t max_body_bytes = 1 << 20;
  // Largest request line plus header block, in bytes (431 above).
  std::size_t max_header_bytes = 16 << 10;
  // A request (headers and body) must arrive within this once its first byte came (408, then close).
  int read_timeout_ms = 10'000;
  // A keep-alive connection with no request for this long is closed.
  int idle_timeout_ms = 60'000;
  // Writing one response (or one SSE chunk) may take this long before the connection is dropped.
  int write_timeout_ms = 10'000;
  // Bytes an SSE client may fall behind before it is disconnected (it resumes with Last-Event-ID).
  std::size_t max_stream_backlog_bytes = 4 << 20;
  // A comment line is sent to SSE clients this often, so proxies and clients see the stream is alive.
  int stream_heartbeat_ms = 15'000;
};

// Says, from the request alone, that its handler does not block (no disk, no waiting for another thread: it
// parses, checks, refuses, and passes whatever may block to HttpServer::offload), so that the server runs it on
// the connection's I/O thread. Empty: every request goes to a worker.
using InlineRequests = std::function<bool(const HttpRequest&)>;

class HttpServer {
 public:
  // `handler` and `observer` (may be empty) are called on worker threads, and on I/O threads for the requests
  // `inline_requests` names; they must outlive the server.
  HttpServer(ServerOptions options, Handler handler, RequestObserver observer = {},
             InlineRequests inline_requests = {});
  ~HttpServer();  // shuts down (with a 10 s grace) if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts the threads. Errors: kIOError naming the address (in use, no permission),
  // kInvalidArgument for an unresolvable host.
  Status start();
  // The bound port (after start()).
  std::uint16_t port() const noexcept;

  // Stops accepting, lets requests already being handled finish and be written (with Connection: close),
  // closes idle keep-alive connections and streams, then stops the threads. Connections still busy after
  // `grace` are cut. Idempotent.
  void shutdown(std::chrono::milliseconds grace);

  // Runs `work` on a worker thread: at once when called on one, else queued for one (what a handler running on
  // an I/O thread does that may block). Before shutdown() returns, every queued `work` has run.
  void offload(std::function<void()> work);
  // Gauges for /metrics.
  std::size_t open_connections() const noexcept;
  std::size_t open_streams() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Reads `wire` as one HTTP/1.1 request the way a connection does (the same parser and limits, the same
// translation into the HttpRequest a Handler gets: lower-case header names, decoded path and query), without a
// socket; bytes after the first request are ignored, and `remote` stays empty. For tests and fuzzing.
// Returns the request, or the problem response the server answers itself: 400 (not HTTP/1.1, ended before it
// was complete, a malformed %-escape in the target, a target or header value that is not UTF-8), 413 (body over
// max_body_bytes), 431 (header block over max_header_bytes).
std::variant<HttpRequest, HttpResponse> read_request(std::string_view wire, const ServerOptions& options);

}  // namespace otinish::api
