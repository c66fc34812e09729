#include "app/config.hpp"

#include "media/cidr.hpp"
#include "media/tone.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <optional>
#include <stdexcept>

namespace confab::app {

namespace {

std::string host_of(const std::string& what, const std::string& addr) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos)
    throw std::invalid_argument(what + ": expected host:port, got " + addr);
  auto h = addr.substr(0, colon);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  return h;
}

std::uint16_t port_of(const std::string& what, const std::string& addr) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos)
    throw std::invalid_argument(what + ": expected host:port, got " + addr);
  unsigned v = 0;
  auto s = addr.substr(colon + 1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v > 65535)
    throw std::invalid_argument(what + ": bad port in " + addr);
  return static_cast<std::uint16_t>(v);
}

}  // namespace

std::string Config::host() const {
  return host_of("http", http);
}
std::uint16_t Config::port() const {
  return port_of("http", http);
}
std::string Config::sip_host() const {
  return host_of("sip", sip);
}
std::uint16_t Config::sip_port() const {
  return port_of("sip", sip);
}

namespace {

// A key that is present must have the right type: a wrong one is an error naming the key, never
// silently ignored.
template <typename T>
std::optional<T> get(const toml::node_view<toml::node>& n, const char* name) {
  if (!n) return std::nullopt;
  if (auto v = n.value<T>(); v && n.is<T>()) return v;
  throw std::invalid_argument(std::string("config: ") + name + " has the wrong type");
}

std::int64_t positive(std::int64_t v, const char* name) {
  if (v <= 0) throw std::invalid_argument(std::string("config: ") + name + " must be positive");
  return v;
}

// The [http] limits against slow and greedy clients: TOML key, environment variable, field and
// range, in one table so that every source checks them alike.
template <typename T>
struct Limit {
  const char* key;  // under [http]
  const char* env;
  T Config::*field;
  std::int64_t lo, hi;
};
constexpr Limit<int> kHttpInts[] = {
    {"header_timeout", "CONFAB_HTTP_HEADER_TIMEOUT", &Config::header_timeout, 1, 3600},
    {"body_timeout", "CONFAB_HTTP_BODY_TIMEOUT", &Config::body_timeout, 1, 3600},
    {"keepalive_timeout", "CONFAB_HTTP_KEEPALIVE_TIMEOUT", &Config::keepalive_timeout, 1, 86400},
    {"ws_ping_interval", "CONFAB_HTTP_WS_PING_INTERVAL", &Config::ws_ping_interval, 1, 3600},
    {"ws_idle_timeout", "CONFAB_HTTP_WS_IDLE_TIMEOUT", &Config::ws_idle_timeout, 2, 7200},
    {"slow_handler_ms", "CONFAB_HTTP_SLOW_HANDLER_MS", &Config::slow_handler_ms, 1, 10000},
};
constexpr Limit<std::size_t> kHttpSizes[] = {
    {"body_min_rate", "CONFAB_HTTP_BODY_MIN_RATE", &Config::body_min_rate, 1, 1LL << 30},
    {"max_connections", "CONFAB_HTTP_MAX_CONNECTIONS", &Config::max_connections, 1, 1'000'000},
    {"max_connections_per_source", "CONFAB_HTTP_MAX_CONNECTIONS_PER_SOURCE",
     &Config::max_connections_per_source, 1, 1'000'000},
    {"ws_queue_frames", "CONFAB_HTTP_WS_QUEUE_FRAMES", &Config::ws_queue_frames, 1, 1'000'000},
    {"ws_queue_bytes", "CONFAB_HTTP_WS_QUEUE_BYTES", &Config::ws_queue_bytes, 64 * 1024, 1LL << 30},
};

// [sip]: the endpoint's caps and timers (docs/sip.md).
constexpr Limit<int> kSipInts[] = {
    {"rate_per_source", "CONFAB_SIP_RATE_PER_SOURCE", &Config::sip_rate_per_source, 0, 1'000'000},
    {"burst_per_source", "CONFAB_SIP_BURST_PER_SOURCE", &Config::sip_burst_per_source, 1,
     1'000'000},
    {"session_expires", "CONFAB_SIP_SESSION_EXPIRES", &Config::sip_session_expires, 0, 86400},
    {"min_se", "CONFAB_SIP_MIN_SE", &Config::sip_min_se, 90, 86400},
    {"answer_timeout", "CONFAB_SIP_ANSWER_TIMEOUT", &Config::sip_answer_timeout, 1, 3600},
    {"tcp_idle_timeout", "CONFAB_SIP_TCP_IDLE_TIMEOUT", &Config::sip_tcp_idle_timeout, 1, 86400},
};
constexpr Limit<std::size_t> kSipSizes[] = {
    {"max_message", "CONFAB_SIP_MAX_MESSAGE", &Config::sip_max_message, 1024, 65535},
    {"max_headers", "CONFAB_SIP_MAX_HEADERS", &Config::sip_max_headers, 16, 4096},
    {"max_body", "CONFAB_SIP_MAX_BODY", &Config::sip_max_body, 0, 65535},
    {"max_dialogs", "CONFAB_SIP_MAX_DIALOGS", &Config::sip_max_dialogs, 1, 1'000'000},
    {"max_transactions", "CONFAB_SIP_MAX_TRANSACTIONS", &Config::sip_max_transactions, 16,
     10'000'000},
    {"max_connections", "CONFAB_SIP_MAX_CONNECTIONS", &Config::sip_max_connections, 1, 1'000'000},
    {"max_connections_per_source", "CONFAB_SIP_MAX_CONNECTIONS_PER_SOURCE",
     &Config::sip_max_connections_per_source, 1, 1'000'000},
};

template <typename T>
T in_range(const Limit<T>& l, std::int64_t v, const std::string& name) {
  if (v < l.lo || v > l.hi)
    throw std::invalid_argument("config: " + name + " must be between " + std::to_string(l.lo) +
                                " and " + std::to_string(l.hi) + ", got " + std::to_string(v));
  return static_cast<T>(v);
}

template <typename T, std::size_t N>
void toml_limits(Config& c, toml::table& t, const char* section, const Limit<T> (&table)[N]) {
  for (auto& l : table) {
    auto name = std::string(section) + "." + l.key;
    if (auto v = get<std::int64_t>(t[section][l.key], name.c_str()))
      c.*l.field = in_range(l, *v, name);
  }
}

template <typename T, std::size_t N>
void check_limits(const Config& c, const char* section, const Limit<T> (&table)[N]) {
  for (auto& l : table)
    in_range(l, static_cast<std::int64_t>(c.*l.field), std::string(section) + "." + l.key);
}

std::vector<std::string> string_list(const toml::node_view<toml::node>& n, const char* name) {
  auto* list = n.as_array();
  if (!list) throw std::invalid_argument(std::string("config: ") + name + " has the wrong type");
  std::vector<std::string> out;
  for (auto& item : *list) {
    auto v = item.value<std::string>();
    if (!v || !item.is_string())
      throw std::invalid_argument(std::string("config: ") + name + ": every entry is a string");
    out.push_back(*v);
  }
  return out;
}

std::vector<std::string> comma_list(std::string_view list) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i <= list.size();) {
    auto end = std::min(list.find(',', i), list.size());
    if (end > i) out.emplace_back(list.substr(i, end - i));
    i = end + 1;
  }
  return out;
}

