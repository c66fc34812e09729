#include "media/g711.hpp"
#include "media/mixer.hpp"
#include "media/rtp.hpp"
#include "media/talk.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <numbers>
#include <vector>

using namespace confab::media;

namespace {

std::vector<std::int16_t> tone(double hz, double amplitude, std::size_t n, double rate = 48000) {
  std::vector<std::int16_t> out(n);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = static_cast<std::int16_t>(amplitude * std::sin(2 * std::numbers::pi * hz * i / rate));
  return out;
}

// Power of one frequency in a signal (Goertzel), normalised by length.
double goertzel(std::span<const std::int16_t> x, double hz, double rate = 48000) {
  double k = 2 * std::cos(2 * std::numbers::pi * hz / rate), s1 = 0, s2 = 0;
  for (auto v : x) {
    double s0 = v + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return std::sqrt(s1 * s1 + s2 * s2 - k * s1 * s2) / static_cast<double>(x.size());
}

}  // namespace

TEST(Rtp, RoundTripsTheFixedHeader) {
  std::array<std::uint8_t, 32> buf{};
  ASSERT_EQ(write_rtp_header(buf, 111, true, 65535, 0xdeadbeef, 0x01020304), kRtpHeaderSize);
  buf[12] = 0xaa;
  RtpPacket p;
  ASSERT_EQ(parse_rtp(std::span(buf).first(13), p), RtpError::ok);
  EXPECT_EQ(p.payload_type, 111);
  EXPECT_TRUE(p.marker);
  EXPECT_EQ(p.seq, 65535);
  EXPECT_EQ(p.timestamp, 0xdeadbeefu);
  EXPECT_EQ(p.ssrc, 0x01020304u);
  ASSERT_EQ(p.payload.size(), 1u);
  EXPECT_EQ(p.payload[0], 0xaa);
}

TEST(Rtp, ReadsTheAudioLevelExtensionAndSkipsCsrcAndPadding) {
  // V=2 P=1 X=1 CC=1, PT 0; one CSRC; extension 0xBEDE, 1 word: id 1 len 0 -> level 0x80|33.
  std::vector<std::uint8_t> d = {0xb1, 0x00,      0, 1, 0,    0,    0,    2,    0, 0,
                                 0,    3,         9, 9, 9,    9,    0xbe, 0xde, 0, 1,
                                 0x10, 0x80 | 33, 0, 0, 0x55, 0x66, 0,    2};
  RtpPacket p;
  ASSERT_EQ(parse_rtp(d, p, 1), RtpError::ok);
  EXPECT_TRUE(p.has_level);
  EXPECT_TRUE(p.voice);
  EXPECT_EQ(p.level, 33);
  ASSERT_EQ(p.payload.size(), 2u);  // two bytes of padding removed
  EXPECT_EQ(p.payload[0], 0x55);
  ASSERT_EQ(parse_rtp(d, p, 0), RtpError::ok);
  EXPECT_FALSE(p.has_level);  // not negotiated: ignored
}

TEST(Rtp, RejectsMalformedDatagrams) {
  RtpPacket p;
  std::vector<std::uint8_t> short_one(11, 0x80);
  EXPECT_EQ(parse_rtp(short_one, p), RtpError::too_short);
  std::vector<std::uint8_t> v1(12, 0x40);
  EXPECT_EQ(parse_rtp(v1, p), RtpError::bad_version);
  std::vector<std::uint8_t> csrc = {0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(parse_rtp(csrc, p), RtpError::bad_csrc);
  std::vector<std::uint8_t> pad = {0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 200};
  EXPECT_EQ(parse_rtp(pad, p), RtpError::bad_padding);
  std::vector<std::uint8_t> rtcp = {0x80, 200, 0, 6, 0, 0, 0, 1};
  EXPECT_TRUE(looks_like_rtcp(rtcp));
}

TEST(G711, EveryCodeRoundTripsAndQuantisationErrorIsBounded) {
  for (int c = 0; c < 256; ++c) {
    auto u = static_cast<std::uint8_t>(c);
    auto lu = g711::ulaw_to_linear(u);
    if (c != 0x7f) {  // 0x7f and 0xff both mean 0
      EXPECT_EQ(g711::linear_to_ulaw(lu), u) << c;
    }
    auto la = g711::alaw_to_linear(u);
    EXPECT_EQ(g711::linear_to_alaw(la), u) << c;
  }
  for (int v = -32768; v <= 32767; v += 7) {
    auto x = static_cast<std::int16_t>(v);
    int eu = std::abs(g711::ulaw_to_linear(g711::linear_to_ulaw(x)) - v);
    int ea = std::abs(g711::alaw_to_linear(g711::linear_to_alaw(x)) - v);
    // Logarithmic: the error grows with the magnitude, about 1/32 of it at most.
    EXPECT_LE(eu, std::max(8, std::abs(v) / 16 + 132)) << v;
    EXPECT_LE(ea, std::max(16, std::abs(v) / 16 + 16)) << v;
  }
}

TEST(Talk, FreeswitchGateHangunderAndHangover) {
  TalkDetector t(20, 5, 40);
  auto quiet = std::vector<std::int16_t>(960, 10);
  auto soft = std::vector<std::int16_t>(960, 100);   // gated, but < level + 400
  auto loud = std::vector<std::int16_t>(960, 1000);  // >= level + 400: at once
  EXPECT_EQ(t.feed(quiet), TalkChange::none);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(t.feed(soft), TalkChange::none);
  EXPECT_EQ(t.feed(soft), TalkChange::started);  // fifth gated frame
  EXPECT_EQ(t.score(), 100);
  for (int i = 0; i < 39; ++i) EXPECT_EQ(t.feed(quiet), TalkChange::none);
  EXPECT_EQ(t.feed(quiet), TalkChange::stopped);  // 40 quiet frames = 800 ms
  EXPECT_EQ(t.feed(loud), TalkChange::started);
  EXPECT_GT(TalkDetector::score_of_level(0), TalkDetector::score_of_level(30));
  EXPECT_EQ(TalkDetector::score_of_level(127), 0);
}

TEST(Mixer, SpeakersHearEveryoneButThemselvesListenersHearAll) {
  constexpr std::size_t n = 960;
  auto a = tone(450, 3000, n), b = tone(1000, 3000, n), c = tone(1700, 3000, n);
  Mixer m(n, 8, 3);
  std::vector<MixerInput> in(4);
  in[0] = {500, true, a};
  in[1] = {400, true, b};
  in[2] = {300, true, c};
  in[3] = {0, false, {}};  // a listener
  m.mix(in);
  ASSERT_EQ(m.speakers().size(), 3u);
  auto full = m.full();
  EXPECT_GT(goertzel(full, 450), 500);
  EXPECT_GT(goertzel(full, 1000), 500);
  EXPECT_GT(goertzel(full, 1700), 500);
  auto ma = m.minus(0);
  EXPECT_LT(goertzel(ma, 450), 5);  // never hears itself
  EXPECT_GT(goertzel(ma, 1000), 500);
  EXPECT_GT(goertzel(ma, 1700), 500);
  EXPECT_EQ(m.minus(3).data(), full.data());  // listeners share the one full mix
}

TEST(Mixer, OnlyTheLoudestNAreMixed) {
  constexpr std::size_t n = 960;
  std::vector<std::vector<std::int16_t>> tones;
  std::vector<MixerInput> in;
  for (int i = 0; i < 5; ++i) tones.push_back(tone(300 + 250 * i, 2000, n));
  for (int i = 0; i < 5; ++i)
    in.push_back({100 * (i + 1), true, tones[static_cast<std::size_t>(i)]});
  Mixer m(n, 8, 3);
  m.mix(in);
  auto s = m.speakers();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0], 4u);
  EXPECT_EQ(s[1], 3u);
  EXPECT_EQ(s[2], 2u);
  EXPECT_LT(goertzel(m.full(), 300), 5);  // the quietest is left out
  EXPECT_GT(goertzel(m.full(), 1300), 300);
}

TEST(Mixer, TenLoudTalkersNeverWrap) {
  constexpr std::size_t n = 960;
  std::vector<std::vector<std::int16_t>> tones;
  std::vector<MixerInput> in;
  for (int i = 0; i < 10; ++i) tones.push_back(tone(200 + 10 * i, 30000, n));  // near in phase
  for (int i = 0; i < 10; ++i) in.push_back({1000, true, tones[static_cast<std::size_t>(i)]});
  Mixer m(n, 16, 10);
  for (int frame = 0; frame < 5; ++frame) {
    m.mix(in);
    int flips = 0;
    auto f = m.full();
    for (std::size_t i = 1; i < n; ++i)  // wrap-around shows as a jump across the full range
      if (std::abs(static_cast<int>(f[i]) - f[i - 1]) > 40000) ++flips;
    EXPECT_EQ(flips, 0);
    auto peak = *std::max_element(f.begin(), f.end());
    EXPECT_LE(peak, 29000 + 1);  // the limiter's ceiling
    EXPECT_GT(peak, 20000);      // and it does not crush the level
  }
}
