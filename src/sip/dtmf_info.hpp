#pragma once
// DTMF carried by SIP INFO: application/dtmf-relay ("Signal=5" CRLF "Duration=160") and
// application/dtmf (a bare digit or RFC 4733 event number). Parsed leniently, as phones and
// JsSIP/SIP.js send them: keys in any case, spaces around '=', "star"/"pound", event numbers
// 10-16, no trailing CRLF.
#include <optional>
#include <string>
#include <string_view>

namespace confab::sip {

struct InfoDigit {
  char digit = 0;       // 0-9 * # A-D, '!' for flash
  int duration_ms = 0;  // 0 when not given; at most 60000
};

bool is_dtmf_info_type(std::string_view content_type);  // lower-case "type/subtype"
// The digit of a body of one of those types; none (with `why` set) when it carries none.
std::optional<InfoDigit> parse_dtmf_info(std::string_view content_type, std::string_view body,
                                         std::string* why);

}  // namespace confab::sip
