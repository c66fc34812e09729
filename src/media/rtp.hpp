#pragma once
// RTP (RFC 3550) fixed header parsing and writing, with the RFC 6464 client-to-mixer audio level
// header extension (RFC 8285 one-byte form). No allocation: views into the caller's buffer.
#include <cstddef>
#include <cstdint>
#include <span>

namespace confab::media {

struct RtpPacket {
  std::uint8_t payload_type = 0;
  bool marker = false;
  std::uint16_t seq = 0;
  std::uint32_t timestamp = 0;
  std::uint32_t ssrc = 0;
  std::span<const std::uint8_t> payload;
  // RFC 6464: -dBov level 0..127 (127 = silence) and the voice-activity flag, when present.
  bool has_level = false;
  std::uint8_t level = 127;
  bool voice = false;
};

enum class RtpError { ok, too_short, bad_version, bad_csrc, bad_extension, bad_padding };

// Parses one datagram. `level_ext_id` is the negotiated id of the audio level extension (1..14),
// 0 when none was negotiated.
RtpError parse_rtp(std::span<const std::uint8_t> datagram, RtpPacket& out,
                   std::uint8_t level_ext_id = 0);

constexpr std::size_t kRtpHeaderSize = 12;
// Writes a 12-byte header (version 2, no CSRC, no extension); returns the bytes written, or 0 when
// `out` is too small.
std::size_t write_rtp_header(std::span<std::uint8_t> out, std::uint8_t payload_type, bool marker,
                             std::uint16_t seq, std::uint32_t timestamp, std::uint32_t ssrc);

// RTCP is recognised by its payload type range (RFC 5761 demultiplexing).
inline bool looks_like_rtcp(std::span<const std::uint8_t> d) {
  return d.size() >= 8 && (d[0] >> 6) == 2 && d[1] >= 192 && d[1] <= 223;
}

}  // namespace confab::media
