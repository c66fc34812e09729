// confab's G.722 against a real outside implementation: FFmpeg's (Debian's `ffmpeg`, which
// scripts/install-deps installs; these tests run it as a separate program in a temp dir).
#include "media/g722.hpp"
#include "media/codec.hpp"
#include "udp_leg.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numbers>
#include <random>
#include <string>
#include <vector>

using namespace confab::media;
using confab::media::test::goertzel;

namespace {

constexpr int kRate = 16000;

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/confab-g722-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

template <typename T>
void write_file(const std::filesystem::path& p, const std::vector<T>& v) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()),
          static_cast<std::streamsize>(v.size() * sizeof(T)));
}

template <typename T>
std::vector<T> read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::vector<char> bytes{std::istreambuf_iterator<char>(f), {}};
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

// Runs ffmpeg quietly; fails the test with the command when it does not succeed.
void ffmpeg(const std::string& args) {
  std::string cmd = "ffmpeg -nostdin -hide_banner -loglevel error -y " + args;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

std::vector<std::uint8_t> ffmpeg_encode(const TempDir& d, const std::vector<std::int16_t>& pcm) {
  write_file(d.path / "in.raw", pcm);
  ffmpeg("-f s16le -ar 16000 -ac 1 -i " + (d.path / "in.raw").string() + " -c:a g722 -f g722 " +
         (d.path / "out.g722").string());
  return read_file<std::uint8_t>(d.path / "out.g722");
}

std::vector<std::int16_t> ffmpeg_decode(const TempDir& d, const std::vector<std::uint8_t>& g) {
  write_file(d.path / "x.g722", g);
  ffmpeg("-f g722 -i " + (d.path / "x.g722").string() + " -f s16le -ar 16000 -ac 1 " +
         (d.path / "out.raw").string());
  return read_file<std::int16_t>(d.path / "out.raw");
}

// Ours, fed in 20 ms frames as the shard does.
std::vector<std::uint8_t> our_encode(const std::vector<std::int16_t>& pcm) {
  g722::EncodeState st{};
  std::vector<std::uint8_t> out(pcm.size() / 2);
  std::size_t done = 0;
  for (std::size_t i = 0; i < pcm.size(); i += 320) {
    auto n = std::min<std::size_t>(320, pcm.size() - i);
    done += g722::encode(st, std::span(pcm).subspan(i, n), std::span(out).subspan(done));
  }
  out.resize(done);
  return out;
}

std::vector<std::int16_t> our_decode(const std::vector<std::uint8_t>& g) {
  g722::DecodeState st{};
  std::vector<std::int16_t> out(g.size() * 2);
  std::size_t done = 0;
  for (std::size_t i = 0; i < g.size(); i += 160) {
    auto n = std::min<std::size_t>(160, g.size() - i);
    done += g722::decode(st, std::span(g).subspan(i, n), std::span(out).subspan(done));
  }
  out.resize(done);
  return out;
}

std::int16_t clamp16(double v) {
  return static_cast<std::int16_t>(std::clamp(std::lround(v), -32768L, 32767L));
}

// Test signals, 3 s each, chosen to reach every quantizer interval, both saturations of the
// predictor and the scale factor's limits.
struct Signal {
  const char* name;
  std::vector<std::int16_t> pcm;
};

std::vector<Signal> signals() {
  const int n = 3 * kRate;
  std::mt19937 rng(7);
  std::normal_distribution<double> gauss(0, 1);
  std::uniform_int_distribution<int> any(-32768, 32767);
  auto make = [&](const char* name, auto fn) {
    Signal s{name, std::vector<std::int16_t>(static_cast<std::size_t>(n))};
    for (int i = 0; i < n; ++i)
      s.pcm[static_cast<std::size_t>(i)] = clamp16(fn(i, double(i) / kRate));
    return s;
  };
  const double two_pi = 2 * std::numbers::pi;
  return {
      make("noise -15 dBFS", [&](int, double) { return 5800 * gauss(rng); }),
      make("noise clipped", [&](int, double) { return 30000 * gauss(rng); }),
      make("uniform random", [&](int, double) { return any(rng); }),
      make("quiet noise", [&](int, double) { return 20 * gauss(rng); }),
      make("sweep 50-7900 Hz",
           [&](int, double t) { return 20000 * std::sin(two_pi * (50 * t + 7850 / 6.0 * t * t)); }),
      make("five tones",
           [&](int, double t) {
             double s = 0;
             for (double f : {300., 1000., 3400., 5000., 7000.})
               s += 3000 * std::sin(two_pi * f * t);
             return s;
           }),
      make("square 440 Hz full scale",
           [&](int, double t) { return std::sin(two_pi * 440 * t) > 0 ? 32767 : -32768; }),
      make("vowel-like 120 Hz harmonics",
           [&](int, double t) {
             double s = 0;
             for (int h = 1; h * 120 < 7500; ++h)
               s += 9000.0 / h * std::sin(two_pi * 120 * h * t + h) *
                    (1 + std::cos(two_pi * (h * 120 - 700) / 2000));
             return s * (0.6 + 0.4 * std::sin(two_pi * 3 * t));
           }),
      make("bursts and near-silence",
           [&](int i, double t) {
             return (i / 1600) % 2 ? 25000 * std::sin(two_pi * 7700 * t) : 8 * gauss(rng);
           }),
  };
}

// Best alignment of y against x within `max_lag` samples (the codec's QMF delay), then SNR in dB.
double snr_db(const std::vector<std::int16_t>& x, const std::vector<std::int16_t>& y,
              int* lag_out) {
  double best = -1e300;
  int lag = 0;
  for (int l = 0; l <= 64; ++l) {
    double c = 0;
    for (std::size_t i = 2000; i + static_cast<std::size_t>(l) < y.size() && i < x.size(); ++i)
      c += double(x[i]) * y[i + static_cast<std::size_t>(l)];
    if (c > best) best = c, lag = l;
  }
  double sig = 0, err = 0;
  for (std::size_t i = 2000; i + static_cast<std::size_t>(lag) < y.size() && i < x.size(); ++i) {
    double e = double(x[i]) - y[i + static_cast<std::size_t>(lag)];
    sig += double(x[i]) * x[i];
    err += e * e;
  }
  if (lag_out) *lag_out = lag;
  return 10 * std::log10(sig / std::max(err, 1.0));
}

}  // namespace

