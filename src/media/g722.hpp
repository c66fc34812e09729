#pragma once
// ITU-T G.722 (7 kHz audio coding within 64 kbit/s), mode 1 only: 64 kbit/s, every octet carries
// a 6-bit lower-band and a 2-bit higher-band SB-ADPCM code (the higher band in the two most
// significant bits), no auxiliary data channel.
//
// Written from the algorithm of the Recommendation: a 24-tap QMF splits 16 kHz input into two
// 8 kHz sub-bands; each band has an adaptive quantizer (lower 6 bits, with the embedded 4-bit code
// feeding the predictor; higher 2 bits), a logarithmic scale factor with leakage, and a pole-zero
// predictor (2 poles, 6 zeros) adapted by sign algorithms. The arithmetic is the Recommendation's
// 16-bit fixed point, so the codes and samples are bit-exact with other conforming codecs.
//
// PCM is 16-bit: the QMF takes it as the Recommendation's uniform input with one more bit of
// precision, as RTP peers (RFC 3551) and other codecs do. State is a plain struct; value
// initialisation is the Recommendation's reset state. encode/decode allocate nothing, throw
// nothing, and accept any input (every octet is a valid code word).
#include <cstddef>
#include <cstdint>
#include <span>

namespace confab::media::g722 {

// One sub-band's ADPCM state (block 3 and 4 variables of the Recommendation).
struct Band {
  std::int32_t s = 0;   // predicted signal: pole plus zero section
  std::int32_t sz = 0;  // zero-section prediction
  std::int32_t r1 = 0;  // reconstructed signal, one and two samples back
  std::int32_t r2 = 0;
  std::int32_t p1 = 0;  // partially reconstructed signal (sz + dq), one and two back
  std::int32_t p2 = 0;
  std::int32_t a1 = 0;  // pole coefficients (Q14)
  std::int32_t a2 = 0;
  std::int32_t b[6] = {};  // zero coefficients (Q14)
  std::int32_t d[6] = {};  // quantized differences, newest first
  std::int32_t nb = 0;     // logarithmic scale factor
  std::int32_t det = 0;    // linear scale factor (quantizer step)
};

inline constexpr std::int32_t kLowDetInit = 32;  // Recommendation's reset values
inline constexpr std::int32_t kHighDetInit = 8;
inline constexpr int kQmfTaps = 24;

struct EncodeState {
  Band low{.det = kLowDetInit};
  Band high{.det = kHighDetInit};
  // Input history, twice over so that the newest kQmfTaps samples are always contiguous:
  // x[pos + k] is the sample k steps back.
  std::int16_t x[2 * kQmfTaps] = {};
  int pos = 0;
};

struct DecodeState {
  Band low{.det = kLowDetInit};
  Band high{.det = kHighDetInit};
  // Receive-QMF history of rL - rH and rL + rH, twice over as above.
  std::int32_t xd[kQmfTaps] = {};
  std::int32_t xs[kQmfTaps] = {};
  int pos = 0;
};

// 16 kHz PCM -> one octet per two samples. Encodes min(pcm.size() / 2, out.size()) octets and
// returns that count (an odd last sample is not encoded: frames of whole milliseconds are even).
std::size_t encode(EncodeState& st, std::span<const std::int16_t> pcm, std::span<std::uint8_t> out);

// Octets -> two 16 kHz samples each. Decodes min(in.size(), out.size() / 2) octets and returns
// the samples written.
std::size_t decode(DecodeState& st, std::span<const std::uint8_t> in, std::span<std::int16_t> out);

}  // namespace confab::media::g722
