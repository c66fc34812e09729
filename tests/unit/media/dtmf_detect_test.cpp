#include "media/dtmf_detect.hpp"

#include "media/g711.hpp"
#include "media/g722.hpp"
#include "signals.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using confab::media::DtmfDetector;
using namespace confab::media::test;

namespace {

const std::string kKeys(kKeypad);
constexpr int kRates[3] = {8000, 16000, 48000};

// A signal built piece by piece at one rate; levels are a sine's peak relative to full scale.
struct Signal {
  int rate;
  std::vector<double> x;
  double t = 0;  // running phase time, so that pieces join without clicks

  void tones(double f1, double db1, double f2, double db2, int ms) {
    const double a1 = 32768 * std::pow(10, db1 / 20), a2 = 32768 * std::pow(10, db2 / 20);
    for (int i = 0; i < rate * ms / 1000; ++i, t += 1.0 / rate)
      x.push_back(a1 * std::sin(2 * std::numbers::pi * f1 * t) +
                  a2 * std::sin(2 * std::numbers::pi * f2 * t));
  }
  void digit(char d, int ms, double db = -10) { tones(row_of(d), db, col_of(d), db, ms); }
  void silence(int ms) { x.resize(x.size() + static_cast<std::size_t>(rate * ms / 1000), 0.0); }
  void add_noise(double rms, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> g(0, rms);
    for (auto& v : x) v += g(rng);
  }
  std::vector<std::int16_t> pcm() const {
    std::vector<std::int16_t> out(x.size());
    for (std::size_t i = 0; i < x.size(); ++i)
      out[i] = static_cast<std::int16_t>(std::clamp(std::lround(x[i]), -32768L, 32767L));
    return out;
  }
};

// Feeds 20 ms frames (or `frame` samples) and collects every digit reported.
std::string detect(const std::vector<std::int16_t>& pcm, int rate, std::size_t frame = 0) {
  DtmfDetector det(rate);
  if (frame == 0) frame = static_cast<std::size_t>(rate / 50);
  std::string got;
  char buf[4];
  for (std::size_t i = 0; i < pcm.size(); i += frame) {
    det.feed(std::span(pcm).subspan(i, std::min(frame, pcm.size() - i)));
    for (std::size_t n; (n = det.take(buf)) > 0;) got.append(buf, n);
  }
  return got;
}

std::string detect(const Signal& s) {
  return detect(s.pcm(), s.rate);
}

}  // namespace

TEST(DtmfDetect, EverySixteenDigitsOnceFromCleanTonesAtEveryRate) {
  for (int rate : kRates) {
    for (char d : kKeys) {
      for (int ms : {50, 70, 100}) {
        Signal s{rate};
        s.silence(60);
        s.digit(d, ms);
        s.silence(100);
        EXPECT_EQ(detect(s), std::string(1, d)) << d << " " << ms << " ms at " << rate;
      }
    }
  }
}

TEST(DtmfDetect, ASequenceWith40msGapsComesOutInOrder) {
  for (int rate : kRates) {
    for (int tone_ms : {50, 40}) {
      Signal s{rate};
      s.silence(40);
      for (char d : std::string("1234567890*#ABCD")) {
        s.digit(d, tone_ms);
        s.silence(40);
      }
      EXPECT_EQ(detect(s), "1234567890*#ABCD") << tone_ms << " ms tones at " << rate;
    }
  }
  // The same digit repeated: every press counts.
  Signal s{8000};
  for (int i = 0; i < 5; ++i) {
    s.digit('5', 50);
    s.silence(40);
  }
  EXPECT_EQ(detect(s), "55555");
}

TEST(DtmfDetect, StreamingDoesNotDependOnHowTheSamplesArrive) {
  Signal s{16000};
  for (char d : std::string("159#")) {
    s.digit(d, 60);
    s.silence(50);
  }
  auto pcm = s.pcm();
  for (std::size_t frame :
       {std::size_t{1}, std::size_t{7}, std::size_t{160}, std::size_t{333}, pcm.size()})
    EXPECT_EQ(detect(pcm, 16000, frame), "159#") << frame;
  // take() hands out what fits and keeps the rest; a full queue drops the oldest, counted.
  DtmfDetector det(8000);
  Signal many{8000};
  for (int i = 0; i < 20; ++i) {
    many.digit(kKeys[static_cast<std::size_t>(i) % 16], 50);
    many.silence(50);
  }
  det.feed(many.pcm());
  EXPECT_EQ(det.dropped(), 4u);
  char one[1];
  ASSERT_EQ(det.take(one), 1u);
  EXPECT_EQ(one[0], kKeys[4]);  // the first four were dropped
  char rest[32];
  EXPECT_EQ(det.take(rest), 15u);
  EXPECT_EQ(det.take(rest), 0u);
  EXPECT_THROW(DtmfDetector(44100), std::invalid_argument);
}

