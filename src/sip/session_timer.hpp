#pragma once
// RFC 4028 session timers as a UAS: what a request (INVITE, re-INVITE, UPDATE) asks, what we
// answer, who refreshes and when the session is declared dead. Pure: header values in,
// decision out.
#include <optional>
#include <string>
#include <string_view>

namespace confab::sip {

struct SessionTimerConfig {
  int session_expires = 1800;  // seconds we offer a caller that supports timers; 0: no timers
  int min_se = 90;             // the smallest interval we accept (RFC 4028: at least 90)
};

struct TimerAsk {
  std::optional<int> session_expires;  // Session-Expires delta-seconds
  std::optional<bool> uac_refreshes;   // its refresher parameter (uac: true, uas: false)
  std::optional<int> min_se;           // Min-SE
  bool supported = false;              // "timer" in Supported (or Require)
};

// Reads Session-Expires ("1800;refresher=uac") into `ask`; false when it is not of that form.
bool parse_session_expires(std::string_view value, TimerAsk& ask);
// Reads Min-SE ("90", parameters ignored); false when it is not a number.
bool parse_min_se(std::string_view value, TimerAsk& ask);

struct TimerDecision {
  enum class Kind { none, use, too_small } kind = Kind::none;
  int interval = 0;                            // seconds (use)
  bool we_refresh = false;                     // the UAS (we) sends the refreshes
  bool require = false;                        // our 2xx carries Require: timer
  int min_se = 0;                              // too_small: the Min-SE of the 422
  std::string session_expires_header() const;  // "1800;refresher=uac"
  // When we refresh (we_refresh) or give up waiting for a refresh, counted from the answer.
  int refresh_after() const { return interval / 2; }
  int expire_after() const;  // interval - min(32, interval / 3) (RFC 4028 section 10)
};

TimerDecision negotiate(const TimerAsk& ask, const SessionTimerConfig& cfg);

}  // namespace confab::sip
