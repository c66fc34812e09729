#pragma once
// WebSocket framing (RFC 6455) for the server side, after the HTTP upgrade: parsing the client's
// frames (always masked) and writing the server's (never masked). Pure functions over buffers,
// no I/O, so they can be tested and fuzzed on their own.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace confab::net::ws {

enum class Opcode : std::uint8_t {
  continuation = 0,
  text = 1,
  binary = 2,
  close = 8,
  ping = 9,
  pong = 10
};

struct Frame {
  bool fin = false;
  Opcode opcode{};
  std::span<const std::uint8_t> payload;  // unmasked in place
  std::size_t size = 0;                   // bytes the frame took in the buffer
};

enum class Parse { frame, need_more, protocol_error, too_big };

// Parses one frame from the front of `buf`, unmasking its payload in place. Frames from a client
// must be masked; control frames must be final and at most 125 bytes; reserved bits must be zero.
Parse parse_frame(std::span<std::uint8_t> buf, std::size_t max_payload, Frame& out);

// Whether `s` is well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF. A text message that is not fails the connection with 1007 (RFC 6455 8.1).
bool valid_utf8(std::string_view s);

// The code to fail the connection with for a client's close frame, or 0 when it is a proper one
// (RFC 6455 5.5.1, 7.4): a payload of one byte or a code no endpoint may send is 1002, a reason
// that is not UTF-8 is 1007.
std::uint16_t close_frame_error(std::span<const std::uint8_t> payload);

// The header of an unmasked server frame for a payload of `len` bytes; returns its length (2, 4
// or 10) written into `out`.
std::size_t write_header(std::uint8_t (&out)[10], Opcode op, std::size_t len, bool fin = true);

// Reassembles a fragmented message; returns the reason when the sequence is not allowed.
class Assembler {
 public:
  explicit Assembler(std::size_t max_message) : max_(max_message) {}
  // For a data frame: true when a whole message is in `message()`. Throws nothing; `error()` is
  // set on a protocol violation or an oversized message.
  bool add(const Frame& f);
  const std::string& message() const { return msg_; }
  Opcode message_opcode() const { return op_; }
  const char* error() const { return error_; }
  void clear() { msg_.clear(); }

 private:
  std::size_t max_;
  std::string msg_;
  Opcode op_{};
  bool in_progress_ = false;
  const char* error_ = nullptr;
};

}  // namespace confab::net::ws
