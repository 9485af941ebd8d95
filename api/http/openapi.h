// api/http/openapi.h: the OpenAPI 3.1 description of the HTTP API (GET /v1/openapi.json).
//
// Kept beside the routes it describes; tests/api check that every route the service serves is described and
// that every described path is served.
#pragma once

#include <string>

namespace otinish::api {

// The document as JSON text. Built once; thread-safe.
const std::string& openapi_document();

}  // namespace otinish::api
