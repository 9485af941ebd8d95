// store/envelope_codec.h (internal): the canonical bytes of an envelope (docs/log-format.md, "Envelope").
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "store/event.h"

namespace otinish::store {

inline constexpr std::uint8_t kEnvelopeFormat = 1;

// Appends every field but `hash` (format byte first, prev_hash last): the bytes the hash covers.
void encode_envelope_body(const RecordedEvent& e, std::string* out);
// The stored value: body followed by the 32-byte hash.
std::string encode_envelope(const RecordedEvent& e);
// Decodes a stored value into `e` (reusing its strings' capacity). kCorruption if the bytes are not a
// well-formed envelope of a known format; the message says which field failed.
Status decode_envelope(std::string_view bytes, RecordedEvent* e);

}  // namespace otinish::store
