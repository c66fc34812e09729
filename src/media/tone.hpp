#pragma once
// Tones and prompts as PCM clips. Tone strings follow FreeSWITCH's teletone syntax, which is what
// Kazoo documents for play_entry_tone / play_exit_tone:
//   tone_stream://[v=<dB>;][L=<loops>;]%(<on ms>,<off ms>,<Hz>[,<Hz>...]);%(...)...
// Other "<name>=<value>" directives of teletone (>=, +=, ...) are accepted and ignored.
// Clips are rendered on the control thread at a room's rate and only read by a shard.
#include "media/clip.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace confab::media {

struct ToneSegment {
  int on_ms = 0;
  int off_ms = 0;
  std::vector<int> freqs;  // summed; empty: silence for on_ms
};

struct ToneSpec {
  double volume_db = -12.0;  // level of the whole tone (each segment normalised to it)
  int loops = 1;
  std::vector<ToneSegment> segments;
};

inline constexpr std::string_view kToneScheme = "tone_stream://";
inline constexpr int kMaxToneMs = 60'000;  // a tone string may not describe more than a minute

// Throws std::invalid_argument naming what is wrong (with or without the scheme prefix).
ToneSpec parse_tone(std::string_view s);
std::vector<std::int16_t> render_tone(const ToneSpec& spec, int rate);

// FreeSWITCH's default enter and exit sounds (a rising chord, a falling sweep).
inline constexpr std::string_view kDefaultEntryTone = "tone_stream://%(200,0,500,600,700)";
inline constexpr std::string_view kDefaultExitTone = "tone_stream://%(500,0,300,200,100,50,25)";

}  // namespace confab::media
