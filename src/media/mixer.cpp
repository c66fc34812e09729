#include "media/mixer.hpp"

#include <algorithm>
#include <cstdlib>

namespace confab::media {

void Limiter::plan(std::span<const std::int32_t> mix) {
  std::int32_t peak = 0;
  for (auto s : mix) peak = std::max(peak, std::abs(s));
  float needed = peak > ceiling_ ? static_cast<float>(ceiling_) / static_cast<float>(peak) : 1.0f;
  // Attack at once; recover by at most `release_` a frame, and never above what this frame needs,
  // so that no sample of the ramp exceeds the ceiling.
  target_ = needed < gain_ ? needed : std::min(needed, gain_ + release_);
}

void Limiter::apply_last(std::span<const std::int32_t> in, std::span<std::int16_t> out) const {
  float step = in.empty() ? 0.0f : (last_target_ - last_start_) / static_cast<float>(in.size());
  float g = last_start_;
  for (std::size_t i = 0; i < in.size(); ++i, g += step) {
    auto v = static_cast<std::int32_t>(static_cast<float>(in[i]) * g);
    out[i] = static_cast<std::int16_t>(std::clamp<std::int32_t>(v, -32768, 32767));
  }
}

void Limiter::apply(std::span<const std::int32_t> in, std::span<std::int16_t> out) const {
  float start = std::min(gain_, target_);
  float step = in.empty() ? 0.0f : (target_ - start) / static_cast<float>(in.size());
  float g = start;
  for (std::size_t i = 0; i < in.size(); ++i, g += step) {
    auto v = static_cast<std::int32_t>(static_cast<float>(in[i]) * g);
    out[i] = static_cast<std::int16_t>(std::clamp<std::int32_t>(v, -32768, 32767));
  }
}

Mixer::Mixer(std::size_t frame_samples, std::size_t max_legs, std::size_t max_speakers)
    : frame_(frame_samples),
      max_speakers_(max_speakers),
      speakers_(std::max<std::size_t>(max_speakers, 1)),
      acc_(frame_samples),
      scratch_(frame_samples),
      full16_(frame_samples),
      minus16_(frame_samples * std::max<std::size_t>(max_speakers, 1)) {
  (void)max_legs;
}

bool Mixer::is_speaker(std::size_t slot) const {
  for (std::size_t i = 0; i < speaker_count_; ++i)
    if (speakers_[i] == slot) return true;
  return false;
}

std::span<const std::int16_t> Mixer::minus(std::size_t slot) const {
  for (std::size_t i = 0; i < speaker_count_; ++i)
    if (speakers_[i] == slot) return {minus16_.data() + i * frame_, frame_};
  return full16_;
}

void Mixer::mix_without(std::span<const MixerInput> inputs, std::span<const std::size_t> excluded,
                        std::span<std::int16_t> out) {
  std::copy(acc_.begin(), acc_.end(), scratch_.begin());
  for (auto slot : excluded) {
    if (!is_speaker(slot)) continue;
    auto f = inputs[slot].frame;
    for (std::size_t i = 0; i < frame_; ++i) scratch_[i] -= f[i];
  }
  limiter_.apply_last(scratch_, out);
}

void Mixer::mix(std::span<const MixerInput> inputs, std::span<const std::int16_t> extra) {
  // Choose the N loudest audible legs (insertion into a tiny sorted array: N is 3).
  speaker_count_ = 0;
  for (std::size_t slot = 0; slot < inputs.size(); ++slot) {
    auto& in = inputs[slot];
    if (!in.audible || in.frame.size() < frame_) continue;
    std::size_t pos = speaker_count_;
    while (pos > 0 && inputs[speakers_[pos - 1]].score < in.score) --pos;
    if (pos >= max_speakers_) continue;
    std::size_t last = std::min(speaker_count_, max_speakers_ - 1);
    for (std::size_t k = last; k > pos; --k) speakers_[k] = speakers_[k - 1];
    speakers_[pos] = slot;
    speaker_count_ = std::min(speaker_count_ + 1, max_speakers_);
  }

  if (extra.size() >= frame_)
    std::copy_n(extra.begin(), frame_, acc_.begin());
  else
    std::fill(acc_.begin(), acc_.end(), 0);
  for (std::size_t k = 0; k < speaker_count_; ++k) {
    auto f = inputs[speakers_[k]].frame;
    for (std::size_t i = 0; i < frame_; ++i) acc_[i] += f[i];
  }
  limiter_.plan(acc_);
  limiter_.apply(acc_, full16_);
  for (std::size_t k = 0; k < speaker_count_; ++k) {
    auto f = inputs[speakers_[k]].frame;
    for (std::size_t i = 0; i < frame_; ++i) scratch_[i] = acc_[i] - f[i];
    limiter_.apply(scratch_, {minus16_.data() + k * frame_, frame_});
  }
  limiter_.commit();
}

}  // namespace confab::media
