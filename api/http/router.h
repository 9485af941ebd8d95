// api/http/router.h: maps method and path to a route, with path parameters.
//
// Usage:
//   Router r;
//   r.add("GET", "/v1/appeals/{id}", [](const HttpRequest& q, const PathParams& p) { ... p.at("id") ... });
//   HttpResponse res = r.route(request);   // 404 problem for an unknown path, 405 (with Allow) for a method
//
// A pattern is literal segments and `{name}` segments (one whole segment each); a parameter may end in a
// literal suffix, `{id}.json`, which a segment must end in (and which the parameter leaves out). Literal segments
// win over parameters when both match. A HEAD request is served by the GET route without its body.
//
// Thread-safety: add() before serving; route() is then thread-safe (const).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api/http/http_types.h"

namespace otinish::api {

using PathParams = std::map<std::string, std::string, std::less<>>;
using RouteHandler = std::function<HttpResponse(const HttpRequest&, const PathParams&)>;

class Router {
 public:
  // REQUIRES: the same (method, pattern) is not added twice.
  void add(std::string method, std::string pattern, RouteHandler handler);

  // Finds the route and calls it; sets HttpResponse::route to the pattern ("-" when none matched).
  HttpResponse route(const HttpRequest& request) const;

  struct Entry {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    RouteHandler handler;
  };
  const std::vector<Entry>& entries() const noexcept { return entries_; }

 private:
  std::vector<Entry> entries_;
};

// Splits "/v1/appeals/x" into {"v1", "appeals", "x"} (empty segments dropped).
std::vector<std::string_view> split_path(std::string_view path);

}  // namespace otinish::api
