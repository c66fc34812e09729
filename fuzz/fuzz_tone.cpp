// Tone strings from clients (play_entry_tone, play_exit_tone, play actions): parse, and render
// what parses at the narrowest rate.
#include "media/tone.hpp"

#include <cstdint>
#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto t = confab::media::parse_tone(std::string_view(reinterpret_cast<const char*>(data), size));
    (void)confab::media::render_tone(t, 8000);
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
