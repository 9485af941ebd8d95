// api/http/console_assets.h (internal): the console's files, embedded at build time from api/console/ by
// cmake/embed_console.cmake into console_assets.cc in the build folder.
#pragma once

#include <string_view>

namespace otinish::api::console {

struct Asset {
  std::string_view name;          // "app.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view body;
  std::string_view etag;          // "\"<16 hex digits of the file's hash>\""
};

// nullptr for a name that is not a console file.
const Asset* find_asset(std::string_view name) noexcept;

}  // namespace otinish::api::console
