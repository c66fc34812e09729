#pragma once
// WAV files: the parser of uploaded media (outside input: every length is checked against the
// bytes that are really there) and the canonical header of the recordings we write.
#include <array>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace confab::media {

struct Pcm {
  int rate = 0;
  int channels = 0;
  std::vector<std::int16_t> samples;  // interleaved
  std::size_t frames() const { return channels > 0 ? samples.size() / channels : 0; }
  std::int64_t duration_ms() const {
    return rate > 0 ? static_cast<std::int64_t>(frames()) * 1000 / rate : 0;
  }
};

// Longest audio a WAV may decode to: a prompt or a hold tune, not an archive.
inline constexpr int kMaxWavSeconds = 600;

// Why a WAV was refused. An HTTP face answers `unsupported` with 415 (a WAV, but in an encoding
// we do not play) and the others with 400 (not a usable file).
class WavError : public std::invalid_argument {
 public:
  enum class Kind { malformed, unsupported, too_long };
  WavError(Kind k, const std::string& what) : std::invalid_argument(what), kind(k) {}
  Kind kind;
};

// RIFF/WAVE with 16-bit or 8-bit PCM, mu-law or A-law (also inside WAVE_FORMAT_EXTENSIBLE), 1 or
// 2 channels at 8000..48000 Hz. Unknown chunks are skipped; a data chunk whose size is 0 or
// 0xFFFFFFFF, or larger than what follows (a WAV written to a pipe, or cut short), is taken as
// what is there. Throws WavError naming what is wrong.
Pcm parse_wav(std::span<const std::uint8_t> bytes);
inline Pcm parse_wav(std::string_view bytes) {
  return parse_wav({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
}

// The 44-byte header of a canonical 16-bit PCM WAV with `data_bytes` of samples after it.
std::array<std::uint8_t, 44> wav_header(int rate, int channels, std::uint32_t data_bytes);

}  // namespace confab::media
