// confab's own media DSP, per 20 ms frame: G.722 encode + decode (320 samples <-> 160 octets),
// and the in-band DTMF detector at each rate it takes.
// Built with -DCONFAB_BENCH_SPANDSP and linked with -lspandsp it also times spandsp's G.722, the
// codec confab used before (docs/performance-media.md has the command and the figures; spandsp is
// no longer a dependency, so this variant is compiled by hand only).
#include "media/dtmf_detect.hpp"
#include "media/g722.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <vector>

#ifdef CONFAB_BENCH_SPANDSP
#include <spandsp.h>
#endif

namespace {

constexpr std::size_t kFrame = 320;
constexpr std::size_t kFrames = 50;  // one second, looped

// Speech-like: a 140 Hz harmonic series with a formant, amplitude-modulated, plus a little noise.
const std::vector<std::int16_t>& signal() {
  static const std::vector<std::int16_t> pcm = [] {
    std::vector<std::int16_t> v(kFrame * kFrames);
    std::mt19937 rng(3);
    std::normal_distribution<double> noise(0, 200);
    for (std::size_t i = 0; i < v.size(); ++i) {
      double t = double(i) / 16000, s = 0;
      for (int h = 1; h * 140 < 7000; ++h)
        s += 6000.0 / h * std::sin(2 * std::numbers::pi * 140 * h * t) *
             (1 + std::cos(2 * std::numbers::pi * (h * 140 - 800) / 2500));
      s = s * (0.5 + 0.5 * std::sin(2 * std::numbers::pi * 4 * t)) + noise(rng);
      v[i] = static_cast<std::int16_t>(std::clamp(s, -32768.0, 32767.0));
    }
    return v;
  }();
  return pcm;
}

void BM_G722_confab(benchmark::State& state) {
  const auto& pcm = signal();
  confab::media::g722::EncodeState enc{};
  confab::media::g722::DecodeState dec{};
  std::uint8_t bytes[kFrame / 2];
  std::int16_t out[kFrame];
  std::size_t f = 0;
  for (auto _ : state) {
    std::span<const std::int16_t> in(pcm.data() + f * kFrame, kFrame);
    auto n = confab::media::g722::encode(enc, in, bytes);
    benchmark::DoNotOptimize(confab::media::g722::decode(dec, std::span(bytes, n), out));
    benchmark::ClobberMemory();
    f = (f + 1) % kFrames;
  }
  state.SetLabel("encode+decode per 20 ms frame");
}
BENCHMARK(BM_G722_confab);

#ifdef CONFAB_BENCH_SPANDSP
void BM_G722_spandsp(benchmark::State& state) {
  const auto& pcm = signal();
  g722_encode_state_t* enc = g722_encode_init(nullptr, 64000, 0);
  g722_decode_state_t* dec = g722_decode_init(nullptr, 64000, 0);
  std::uint8_t bytes[kFrame / 2];
  std::int16_t out[kFrame];
  std::size_t f = 0;
  for (auto _ : state) {
    int n = g722_encode(enc, bytes, pcm.data() + f * kFrame, static_cast<int>(kFrame));
    benchmark::DoNotOptimize(g722_decode(dec, out, bytes, n));
    benchmark::ClobberMemory();
    f = (f + 1) % kFrames;
  }
  g722_encode_free(enc);
  g722_decode_free(dec);
  state.SetLabel("encode+decode per 20 ms frame");
}
BENCHMARK(BM_G722_spandsp);
#endif

// Speech-like audio (no digits): the detector's usual load.
void BM_DtmfDetect(benchmark::State& state) {
  const int rate = static_cast<int>(state.range(0));
  std::vector<std::int16_t> pcm(static_cast<std::size_t>(rate));  // 1 s, from the 16 kHz signal
  const auto& src = signal();
  for (std::size_t i = 0; i < pcm.size(); ++i)
    pcm[i] = src[i * 16000 / static_cast<std::size_t>(rate)];
  confab::media::DtmfDetector det(rate);
  const std::size_t frame = static_cast<std::size_t>(rate / 50);
  std::size_t f = 0;
  char digits[confab::media::DtmfDetector::kMaxPending];
  for (auto _ : state) {
    det.feed(std::span(pcm).subspan(f * frame, frame));
    benchmark::DoNotOptimize(det.take(digits));
    f = (f + 1) % 50;
  }
  state.SetLabel("per 20 ms frame");
}
BENCHMARK(BM_DtmfDetect)->Arg(8000)->Arg(16000)->Arg(48000);

}  // namespace

BENCHMARK_MAIN();
