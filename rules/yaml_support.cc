#include "rules/yaml_support.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "common/utf8.h"

namespace otinish::rules::internal {

namespace {

// The C0 controls and DEL, but tab, line feed and carriage return.
constexpr std::string_view kControlCharacters{
    "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0B\x0C\x0E\x0F\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1A\x1B"
    "\x1C\x1D\x1E\x1F\x7F",
    30};

}  // namespace

std::optional<YAML::Node> YamlReader::load(std::string_view text) {
  // YAML text is printable Unicode (YAML 1.2's c-printable), and what it says ends up in the log and in JSON:
  // other bytes are refused here, with the line and column of the first (yaml-cpp lets them through, or takes
  // NUL bytes for UTF-16).
  const std::size_t bad_utf8 = find_invalid_utf8(text);
  const std::size_t control = text.find_first_of(kControlCharacters);
  if (const std::size_t bad = std::min(bad_utf8, control); bad != std::string_view::npos) {
    const std::string_view before = text.substr(0, bad);
    const auto line = static_cast<int>(std::count(before.begin(), before.end(), '\n')) + 1;
    const std::size_t line_start = before.rfind('\n');
    const auto column = static_cast<int>(line_start == std::string_view::npos ? bad + 1 : bad - line_start);
    if (bad == control) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[bad]));
      out_->push_back({Severity::kError, {file_, line, column}, "control-character",
                       std::string("a control character (") + hex + ") here; YAML text may hold tabs and line breaks only"});
    } else {
      out_->push_back({Severity::kError, {file_, line, column}, "not-utf8",
                       "the file is not UTF-8 text here (byte " + std::to_string(bad) + "); save it as UTF-8"});
    }
    ++errors_;
    return std::nullopt;
  }
  try {
    YAML::Node root = YAML::Load(std::string(text));
    if (!root.IsDefined() || root.IsNull()) {
      out_->push_back({Severity::kError, {file_, 1, 1}, "empty-file", "the file is empty"});
      ++errors_;
      return std::nullopt;
    }
    return root;
  } catch (const YAML::Exception& e) {
    out_->push_back({Severity::kError, {file_, e.mark.line + 1, e.mark.column + 1}, "yaml-syntax",
                     "YAML syntax error: " + to_utf8_lossy(e.msg)});
    ++errors_;
    return std::nullopt;
  }
}

SourceLocation YamlReader::at(const YAML::Node& node) const {
  if (!node.IsDefined()) return {file_, 0, 0};
  const YAML::Mark m = node.Mark();
  if (m.is_null()) return {file_, 0, 0};
  return {file_, m.line + 1, m.column + 1};
}

void YamlReader::error(const YAML::Node& node, std::string code, std::string message) {
  out_->push_back({Severity::kError, at(node), std::move(code), std::move(message)});
  ++errors_;
}

void YamlReader::warning(const YAML::Node& node, std::string code, std::string message) {
  out_->push_back({Severity::kWarning, at(node), std::move(code), std::move(message)});
}

void YamlReader::check_keys(const YAML::Node& node, std::string_view where,
                            std::initializer_list<std::string_view> allowed) {
  if (!node.IsMap()) return;
  for (const auto& kv : node) {
    const std::string key = kv.first.Scalar();
    bool known = false;
    for (std::string_view a : allowed) known = known || a == key;
    if (known) continue;
    std::string list;
    for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    std::string message = "unknown key '" + key + "' in " + std::string(where) + "; allowed keys: " + list;
    const std::string close = closest_word(key, std::span<const std::string_view>(allowed.begin(), allowed.size()));
    if (!close.empty()) message += "; did you mean '" + close + "'?";
    error(kv.first, "unknown-key", message);
  }
}

YAML::Node YamlReader::required(const YAML::Node& map, std::string_view key, std::string_view where) {
  YAML::Node child = map[std::string(key)];
  if (!child.IsDefined() || child.IsNull()) {
    error(map, "missing-key", std::string(where) + " needs the key '" + std::string(key) + "'");
  }
  return child;
}

bool YamlReader::expect_map(const YAML::Node& node, std::string_view what) {
  if (!node.IsDefined()) return false;  // reported as missing by required()
  if (node.IsMap()) return true;
  error(node, "wrong-type", std::string(what) + " must be a mapping (key: value lines)");
  return false;
}

bool YamlReader::expect_sequence(const YAML::Node& node, std::string_view what) {
  if (!node.IsDefined()) return false;
  if (node.IsSequence()) return true;
  error(node, "wrong-type", std::string(what) + " must be a list");
  return false;
}

std::optional<std::string> YamlReader::scalar(const YAML::Node& node, std::string_view what) {
  if (!node.IsDefined() || node.IsNull()) return std::nullopt;  // reported as missing by required()
  if (node.IsScalar()) return node.Scalar();
  error(node, "wrong-type", std::string(what) + " must be a single value, not a list or mapping");
  return std::nullopt;
}

std::optional<bool> YamlReader::boolean(const YAML::Node& node, std::string_view what) {
  auto s = scalar(node, what);
  if (!s) return std::nullopt;
  if (*s == "true" || *s == "yes") return true;
  if (*s == "false" || *s == "no") return false;
  error(node, "wrong-type", std::string(what) + " must be true or false, not '" + *s + "'");
  return std::nullopt;
}

std::optional<int> YamlReader::integer(const YAML::Node& node, std::string_view what, int min, int max) {
  auto s = scalar(node, what);
  if (!s) return std::nullopt;
  int v = 0;
  auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || p != s->data() + s->size() || v < min || v > max) {
    error(node, "wrong-value",
          std::string(what) + " must be a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
              ", not '" + *s + "'");
    return std::nullopt;
  }
  return v;
}

std::vector<std::string> YamlReader::scalar_list(const YAML::Node& node, std::string_view what) {
  std::vector<std::string> out;
  if (!node.IsDefined() || node.IsNull()) return out;
  if (node.IsScalar()) {
    out.push_back(node.Scalar());
  } else if (node.IsSequence()) {
    for (const auto& item : node) {
      if (auto s = scalar(item, what)) out.push_back(*s);
    }
  } else {
    error(node, "wrong-type", std::string(what) + " must be a value or a list of values");
  }
  return out;
}

std::optional<date::year_month_day> YamlReader::date(const YAML::Node& node, std::string_view what) {
  auto s = scalar(node, what);
  if (!s) return std::nullopt;
  int y = 0, m = 0, d = 0;
  const char* p = s->data();
  const char* end = p + s->size();
  auto read = [&](int& v, std::size_t digits) {
    auto [q, ec] = std::from_chars(p, end, v);
    const bool ok = ec == std::errc() && static_cast<std::size_t>(q - p) == digits;
    p = q;
    return ok;
  };
  bool ok = read(y, 4) && p < end && *p++ == '-' && read(m, 2) && p < end && *p++ == '-' && read(d, 2) && p == end;
  date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(m)}, date::day{static_cast<unsigned>(d)}};
  if (!ok || !ymd.ok()) {
    error(node, "wrong-value", std::string(what) + " must be a date written YYYY-MM-DD, not '" + *s + "'");
    return std::nullopt;
  }
  return ymd;
}

bool is_identifier(std::string_view s) noexcept {
  if (s.empty() || s.size() > 128) return false;
  if (!(s[0] >= 'a' && s[0] <= 'z') && !(s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace otinish::rules::internal
