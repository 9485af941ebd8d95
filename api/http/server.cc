// The only translation unit that includes Boost.Beast (build time): keep it that way.
//
// One Session per connection, all of its socket work on the one I/O thread that serves it. A session alternates between
//   idle      waiting for the first byte of a request (idle_timeout_ms; closed at shutdown),
//   reading   the rest of the request (read_timeout_ms; 408 on expiry),
//   busy      the handler runs on the worker pool, then the response is written (write_timeout_ms),
//   streaming an SSE response: chunks pushed by the producer are queued and written in order,
// and ends closed. Shutdown closes idle sessions and streams at once and lets busy ones finish.
#include "api/http/server.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "api/http/form.h"
#include "api/http/problem.h"
#include "common/thread_name.h"
#include "common/utf8.h"

namespace otinish::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
// A connection's socket, bound to the one I/O thread's context it lives on (no type-erased executor).
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;

namespace {

// Splits the target into the decoded path and query. Returns false (400) on a malformed escape or text that is
// not UTF-8.
bool parse_target(HttpRequest& r) {
  std::string_view t = r.target;
  const std::size_t q = t.find('?');
  if (!percent_decode(t.substr(0, q), false, &r.path)) return false;
  return q == std::string_view::npos || parse_form(t.substr(q + 1), &r.query);
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// The problem a request that failed to parse is answered with; none for errors that are not about the request
// (reset by peer, cancelled at shutdown): the connection is then closed without an answer.
std::optional<Problem> parse_refusal(beast::error_code ec, const ServerOptions& o) {
  if (ec == http::error::header_limit) {
    return Problem{.status = 431, .type = "headers-too-large", .title = "Request header fields too large",
                   .detail = "the request line and headers exceed " + std::to_string(o.max_header_bytes) +
                             " bytes; send fewer or shorter headers"};
  }
  if (ec == http::error::body_limit) {
    return Problem{.status = 413, .type = "body-too-large", .title = "Content too large",
                   .detail = "the request body exceeds " + std::to_string(o.max_body_bytes) + " bytes; send a smaller body"};
  }
  if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
    return bad_request("the request is not valid HTTP/1.1: " + ec.message());
  }
  return std::nullopt;
}

// The request a handler sees, from Beast's message: all but `remote`, which the caller sets, and `request_id`
// (X-Request-Id if the client sent one, else `generated_id`). Or the 400 for a target with a malformed %-escape,
// or a target or header value that is not UTF-8 (HTTP allows other bytes; what a handler reads of them goes into
// JSON and the log, which hold only UTF-8).
std::optional<Problem> to_http_request(http::request<http::string_body>&& msg, HttpRequest* req,
                                       const std::function<std::string()>& generated_id) {
  req->method = std::string(msg.method_string());
  req->target = std::string(msg.target());
  for (const auto& f : msg) {
    std::string name = lower(f.name_string());
    if (!is_utf8(f.value())) return bad_request("the value of header " + name + " is not UTF-8", name);
    auto [it, inserted] = req->headers.try_emplace(std::move(name), std::string(f.value()));
    if (!inserted) it->second.append(", ").append(f.value());
  }
  req->body = std::move(msg.body());
  const std::string_view rid = req->header("x-request-id");
  req->request_id = (!rid.empty() && rid.size() <= 128) ? std::string(rid) : generated_id();
  if (!parse_target(*req)) return bad_request("the request target has a malformed %-escape or is not UTF-8", "target");
  return std::nullopt;
}

// Runs `ioc` until it is stopped (or, for the accepting thread, until it has nothing left to do). A handler that
// throws (memory exhausted, an observer's bug) ends its own connection, whose last reference it held, not the
// process: the exception is reported and the loop goes on.
void run_until_stopped(asio::io_context& ioc) {
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "otinish: an HTTP connection's handler failed, and the connection was closed: %s\n", e.what());
    }
  }
}

