#include "api/userplane/userplane.hpp"

#include "core/error.hpp"
#include "core/field_errors.hpp"
#include "core/muc.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <ctime>
#include <tuple>

namespace confab::api::userplane {
namespace json = boost::json;

namespace {

constexpr std::string_view kList = "/v1/conference.json";
constexpr std::string_view kOnePrefix = "/v1/conference/";
constexpr std::string_view kSuffix = ".json";

// A refusal in Userplane's terms: the HTTP status is also the envelope's resultCode.
struct Failure {
  int status;
  std::string message;
  std::string allow;  // 405 only
};

net::Response envelope(int status, std::string_view result, std::string_view message,
                       json::array errors, json::object data) {
  json::object env;
  env["result"] = result;
  env["resultCode"] = status;
  env["message"] = message;
  env["error"] = std::move(errors);
  env["data"] = std::move(data);
  return net::Response{status, json::serialize(env), "application/json", {}};
}

net::Response failure(const Failure& f) {
  auto r = envelope(f.status, "Failure", f.message, json::array{json::string(f.message)}, {});
  if (f.status == 401) r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"userplane\"");
  if (f.status == 405) r.headers.emplace_back("Allow", f.allow);
  return r;
}

// Core errors that can reach this face, in HTTP terms.
int status_of(Errc c) {
  switch (c) {
    case Errc::invalid_data:
    case Errc::parse_error:
    case Errc::unknown_action:
      return 400;
    case Errc::unauthorized:
      return 401;
    case Errc::forbidden:
    case Errc::room_full:
    case Errc::bad_pin:
    case Errc::not_a_member:
    case Errc::not_organizer:
    case Errc::cannot_kick_organizer:
      return 403;
    case Errc::not_found:
      return 404;
    case Errc::invalid_method:
      return 405;
    case Errc::conflict:
      return 409;
    case Errc::too_large:
      return 413;
    case Errc::not_acceptable:
    case Errc::unsupported_media_type:
      return 415;
    case Errc::room_locked:
      return 423;
    case Errc::too_many_attempts:
    case Errc::too_many_logins:
      return 429;
    case Errc::unavailable:
      return 503;
  }
  return 500;
}

// RFC 4648 base64 (the standard alphabet, as RFC 7617 Basic credentials use). Padding may be
// left out; anything else that is not base64 fails.
bool base64_decode(std::string_view in, std::string& out) {
  std::size_t pad = 0;
  while (!in.empty() && in.back() == '=') in.remove_suffix(1), ++pad;
  if (pad > 2 || (pad > 0 && (in.size() + pad) % 4 != 0) || in.size() % 4 == 1) return false;
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out.clear();
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

// Userplane dates: ISO 8601 UTC with milliseconds. confab keeps seconds, so the milliseconds
// are always 000.
std::string iso_ms(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 40> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
  return buf.data();
}

std::int64_t int_field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  if (v->is_double()) return static_cast<std::int64_t>(v->as_double());
  return 0;
}

std::string str_field(const json::object* o, std::string_view key) {
  if (!o) return {};
  auto* v = o->if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

const json::object* muc_of(const json::object& doc) {
  auto* m = doc.if_contains("muc");
  return m && m->is_object() ? &m->as_object() : nullptr;
}

}  // namespace

struct Userplane::Impl {
  FaceContext ctx;