std::vector<media::Cidr> cidrs(const std::vector<std::string>& list, const char* name) {
  constexpr std::size_t kMaxBlocks = 256;
  if (list.size() > kMaxBlocks)
    throw std::invalid_argument(std::string("config: ") + name + ": at most " +
                                std::to_string(kMaxBlocks) + " blocks");
  std::vector<media::Cidr> out;
  for (auto& text : list) {
    try {
      out.push_back(media::parse_cidr(text));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("config: ") + name + ": " + e.what());
    }
  }
  return out;
}

}  // namespace

void apply_toml(Config& c, const std::filesystem::path& file) {
  toml::table t;
  try {
    t = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw std::invalid_argument("config " + file.string() + ": " + std::string(e.description()));
  }
  if (auto v = get<std::string>(t["data_dir"], "data_dir")) c.data_dir = *v;
  if (auto v = get<std::string>(t["log_level"], "log_level")) c.log_level = *v;
  if (auto v = get<std::string>(t["node"], "node")) c.node = *v;
  if (auto v = get<std::string>(t["http"]["listen"], "http.listen")) c.http = *v;
  if (auto v = get<std::int64_t>(t["http"]["body_limit"], "http.body_limit"))
    c.body_limit = static_cast<std::size_t>(positive(*v, "http.body_limit"));
  if (auto v = get<std::string>(t["media"]["ip"], "media.ip")) c.media_ip = *v;
  auto small = [](std::int64_t v, const char* name, std::int64_t lo, std::int64_t hi) {
    if (v < lo || v > hi)
      throw std::invalid_argument(std::string("config: ") + name + " must be between " +
                                  std::to_string(lo) + " and " + std::to_string(hi));
    return static_cast<int>(v);
  };
  if (auto v = get<std::int64_t>(t["media"]["port"], "media.port"))
    c.media_port = small(*v, "media.port", 0, 65000);
  if (auto v = get<std::int64_t>(t["media"]["shards"], "media.shards"))
    c.media_shards = small(*v, "media.shards", 0, 64);
  if (auto v = get<std::int64_t>(t["media"]["rate"], "media.rate"))
    c.media_rate = small(*v, "media.rate", 8000, 48000);
  if (auto v = get<std::int64_t>(t["media"]["tick_ms"], "media.tick_ms"))
    c.media_tick_ms = small(*v, "media.tick_ms", 10, 40);
  if (auto v = get<std::int64_t>(t["media"]["max_speakers"], "media.max_speakers"))
    c.max_speakers = small(*v, "media.max_speakers", 1, 16);
  if (auto v = get<std::int64_t>(t["media"]["rtp_timeout_ms"], "media.rtp_timeout_ms"))
    c.rtp_timeout_ms = small(*v, "media.rtp_timeout_ms", 100, 3'600'000);
  if (auto v = get<std::int64_t>(t["media"]["realtime_priority"], "media.realtime_priority"))
    c.media_realtime_priority = small(*v, "media.realtime_priority", 0, 99);
  if (auto v = get<std::string>(t["media"]["hold_music"], "media.hold_music")) c.hold_music = *v;
  if (auto v = get<std::int64_t>(t["media"]["upload_limit"], "media.upload_limit"))
    c.media_upload_limit = static_cast<std::size_t>(positive(*v, "media.upload_limit"));
  struct GuardKey {
    const char* name;
    int core::PinGuardConfig::*field;
    std::int64_t lo, hi;
  };
  auto guard_keys = [&](const char* table, core::PinGuardConfig& g, const auto& keys) {
    for (auto& k : keys) {
      auto name = std::string(table) + "." + k.name;
      if (auto v = get<std::int64_t>(t[table][k.name], name.c_str()))
        g.*k.field = small(*v, name.c_str(), k.lo, k.hi);
    }
  };
  static constexpr GuardKey pin_keys[] = {
      {"caller_attempts", &core::PinGuardConfig::caller_attempts, 1, 100},
      {"caller_lockout", &core::PinGuardConfig::caller_lockout_s, 1, 86400},
      {"source_attempts", &core::PinGuardConfig::source_attempts, 1, 10000},
      {"source_backoff", &core::PinGuardConfig::source_backoff_s, 1, 3600},
      {"source_backoff_max", &core::PinGuardConfig::source_backoff_max_s, 1, 86400},
      {"conference_attempts", &core::PinGuardConfig::conference_attempts, 1, 100000},
      {"conference_refill", &core::PinGuardConfig::conference_refill_s, 1, 3600},
      {"conference_refill_max", &core::PinGuardConfig::conference_refill_max_s, 1, 3600},
      {"known", &core::PinGuardConfig::known_s, 0, 30 * 86400},
      {"forget", &core::PinGuardConfig::forget_s, 1, 30 * 86400},
  };
  guard_keys("pins", c.pins, pin_keys);
  // The login throttle is the same guard: its "conference" scope is the login's target.
  static constexpr GuardKey login_keys[] = {
      {"source_attempts", &core::PinGuardConfig::source_attempts, 1, 10000},
      {"source_backoff", &core::PinGuardConfig::source_backoff_s, 1, 3600},
      {"source_backoff_max", &core::PinGuardConfig::source_backoff_max_s, 1, 86400},
      {"target_attempts", &core::PinGuardConfig::conference_attempts, 1, 100000},
      {"target_refill", &core::PinGuardConfig::conference_refill_s, 1, 3600},
      {"target_refill_max", &core::PinGuardConfig::conference_refill_max_s, 1, 3600},
      {"known", &core::PinGuardConfig::known_s, 0, 30 * 86400},
      {"forget", &core::PinGuardConfig::forget_s, 1, 30 * 86400},
  };
  guard_keys("logins", c.logins, login_keys);
  if (auto v = get<std::int64_t>(t["logins"]["reload_interval"], "logins.reload_interval"))
    c.account_reload_interval = small(*v, "logins.reload_interval", 1, 3600);
  if (auto n = t["media"]["allow_destinations"])
    c.media_allow_destinations = string_list(n, "media.allow_destinations");
  if (auto v = get<std::string>(t["sip"]["listen"], "sip.listen")) c.sip = *v;
  if (auto v = get<std::string>(t["sip"]["advertise"], "sip.advertise")) c.sip_advertise = *v;
  if (auto v = get<std::string>(t["sip"]["access_number"], "sip.access_number"))
    c.sip_access_number = *v;
  if (auto v = get<std::string>(t["sip"]["language"], "sip.language")) c.sip_language = *v;
  if (auto n = t["sip"]["rate_exempt"]) c.sip_rate_exempt = string_list(n, "sip.rate_exempt");
  if (auto v = get<std::int64_t>(t["auth"]["token_ttl"], "auth.token_ttl"))
    c.token_ttl = small(*v, "auth.token_ttl", 1, kMaxTokenTtl);
  toml_limits(c, t, "http", kHttpInts);
  toml_limits(c, t, "http", kHttpSizes);
  toml_limits(c, t, "sip", kSipInts);
  toml_limits(c, t, "sip", kSipSizes);
}

