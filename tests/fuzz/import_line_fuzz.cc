// Fuzz target for one line of `otinish import` (an export line, api/cli/log_commands.cc): the JSON parse and
// envelope_from_json, then the checks import makes on the event (its hash over the canonical envelope).
// Properties: never a crash or an exception; a line that reads back is an event whose export form reads back
// as the same event.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <boost/json.hpp>

#include "api/http/json_codec.h"
#include "store/event_store.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace otinish;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(line, ec);
  if (ec) return 0;
  auto e = api::envelope_from_json(v);
  if (!e.ok()) return 0;
  (void)(store::compute_event_hash(*e) == e->hash);
  const boost::json::object exported = api::envelope_to_json(*e, api::EnvelopeForm::kExport);
  auto back = api::envelope_from_json(exported);
  if (!back.ok() || !(*back == *e)) {
    std::fprintf(stderr, "property violated: an imported event's export line does not read back as the same event\n");
    std::abort();
  }
  (void)api::envelope_to_json(*e, api::EnvelopeForm::kFeed);
  return 0;
}
