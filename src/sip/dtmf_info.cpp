#include "sip/dtmf_info.hpp"

#include "sip/text.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace confab::sip {

namespace {

// "5", "*", "#", "a".."d", "10".."16", "star", "pound", "hash", "flash".
std::optional<char> digit_of(std::string_view s) {
  s = trim(s);
  if (s.size() == 1) {
    char c = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    if ((c >= '0' && c <= '9') || c == '*' || c == '#' || (c >= 'A' && c <= 'D')) return c;
    return std::nullopt;
  }
  if (iequal(s, "star")) return '*';
  if (iequal(s, "pound") || iequal(s, "hash")) return '#';
  if (iequal(s, "flash")) return '!';
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  static constexpr char events[] = "0123456789*#ABCD!";  // RFC 4733 section 3.2
  if (v < 0 || v > 16) return std::nullopt;
  return events[v];
}

int duration_of(std::string_view s) {
  s = trim(s);
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v < 0) return 0;
  return std::min(v, 60000);
}

}  // namespace

bool is_dtmf_info_type(std::string_view t) {
  return t == "application/dtmf-relay" || t == "application/dtmf";
}

std::optional<InfoDigit> parse_dtmf_info(std::string_view type, std::string_view body,
                                         std::string* why) {
  auto fail = [&](const char* w) -> std::optional<InfoDigit> {
    if (why) *why = w;
    return std::nullopt;
  };
  if (type == "application/dtmf") {
    auto d = digit_of(body);
    if (!d) return fail("application/dtmf body is not a DTMF digit");
    return InfoDigit{*d, 0};
  }
  if (type != "application/dtmf-relay") return fail("not a DTMF content type");
  std::optional<char> digit;
  int duration = 0;
  int lines = 0;
  while (!body.empty() && lines++ < 16) {
    auto eol = body.find_first_of("\r\n");
    auto line = body.substr(0, eol);
    body.remove_prefix(eol == std::string_view::npos ? body.size() : eol + 1);
    auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    auto key = trim(line.substr(0, eq));
    auto value = line.substr(eq + 1);
    if (iequal(key, "signal")) {
      digit = digit_of(value);
      if (!digit) return fail("dtmf-relay Signal is not a DTMF digit");
    } else if (iequal(key, "duration")) {
      duration = duration_of(value);
    }
  }
  if (!digit) return fail("dtmf-relay body has no Signal line");
  return InfoDigit{*digit, duration};
}

}  // namespace confab::sip
