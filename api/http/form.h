// api/http/form.h: percent-encoding as URLs and HTML forms use it (RFC 3986, WHATWG
// application/x-www-form-urlencoded): a request target's path and query, and a form body.
//
//   FormFields f;
//   if (!parse_form("service_code=lifts.stuck&address_string=Tauke+khan+5%2C+Abay", &f)) { /* 400 */ }
//   f.at("address_string") == "Tauke khan 5, Abay"
//
// Thread-safety: pure functions.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace otinish::api {

// Decoded names and values; a name given twice keeps its last value.
using FormFields = std::map<std::string, std::string, std::less<>>;

// Percent-decodes `in` into `*out`; with `plus_is_space` (a query or form component) '+' becomes a space.
// Returns false on a malformed escape ('%' not followed by two hex digits) or when the decoded text is not
// UTF-8 (common/utf8.h; what is decoded goes on into JSON and the log).
bool percent_decode(std::string_view in, bool plus_is_space, std::string* out);

// Parses "a=1&b=x+y" (a query string or a form body) into `*out`, adding to what it holds. Empty pairs are
// skipped; a name without '=' has the value "". Returns false as percent_decode does.
bool parse_form(std::string_view text, FormFields* out);

}  // namespace otinish::api
