#include "media/talk.hpp"

#include <array>
#include <cmath>
#include <cstdlib>

namespace confab::media {

int TalkDetector::score_of(std::span<const std::int16_t> frame) {
  if (frame.empty()) return 0;
  std::int64_t sum = 0;
  for (auto s : frame) sum += std::abs(static_cast<int>(s));
  return static_cast<int>(sum / static_cast<std::int64_t>(frame.size()));
}

int TalkDetector::score_of_level(std::uint8_t dbov) {
  // mean |x| of a sine is 2/pi of its peak; table built once, no math on the packet path.
  static const std::array<int, 128> table = [] {
    std::array<int, 128> t{};
    for (int l = 0; l < 128; ++l)
      t[static_cast<std::size_t>(l)] =
          l == 127 ? 0 : static_cast<int>(32767.0 * std::pow(10.0, -l / 20.0) * 0.63662);
    return t;
  }();
  return table[dbov & 0x7f];
}

TalkChange TalkDetector::feed_score(int score) {
  score_ = score;
  bool gate = score > energy_level_;
  if (gate) {
    ++gated_;
    quiet_ = 0;
    if (!talking_ && (score - energy_level_ >= 400 || gated_ >= hangunder_)) {
      talking_ = true;
      return TalkChange::started;
    }
    return TalkChange::none;
  }
  gated_ = 0;
  if (talking_ && ++quiet_ >= hangover_) {
    talking_ = false;
    quiet_ = 0;
    return TalkChange::stopped;
  }
  return TalkChange::none;
}

}  // namespace confab::media
