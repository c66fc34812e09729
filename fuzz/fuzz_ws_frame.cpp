// WebSocket frames from clients, fed in arbitrary chunks through the parser and the assembler,
// as the server's read loop does.
#include "net/ws_frame.hpp"

#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace confab::net::ws;
  std::vector<std::uint8_t> buf(data, data + size);
  Assembler a(4096);
  std::size_t off = 0;
  while (off < buf.size()) {
    Frame f;
    auto r = parse_frame(std::span(buf.data() + off, buf.size() - off), 4096, f);
    if (r != Parse::frame) break;
    if (f.size == 0 || off + f.size > buf.size())
      __builtin_trap();  // must always advance, in bounds
    off += f.size;
    if (f.opcode == Opcode::close) close_frame_error(f.payload);
    if (f.opcode == Opcode::text || f.opcode == Opcode::binary || f.opcode == Opcode::continuation)
      if (a.add(f)) {
        valid_utf8(a.message());
        a.clear();
      }
  }
  return 0;
}
