#pragma once
// The conference mixer for one room (DESIGN.md section 3). Per tick: the N loudest audible legs
// are the speakers; their frames are summed in int32; every speaker gets a private mix-minus
// (the mix without itself); everyone else shares the one full mix. A limiter replaces
// wrap-around. Buffers are sized at construction: mixing allocates nothing.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace confab::media {

// Smooth gain reduction: the gain follows the frame's peak down at once (ramped across the
// frame, so no click) and recovers slowly; samples are clamped as a last resort only.
class Limiter {
 public:
  explicit Limiter(std::int32_t ceiling = 29000, float release_per_frame = 0.05f)
      : ceiling_(ceiling), release_(release_per_frame) {}
  // Computes this frame's target gain from the peak of `mix`.
  void plan(std::span<const std::int32_t> mix);
  // Applies the planned ramp to one signal (the full mix or a mix-minus).
  void apply(std::span<const std::int32_t> in, std::span<std::int16_t> out) const;
  void commit() {
    last_start_ = std::min(gain_, target_);
    last_target_ = target_;
    gain_ = target_;
  }
  float gain() const { return gain_; }

 private:
  std::int32_t ceiling_;
  float release_;
  float gain_ = 1.0f;
  float target_ = 1.0f;

 public:
  // The ramp this tick used, for mixes made after commit() (relate).
  float last_start_ = 1.0f, last_target_ = 1.0f;
  void apply_last(std::span<const std::int32_t> in, std::span<std::int16_t> out) const;
};

struct MixerInput {
  int score = 0;         // loudness, for choosing speakers
  bool audible = false;  // has a decoded frame this tick and may be heard (not muted)
  std::span<const std::int16_t> frame;  // frame_samples long when audible
};

class Mixer {
 public:
  Mixer(std::size_t frame_samples, std::size_t max_legs, std::size_t max_speakers = 3);

  // Mixes one tick. `inputs` is indexed by leg slot. Afterwards: speakers() lists the chosen
  // slots, full() is the mix everyone else hears, minus(slot) a speaker's own mix. `extra`
  // (empty, or one frame: tones and prompts) is heard by everyone, speakers included.
  void mix(std::span<const MixerInput> inputs, std::span<const std::int16_t> extra = {});

  std::span<const std::size_t> speakers() const { return {speakers_.data(), speaker_count_}; }
  bool is_speaker(std::size_t slot) const;
  std::span<const std::int16_t> full() const { return full16_; }
  std::span<const std::int16_t> minus(std::size_t slot) const;
  // The tick's mix without the frames of `excluded` slots (those not speaking are ignored), with
  // the tick's limiter gain, into `out`. For listeners who must not hear someone (relate).
  void mix_without(std::span<const MixerInput> inputs, std::span<const std::size_t> excluded,
                   std::span<std::int16_t> out);
  std::size_t frame_samples() const { return frame_; }

 private:
  std::size_t frame_, max_speakers_;
  std::vector<std::size_t> speakers_;
  std::size_t speaker_count_ = 0;
  std::vector<std::int32_t> acc_;      // the int32 full mix
  std::vector<std::int32_t> scratch_;  // one mix-minus at a time
  std::vector<std::int16_t> full16_;
  std::vector<std::int16_t> minus16_;  // max_speakers x frame
  Limiter limiter_;
};

}  // namespace confab::media