// Request ids: a random per-process prefix and a counter (unique, cheap, no clock).
class RequestIds {
 public:
  RequestIds() {
    std::random_device rd;
    prefix_ = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }
  std::string next() {
    char buf[40];
    const auto n = counter_.fetch_add(1, std::memory_order_relaxed);
    std::snprintf(buf, sizeof buf, "%08llx-%llu", static_cast<unsigned long long>(prefix_ & 0xffffffffu),
                  static_cast<unsigned long long>(n));
    return buf;
  }

 private:
  std::uint64_t prefix_ = 0;
  std::atomic<std::uint64_t> counter_{1};
};

}  // namespace

class Session;

// Set on a worker thread by every job it runs: offload() from a worker runs its work at once.
thread_local bool t_on_worker = false;

struct HttpServer::Impl {
  Impl(ServerOptions o, Handler h, RequestObserver obs, InlineRequests inl)
      : options(std::move(o)),
        handler(std::move(h)),
        observer(std::move(obs)),
        inline_requests(std::move(inl)),
        iocs(make_contexts(std::max(1, options.io_threads))),
        workers(static_cast<std::size_t>(std::max(1, options.worker_threads))),
        accept_ioc(1),
        acceptor(accept_ioc) {}

  // One io_context per I/O thread, each run by its thread alone (concurrency hint 1): a connection lives on one of
  // them, so its handlers never run concurrently without a strand's lock and queue, and the scheduler skips
  // the locks a shared context takes. Other threads (workers, the store's completions) post to it.
  // Each context's reactor (its epoll, eventfd and timerfd descriptors) is made here, by a socket made and
  // dropped: made at its first connection instead, it would fail there if the process were out of descriptors
  // by then, and end the server from inside an accept.
  static std::vector<std::unique_ptr<asio::io_context>> make_contexts(int n) {
    std::vector<std::unique_ptr<asio::io_context>> out;
    for (int i = 0; i < n; ++i) {
      out.push_back(std::make_unique<asio::io_context>(1));
      Socket warm(*out.back());
    }
    return out;
  }
  // The context the next connection is served on (round robin).
  asio::io_context& next_context() { return *iocs[next_io++ % iocs.size()]; }