// (a) A stream FFmpeg encoded decodes with ours to exactly the samples FFmpeg's decoder gives.
TEST(G722, DecodesFfmpegStreamsBitExactlyLikeFfmpeg) {
  TempDir dir;
  for (const auto& s : signals()) {
    auto stream = ffmpeg_encode(dir, s.pcm);
    ASSERT_EQ(stream.size(), s.pcm.size() / 2) << s.name;
    auto theirs = ffmpeg_decode(dir, stream);
    auto ours = our_decode(stream);
    ASSERT_EQ(ours.size(), theirs.size()) << s.name;
    std::size_t differ = 0;
    for (std::size_t i = 0; i < ours.size(); ++i) differ += ours[i] != theirs[i];
    EXPECT_EQ(differ, 0u) << s.name;
  }
}

// (a) also for octets no encoder sends (codes 0-3 of the lower band, every bit pattern).
TEST(G722, DecodesRandomOctetsBitExactlyLikeFfmpeg) {
  TempDir dir;
  std::mt19937 rng(99);
  std::vector<std::uint8_t> stream(48000);
  for (auto& b : stream) b = static_cast<std::uint8_t>(rng());
  for (std::size_t i = 0; i < 4000; ++i) stream[i] = static_cast<std::uint8_t>(i % 4 | (i & 0xc0));
  auto theirs = ffmpeg_decode(dir, stream);
  auto ours = our_decode(stream);
  ASSERT_EQ(ours.size(), theirs.size());
  EXPECT_TRUE(ours == theirs);
}

