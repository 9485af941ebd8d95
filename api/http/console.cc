// api/http/console.cc: the browser console's files (api/console/), compiled into the binary so that a server on a
// closed city network needs nothing beside itself. The console is a client of the public API like any other:
// it holds the user's token in the browser tab and can do nothing the token may not.
#include "api/http/console_assets.h"
#include "api/http/problem.h"
#include "api/http/service.h"

namespace otinish::api {

HttpResponse ApiService::console_root(Call&) {
  HttpResponse r;
  r.status = 302;
  r.set_header("Location", "/console/");
  return r;
}

HttpResponse ApiService::console_asset(Call& c) {
  auto it = c.p.find("file");
  const std::string name = it == c.p.end() ? "index.html" : it->second;
  const console::Asset* asset = console::find_asset(name);
  if (asset == nullptr) return problem_response(not_found("the console has no file " + name));
  HttpResponse r;
  r.set_header("ETag", std::string(asset->etag));
  // Revalidated on every load (a 304 costs a round trip and no bytes), so an upgraded server is seen at once.
  r.set_header("Cache-Control", "no-cache");
  // The console runs only its own code and talks only to this server.
  r.set_header("Content-Security-Policy",
               "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
               "form-action 'none'; frame-ancestors 'none'; base-uri 'none'");
  r.set_header("X-Content-Type-Options", "nosniff");
  r.set_header("Referrer-Policy", "no-referrer");
  if (c.q.header("if-none-match") == asset->etag) {
    r.status = 304;
    return r;
  }
  r.status = 200;
  r.content_type = std::string(asset->content_type);
  r.body = std::string(asset->body);
  return r;
}

}  // namespace otinish::api