  void accept();
  static constexpr std::chrono::milliseconds kAcceptRetry{50};  // after an accept failed (descriptors exhausted)
  // Answers that handlers promised for later (HttpResponse::later) and have not given yet: shutdown waits for
  // them before it stops the I/O threads their answers are written on, as it waits for the workers.
  void later_begun() {
    std::lock_guard lock(later_mu);
    ++later_answers;
  }
  void later_answered() {
    std::lock_guard lock(later_mu);
    if (--later_answers == 0) later_cv.notify_all();
  }
  // Queues `work` for a worker thread, which it marks as one (offload() from there runs at once).
  // A job that throws (memory exhausted, an observer's bug) ends its own connection, not the process, as on an
  // I/O thread (run_until_stopped).
  void to_worker(std::function<void()> work) {
    asio::post(workers, [work = std::move(work)] {
      if (!t_on_worker) name_this_thread("otinish-worker");
      t_on_worker = true;
      try {
        work();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "otinish: an HTTP request's job failed, and its connection was closed: %s\n", e.what());
      }
    });
  }
  void register_session(Session* s, const std::shared_ptr<Session>& sp);
  void unregister_session(Session* s);
  void report(const RequestRecord& r) const {
    if (observer) observer(r);
  }

  const ServerOptions options;
  const Handler handler;
  const RequestObserver observer;
  const InlineRequests inline_requests;
  RequestIds request_ids;

  // Declared before the io_context: sessions destroyed with its pending handlers still unregister here.
  std::mutex sessions_mu;
  std::condition_variable sessions_cv;  // signalled when a session ends
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;  // GUARDED_BY(sessions_mu)
  std::mutex later_mu;
  std::condition_variable later_cv;
  std::size_t later_answers = 0;  // guarded by later_mu
  std::atomic<std::size_t> connections{0};
  std::atomic<std::size_t> streams{0};
  std::atomic<std::uint16_t> port{0};
  std::atomic<bool> stopping{false};
  bool started = false;  // start()/shutdown() thread only
  bool stopped = false;

  // Destroyed in the reverse order: the workers (whose queued jobs may hold sessions) before the I/O contexts
  // those sessions' sockets and timers belong to.
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  asio::thread_pool workers;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::size_t next_io = 0;  // accept handler only
  // Accepting runs on a thread of its own, so that an I/O thread busy with its connections delays no new one.
  asio::io_context accept_ioc;
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry{accept_ioc};  // accept thread only
  std::thread accept_thread;
  std::vector<std::thread> io_threads;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpServer::Impl& server, Socket socket) : server_(server), stream_(std::move(socket)) {
    server_.connections.fetch_add(1, std::memory_order_acq_rel);
    // Once per connection, not per request (a getpeername system call each time).
    beast::error_code ec;
    const auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  ~Session() {
    if (streaming_) server_.streams.fetch_sub(1, std::memory_order_acq_rel);
    server_.connections.fetch_sub(1, std::memory_order_acq_rel);
    server_.unregister_session(this);
  }

  void start(bool overloaded) {
    server_.register_session(this, shared_from_this());
    asio::dispatch(stream_.get_executor(), [self = shared_from_this(), overloaded] {
      if (overloaded) {
        self->refuse_overloaded();
      } else {
        self->wait_for_request();
      }
    });
  }

  // Called (on the session's I/O thread) when the server begins shutting down.
  void on_shutdown() {
    if (phase_ == Phase::kIdle) close();
    if (phase_ == Phase::kStreaming) finish_stream();
  }
  // Called (on the session's I/O thread) when the grace period is over.
  void force_close() { close(); }

  auto executor() { return stream_.get_executor(); }

  // Stream sink side (called on the session's I/O thread).
  void queue_chunk(std::string bytes) {
    if (phase_ != Phase::kStreaming) return;
    out_queue_.push_back(std::move(bytes));
    if (!writing_) write_next_chunk();
  }
  void finish_stream() {
    if (phase_ != Phase::kStreaming) return;
    phase_ = Phase::kClosed;
    heartbeat_.reset();
    producer_.reset();  // stops the producer (e.g. joins a subscription's thread)
    sink_.reset();
    close();
  }
  std::atomic<std::size_t>& backlog() { return backlog_; }

 private:
  enum class Phase { kIdle, kReading, kBusy, kStreaming, kClosed };

  class Sink final : public StreamSink {
   public:
    explicit Sink(std::weak_ptr<Session> s, std::size_t max_backlog) : session_(std::move(s)), max_(max_backlog) {}
    bool push(std::string bytes) override {
      auto s = session_.lock();
      if (!s || closed_.load(std::memory_order_acquire)) return false;
      const std::size_t n = bytes.size();
      if (s->backlog().fetch_add(n, std::memory_order_acq_rel) + n > max_) {
        closed_.store(true, std::memory_order_release);
        asio::post(s->executor(), [s] { s->finish_stream(); });
        return false;
      }
      asio::post(s->executor(), [s, b = std::move(bytes)]() mutable { s->queue_chunk(std::move(b)); });
      return true;
    }
    void close() override {
      closed_.store(true, std::memory_order_release);
      if (auto s = session_.lock()) {
        asio::post(s->executor(), [s] { s->end_after_queue(); });
      }
    }

   private:
    std::weak_ptr<Session> session_;
    const std::size_t max_;
    std::atomic<bool> closed_{false};
  };

  void refuse_overloaded() {
    Problem p{.status = 503, .type = "overloaded", .title = "Too many connections",
              .detail = "the server holds its maximum of " + std::to_string(server_.options.max_connections) +
                        " connections; retry in a second"};
    HttpResponse r = problem_response(p);
    r.set_header("Retry-After", "1");
    keep_alive_ = false;
    write_response(std::move(r), nullptr);
  }

  void wait_for_request() {
    if (server_.stopping.load(std::memory_order_acquire)) return close();
    phase_ = Phase::kIdle;
    if (buffer_.size() > 0) return read_request();
    stream_.expires_after(std::chrono::milliseconds(server_.options.idle_timeout_ms));
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      if (ec) return self->close();
      self->buffer_.commit(n);
      self->read_request();
    });
  }

  void read_request() {
    phase_ = Phase::kReading;
    started_ = SteadyClock::now();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.options.max_header_bytes));
    parser_->body_limit(server_.options.max_body_bytes);
    // The read timeout cancels the read instead of closing the socket (what tcp_stream's own expiry does), so
    // that the client still gets its 408.
    stream_.expires_never();
    timed_out_ = false;
    read_timer_.expires_after(std::chrono::milliseconds(server_.options.read_timeout_ms));
    read_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->phase_ != Phase::kReading) return;
      self->timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->read_timer_.cancel();
      self->on_read(ec);
    });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::eof) return close();
    if (timed_out_) {
      return refuse(Problem{.status = 408, .type = "request-timeout", .title = "Request timeout",
                            .detail = "the request did not arrive within " +
                                      std::to_string(server_.options.read_timeout_ms) + " ms; send it faster"});
    }
    if (ec) {
      if (auto p = parse_refusal(ec, server_.options)) return refuse(*p);
      return close();  // reset by peer, cancelled at shutdown
    }
    dispatch_request(parser_->release());
  }

  // Answers a request the server refuses before any handler runs, then closes the connection.
  void refuse(const Problem& p) {
    keep_alive_ = false;
    HttpResponse r = problem_response(p);
    r.route = "-";
    report_request(nullptr, started_, r);
    write_response(std::move(r), nullptr);
  }

  void dispatch_request(http::request<http::string_body> msg) {
    phase_ = Phase::kBusy;
    keep_alive_ = msg.keep_alive();
    auto req = std::make_shared<HttpRequest>();
    req->remote = remote_;
    if (auto bad = to_http_request(std::move(msg), req.get(), [this] { return server_.request_ids.next(); })) {
      return refuse(*bad);
    }

    auto handle = [self = shared_from_this(), req, started = started_] {
      HttpResponse r;
      try {
        r = self->server_.handler(*req);
      } catch (const std::exception& e) {
        r = problem_response(Problem{.status = 500, .type = "internal", .title = "Internal error",
                                     .detail = std::string("the handler failed: ") + e.what()});
      }
      if (!r.later) {
        self->report_request(req.get(), started, r);
        // On the connection's own I/O thread (a request handled inline) this writes at once; from a worker, it queues.
        asio::dispatch(self->executor(), [self, req, r = std::move(r)]() mutable {
          self->write_response(std::move(r), req.get());
        });
        return;
      }
      // Answered later, from the thread that completes it (a registration: the store's, once durable): this
      // worker is free meanwhile. Shutdown waits for every such answer (Impl::later_answers).
      self->server_.later_begun();
      std::shared_ptr<LaterResponse> later = std::move(r.later);
      later->deliver_to([self, req, started, promise = std::move(r)](HttpResponse a) mutable {
        a.label_as(promise);
        // The completing thread is the store's, which completes every append: the request's report (the access
        // log, metrics) and the write are the connection's work, not the next completion's delay. The session
        // goes with it (this callback keeps no reference), and the answer counts as given only there: so the
        // session's last reference is never dropped on the completing thread after shutdown() stopped waiting
        // (it would then unregister from a server that is gone). The I/O threads run until every answer counted.
        auto executor = self->executor();
        asio::post(executor, [self = std::move(self), req, started, a = std::move(a)]() mutable {
          self->report_request(req.get(), started, a);
          self->write_response(std::move(a), req.get());
          self->server_.later_answered();
        });
      });
    };
    if (server_.inline_requests && server_.inline_requests(*req)) return handle();
    server_.to_worker(std::move(handle));
  }

  void report_request(const HttpRequest* req, SteadyClock::time_point started, const HttpResponse& r) {
    RequestRecord rec{.request = req, .status = r.status, .route = r.route, .principal = r.principal,
                      .role = r.role, .response_bytes = r.body.size()};
    rec.duration = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - started);
    server_.report(rec);
  }

  void write_response(HttpResponse r, const HttpRequest* req) {
    if (phase_ == Phase::kClosed) return;
    if (r.stream) return start_stream(std::move(r), req);
    phase_ = Phase::kBusy;
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(static_cast<unsigned>(r.status));
    for (auto& [k, v] : r.headers) res->insert(k, v);
    if (req != nullptr) res->set("X-Request-Id", req->request_id);
    const bool no_body = r.status == 204 || r.status == 304 || (req != nullptr && req->method == "HEAD");
    if (!no_body) res->set(http::field::content_type, r.content_type);
    res->body() = no_body ? std::string{} : std::move(r.body);
    const bool keep = keep_alive_ && !server_.stopping.load(std::memory_order_acquire);
    res->keep_alive(keep);
    res->prepare_payload();
    stream_.expires_after(std::chrono::milliseconds(server_.options.write_timeout_ms));
    http::async_write(stream_, *res, [self = shared_from_this(), res, keep](beast::error_code ec, std::size_t) {
      if (ec || !keep) return self->close();
      self->wait_for_request();
    });
  }

  void start_stream(HttpResponse r, const HttpRequest* req) {
    if (server_.streams.fetch_add(1, std::memory_order_acq_rel) >= server_.options.max_streams ||
        server_.stopping.load(std::memory_order_acquire)) {
      server_.streams.fetch_sub(1, std::memory_order_acq_rel);
      keep_alive_ = false;
      HttpResponse busy = problem_response(Problem{
          .status = 503, .type = "too-many-streams", .title = "Too many event streams",
          .detail = "the server serves at most " + std::to_string(server_.options.max_streams) +
                    " event streams; retry later with Last-Event-ID"});
      busy.set_header("Retry-After", "5");
      return write_response(std::move(busy), req);
    }
    streaming_ = true;
    phase_ = Phase::kStreaming;
    std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(reason_phrase(r.status)) + "\r\n";
    head += "Content-Type: " + r.content_type + "\r\nCache-Control: no-cache\r\nConnection: close\r\n";
    head += "X-Accel-Buffering: no\r\n";
    if (req != nullptr) head += "X-Request-Id: " + req->request_id + "\r\n";
    for (auto& [k, v] : r.headers) head += k + ": " + v + "\r\n";
    head += "\r\n";
    out_queue_.push_back(std::move(head));
    write_next_chunk();
    // A client that closes its side ends the stream at once (it sends nothing else on an SSE connection).
    stream_.socket().async_read_some(asio::buffer(drain_), [self = shared_from_this()](beast::error_code, std::size_t) {
      self->finish_stream();
    });
    sink_ = std::make_shared<Sink>(weak_from_this(), server_.options.max_stream_backlog_bytes);
    producer_ = r.stream(sink_);
    heartbeat_.emplace(stream_.get_executor());
    schedule_heartbeat();
  }

  void schedule_heartbeat() {
    heartbeat_->expires_after(std::chrono::milliseconds(server_.options.stream_heartbeat_ms));
    heartbeat_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->phase_ != Phase::kStreaming) return;
      self->queue_chunk(": keep-alive\n\n");
      self->schedule_heartbeat();
    });
  }

  void write_next_chunk() {
    if (out_queue_.empty()) {
      writing_ = false;
      if (end_after_queue_) finish_stream();
      return;
    }
    writing_ = true;
    stream_.expires_after(std::chrono::milliseconds(server_.options.write_timeout_ms));
    asio::async_write(stream_, asio::buffer(out_queue_.front()),
                      [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                        if (ec) return self->finish_stream();
                        self->backlog_.fetch_sub(std::min(n, self->backlog_.load()), std::memory_order_acq_rel);
                        self->out_queue_.pop_front();
                        self->write_next_chunk();
                      });
  }

  void end_after_queue() {
    end_after_queue_ = true;
    if (!writing_) finish_stream();
  }

  void close() {
    if (phase_ == Phase::kStreaming) return finish_stream();
    phase_ = Phase::kClosed;
    read_timer_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  HttpServer::Impl& server_;
  beast::basic_stream<tcp, Executor> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  asio::basic_waitable_timer<SteadyClock, asio::wait_traits<SteadyClock>, Executor> read_timer_{stream_.get_executor()};
  bool timed_out_ = false;
  SteadyClock::time_point started_ = SteadyClock::now();
  Phase phase_ = Phase::kIdle;
  std::string remote_;  // the peer's address:port, for handlers (HttpRequest::remote); empty if unknown
  bool keep_alive_ = true;
  // Streaming state (the I/O thread only, except backlog_).
  bool streaming_ = false;
  bool writing_ = false;
  bool end_after_queue_ = false;
  std::deque<std::string> out_queue_;
  std::atomic<std::size_t> backlog_{0};
  std::shared_ptr<StreamSink> sink_;  // held here so producers can keep weak_ptrs to it
  std::unique_ptr<StreamProducer> producer_;
  std::optional<asio::basic_waitable_timer<SteadyClock, asio::wait_traits<SteadyClock>, Executor>> heartbeat_;
  char drain_[64];
};

