#include "sip/session_timer.hpp"

#include "sip/text.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace confab::sip {

namespace {

std::optional<int> seconds(std::string_view s) {
  s = trim(s);
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v < 1) return std::nullopt;
  return static_cast<int>(std::min<long long>(v, 86400 * 7));  // a week: far past any use
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

bool parse_session_expires(std::string_view value, TimerAsk& ask) {
  auto semi = value.find(';');
  auto v = seconds(value.substr(0, semi));
  if (!v) return false;
  ask.session_expires = *v;
  while (semi != std::string_view::npos) {
    value.remove_prefix(semi + 1);
    semi = value.find(';');
    auto param = trim(value.substr(0, semi));
    auto eq = param.find('=');
    if (eq == std::string_view::npos) continue;
    if (lower(trim(param.substr(0, eq))) != "refresher") continue;
    auto who = lower(trim(param.substr(eq + 1)));
    if (who == "uac")
      ask.uac_refreshes = true;
    else if (who == "uas")
      ask.uac_refreshes = false;
    else
      return false;
  }
  return true;
}

bool parse_min_se(std::string_view value, TimerAsk& ask) {
  auto v = seconds(value.substr(0, value.find(';')));
  if (!v) return false;
  ask.min_se = *v;
  return true;
}

std::string TimerDecision::session_expires_header() const {
  return std::to_string(interval) + (we_refresh ? ";refresher=uas" : ";refresher=uac");
}

int TimerDecision::expire_after() const {
  return interval - std::min(32, interval / 3);
}

TimerDecision negotiate(const TimerAsk& ask, const SessionTimerConfig& cfg) {
  TimerDecision d;
  if (cfg.session_expires <= 0) return d;  // timers off: we behave as a UA without them
  int floor = std::max(cfg.min_se, ask.min_se.value_or(0));
  if (ask.session_expires) {
    if (*ask.session_expires < cfg.min_se) {
      if (ask.supported) {
        // RFC 4028 section 9: too brief for us; the caller may retry with our minimum.
        d.kind = TimerDecision::Kind::too_small;
        d.min_se = cfg.min_se;
        return d;
      }
      // A caller that cannot retry (no Supported: timer, a proxy asked): raise it, and
      // refresh ourselves.
    }
    d.kind = TimerDecision::Kind::use;
    d.interval = std::max(std::min(*ask.session_expires, cfg.session_expires), floor);
    d.we_refresh = !ask.supported || (ask.uac_refreshes && !*ask.uac_refreshes);
  } else if (ask.supported) {
    d.kind = TimerDecision::Kind::use;
    d.interval = std::max(cfg.session_expires, floor);
    d.we_refresh = false;
  } else {
    return d;
  }
  d.require = ask.supported;
  return d;
}

}  // namespace confab::sip
