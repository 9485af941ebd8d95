// Fuzz target for the HTTP request path: raw bytes read as one HTTP/1.1 request by the server's own parser and
// limits (read_request: Boost.Beast, then the translation into an HttpRequest: headers, %-decoded path and
// query), then routed and served by the ApiService of a real node (auth, router, every resource).
// "TOKEN-<role>" and "APPEAL-ID" in the bytes become a valid token and the node's appeal (fuzz_node.h).
// Properties: no crash, sanitizer report or exception; a refusal is 400, 413 or 431; a served request passes
// FuzzNode::check (never a 500, JSON where announced).
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "api/http/server.h"
#include "tests/fuzz/fuzz_node.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace otinish;
  fuzz::FuzzNode& node = fuzz::FuzzNode::get();
  const std::string wire = node.substitute(std::string(reinterpret_cast<const char*>(data), size));
  api::ServerOptions limits;
  limits.max_body_bytes = 64 << 10;  // as a server configured small: the 413 path is reachable
  limits.max_header_bytes = 8 << 10;
  auto read = api::read_request(wire, limits);
  if (auto* refused = std::get_if<api::HttpResponse>(&read)) {
    if (refused->status != 400 && refused->status != 413 && refused->status != 431) {
      fuzz::fail("the parser refused a request with " + std::to_string(refused->status) + ": " + refused->body);
    }
    return 0;
  }
  const api::HttpRequest& q = std::get<api::HttpRequest>(read);
  fuzz::FuzzNode::check(q, node.service().handle(q));
  return 0;
}
