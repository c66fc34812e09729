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

std::string Config::host() const {
  auto colon = http.rfind(':');
  if (colon == std::string::npos)
    throw std::invalid_argument("http: expected host:port, got " + http);
  auto h = http.substr(0, colon);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  return h;
}

std::uint16_t Config::port() const {
  auto colon = http.rfind(':');
  if (colon == std::string::npos)
    throw std::invalid_argument("http: expected host:port, got " + http);
  unsigned v = 0;
  auto s = http.substr(colon + 1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v > 65535)
    throw std::invalid_argument("http: bad port in " + http);
  return static_cast<std::uint16_t>(v);
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
  if (auto v = get<std::string>(t["media"]["hold_music"], "media.hold_music")) c.hold_music = *v;
  if (auto v = get<std::int64_t>(t["media"]["upload_limit"], "media.upload_limit"))
    c.media_upload_limit = static_cast<std::size_t>(positive(*v, "media.upload_limit"));
  if (auto n = t["media"]["allow_destinations"]) {
    auto* list = n.as_array();
    if (!list) throw std::invalid_argument("config: media.allow_destinations has the wrong type");
    c.media_allow_destinations.clear();
    for (auto& item : *list) {
      auto v = item.value<std::string>();
      if (!v || !item.is_string())
        throw std::invalid_argument("config: media.allow_destinations: every entry is a string");
      c.media_allow_destinations.push_back(*v);
    }
  }
  if (auto v = get<std::int64_t>(t["auth"]["token_ttl"], "auth.token_ttl"))
    c.token_ttl =
        static_cast<int>(std::min<std::int64_t>(positive(*v, "auth.token_ttl"), 1LL << 30));
}

namespace {
long env_number(const char* name, const char* text) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (!*text || *end || v <= 0)
    throw std::invalid_argument(std::string(name) + ": not a positive number: " + text);
  return v;
}
}  // namespace

void apply_env(Config& c) {
  if (auto* v = std::getenv("CONFAB_DATA_DIR")) c.data_dir = v;
  if (auto* v = std::getenv("CONFAB_HTTP")) c.http = v;
  if (auto* v = std::getenv("CONFAB_LOG_LEVEL")) c.log_level = v;
  if (auto* v = std::getenv("CONFAB_NODE")) c.node = v;
  if (auto* v = std::getenv("CONFAB_TOKEN_TTL"))
    c.token_ttl = static_cast<int>(env_number("CONFAB_TOKEN_TTL", v));
  if (auto* v = std::getenv("CONFAB_MEDIA_IP")) c.media_ip = v;
  if (auto* v = std::getenv("CONFAB_MEDIA_PORT"))
    c.media_port = static_cast<int>(env_number("CONFAB_MEDIA_PORT", v));
  if (auto* v = std::getenv("CONFAB_RTP_TIMEOUT_MS"))
    c.rtp_timeout_ms = static_cast<int>(env_number("CONFAB_RTP_TIMEOUT_MS", v));
  if (auto* v = std::getenv("CONFAB_BODY_LIMIT"))
    c.body_limit = static_cast<std::size_t>(env_number("CONFAB_BODY_LIMIT", v));
  if (auto* v = std::getenv("CONFAB_HOLD_MUSIC")) c.hold_music = v;
  if (auto* v = std::getenv("CONFAB_MEDIA_ALLOW_DESTINATIONS")) {
    c.media_allow_destinations.clear();
    std::string_view list(v);
    for (std::size_t i = 0; i <= list.size();) {
      auto end = std::min(list.find(',', i), list.size());
      if (end > i) c.media_allow_destinations.emplace_back(list.substr(i, end - i));
      i = end + 1;
    }
  }
  if (auto* v = std::getenv("CONFAB_MEDIA_UPLOAD_LIMIT"))
    c.media_upload_limit = static_cast<std::size_t>(env_number("CONFAB_MEDIA_UPLOAD_LIMIT", v));
}

std::vector<media::Cidr> allow_destinations(const Config& c) {
  constexpr std::size_t kMaxBlocks = 256;
  if (c.media_allow_destinations.size() > kMaxBlocks)
    throw std::invalid_argument("config: media.allow_destinations: at most " +
                                std::to_string(kMaxBlocks) + " blocks");
  std::vector<media::Cidr> out;
  for (auto& text : c.media_allow_destinations) {
    try {
      out.push_back(media::parse_cidr(text));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("config: media.allow_destinations: " + std::string(e.what()));
    }
  }
  return out;
}

void check(const Config& c) {
  allow_destinations(c);
  if (c.hold_music.starts_with(media::kToneScheme)) {
    try {
      media::parse_tone(c.hold_music);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("config: media.hold_music: " + std::string(e.what()));
    }
  }
}

}  // namespace confab::app
