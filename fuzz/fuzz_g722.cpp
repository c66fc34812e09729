// G.722 payloads from the network (every octet is a code word, so any bytes must decode), and the
// same bytes as PCM through the encoder. Checks: sizes as documented, and decoding in pieces
// gives the same samples as decoding at once (the state carries over exactly).
#include "media/g722.hpp"

#include <cstdint>
#include <cstring>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace confab::media;
  if (size > 1 << 16) return 0;
  std::span<const std::uint8_t> in(data, size);
  std::vector<std::int16_t> whole(2 * size), pieces(2 * size);
  g722::DecodeState a{}, b{};
  if (g722::decode(a, in, whole) != 2 * size) __builtin_trap();
  // Pieces of 1..16 octets, sized by the data itself.
  std::size_t at = 0;
  while (at < size) {
    std::size_t n = std::min<std::size_t>(size - at, 1 + data[at] % 16);
    if (g722::decode(b, in.subspan(at, n), std::span(pieces).subspan(2 * at)) != 2 * n)
      __builtin_trap();
    at += n;
  }
  if (whole != pieces) __builtin_trap();

  std::vector<std::int16_t> pcm(size / 2);
  if (!pcm.empty()) std::memcpy(pcm.data(), data, pcm.size() * 2);
  std::vector<std::uint8_t> coded(pcm.size() / 2);
  g722::EncodeState e{};
  if (g722::encode(e, pcm, coded) != pcm.size() / 2) __builtin_trap();
  g722::DecodeState c{};
  std::vector<std::int16_t> back(2 * coded.size());
  if (g722::decode(c, coded, back) != back.size()) __builtin_trap();
  return 0;
}
