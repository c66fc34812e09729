// Uploaded WAV files: every input either parses into whole frames of a supported format or is
// refused with WavError; nothing is read outside the input (ASan) and nothing else is thrown.
#include "media/wav.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto p = confab::media::parse_wav(std::span<const std::uint8_t>(data, size));
    if (p.channels < 1 || p.channels > 2 || p.rate < 8000 || p.rate > 48000 || p.samples.empty() ||
        p.samples.size() % static_cast<std::size_t>(p.channels) != 0 ||
        p.samples.size() > size)  // never more samples than bytes: 8 bits is the smallest sample
      __builtin_trap();
  } catch (const confab::media::WavError&) {
  }
  return 0;
}
