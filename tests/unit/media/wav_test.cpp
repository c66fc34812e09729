#include "media/wav.hpp"
#include "media/g711.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

using namespace confab::media;

namespace {

using Bytes = std::vector<std::uint8_t>;

void put16(Bytes& b, std::uint32_t v) {
  b.push_back(static_cast<std::uint8_t>(v));
  b.push_back(static_cast<std::uint8_t>(v >> 8));
}
void put32(Bytes& b, std::uint32_t v) {
  put16(b, v);
  put16(b, v >> 16);
}
void tag(Bytes& b, const char* four) {
  b.insert(b.end(), four, four + 4);
}
void chunk(Bytes& b, const char* id, const Bytes& body, bool pad = true) {
  tag(b, id);
  put32(b, static_cast<std::uint32_t>(body.size()));
  b.insert(b.end(), body.begin(), body.end());
  if (pad && body.size() % 2) b.push_back(0);
}
Bytes fmt_body(std::uint16_t format, int channels, int rate, int bits) {
  Bytes f;
  put16(f, format);
  put16(f, static_cast<std::uint32_t>(channels));
  put32(f, static_cast<std::uint32_t>(rate));
  put32(f, static_cast<std::uint32_t>(rate * channels * bits / 8));
  put16(f, static_cast<std::uint32_t>(channels * bits / 8));
  put16(f, static_cast<std::uint32_t>(bits));
  return f;
}
Bytes riff(const Bytes& chunks) {
  Bytes b;
  tag(b, "RIFF");
  put32(b, static_cast<std::uint32_t>(chunks.size() + 4));
  tag(b, "WAVE");
  b.insert(b.end(), chunks.begin(), chunks.end());
  return b;
}
Bytes pcm16(std::initializer_list<std::int16_t> samples) {
  Bytes b;
  for (auto s : samples) put16(b, static_cast<std::uint16_t>(s));
  return b;
}
Bytes wav16(int rate, int channels, const Bytes& data) {
  Bytes c;
  chunk(c, "fmt ", fmt_body(1, channels, rate, 16));
  chunk(c, "data", data);
  return riff(c);
}

std::string error_of(const Bytes& b, WavError::Kind* kind = nullptr) {
  try {
    parse_wav(std::span<const std::uint8_t>(b));
  } catch (const WavError& e) {
    if (kind) *kind = e.kind;
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

}  // namespace

TEST(Wav, Reads16BitPcm) {
  auto p = parse_wav(std::span<const std::uint8_t>(wav16(8000, 1, pcm16({0, 1000, -1000, 32767}))));
  EXPECT_EQ(p.rate, 8000);
  EXPECT_EQ(p.channels, 1);
  EXPECT_EQ(p.samples, (std::vector<std::int16_t>{0, 1000, -1000, 32767}));
}

TEST(Wav, ReadsStereoInterleavedAndItsDuration) {
  Bytes data;
  for (int i = 0; i < 16000; ++i) {
    put16(data, 100);
    put16(data, static_cast<std::uint16_t>(-100));
  }
  auto p = parse_wav(std::span<const std::uint8_t>(wav16(16000, 2, data)));
  EXPECT_EQ(p.channels, 2);
  EXPECT_EQ(p.frames(), 16000u);
  EXPECT_EQ(p.duration_ms(), 1000);
  EXPECT_EQ(p.samples[0], 100);
  EXPECT_EQ(p.samples[1], -100);
}

TEST(Wav, Reads8BitUnsignedPcm) {
  Bytes c;
  chunk(c, "fmt ", fmt_body(1, 1, 8000, 8));
  chunk(c, "data", Bytes{128, 255, 0});
  auto p = parse_wav(std::span<const std::uint8_t>(riff(c)));
  EXPECT_EQ(p.samples, (std::vector<std::int16_t>{0, 127 * 256, -128 * 256}));
}

TEST(Wav, ReadsMuLawAndALaw) {
  for (std::uint16_t format : {6, 7}) {
    Bytes c;
    chunk(c, "fmt ", fmt_body(format, 1, 8000, 8));
    chunk(c, "data", Bytes{0x12, 0x9a});
    auto p = parse_wav(std::span<const std::uint8_t>(riff(c)));
    auto decode = format == 7 ? g711::ulaw_to_linear : g711::alaw_to_linear;
    EXPECT_EQ(p.samples, (std::vector<std::int16_t>{decode(0x12), decode(0x9a)})) << format;
  }
}

TEST(Wav, ReadsExtensibleWrappingPcm) {
  Bytes f = fmt_body(0xFFFE, 1, 48000, 16);
  put16(f, 22);  // cbSize
  put16(f, 16);  // valid bits
  put32(f, 4);   // channel mask: front center
  const std::uint8_t guid[16] = {1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71};
  f.insert(f.end(), guid, guid + 16);
  Bytes c;
  chunk(c, "fmt ", f);
  chunk(c, "data", pcm16({5, 6}));
  auto p = parse_wav(std::span<const std::uint8_t>(riff(c)));
  EXPECT_EQ(p.rate, 48000);
  EXPECT_EQ(p.samples, (std::vector<std::int16_t>{5, 6}));

  f[24] = 3;  // the same wrapper around IEEE float
  Bytes c2;
  chunk(c2, "fmt ", f);
  chunk(c2, "data", pcm16({5, 6}));
  EXPECT_EQ(error_of(riff(c2)), "unsupported WAV format 3 (IEEE float)");
}

TEST(Wav, SkipsUnknownChunksWithTheirOddPadding) {
  Bytes c;
  chunk(c, "LIST", Bytes{'I', 'N', 'F', 'O', 'x'});  // odd size: one pad byte follows
  chunk(c, "fmt ", fmt_body(1, 1, 8000, 16));
  chunk(c, "fact", Bytes{1, 0, 0, 0});
  chunk(c, "data", pcm16({7, 8}));
  chunk(c, "LIST", Bytes{'a', 'b', 'c'});  // after the data, as ffmpeg writes it
  auto p = parse_wav(std::span<const std::uint8_t>(riff(c)));
  EXPECT_EQ(p.samples, (std::vector<std::int16_t>{7, 8}));
}

TEST(Wav, FmtAfterDataIsFound) {
  Bytes c;
  chunk(c, "data", pcm16({1, 2, 3}));
  chunk(c, "fmt ", fmt_body(1, 1, 8000, 16));
  auto p = parse_wav(std::span<const std::uint8_t>(riff(c)));
  EXPECT_EQ(p.samples.size(), 3u);
}

TEST(Wav, StreamedDataSizesTakeWhatIsThere) {
  for (std::uint32_t size : {0u, 0xFFFFFFFFu, 1000u}) {
    Bytes c;
    chunk(c, "fmt ", fmt_body(1, 1, 8000, 16));
    tag(c, "data");
    put32(c, size);
    auto s = pcm16({1, 2, 3});
    c.insert(c.end(), s.begin(), s.end());
    c.push_back(0x44);  // half a sample: dropped
    auto p = parse_wav(std::span<const std::uint8_t>(riff(c)));
    EXPECT_EQ(p.samples, (std::vector<std::int16_t>{1, 2, 3})) << size;
  }
}

TEST(Wav, RefusesWhatItCannotPlayNamingWhy) {
  using K = WavError::Kind;
  K kind{};
  EXPECT_EQ(error_of(Bytes{'h', 'e', 'l', 'l', 'o'}, &kind), "not a RIFF/WAVE file");
  EXPECT_EQ(kind, K::malformed);
  auto with_fmt = [](Bytes f) {
    Bytes c;
    chunk(c, "fmt ", f);
    chunk(c, "data", pcm16({1, 2, 3, 4, 5, 6}));
    return riff(c);
  };
  EXPECT_EQ(error_of(with_fmt(fmt_body(3, 1, 8000, 32)), &kind),
            "unsupported WAV format 3 (IEEE float)");
  EXPECT_EQ(kind, K::unsupported);
  EXPECT_EQ(error_of(with_fmt(fmt_body(0x55, 1, 8000, 0))),
            "unsupported WAV format 85 (MPEG layer 3)");
  EXPECT_EQ(error_of(with_fmt(fmt_body(1, 1, 8000, 24))), "unsupported bits per sample 24");
  EXPECT_EQ(error_of(with_fmt(fmt_body(7, 1, 8000, 16))), "unsupported bits per sample 16");
  EXPECT_EQ(error_of(with_fmt(fmt_body(1, 6, 8000, 16))), "too many channels: 6");
  EXPECT_EQ(error_of(with_fmt(fmt_body(1, 0, 8000, 16)), &kind), "no channels");
  EXPECT_EQ(kind, K::malformed);
  EXPECT_EQ(error_of(with_fmt(fmt_body(1, 1, 4000, 16))),
            "unsupported sample rate 4000 (8000 to 48000 Hz)");
  EXPECT_EQ(error_of(with_fmt(fmt_body(1, 1, 96000, 16))),
            "unsupported sample rate 96000 (8000 to 48000 Hz)");
  EXPECT_EQ(error_of(with_fmt(Bytes(10, 0))), "fmt chunk too short: 10 bytes");

  Bytes no_data;
  chunk(no_data, "fmt ", fmt_body(1, 1, 8000, 16));
  EXPECT_EQ(error_of(riff(no_data)), "no data chunk");
  Bytes no_fmt;
  chunk(no_fmt, "data", pcm16({1}));
  EXPECT_EQ(error_of(riff(no_fmt)), "no fmt chunk");
  Bytes empty;
  chunk(empty, "fmt ", fmt_body(1, 1, 8000, 16));
  chunk(empty, "data", Bytes{7});  // not even one sample
  chunk(empty, "LIST", Bytes{});
  EXPECT_EQ(error_of(riff(empty)), "no audio in the data chunk");
}

TEST(Wav, TruncatedHeadersAreRefusedNotOverread) {
  auto whole = wav16(8000, 1, pcm16({1, 2, 3, 4}));
  // Every prefix either parses or throws WavError; ASan watches the reads.
  for (std::size_t n = 0; n < whole.size(); ++n) {
    Bytes cut(whole.begin(), whole.begin() + static_cast<long>(n));
    try {
      auto p = parse_wav(std::span<const std::uint8_t>(cut));
      EXPECT_GE(n, 46u) << "parsed a file with no whole sample";
    } catch (const WavError&) {
    }
  }
  Bytes cut(whole.begin(), whole.begin() + 30);  // inside the fmt chunk
  EXPECT_EQ(error_of(cut), "truncated fmt chunk");
}

TEST(Wav, CapsTheDecodedLength) {
  Bytes c;
  chunk(c, "fmt ", fmt_body(1, 1, 8000, 8));
  Bytes data(8000u * (kMaxWavSeconds + 1), 128);
  chunk(c, "data", data);
  WavError::Kind kind{};
  EXPECT_EQ(error_of(riff(c), &kind), "audio longer than 10 minutes: 601 s");
  EXPECT_EQ(kind, WavError::Kind::too_long);
}

TEST(Wav, HeaderRoundTripsThroughTheParser) {
  auto h = wav_header(16000, 2, 8);
  Bytes b(h.begin(), h.end());
  auto s = pcm16({1, -1, 2, -2});
  b.insert(b.end(), s.begin(), s.end());
  EXPECT_EQ(std::memcmp(b.data(), "RIFF", 4), 0);
  EXPECT_EQ(b[4] | (b[5] << 8), 44);  // 36 + data
  auto p = parse_wav(std::span<const std::uint8_t>(b));
  EXPECT_EQ(p.rate, 16000);
  EXPECT_EQ(p.channels, 2);
  EXPECT_EQ(p.samples, (std::vector<std::int16_t>{1, -1, 2, -2}));
  auto big = wav_header(8000, 1, 0xFFFFFFF0u);  // RIFF size saturates instead of wrapping
  EXPECT_EQ(big[4], 0xFF);
  EXPECT_EQ(big[7], 0xFF);
}