TEST(DtmfDetect, SingleTonesAndPairsOfOneGroupAreNotDigits) {
  for (int rate : kRates) {
    for (double f : {697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0}) {
      Signal s{rate};
      s.tones(f, -6, 1000, -200, 300);  // one tone (the other far below anything)
      EXPECT_EQ(detect(s), "") << f << " Hz at " << rate;
    }
    Signal rows{rate}, cols{rate};
    rows.tones(697, -10, 852, -10, 200);
    cols.tones(1209, -10, 1477, -10, 200);
    EXPECT_EQ(detect(rows), "") << rate;
    EXPECT_EQ(detect(cols), "") << rate;
  }
}

// Speech immunity: synthesized vowels (a glottal pulse train's harmonics shaped by formants,
// with pitch movement), some tuned so that harmonics sit on a row and a column frequency, and
// noise; none may produce a digit.
TEST(DtmfDetect, SpeechLikeSignalsAndNoiseAreNotDigits) {
  struct Vowel {
    double f0, f0_end, f1, f2, f3;
  };
  const Vowel vowels[] = {
      {100, 100, 700, 1220, 2600},      // /a/ at 100 Hz: harmonics 7 and 12 near 697 and 1209 Hz
      {139.4, 139.4, 700, 1250, 2500},  // harmonic 5 on 697, 9 near 1254
      {232.3, 232.3, 700, 1200, 2800},  // harmonics 3 and 4 on 697 and 929
      {120, 180, 300, 2300, 3000},      // /i/ gliding up
      {220, 160, 350, 850, 2400},       // /u/ gliding down
      {85, 110, 600, 1000, 2500},       // /o/, low voice
  };
  for (int rate : kRates) {
    for (const auto& v : vowels) {
      Signal s{rate};
      const int n = rate * 2;
      double phase = 0;
      for (int i = 0; i < n; ++i) {
        double t = double(i) / rate, f0 = v.f0 + (v.f0_end - v.f0) * t / 2;
        phase += 2 * std::numbers::pi * f0 / rate;
        double y = formant_voice(phase, f0, v.f1, v.f2, v.f3, rate);
        s.x.push_back(6000 * y * (0.6 + 0.4 * std::sin(2 * std::numbers::pi * 3 * t)));
      }
      EXPECT_EQ(detect(s), "") << "vowel f0 " << v.f0 << " F1 " << v.f1 << " at " << rate;
    }
    Signal noise{rate};
    noise.silence(3000);
    noise.add_noise(4000, 11);
    EXPECT_EQ(detect(noise), "") << "white noise at " << rate;
  }
}

TEST(DtmfDetect, TonesTooShortAreNotDigitsButFortyMillisecondsAre) {
  for (int rate : kRates) {
    for (char d : std::string("1590*#D")) {
      for (int ms : {10, 15, 20}) {
        Signal s{rate};
        s.silence(50);
        for (int k = 0; k < 5; ++k) {  // at several alignments to the detector's blocks
          s.digit(d, ms);
          s.silence(57 + k);
        }
        EXPECT_EQ(detect(s), "") << d << " " << ms << " ms at " << rate;
      }
      Signal ok{rate};
      for (int k = 0; k < 5; ++k) {
        ok.silence(43 + 2 * k);
        ok.digit(d, 40);
      }
      ok.silence(50);
      EXPECT_EQ(detect(ok), std::string(5, d)) << d << " 40 ms at " << rate;
    }
  }
}

// Q.24: a tone within 1.5 % of nominal is accepted, one beyond 3.5 % rejected.
TEST(DtmfDetect, FrequencyToleranceAcceptsWithinOneAndAHalfRejectsBeyondThreeAndAHalf) {
  for (int rate : kRates) {
    for (char d : kKeys) {
      for (double off : {-0.015, 0.015}) {
        Signal s{rate};
        s.silence(30);
        s.tones(row_of(d) * (1 + off), -10, col_of(d) * (1 - off), -10, 60);
        s.silence(60);
        EXPECT_EQ(detect(s), std::string(1, d)) << d << " off " << off << " at " << rate;
      }
      for (double off : {-0.05, -0.035, 0.035, 0.05}) {
        Signal r{rate}, c{rate};
        r.tones(row_of(d) * (1 + off), -10, col_of(d), -10, 100);
        c.tones(row_of(d), -10, col_of(d) * (1 + off), -10, 100);
        EXPECT_EQ(detect(r), "") << d << " row off " << off << " at " << rate;
        EXPECT_EQ(detect(c), "") << d << " column off " << off << " at " << rate;
      }
    }
  }
}

