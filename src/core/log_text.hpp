#pragma once
// Text a client chose (a caller number it claims, later a SIP From) as it may appear in a log
// line: control characters, DEL and the backslash escaped as \xNN, and at most `max` bytes shown,
// so that no client can forge log lines or flood the log through what it claims.
#include <cstddef>
#include <string>
#include <string_view>

namespace confab::core {

inline std::string log_text(std::string_view s, std::size_t max = 64) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  auto shown = s.substr(0, max);
  out.reserve(shown.size() + 16);
  for (unsigned char c : shown) {
    if (c < 0x20 || c == 0x7f || c == '\\') {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > max) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

}  // namespace confab::core