  net::Response route(const net::Request& req) const;
  // The siteId the request proved it may read, or a 401 naming what is wrong.
  std::string authenticate(const net::Request& req) const;
  json::object room_json(const core::Doc& conf, const std::string& site) const;
  net::Response rooms(const std::vector<const core::Doc*>& docs, const std::string& site) const;
};

std::string Userplane::Impl::authenticate(const net::Request& req) const {
  auto header = trim(req.header("authorization"));
  if (header.empty())
    throw Failure{401, "missing Authorization header: use HTTP Basic auth with siteId:apiKey", {}};
  if (iequals(header, "Basic"))
    throw Failure{401, "Authorization Basic credentials are missing: use siteId:apiKey", {}};
  auto sp = header.find(' ');
  if (sp == std::string_view::npos || !iequals(header.substr(0, sp), "Basic"))
    throw Failure{401, "Authorization must use the Basic scheme with siteId:apiKey", {}};
  std::string creds;
  if (!base64_decode(trim(header.substr(sp + 1)), creds))
    throw Failure{401, "Authorization Basic credentials are not valid base64", {}};
  auto colon = creds.find(':');
  if (colon == std::string::npos)
    throw Failure{401, "Basic credentials must be siteId:apiKey (no colon found)", {}};
  std::string site = creds.substr(0, colon);
  std::string key = creds.substr(colon + 1);
  try {
    core::require_text("siteId", site, 0, core::limits::kIdBytes);
    core::require_text("apiKey", key, 0, core::limits::kSecretBytes);
  } catch (const Error& e) {
    throw Failure{401, e.message, {}};
  }
  if (site.empty()) throw Failure{401, "siteId is missing from the Basic credentials", {}};
  if (key.empty()) throw Failure{401, "apiKey is missing from the Basic credentials", {}};
  // Throttled per address and per siteId (core login()): a wrong key for the site counts.
  try {
    ctx.svc.login("site:" + site, req.remote_address(), [&] {
      core::TokenClaims claims;
      try {
        ctx.svc.auth_api_key(key, &claims);
      } catch (const Error& e) {
        throw Error(e.code, "invalid apiKey");
      }
      // A key opens its own account only: the siteId names which account the caller means, and
      // the admin account's key is no exception here (Userplane has no cross-site reads).
      if (claims.account_id != site)
        throw Error(Errc::unauthorized, "the apiKey does not belong to siteId " + site);
      return std::string();
    });
  } catch (const Error& e) {
    if (e.code != Errc::unauthorized) throw;
    throw Failure{401, e.message, {}};
  }
  return site;
}

json::object Userplane::Impl::room_json(const core::Doc& conf, const std::string& site) const {
  const auto& body = conf.body;
  auto* muc = muc_of(body);
  std::string room_id = conf.id + "|" + site;

  int owners = 0, admins = 0, members = 0, outcasts = 0;
  if (muc)
    if (auto* affs = muc->if_contains("affiliations"); affs && affs->is_object())
      for (auto& [user, a] : affs->as_object()) {
        if (!a.is_string()) continue;
        switch (core::parse_affiliation(a.as_string()).value_or(core::Affiliation::none)) {
          case core::Affiliation::owner:
            ++owners;
            break;
          case core::Affiliation::admin:
            ++admins;
            break;
          case core::Affiliation::member:
            ++members;
            break;
          case core::Affiliation::outcast:
            ++outcasts;
            break;
          case core::Affiliation::none:
            break;
        }
      }

  int moderators = 0, participants = 0, visitors = 0, occupants = 0;
  if (const core::Room* room = ctx.svc.room(conf.id))
    for (auto& p : room->participants()) {
      ++occupants;
      switch (p.role()) {
        case core::MucRole::moderator:
          ++moderators;
          break;
        case core::MucRole::participant:
          ++participants;
          break;
        case core::MucRole::visitor:
          ++visitors;
          break;
      }
    }

  auto name = str_field(&body, "name");
  auto description = str_field(muc, "description");
  json::object r;
  r["roomId"] = room_id;
  r["name"] = name.empty() ? room_id : name;
  r["admins"] = admins;
  r["creationDate"] = iso_ms(int_field(body, "pvt_created"));
  r["description"] = description.empty() ? room_id : description;
  // Userplane: "only rooms that are currently empty will return an empty date property".
  if (occupants == 0) r["emptyDate"] = iso_ms(ctx.svc.empty_since(conf.id));
  r["maxUsers"] = int_field(body, "max_participants");
  r["members"] = members;
  r["moderators"] = moderators;
  r["modificationDate"] = iso_ms(int_field(body, "pvt_modified"));
  r["occupants"] = occupants;
  r["outcasts"] = outcasts;
  r["owners"] = owners;
  r["participants"] = participants;
  r["subject"] = str_field(muc, "subject");
  r["visitors"] = visitors;
  return r;
}

net::Response Userplane::Impl::rooms(const std::vector<const core::Doc*>& docs,
                                     const std::string& site) const {
  json::array list;
  list.reserve(docs.size());
  for (auto* d : docs) list.push_back(room_json(*d, site));
  return envelope(200, "Success", "", {}, json::object{{"rooms", std::move(list)}});
}

net::Response Userplane::Impl::route(const net::Request& req) const {
  std::string_view path = req.path;
  std::string room_id;
  bool one = false;
  if (path == kList) {
  } else if (path.starts_with(kOnePrefix) && path.ends_with(kSuffix) &&
             path.size() > kOnePrefix.size() + kSuffix.size()) {
    auto id = path.substr(kOnePrefix.size(), path.size() - kOnePrefix.size() - kSuffix.size());
    if (id.find('/') != std::string_view::npos)
      throw Failure{404, "unknown path: " + std::string(path), {}};
    // "<conference id>|<siteId>": two ids and a bar.
    try {
      core::require_text("roomId", id, 1, 2 * core::limits::kIdBytes + 1);
    } catch (const Error& e) {
      throw Failure{400, e.message, {}};
    }
    room_id = std::string(id);
    one = true;
  } else {
    throw Failure{404, "unknown path: " + std::string(path), {}};
  }
  if (req.method != "GET")
    throw Failure{405, "method " + req.method + " not allowed: use GET", "GET"};

  auto site = authenticate(req);
  if (!one) {
    auto docs = ctx.svc.directory().list("conference", site);
    // Oldest first, so that a listing is stable from one call to the next.
    std::sort(docs.begin(), docs.end(), [](const core::Doc* a, const core::Doc* b) {
      return std::tuple(int_field(a->body, "pvt_created"), a->id) <
             std::tuple(int_field(b->body, "pvt_created"), b->id);
    });
    return rooms(docs, site);
  }
  // "<conference id>|<siteId>" as listed; a bare conference id is accepted too.
  auto bar = room_id.find('|');
  auto conf_id = room_id.substr(0, bar);
  bool site_ok = bar == std::string::npos || room_id.substr(bar + 1) == site;
  auto* d = site_ok ? ctx.svc.directory().find("conference", conf_id) : nullptr;
  if (!d || d->account_id != site) throw Failure{404, "no room " + room_id + " in this site", {}};
  return rooms({d}, site);
}

Userplane::Userplane(FaceContext ctx) : impl_(std::make_unique<Impl>(Impl{ctx})) {}
Userplane::~Userplane() = default;

bool Userplane::handles(std::string_view path) const {
  // Userplane's conference resource only; other /v1 paths are not this face's.
  return path.starts_with("/v1/conference");
}

void Userplane::handle(net::Request&& req, net::Reply reply) {
  net::Response r;
  try {
    r = impl_->route(req);
  } catch (const Failure& f) {
    r = failure(f);
  } catch (const Error& e) {
    r = failure(Failure{status_of(e.code), core::describe(e), {}});
    if (auto* wait = e.details.if_contains("retry_after"); wait && wait->is_int64())
      r.headers.emplace_back("Retry-After", std::to_string(wait->as_int64()));
  } catch (const std::exception& e) {
    r = failure(Failure{500, std::string("internal error: ") + e.what(), {}});
  } catch (...) {
    r = failure(Failure{500, "internal error", {}});
  }
  reply(std::move(r));
}

std::optional<net::Response> Userplane::transport_error(int status, std::string_view message,
                                                        std::string_view) const {
  return failure(Failure{status, std::string(message), {}});
}

std::optional<net::WsHandlers> Userplane::accept(const net::Request&,
                                                 std::shared_ptr<net::WsConnection>) {
  return std::nullopt;
}

}  // namespace confab::api::userplane
