#pragma once
// In-band DTMF detection (keypad tones sent as audio, ITU-T Q.23 frequencies, Q.24-style
// reception rules), for legs whose phones do not send RFC 4733 events.
//
// Rate: the detector takes mono 16-bit PCM at 8000, 16000 or 48000 Hz, the rate given at
// construction, so a caller feeds a leg's decoded PCM as it is (G.711 8 kHz, G.722 16 kHz, Opus
// 48 kHz): no decimation, hence no aliasing. The filters' coefficients are computed for that
// rate and every time constant below is in milliseconds, so decisions are the same at every rate.
//
// How: the eight Q.23 frequencies and their second harmonics are measured by Goertzel filters on
// 5 ms sub-blocks; every 10 ms the last four sub-blocks are combined coherently into a 20 ms
// window (frequency resolution 50 Hz). A window is a hit for a digit when
//   - both tones are at least kMinToneDbfs (each, as a sine's peak level relative to full scale),
//   - twist: the row tone is at most kMaxRowOverColDb above the column tone ("normal" twist,
//     what a line's high-frequency loss does) and the column tone at most kMaxColOverRowDb above
//     the row tone ("reverse" twist),
//   - each tone is at least kMinPeakOverOthersDb above the other three of its group,
//   - each tone's second harmonic is at least kMinHarmonicRejectionDb below it,
//   - the two tones carry at least kMinToneEnergyShare of the window's energy (speech and noise
//     spread theirs),
//   - each tone's frequency, measured from the phase advance between the window's halves, is
//     within kFrequencyTolerance of nominal (Q.24: accept within 1.5 %, reject beyond 3.5 %),
//   - the window is steady: no sub-block has less than kMinSubBlockEnergyShare of the energy of
//     the strongest (a window a tone only partly covers is not a hit).
// A digit is reported when two consecutive windows are hits for it (a steady tone of 30 ms in
// 40 ms: every tone of 40 ms or more is found, none of 20 ms or less), once; it is held until
// two consecutive windows no longer show it (a pause of 40 ms ends it; a shorter drop-out does
// not make a second digit). Then the next digit, or the same again, can be reported.
//
// Streaming: feed() any number of samples at a time; take() returns the digits found so far.
// Nothing is allocated after construction and nothing is thrown after it.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace confab::media {

class DtmfDetector {
 public:
  static constexpr double kMinToneDbfs = -33.0;
  static constexpr double kMaxRowOverColDb = 8.0;
  static constexpr double kMaxColOverRowDb = 4.0;
  static constexpr double kMinPeakOverOthersDb = 8.0;
  static constexpr double kMinHarmonicRejectionDb = 12.0;
  static constexpr double kMinToneEnergyShare = 0.7;
  static constexpr double kFrequencyTolerance = 0.025;
  static constexpr double kMinSubBlockEnergyShare = 0.4;
  static constexpr int kSubBlockMs = 5;
  static constexpr std::size_t kMaxPending = 16;  // undelivered digits; older ones are dropped

  // `rate`: 8000, 16000 or 48000; anything else throws std::invalid_argument.
  explicit DtmfDetector(int rate);

  void feed(std::span<const std::int16_t> pcm);
  // Moves up to out.size() detected digits ('0'-'9', '*', '#', 'A'-'D'), oldest first, into
  // `out`; returns how many.
  std::size_t take(std::span<char> out);
  // The digit being held now (reported and still sounding), or '\0'.
  char held() const { return held_; }
  // Digits that did not fit in the pending queue (the caller did not take() them in time).
  std::uint64_t dropped() const { return dropped_; }
  int rate() const { return rate_; }
  void reset();

 private:
  static constexpr int kFreqs = 16;  // 4 rows, 4 columns, then their second harmonics
  static constexpr int kSubBlocks = 4;

  void end_sub_block();
  void evaluate_window();
  void push(char digit);

  int rate_;
  int m_;  // samples per sub-block
  // Per filter: 2 cos w, cos w, sin w, and the rotation e^{-j w M} of one sub-block.
  std::array<float, kFreqs> coef_{}, cos_{}, sin_{};
  std::array<float, kFreqs> rot_re_{}, rot_im_{};
  std::array<float, kFreqs> s1_{}, s2_{};
  int n_ = 0;         // samples into the current sub-block
  float energy_ = 0;  // of the current sub-block
  // The last kSubBlocks sub-blocks: each filter's complex output and the sub-block's energy.
  std::array<std::array<float, kFreqs>, kSubBlocks> y_re_{}, y_im_{};
  std::array<float, kSubBlocks> e_{};
  int filled_ = 0;        // sub-blocks seen, up to kSubBlocks
  int next_ = 0;          // ring index of the next sub-block
  int since_window_ = 0;  // sub-blocks since the last window
  float min_amp_;         // kMinToneDbfs as an amplitude

  char candidate_ = 0;  // digit of the last window's hit, if any
  int hits_ = 0;        // consecutive hits for it
  char held_ = 0;
  int absent_ = 0;  // consecutive windows without the held digit
  std::array<char, kMaxPending> pending_{};
  std::size_t head_ = 0, count_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace confab::media
