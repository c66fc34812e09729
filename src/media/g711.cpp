#include "media/g711.hpp"

#include <array>

namespace confab::media::g711 {

namespace {

constexpr int kBias = 0x84;  // mu-law bias (132)
constexpr int kClip = 32635;

// Position of the highest set bit of a 15-bit magnitude shifted into segment range.
constexpr int segment_of(int v) {
  int seg = 0;
  for (v >>= 8; v > 0 && seg < 7; v >>= 1) ++seg;
  return seg;
}

constexpr std::int16_t ulaw_decode_one(std::uint8_t u) {
  u = static_cast<std::uint8_t>(~u);
  int sign = u & 0x80, exponent = (u >> 4) & 0x07, mantissa = u & 0x0f;
  int magnitude = ((mantissa << 3) + kBias) << exponent;
  return static_cast<std::int16_t>(sign ? kBias - magnitude : magnitude - kBias);
}

constexpr std::int16_t alaw_decode_one(std::uint8_t a) {
  a ^= 0x55;
  int sign = a & 0x80, exponent = (a >> 4) & 0x07, mantissa = a & 0x0f;
  int magnitude = exponent == 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
  return static_cast<std::int16_t>(sign ? magnitude : -magnitude);
}

constexpr auto make_table(std::int16_t (*f)(std::uint8_t)) {
  std::array<std::int16_t, 256> t{};
  for (int i = 0; i < 256; ++i) t[static_cast<std::size_t>(i)] = f(static_cast<std::uint8_t>(i));
  return t;
}

constexpr auto kUlaw = make_table(ulaw_decode_one);
constexpr auto kAlaw = make_table(alaw_decode_one);

}  // namespace

std::uint8_t linear_to_ulaw(std::int16_t pcm) {
  int v = pcm;
  int sign = v < 0 ? 0x80 : 0;
  if (v < 0) v = -v;
  if (v > kClip) v = kClip;
  v += kBias;
  int seg = segment_of(v);
  int mantissa = (v >> (seg + 3)) & 0x0f;
  return static_cast<std::uint8_t>(~(sign | (seg << 4) | mantissa));
}

std::int16_t ulaw_to_linear(std::uint8_t u) {
  return kUlaw[u];
}

std::uint8_t linear_to_alaw(std::int16_t pcm) {
  int v = pcm;
  int sign = v >= 0 ? 0x80 : 0;
  if (v < 0) v = -v - 1;  // one's complement keeps -32768 in range
  if (v > 32767) v = 32767;
  std::uint8_t out;
  if (v < 256) {
    out = static_cast<std::uint8_t>(v >> 4);
  } else {
    int seg = 1;
    for (int t = v >> 8; t > 1; t >>= 1) ++seg;
    out = static_cast<std::uint8_t>((seg << 4) | ((v >> (seg + 3)) & 0x0f));
  }
  return static_cast<std::uint8_t>((out | sign) ^ 0x55);
}

std::int16_t alaw_to_linear(std::uint8_t a) {
  return kAlaw[a];
}

void encode_ulaw(std::span<const std::int16_t> in, std::span<std::uint8_t> out) {
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = linear_to_ulaw(in[i]);
}
void decode_ulaw(std::span<const std::uint8_t> in, std::span<std::int16_t> out) {
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = kUlaw[in[i]];
}
void encode_alaw(std::span<const std::int16_t> in, std::span<std::uint8_t> out) {
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = linear_to_alaw(in[i]);
}
void decode_alaw(std::span<const std::uint8_t> in, std::span<std::int16_t> out) {
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = kAlaw[in[i]];
}

}  // namespace confab::media::g711
