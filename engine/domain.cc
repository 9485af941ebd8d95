#include "engine/domain.h"

#include <array>
#include <cctype>
#include <charconv>
#include <utility>

#include "engine/serialization.h"

namespace otinish::engine {
namespace {

template <typename E, std::size_t N>
std::string_view name_of(const std::array<std::string_view, N>& names, E e) noexcept {
  auto i = static_cast<std::size_t>(e);
  return i < N ? names[i] : std::string_view("?");
}

template <typename E, std::size_t N>
Result<E> parse_named(const std::array<std::string_view, N>& names, std::string_view what, std::string_view s) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == s) return static_cast<E>(i);
  }
  std::string known;
  for (auto n : names) known += (known.empty() ? "" : ", ") + std::string(n);
  return Status::InvalidArgument("unknown " + std::string(what) + " '" + std::string(s) + "'; expected one of: " +
                                 known);
}

constexpr std::array<std::string_view, 5> kCategories = {"consultation", "incident", "proposal", "complaint",
                                                         "gratitude"};
constexpr std::array<std::string_view, 4> kPriorities = {"low", "normal", "high", "critical"};
constexpr std::array<std::string_view, 6> kChannels = {"phone",    "whatsapp",  "telegram",
                                                       "facebook", "instagram", "web"};
constexpr std::array<std::string_view, 6> kOutcomes = {"none",          "done",
                                                       "explained",     "not_confirmed",
                                                       "proposal_accepted", "proposal_declined"};

}  // namespace

std::string_view to_string(Category c) noexcept { return name_of(kCategories, c); }
std::string_view to_string(Priority p) noexcept { return name_of(kPriorities, p); }
std::string_view to_string(Channel c) noexcept { return name_of(kChannels, c); }
std::string_view to_string(Outcome o) noexcept { return name_of(kOutcomes, o); }
Result<Category> parse_category(std::string_view s) { return parse_named<Category>(kCategories, "category", s); }
Result<Priority> parse_priority(std::string_view s) { return parse_named<Priority>(kPriorities, "priority", s); }
Result<Channel> parse_channel(std::string_view s) { return parse_named<Channel>(kChannels, "channel", s); }
Result<Outcome> parse_outcome(std::string_view s) { return parse_named<Outcome>(kOutcomes, "outcome", s); }

std::string AppealId::to_string() const {
  std::string seq = std::to_string(sequence);
  if (seq.size() < 7) seq.insert(0, 7 - seq.size(), '0');
  return centre + "-" + std::to_string(year) + "-" + seq;
}

std::string AppealId::stream() const { return "appeal-" + to_string(); }

std::string AppealId::sequence_stream(std::string_view centre, std::int32_t year) {
  return "seq-" + std::string(centre) + "-" + std::to_string(year);
}

Result<AppealId> AppealId::parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("appeal id '" + std::string(text) + "' " + std::string(why) +
                                   "; expected <CENTRE>-<YEAR>-<SEQUENCE>, e.g. SHY-2026-0012345");
  };
  auto d1 = text.find('-');
  if (d1 == std::string_view::npos) return bad("has no '-'");
  auto d2 = text.find('-', d1 + 1);
  if (d2 == std::string_view::npos) return bad("has no year");
  AppealId id;
  id.centre = std::string(text.substr(0, d1));
  if (id.centre.size() < 2 || id.centre.size() > 8) return bad("has a centre code not of 2..8 letters");
  for (char c : id.centre) {
    if (c < 'A' || c > 'Z') return bad("has a centre code not in upper-case ASCII letters");
  }
  auto year = text.substr(d1 + 1, d2 - d1 - 1);
  auto seq = text.substr(d2 + 1);
  if (year.size() != 4) return bad("has a year not of 4 digits");
  auto r1 = std::from_chars(year.data(), year.data() + year.size(), id.year);
  if (r1.ec != std::errc() || r1.ptr != year.data() + year.size()) return bad("has a year that is not a number");
  if (seq.empty() || seq.size() > 10) return bad("has no sequence number");
  auto r2 = std::from_chars(seq.data(), seq.data() + seq.size(), id.sequence);
  if (r2.ec != std::errc() || r2.ptr != seq.data() + seq.size() || id.sequence == 0) {
    return bad("has a sequence that is not a positive number");
  }
  return id;
}

Result<SealedApplicant> PlainApplicantSealer::seal(const Applicant& a, std::string_view) const {
  SealedApplicant s;
  s.scheme = 0;
  s.bytes = to_bytes(a);
  return s;
}

Result<Applicant> PlainApplicantSealer::open(const SealedApplicant& s, std::string_view) const {
  if (s.scheme != 0) {
    return Status::FailedPrecondition("applicant sealed with scheme " + std::to_string(s.scheme) +
                                      " cannot be opened by the plain sealer; configure the sealer that wrote it");
  }
  Applicant a;
  OTINISH_RETURN_IF_ERROR(from_bytes(s.bytes, a, "applicant"));
  return a;
}

const PlainApplicantSealer& PlainApplicantSealer::instance() noexcept {
  static const PlainApplicantSealer sealer;
  return sealer;
}

std::string normalise_phone(std::string_view phone) {
  std::string digits;
  for (char c : phone) {
    if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
  }
  if (digits.size() == 11 && digits[0] == '8') digits[0] = '7';
  if (digits.size() == 10) digits.insert(0, "7");
  return digits;
}

std::string normalise_address(std::string_view a) {
  std::string out;
  bool space = false;
  for (char c : a) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == ',' || c == '.') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string applicant_identity(const Applicant& a) {
  // Only what tells one person from another links appeals: a number a person answers, a messenger handle or an
  // email, or a name together with an address. A "-" or "нет" typed in the phone field, or a first name alone,
  // would make strangers one applicant: erasing one would erase them all.
  const std::string digits = normalise_phone(a.phone);
  if (digits.size() >= 10) return "phone:" + digits;
  if (a.phone.find('@') != std::string::npos) {
    if (std::string contact = normalise_address(a.phone); contact.size() >= 4) return "contact:" + contact;
  }
  const std::string name = normalise_address(a.name), address = normalise_address(a.address);
  if (name.size() >= 3 && address.size() >= 3) return "desk:" + name + "|" + address;
  return "";
}

namespace {
std::map<std::string, Topic, std::less<>> index_topics(std::vector<Topic> topics) {
  std::map<std::string, Topic, std::less<>> m;
  for (auto& t : topics) {
    std::string code = t.code;
    m.emplace(std::move(code), std::move(t));
  }
  return m;
}
}  // namespace

InMemoryTopicCatalogue::InMemoryTopicCatalogue(std::vector<Topic> topics)
    : by_code_(index_topics(std::move(topics))) {}

const Topic* InMemoryTopicCatalogue::find(std::string_view code) const {
  auto it = by_code_.find(code);
  return it == by_code_.end() ? nullptr : &it->second;
}

}  // namespace otinish::engine
