#pragma once
// One SIP message from the wire: the caps checked before libosip2 sees it (its header lists
// grow by walking them, so a message of many small header fields would cost the control thread
// quadratic time), its parse, and the generic checks RFC 3261 asks of every element. What is
// wrong is named for the Warning of the 4xx; what cannot be answered is dropped.
#include "sip/message.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace confab::sip {

struct Limits {
  std::size_t max_message = 65535;  // bytes of one message, header and body
  std::size_t max_headers = 256;    // header fields, each comma-separated value counted as one
  std::size_t max_body = 16384;     // bytes of the body (413 past it)
};

// The header section of the message at the start of `data`, found without parsing it.
struct Head {
  bool complete = false;              // the empty line ending the header is in `data`
  std::size_t start = 0;              // first byte of the start line (leading CRLFs skipped)
  std::size_t body = 0;               // first byte after the empty line (when complete)
  std::size_t fields = 0;             // header lines plus commas: what max_headers counts
  int content_lengths = 0;            // Content-Length / l headers seen
  std::optional<std::size_t> length;  // their value, when one and a decimal below 2^31
  bool length_bad = false;            // not a decimal, negative, too large, or two that differ
};
// Scans at most `limit` bytes of `data`.
Head scan_head(std::string_view data, std::size_t limit);

struct Parsed {
  Msg msg;               // the message; on a problem, whatever of it could be parsed
  int status = 0;        // 0: good; else the response code a request gets (400, 413, 505, 513)
  std::string why;       // what is wrong (the Warning text), when status != 0
  bool respond = false;  // the request can be answered (Via, From, To, Call-ID, CSeq known)
  bool request = false;  // from the start line
  std::size_t size = 0;  // bytes of `data` the message took (header + Content-Length)
};

// Parses the one message at the start of `data` (a datagram, or a frame from a stream whose
// Content-Length was honoured). Bytes past the Content-Length are not part of it (RFC 3261
// section 18.3); without Content-Length on a datagram the body runs to its end.
Parsed parse(std::string_view data, const Limits& limits);

}  // namespace confab::sip