// (b) Our encoder produces FFmpeg's octets exactly (both follow the Recommendation), and what
// FFmpeg decodes from our stream is the input back at G.722's quality.
TEST(G722, EncodesLikeFfmpegAndFfmpegDecodesOursToTheInput) {
  TempDir dir;
  for (const auto& s : signals()) {
    auto ours = our_encode(s.pcm);
    auto theirs = ffmpeg_encode(dir, s.pcm);
    ASSERT_EQ(ours.size(), theirs.size()) << s.name;
    std::size_t differ = 0;
    for (std::size_t i = 0; i < ours.size(); ++i) differ += ours[i] != theirs[i];
    EXPECT_EQ(differ, 0u) << s.name;
  }
  // Waveform SNR of what FFmpeg decodes from our stream. G.722 spends 6 bits on 0-4 kHz and 2 on
  // 4-8 kHz, so a signal of the lower band comes back far cleaner than one spread over both.
  struct Case {
    const char* name;
    std::vector<double> hz;
    double min_snr;
  };
  for (const auto& c : {Case{"300+1000+2500 Hz", {300, 1000, 2500}, 30.0},
                        Case{"harmonics of 150 Hz to 3.4 kHz", {}, 15.0},
                        Case{"harmonics of 150 Hz to 7 kHz", {}, 12.0}}) {
    std::vector<std::int16_t> pcm(3 * kRate);
    std::string name = c.name;
    double top = name.find("3.4") != std::string::npos ? 3400 : 7000;
    for (std::size_t i = 0; i < pcm.size(); ++i) {
      double t = double(i) / kRate, v = 0;
      if (!c.hz.empty()) {
        for (double f : c.hz) v += 6000 * std::sin(2 * std::numbers::pi * f * t);
      } else {
        for (int h = 1; h * 150 <= top; ++h)
          v += 8000.0 / h * std::sin(2 * std::numbers::pi * 150 * h * t + h);
      }
      pcm[i] = clamp16(v);
    }
    int lag = 0;
    double snr = snr_db(pcm, ffmpeg_decode(dir, our_encode(pcm)), &lag);
    EXPECT_GT(snr, c.min_snr) << name;
    // The QMF pair is a pure delay of 22 samples with a flat gain (measured per tone); on rich
    // signals the quantization noise can move the correlation peak by one.
    if (!c.hz.empty()) {
      EXPECT_EQ(lag, 22) << name;
    }
    std::printf("%s: SNR %.1f dB through ours -> FFmpeg, delay %d samples\n", c.name, snr, lag);
  }
}

// (c) Tones across the band and at several levels survive the round trip (ours both ways and
// ours -> FFmpeg): the tone keeps its level within 1 dB and nothing else of weight appears.
TEST(G722, TonesSurviveRoundTripsAtTheirLevel) {
  TempDir dir;
  for (double hz : {300.0, 1000.0, 2000.0, 3400.0, 5000.0, 6500.0, 7000.0}) {
    for (double dbfs : {-3.0, -10.0, -20.0, -30.0}) {
      const double amp = 32767 * std::pow(10, dbfs / 20);
      std::vector<std::int16_t> pcm(8000);  // 0.5 s
      for (std::size_t i = 0; i < pcm.size(); ++i)
        pcm[i] = clamp16(amp * std::sin(2 * std::numbers::pi * hz * double(i) / kRate));
      auto stream = our_encode(pcm);
      auto ours = our_decode(stream);
      std::span<const std::int16_t> tail(ours.data() + 4000, 4000);  // settled
      // goertzel() gives amplitude / 2 for a steady sinusoid.
      double got = 2 * goertzel(tail, hz, kRate);
      // The QMF pair droops slightly at the band edge (about 0.5 dB at 7 kHz).
      EXPECT_NEAR(20 * std::log10(got / amp), 0.0, 1.0) << hz << " Hz at " << dbfs << " dBFS";
      for (double other : {150.0, 700.0, 1500.0, 2700.0, 4200.0, 6000.0}) {
        if (std::abs(other - hz) < 200) continue;
        EXPECT_LT(2 * goertzel(tail, other, kRate), amp / 30)
            << other << " Hz in " << hz << " Hz at " << dbfs << " dBFS";
      }
      if (dbfs == -10.0) {  // and FFmpeg hears the same tone from our stream
        auto theirs = ffmpeg_decode(dir, stream);
        ASSERT_EQ(theirs.size(), ours.size());
        EXPECT_NEAR(
            2 * goertzel(std::span<const std::int16_t>(theirs.data() + 4000, 4000), hz, kRate), got,
            1e-9);
      }
    }
  }
}

