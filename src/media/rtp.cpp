#include "media/rtp.hpp"

namespace confab::media {

namespace {
std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}
}  // namespace

RtpError parse_rtp(std::span<const std::uint8_t> d, RtpPacket& out, std::uint8_t level_ext_id) {
  if (d.size() < kRtpHeaderSize) return RtpError::too_short;
  if ((d[0] >> 6) != 2) return RtpError::bad_version;
  bool padding = d[0] & 0x20;
  bool extension = d[0] & 0x10;
  std::size_t csrc = d[0] & 0x0f;
  out.marker = d[1] & 0x80;
  out.payload_type = d[1] & 0x7f;
  out.seq = be16(&d[2]);
  out.timestamp = be32(&d[4]);
  out.ssrc = be32(&d[8]);
  out.has_level = false;
  out.level = 127;
  out.voice = false;
  std::size_t pos = kRtpHeaderSize + 4 * csrc;
  if (pos > d.size()) return RtpError::bad_csrc;
  if (extension) {
    if (pos + 4 > d.size()) return RtpError::bad_extension;
    std::uint16_t profile = be16(&d[pos]);
    std::size_t words = be16(&d[pos + 2]);
    std::size_t start = pos + 4, end = start + 4 * words;
    if (end > d.size()) return RtpError::bad_extension;
    if (profile == 0xBEDE && level_ext_id != 0) {  // RFC 8285 one-byte elements
      for (std::size_t i = start; i < end;) {
        std::uint8_t b = d[i];
        if (b == 0) {  // padding byte
          ++i;
          continue;
        }
        std::uint8_t id = b >> 4;
        std::size_t len = (b & 0x0f) + 1u;
        if (id == 15 || i + 1 + len > end) break;
        if (id == level_ext_id) {
          out.has_level = true;
          out.voice = d[i + 1] & 0x80;
          out.level = d[i + 1] & 0x7f;
        }
        i += 1 + len;
      }
    }
    pos = end;
  }
  std::size_t end = d.size();
  if (padding) {
    std::size_t pad = d.back();
    if (pad == 0 || pad > end - pos) return RtpError::bad_padding;
    end -= pad;
  }
  out.payload = d.subspan(pos, end - pos);
  return RtpError::ok;
}

std::size_t write_rtp_header(std::span<std::uint8_t> out, std::uint8_t pt, bool marker,
                             std::uint16_t seq, std::uint32_t ts, std::uint32_t ssrc) {
  if (out.size() < kRtpHeaderSize) return 0;
  out[0] = 0x80;
  out[1] = static_cast<std::uint8_t>((marker ? 0x80 : 0) | (pt & 0x7f));
  out[2] = static_cast<std::uint8_t>(seq >> 8);
  out[3] = static_cast<std::uint8_t>(seq);
  for (int i = 0; i < 4; ++i) {
    out[4 + i] = static_cast<std::uint8_t>(ts >> (24 - 8 * i));
    out[8 + i] = static_cast<std::uint8_t>(ssrc >> (24 - 8 * i));
  }
  return kRtpHeaderSize;
}

}  // namespace confab::media
