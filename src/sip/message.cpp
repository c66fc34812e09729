#include "sip/message.hpp"

#include "sip/text.hpp"

#include "core/crypto.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdarg>
#include <cstdlib>
#include <mutex>

namespace confab::sip {

namespace {

// Calls f(token) for every comma-separated token of every header named in `names`.
template <typename F>
void for_each_token(const osip_message_t* m, std::initializer_list<const char*> names, F&& f) {
  auto* msg = const_cast<osip_message_t*>(m);
  for (auto* name : names) {
    osip_header_t* h = nullptr;
    for (int pos = osip_message_header_get_byname(msg, name, 0, &h); pos >= 0 && h;
         pos = osip_message_header_get_byname(msg, name, pos + 1, &h)) {
      std::string_view v = sv(h->hvalue);
      while (!v.empty()) {
        auto comma = v.find(',');
        auto tok = trim(v.substr(0, comma));
        if (!tok.empty() && !f(tok)) return;
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
      }
    }
  }
}

char* dup(std::string_view s) {
  auto* p = static_cast<char*>(osip_malloc(s.size() + 1));
  std::copy(s.begin(), s.end(), p);
  p[s.size()] = '\0';
  return p;
}

}  // namespace

void init_osip() {
  static std::once_flag once;
  std::call_once(once, [] {
    parser_init();
    // osip writes every parse error to stdout unless a trace function is installed (and then
    // only for the levels enabled); the endpoint counts and logs what it refuses itself.
    osip_trace_initialize_func(OSIP_FATAL,
                               [](const char*, int, osip_trace_level_t, const char*, va_list) {});
    for (int l = 0; l < END_TRACE_LEVEL; ++l)
      osip_trace_disable_level(static_cast<osip_trace_level_t>(l));
  });
}

Msg new_msg() {
  osip_message_t* m = nullptr;
  osip_message_init(&m);
  return Msg(m);
}

std::optional<std::string_view> header(const osip_message_t* m,
                                       std::initializer_list<const char*> names, int pos) {
  auto* msg = const_cast<osip_message_t*>(m);
  int seen = 0;
  for (auto* name : names) {
    osip_header_t* h = nullptr;
    for (int i = osip_message_header_get_byname(msg, name, 0, &h); i >= 0 && h;
         i = osip_message_header_get_byname(msg, name, i + 1, &h))
      if (seen++ == pos) return trim(sv(h->hvalue));
  }
  return std::nullopt;
}

bool header_has_token(const osip_message_t* m, std::initializer_list<const char*> names,
                      std::string_view token) {
  bool found = false;
  for_each_token(m, names, [&](std::string_view t) {
    auto semi = t.find(';');  // option tags carry no parameters, but be lenient
    if (iequal(trim(t.substr(0, semi)), token)) found = true;
    return !found;
  });
  return found;
}

std::string unknown_tokens(const osip_message_t* m, std::initializer_list<const char*> names,
                           std::string_view known) {
  std::string out;
  for_each_token(m, names, [&](std::string_view t) {
    bool ok = false;
    for (std::string_view k = known; !k.empty();) {
      auto comma = k.find(',');
      if (iequal(trim(k.substr(0, comma)), t)) ok = true;
      if (comma == std::string_view::npos) break;
      k.remove_prefix(comma + 1);
    }
    if (!ok) {
      if (!out.empty()) out += ", ";
      out += t;
    }
    return true;
  });
  return out;
}

std::string_view method(const osip_message_t* m) {
  return sv(m->sip_method);
}

std::string_view branch(const osip_message_t* m) {
  auto* via = static_cast<osip_via_t*>(osip_list_get(&m->vias, 0));
  if (!via) return {};
  osip_generic_param_t* b = nullptr;
  osip_via_param_get_byname(via, const_cast<char*>("branch"), &b);
  return b ? sv(b->gvalue) : std::string_view();
}

std::string_view to_tag(const osip_message_t* m) {
  osip_generic_param_t* t = nullptr;
  // osip_to_get_tag is a macro passing a string literal as char*.
  if (m->to) osip_generic_param_get_byname(&m->to->gen_params, const_cast<char*>("tag"), &t);
  return t ? sv(t->gvalue) : std::string_view();
}

std::string_view from_tag(const osip_message_t* m) {
  osip_generic_param_t* t = nullptr;
  if (m->from) osip_generic_param_get_byname(&m->from->gen_params, const_cast<char*>("tag"), &t);
  return t ? sv(t->gvalue) : std::string_view();
}

std::string call_id(const osip_message_t* m) {
  // osip splits the Call-ID at '@'.
  if (!m->call_id || !m->call_id->number) return {};
  std::string out = m->call_id->number;
  if (m->call_id->host) {
    out += '@';
    out += m->call_id->host;
  }
  return out;
}

std::optional<std::uint32_t> cseq_number(const osip_message_t* m) {
  if (!m->cseq || !m->cseq->number) return std::nullopt;
  std::string_view s = m->cseq->number;
  std::uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v >= (1u << 31)) return std::nullopt;
  return v;
}

