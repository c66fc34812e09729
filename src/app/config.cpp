#include "app/config.hpp"

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
  if (auto* v = std::getenv("CONFAB_BODY_LIMIT"))
    c.body_limit = static_cast<std::size_t>(env_number("CONFAB_BODY_LIMIT", v));
}

}  // namespace confab::app