TEST(DtmfDetect, TwistWithinLimitsIsAcceptedBeyondRejected) {
  for (int rate : kRates) {
    for (char d : std::string("1D5*")) {
      auto run = [&](double row_db, double col_db) {
        Signal s{rate};
        s.silence(20);
        s.tones(row_of(d), row_db, col_of(d), col_db, 80);
        s.silence(60);
        return detect(s);
      };
      const std::string one(1, d);
      EXPECT_EQ(run(-6, -13), one) << d << " row +7 dB at " << rate;     // normal twist
      EXPECT_EQ(run(-12, -9), one) << d << " column +3 dB at " << rate;  // reverse twist
      EXPECT_EQ(run(-6, -16), "") << d << " row +10 dB at " << rate;
      EXPECT_EQ(run(-14, -8), "") << d << " column +6 dB at " << rate;
    }
  }
}

TEST(DtmfDetect, LevelThresholdAndNoise) {
  for (int rate : kRates) {
    Signal quiet{rate}, too_quiet{rate};
    quiet.digit('8', 80, -30);
    quiet.silence(50);
    too_quiet.digit('8', 80, -40);
    too_quiet.silence(50);
    EXPECT_EQ(detect(quiet), "8") << rate;
    EXPECT_EQ(detect(too_quiet), "") << rate;

    // White noise 20 dB and 10 dB below the tone pair (each tone -10 dBFS: pair power a^2).
    for (double snr_db : {20.0, 10.0}) {
      Signal s{rate};
      s.silence(40);
      for (char d : std::string("1234567890*#ABCD")) {
        s.digit(d, 50);
        s.silence(50);
      }
      const double a = 32768 * std::pow(10, -10.0 / 20);
      s.add_noise(a * std::pow(10, -snr_db / 20), 7);
      EXPECT_EQ(detect(s), "1234567890*#ABCD") << "SNR " << snr_db << " dB at " << rate;
    }
  }
}

TEST(DtmfDetect, AShortDropOutIsNotASecondDigit) {
  for (int rate : kRates) {
    Signal s{rate};
    s.digit('7', 60);
    s.silence(10);
    s.digit('7', 60);
    s.silence(60);
    EXPECT_EQ(detect(s), "7") << rate;
  }
}

// Through the codecs a phone would use: G.711 mu-law at 8 kHz, G.722 at 16 kHz.
TEST(DtmfDetect, DigitsSurviveG711AndG722) {
  Signal narrow{8000}, wide{16000};
  for (Signal* s : {&narrow, &wide}) {
    s->silence(40);
    for (char d : std::string("0123456789*#ABCD")) {
      s->digit(d, 60, -16);
      s->silence(60);
    }
  }
  auto pcm8 = narrow.pcm();
  for (auto& v : pcm8)
    v = confab::media::g711::ulaw_to_linear(confab::media::g711::linear_to_ulaw(v));
  EXPECT_EQ(detect(pcm8, 8000), "0123456789*#ABCD");

  auto pcm16 = wide.pcm();
  std::vector<std::uint8_t> coded(pcm16.size() / 2);
  confab::media::g722::EncodeState enc{};
  confab::media::g722::DecodeState dec{};
  confab::media::g722::encode(enc, pcm16, coded);
  std::vector<std::int16_t> back(pcm16.size());
  confab::media::g722::decode(dec, coded, back);
  EXPECT_EQ(detect(back, 16000), "0123456789*#ABCD");
}

// Each rule on its own: a third Q.23 tone near the pair's level (the pair no longer dominates its
// group), and a strong second harmonic of the row tone (not a keypad's sine), are rejected; the
// same signals with the extra component 20 dB lower are digits.
TEST(DtmfDetect, AThirdToneOrAStrongHarmonicIsNotADigit) {
  for (int rate : kRates) {
    auto run = [&](double extra_hz, double extra_db) {
      Signal s{rate};
      s.silence(20);
      Signal extra{rate};
      s.digit('5', 80, -10);  // 770 + 1336 Hz
      extra.tones(extra_hz, -10 + extra_db, 1000, -200, 80);
      extra.silence(60);
      s.silence(60);
      for (std::size_t i = 0; i < extra.x.size(); ++i) s.x[20 * rate / 1000 + i] += extra.x[i];
      return detect(s);
    };
    EXPECT_EQ(run(941, -3), "") << "third tone at " << rate;
    EXPECT_EQ(run(941, -20), "5") << rate;
    EXPECT_EQ(run(1540, -8), "") << "harmonic at " << rate;
    EXPECT_EQ(run(1540, -20), "5") << rate;

    // The pair inside a chord of other tones (music, a voice with a rich spectrum): the pair
    // carries too little of the energy.
    Signal chord{rate};
    chord.digit('5', 100, -14);
    Signal others{rate};
    others.tones(440, -14, 1100, -14, 100);
    Signal more{rate};
    more.tones(2000, -14, 2600, -14, 100);
    for (std::size_t i = 0; i < chord.x.size(); ++i) chord.x[i] += others.x[i] + more.x[i];
    chord.silence(60);
    EXPECT_EQ(detect(chord), "") << "chord at " << rate;
  }
}
