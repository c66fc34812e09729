// RTP datagrams from the network, with and without the audio-level extension negotiated.
#include "media/rtp.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  confab::media::RtpPacket p;
  std::span<const std::uint8_t> d(data, size);
  for (std::uint8_t id : {0, 1, 3}) {
    if (confab::media::parse_rtp(d, p, id) == confab::media::RtpError::ok) {
      // Payload must lie inside the datagram.
      if (p.payload.data() < data || p.payload.data() + p.payload.size() > data + size)
        __builtin_trap();
    }
  }
  (void)confab::media::looks_like_rtcp(d);
  return 0;
}
