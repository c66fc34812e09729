// Audio from the network through the in-band DTMF detector: any samples, at any of its rates, fed
// in pieces of any size. Checks: only keypad characters come out, never more than the queue holds.
#include "media/dtmf_detect.hpp"

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2 || size > 1 << 17) return 0;
  static constexpr int kRates[3] = {8000, 16000, 48000};
  confab::media::DtmfDetector det(kRates[data[0] % 3]);
  const std::size_t piece = 1 + data[1] % 200;
  std::vector<std::int16_t> pcm((size - 2) / 2);
  if (!pcm.empty()) std::memcpy(pcm.data(), data + 2, pcm.size() * 2);
  std::size_t got = 0;
  for (std::size_t i = 0; i < pcm.size(); i += piece) {
    det.feed(std::span(pcm).subspan(i, std::min(piece, pcm.size() - i)));
    char out[confab::media::DtmfDetector::kMaxPending + 1];
    std::size_t n = det.take(out);
    if (n > confab::media::DtmfDetector::kMaxPending) __builtin_trap();
    for (std::size_t k = 0; k < n; ++k)
      if (std::string_view("0123456789*#ABCD").find(out[k]) == std::string_view::npos)
        __builtin_trap();
    got += n;
  }
  // Every 40 ms at most one digit can start.
  if (got > pcm.size() / 100 + 1) __builtin_trap();
  return 0;
}
