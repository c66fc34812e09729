#pragma once
// SIP messages as libosip2 holds them: ownership, header look-ups, responses built from a
// request, serialisation. Internal to src/sip.
#include <sys/time.h>  // osip's headers use struct timeval and time_t without including them
#include <ctime>

#include <osipparser2/osip_message.h>
#include <osipparser2/osip_parser.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace confab::sip {

// The parser's global tables (parser_init) and its stderr traces off. Idempotent; call it on the
// control thread before the first parse (the endpoint and the fuzz target do).
void init_osip();

struct MsgDeleter {
  void operator()(osip_message_t* m) const { osip_message_free(m); }
};
using Msg = std::unique_ptr<osip_message_t, MsgDeleter>;
Msg new_msg();

inline std::string_view sv(const char* s) {
  return s ? std::string_view(s) : std::string_view();
}

// The value of the pos-th header of any of `names` (lower case; the long and the compact form)
// among the headers osip does not parse itself (Supported, Require, Session-Expires, ...).
std::optional<std::string_view> header(const osip_message_t* m,
                                       std::initializer_list<const char*> names, int pos = 0);
// Every comma-separated token of every such header, compared case-insensitively.
bool header_has_token(const osip_message_t* m, std::initializer_list<const char*> names,
                      std::string_view token);
// Tokens of those headers that are not in `known` (comma-separated, lower case), joined ", ".
std::string unknown_tokens(const osip_message_t* m, std::initializer_list<const char*> names,
                           std::string_view known);

std::string_view method(const osip_message_t* m);  // "" for a response
std::string_view branch(const osip_message_t* m);  // the top Via's branch, "" if none
std::string_view to_tag(const osip_message_t* m);
std::string_view from_tag(const osip_message_t* m);
std::string call_id(const osip_message_t* m);  // "number@host" as sent ("" if none)
// The CSeq number when it is a decimal below 2^31, else none.
std::optional<std::uint32_t> cseq_number(const osip_message_t* m);
std::string_view cseq_method(const osip_message_t* m);
// The message body (the first part osip kept) and its Content-Type "type/subtype", lower case.
std::string_view body(const osip_message_t* m);
std::string content_type(const osip_message_t* m);

// A response to `req` (RFC 3261 section 8.2.6): its Vias, From, To (given `tag` when the To has
// none and the code is not 100), Call-ID and CSeq, with the standard reason phrase unless
// `reason` is given.
Msg make_response(const osip_message_t* req, int code, std::string_view tag,
                  std::string_view reason = {});
void add_header(osip_message_t* m, const char* name, std::string_view value);
void set_body(osip_message_t* m, std::string_view content_type, std::string_view body);
// "399 host \"text\"": what a Warning header carries (RFC 3261 section 20.43); quotes and
// backslashes in `text` are escaped, control characters replaced.
std::string warning_value(std::string_view host, std::string_view text);

std::string serialize(const osip_message_t* m);  // "" when osip cannot (a message we built: never)

// Random tokens: tags and Call-ID parts (hex), branches ("z9hG4bK" + hex). From OpenSSL's
// generator, so that no one guesses the next dialog's tag from the last. Control thread only
// (a pool refilled in blocks, without a lock).
std::string random_token(std::size_t bytes = 8);
std::string new_branch();

}  // namespace confab::sip
