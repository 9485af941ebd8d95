// engine/privacy/privacy_events.h: what the privacy subsystem records in the log, and its codec.
//
//   ApplicantErased   in each of the erased applicant's appeal streams: the applicant's data key was destroyed.
//                     It carries no personal data: the applicant's random id, why, and the retention rule when
//                     a rule (not a person) erased it. The appeal's lifecycle is untouched.
//   PersonalDataRead  in the day's access stream ("access-2026-12-04", UTC): someone opened an applicant's
//                     personal data. Who is the envelope's actor (token id, role); the payload says which
//                     appeal, which applicant, what was read and the purpose the caller stated.
//
// Thread-safety: pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "common/status.h"
#include "common/time.h"
#include "store/event.h"

namespace otinish::engine::privacy {

struct ApplicantErased {
  std::string applicant_id;
  std::string reason;  // e.g. "request of the applicant", "retention: complaint, 5 years after closure"
  std::string rule;    // the retention rule's id when a rule erased; empty for a request
  friend bool operator==(const ApplicantErased&, const ApplicantErased&) = default;
};

struct PersonalDataRead {
  std::string appeal_id;
  std::string applicant_id;
  std::string what;     // "contact": the name, phone and address
  std::string purpose;  // as the caller stated it (HTTP header Access-Purpose)
  friend bool operator==(const PersonalDataRead&, const PersonalDataRead&) = default;
};

using PrivacyEvent = std::variant<ApplicantErased, PersonalDataRead>;

inline constexpr std::string_view kApplicantErasedType = "ApplicantErased";
inline constexpr std::string_view kPersonalDataReadType = "PersonalDataRead";
// Every access stream starts with this prefix, then the UTC day.
inline constexpr std::string_view kAccessStreamPrefix = "access-";

bool is_privacy_event_type(std::string_view type) noexcept;
store::EventData encode_privacy_event(const PrivacyEvent& e);
// Errors: kNotFound (not a privacy event type), kInvalidArgument (a newer schema), kCorruption.
Result<PrivacyEvent> decode_privacy_event(std::string_view type, std::uint32_t schema_version,
                                          std::string_view payload);

// The access stream of the UTC day of `t`: "access-2026-12-04".
std::string access_stream(Timestamp t);

}  // namespace otinish::engine::privacy
