#include "app/config.hpp"

#include "media/cidr.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using confab::app::Config;
namespace fs = std::filesystem;

namespace {

struct TomlFile {
  fs::path path = fs::temp_directory_path() / ("confab-config-" + std::to_string(::getpid()) + "-" +
                                               std::to_string(++counter) + ".toml");
  static inline int counter = 0;
  explicit TomlFile(const std::string& text) { std::ofstream(path) << text; }
  ~TomlFile() { fs::remove(path); }
};

// Sets an environment variable for one test.
struct Env {
  const char* name;
  Env(const char* n, const char* v) : name(n) { ::setenv(n, v, 1); }
  ~Env() { ::unsetenv(name); }
};

}  // namespace

TEST(Config, MediaUploadLimitDefaultsTo16MiB) {
  EXPECT_EQ(Config{}.media_upload_limit, 16u << 20);
}

TEST(Config, MediaUploadLimitFromTomlThenEnvironment) {
  Config c;
  TomlFile f("[media]\nupload_limit = 5000000\n");
  confab::app::apply_toml(c, f.path);
  EXPECT_EQ(c.media_upload_limit, 5000000u);
  EXPECT_EQ(c.body_limit, 1u << 20);  // the other limit is its own
  Env e("CONFAB_MEDIA_UPLOAD_LIMIT", "7000000");
  confab::app::apply_env(c);
  EXPECT_EQ(c.media_upload_limit, 7000000u);
}

TEST(Config, BadMediaUploadLimitsNameTheKey) {
  for (auto text : {"[media]\nupload_limit = 0\n", "[media]\nupload_limit = -3\n",
                    "[media]\nupload_limit = \"16M\"\n"}) {
    Config c;
    TomlFile f(text);
    try {
      confab::app::apply_toml(c, f.path);
      ADD_FAILURE() << text;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("media.upload_limit"), std::string::npos) << e.what();
    }
  }
  Config c;
  Env e("CONFAB_MEDIA_UPLOAD_LIMIT", "lots");
  try {
    confab::app::apply_env(c);
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("CONFAB_MEDIA_UPLOAD_LIMIT"), std::string::npos);
  }
}

TEST(Config, SlowClientLimitsHaveDefaults) {
  Config c;
  EXPECT_EQ(c.header_timeout, 10);
  EXPECT_EQ(c.body_timeout, 10);
  EXPECT_EQ(c.body_min_rate, 16u * 1024);
  EXPECT_EQ(c.keepalive_timeout, 60);
  EXPECT_EQ(c.max_connections, 10000u);
  EXPECT_EQ(c.max_connections_per_source, 1024u);
  EXPECT_EQ(c.ws_ping_interval, 30);
  EXPECT_EQ(c.ws_idle_timeout, 60);
  EXPECT_EQ(c.ws_queue_frames, 8192u);
  EXPECT_EQ(c.ws_queue_bytes, 8u << 20);
  EXPECT_NO_THROW(confab::app::check(c));
}

TEST(Config, SlowClientLimitsFromTomlThenEnvironment) {
  Config c;
  TomlFile f(
      "[http]\nheader_timeout = 3\nbody_timeout = 4\nbody_min_rate = 5000\n"
      "keepalive_timeout = 7\nmax_connections = 50\nmax_connections_per_source = 5\n"
      "ws_ping_interval = 8\nws_idle_timeout = 9\nws_queue_frames = 100\n"
      "ws_queue_bytes = 100000\nslow_handler_ms = 25\n");
  confab::app::apply_toml(c, f.path);
  EXPECT_EQ(c.header_timeout, 3);
  EXPECT_EQ(c.body_timeout, 4);
  EXPECT_EQ(c.body_min_rate, 5000u);
  EXPECT_EQ(c.keepalive_timeout, 7);
  EXPECT_EQ(c.max_connections, 50u);
  EXPECT_EQ(c.max_connections_per_source, 5u);
  EXPECT_EQ(c.ws_ping_interval, 8);
  EXPECT_EQ(c.ws_idle_timeout, 9);
  EXPECT_EQ(c.ws_queue_frames, 100u);
  EXPECT_EQ(c.ws_queue_bytes, 100000u);
  EXPECT_EQ(c.slow_handler_ms, 25);
  Env e1("CONFAB_HTTP_HEADER_TIMEOUT", "2");
  Env e2("CONFAB_HTTP_WS_QUEUE_BYTES", "70000");
  confab::app::apply_env(c);
  EXPECT_EQ(c.header_timeout, 2);
  EXPECT_EQ(c.ws_queue_bytes, 70000u);
  EXPECT_EQ(c.body_timeout, 4);  // untouched by the environment
  EXPECT_NO_THROW(confab::app::check(c));
}

