#pragma once
// A clip: mono PCM at the rate of the room it was made for (a rendered tone, a decoded prompt).
// Made on the control thread, immutable once handed to the engine, which only reads it.
#include <cstdint>
#include <vector>

namespace confab::media {

struct Pcm;

struct Clip {
  int rate = 0;
  std::vector<std::int16_t> pcm;
};

// Decoded audio (any channels and rate) to a clip at `rate`: channels averaged, then resampled.
Clip to_clip(const Pcm& audio, int rate);

}  // namespace confab::media
