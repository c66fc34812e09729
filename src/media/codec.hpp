#pragma once
// Encoders and decoders for the leg codecs, one object per direction and leg (or per shared
// listener group). All state is allocated at construction; encode/decode/conceal allocate
// nothing and throw nothing: they return -1 on failure, which the caller counts.
#include "media/sdp.hpp"

#include <cstdint>
#include <memory>
#include <span>

namespace confab::media {

// The PCM side of a codec: its sample rate (Opus 48000, G.722 16000, G.711 8000).
int pcm_rate(Codec c);
// Samples of one frame of `ptime_ms` at the codec's PCM rate.
inline int frame_samples(Codec c, int ptime_ms) {
  return pcm_rate(c) * ptime_ms / 1000;
}
// RTP timestamp increment of one frame (G.722's RTP clock is 8000 though it samples at 16000).
int rtp_increment(Codec c, int ptime_ms);

class Encoder {
 public:
  virtual ~Encoder() = default;
  // One frame of mono PCM at the codec's rate -> payload bytes, or -1.
  virtual int encode(std::span<const std::int16_t> pcm, std::span<std::uint8_t> out) = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // One payload -> mono PCM at the codec's rate; returns samples, or -1.
  virtual int decode(std::span<const std::uint8_t> payload, std::span<std::int16_t> out) = 0;
  // A frame in place of a lost packet. `next` is the packet after the loss when the jitter
  // buffer already holds it: Opus recovers the lost frame from its in-band FEC.
  virtual int conceal(std::span<std::int16_t> out, std::span<const std::uint8_t> next) = 0;
};

// `channels` is what the far end gets (Opus stereo: the mono mix on both channels).
std::unique_ptr<Encoder> make_encoder(Codec c, int channels, int ptime_ms);
std::unique_ptr<Decoder> make_decoder(Codec c, int ptime_ms);

// Sample-rate conversion (speexdsp), mono, fixed ratio.
class Resampler {
 public:
  Resampler(int in_rate, int out_rate, int quality = 3);
  ~Resampler();
  Resampler(const Resampler&) = delete;
  Resampler& operator=(const Resampler&) = delete;
  // Converts one frame; returns the samples written to `out`.
  int process(std::span<const std::int16_t> in, std::span<std::int16_t> out);
  // Converts one frame into exactly out.size() samples: the first calls return fewer (the
  // filter's delay), which are put at the end after zeros, so every packet holds a whole frame.
  int process_exact(std::span<const std::int16_t> in, std::span<std::int16_t> out);
  // Forgets the signal so far (a new clip starts): allocation-free.
  void reset();
  int in_rate() const { return in_; }
  int out_rate() const { return out_; }

 private:
  int in_, out_;
  void* state_ = nullptr;
};

}  // namespace confab::media
