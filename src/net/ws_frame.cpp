#include "net/ws_frame.hpp"

namespace confab::net::ws {

Parse parse_frame(std::span<std::uint8_t> b, std::size_t max_payload, Frame& out) {
  if (b.size() < 2) return Parse::need_more;
  bool fin = b[0] & 0x80;
  if (b[0] & 0x70) return Parse::protocol_error;  // no extensions negotiated
  auto op = static_cast<std::uint8_t>(b[0] & 0x0f);
  bool control = op >= 8;
  if (!(op <= 2 || op == 8 || op == 9 || op == 10)) return Parse::protocol_error;
  bool masked = b[1] & 0x80;
  if (!masked) return Parse::protocol_error;  // clients must mask (RFC 6455 5.1)
  std::uint64_t len = b[1] & 0x7f;
  std::size_t pos = 2;
  if (len == 126) {
    if (b.size() < 4) return Parse::need_more;
    len = std::uint64_t{b[2]} << 8 | b[3];
    pos = 4;
  } else if (len == 127) {
    if (b.size() < 10) return Parse::need_more;
    len = 0;
    for (int i = 0; i < 8; ++i) len = len << 8 | b[2 + static_cast<std::size_t>(i)];
    if (len >> 63) return Parse::protocol_error;
    pos = 10;
  }
  if (control && (!fin || len > 125)) return Parse::protocol_error;
  if (len > max_payload) return Parse::too_big;
  if (b.size() < pos + 4) return Parse::need_more;
  std::uint8_t key[4] = {b[pos], b[pos + 1], b[pos + 2], b[pos + 3]};
  pos += 4;
  if (b.size() - pos < len) return Parse::need_more;
  auto n = static_cast<std::size_t>(len);
  for (std::size_t i = 0; i < n; ++i) b[pos + i] ^= key[i & 3];
  out.fin = fin;
  out.opcode = static_cast<Opcode>(op);
  out.payload = b.subspan(pos, n);
  out.size = pos + n;
  return Parse::frame;
}

bool valid_utf8(std::string_view s) {
  auto p = reinterpret_cast<const unsigned char*>(s.data());
  auto end = p + s.size();
  while (p < end) {
    unsigned c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t n;
    unsigned lo = 0x80, hi = 0xBF;  // the range of the second byte (RFC 3629 section 4)
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) <= n || p[1] < lo || p[1] > hi) return false;
    for (std::size_t i = 2; i <= n; ++i)
      if ((p[i] & 0xC0) != 0x80) return false;
    p += n + 1;
  }
  return true;
}

std::uint16_t close_frame_error(std::span<const std::uint8_t> payload) {
  if (payload.empty()) return 0;
  if (payload.size() == 1) return 1002;
  unsigned code = static_cast<unsigned>(payload[0]) << 8 | payload[1];
  bool sendable = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                  (code >= 3000 && code <= 4999);
  if (!sendable) return 1002;
  std::string_view reason(reinterpret_cast<const char*>(payload.data() + 2), payload.size() - 2);
  return valid_utf8(reason) ? 0 : 1007;
}

std::size_t write_header(std::uint8_t (&h)[10], Opcode op, std::size_t len, bool fin) {
  h[0] = static_cast<std::uint8_t>((fin ? 0x80 : 0) | static_cast<std::uint8_t>(op));
  if (len < 126) {
    h[1] = static_cast<std::uint8_t>(len);
    return 2;
  }
  if (len <= 0xffff) {
    h[1] = 126;
    h[2] = static_cast<std::uint8_t>(len >> 8);
    h[3] = static_cast<std::uint8_t>(len);
    return 4;
  }
  h[1] = 127;
  for (int i = 0; i < 8; ++i)
    h[2 + i] = static_cast<std::uint8_t>(std::uint64_t{len} >> (56 - 8 * i));
  return 10;
}

bool Assembler::add(const Frame& f) {
  error_ = nullptr;
  if (f.opcode == Opcode::continuation) {
    if (!in_progress_) return error_ = "continuation without a message", false;
  } else {
    if (in_progress_) return error_ = "new message before the last one ended", false;
    msg_.clear();
    op_ = f.opcode;
  }
  if (msg_.size() + f.payload.size() > max_) return error_ = "message too big", false;
  msg_.append(reinterpret_cast<const char*>(f.payload.data()), f.payload.size());
  in_progress_ = !f.fin;
  return f.fin;
}

}  // namespace confab::net::ws
