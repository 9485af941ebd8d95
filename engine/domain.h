// engine/domain.h: the vocabulary of an appeal: ids, categories, priorities, channels, places, applicants,
// topics.
//
// The engine (this folder) owns the appeal domain: commands, events, the lifecycle state machine, the command
// handler, projections and replay. It knows the store only through store/event_store.h and must not know HTTP,
// YAML rule syntax or how personal data is encrypted (an ApplicantSealer does that, see below).
//
// All types here are plain values: thread-compatible, cheap to copy.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace otinish::engine {

// The five categories of the 109 regulation.
enum class Category : std::uint8_t { kConsultation, kIncident, kProposal, kComplaint, kGratitude };
// kCritical: a danger to life or property (an open manhole); a critical incident skips review.
enum class Priority : std::uint8_t { kLow, kNormal, kHigh, kCritical };
enum class Channel : std::uint8_t { kPhone, kWhatsapp, kTelegram, kFacebook, kInstagram, kWeb };
// How an appeal was resolved. A proposal ends kProposalAccepted or kProposalDeclined; other categories use
// kDone (the problem was fixed), kExplained (an answer or explanation was given) or kNotConfirmed (on site the
// problem was not found).
enum class Outcome : std::uint8_t { kNone, kDone, kExplained, kNotConfirmed, kProposalAccepted, kProposalDeclined };

// Stable lower-case names ("consultation", "whatsapp", "proposal_accepted"), used in events' docs, JSON and
// the CLI. parse_* accept exactly these names and return kInvalidArgument listing them otherwise.
std::string_view to_string(Category c) noexcept;
std::string_view to_string(Priority p) noexcept;
std::string_view to_string(Channel c) noexcept;
std::string_view to_string(Outcome o) noexcept;
Result<Category> parse_category(std::string_view s);
Result<Priority> parse_priority(std::string_view s);
Result<Channel> parse_channel(std::string_view s);
Result<Outcome> parse_outcome(std::string_view s);

// A number a person can read over the phone: "<centre>-<year>-<sequence>", e.g. "SHY-2026-0012345".
// The centre code is 2..8 upper-case ASCII letters; the sequence is dense per centre and year, from 1, printed
// with at least 7 digits.
struct AppealId {
  std::string centre;
  std::int32_t year = 0;
  std::uint32_t sequence = 0;

  std::string to_string() const;
  // The appeal's stream in the log: "appeal-SHY-2026-0012345".
  std::string stream() const;
  // Parses to_string()'s form. Errors: kInvalidArgument naming what is wrong.
  static Result<AppealId> parse(std::string_view text);
  // The stream whose version is the last sequence allocated for (centre, year): "seq-SHY-2026".
  static std::string sequence_stream(std::string_view centre, std::int32_t year);

  friend auto operator<=>(const AppealId&, const AppealId&) = default;
  friend bool operator==(const AppealId&, const AppealId&) = default;
};

// The public part of where the problem is: safe for the public feed.
struct Location {
  std::string district;  // e.g. "Abay", "Al-Farabi"; one of the city's districts or sectors
  std::string street;    // the street or landmark without a house or flat number; may be empty
  friend bool operator==(const Location&, const Location&) = default;
};

// Personal data of the applicant. Never written to a projection or the public feed; in the log it travels
// only inside a SealedApplicant (see ApplicantSealer).
struct Applicant {
  std::string name;
  std::string phone;    // as given; normalise_phone() gives the form used for repeat detection
  std::string address;  // exact address with house and flat
  // The appeal's text as given, when the text stored in plain bytes had personal data taken out of it
  // (engine/privacy/redact.h); filled by the engine at registration, sealed with the rest. Empty otherwise.
  std::string original_text;
  friend bool operator==(const Applicant&, const Applicant&) = default;
};

// The applicant as stored in an event: opaque bytes plus how they were sealed. scheme 0 is "plain" (cereal
// bytes, no encryption: tests and explicit opt-outs only); scheme 1 is XChaCha20-Poly1305 under the
// applicant's own data key (engine/privacy/sealer.h). key_id names that key: a random applicant id
// ("ap-5f0c9a1e42d7b3c8") that says nothing about the person.
struct SealedApplicant {
  std::uint8_t scheme = 0;
  std::string key_id;
  std::string bytes;
  friend bool operator==(const SealedApplicant&, const SealedApplicant&) = default;
};

