#include "media/codec.hpp"

#include "media/g711.hpp"
#include "media/g722.hpp"

#include <opus/opus.h>
#include <speex/speex_resampler.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace confab::media {

int pcm_rate(Codec c) {
  switch (c) {
    case Codec::opus:
      return 48000;
    case Codec::g722:
      return 16000;
    case Codec::pcmu:
    case Codec::pcma:
      return 8000;
  }
  return 8000;
}

int rtp_increment(Codec c, int ptime_ms) {
  return (c == Codec::g722 ? 8000 : pcm_rate(c)) * ptime_ms / 1000;
}

namespace {

// G.711 concealment: repeat the last good frame, fading it, then silence (a simple form of
// ITU-T G.711 Appendix I's idea, cheap and without artefacts beyond a few losses).
class FadeConcealer {
 public:
  explicit FadeConcealer(std::size_t n) : last_(n) {}
  // A packet longer than the frame (a peer's ptime is not ours to trust) leaves its first frame.
  void remember(std::span<const std::int16_t> f) {
    std::copy_n(f.begin(), std::min(f.size(), last_.size()), last_.begin());
    lost_ = 0;
  }
  int conceal(std::span<std::int16_t> out) {
    ++lost_;
    int shift = std::min(lost_, 15);
    for (std::size_t i = 0; i < last_.size() && i < out.size(); ++i)
      out[i] = lost_ > 3 ? 0 : static_cast<std::int16_t>(last_[i] >> shift);
    return static_cast<int>(std::min(last_.size(), out.size()));
  }

 private:
  std::vector<std::int16_t> last_;
  int lost_ = 0;
};

class G711Encoder final : public Encoder {
 public:
  explicit G711Encoder(bool ulaw) : ulaw_(ulaw) {}
  int encode(std::span<const std::int16_t> pcm, std::span<std::uint8_t> out) override {
    if (out.size() < pcm.size()) return -1;
    if (ulaw_)
      g711::encode_ulaw(pcm, out);
    else
      g711::encode_alaw(pcm, out);
    return static_cast<int>(pcm.size());
  }

 private:
  bool ulaw_;
};

class G711Decoder final : public Decoder {
 public:
  G711Decoder(bool ulaw, std::size_t frame) : ulaw_(ulaw), plc_(frame) {}
  int decode(std::span<const std::uint8_t> p, std::span<std::int16_t> out) override {
    if (out.size() < p.size()) return -1;
    if (ulaw_)
      g711::decode_ulaw(p, out);
    else
      g711::decode_alaw(p, out);
    plc_.remember(out.first(p.size()));
    return static_cast<int>(p.size());
  }
  int conceal(std::span<std::int16_t> out, std::span<const std::uint8_t>) override {
    return plc_.conceal(out);
  }

 private:
  bool ulaw_;
  FadeConcealer plc_;
};

class G722Encoder final : public Encoder {
 public:
  int encode(std::span<const std::int16_t> pcm, std::span<std::uint8_t> out) override {
    if (out.size() < pcm.size() / 2) return -1;
    return static_cast<int>(g722::encode(st_, pcm, out));
  }

 private:
  g722::EncodeState st_;
};

class G722Decoder final : public Decoder {
 public:
  explicit G722Decoder(std::size_t frame) : plc_(frame) {}
  int decode(std::span<const std::uint8_t> p, std::span<std::int16_t> out) override {
    if (out.size() < p.size() * 2) return -1;
    auto n = g722::decode(st_, p, out);
    if (n > 0) plc_.remember(out.first(n));
    return static_cast<int>(n);
  }
  int conceal(std::span<std::int16_t> out, std::span<const std::uint8_t>) override {
    return plc_.conceal(out);
  }

 private:
  g722::DecodeState st_;
  FadeConcealer plc_;
};

class OpusEnc final : public Encoder {
 public:
  OpusEnc(int channels, std::size_t frame) : channels_(channels), stereo_(frame * 2) {
    int err = 0;
    st_ = opus_encoder_create(48000, channels, OPUS_APPLICATION_VOIP, &err);
    if (err != OPUS_OK) throw std::runtime_error("opus_encoder_create failed");
    opus_encoder_ctl(st_, OPUS_SET_BITRATE(channels == 2 ? 48000 : 32000));
    opus_encoder_ctl(st_, OPUS_SET_INBAND_FEC(1));
    opus_encoder_ctl(st_, OPUS_SET_PACKET_LOSS_PERC(5));
    opus_encoder_ctl(st_, OPUS_SET_COMPLEXITY(5));
  }
  ~OpusEnc() override { opus_encoder_destroy(st_); }
  int encode(std::span<const std::int16_t> pcm, std::span<std::uint8_t> out) override {
    const std::int16_t* in = pcm.data();
    if (channels_ == 2) {  // the mono mix on both channels
      if (stereo_.size() < pcm.size() * 2) return -1;
      for (std::size_t i = 0; i < pcm.size(); ++i) stereo_[2 * i] = stereo_[2 * i + 1] = pcm[i];
      in = stereo_.data();
    }
    int n = opus_encode(st_, in, static_cast<int>(pcm.size()), out.data(),
                        static_cast<opus_int32>(out.size()));
    return n < 0 ? -1 : n;
  }

