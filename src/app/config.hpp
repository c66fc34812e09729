#pragma once
// Configuration: embedded defaults, then a TOML file (--config), then CONFAB_* environment
// variables, then command-line flags; the later source wins.
#include "core/pin_guard.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace confab::media {
struct Cidr;
}

namespace confab::app {

// The longest token lifetime (2^30 s, 34 years), from any source: expiry = now + ttl must fit.
inline constexpr int kMaxTokenTtl = 1 << 30;

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
  int media_realtime_priority = 0;  // [media] realtime_priority: SCHED_FIFO shards (0: off)
  // What members waiting for a moderator hear: a tone string or a media id; "" for silence.
  std::string hold_music = "tone_stream://v=-20;%(400,100,523);%(400,100,659);%(400,1600,784)";
  std::size_t media_upload_limit = 16 << 20;  // bytes of one media upload (the WAV file)
  // [http] slow and greedy clients (README: Configuration). Seconds unless named otherwise.
  int header_timeout = 10;                        // the whole request header
  int body_timeout = 10;                          // plus 1 s per body_min_rate bytes received
  std::size_t body_min_rate = 16 * 1024;          // bytes per second
  int keepalive_timeout = 60;                     // idle between requests
  std::size_t max_connections = 10000;            // HTTP + WebSocket, all sources
  std::size_t max_connections_per_source = 1024;  // per remote IP address
  int ws_ping_interval = 30;                      // a client silent this long is pinged
  int ws_idle_timeout = 60;                       // one silent this long is closed (1001)
  std::size_t ws_queue_frames = 8192;             // frames queued for one socket before 1008
  std::size_t ws_queue_bytes = 8 << 20;           // bytes queued for one socket before 1008
  int slow_handler_ms = 10;                       // a control-thread call longer is counted
  // [pins]: the throttles of PIN guessing (per caller, per source, per conference).
  core::PinGuardConfig pins;
  // [logins]: the throttles of failed logins (per source address, per target name).
  core::PinGuardConfig logins = core::login_guard_defaults();
  int account_reload_interval = 5;  // [logins] reload_interval: s between store reloads
  // IPv4 blocks media may be sent to ("10.0.0.0/8"); empty: anywhere (docs/security.md).
  std::vector<std::string> media_allow_destinations;
  // [sip]: the SIP endpoint on UDP and TCP (docs/sip.md); "" disables it.
  std::string sip = "127.0.0.1:5060";
  std::string sip_access_number = "conference";  // the number that asks for a conference number
  std::string sip_language = "en";               // prompts for conferences that name none
  std::string sip_advertise;                     // host[:port] in Contact/Via; "": the listen one
  int sip_rate_per_source = 100;                 // messages/s per source IP; 0: no limit
  int sip_burst_per_source = 200;                // messages at once per source IP
  std::vector<std::string> sip_rate_exempt;      // IPv4 blocks never rate-limited
  std::size_t sip_max_message = 65535;           // bytes of one message
  std::size_t sip_max_headers = 256;             // header fields (comma-separated values count)
  std::size_t sip_max_body = 16384;              // bytes of a body
  std::size_t sip_max_dialogs = 10000;           // calls at once
  std::size_t sip_max_transactions = 50000;      // transactions at once
  std::size_t sip_max_connections = 1024;        // TCP, all sources
  std::size_t sip_max_connections_per_source = 64;
  int sip_session_expires = 1800;  // RFC 4028 interval offered; 0: no session timers
  int sip_min_se = 90;             // smallest interval accepted (422 below)
  int sip_answer_timeout = 120;    // seconds an INVITE may wait for the application
  int sip_tcp_idle_timeout = 900;  // seconds a TCP connection without a call may stay silent

  std::string host() const;
  std::uint16_t port() const;  // throws std::invalid_argument naming the bad value
  std::string sip_host() const;
  std::uint16_t sip_port() const;  // of a non-empty `sip`; throws naming the bad value
};

// Applies a TOML file's keys: data_dir, log_level, node, [http] listen/body_limit, [auth]
// token_ttl, [media] ip/port/shards/rate/tick_ms/max_speakers/rtp_timeout_ms/upload_limit/
// realtime_priority,
// [http] header_timeout/body_timeout/body_min_rate/keepalive_timeout/max_connections/
// max_connections_per_source/ws_ping_interval/ws_idle_timeout/ws_queue_frames/ws_queue_bytes/
// slow_handler_ms, [sip] listen/advertise/rate_exempt and each [sip] limit of kSip* in config.cpp,
// [pins] and [logins] throttles.
void apply_toml(Config& c, const std::filesystem::path& file);
// Applies CONFAB_DATA_DIR, CONFAB_HTTP, CONFAB_LOG_LEVEL, CONFAB_NODE, CONFAB_TOKEN_TTL,
// CONFAB_MEDIA_IP, CONFAB_MEDIA_PORT, CONFAB_RTP_TIMEOUT_MS, CONFAB_BODY_LIMIT,
// CONFAB_MEDIA_UPLOAD_LIMIT, CONFAB_MEDIA_ALLOW_DESTINATIONS (comma-separated), and
// CONFAB_HTTP_<KEY> for each [http] limit above (upper case: CONFAB_HTTP_HEADER_TIMEOUT, ...,
// CONFAB_HTTP_WS_QUEUE_BYTES), CONFAB_SIP (the listen address, "" disables), CONFAB_SIP_ADVERTISE,
// CONFAB_SIP_RATE_EXEMPT (comma-separated) and CONFAB_SIP_<KEY> for each [sip] limit.
void apply_env(Config& c);
// The IPv4 blocks exempt from SIP rate limiting, parsed; throws naming a bad entry.
std::vector<media::Cidr> sip_rate_exempt(const Config& c);
// The media destination allowlist, parsed; throws std::invalid_argument naming a bad entry.
std::vector<media::Cidr> allow_destinations(const Config& c);
// Checks what can be checked once every source is applied; throws std::invalid_argument.
void check(const Config& c);

}  // namespace confab::app