// (d) Silence stays silence: digital zero comes back as idle noise of a few LSB (the
// Recommendation's smallest lower-band step maps a zero difference to a non-zero code, which
// FFmpeg does too: the bit-exact tests above cover it), never as a tone or a buzz; and after loud
// audio has widened the quantizer step, the step shrinks back and the predictor leaks away.
TEST(G722, SilenceStaysSilence) {
  auto peak_of = [](std::span<const std::int16_t> v) {
    int peak = 0;
    for (auto x : v) peak = std::max(peak, std::abs(int{x}));
    return peak;
  };
  std::vector<std::int16_t> zeros(16000, 0);
  auto out = our_decode(our_encode(zeros));
  ASSERT_EQ(out.size(), zeros.size());
  EXPECT_LE(peak_of(out), 4);  // below -78 dBFS
  for (double hz : {50.0, 300.0, 1000.0, 4000.0, 7000.0}) EXPECT_LT(goertzel(out, hz, kRate), 0.5);

  std::vector<std::int16_t> pcm(32000, 0);
  for (std::size_t i = 0; i < 8000; ++i)
    pcm[i] = clamp16(25000 * std::sin(2 * std::numbers::pi * 1234 * double(i) / kRate));
  auto after = our_decode(our_encode(pcm));
  // From 100 ms after the tone stops.
  EXPECT_LE(peak_of(std::span<const std::int16_t>(after).subspan(8000 + 1600)), 4);
}

// (e) Any octets decode without crashing (the fuzz target fuzz_g722 goes further), and the
// buffer rules hold: only whole pairs are encoded, only what fits is written.
TEST(G722, AnyInputIsSafeAndBuffersAreRespected) {
  std::mt19937 rng(5);
  g722::DecodeState dec{};
  std::vector<std::int16_t> out(2000, 0x5555);
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::uint8_t> in(rng() % 400);
    for (auto& b : in) b = static_cast<std::uint8_t>(rng());
    auto room = static_cast<std::size_t>(rng() % 900);
    std::fill(out.begin(), out.end(), std::int16_t{0x5555});
    auto n = g722::decode(dec, in, std::span(out).first(room));
    ASSERT_EQ(n, 2 * std::min(in.size(), room / 2));
    ASSERT_EQ(out[room], 0x5555);  // nothing past what was given
  }
  g722::EncodeState enc{};
  std::vector<std::int16_t> pcm(321, 1000);
  std::vector<std::uint8_t> bytes(200, 0xAA);
  EXPECT_EQ(g722::encode(enc, pcm, bytes), 160u);  // the odd sample is left
  EXPECT_EQ(bytes[160], 0xAA);
  EXPECT_EQ(g722::encode(enc, pcm, std::span(bytes).first(10)), 10u);
  EXPECT_EQ(g722::encode(enc, {}, bytes), 0u);
  EXPECT_EQ(g722::decode(dec, {}, out), 0u);
}

// The codec.hpp face: 20 ms frames, one octet per two samples, state kept across frames (the
// same octets as one long encode), short buffers refused.
TEST(G722, CodecInterfaceKeepsStateAcrossFrames) {
  auto enc = make_encoder(Codec::g722, 1, 20);
  auto dec = make_decoder(Codec::g722, 20);
  std::vector<std::int16_t> pcm(16000);
  for (std::size_t i = 0; i < pcm.size(); ++i)
    pcm[i] = clamp16(9000 * std::sin(2 * std::numbers::pi * 800 * double(i) / kRate));
  auto whole = our_encode(pcm);
  auto decoded = our_decode(whole);
  std::vector<std::uint8_t> payload(160);
  std::vector<std::int16_t> frame(320);
  for (std::size_t f = 0; f < 50; ++f) {
    std::span<const std::int16_t> in(pcm.data() + f * 320, 320);
    ASSERT_EQ(enc->encode(in, payload), 160);
    ASSERT_TRUE(std::equal(payload.begin(), payload.end(), whole.begin() + f * 160)) << f;
    ASSERT_EQ(dec->decode(payload, frame), 320);
    ASSERT_TRUE(std::equal(frame.begin(), frame.end(), decoded.begin() + f * 320)) << f;
  }
  std::vector<std::uint8_t> small(100);
  EXPECT_EQ(enc->encode(std::span(pcm).first(320), small), -1);
  std::vector<std::int16_t> short_out(100);
  EXPECT_EQ(dec->decode(payload, short_out), -1);
  // Concealment as for G.711: the last frame, fading, then silence.
  ASSERT_EQ(dec->conceal(frame, {}), 320);
  for (int i = 0; i < 4; ++i) dec->conceal(frame, {});
  EXPECT_TRUE(std::all_of(frame.begin(), frame.end(), [](std::int16_t v) { return v == 0; }));
}