TEST(Config, BadSlowClientLimitsNameTheKey) {
  for (auto [text, key] : {std::pair{"[http]\nheader_timeout = 0\n", "http.header_timeout"},
                           {"[http]\nheader_timeout = 99999\n", "http.header_timeout"},
                           {"[http]\nws_queue_bytes = 100\n", "http.ws_queue_bytes"},
                           {"[http]\nmax_connections = -1\n", "http.max_connections"},
                           {"[http]\nbody_min_rate = 1.5\n", "http.body_min_rate"}}) {
    Config c;
    TomlFile f(text);
    try {
      confab::app::apply_toml(c, f.path);
      ADD_FAILURE() << text;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
  {
    Config c;
    Env e("CONFAB_HTTP_WS_QUEUE_FRAMES", "0");
    EXPECT_THROW(confab::app::apply_env(c), std::invalid_argument);
  }
  Config c;
  c.ws_ping_interval = 60;  // as a flag would set it: check() has the last word
  try {
    confab::app::check(c);
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("http.ws_idle_timeout"), std::string::npos) << e.what();
  }
  c = Config{};
  c.header_timeout = -1;
  EXPECT_THROW(confab::app::check(c), std::invalid_argument);
}

TEST(Config, SipSettingsFromTomlThenEnvironment) {
  Config c;
  EXPECT_EQ(c.sip, "127.0.0.1:5060");
  TomlFile f(
      "[sip]\nlisten = \"0.0.0.0:5070\"\nrate_per_source = 50\nburst_per_source = 80\n"
      "rate_exempt = [\"10.0.0.0/8\"]\nmax_dialogs = 7\nsession_expires = 0\n");
  confab::app::apply_toml(c, f.path);
  EXPECT_EQ(c.sip_host(), "0.0.0.0");
  EXPECT_EQ(c.sip_port(), 5070);
  EXPECT_EQ(c.sip_rate_per_source, 50);
  EXPECT_EQ(c.sip_burst_per_source, 80);
  EXPECT_EQ(c.sip_max_dialogs, 7u);
  EXPECT_EQ(c.sip_session_expires, 0);
  EXPECT_EQ(confab::app::sip_rate_exempt(c).size(), 1u);
  Env e1("CONFAB_SIP", "");  // "" disables the endpoint
  Env e2("CONFAB_SIP_RATE_PER_SOURCE", "0");
  confab::app::apply_env(c);
  EXPECT_EQ(c.sip, "");
  EXPECT_EQ(c.sip_rate_per_source, 0);
  confab::app::check(c);
}

TEST(Config, SipDialInSettingsFromTomlThenEnvironment) {
  Config c;
  EXPECT_EQ(c.sip_access_number, "conference");
  EXPECT_EQ(c.sip_language, "en");
  TomlFile f("[sip]\naccess_number = \"8000\"\nlanguage = \"fr\"\n");
  confab::app::apply_toml(c, f.path);
  EXPECT_EQ(c.sip_access_number, "8000");
  EXPECT_EQ(c.sip_language, "fr");
  Env e("CONFAB_SIP_LANGUAGE", "de");
  confab::app::apply_env(c);
  EXPECT_EQ(c.sip_language, "de");
  EXPECT_EQ(c.sip_access_number, "8000");
}

TEST(Config, BadSipSettingsNameTheKey) {
  struct Case {
    const char* toml;
    const char* key;
  } cases[] = {
      {"[sip]\nmax_message = 100\n", "sip.max_message"},
      {"[sip]\nmin_se = 30\n", "sip.min_se"},
      {"[sip]\nrate_per_source = \"fast\"\n", "sip.rate_per_source"},
      {"[sip]\nlisten = 5060\n", "sip.listen"},
      {"[sip]\nrate_exempt = \"10.0.0.0/8\"\n", "sip.rate_exempt"},
  };
  for (auto& k : cases) {
    Config c;
    TomlFile f(k.toml);
    try {
      confab::app::apply_toml(c, f.path);
      ADD_FAILURE() << k.toml;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(k.key), std::string::npos) << e.what();
    }
  }
  for (auto bad : {"nohost", "127.0.0.1:99999", ":5060"}) {
    Config c;
    c.sip = bad;
    EXPECT_THROW(confab::app::check(c), std::invalid_argument) << bad;
  }
  Config c;
  c.sip_max_body = 70000;
  c.sip_max_message = 65535;
  EXPECT_THROW(confab::app::check(c), std::invalid_argument);
  Config d;
  d.sip_rate_exempt = {"10.0.0.1/8"};  // host bits set
  EXPECT_THROW(confab::app::check(d), std::invalid_argument);
}

