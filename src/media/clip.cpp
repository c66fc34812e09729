#include "media/clip.hpp"

#include "media/codec.hpp"
#include "media/wav.hpp"

#include <algorithm>

namespace confab::media {

Clip to_clip(const Pcm& audio, int rate) {
  Clip clip;
  clip.rate = rate;
  std::vector<std::int16_t> mono(audio.frames());
  auto ch = static_cast<std::size_t>(std::max(1, audio.channels));
  for (std::size_t i = 0; i < mono.size(); ++i) {
    std::int32_t sum = 0;
    for (std::size_t c = 0; c < ch; ++c) sum += audio.samples[i * ch + c];
    mono[i] = static_cast<std::int16_t>(sum / static_cast<std::int32_t>(ch));
  }
  if (audio.rate == rate || mono.empty()) {
    clip.pcm = std::move(mono);
    return clip;
  }
  Resampler r(audio.rate, rate, 5);  // once per clip: a better quality than the per-tick one
  constexpr std::size_t kChunk = 4800;
  std::vector<std::int16_t> out(
      kChunk * static_cast<std::size_t>(rate) / static_cast<std::size_t>(audio.rate) + 64);
  for (std::size_t at = 0; at < mono.size(); at += kChunk) {
    auto in = std::span<const std::int16_t>(mono).subspan(at, std::min(kChunk, mono.size() - at));
    int n = r.process(in, out);
    clip.pcm.insert(clip.pcm.end(), out.begin(), out.begin() + std::max(0, n));
  }
  return clip;
}

}  // namespace confab::media
