// The listener's hardening: limits, timeouts, bounded connections, keep-alive, graceful shutdown.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <chrono>
#include <functional>
#include <future>
#include <stdexcept>
#include <thread>
#include <variant>

#include "api/http/client.h"
#include "api/http/problem.h"
#include "api/http/server.h"

namespace otinish::api {
namespace {

using namespace std::chrono_literals;

// A bare loopback socket, for clients that misbehave on purpose (send slowly, never read).
class RawSocket {
 public:
  explicit RawSocket(std::uint16_t port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (receive_buffer > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawSocket() { ::close(fd_); }
  bool connected() const { return connected_; }
  bool send(std::string_view bytes) { return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()); }
  // Reads until `until` holds for what arrived, the peer closes, or `timeout`; returns what arrived.
  std::string read(const std::function<bool(std::string_view)>& until, std::chrono::milliseconds timeout) {
    std::string got;
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!until(got)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
  }
  bool closed_by_peer() const { return closed_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
};

class ServerTest : public ::testing::Test {
 protected:
  void start(ServerOptions o = {}, Handler h = nullptr) {
    o.listen_host = "127.0.0.1";
    o.listen_port = 0;
    o.worker_threads = 4;
    if (!h) {
      h = [this](const HttpRequest& q) {
        handled_.fetch_add(1);
        HttpResponse r;
        r.body = "{\"path\":\"" + q.path + "\",\"bytes\":" + std::to_string(q.body.size()) + "}";
        return r;
      };
    }
    server_ = std::make_unique<HttpServer>(o, h);
    ASSERT_TRUE(server_->start().ok());
  }
  std::string raw(std::string_view bytes, std::chrono::milliseconds timeout = 3s) {
    HttpClient c("127.0.0.1", server_->port());
    auto r = c.raw(bytes, timeout);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : "";
  }
  std::unique_ptr<HttpServer> server_;
  std::atomic<int> handled_{0};
};

// A handler that throws on an I/O thread or on a worker (here the request observer, on a request answered on
// the I/O thread, and on one handled by a worker) ends its own connection, not the server: the next
// connections, served by the same single I/O thread and the same workers, are answered.
TEST(ServerFaults, AnExceptionOnAnIOThreadOrAWorkerEndsItsConnectionNotTheServer) {
  ServerOptions o;
  o.listen_host = "127.0.0.1";
  o.listen_port = 0;
  o.io_threads = 1;
  o.worker_threads = 2;
  Handler h = [](const HttpRequest&) {
    HttpResponse r;
    r.body = "{}";
    return r;
  };
  RequestObserver throws_on_boom = [](const RequestRecord& r) {
    if (r.request != nullptr && r.request->path.starts_with("/boom")) throw std::runtime_error("the observer failed");
  };
  HttpServer server(o, h, throws_on_boom, [](const HttpRequest& q) { return !q.path.ends_with("-on-worker"); });
  ASSERT_TRUE(server.start().ok());
  for (const char* path : {"/boom", "/boom-on-worker", "/boom", "/boom-on-worker"}) {
    HttpClient c("127.0.0.1", server.port(), 3s);
    auto r = c.request("GET", path);
    EXPECT_FALSE(r.ok()) << path << ": closed without an answer; got " << (r.ok() ? std::to_string(r->status) : "");
  }
  for (const char* path : {"/fine", "/fine-on-worker", "/fine", "/fine-on-worker"}) {
    HttpClient c("127.0.0.1", server.port(), 3s);
    auto r = c.request("GET", path);
    ASSERT_TRUE(r.ok()) << path << ": " << r.status().ToString();
    EXPECT_EQ(r->status, 200);
  }
  server.shutdown(2s);
}

// Requests the server is told answer without blocking (InlineRequests) are handled on the I/O thread: answered
// while every worker is busy. What such a handler offloads waits for a worker.
TEST(ServerInline, InlineRequestsAreAnsweredWhileEveryWorkerIsBusyAndOffloadedWorkWaitsForOne) {
  std::atomic<bool> slow_started{false}, release{false}, offloaded_ran{false};
  HttpServer* server = nullptr;
  Handler h = [&](const HttpRequest& q) {
    HttpResponse r;
    if (q.path == "/slow") {
      slow_started = true;
      while (!release) std::this_thread::sleep_for(1ms);
      r.body = "slow";
    } else if (q.path == "/offload") {
      auto later = LaterResponse::make();
      server->offload([later, &offloaded_ran] {
        offloaded_ran = true;
        HttpResponse a;
        a.body = "offloaded";
        later->complete(std::move(a));
      });
      return LaterResponse::response(std::move(later));
    } else {
      r.body = "fast";
    }
    return r;
  };
  ServerOptions o;
  o.listen_port = 0;
  o.worker_threads = 1;
  HttpServer s(o, h, {}, [](const HttpRequest& q) { return q.path != "/slow"; });
  server = &s;
  ASSERT_TRUE(s.start().ok());
  const std::uint16_t port = s.port();
  auto get = [port](std::string path) {
    return std::async(std::launch::async, [port, path] {
      HttpClient c("127.0.0.1", port);
      auto r = c.request("GET", path);
      return r.ok() ? r->body : r.status().ToString();
    });
  };
  auto slow = get("/slow");  // takes the one worker
  for (int i = 0; i < 5000 && !slow_started; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(slow_started.load());
  auto fast = get("/fast");
  ASSERT_EQ(fast.wait_for(5s), std::future_status::ready);  // not behind the busy worker
  EXPECT_EQ(fast.get(), "fast");
  auto offloaded = get("/offload");
  EXPECT_EQ(offloaded.wait_for(200ms), std::future_status::timeout);  // its work waits for the worker
  EXPECT_FALSE(offloaded_ran.load());
  release = true;
  EXPECT_EQ(slow.get(), "slow");
  EXPECT_EQ(offloaded.get(), "offloaded");
  EXPECT_TRUE(offloaded_ran.load());
  s.shutdown(2s);
}

TEST_F(ServerTest, ServesManyRequestsOnOneKeptAliveConnection) {
  start();
  HttpClient c("127.0.0.1", server_->port());
  for (int i = 0; i < 20; ++i) {
    auto r = c.request("GET", "/x?i=" + std::to_string(i));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
    EXPECT_FALSE(r->header("x-request-id").empty());
  }
  EXPECT_EQ(server_->open_connections(), 1u);
}

TEST_F(ServerTest, BodyOverTheLimitIs413BeforeTheBodyIsRead) {
  start({.max_body_bytes = 1024});
  HttpClient c("127.0.0.1", server_->port());
  auto r = c.request("POST", "/x", std::string(4096, 'a'));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->header("content-type"), "application/problem+json");
  EXPECT_NE(r->body.find("1024 bytes"), std::string::npos) << r->body;
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(ServerTest, HeaderBlockOverTheLimitIs431) {
  start({.max_header_bytes = 2048});
  const std::string out = raw("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4096, 'b') + "\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 431")) << out.substr(0, 80);
  EXPECT_NE(out.find("urn:otinish:problem:headers-too-large"), std::string::npos);
}

TEST_F(ServerTest, UnparseableRequestIs400AndClosed) {
  start();
  const std::string out = raw("NOT HTTP AT ALL\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400")) << out;
  EXPECT_NE(out.find("malformed-request"), std::string::npos);
}

TEST_F(ServerTest, RequestTrickledSlowerThanTheReadTimeoutIs408) {
  start({.read_timeout_ms = 300});
  const auto t0 = std::chrono::steady_clock::now();
  const std::string out = raw("GET / HTTP/1.1\r\nHost: x\r\n", 5s);  // headers never finish
  EXPECT_TRUE(out.starts_with("HTTP/1.1 408")) << out;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

// The read deadline covers the body too: a client that sends its body a byte at a time, each byte well within any
// per-read timeout, still cannot hold the connection past read_timeout_ms.
TEST_F(ServerTest, BodyTrickledPastTheReadDeadlineIs408) {
  start({.read_timeout_ms = 300});
  RawSocket s(server_->port());
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(s.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"));
  const auto t0 = std::chrono::steady_clock::now();
  std::string out;
  for (int i = 0; i < 30 && out.empty(); ++i) {
    s.send("a");
    out = s.read([](std::string_view g) { return g.find("\r\n\r\n") != std::string_view::npos; }, 100ms);
  }
  EXPECT_TRUE(out.starts_with("HTTP/1.1 408")) << out;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(handled_.load(), 0);
}

// A client that asks for a large answer and never reads it: once the socket buffers are full the write stalls,
// and after write_timeout_ms the connection is dropped instead of holding its slot forever.
TEST_F(ServerTest, AClientThatNeverReadsIsDroppedAfterTheWriteTimeout) {
  start({.write_timeout_ms = 300}, [](const HttpRequest&) {
    HttpResponse r;
    r.body = std::string(64 << 20, 'x');
    return r;
  });
  RawSocket s(server_->port(), 4096);
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(s.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (int i = 0; i < 100 && server_->open_connections() == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(server_->open_connections(), 1u);
  const auto t0 = std::chrono::steady_clock::now();
  while (server_->open_connections() > 0 && std::chrono::steady_clock::now() - t0 < 5s) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(server_->open_connections(), 0u) << "the stalled connection was not dropped";
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 100ms) << "dropped before the write even stalled?";
}

// A stream whose producer pushes as fast as it can, to a client that never reads: once the server holds more than
// max_stream_backlog_bytes for it (the socket buffers full), push() says no, the stream is closed, and the
// server's memory for it stays bounded. Meanwhile the server answers other requests.
TEST_F(ServerTest, AStreamClientThatNeverReadsIsDroppedPastTheBacklogBound) {
  std::atomic<std::uint64_t> pushed{0};
  std::atomic<bool> refused{false};
  std::thread producer_thread;
  start({.write_timeout_ms = 120'000, .max_stream_backlog_bytes = 256 << 10}, [&](const HttpRequest& q) {
    HttpResponse r;
    if (q.path != "/stream") return r;
    r.content_type = "text/event-stream";
    r.stream = [&](std::shared_ptr<StreamSink> sink) -> std::unique_ptr<StreamProducer> {
      std::weak_ptr<StreamSink> weak = sink;
      producer_thread = std::thread([weak, &pushed, &refused] {
        const std::string chunk = "data: " + std::string(16 << 10, 'x') + "\n\n";
        while (pushed.load() < (1ull << 30)) {
          auto s = weak.lock();
          if (!s || !s->push(chunk)) break;
          pushed.fetch_add(chunk.size());
        }
        refused = true;
      });
      return std::make_unique<StreamProducer>();
    };
    return r;
  });
  RawSocket s(server_->port(), 4096);
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(s.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (int i = 0; i < 1000 && !refused.load(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(refused.load()) << "the producer could push forever: " << pushed.load() << " bytes";
  EXPECT_LT(pushed.load(), 64ull << 20) << "far more than the bound plus the socket buffers was accepted";
  for (int i = 0; i < 500 && server_->open_streams() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server_->open_streams(), 0u) << "the stream was not closed";
  HttpClient other("127.0.0.1", server_->port());
  auto r = other.request("GET", "/x");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  if (producer_thread.joinable()) producer_thread.join();
}

TEST_F(ServerTest, IdleConnectionIsClosedAfterTheIdleTimeout) {
  start({.idle_timeout_ms = 200});
  const auto t0 = std::chrono::steady_clock::now();
  const std::string out = raw("", 5s);
  EXPECT_EQ(out, "");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

// The CPU clock ticks (user + system) of this process's thread named `name`, read from a descriptor opened
// once (so that it can be read while the process has none left to open).
class ThreadTicks {
 public:
  // Waits up to 5 s for the thread to take its name (it names itself once it runs).
  explicit ThreadTicks(const std::string& name) {
    for (int i = 0; i < 500 && fd_ < 0; ++i) {
      for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
        std::string comm;
        std::getline(std::ifstream(t.path() / "comm"), comm);
        if (comm == name && fd_ < 0) fd_ = ::open((t.path() / "stat").c_str(), O_RDONLY | O_CLOEXEC);
      }
      if (fd_ < 0) std::this_thread::sleep_for(10ms);
    }
  }
  ~ThreadTicks() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool found() const { return fd_ >= 0; }
  long now() const {
    char buf[1024];
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    if (n <= 0) return -1;
    const std::string stat(buf, static_cast<std::size_t>(n));
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // after "pid (comm) ": field 3 on
    std::string f;
    long utime = 0;
    for (int i = 3; fields >> f; ++i) {
      if (i == 14) utime = std::stol(f);
      if (i == 15) return utime + std::stol(f);
    }
    return -1;
  }

 private:
  int fd_ = -1;
};

// With the process out of file descriptors, an accept fails at once, and so does the next: the listener waits
// between attempts instead of spinning its thread on a core, and once descriptors are free again the waiting
// connection is accepted and answered.
TEST_F(ServerTest, OutOfFileDescriptorsTheListenerWaitsInsteadOfSpinningAndAcceptsOnceFree) {
  start();
  const ThreadTicks accepting("otinish-accept");
  ASSERT_TRUE(accepting.found()) << "the accepting thread is named otinish-accept";
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  std::size_t open_now = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++open_now;
  rlimit low = saved;
  low.rlim_cur = std::min<rlim_t>(saved.rlim_cur, open_now + 64);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> filler;
  for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) filler.push_back(fd);
  ASSERT_FALSE(filler.empty());
  ::close(filler.back());  // one descriptor for the client: the server has none left to accept it with
  filler.pop_back();
  auto client = std::make_unique<RawSocket>(server_->port());
  const bool connected = client->connected();  // the kernel completes it into the listen backlog
  const long before = accepting.now();
  std::this_thread::sleep_for(600ms);
  const long spent = accepting.now() - before;
  for (int fd : filler) ::close(fd);
  ::setrlimit(RLIMIT_NOFILE, &saved);
  ASSERT_TRUE(connected);
  // A spinning retry takes the whole 600 ms (60 ticks at 100 Hz); waiting between attempts, next to nothing.
  EXPECT_LT(spent, 15) << "the listener spins while out of descriptors: " << spent << " ticks in 600 ms";
  ASSERT_TRUE(client->send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string out = client->read([](std::string_view g) { return g.find("\r\n\r\n") != std::string_view::npos; }, 3s);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200")) << out;
}

TEST_F(ServerTest, ConnectionOverTheBoundIsRefusedWith503) {
  start({.max_connections = 2});
  HttpClient a("127.0.0.1", server_->port()), b("127.0.0.1", server_->port()), c("127.0.0.1", server_->port());
  ASSERT_EQ(a.request("GET", "/")->status, 200);
  ASSERT_EQ(b.request("GET", "/")->status, 200);
  auto r = c.request("GET", "/");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("retry-after"), "1");
  a.close();
  for (int i = 0; i < 100 && server_->open_connections() > 1; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(c.request("GET", "/")->status, 200);
}

TEST_F(ServerTest, ShutdownFinishesTheRequestInFlightAndRefusesNewConnections) {
  std::atomic<bool> entered{false};
  start({}, [&](const HttpRequest&) {
    entered = true;
    std::this_thread::sleep_for(300ms);
    HttpResponse r;
    r.body = "{\"done\":true}";
    return r;
  });
  const std::uint16_t port = server_->port();
  Result<ClientResponse> in_flight = Status::Internal("not run");
  std::thread t([&] {
    HttpClient c("127.0.0.1", port);
    in_flight = c.request("GET", "/slow");
  });
  while (!entered) std::this_thread::sleep_for(1ms);
  server_->shutdown(5s);
  t.join();
  ASSERT_TRUE(in_flight.ok()) << in_flight.status().ToString();
  EXPECT_EQ(in_flight->status, 200);
  EXPECT_EQ(in_flight->header("connection"), "close");
  HttpClient late("127.0.0.1", port, 1s);
  EXPECT_FALSE(late.request("GET", "/").ok());
}

TEST_F(ServerTest, HandlerExceptionBecomesA500Problem) {
  start({}, [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); });
  HttpClient c("127.0.0.1", server_->port());
  auto r = c.request("GET", "/");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("boom"), std::string::npos);
}

TEST_F(ServerTest, QueryAndPathArePercentDecoded) {
  start({}, [](const HttpRequest& q) {
    HttpResponse r;
    r.body = q.path + "|" + (q.query.count("a") ? q.query.at("a") : "");
    return r;
  });
  HttpClient c("127.0.0.1", server_->port());
  auto r = c.request("GET", "/v1/x%20y?a=b%26c+d");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "/v1/x y|b&c d");
}

TEST_F(ServerTest, ATargetOrHeaderThatIsNotUtf8Is400AndNeverReachesTheHandler) {
  start();
  const std::string target = raw("GET /consol\x9Bm/app.js HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(target.starts_with("HTTP/1.1 400")) << target;
  EXPECT_NE(target.find("not UTF-8"), std::string::npos) << target;
  const std::string escaped = raw("GET /v1/appeals?stage=%FF HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(escaped.starts_with("HTTP/1.1 400")) << escaped;
  const std::string header = raw("GET / HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k\xE9y\r\n\r\n");
  EXPECT_TRUE(header.starts_with("HTTP/1.1 400")) << header;
  EXPECT_NE(header.find("idempotency-key"), std::string::npos) << header;
  EXPECT_EQ(handled_.load(), 0);
}

// read_request: a request from bytes, as a connection reads it (the fuzz target of the request path uses it).
TEST(ReadRequestTest, GivesTheRequestAHandlerWouldGet) {
  auto r = read_request("POST /v1/x%20y?a=b%26c+d HTTP/1.1\r\nHost: x\r\nX-Request-Id: r-1\r\nAccept: a\r\n"
                        "Accept: b\r\nContent-Length: 2\r\n\r\n{}GET / HTTP/1.1\r\n\r\n",
                        ServerOptions{});
  ASSERT_TRUE(std::holds_alternative<HttpRequest>(r)) << std::get<HttpResponse>(r).body;
  const HttpRequest& q = std::get<HttpRequest>(r);
  EXPECT_EQ(q.method, "POST");
  EXPECT_EQ(q.path, "/v1/x y");
  EXPECT_EQ(q.query.at("a"), "b&c d");
  EXPECT_EQ(q.header("accept"), "a, b");
  EXPECT_EQ(q.request_id, "r-1");
  EXPECT_EQ(q.body, "{}");  // the pipelined request after it is left alone
}

TEST(ReadRequestTest, RefusesAsTheServerDoes) {
  auto status = [](std::string_view wire, ServerOptions o = {}) {
    auto r = read_request(wire, o);
    return std::holds_alternative<HttpResponse>(r) ? std::get<HttpResponse>(r).status : 0;
  };
  EXPECT_EQ(status("NOT HTTP AT ALL\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nHost: x\r\n"), 400);  // ends before the header block does
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort"), 400);
  EXPECT_EQ(status("GET /%zz HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status("GET /\xC0\xAF HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n", {.max_body_bytes = 10}), 413);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nX: " + std::string(4096, 'b') + "\r\n\r\n", {.max_header_bytes = 2048}), 431);
  EXPECT_EQ(status(""), 400);
}

}  // namespace
}  // namespace otinish::api