TEST(Config, LoginThrottleFromTomlWithItsOwnKeys) {
  Config c;
  EXPECT_EQ(c.logins.source_attempts, 10);
  EXPECT_EQ(c.logins.conference_scope, "target");
  TomlFile f(
      "[logins]\nsource_attempts = 4\ntarget_attempts = 50\ntarget_refill = 7\n"
      "target_refill_max = 70\nreload_interval = 30\n[pins]\nsource_attempts = 6\n");
  confab::app::apply_toml(c, f.path);
  EXPECT_EQ(c.logins.source_attempts, 4);
  EXPECT_EQ(c.logins.conference_attempts, 50);
  EXPECT_EQ(c.logins.conference_refill_s, 7);
  EXPECT_EQ(c.logins.conference_refill_max_s, 70);
  EXPECT_EQ(c.account_reload_interval, 30);
  EXPECT_EQ(c.pins.source_attempts, 6);  // each table is its own
  EXPECT_NO_THROW(confab::app::check(c));
  for (auto [text, key] : {std::pair{"[logins]\nsource_attempts = 0\n", "logins.source_attempts"},
                           {"[logins]\ntarget_refill = \"2s\"\n", "logins.target_refill"},
                           {"[logins]\nreload_interval = 0\n", "logins.reload_interval"}}) {
    Config bad;
    TomlFile g(text);
    try {
      confab::app::apply_toml(bad, g.path);
      ADD_FAILURE() << text;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
  Config c2;
  c2.logins.conference_refill_max_s = 1;
  c2.logins.conference_refill_s = 5;
  EXPECT_THROW(confab::app::check(c2), std::invalid_argument);
}

TEST(Config, TokenTtlHasOneUpperBoundWhateverTheSource) {
  {
    Config c;
    Env e("CONFAB_TOKEN_TTL", "1073741824");
    confab::app::apply_env(c);
    EXPECT_EQ(c.token_ttl, confab::app::kMaxTokenTtl);
  }
  for (auto text : {"1073741825", "2147483648", "99999999999999999999999"}) {
    Config c;
    Env e("CONFAB_TOKEN_TTL", text);
    try {
      confab::app::apply_env(c);
      ADD_FAILURE() << text;
    } catch (const std::invalid_argument& err) {
      EXPECT_EQ(std::string(err.what()), std::string("CONFAB_TOKEN_TTL: ") + text +
                                             " is over the maximum of 1073741824 seconds");
    }
    EXPECT_EQ(c.token_ttl, 3600);  // left as it was
  }
  Config c;
  TomlFile f("[auth]\ntoken_ttl = 1073741825\n");
  try {
    confab::app::apply_toml(c, f.path);
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("auth.token_ttl must be between 1 and 1073741824"),
              std::string::npos)
        << e.what();
  }
}
