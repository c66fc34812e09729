#pragma once
// Test signals shared by the DTMF tests: the keypad's tone pairs (ITU-T Q.23) and a voiced
// sound built from a pitch and three formants (speech-like input that must not be a key).
#include <algorithm>
#include <cmath>
#include <numbers>
#include <string_view>

namespace confab::media::test {

inline constexpr std::string_view kKeypad = "123A456B789C*0#D";  // row by row
inline constexpr double kRowHz[4] = {697, 770, 852, 941};
inline constexpr double kColHz[4] = {1209, 1336, 1477, 1633};

inline double row_of(char key) {
  return kRowHz[kKeypad.find(key) / 4];
}
inline double col_of(char key) {
  return kColHz[kKeypad.find(key) % 4];
}

// One sample of a glottal buzz at `f0` (harmonics falling 1/h, up to 3.8 kHz or Nyquist)
// shaped by formants f1-f3 (90 Hz wide); `phase` is the fundamental's, in radians.
inline double formant_voice(double phase, double f0, double f1, double f2, double f3, int rate) {
  double y = 0;
  for (int h = 1; h * f0 < std::min(3800.0, rate / 2.0); ++h) {
    double f = h * f0, g = 0;
    for (double fm : {f1, f2, f3}) g += 1 / (1 + std::pow((f - fm) / 90, 2));
    y += g / h * std::sin(h * phase);
  }
  return y;
}

}  // namespace confab::media::test
