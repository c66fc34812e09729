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
