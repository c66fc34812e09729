#pragma once
// The few text helpers the SIP code shares: header names and tokens compare case-insensitively
// (RFC 3261 section 7.3.1), values lose the linear white space around them.
#include <algorithm>
#include <cctype>
#include <string_view>

namespace confab::sip {

inline bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Without the spaces, tabs and line ends at either end.
inline std::string_view trim(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace confab::sip
