#include "media/g722.hpp"

#include <algorithm>

namespace confab::media::g722 {

namespace {

// QMF coefficients h(0)..h(23) in units of 2^-13 (symmetric; they sum to 2^13).
constexpr std::int32_t kQmf[kQmfTaps] = {3,    -11,  -11,  53,   12,   -156, 32,   362,
                                         -210, -805, 951,  3876, 3876, 951,  -805, -210,
                                         362,  32,   -156, 12,   53,   -11,  -11,  3};

// Lower band, 6-bit quantizer decision levels (normalised to the step det, Q12), index 1..29;
// index 0 is the origin, 30 and 31 pad the table for the search below (at or above level 29, so
// the levels stay sorted; reaching them counts as reaching 29).
constexpr std::int32_t kQ6[32] = {0,    35,   72,   110,  150,  190,  233,  276,  323,   370,  422,
                                  473,  530,  587,  650,  714,  786,  858,  940,  1023,  1121, 1219,
                                  1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 32767, 32767};
// Interval 1..30 -> code word, for a negative and a non-negative difference.
constexpr std::uint8_t kIln[31] = {0,  63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19,
                                   18, 17, 16, 15, 14, 13, 12, 11, 10, 9,  8,  7,  6,  5,  4};
constexpr std::uint8_t kIlp[31] = {0,  61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47,
                                   46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32};
// 6-bit inverse quantizer (Q15 of det), indexed by the code word; codes 0..3 are never sent.
constexpr std::int32_t kQm6[64] = {
    -136,   -136,   -136,  -136,  -24808, -21904, -19008, -16704, -14984, -13512, -12280,
    -11192, -10232, -9360, -8576, -7856,  -7192,  -6576,  -6000,  -5456,  -4944,  -4464,
    -4008,  -3576,  -3168, -2776, -2400,  -2032,  -1688,  -1360,  -1040,  -728,   24808,
    21904,  19008,  16704, 14984, 13512,  12280,  11192,  10232,  9360,   8576,   7856,
    7192,   6576,   6000,  5456,  4944,   4464,   4008,   3576,   3168,   2776,   2400,
    2032,   1688,   1360,  1040,  728,    432,    136,    -432,   -136};
// 4-bit inverse quantizer (the code word without its two least significant bits): what the
// predictor and the scale factor see, so that a decoder dropping bits stays in step.
constexpr std::int32_t kQm4[16] = {0,     -20456, -12896, -8968, -6288, -4240, -2584, -1200,
                                   20456, 12896,  8968,   6288,  4240,  2584,  1200,  0};
// Lower-band log scale factor multipliers, by the 4-bit code's magnitude.
constexpr std::int32_t kRl42[16] = {0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0};
constexpr std::int32_t kWl[8] = {-60, -30, 58, 172, 334, 538, 1198, 3042};

// Higher band: one decision level, 2-bit codes, inverse quantizer and multipliers.
constexpr std::int32_t kQ2 = 564;
constexpr std::uint8_t kIhn[3] = {0, 1, 0};
constexpr std::uint8_t kIhp[3] = {0, 3, 2};
constexpr std::int32_t kQm2[4] = {-7408, -1616, 7408, 1616};
constexpr std::int32_t kRh2[4] = {2, 1, 2, 1};
constexpr std::int32_t kWh[3] = {0, -214, 798};

// 2^(i/32) in Q11: the inverse of the log scale factor's fraction.
constexpr std::int32_t kIlb[32] = {2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543,
                                   2599, 2656, 2714, 2774, 2834, 2896, 2960, 3025, 3091, 3158, 3228,
                                   3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008};

constexpr std::int32_t kLowNbMax = 18432;  // det at most 16384 in both bands
constexpr std::int32_t kHighNbMax = 22528;

// Clamps as min/max, which compile to conditional moves (std::clamp became branches here).
constexpr std::int32_t clamp(std::int32_t v, std::int32_t lo, std::int32_t hi) {
  return std::min(std::max(v, lo), hi);
}
constexpr std::int32_t sat16(std::int32_t v) {
  return clamp(v, -32768, 32767);
}

// v * (1 - 2^-k) in the Recommendation's fixed point, (v * (32768 - 2^(15-k))) >> 15, without the
// multiply: floor(v - v / 2^k) = v + floor(-v / 2^k).
constexpr std::int32_t leak(std::int32_t v, int k) {
  return v + ((-v) >> k);
}

// Magnitude for the quantizers: the Recommendation folds a negative difference e to -(e + 1).
constexpr std::int32_t fold(std::int32_t e) {
  return e >= 0 ? e : -(e + 1);
}

// Blocks 3L/3H (LOGSCL/LOGSCH, SCALEL/SCALEH): leak the log scale factor, add this code's
// multiplier, and convert to the linear step. `bias` is 8 for the lower band, 10 for the higher.
inline void adapt_scale(Band& b, std::int32_t w, std::int32_t nb_max, int bias) {
  b.nb = clamp(leak(b.nb, 7) + w, 0, nb_max);
  const std::int32_t m = kIlb[(b.nb >> 6) & 31];
  const int shift = bias - (b.nb >> 11);
  b.det = (shift >= 0 ? m >> shift : m << -shift) << 2;
}

// Blocks 4L/4H: reconstruct, adapt the two poles and six zeros from the signs of this sample's
// quantized difference `dq` and of the past signals, then predict the next sample.
inline void adapt_predictor(Band& b, std::int32_t dq) {
  const std::int32_t r = sat16(b.s + dq);   // RECONS
  const std::int32_t p = sat16(b.sz + dq);  // PARREC
  const bool neg = p < 0;
  const bool same1 = neg == (b.p1 < 0);
  const bool same2 = neg == (b.p2 < 0);

  // UPPOL2: a2 <- (1 - 2^-7) a2 + 2^-7 (sgn p.p2 - f(a1) sgn p.p1), f(a1) = 4 a1 saturated.
  std::int32_t f = sat16(b.a1 * 4);
  if (same1) f = std::min(-f, 32767);
  std::int32_t a2 = (f >> 7) + (same2 ? 128 : -128) + leak(b.a2, 7);
  a2 = clamp(a2, -12288, 12288);

  // UPPOL1: a1 <- (1 - 2^-8) a1 + 3 * 2^-8 sgn p.p1, within the stability triangle.
  std::int32_t a1 = sat16((same1 ? 192 : -192) + leak(b.a1, 8));
  const std::int32_t lim = 15360 - a2;
  a1 = clamp(a1, -lim, lim);

  // UPZERO: b_i <- (1 - 2^-8) b_i + 2^-7 sgn dq.dq_i (no step when dq is zero). No saturation
  // needed: |b_i| <= 32767 * 255 / 256 + 128 <= 32767.
  const std::int32_t step = dq == 0 ? 0 : 128;
  const bool dneg = dq < 0;
  for (int i = 0; i < 6; ++i) b.b[i] = ((b.d[i] < 0) == dneg ? step : -step) + leak(b.b[i], 8);

  // DELAYA
  for (int i = 5; i > 0; --i) b.d[i] = b.d[i - 1];
  b.d[0] = dq;
  b.a1 = a1;
  b.a2 = a2;
  b.r2 = b.r1;
  b.r1 = r;
  b.p2 = b.p1;
  b.p1 = p;

  // FILTEP, FILTEZ, PREDIC. |dq| <= 16384 * 20456 >> 15 = 10228, so 2 dq needs no saturation;
  // the zero section's running sum saturates at each step, which matters only when the terms'
  // magnitudes add up past 16 bits (a stream driven to its limits), so that is checked first.
  const std::int32_t sp = sat16(((a1 * sat16(r + r)) >> 15) + ((a2 * sat16(b.r2 + b.r2)) >> 15));
  std::int32_t t[6], sum = 0, mag = 0;
  for (int i = 0; i < 6; ++i) {
    t[i] = (b.b[i] * (2 * b.d[i])) >> 15;
    sum += t[i];
    mag += t[i] < 0 ? -t[i] : t[i];
  }
  if (mag > 32767) {
    sum = 0;
    for (int i = 5; i >= 0; --i) sum = sat16(sum + t[i]);
  }
  b.sz = sum;
  b.s = sat16(sp + sum);
}

// Block 1L (QUANTL): the interval 1..30 holding |e| among the levels scaled by det. The levels
// grow with the index, so counting those reached is a binary search; without branches (five
// conditional moves), since the outcome is as unpredictable as the signal.
inline int quantize_low(std::int32_t wd, std::int32_t det) {
  int reached = 0;
  for (int step = 16; step > 0; step /= 2)
    reached += wd >= ((kQ6[reached + step] * det) >> 12) ? step : 0;
  return std::min(reached, 29) + 1;
}

inline std::uint8_t encode_low(Band& b, std::int32_t xl) {
  const std::int32_t e = sat16(xl - b.s);
  const int mil = quantize_low(fold(e), b.det);
  const std::uint8_t il = e < 0 ? kIln[mil] : kIlp[mil];
  const int il4 = il >> 2;
  const std::int32_t dq = (b.det * kQm4[il4]) >> 15;  // INVQAL
  adapt_scale(b, kWl[kRl42[il4]], kLowNbMax, 8);
  adapt_predictor(b, dq);
  return il;
}

inline std::uint8_t encode_high(Band& b, std::int32_t xh) {
  const std::int32_t e = sat16(xh - b.s);
  const int mih = fold(e) >= ((kQ2 * b.det) >> 12) ? 2 : 1;  // QUANTH
  const std::uint8_t ih = e < 0 ? kIhn[mih] : kIhp[mih];
  const std::int32_t dq = (b.det * kQm2[ih]) >> 15;  // INVQAH
  adapt_scale(b, kWh[kRh2[ih]], kHighNbMax, 10);
  adapt_predictor(b, dq);
  return ih;
}

// Decoder output of one band: the prediction plus the full-resolution difference, limited to
// the sub-band signal's 15-bit range (block LIMIT).
constexpr std::int32_t limit15(std::int32_t v) {
  return clamp(v, -16384, 16383);
}

inline std::int32_t decode_low(Band& b, int il) {
  const std::int32_t r = limit15(b.s + ((b.det * kQm6[il]) >> 15));  // INVQBL, RECONS, LIMIT
  const int il4 = il >> 2;
  const std::int32_t dq = (b.det * kQm4[il4]) >> 15;
  adapt_scale(b, kWl[kRl42[il4]], kLowNbMax, 8);
  adapt_predictor(b, dq);
  return r;
}

inline std::int32_t decode_high(Band& b, int ih) {
  const std::int32_t dq = (b.det * kQm2[ih]) >> 15;
  const std::int32_t r = limit15(b.s + dq);
  adapt_scale(b, kWh[kRh2[ih]], kHighNbMax, 10);
  adapt_predictor(b, dq);
  return r;
}

}  // namespace

std::size_t encode(EncodeState& st, std::span<const std::int16_t> pcm,
                   std::span<std::uint8_t> out) {
  const std::size_t n = std::min(pcm.size() / 2, out.size());
  for (std::size_t k = 0; k < n; ++k) {
    // Transmit QMF: push the pair (the second is the newest), then
    // xA = sum h(2i) x(j - 2i), xB = sum h(2i + 1) x(j - 2i - 1), xL = xA + xB, xH = xA - xB.
    for (int t = 0; t < 2; ++t) {
      st.pos = st.pos == 0 ? kQmfTaps - 1 : st.pos - 1;
      st.x[st.pos] = st.x[st.pos + kQmfTaps] = pcm[2 * k + static_cast<std::size_t>(t)];
    }
    const std::int16_t* w = st.x + st.pos;
    std::int32_t xa = 0, xb = 0;
    for (int i = 0; i < kQmfTaps; i += 2) {
      xa += kQmf[i] * w[i];
      xb += kQmf[i + 1] * w[i + 1];
    }
    // 16-bit PCM is one bit finer than the Recommendation's sub-band scale: 2^-13 and 2^-1.
    const std::int32_t xl = (xa + xb) >> 14;
    const std::int32_t xh = (xa - xb) >> 14;
    const std::uint8_t il = encode_low(st.low, xl);
    const std::uint8_t ih = encode_high(st.high, xh);
    out[k] = static_cast<std::uint8_t>((ih << 6) | il);
  }
  return n;
}

std::size_t decode(DecodeState& st, std::span<const std::uint8_t> in, std::span<std::int16_t> out) {
  const std::size_t n = std::min(in.size(), out.size() / 2);
  for (std::size_t k = 0; k < n; ++k) {
    const std::int32_t rl = decode_low(st.low, in[k] & 63);
    const std::int32_t rh = decode_high(st.high, in[k] >> 6);
    // Receive QMF: xout(j) = 2 sum h(2i) xd(i), xout(j + 1) = 2 sum h(2i + 1) xs(i), with
    // xd = rL - rH and xs = rL + rH, newest first.
    st.pos = st.pos == 0 ? kQmfTaps / 2 - 1 : st.pos - 1;
    st.xd[st.pos] = st.xd[st.pos + kQmfTaps / 2] = rl - rh;
    st.xs[st.pos] = st.xs[st.pos + kQmfTaps / 2] = rl + rh;
    const std::int32_t* d = st.xd + st.pos;
    const std::int32_t* s = st.xs + st.pos;
    std::int32_t even = 0, odd = 0;
    for (int i = 0; i < kQmfTaps / 2; ++i) {
      even += kQmf[2 * i] * d[i];
      odd += kQmf[2 * i + 1] * s[i];
    }
    out[2 * k] = static_cast<std::int16_t>(sat16(even >> 11));
    out[2 * k + 1] = static_cast<std::int16_t>(sat16(odd >> 11));
  }
  return 2 * n;
}

}  // namespace confab::media::g722