 private:
  int channels_;
  OpusEncoder* st_ = nullptr;
  std::vector<std::int16_t> stereo_;
};

class OpusDec final : public Decoder {
 public:
  explicit OpusDec(std::size_t frame) : frame_(static_cast<int>(frame)) {
    int err = 0;
    st_ = opus_decoder_create(48000, 1, &err);  // stereo senders are downmixed by libopus
    if (err != OPUS_OK) throw std::runtime_error("opus_decoder_create failed");
  }
  ~OpusDec() override { opus_decoder_destroy(st_); }
  int decode(std::span<const std::uint8_t> p, std::span<std::int16_t> out) override {
    int n = opus_decode(st_, p.data(), static_cast<opus_int32>(p.size()), out.data(),
                        static_cast<int>(out.size()), 0);
    return n < 0 ? -1 : n;
  }
  int conceal(std::span<std::int16_t> out, std::span<const std::uint8_t> next) override {
    int frame = std::min(frame_, static_cast<int>(out.size()));
    int n = next.empty()
                ? opus_decode(st_, nullptr, 0, out.data(), frame, 0)
                : opus_decode(st_, next.data(), static_cast<opus_int32>(next.size()), out.data(),
                              frame, 1);  // the lost frame, from the next packet's FEC
    return n < 0 ? -1 : n;
  }

 private:
  int frame_;
  OpusDecoder* st_ = nullptr;
};

}  // namespace

std::unique_ptr<Encoder> make_encoder(Codec c, int channels, int ptime_ms) {
  auto frame = static_cast<std::size_t>(frame_samples(c, ptime_ms));
  switch (c) {
    case Codec::opus:
      return std::make_unique<OpusEnc>(channels == 2 ? 2 : 1, frame);
    case Codec::g722:
      return std::make_unique<G722Encoder>();
    case Codec::pcmu:
      return std::make_unique<G711Encoder>(true);
    case Codec::pcma:
      return std::make_unique<G711Encoder>(false);
  }
  return nullptr;
}

std::unique_ptr<Decoder> make_decoder(Codec c, int ptime_ms) {
  auto frame = static_cast<std::size_t>(frame_samples(c, ptime_ms));
  switch (c) {
    case Codec::opus:
      return std::make_unique<OpusDec>(frame);
    case Codec::g722:
      return std::make_unique<G722Decoder>(frame);
    case Codec::pcmu:
      return std::make_unique<G711Decoder>(true, frame);
    case Codec::pcma:
      return std::make_unique<G711Decoder>(false, frame);
  }
  return nullptr;
}

Resampler::Resampler(int in_rate, int out_rate, int quality) : in_(in_rate), out_(out_rate) {
  int err = 0;
  state_ = speex_resampler_init(1, static_cast<spx_uint32_t>(in_rate),
                                static_cast<spx_uint32_t>(out_rate), quality, &err);
  if (!state_ || err != RESAMPLER_ERR_SUCCESS) throw std::runtime_error("speex resampler init");
  speex_resampler_skip_zeros(static_cast<SpeexResamplerState*>(state_));
}

Resampler::~Resampler() {
  if (state_) speex_resampler_destroy(static_cast<SpeexResamplerState*>(state_));
}

int Resampler::process(std::span<const std::int16_t> in, std::span<std::int16_t> out) {
  auto in_len = static_cast<spx_uint32_t>(in.size());
  auto out_len = static_cast<spx_uint32_t>(out.size());
  speex_resampler_process_int(static_cast<SpeexResamplerState*>(state_), 0, in.data(), &in_len,
                              out.data(), &out_len);
  return static_cast<int>(out_len);
}

int Resampler::process_exact(std::span<const std::int16_t> in, std::span<std::int16_t> out) {
  auto n = static_cast<std::size_t>(std::max(0, process(in, out)));
  if (n < out.size()) {
    std::copy_backward(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), out.end());
    std::fill(out.begin(), out.end() - static_cast<std::ptrdiff_t>(n), std::int16_t{0});
  }
  return static_cast<int>(out.size());
}

}  // namespace confab::media
