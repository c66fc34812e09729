#include "media/codec.hpp"
#include "udp_leg.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

using namespace confab::media;
using confab::media::test::goertzel;

namespace {

// Runs a steady 1 kHz tone through encoder and decoder and returns the last decoded frame.
std::vector<std::int16_t> through(Codec c, int channels) {
  int rate = pcm_rate(c), n = frame_samples(c, 20);
  auto enc = make_encoder(c, channels, 20);
  auto dec = make_decoder(c, 20);
  std::vector<std::int16_t> pcm(static_cast<std::size_t>(n)), out(static_cast<std::size_t>(n));
  std::vector<std::uint8_t> payload(1500);
  long t = 0;
  for (int frame = 0; frame < 10; ++frame) {
    for (auto& s : pcm)
      s = static_cast<std::int16_t>(8000 * std::sin(2 * std::numbers::pi * 1000 * t++ / rate));
    int bytes = enc->encode(pcm, payload);
    EXPECT_GT(bytes, 0);
    int got = dec->decode(std::span(payload).first(static_cast<std::size_t>(bytes)), out);
    EXPECT_EQ(got, n);
  }
  return out;
}

}  // namespace

TEST(Codec, EachCodecCarriesAToneAndNothingElse) {
  for (auto [c, ch] : {std::pair{Codec::pcmu, 1},
                       {Codec::pcma, 1},
                       {Codec::g722, 1},
                       {Codec::opus, 1},
                       {Codec::opus, 2}}) {
    auto out = through(c, ch);
    double rate = pcm_rate(c);
    EXPECT_GT(goertzel(out, 1000, rate), 1500) << codec_name(c) << ch;
    EXPECT_LT(goertzel(out, 2500, rate), 150) << codec_name(c) << ch;
  }
}

TEST(Codec, FrameSizesAndRtpClocks) {
  EXPECT_EQ(frame_samples(Codec::opus, 20), 960);
  EXPECT_EQ(frame_samples(Codec::g722, 20), 320);
  EXPECT_EQ(rtp_increment(Codec::g722, 20), 160);  // G.722's RTP clock is 8 kHz
  EXPECT_EQ(frame_samples(Codec::pcmu, 30), 240);
}

TEST(Codec, ConcealmentFillsAFrameAndFadesG711) {
  auto dec = make_decoder(Codec::pcmu, 20);
  std::vector<std::uint8_t> loud(160, 0x80);  // near full scale
  std::vector<std::int16_t> out(160);
  ASSERT_EQ(dec->decode(loud, out), 160);
  int first = out[0];
  ASSERT_EQ(dec->conceal(out, {}), 160);
  EXPECT_LT(std::abs(out[0]), std::abs(first));
  for (int i = 0; i < 4; ++i) dec->conceal(out, {});
  EXPECT_EQ(out[0], 0);  // long losses go silent rather than buzz
  auto opus = make_decoder(Codec::opus, 20);
  std::vector<std::int16_t> o(960);
  EXPECT_EQ(opus->conceal(o, {}), 960);
}

TEST(Codec, ResamplerKeepsTheTone) {
  Resampler down(48000, 8000);
  std::vector<std::int16_t> in(960), out(160);
  long t = 0;
  int got = 0;
  for (int f = 0; f < 5; ++f) {
    for (auto& s : in)
      s = static_cast<std::int16_t>(8000 * std::sin(2 * std::numbers::pi * 1000 * t++ / 48000.0));
    got = down.process(in, out);
  }
  EXPECT_EQ(got, 160);
  EXPECT_GT(goertzel(out, 1000, 8000), 1500);
}

// A peer may send longer packets than the negotiated ptime (the shard's buffer holds twice the
// frame): they decode whole, and concealment repeats the first frame's worth of them.
TEST(Codec, PacketsLongerThanTheFrameDecodeAndConcealSafely) {
  for (Codec c : {Codec::pcmu, Codec::pcma, Codec::g722}) {
    auto dec = make_decoder(c, 20);
    std::size_t frame = static_cast<std::size_t>(frame_samples(c, 20));
    std::size_t bytes = c == Codec::g722 ? frame : 2 * frame;  // 40 ms of audio
    std::vector<std::uint8_t> payload(bytes, 0x55);
    std::vector<std::int16_t> out(2 * frame);
    ASSERT_EQ(dec->decode(payload, out), static_cast<int>(2 * frame)) << codec_name(c);
    EXPECT_EQ(dec->conceal(out, {}), static_cast<int>(frame)) << codec_name(c);
  }
}