std::string_view cseq_method(const osip_message_t* m) {
  return m->cseq ? sv(m->cseq->method) : std::string_view();
}

std::string_view body(const osip_message_t* m) {
  osip_body_t* b = nullptr;
  osip_message_get_body(const_cast<osip_message_t*>(m), 0, &b);
  if (!b || !b->body) return {};
  return {b->body, b->length};
}

std::string content_type(const osip_message_t* m) {
  if (!m->content_type || !m->content_type->type) return {};
  std::string t = m->content_type->type;
  t += '/';
  t += sv(m->content_type->subtype);
  for (auto& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

Msg make_response(const osip_message_t* req, int code, std::string_view tag,
                  std::string_view reason) {
  auto r = new_msg();
  osip_message_set_version(r.get(), dup("SIP/2.0"));
  osip_message_set_status_code(r.get(), code);
  osip_message_set_reason_phrase(r.get(),
                                 dup(reason.empty() ? sv(osip_message_get_reason(code)) : reason));
  for (int i = 0; i < osip_list_size(&req->vias); ++i) {
    osip_via_t* v = nullptr;
    if (osip_via_clone(static_cast<osip_via_t*>(osip_list_get(&req->vias, i)), &v) == 0)
      osip_list_add(&r->vias, v, -1);
  }
  if (req->from) osip_from_clone(req->from, &r->from);
  if (req->to) {
    osip_to_clone(req->to, &r->to);
    if (code != 100 && !tag.empty() && to_tag(r.get()).empty()) osip_to_set_tag(r->to, dup(tag));
  }
  if (req->call_id) osip_call_id_clone(req->call_id, &r->call_id);
  if (req->cseq) osip_cseq_clone(req->cseq, &r->cseq);
  return r;
}

void add_header(osip_message_t* m, const char* name, std::string_view value) {
  std::string v(value);
  osip_message_set_header(m, name, v.c_str());
}

void set_body(osip_message_t* m, std::string_view type, std::string_view b) {
  std::string t(type);
  osip_message_set_content_type(m, t.c_str());
  osip_message_set_body(m, b.data(), b.size());
}

std::string warning_value(std::string_view host, std::string_view text) {
  std::string out = "399 ";
  out += host;
  out += " \"";
  for (char c : text.substr(0, 200)) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') out += '\\';
    out += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
  out += '"';
  return out;
}

std::string serialize(const osip_message_t* m) {
  char* s = nullptr;
  std::size_t len = 0;
  if (osip_message_to_str(const_cast<osip_message_t*>(m), &s, &len) != 0 || !s) return {};
  std::string out(s, len);
  osip_free(s);
  return out;
}

std::string random_token(std::size_t bytes) {
  // Tokens are asked for on every new call; one RAND_bytes call fills many of them.
  static std::array<unsigned char, 512> pool;
  static std::size_t used = pool.size();
  bytes = std::min<std::size_t>(bytes, 32);
  if (used + bytes > pool.size()) {
    if (RAND_bytes(pool.data(), static_cast<int>(pool.size())) != 1) return core::random_hex(bytes);
    used = 0;
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(bytes * 2, '0');
  for (std::size_t i = 0; i < bytes; ++i) {
    out[2 * i] = hex[pool[used + i] >> 4];
    out[2 * i + 1] = hex[pool[used + i] & 15];
  }
  used += bytes;
  return out;
}

std::string new_branch() {
  return "z9hG4bK" + random_token(10);
}

}  // namespace confab::sip
