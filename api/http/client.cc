// The second (and last) translation unit with Boost.Beast: the client side.
#include "api/http/client.h"

#include <optional>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace otinish::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpClient::Impl {
  std::string host;
  std::uint16_t port;
  std::chrono::milliseconds timeout;
  asio::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  beast::error_code connect(beast::tcp_stream& s) {
    beast::error_code ec;
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return ec;
    s.expires_after(timeout);
    s.async_connect(results, [&ec](beast::error_code e, const tcp::endpoint&) { ec = e; });
    ioc.restart();
    ioc.run();
    if (!ec) s.socket().set_option(tcp::no_delay(true), ec);
    return ec;
  }

  beast::error_code exchange(http::request<http::string_body>& req, http::response<http::string_body>& res) {
    beast::error_code ec;
    stream->expires_after(timeout);
    http::async_write(*stream, req, [&ec](beast::error_code e, std::size_t) { ec = e; });
    ioc.restart();
    ioc.run();
    if (ec) return ec;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    stream->expires_after(timeout);
    http::async_read(*stream, buffer, parser, [&ec](beast::error_code e, std::size_t) { ec = e; });
    ioc.restart();
    ioc.run();
    if (!ec) res = parser.release();
    return ec;
  }
};

HttpClient::HttpClient(std::string host, std::uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->timeout = timeout;
}

HttpClient::~HttpClient() { close(); }

void HttpClient::close() {
  if (!impl_->stream) return;
  beast::error_code ec;
  impl_->stream->socket().shutdown(tcp::socket::shutdown_both, ec);
  impl_->stream->socket().close(ec);
  impl_->stream.reset();
  impl_->buffer.clear();
}

Result<ClientResponse> HttpClient::request(std::string_view method, std::string_view target, std::string_view body,
                                           const HeaderList& headers) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, impl_->host + ":" + std::to_string(impl_->port));
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    req.set(k, v);
    if (beast::iequals(k, "content-type")) has_type = true;
  }
  if (!body.empty() && !has_type) req.set(http::field::content_type, "application/json");
  req.body() = std::string(body);
  req.prepare_payload();
  req.keep_alive(true);
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool fresh = !impl_->stream;
    if (fresh) {
      impl_->stream.emplace(impl_->ioc);
      if (auto ec = impl_->connect(*impl_->stream)) {
        close();
        return Status::IOError("cannot connect to " + impl_->host + ":" + std::to_string(impl_->port) + ": " +
                               ec.message());
      }
    }
    http::response<http::string_body> res;
    beast::error_code ec = impl_->exchange(req, res);
    if (ec) {
      close();
      if (!fresh) continue;  // the kept-alive connection had been closed by the server: retry once
      return Status::IOError(std::string(method) + " " + std::string(target) + ": " + ec.message());
    }
    ClientResponse out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string(f.value());
    }
    out.body = std::move(res.body());
    if (!res.keep_alive()) close();
    return out;
  }
  return Status::IOError("connection closed twice");
}

Result<std::string> HttpClient::stream(std::string_view request_bytes,
                                       const std::function<bool(std::string_view)>& until,
                                       std::chrono::milliseconds timeout) {
  beast::tcp_stream s(impl_->ioc);
  if (auto ec = impl_->connect(s)) return Status::IOError("cannot connect: " + ec.message());
  beast::error_code ec;
  s.expires_after(timeout);
  asio::async_write(s, asio::buffer(request_bytes.data(), request_bytes.size()),
                    [&ec](beast::error_code e, std::size_t) { ec = e; });
  impl_->ioc.restart();
  impl_->ioc.run();
  if (ec) return Status::IOError("cannot send: " + ec.message());
  std::string received;
  char buf[4096];
  while (!until(received)) {
    std::size_t n = 0;
    s.async_read_some(asio::buffer(buf), [&](beast::error_code e, std::size_t k) {
      ec = e;
      n = k;
    });
    impl_->ioc.restart();
    impl_->ioc.run();
    received.append(buf, n);
    if (ec) break;  // closed by the server, or the timeout (the same deadline for the whole exchange)
  }
  s.socket().shutdown(tcp::socket::shutdown_both, ec);
  s.socket().close(ec);
  return received;
}

Result<std::string> HttpClient::raw(std::string_view bytes, std::chrono::milliseconds timeout) {
  return stream(bytes, [](std::string_view) { return false; }, timeout);
}

}  // namespace otinish::api
