// The pure parts of the endpoint: INFO digits, session timer negotiation, the rate limiter.
#include "sip/dtmf_info.hpp"
#include "sip/rate_limit.hpp"
#include "sip/session_timer.hpp"

#include <gtest/gtest.h>

namespace confab::sip {
namespace {

using namespace std::chrono_literals;

TEST(DtmfInfo, ParsesWhatPhonesAndBrowsersSend) {
  std::string why;
  struct Case {
    const char* type;
    const char* body;
    char digit;
    int ms;
  } good[] = {
      {"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', 160},
      {"application/dtmf-relay", "Signal= *\r\nDuration= 100", '*', 100},  // JsSIP, no CRLF
      {"application/dtmf-relay", "signal=11\nduration=250\n", '#', 250},
      {"application/dtmf-relay", "Signal=star\r\n", '*', 0},
      {"application/dtmf-relay", "Signal=pound\r\nDuration=99999999\r\n", '#', 60000},
      {"application/dtmf-relay", "Signal=d\r\n", 'D', 0},
      {"application/dtmf", "7", '7', 0},
      {"application/dtmf", "16\r\n", '!', 0},
  };
  for (auto& c : good) {
    auto d = parse_dtmf_info(c.type, c.body, &why);
    ASSERT_TRUE(d) << c.body << ": " << why;
    EXPECT_EQ(d->digit, c.digit) << c.body;
    EXPECT_EQ(d->duration_ms, c.ms) << c.body;
  }
  for (auto body : {"Duration=100\r\n", "Signal=Z\r\n", "Signal=17\r\n", "Signal=\r\n"})
    EXPECT_FALSE(parse_dtmf_info("application/dtmf-relay", body, &why)) << body;
  EXPECT_FALSE(parse_dtmf_info("application/dtmf", "55", &why));
  EXPECT_FALSE(parse_dtmf_info("text/plain", "5", &why));
  EXPECT_TRUE(is_dtmf_info_type("application/dtmf"));
  EXPECT_FALSE(is_dtmf_info_type("application/sdp"));
}

TEST(SessionTimer, ReadsTheHeaders) {
  TimerAsk a;
  EXPECT_TRUE(parse_session_expires("1800;refresher=uac", a));
  EXPECT_EQ(a.session_expires, 1800);
  EXPECT_EQ(a.uac_refreshes, true);
  EXPECT_TRUE(parse_session_expires(" 90 ; Refresher = UAS ;x=y", a));
  EXPECT_EQ(a.session_expires, 90);
  EXPECT_EQ(a.uac_refreshes, false);
  EXPECT_FALSE(parse_session_expires("abc", a));
  EXPECT_FALSE(parse_session_expires("0", a));
  EXPECT_FALSE(parse_session_expires("90;refresher=proxy", a));
  EXPECT_TRUE(parse_min_se("120", a));
  EXPECT_EQ(a.min_se, 120);
  EXPECT_FALSE(parse_min_se("-1", a));
}

TEST(SessionTimer, NegotiatesAsAUas) {
  SessionTimerConfig cfg{1800, 90};
  // Nothing asked, nothing supported: no timer.
  EXPECT_EQ(negotiate({}, cfg).kind, TimerDecision::Kind::none);
  // Supported but not asked: we offer ours, the caller refreshes.
  TimerAsk sup;
  sup.supported = true;
  auto d = negotiate(sup, cfg);
  EXPECT_EQ(d.kind, TimerDecision::Kind::use);
  EXPECT_EQ(d.interval, 1800);
  EXPECT_FALSE(d.we_refresh);
  EXPECT_TRUE(d.require);
  EXPECT_EQ(d.session_expires_header(), "1800;refresher=uac");
  EXPECT_EQ(d.expire_after(), 1800 - 32);
  // Too small, from a caller that can retry: 422 with our minimum.
  TimerAsk small = sup;
  small.session_expires = 30;
  d = negotiate(small, cfg);
  EXPECT_EQ(d.kind, TimerDecision::Kind::too_small);
  EXPECT_EQ(d.min_se, 90);
  // Too small from one that cannot (a proxy asked): raised, and we refresh.
  TimerAsk proxy;
  proxy.session_expires = 30;
  d = negotiate(proxy, cfg);
  EXPECT_EQ(d.kind, TimerDecision::Kind::use);
  EXPECT_EQ(d.interval, 90);
  EXPECT_TRUE(d.we_refresh);
  EXPECT_FALSE(d.require);
  // Longer than ours: reduced to ours; the caller's choice of refresher holds.
  TimerAsk lng = sup;
  lng.session_expires = 7200;
  lng.uac_refreshes = false;
  d = negotiate(lng, cfg);
  EXPECT_EQ(d.interval, 1800);
  EXPECT_TRUE(d.we_refresh);
  EXPECT_EQ(d.refresh_after(), 900);
  // Their Min-SE is a floor for us too.
  TimerAsk floor = lng;
  floor.min_se = 3600;
  EXPECT_EQ(negotiate(floor, cfg).interval, 3600);
  // Timers off: as a UA without them.
  EXPECT_EQ(negotiate(lng, {0, 90}).kind, TimerDecision::Kind::none);
}

TEST(RateLimiter, BurstThenRefuseThenDropAndRefill) {
  RateLimiter r({10, 4, {}, 16});
  auto a = boost::asio::ip::make_address("192.0.2.1");
  auto b = boost::asio::ip::make_address("192.0.2.2");
  auto t = Clock::now();
  bool first = false;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(r.check(a, t, &first), RateVerdict::pass);
  EXPECT_EQ(r.check(a, t, &first), RateVerdict::refuse);
  EXPECT_TRUE(first);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r.check(a, t, &first), RateVerdict::refuse);
    EXPECT_FALSE(first);
  }
  EXPECT_EQ(r.check(a, t, nullptr), RateVerdict::drop);
  EXPECT_EQ(r.check(b, t, nullptr), RateVerdict::pass);  // others are not touched
  // The debt (4 tokens below zero) is paid back at 10/s: 0.5 s to get one token again.
  EXPECT_EQ(r.check(a, t + 300ms, nullptr), RateVerdict::refuse);
  EXPECT_EQ(r.check(a, t + 2s, nullptr), RateVerdict::pass);
  EXPECT_EQ(r.stats().limited_sources, 1u);
  EXPECT_EQ(r.stats().dropped, 1u);
}

TEST(RateLimiter, ExemptBlocksAndTheTableCap) {
  RateLimiter r({1, 1, {media::parse_cidr("10.0.0.0/8")}, 2});
  auto t = Clock::now();
  auto trunk = boost::asio::ip::make_address("10.1.2.3");
  for (int i = 0; i < 100; ++i) EXPECT_EQ(r.check(trunk, t, nullptr), RateVerdict::pass);
  EXPECT_EQ(r.tracked(), 0u);
  // Two sources fill the table; a third shares one bucket rather than growing it.
  r.check(boost::asio::ip::make_address("192.0.2.1"), t, nullptr);
  r.check(boost::asio::ip::make_address("192.0.2.2"), t, nullptr);
  r.check(boost::asio::ip::make_address("192.0.2.3"), t, nullptr);
  EXPECT_EQ(r.tracked(), 2u);
  EXPECT_EQ(r.stats().shared, 1u);
  // Idle buckets are forgotten when room is needed.
  r.check(boost::asio::ip::make_address("192.0.2.4"), t + 10s, nullptr);
  EXPECT_LE(r.tracked(), 2u);
  EXPECT_EQ(r.stats().shared, 1u);
  // IPv6 sources have buckets of their own.
  RateLimiter v6({1, 1, {}, 16});
  auto x = boost::asio::ip::make_address("2001:db8::1");
  EXPECT_EQ(v6.check(x, t, nullptr), RateVerdict::pass);
  EXPECT_EQ(v6.check(x, t, nullptr), RateVerdict::refuse);
  EXPECT_EQ(v6.check(boost::asio::ip::make_address("2001:db8::2"), t, nullptr), RateVerdict::pass);
  // Rate 0: no limit at all.
  RateLimiter off({0, 1, {}, 16});
  for (int i = 0; i < 10; ++i) EXPECT_EQ(off.check(x, t, nullptr), RateVerdict::pass);
}

}  // namespace
}  // namespace confab::sip
