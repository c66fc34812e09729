#include "media/wav.hpp"

#include "media/g711.hpp"

#include <cstring>
#include <optional>
#include <string>

namespace confab::media {

namespace {

constexpr std::uint16_t kPcm = 1;
constexpr std::uint16_t kFloat = 3;
constexpr std::uint16_t kAlaw = 6;
constexpr std::uint16_t kUlaw = 7;
constexpr std::uint16_t kExtensible = 0xFFFE;
// The 14 bytes that follow the format code in a WAVE_FORMAT_EXTENSIBLE sub-format GUID
// (KSDATAFORMAT_SUBTYPE_*: xxxxxxxx-0000-0010-8000-00aa00389b71).
constexpr std::uint8_t kGuidTail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                        0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
constexpr int kMinRate = 8000;
constexpr int kMaxRate = 48000;

std::uint16_t u16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
std::uint32_t u32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
void put16(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}
void put32(std::uint8_t* p, std::uint32_t v) {
  put16(p, v);
  put16(p + 2, v >> 16);
}

[[noreturn]] void fail(WavError::Kind k, const std::string& why) {
  throw WavError(k, why);
}
[[noreturn]] void malformed(const std::string& why) {
  fail(WavError::Kind::malformed, why);
}
[[noreturn]] void unsupported(const std::string& why) {
  fail(WavError::Kind::unsupported, why);
}

std::string format_name(std::uint16_t f) {
  switch (f) {
    case 2:
      return " (Microsoft ADPCM)";
    case kFloat:
      return " (IEEE float)";
    case 0x11:
      return " (IMA ADPCM)";
    case 0x31:
      return " (GSM 6.10)";
    case 0x50:
      return " (MPEG)";
    case 0x55:
      return " (MPEG layer 3)";
    default:
      return "";
  }
}

struct Format {
  std::uint16_t tag = 0;
  int channels = 0;
  int rate = 0;
  int bits = 0;
};

Format read_fmt(const std::uint8_t* p, std::uint32_t size) {
  if (size < 16) malformed("fmt chunk too short: " + std::to_string(size) + " bytes");
  Format f;
  f.tag = u16(p);
  f.channels = u16(p + 2);
  std::uint32_t rate = u32(p + 4);
  f.bits = u16(p + 14);
  if (f.tag == kExtensible) {
    if (size < 40) malformed("WAVE_FORMAT_EXTENSIBLE fmt chunk too short: " + std::to_string(size));
    if (std::memcmp(p + 26, kGuidTail, sizeof kGuidTail) != 0)
      unsupported("unsupported WAVE_FORMAT_EXTENSIBLE sub-format");
    f.tag = u16(p + 24);
  }
  if (f.tag != kPcm && f.tag != kAlaw && f.tag != kUlaw)
    unsupported("unsupported WAV format " + std::to_string(f.tag) + format_name(f.tag));
  if (f.channels == 0) malformed("no channels");
  if (f.channels > 2) unsupported("too many channels: " + std::to_string(f.channels));
  if (rate < kMinRate || rate > kMaxRate)
    unsupported("unsupported sample rate " + std::to_string(rate) + " (8000 to 48000 Hz)");
  f.rate = static_cast<int>(rate);
  bool ok = f.tag == kPcm ? (f.bits == 16 || f.bits == 8) : f.bits == 8;
  if (!ok) unsupported("unsupported bits per sample " + std::to_string(f.bits));
  return f;
}

}  // namespace

Pcm parse_wav(std::span<const std::uint8_t> in) {
  const std::uint8_t* b = in.data();
  const std::size_t n = in.size();
  if (n < 12 || std::memcmp(b, "RIFF", 4) != 0 || std::memcmp(b + 8, "WAVE", 4) != 0)
    malformed("not a RIFF/WAVE file");
  std::optional<Format> fmt;
  const std::uint8_t* data = nullptr;
  std::size_t data_len = 0;
  // The RIFF size is not trusted: streamed files leave it 0 or 0xFFFFFFFF. The bytes decide.
  std::size_t off = 12;
  while (n - off >= 8) {
    const std::uint8_t* h = b + off;
    std::uint32_t size = u32(h + 4);
    std::size_t body = off + 8;
    std::size_t left = n - body;
    if (std::memcmp(h, "data", 4) == 0) {
      data = b + body;
      // A size of 0 or 0xFFFFFFFF, or one running past the end: the writer could not seek back
      // to fill it in, or the file was cut short. The audio is whatever follows.
      bool streamed = size == 0 || size == 0xFFFFFFFFu || size > left;
      data_len = streamed ? left : size;
      if (streamed || fmt) break;
    } else if (std::memcmp(h, "fmt ", 4) == 0) {
      if (size > left) malformed("truncated fmt chunk");
      fmt = read_fmt(h + 8, size);
      if (data) break;
    }
    // Chunks are padded to an even size; a pad byte missing at the very end is forgiven.
    std::size_t step = std::size_t{size} + (size & 1u);
    if (step >= left) break;
    off = body + step;
  }
  if (!fmt) malformed("no fmt chunk");
  if (!data) malformed("no data chunk");

  const std::size_t frame_bytes = static_cast<std::size_t>(fmt->channels) * (fmt->bits / 8);
  const std::size_t frames = data_len / frame_bytes;  // a partial last frame is dropped
  if (frames == 0) malformed("no audio in the data chunk");
  if (frames > static_cast<std::size_t>(fmt->rate) * kMaxWavSeconds)
    fail(WavError::Kind::too_long, "audio longer than " + std::to_string(kMaxWavSeconds / 60) +
                                       " minutes: " + std::to_string(frames / fmt->rate) + " s");

  Pcm out;
  out.rate = fmt->rate;
  out.channels = fmt->channels;
  const std::size_t count = frames * fmt->channels;
  out.samples.resize(count);
  std::span<const std::uint8_t> raw(data, count * (fmt->bits / 8));
  if (fmt->tag == kUlaw) {
    g711::decode_ulaw(raw, out.samples);
  } else if (fmt->tag == kAlaw) {
    g711::decode_alaw(raw, out.samples);
  } else if (fmt->bits == 8) {  // unsigned, 128 is silence
    for (std::size_t i = 0; i < count; ++i)
      out.samples[i] = static_cast<std::int16_t>((raw[i] - 128) * 256);
  } else {
    for (std::size_t i = 0; i < count; ++i)
      out.samples[i] = static_cast<std::int16_t>(u16(raw.data() + 2 * i));
  }
  return out;
}

std::array<std::uint8_t, 44> wav_header(int rate, int channels, std::uint32_t data_bytes) {
  std::array<std::uint8_t, 44> h{};
  auto* p = h.data();
  auto r = static_cast<std::uint32_t>(rate);
  auto c = static_cast<std::uint32_t>(channels);
  std::memcpy(p, "RIFF", 4);
  // A recording too long for RIFF's 32-bit size keeps the largest size it can say.
  put32(p + 4, data_bytes > 0xFFFFFFFFu - 36 ? 0xFFFFFFFFu : data_bytes + 36);
  std::memcpy(p + 8, "WAVEfmt ", 8);
  put32(p + 16, 16);
  put16(p + 20, kPcm);
  put16(p + 22, c);
  put32(p + 24, r);
  put32(p + 28, r * c * 2);  // bytes per second
  put16(p + 32, c * 2);      // bytes per frame
  put16(p + 34, 16);
  std::memcpy(p + 36, "data", 4);
  put32(p + 40, data_bytes);
  return h;
}

}  // namespace confab::media
