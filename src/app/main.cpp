// confab: audio conference server. `confab serve` runs it; `confab account create` provisions.
#include "app/config.hpp"
#include "app/server.hpp"

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  using confab::app::Config;
  CLI::App cli{"confab: audio conference server"};
  cli.require_subcommand(1);

  Config cfg;
  std::string config_file, data_dir, http, log_level;
  int token_ttl = 0;
  std::size_t body_limit = 0, upload_limit = 0;
  std::string media_ip;
  int media_port = -1, media_shards = -1, rtp_timeout = 0;
  auto* serve = cli.add_subcommand("serve", "run the server");
  serve->add_option("--config", config_file, "TOML configuration file")->check(CLI::ExistingFile);
  serve->add_option("--data-dir", data_dir, "directory of the SQLite store (default ./var)");
  serve->add_option("--http", http, "HTTP listen address host:port (default 127.0.0.1:8000)");
  serve->add_option("--log-level", log_level, "trace|debug|info|warn|error");
  serve->add_option("--token-ttl", token_ttl, "auth token lifetime in seconds")
      ->check(CLI::Range(1, confab::app::kMaxTokenTtl));
  serve->add_option("--body-limit", body_limit, "largest request body in bytes")
      ->check(CLI::PositiveNumber);
  serve->add_option("--media-upload-limit", upload_limit, "largest media upload (WAV) in bytes")
      ->check(CLI::PositiveNumber);
  serve->add_option("--media-ip", media_ip, "IPv4 address RTP is received on and announced in SDP");
  serve->add_option("--media-port", media_port, "first RTP port (one per shard; 0: any)")
      ->check(CLI::Range(0, 65000));
  serve->add_option("--media-shards", media_shards, "media threads (0: cores - 1)")
      ->check(CLI::Range(0, 64));
  serve->add_option("--rtp-timeout-ms", rtp_timeout, "drop a leg that sends nothing this long")
      ->check(CLI::Range(100, 3600000));
  // Slow and greedy clients (0: not given; check() holds them to the ranges of the other sources).
  int header_timeout = 0, body_timeout = 0, keepalive_timeout = 0, ws_ping = 0, ws_idle = 0;
  std::size_t max_conns = 0, max_conns_source = 0;
  serve->add_option("--http-header-timeout", header_timeout, "seconds for a request header")
      ->check(CLI::PositiveNumber);
  serve
      ->add_option("--http-body-timeout", body_timeout,
                   "seconds for a request body, plus 1 s per body_min_rate bytes")
      ->check(CLI::PositiveNumber);
  serve
      ->add_option("--http-keepalive-timeout", keepalive_timeout,
                   "seconds a connection may idle between requests")
      ->check(CLI::PositiveNumber);
  serve->add_option("--http-max-connections", max_conns, "open connections, all sources")
      ->check(CLI::PositiveNumber);
  serve
      ->add_option("--http-max-connections-per-source", max_conns_source,
                   "open connections from one IP address")
      ->check(CLI::PositiveNumber);
  serve->add_option("--ws-ping-interval", ws_ping, "ping a WebSocket client silent this long")
      ->check(CLI::PositiveNumber);
  serve->add_option("--ws-idle-timeout", ws_idle, "close a WebSocket client silent this long")
      ->check(CLI::PositiveNumber);
  std::string sip;
  auto* sip_opt = serve->add_option(
      "--sip", sip,
      "SIP listen address host:port, UDP and TCP (default 127.0.0.1:5060; \"\": off)");

  auto* account = cli.add_subcommand("account", "manage accounts offline");
  account->require_subcommand(1);
  auto* create = account->add_subcommand("create", "create an account, print its id and API key");
  std::string name;
  bool admin = false;
  create->add_option("--name", name, "account name")->required();
  create->add_option("--data-dir", data_dir, "directory of the SQLite store (default ./var)");
  create->add_flag("--admin", admin, "make it an admin (superduper) account");

  cli.add_subcommand("version", "print the version")->callback([] {
    std::cout << CONFAB_VERSION << "\n";
  });

  CLI11_PARSE(cli, argc, argv);
  try {
    if (*serve || *create) {
      if (!config_file.empty()) confab::app::apply_toml(cfg, config_file);
      confab::app::apply_env(cfg);
      if (!data_dir.empty()) cfg.data_dir = data_dir;
      if (!http.empty()) cfg.http = http;
      if (!log_level.empty()) cfg.log_level = log_level;
      if (token_ttl) cfg.token_ttl = token_ttl;
      if (body_limit) cfg.body_limit = body_limit;
      if (upload_limit) cfg.media_upload_limit = upload_limit;
      if (!media_ip.empty()) cfg.media_ip = media_ip;
      if (media_port >= 0) cfg.media_port = media_port;
      if (media_shards >= 0) cfg.media_shards = media_shards;
      if (rtp_timeout) cfg.rtp_timeout_ms = rtp_timeout;
      if (header_timeout) cfg.header_timeout = header_timeout;
      if (body_timeout) cfg.body_timeout = body_timeout;
      if (keepalive_timeout) cfg.keepalive_timeout = keepalive_timeout;
      if (max_conns) cfg.max_connections = max_conns;
      if (max_conns_source) cfg.max_connections_per_source = max_conns_source;
      if (ws_ping) cfg.ws_ping_interval = ws_ping;
      if (ws_idle) cfg.ws_idle_timeout = ws_idle;
      if (sip_opt->count()) cfg.sip = sip;
      auto level = spdlog::level::from_str(cfg.log_level);
      if (level == spdlog::level::off && cfg.log_level != "off")
        throw std::invalid_argument("log_level: unknown level " + cfg.log_level);
      spdlog::set_level(level);
      spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
      cfg.port();  // validate early, naming the bad value
      confab::app::check(cfg);
    }
    if (*serve) return confab::app::serve(cfg);
    if (*create) return confab::app::create_account_offline(cfg.data_dir, name, admin);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
