#include "media/dtmf_detect.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>
#include <stdexcept>

namespace confab::media {

namespace {

// Q.23: rows (low group), then columns (high group).
constexpr double kNominal[8] = {697, 770, 852, 941, 1209, 1336, 1477, 1633};
constexpr char kDigits[4][4] = {
    {'1', '2', '3', 'A'}, {'4', '5', '6', 'B'}, {'7', '8', '9', 'C'}, {'*', '0', '#', 'D'}};

float power_ratio(double db) {
  return static_cast<float>(std::pow(10.0, db / 10.0));
}

using cf = std::complex<float>;

// |sum_{m<n} e^{j d m}| / n: a rectangular window's response to a tone d rad/sample off its bin.
float dirichlet(float d, int n) {
  float half = d / 2;
  if (std::abs(half) < 1e-6f) return 1.0f;
  return std::abs(std::sin(half * static_cast<float>(n)) /
                  (static_cast<float>(n) * std::sin(half)));
}

}  // namespace

DtmfDetector::DtmfDetector(int rate) : rate_(rate) {
  if (rate != 8000 && rate != 16000 && rate != 48000)
    throw std::invalid_argument("DTMF detector: rate must be 8000, 16000 or 48000");
  m_ = rate * kSubBlockMs / 1000;
  for (int f = 0; f < kFreqs; ++f) {
    double hz = kNominal[f % 8] * (f < 8 ? 1 : 2);
    double w = 2 * std::numbers::pi * hz / rate;
    coef_[static_cast<std::size_t>(f)] = static_cast<float>(2 * std::cos(w));
    cos_[static_cast<std::size_t>(f)] = static_cast<float>(std::cos(w));
    sin_[static_cast<std::size_t>(f)] = static_cast<float>(std::sin(w));
    rot_re_[static_cast<std::size_t>(f)] = static_cast<float>(std::cos(w * m_));
    rot_im_[static_cast<std::size_t>(f)] = static_cast<float>(-std::sin(w * m_));
  }
  min_amp_ = static_cast<float>(32768.0 * std::pow(10.0, kMinToneDbfs / 20));
}

void DtmfDetector::reset() {
  s1_.fill(0);
  s2_.fill(0);
  n_ = 0;
  energy_ = 0;
  filled_ = next_ = since_window_ = 0;
  candidate_ = held_ = 0;
  hits_ = absent_ = 0;
  head_ = count_ = 0;
}

void DtmfDetector::feed(std::span<const std::int16_t> pcm) {
  for (std::int16_t v : pcm) {
    const float x = v;
    energy_ += x * x;
    for (int f = 0; f < kFreqs; ++f) {
      const auto i = static_cast<std::size_t>(f);
      const float s0 = x + coef_[i] * s1_[i] - s2_[i];
      s2_[i] = s1_[i];
      s1_[i] = s0;
    }
    if (++n_ == m_) end_sub_block();
  }
}

void DtmfDetector::end_sub_block() {
  // Goertzel output y = s[M-1] - e^{-jw} s[M-2]: the sub-block's DFT at w, up to a factor
  // e^{jw(M-1)} that every sub-block shares.
  auto& re = y_re_[static_cast<std::size_t>(next_)];
  auto& im = y_im_[static_cast<std::size_t>(next_)];
  for (std::size_t i = 0; i < kFreqs; ++i) {
    re[i] = s1_[i] - cos_[i] * s2_[i];
    im[i] = sin_[i] * s2_[i];
  }
  e_[static_cast<std::size_t>(next_)] = energy_;
  s1_.fill(0);
  s2_.fill(0);
  energy_ = 0;
  n_ = 0;
  next_ = (next_ + 1) % kSubBlocks;
  filled_ = std::min(filled_ + 1, kSubBlocks);
  if (filled_ == kSubBlocks && ++since_window_ >= 2) {
    since_window_ = 0;
    evaluate_window();
  }
}

void DtmfDetector::evaluate_window() {
  // Sub-blocks oldest first; halves and the whole window composed coherently (each later
  // sub-block rotated back by the nominal phase advance of its start).
  cf y[kSubBlocks][kFreqs];
  float total = 0, emax = 0, emin = 0;
  for (int k = 0; k < kSubBlocks; ++k) {
    auto idx = static_cast<std::size_t>((next_ + k) % kSubBlocks);
    for (std::size_t i = 0; i < kFreqs; ++i) y[k][i] = cf(y_re_[idx][i], y_im_[idx][i]);
    float e = e_[idx];
    total += e;
    emax = k == 0 ? e : std::max(emax, e);
    emin = k == 0 ? e : std::min(emin, e);
  }
  const int half_len = 2 * m_, len = 4 * m_;
  cf h1[kFreqs], h2[kFreqs], whole[kFreqs];
  float p[kFreqs];  // |whole|^2
  for (std::size_t i = 0; i < kFreqs; ++i) {
    const cf rot(rot_re_[i], rot_im_[i]);
    h1[i] = y[0][i] + rot * y[1][i];
    h2[i] = y[2][i] + rot * y[3][i];
    whole[i] = h1[i] + rot * rot * h2[i];
    p[i] = std::norm(whole[i]);
  }
  int row = 0, col = 4;
  for (int i = 1; i < 4; ++i) {
    if (p[i] > p[row]) row = i;
    if (p[4 + i] > p[col]) col = 4 + i;
  }
  const float peak = power_ratio(kMinPeakOverOthersDb);
  auto dominant = [&](int best, int first) {
    for (int i = first; i < first + 4; ++i)
      if (i != best && p[best] < peak * p[i]) return false;
    return true;
  };
  const bool shape = dominant(row, 0) && dominant(col, 4);
  const char digit = kDigits[row][col - 4];
  // Amplitude of a sine at the bin from the whole window: 2 |X| / L.
  auto amp = [&](int i) { return 2 * std::sqrt(p[i]) / static_cast<float>(len); };

  bool hit = false;
  if (shape && emax > 0) {
    hit = true;
    float a[2] = {}, freq[2] = {};  // corrected amplitude; measured frequency, rad/sample
    const int tones[2] = {row, col};
    for (int t = 0; t < 2 && hit; ++t) {
      const auto i = static_cast<std::size_t>(tones[t]);
      const float w = static_cast<float>(2 * std::numbers::pi * kNominal[i] / rate_);
      const cf rot(rot_re_[i], rot_im_[i]);
      // Offset from nominal, in rad/sample. Fine: the phase advance between the halves beyond
      // the nominal one (exact to a few Hz, ambiguous modulo pi / M); coarse: between
      // consecutive sub-blocks (ambiguous modulo 2 pi / M) picks the right fold.
      const float fine = std::arg(h2[i] * std::conj(h1[i]) * rot * rot) / half_len;
      cf c = 0;
      for (int k = 0; k + 1 < kSubBlocks; ++k) c += y[k + 1][i] * std::conj(y[k][i]) * rot;
      const float coarse = std::arg(c) / m_;
      const float fold = std::numbers::pi_v<float> / m_;
      float d = fine;
      for (float cand : {fine - fold, fine + fold})
        if (std::abs(cand - coarse) < std::abs(d - coarse)) d = cand;
      if (std::abs(d) > static_cast<float>(kFrequencyTolerance) * w) hit = false;
      freq[t] = w + d;
      // Level from the halves (wider response), corrected for the measured offset.
      a[t] = (std::abs(h1[i]) + std::abs(h2[i])) / static_cast<float>(half_len) /
             std::max(dirichlet(d, half_len), 0.5f);
    }
    // Second harmonics well below their tones. A harmonic bin can lie near the other tone
    // (2 x 697 Hz is 58 Hz from 1336 Hz): what that tone can leak into it, at most its amplitude
    // times the window's response at their distance, is not counted as harmonic.
    for (int t = 0; t < 2 && hit; ++t) {
      const int h = tones[t] + 8;
      const float wh = static_cast<float>(2 * std::numbers::pi * kNominal[h % 8] * 2 / rate_);
      const float leak = a[1 - t] * dirichlet(wh - freq[1 - t], len);
      const float harmonic = std::max(amp(h) - leak, 0.0f);
      if (harmonic * harmonic > a[t] * a[t] / power_ratio(kMinHarmonicRejectionDb)) hit = false;
    }
    if (hit) {
      const float ar = a[0] * a[0], ac = a[1] * a[1];
      hit = a[0] >= min_amp_ && a[1] >= min_amp_ && ar <= ac * power_ratio(kMaxRowOverColDb) &&
            ac <= ar * power_ratio(kMaxColOverRowDb) &&
            (ar + ac) / 2 * static_cast<float>(len) >=
                static_cast<float>(kMinToneEnergyShare) * total &&
            emin >= static_cast<float>(kMinSubBlockEnergyShare) * emax;
    }
  }

  // Hold: the held digit stays while its pair still dominates at half the minimum level.
  if (held_) {
    const bool present =
        shape && digit == held_ && amp(row) >= min_amp_ / 2 && amp(col) >= min_amp_ / 2;
    absent_ = present ? 0 : absent_ + 1;
    if (absent_ >= 2) {
      held_ = 0;
      absent_ = 0;
    }
  }
  const char h = hit ? digit : 0;
  if (h && h == candidate_) {
    ++hits_;
  } else {
    candidate_ = h;
    hits_ = h ? 1 : 0;
  }
  if (!held_ && h && hits_ >= 2) {
    push(h);
    held_ = h;
    absent_ = 0;
  }
}

void DtmfDetector::push(char digit) {
  if (count_ == kMaxPending) {  // drop the oldest
    head_ = (head_ + 1) % kMaxPending;
    --count_;
    ++dropped_;
  }
  pending_[(head_ + count_) % kMaxPending] = digit;
  ++count_;
}

std::size_t DtmfDetector::take(std::span<char> out) {
  std::size_t n = std::min(out.size(), count_);
  for (std::size_t k = 0; k < n; ++k) {
    out[k] = pending_[head_];
    head_ = (head_ + 1) % kMaxPending;
  }
  count_ -= n;
  return n;
}

}  // namespace confab::media