namespace {
long env_number(const char* name, const char* text) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (!*text || *end || v <= 0)
    throw std::invalid_argument(std::string(name) + ": not a positive number: " + text);
  return v;
}

// Like env_number, 0 included (for the limits whose range starts there).
long env_count(const char* name, const char* text) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (!*text || *end || v < 0)
    throw std::invalid_argument(std::string(name) + ": not a number: " + text);
  return v;
}

template <typename T, std::size_t N>
void env_limits(Config& c, const Limit<T> (&table)[N]) {
  for (auto& l : table)
    if (auto* v = std::getenv(l.env))
      c.*l.field = in_range(l, l.lo == 0 ? env_count(l.env, v) : env_number(l.env, v), l.env);
}
}  // namespace

void apply_env(Config& c) {
  if (auto* v = std::getenv("CONFAB_DATA_DIR")) c.data_dir = v;
  if (auto* v = std::getenv("CONFAB_HTTP")) c.http = v;
  if (auto* v = std::getenv("CONFAB_LOG_LEVEL")) c.log_level = v;
  if (auto* v = std::getenv("CONFAB_NODE")) c.node = v;
  if (auto* v = std::getenv("CONFAB_TOKEN_TTL")) {
    // The same bound as [auth] token_ttl; strtol saturates, so any longer number is over it.
    auto ttl = env_number("CONFAB_TOKEN_TTL", v);
    if (ttl > kMaxTokenTtl)
      throw std::invalid_argument(std::string("CONFAB_TOKEN_TTL: ") + v +
                                  " is over the maximum of " + std::to_string(kMaxTokenTtl) +
                                  " seconds");
    c.token_ttl = static_cast<int>(ttl);
  }
  if (auto* v = std::getenv("CONFAB_MEDIA_IP")) c.media_ip = v;
  if (auto* v = std::getenv("CONFAB_MEDIA_PORT"))
    c.media_port = static_cast<int>(env_number("CONFAB_MEDIA_PORT", v));
  if (auto* v = std::getenv("CONFAB_RTP_TIMEOUT_MS"))
    c.rtp_timeout_ms = static_cast<int>(env_number("CONFAB_RTP_TIMEOUT_MS", v));
  if (auto* v = std::getenv("CONFAB_BODY_LIMIT"))
    c.body_limit = static_cast<std::size_t>(env_number("CONFAB_BODY_LIMIT", v));
  if (auto* v = std::getenv("CONFAB_HOLD_MUSIC")) c.hold_music = v;
  if (auto* v = std::getenv("CONFAB_MEDIA_ALLOW_DESTINATIONS"))
    c.media_allow_destinations = comma_list(v);
  if (auto* v = std::getenv("CONFAB_SIP")) c.sip = v;
  if (auto* v = std::getenv("CONFAB_SIP_ADVERTISE")) c.sip_advertise = v;
  if (auto* v = std::getenv("CONFAB_SIP_ACCESS_NUMBER")) c.sip_access_number = v;
  if (auto* v = std::getenv("CONFAB_SIP_LANGUAGE")) c.sip_language = v;
  if (auto* v = std::getenv("CONFAB_SIP_RATE_EXEMPT")) c.sip_rate_exempt = comma_list(v);
  if (auto* v = std::getenv("CONFAB_MEDIA_UPLOAD_LIMIT"))
    c.media_upload_limit = static_cast<std::size_t>(env_number("CONFAB_MEDIA_UPLOAD_LIMIT", v));
  env_limits(c, kHttpInts);
  env_limits(c, kHttpSizes);
  env_limits(c, kSipInts);
  env_limits(c, kSipSizes);
}

