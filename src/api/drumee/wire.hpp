#pragma once
// Drumee's HTTP wire format: service parameters (query string, then a JSON or form body that
// wins), the {"__ack__", "__status__", "data"} envelope and its error shape. Header-only: the
// build lists one translation unit for this face (drumee.cpp).
#include "core/error.hpp"
#include "core/field_errors.hpp"
#include "net/http.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace confab::api::drumee {
namespace json = boost::json;

// A required parameter is absent: MISSING_PARAM, "<name> is required".
struct MissingParam {
  std::string name;
};
// No service of that name: SERVICE_NOT_FOUND:<service>.
struct ServiceNotFound {
  std::string service;
};

inline std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline std::string str_of(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// "a=1&b=two+words" into `out` (later keys win).
inline void parse_form(std::string_view q, json::object& out) {
  while (!q.empty()) {
    auto amp = q.find('&');
    auto part = q.substr(0, amp);
    if (!part.empty()) {
      auto eq = part.find('=');
      auto key = net::percent_decode(part.substr(0, eq), true);
      auto val = eq == std::string_view::npos ? std::string()
                                              : net::percent_decode(part.substr(eq + 1), true);
      if (!key.empty()) out[key] = val;
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
}

class Params {
 public:
  // Throws Error{parse_error} when a JSON body is not a JSON object.
  static Params from(const net::Request& req) {
    Params p;
    parse_form(req.query, p.o_);
    std::string_view body = req.body;
    while (!body.empty() && (body.front() == ' ' || body.front() == '\n' || body.front() == '\r' ||
                             body.front() == '\t'))
      body.remove_prefix(1);
    if (body.empty()) return p;
    // A body that opens an object is JSON, whatever its declared type (browsers' and urllib's
    // default is the form type); JSON declared but not an object is an error.
    bool json_type = req.header("content-type").find("json") != std::string_view::npos;
    if (body.front() != '{' && !json_type) {
      parse_form(body, p.o_);
      return p;
    }
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    if (ec || !v.is_object())
      throw Error(Errc::parse_error, ec ? "the body is not valid JSON: " + ec.message()
                                        : std::string("the body must be a JSON object"));
    for (auto& [k, val] : v.as_object()) p.o_[k] = val;
    return p;
  }

  const json::object& all() const { return o_; }
  const json::value* get(std::string_view key) const {
    auto* v = o_.if_contains(key);
    return v && !v->is_null() ? v : nullptr;
  }

  // An identifier or name: a string, or an integer written as one; empty when absent. Within
  // its documented limit (limit_of), a line of UTF-8.
  std::string str(std::string_view key) const { return text(get(key), key); }
  std::string need_str(std::string_view key) const {
    auto s = str(key);
    if (s.empty()) throw MissingParam{std::string(key)};
    return s;
  }
  // An object parameter; from a query string or form it arrives as JSON text. Bounded as any
  // client-made JSON (core::require_tree).
  json::object need_obj(std::string_view key) const {
    auto* v = get(key);
    if (!v || (v->is_string() && v->as_string().empty())) throw MissingParam{std::string(key)};
    auto o = object(*v, key);
    core::require_tree(key, o, core::limits::kMetadataBytes);
    return o;
  }
  // Any JSON value but null (an event payload), bounded the same way.
  json::value need_value(std::string_view key) const {
    auto* v = get(key);
    if (!v) throw MissingParam{std::string(key)};
    core::require_tree(key, *v, core::limits::kMetadataBytes);
    return *v;
  }
  // A number parameter within [min, max]; a JSON integer or a decimal string (query strings and
  // forms send text). Anything else is refused naming the field and its range: never clamped.
  std::int64_t integer(std::string_view key, std::int64_t dflt, std::int64_t min,
                       std::int64_t max) const {
    return core::require_int(key, get(key), min, max, dflt);
  }

  // The documented limit of a text parameter (docs/api/limits.md); ids by default.
  static std::size_t limit_of(std::string_view key) {
    if (key == "guest_name" || key == "event") return core::limits::kDisplayBytes;
    if (key == "token") return core::limits::kTokenBytes;
    if (key == "room_id") return core::limits::kRoomIdBytes;  // chat: a direct channel's too
    return core::limits::kIdBytes;
  }
  static std::string text(const json::value* v, std::string_view key) {
    if (!v || v->is_null()) return {};
    std::string s;
    if (v->is_string())
      s = std::string(v->as_string());
    else if (v->is_int64())
      s = std::to_string(v->as_int64());
    else if (v->is_uint64())
      s = std::to_string(v->as_uint64());
    else
      throw invalid(key, "a string");
    core::require_text(key, s, 0, limit_of(key));
    return s;
  }
  // A chat message: text (line breaks allowed) up to kMessageBytes; the core checks it again.
  std::string message(std::string_view key) const {
    auto* v = get(key);
    if (!v || (v->is_string() && v->as_string().empty())) throw MissingParam{std::string(key)};
    if (!v->is_string()) throw invalid(key, "a string");
    core::require_text(key, v->as_string(), 1, core::limits::kMessageBytes, core::TextKind::text);
    return std::string(v->as_string());
  }
  static json::object object(const json::value& v, std::string_view key) {
    if (v.is_object()) return v.as_object();
    if (v.is_string()) {
      boost::system::error_code ec;
      auto parsed = json::parse(v.as_string(), ec);
      if (!ec && parsed.is_object()) return std::move(parsed.as_object());
    }
    throw invalid(key, "an object");
  }
  static Error invalid(std::string_view key, std::string_view what) {
    auto sentence = std::string(key) + " must be " + std::string(what);
    auto e = field_error(key, "type", sentence);
    e.message = std::move(sentence);
    return e;
  }

 private:
  json::object o_;
};

inline net::Response envelope(int status, json::object body) {
  net::Response r{status, json::serialize(body), "application/json", {}};
  r.headers.emplace_back("Access-Control-Allow-Origin", "*");
  return r;
}

inline net::Response ok(std::string_view ack, json::value data) {
  return envelope(200, json::object{{"__ack__", ack},
                                    {"__status__", "ok"},
                                    {"__timestamp__", unix_ms()},
                                    {"data", std::move(data)}});
}

inline net::Response failure(std::string_view ack, int status, std::string_view error,
                             std::string_view reason, const json::object& details = {}) {
  json::object o{{"__ack__", ack},   {"__status__", "error"}, {"__timestamp__", unix_ms()},
                 {"error", error},   {"error_code", status},  {"status", status},
                 {"reason", reason}, {"data", json::array{}}};
  if (!details.empty()) o["details"] = details;
  return envelope(status, std::move(o));
}

// A core error as Drumee reports it: privilege failures are WEAK_PRIVILEGE; the rest keep the
// core's error name with a 4xx status (503 when the store failed). A validation error's reason
// names the field and what it must be.
inline net::Response failure(std::string_view ack, const Error& e) {
  int status = 400;
  switch (e.code) {
    case Errc::forbidden:
      return failure(ack, 403, "WEAK_PRIVILEGE", e.message, e.details);
    case Errc::unauthorized:
      status = 401;
      break;
    case Errc::not_a_member:
    case Errc::not_organizer:
    case Errc::cannot_kick_organizer:
    case Errc::room_full:
    case Errc::bad_pin:
      status = 403;
      break;
    case Errc::not_found:
      status = 404;
      break;
    case Errc::invalid_method:
      status = 405;
      break;
    case Errc::conflict:
      status = 409;
      break;
    case Errc::too_large:
      status = 413;
      break;
    case Errc::room_locked:
      status = 423;
      break;
    case Errc::too_many_attempts:
      status = 429;
      break;
    case Errc::unavailable:
      status = 503;
      break;
    default:  // invalid_data, parse_error, unknown_action, and codes added later
      status = 400;
      break;
  }
  auto reason =
      e.code == Errc::invalid_data && e.message == "invalid data" ? core::describe(e) : e.message;
  return failure(ack, status, errc_name(e.code), reason, e.details);
}

// The token of a request: X-Auth-Token, the "regsid" cookie, or a "token" parameter.
inline std::string token_of(const net::Request& req, const Params* p) {
  if (auto t = req.header("x-auth-token"); !t.empty()) return std::string(t);
  std::string_view cookies = req.header("cookie");
  while (!cookies.empty()) {
    auto semi = cookies.find(';');
    auto c = cookies.substr(0, semi);
    while (!c.empty() && c.front() == ' ') c.remove_prefix(1);
    if (c.starts_with("regsid=")) return std::string(c.substr(7));
    if (semi == std::string_view::npos) break;
    cookies.remove_prefix(semi + 1);
  }
  if (p) return p->str("token");
  return req.query_param("token");
}

}  // namespace confab::api::drumee
