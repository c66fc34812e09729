#include "sip/parser.hpp"

#include "sip/text.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <string>

namespace confab::sip {

namespace {

std::optional<std::uint64_t> decimal(std::string_view s, std::uint64_t max) {
  s = trim(s);
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

// The next line of `data` from `pos`: [pos, end) without its CR LF; `next` is past the LF.
struct Line {
  std::string_view text;
  std::size_t next;
  bool ended;  // an LF was found
};
Line line_at(std::string_view data, std::size_t pos) {
  auto nl = data.find('\n', pos);
  if (nl == std::string_view::npos) return {data.substr(pos), data.size(), false};
  auto text = data.substr(pos, nl - pos);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  return {text, nl + 1, true};
}

struct Single {
  const char* long_name;
  const char* compact;  // nullptr: none
  const char* shown;
};
// Headers that may appear once (RFC 3261 section 7.3.1, and those we read a number from).
constexpr Single kSingle[] = {
    {"to", "t", "To"},
    {"from", "f", "From"},
    {"call-id", "i", "Call-ID"},
    {"cseq", nullptr, "CSeq"},
    {"content-length", "l", "Content-Length"},
    {"content-type", "c", "Content-Type"},
    {"max-forwards", nullptr, "Max-Forwards"},
};

const Single* single(std::string_view name) {
  for (auto& s : kSingle)
    if (iequal(name, s.long_name) || (s.compact && iequal(name, s.compact))) return &s;
  return nullptr;
}

// What osip refused, found by feeding it the start line alone and then one header at a time.
// Runs only for a message that failed to parse, bounded by the same caps as the parse.
struct Diagnosis {
  Msg msg;
  std::string why;
  bool request = false;
  int status = 0;  // when the diagnosis knows better than the caller (416)
};

Diagnosis diagnose(std::string_view head, std::size_t max_fields) {
  Diagnosis d;
  auto first = line_at(head, 0);
  d.request = !first.text.starts_with("SIP/");
  {
    std::string start(first.text);
    start += "\r\n\r\n";
    auto m = new_msg();
    if (osip_message_parse(m.get(), start.data(), start.size()) == 0) {
      d.msg = std::move(m);
    } else {
      d.msg = new_msg();
      d.why = d.request ? "malformed request line" : "malformed status line";
      // A Request-URI osip cannot read is most often one of a scheme it does not know.
      auto sp1 = first.text.find(' ');
      auto uri = sp1 == std::string_view::npos ? std::string_view() : first.text.substr(sp1 + 1);
      auto colon = uri.find(':');
      auto scheme = uri.substr(0, std::min(colon, uri.find(' ')));
      if (d.request && colon != std::string_view::npos && !iequal(scheme, "sip") &&
          !iequal(scheme, "sips")) {
        d.status = 416;
        d.why = "Request-URI scheme " + std::string(scheme.substr(0, 40)) + " is not supported";
      }
    }
  }
  bool seen[std::size(kSingle)] = {};
  std::size_t fields = 0;  // counted as scan_head counts them: osip splits at commas
  for (std::size_t pos = first.next; pos < head.size() && fields < max_fields;) {
    auto l = line_at(head, pos);
    if (l.text.empty()) break;
    // Unfold: continuation lines (starting with SP or HT) belong to this header.
    std::string field(l.text);
    pos = l.next;
    while (pos < head.size() && (head[pos] == ' ' || head[pos] == '\t')) {
      auto c = line_at(head, pos);
      field += ' ';
      field += trim(c.text);
      pos = c.next;
    }
    fields += 1 + static_cast<std::size_t>(std::count(field.begin(), field.end(), ','));
    if (fields > max_fields) break;
    auto colon = field.find(':');
    if (colon == std::string::npos) {
      if (d.why.empty())
        d.why = "header line without a colon: " + std::string(trim(field).substr(0, 40));
      continue;
    }
    std::string name(trim(std::string_view(field).substr(0, colon)));
    std::string value(trim(std::string_view(field).substr(colon + 1)));
    if (const auto* s = single(name)) {
      auto i = static_cast<std::size_t>(s - kSingle);
      if (seen[i]) {
        if (d.why.empty()) d.why = std::string("more than one ") + s->shown + " header";
        continue;
      }
      seen[i] = true;
    }
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (osip_message_set_multiple_header(d.msg.get(), name.data(), value.data()) != 0 &&
        d.why.empty()) {
      auto* s = single(name);
      d.why = "malformed " + (s ? std::string(s->shown) : std::string(field.substr(0, colon))) +
              " header";
    }
  }
  if (d.why.empty()) d.why = "malformed message";
  return d;
}

bool answerable(const osip_message_t* m, bool request) {
  if (!request || !m) return false;
  if (osip_list_size(&m->vias) == 0 || !m->from || !m->to || !m->call_id || !m->cseq ||
      !m->cseq->method)
    return false;
  return cseq_method(m) != "ACK" && !(m->sip_method && method(m) == "ACK");
}

// The request line's shape (RFC 3261 section 7.1): Method SP Request-URI SP SIP-Version, one
// space each, nothing after the version, no brackets around the URI. osip is liberal here; a
// liberal reading of these is how two elements come to disagree about a request.
std::optional<std::string> bad_request_line(std::string_view line) {
  if (line.starts_with("SIP/")) return std::nullopt;  // a status line
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp2 == std::string_view::npos || sp2 == sp1 + 1 ||
      line.find_first_of(" \t", sp2 + 1) != std::string_view::npos || sp2 + 1 >= line.size())
    return "malformed request line (Method SP Request-URI SP SIP-Version, one space each)";
  auto uri = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (uri.find_first_of("<>") != std::string_view::npos)
    return "malformed request line (the Request-URI is not in angle brackets)";
  return std::nullopt;
}

// RFC 3261's rules for every request and response, past what osip's grammar checks.
std::pair<int, std::string> check(const osip_message_t* m) {
  bool request = MSG_IS_REQUEST(m);
  if (request && sv(m->sip_version) != "SIP/2.0")
    return {505, "SIP version " + std::string(sv(m->sip_version)) + " is not supported"};
  if (!request && (m->status_code < 100 || m->status_code > 699)) return {400, "bad status code"};
  if (osip_list_size(&m->vias) == 0) return {400, "missing Via header"};
  if (!m->from) return {400, "missing From header"};
  if (!m->to) return {400, "missing To header"};
  if (!m->call_id || !m->call_id->number) return {400, "missing Call-ID header"};
  if (!m->cseq || !m->cseq->method) return {400, "missing CSeq header"};
  if (!cseq_number(m)) return {400, "CSeq number is not a decimal below 2^31"};
  if (request && cseq_method(m) != method(m))
    return {400, "CSeq method " + std::string(cseq_method(m)) +
                     " does not match the request method " + std::string(method(m))};
  // Single-valued headers osip keeps as text (the ones it parses refuse a second copy).
  for (auto names : {std::initializer_list<const char*>{"max-forwards"},
                     std::initializer_list<const char*>{"session-expires", "x"},
                     std::initializer_list<const char*>{"min-se"},
                     std::initializer_list<const char*>{"expires"}})
    if (header(m, names, 1))
      return {400, "more than one " + std::string(*names.begin()) + " header"};
  if (auto mf = header(m, {"max-forwards"}); mf && !decimal(*mf, 255))
    return {400, "Max-Forwards is not a number from 0 to 255"};
  if (auto e = header(m, {"expires"}); e && !decimal(*e, 0xffffffffull))
    return {400, "Expires is not a number below 2^32"};
  auto* via = static_cast<osip_via_t*>(osip_list_get(&m->vias, 0));
  if (!via->host || !via->protocol) return {400, "malformed Via header"};
  if (request && m->req_uri && osip_list_size(&m->req_uri->url_headers) > 0)
    return {400, "the Request-URI carries headers"};  // RFC 3261 section 19.1.5
  return {0, {}};
}

}  // namespace

Head scan_head(std::string_view data, std::size_t limit) {
  Head h;
  data = data.substr(0, limit);
  std::size_t pos = 0;
  while (pos < data.size() && (data[pos] == '\r' || data[pos] == '\n')) ++pos;
  h.start = pos;
  auto first = line_at(data, pos);
  if (!first.ended) return h;
  pos = first.next;
  bool in_length = false;
  while (pos < data.size()) {
    auto l = line_at(data, pos);
    if (!l.ended) return h;
    pos = l.next;
    if (l.text.empty()) {
      h.complete = true;
      h.body = pos;
      return h;
    }
    h.fields += static_cast<std::size_t>(std::count(l.text.begin(), l.text.end(), ','));
    if (l.text.front() == ' ' || l.text.front() == '\t') {
      if (in_length) h.length_bad = true;  // a folded Content-Length: refuse rather than guess
      continue;
    }
    ++h.fields;
    in_length = false;
    auto colon = l.text.find(':');
    if (colon == std::string_view::npos) continue;
    auto name = trim(l.text.substr(0, colon));
    if (!iequal(name, "content-length") && !iequal(name, "l")) continue;
    in_length = true;
    ++h.content_lengths;
    auto v = decimal(l.text.substr(colon + 1), (1u << 31) - 1);
    if (!v || (h.length && *h.length != *v)) {
      h.length_bad = true;
      continue;
    }
    h.length = static_cast<std::size_t>(*v);
  }
  return h;
}

Parsed parse(std::string_view data, const Limits& limits) {
  Parsed p;
  auto refuse = [&](int status, std::string why, std::string_view head) {
    auto d = diagnose(head, limits.max_headers);
    p.status = d.status && why.empty() ? d.status : status;
    p.why = why.empty() ? std::move(d.why) : std::move(why);
    p.request = d.request;
    p.respond = answerable(d.msg.get(), d.request);
    p.msg = std::move(d.msg);
    return std::move(p);
  };
  auto h = scan_head(data, limits.max_message);
  if (!h.complete) {
    p.size = data.size();
    auto head = data.substr(h.start, std::min(data.size(), limits.max_message) - h.start);
    if (data.size() > limits.max_message)
      return refuse(513, "message larger than " + std::to_string(limits.max_message) + " bytes",
                    head);
    return refuse(400, "the header does not end with an empty line", head);
  }
  auto head = data.substr(h.start, h.body - h.start);
  if (h.fields > limits.max_headers)
    return refuse(400, "more than " + std::to_string(limits.max_headers) + " header fields", head);
  if (h.length_bad) {
    p.size = data.size();
    return refuse(400,
                  h.content_lengths > 1 ? "Content-Length headers that differ or are malformed"
                                        : "Content-Length is not a decimal below 2^31",
                  head);
  }
  std::size_t body_len = h.length ? *h.length : data.size() - h.body;
  p.size = h.body + body_len;
  if (body_len > limits.max_body)
    return refuse(413, "body larger than " + std::to_string(limits.max_body) + " bytes", head);
  if (h.body + body_len > data.size())
    return refuse(400,
                  "Content-Length " + std::to_string(body_len) + " is larger than the body (" +
                      std::to_string(data.size() - h.body) + " bytes)",
                  head);
  if (p.size - h.start > limits.max_message)
    return refuse(513, "message larger than " + std::to_string(limits.max_message) + " bytes",
                  head);
  if (auto why = bad_request_line(line_at(data, h.start).text)) {
    auto size = p.size;
    auto r = refuse(400, *why, head);
    r.size = size;
    return r;
  }
  auto m = new_msg();
  auto text = data.substr(h.start, p.size - h.start);
  // osip reads its copy of the header as a C string: a NUL ends it. RFC 3261 allows one only as
  // a quoted-pair ("\" NUL, RFC 4475 section 3.1.1.2); that one is read as U+0001 so that the
  // rest parses, any other is refused.
  std::string unnulled;
  if (auto nul = head.find('\0'); nul != std::string_view::npos) {
    unnulled.assign(text);
    for (auto i = nul; i < head.size(); i = head.find('\0', i + 1)) {
      if (i == std::string_view::npos) break;
      if (i == 0 || head[i - 1] != '\\') {
        auto size = p.size;
        auto r = refuse(400, "NUL byte in the header outside a quoted-pair", head.substr(0, i));
        r.size = size;
        return r;
      }
      unnulled[i] = '\x01';
    }
    text = unnulled;
  }
  if (osip_message_parse(m.get(), text.data(), text.size()) != 0) {
    auto size = p.size;
    auto r = refuse(400, {}, head);
    r.size = size;
    return r;
  }
  auto [status, why] = check(m.get());
  p.status = status;
  p.why = std::move(why);
  p.request = MSG_IS_REQUEST(m.get());
  p.respond = answerable(m.get(), p.request);
  p.msg = std::move(m);
  return p;
}

}  // namespace confab::sip
