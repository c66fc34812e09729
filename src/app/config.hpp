#pragma once
// Configuration: embedded defaults, then a TOML file (--config), then CONFAB_* environment
// variables, then command-line flags; the later source wins.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace confab::media {
struct Cidr;
}

namespace confab::app {

struct Config {
  std::filesystem::path data_dir = "./var";
  std::string http = "127.0.0.1:8000";  // host:port
  std::string log_level = "info";
  int token_ttl = 3600;              // seconds
  std::size_t body_limit = 1 << 20;  // bytes
  std::string node;                  // defaults to confab@<hostname>
  // Media: where legs send their RTP (each shard binds media_port + its index; 0: any free
  // port), how many shard threads (0: cores - 1, at least 1), the conference rate and tick.
  std::string media_ip = "127.0.0.1";
  int media_port = 0;
  int media_shards = 0;
  int media_rate = 48000;
  int media_tick_ms = 20;
  int max_speakers = 3;
  int rtp_timeout_ms = 30000;
  // What members waiting for a moderator hear: a tone string or a media id; "" for silence.
  std::string hold_music = "tone_stream://v=-20;%(400,100,523);%(400,100,659);%(400,1600,784)";
  std::size_t media_upload_limit = 16 << 20;  // bytes of one media upload (the WAV file)
  // IPv4 blocks media may be sent to ("10.0.0.0/8"); empty: anywhere (docs/security.md).
  std::vector<std::string> media_allow_destinations;

  std::string host() const;
  std::uint16_t port() const;  // throws std::invalid_argument naming the bad value
};

// Applies a TOML file's keys: data_dir, log_level, node, [http] listen/body_limit, [auth]
// token_ttl, [media] ip/port/shards/rate/tick_ms/max_speakers/rtp_timeout_ms/upload_limit.
void apply_toml(Config& c, const std::filesystem::path& file);
// Applies CONFAB_DATA_DIR, CONFAB_HTTP, CONFAB_LOG_LEVEL, CONFAB_NODE, CONFAB_TOKEN_TTL,
// CONFAB_MEDIA_IP, CONFAB_MEDIA_PORT, CONFAB_RTP_TIMEOUT_MS, CONFAB_BODY_LIMIT,
// CONFAB_MEDIA_UPLOAD_LIMIT, CONFAB_MEDIA_ALLOW_DESTINATIONS (comma-separated).
void apply_env(Config& c);
// The media destination allowlist, parsed; throws std::invalid_argument naming a bad entry.
std::vector<media::Cidr> allow_destinations(const Config& c);
// Checks what can be checked once every source is applied; throws std::invalid_argument.
void check(const Config& c);

}  // namespace confab::app