void HttpServer::Impl::register_session(Session* s, const std::shared_ptr<Session>& sp) {
  std::lock_guard lock(sessions_mu);
  sessions.emplace(s, sp);
}

void HttpServer::Impl::unregister_session(Session* s) {
  {
    std::lock_guard lock(sessions_mu);
    sessions.erase(s);
  }
  sessions_cv.notify_all();
}

void HttpServer::Impl::accept() {
  acceptor.async_accept(next_context(), [this](beast::error_code ec, Socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping.load(std::memory_order_acquire)) return;
      // Out of file descriptors (EMFILE, ENFILE) or memory: the next attempt would fail at once too, and a retry
      // at once would spin this thread on a core while nothing can be accepted. It retries after a pause; the
      // connections waiting meanwhile stay in the listen backlog, and are accepted once descriptors are free.
      accept_retry.expires_after(kAcceptRetry);
      accept_retry.async_wait([this](beast::error_code wait) {
        if (!wait && !stopping.load(std::memory_order_acquire)) accept();
      });
      return;
    }
    if (stopping.load(std::memory_order_acquire)) return;
    socket.set_option(tcp::no_delay(true), ec);
    const bool overloaded = connections.load(std::memory_order_acquire) >= options.max_connections;
    try {
      std::make_shared<Session>(*this, std::move(socket))->start(overloaded);
    } catch (const std::exception&) {
      // Memory (or another resource) exhausted: this connection is dropped, the server goes on accepting.
    }
    accept();
  });
}