std::vector<media::Cidr> allow_destinations(const Config& c) {
  return cidrs(c.media_allow_destinations, "media.allow_destinations");
}

std::vector<media::Cidr> sip_rate_exempt(const Config& c) {
  return cidrs(c.sip_rate_exempt, "sip.rate_exempt");
}

void check(const Config& c) {
  if (c.pins.source_backoff_max_s < c.pins.source_backoff_s)
    throw std::invalid_argument(
        "config: pins.source_backoff_max must be at least pins.source_backoff");
  if (c.pins.conference_refill_max_s < c.pins.conference_refill_s)
    throw std::invalid_argument(
        "config: pins.conference_refill_max must be at least pins.conference_refill");
  if (c.logins.source_backoff_max_s < c.logins.source_backoff_s)
    throw std::invalid_argument(
        "config: logins.source_backoff_max must be at least logins.source_backoff");
  if (c.logins.conference_refill_max_s < c.logins.conference_refill_s)
    throw std::invalid_argument(
        "config: logins.target_refill_max must be at least logins.target_refill");
  allow_destinations(c);
  if (c.hold_music.starts_with(media::kToneScheme)) {
    try {
      media::parse_tone(c.hold_music);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("config: media.hold_music: " + std::string(e.what()));
    }
  }
  check_limits(c, "http", kHttpInts);
  check_limits(c, "http", kHttpSizes);
  check_limits(c, "sip", kSipInts);
  check_limits(c, "sip", kSipSizes);
  if (!c.sip.empty()) {
    c.sip_port();
    if (c.sip_host().empty()) throw std::invalid_argument("sip: no host in " + c.sip);
  }
  sip_rate_exempt(c);
  if (c.sip_max_body >= c.sip_max_message)
    throw std::invalid_argument("config: sip.max_body (" + std::to_string(c.sip_max_body) +
                                ") must be smaller than sip.max_message (" +
                                std::to_string(c.sip_max_message) + ")");
  if (c.sip_session_expires > 0 && c.sip_session_expires < c.sip_min_se)
    throw std::invalid_argument(
        "config: sip.session_expires (" + std::to_string(c.sip_session_expires) +
        ") must be 0 or at least sip.min_se (" + std::to_string(c.sip_min_se) + ")");
  if (c.ws_idle_timeout <= c.ws_ping_interval)
    throw std::invalid_argument(
        "config: http.ws_idle_timeout (" + std::to_string(c.ws_idle_timeout) +
        ") must be longer than http.ws_ping_interval (" + std::to_string(c.ws_ping_interval) + ")");
}

}  // namespace confab::app
