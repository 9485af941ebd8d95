#include "engine/privacy/redact.h"

#include <array>
#include <cctype>
#include <vector>

namespace otinish::engine::privacy {

namespace {

bool digit(char c) { return c >= '0' && c <= '9'; }
bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// Whether `run` holds a date: YYYY-MM-DD or DD.MM.YYYY (with '-', '.' or '/').
bool has_date(std::string_view run) {
  auto pattern = [&](std::size_t at, std::initializer_list<int> groups) {
    std::size_t n = 0;
    for (int g : groups) {
      for (int k = 0; k < g; ++k, ++at) {
        if (at >= run.size() || !digit(run[at])) return false;
      }
      if (++n < groups.size()) {
        if (at >= run.size() || (run[at] != '-' && run[at] != '.' && run[at] != '/')) return false;
        ++at;
      }
    }
    return true;
  };
  for (std::size_t i = 0; i < run.size(); ++i) {
    if (pattern(i, {4, 2, 2}) || pattern(i, {2, 2, 4})) return true;
  }
  return false;
}

// A phone-like run starting at i: digits with separators; returns its end, or i if it is not one.
std::size_t phone_at(std::string_view s, std::size_t i) {
  const bool plus = s[i] == '+';
  if (!plus && !digit(s[i]) && s[i] != '(') return i;
  if (i > 0 && (digit(s[i - 1]) || std::isalpha(static_cast<unsigned char>(s[i - 1])))) return i;
  std::size_t j = plus ? i + 1 : i, digits = 0, last_digit_end = i;
  while (j < s.size()) {
    if (digit(s[j])) {
      ++digits;
      last_digit_end = j + 1;
    } else if (!(s[j] == ' ' || s[j] == '-' || s[j] == '.' || s[j] == '(' || s[j] == ')')) {
      break;
    } else if (j + 1 < s.size() && !digit(s[j + 1]) && s[j + 1] != '(' && s[j] != ')') {
      break;  // a separator must be followed by more of the number
    }
    ++j;
  }
  if (digits > 12) return i;  // something longer: an account number, not a phone
  if (has_date(s.substr(i, last_digit_end - i))) return i;  // "2026-03-02 10:00" is a moment, not a number
  if ((plus && digits >= 7) || (digits >= 10 && digits <= 12)) return last_digit_end;
  return i;
}

// Keywords a flat number follows (lower-case; Cyrillic as UTF-8 bytes, compared as they are).
constexpr std::array<std::string_view, 11> kFlatWords = {"квартира", "Квартира", "кв.", "кв", "Кв.", "Кв",
                                                         "пәтер", "Пәтер", "flat", "apartment", "apt"};

// `w` at s[i], ASCII letters in any case (Cyrillic keywords are listed in both cases above).
bool keyword_at(std::string_view s, std::size_t i, std::string_view w) {
  if (i + w.size() > s.size()) return false;
  for (std::size_t k = 0; k < w.size(); ++k) {
    if (std::tolower(static_cast<unsigned char>(s[i + k])) != static_cast<unsigned char>(w[k])) return false;
  }
  return true;
}

std::size_t flat_at(std::string_view s, std::size_t i) {
  if (i > 0 && word_char(s[i - 1])) return i;
  for (std::string_view w : kFlatWords) {
    if (!keyword_at(s, i, w)) continue;
    std::size_t j = i + w.size();
    while (j < s.size() && (s[j] == ' ' || s[j] == '.' || s[j] == '#' || s[j] == ':')) ++j;
    const std::size_t start = j;
    while (j < s.size() && digit(s[j])) ++j;
    if (j > start && (j == s.size() || !std::isalpha(static_cast<unsigned char>(s[j])))) return j;
  }
  return i;
}

std::size_t email_or_handle_at(std::string_view s, std::size_t i, bool* email) {
  if (s[i] == '@') {
    if (i > 0 && word_char(s[i - 1])) return i;  // part of an email, handled from its start
    std::size_t j = i + 1;
    while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
    *email = false;
    return j - i >= 4 ? j : i;
  }
  if (!word_char(s[i]) || (i > 0 && word_char(s[i - 1]))) return i;
  std::size_t j = i;
  while (j < s.size() && word_char(s[j])) ++j;
  if (j >= s.size() || s[j] != '@') return i;
  std::size_t k = j + 1, dots = 0;
  while (k < s.size() && word_char(s[k])) dots += s[k++] == '.';
  if (dots == 0 || k == j + 1) return i;
  *email = true;
  return k;
}

void replace_all(std::string& s, std::string_view needle, std::string_view with) {
  if (needle.empty()) return;
  for (std::size_t at = s.find(needle); at != std::string::npos; at = s.find(needle, at + with.size())) {
    s.replace(at, needle.size(), with);
  }
}

}  // namespace

std::string redact_personal_data(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    bool email = false;
    if (std::size_t e = email_or_handle_at(s, i, &email); e > i) {
      out += email ? "[email]" : "[contact]";
      i = e;
    } else if (std::size_t p = phone_at(s, i); p > i) {
      out += "[phone]";
      i = p;
    } else if (std::size_t f = flat_at(s, i); f > i) {
      out += "[flat]";
      i = f;
    } else {
      out += s[i++];
    }
  }
  return out;
}

std::string redact_personal_data(std::string_view text, const Applicant& a) {
  std::string out(text);
  // Longest first: the whole address and phone, then the name's words.
  replace_all(out, a.address, "[applicant]");
  replace_all(out, a.phone, "[applicant]");
  std::vector<std::string> words;
  std::string word;
  for (char c : a.name + " ") {
    if (c == ' ' || c == ',') {
      if (word.size() >= 3) words.push_back(word);
      word.clear();
    } else {
      word += c;
    }
  }
  for (const std::string& w : words) replace_all(out, w, "[applicant]");
  return redact_personal_data(out);
}

}  // namespace otinish::engine::privacy