HttpServer::HttpServer(ServerOptions options, Handler handler, RequestObserver observer,
                       InlineRequests inline_requests)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler), std::move(observer),
                                   std::move(inline_requests))) {}

void HttpServer::offload(std::function<void()> work) {
  if (t_on_worker) return work();
  impl_->to_worker(std::move(work));
}

HttpServer::~HttpServer() { shutdown(std::chrono::seconds(10)); }

Status HttpServer::start() {
  Impl& s = *impl_;
  beast::error_code ec;
  tcp::resolver resolver(s.accept_ioc);
  auto results = resolver.resolve(s.options.listen_host, std::to_string(s.options.listen_port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return Status::InvalidArgument("cannot resolve listen address '" + s.options.listen_host + "': " + ec.message());
  }
  const tcp::endpoint ep = results.begin()->endpoint();
  const std::string where = s.options.listen_host + ":" + std::to_string(s.options.listen_port);
  s.acceptor.open(ep.protocol(), ec);
  if (!ec) s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(ep, ec);
  if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError("cannot listen on " + where + ": " + ec.message() + "; choose another --listen");
  s.port.store(s.acceptor.local_endpoint().port(), std::memory_order_release);
  for (auto& ioc : s.iocs) s.work.push_back(asio::make_work_guard(*ioc));
  s.accept();
  for (auto& ioc : s.iocs) s.io_threads.emplace_back([ioc = ioc.get()] {
      name_this_thread("otinish-io");
      run_until_stopped(*ioc);
    });
  // Runs until the acceptor is closed at shutdown (its pending accept is then its last work).
  s.accept_thread = std::thread([&s] {
    name_this_thread("otinish-accept");
    run_until_stopped(s.accept_ioc);
  });
  s.started = true;
  return Status::Ok();
}

std::uint16_t HttpServer::port() const noexcept { return impl_->port.load(std::memory_order_acquire); }
std::size_t HttpServer::open_connections() const noexcept { return impl_->connections.load(); }
std::size_t HttpServer::open_streams() const noexcept { return impl_->streams.load(); }

void HttpServer::shutdown(std::chrono::milliseconds grace) {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  s.stopping.store(true, std::memory_order_release);
  asio::post(s.accept_ioc, [&s] {
    beast::error_code ec;
    s.acceptor.close(ec);
    s.accept_retry.cancel();
  });
  s.accept_thread.join();  // the accept in flight is cancelled: no session starts after this
  auto for_each_session = [&s](auto&& fn) {
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard lock(s.sessions_mu);
      for (auto& [_, w] : s.sessions)
        if (auto sp = w.lock()) live.push_back(std::move(sp));
    }
    for (auto& sp : live) asio::post(sp->executor(), [sp, fn] { fn(*sp); });
  };
  for_each_session([](Session& x) { x.on_shutdown(); });
  {
    std::unique_lock lock(s.sessions_mu);
    s.sessions_cv.wait_for(lock, grace, [&s] { return s.sessions.empty(); });
  }
  for_each_session([](Session& x) { x.force_close(); });
  {
    std::unique_lock lock(s.sessions_mu);
    s.sessions_cv.wait_for(lock, std::chrono::seconds(2), [&s] { return s.sessions.empty(); });
  }
  s.workers.join();  // handlers already running finish (their appends are acknowledged or refused)
  {
    // ... and so do the answers they left for later: the store gives each one once its append is durable or
    // refused, usually within an fsync; commands queued behind others on one appeal, and a merge or a mass
    // incident's resolution on the engine's threads, take longer (the store is closed only after the server).
    std::unique_lock lock(s.later_mu);
    s.later_cv.wait(lock, [&s] { return s.later_answers == 0; });
  }
  s.work.clear();
  for (auto& ioc : s.iocs) ioc->stop();
  for (auto& t : s.io_threads) t.join();
  s.io_threads.clear();
}

