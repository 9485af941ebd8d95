#include "engine/privacy/privacy_events.h"

#include "engine/serialization.h"

namespace otinish::engine::privacy {

namespace {
constexpr std::uint32_t kSchema = 1;
}  // namespace

template <class Archive>
void serialize(Archive& ar, ApplicantErased& e) {
  ar(e.applicant_id, e.reason, e.rule);
}
template <class Archive>
void serialize(Archive& ar, PersonalDataRead& e) {
  ar(e.appeal_id, e.applicant_id, e.what, e.purpose);
}

bool is_privacy_event_type(std::string_view type) noexcept {
  return type == kApplicantErasedType || type == kPersonalDataReadType;
}

store::EventData encode_privacy_event(const PrivacyEvent& e) {
  store::EventData d;
  d.schema_version = kSchema;
  std::visit(
      [&](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        d.type = std::is_same_v<T, ApplicantErased> ? kApplicantErasedType : kPersonalDataReadType;
        d.payload = to_bytes(body);
      },
      e);
  return d;
}

Result<PrivacyEvent> decode_privacy_event(std::string_view type, std::uint32_t schema_version,
                                          std::string_view payload) {
  if (!is_privacy_event_type(type)) return Status::NotFound("not a privacy event: " + std::string(type));
  if (schema_version > kSchema) {
    return Status::InvalidArgument(std::string(type) + " schema " + std::to_string(schema_version) +
                                   " is newer than this build reads (" + std::to_string(kSchema) + ")");
  }
  if (type == kApplicantErasedType) {
    ApplicantErased e;
    OTINISH_RETURN_IF_ERROR(from_bytes(payload, e, type));
    return PrivacyEvent(std::move(e));
  }
  PersonalDataRead r;
  OTINISH_RETURN_IF_ERROR(from_bytes(payload, r, type));
  return PrivacyEvent(std::move(r));
}

std::string access_stream(Timestamp t) {
  return std::string(kAccessStreamPrefix) + format_utc(t).substr(0, 10);
}

}  // namespace otinish::engine::privacy