// Turns an Applicant into a SealedApplicant and back. The engine calls only this interface; how personal data
// is encrypted, and where keys live, is the sealer's business (engine/privacy/). `appeal_id` is the appeal the
// applicant is sealed into: a sealer may bind the bytes to it and record it for erasure.
// Implementations must be thread-safe.
class ApplicantSealer {
 public:
  virtual ~ApplicantSealer() = default;
  virtual Result<SealedApplicant> seal(const Applicant& a, std::string_view appeal_id) const = 0;
  // Errors: kNotFound when the key was erased (the person was shredded); kCorruption for bad bytes;
  // kFailedPrecondition for a scheme this sealer cannot open.
  virtual Result<Applicant> open(const SealedApplicant& s, std::string_view appeal_id) const = 0;

  // What seal() wrote may reach the disk after it returns (a new applicant's key is written to the OS, not yet
  // synced, so that a registration's thread never waits for that fsync). The engine calls one of these two
  // before it appends a sealed applicant, so that no event in the log names a key a power loss could take:
  //   - make_durable() blocks until everything sealed so far is durable;
  //   - make_durable_async() calls `done` exactly once when what `sealed` needs (its key) is durable, with the
  //     sync's outcome: on this thread when it already is (a returning applicant's key, usually: it does not
  //     wait for other people's new keys), else on a thread of the sealer's once a (shared) sync has run.
  // The default: nothing to make durable.
  virtual Status make_durable() const { return Status::Ok(); }
  virtual void make_durable_async(const SealedApplicant& sealed, std::function<void(Status)> done) const {
    (void)sealed;
    done(make_durable());
  }
};

// Scheme 0, no encryption. Thread-safe (stateless). Only for tests and deployments that explicitly opt out of
// sealing (`otinish serve --plain-personal-data`); every sealer opens scheme 0 through it.
class PlainApplicantSealer final : public ApplicantSealer {
 public:
  Result<SealedApplicant> seal(const Applicant& a, std::string_view appeal_id) const override;
  Result<Applicant> open(const SealedApplicant& s, std::string_view appeal_id) const override;
  static const PlainApplicantSealer& instance() noexcept;
};

// Who an applicant is, for giving one person's appeals one key: "phone:<11 digits>" when the phone holds at
// least 10 digits, else "contact:<the contact>" when it is a messenger handle or an email (holds '@'), else
// "desk:<name>|<address>" when the desk entered both, each through normalise_address; else empty (the appeal
// gets a key of its own: a "-" in the phone field or a first name alone must not make strangers one person).
std::string applicant_identity(const Applicant& a);

// Digits only, Kazakh numbers as 11 digits starting with 7 ("8 777 710 9109" -> "77777109109"). Used to link
// repeat appeals by the same person without storing the number.
std::string normalise_phone(std::string_view phone);
// Lower-case ASCII, runs of white space, commas and dots as one space, trimmed; other bytes (Cyrillic, Kazakh)
// as they are: the form in which two spellings of one address, name or contact compare equal.
std::string normalise_address(std::string_view text);

// One topic of the catalogue (examples/catalogue/topics.yaml).
struct Topic {
  std::string code;            // stable id, e.g. "utilities.heating.no_heat"
  std::string name_kk, name_ru, name_en;
  std::string default_agency;  // agency code from the directory
  Category default_category = Category::kConsultation;
  bool dangerous = false;      // an incident on this topic is critical and skips review
};

// Where the engine looks topics up. Implementations must be thread-safe for concurrent find().
class TopicCatalogue {
 public:
  virtual ~TopicCatalogue() = default;
  // nullptr if the code is unknown.
  virtual const Topic* find(std::string_view code) const = 0;
};

// A catalogue held in memory. Immutable after construction, so thread-safe.
class InMemoryTopicCatalogue final : public TopicCatalogue {
 public:
  explicit InMemoryTopicCatalogue(std::vector<Topic> topics);
  const Topic* find(std::string_view code) const override;
  std::size_t size() const noexcept { return by_code_.size(); }

 private:
  const std::map<std::string, Topic, std::less<>> by_code_;
};

}  // namespace otinish::engine