std::variant<HttpRequest, HttpResponse> read_request(std::string_view wire, const ServerOptions& options) {
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
  parser.body_limit(options.max_body_bytes);
  beast::error_code ec;
  std::size_t used = 0;
  while (!parser.is_done()) {
    const std::size_t n = parser.put(asio::buffer(wire.data() + used, wire.size() - used), ec);
    used += n;
    if ((!ec || ec == http::error::need_more) && n > 0 && used < wire.size()) continue;
    if (ec && ec != http::error::need_more) break;
    // The wire holds no more: a connection would wait for the rest and time out; here the request ended (Beast
    // takes an end before any byte for a complete message: that is no request at all).
    if (parser.got_some()) parser.put_eof(ec);
    else ec = http::error::end_of_stream;
    if (!ec && !parser.is_done()) ec = http::error::partial_message;
    break;
  }
  if (ec) {
    // Every error from a buffer is about the request; a non-HTTP one would be a bug here, answered as a 400.
    return problem_response(parse_refusal(ec, options).value_or(bad_request("the request could not be read: " + ec.message())));
  }
  HttpRequest req;
  if (auto bad = to_http_request(parser.release(), &req, [] { return std::string("local"); })) {
    return problem_response(*bad);
  }
  return req;
}

}  // namespace otinish::api
