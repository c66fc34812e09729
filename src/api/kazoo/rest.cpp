#include "api/kazoo/rest.hpp"

#include "api/kazoo/render.hpp"
#include "api/kazoo/rest_util.hpp"
#include "core/crypto.hpp"
#include "core/field_errors.hpp"
#include "core/identity.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <ctime>

namespace confab::api::kazoo {
namespace json = boost::json;
using core::Access;
using core::WriteMode;

namespace {

std::vector<std::string> split_path(std::string_view p) {
  std::vector<std::string> out;
  while (!p.empty()) {
    auto s = p.find('/');
    auto part = p.substr(0, s);
    if (!part.empty()) out.emplace_back(part);
    if (s == std::string_view::npos) break;
    p.remove_prefix(s + 1);
  }
  return out;
}

// Actions are read from the top level first, then from data (Kazoo's get_request_action).
std::string action_of(const json::object& env) {
  auto pick = [](const json::value* v) -> const json::value* {
    return v && v->is_string() ? v : nullptr;
  };
  const json::value* a = pick(env.if_contains("action"));
  if (!a)
    if (auto* d = env.if_contains("data"); d && d->is_object())
      a = pick(d->as_object().if_contains("action"));
  if (!a)
    throw Error(
        Errc::unknown_action, "faulty request",
        json::object{{"action",
                      json::object{{"required",
                                    json::object{{"message", "Field is required but missing"}}}}}});
  core::require_text("action", a->as_string(), 0, core::limits::kIdBytes);
  return std::string(a->as_string());
}

std::string str_of(const json::value& data, std::string_view key) {
  if (!data.is_object()) return {};
  auto* v = data.as_object().if_contains(key);
  if (!v) return {};
  if (v->is_string()) return std::string(v->as_string());
  if (v->is_int64()) return std::to_string(v->as_int64());
  throw field_error(key, "type", "Value did not match type(s): string");
}

std::string require_str(const json::value& data, std::string_view key) {
  auto s = str_of(data, key);
  if (s.empty()) throw field_error(key, "required", "Field is required but missing");
  return s;
}

int participant_id(const std::string& s) {
  int id = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc{} || p != s.data() + s.size() || id <= 0)
    throw Error(Errc::not_found, "bad identifier", json::object{{"cause", s}});
  return id;
}

std::string owner_of(const core::Doc& d) {
  auto* v = d.body.if_contains("owner_id");
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::string iso_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

json::object Rest::auth_data(const core::TokenClaims& claims) const {
  auto& acct = svc_.get("account", claims.account_id, claims.account_id);
  json::object out;
  out["account_id"] = claims.account_id;
  out["account_name"] = acct.body.contains("name") ? acct.body.at("name") : json::value("");
  out["is_master_account"] = svc_.is_admin_account(claims.account_id);
  out["is_reseller"] = false;
  out["language"] = "en-us";
  out["apps"] = json::array{};
  out["expires"] = gregorian(claims.expires);
  return out;
}

Rest::Rest(core::ConferenceService& svc, Persister& persist, RestOptions opts)
    : svc_(svc), persist_(persist), opts_(std::move(opts)) {}

net::Response Rest::success(const Ctx& c, int status, json::value data, std::string revision,
                            std::string_view status_word) const {
  json::object env;
  env["auth_token"] = c.auth_token;
  env["data"] = std::move(data);
  if (!revision.empty()) env["revision"] = revision;
  env["request_id"] = c.request_id;
  env["status"] = status_word;
  env["node"] = opts_.node;
  env["version"] = opts_.version;
  env["timestamp"] = iso_now();
  return net::Response{status, json::serialize(env), "application/json", {}};
}

net::Response Rest::failure(const Ctx& c, const Error& e) const {
  int status = 500;
  std::string message;
  json::object data = e.details;
  auto with_message = [&](std::string_view m) {
    if (!data.contains("message")) data["message"] = m;
  };
  switch (e.code) {
    case Errc::invalid_data:
      status = 400, message = "invalid data";
      break;
    case Errc::parse_error:
      status = 400, message = "parse_error";
      break;
    case Errc::not_found:
      status = 404, message = e.message == "not found" ? "not_found" : "bad_identifier";
      with_message(e.message);
      break;
    case Errc::forbidden:
      // Kazoo says only "forbidden"; the core's reason ("banned from this conference", "a visitor
      // has no voice") says what is wrong.
      status = 403, message = "forbidden", with_message(e.message);
      break;
    case Errc::unauthorized:
      status = 401, message = "invalid_credentials";
      data["message"] = "invalid credentials";
      if (e.message != "invalid credentials") data["cause"] = e.message;
      break;
    case Errc::conflict:
      status = 409, message = "conflict", with_message(e.message);
      break;
    case Errc::invalid_method:
      status = 405, message = "invalid_method", with_message("method not allowed");
      break;
    case Errc::unknown_action:
      status = 404, message = "faulty_request", with_message("faulty request");
      if (e.message.starts_with("unknown action: ")) data["cause"] = e.message.substr(16);
      break;
    case Errc::room_locked:
      status = 423, message = "conference_locked", with_message(e.message);
      break;
    case Errc::room_full:
      status = 403, message = "conference_full", with_message(e.message);
      break;
    case Errc::bad_pin:
      status = 403, message = "invalid_pin", data["message"] = e.message;
      break;
    case Errc::too_many_attempts:
      status = 429, message = "too_many_pin_attempts", with_message(e.message);
      break;
    case Errc::too_many_logins:
      status = 429, message = "too_many_requests", with_message(e.message);
      break;
    case Errc::too_large:
      status = 413, message = "request_too_large", with_message(e.message);
      break;
    case Errc::unavailable:
      status = 503, message = "datastore_fault",
      with_message(e.message.empty() ? "the store failed; nothing was written" : e.message);
      break;
    case Errc::not_acceptable:  // SIP would say 488 Not Acceptable Here
      status = 415, message = "not_acceptable_here", with_message(e.message);
      data["sip_code"] = 488;
      break;
    case Errc::unsupported_media_type:
      status = 415, message = "unsupported_media_type", with_message(e.message);
      break;
    case Errc::not_a_member:
    case Errc::not_organizer:
    case Errc::cannot_kick_organizer:
      status = 403, message = "forbidden", with_message(e.message);
      break;
  }
  json::object env;
  // A rejected token is not echoed back.
  if (!c.auth_token.empty() && e.code != Errc::unauthorized) env["auth_token"] = c.auth_token;
  env["data"] = std::move(data);
  env["error"] = std::to_string(status);
  env["message"] = message;
  env["request_id"] = c.request_id;
  env["status"] = "error";
  env["node"] = opts_.node;
  env["timestamp"] = iso_now();
  net::Response r{status, json::serialize(env), "application/json", {}};
  if (e.code == Errc::invalid_method)
    if (auto* a = e.details.if_contains("allow")) r.headers.emplace_back("Allow", a->as_string());
  if (e.code == Errc::too_many_attempts || e.code == Errc::too_many_logins)
    if (auto* a = e.details.if_contains("retry_after"); a && a->is_int64())
      r.headers.emplace_back("Retry-After", std::to_string(a->as_int64()));
  return r;
}

net::Response Rest::transport_error(int status, std::string_view message) const {
  Ctx c;
  c.request_id = core::random_hex(16);
  auto r = failure(c, Error(status == 400 ? Errc::parse_error : Errc::too_large,
                            std::string(message), json::object{{"message", message}}));
  if (status != 400) {  // 413 body, 431 headers, 408 too slow, 503 over a connection cap
    auto env = json::parse(r.body).as_object();
    env["error"] = std::to_string(status);
    env["message"] = status == 431   ? "request_header_fields_too_large"
                     : status == 408 ? "request_timeout"
                     : status == 503 ? "service_unavailable"
                                     : "request_too_large";
    r.body = json::serialize(env);
    r.status = status;
  }
  return r;
}

namespace {
// Crossbar answers browsers' preflight and allows any origin: its clients (monster-ui) are web apps
// served from elsewhere, and every call is authorised by its token, not by cookies.
void add_cors(net::Response& r) {
  r.headers.emplace_back("Access-Control-Allow-Origin", "*");
  r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, PATCH, OPTIONS");
  r.headers.emplace_back("Access-Control-Allow-Headers",
                         "Content-Type, Depth, User-Agent, X-Http-Method-Override, X-File-Size, "
                         "X-Requested-With, If-Modified-Since, X-File-Name, Cache-Control, "
                         "X-Auth-Token, X-Request-ID");
  r.headers.emplace_back("Access-Control-Expose-Headers", "Content-Type, X-Request-ID, Location");
  r.headers.emplace_back("Access-Control-Max-Age", "86400");
}
}  // namespace

void Rest::handle(net::Request&& req, net::Reply inner) {
  net::Reply reply = [inner = std::move(inner)](net::Response r) {
    add_cors(r);
    inner(std::move(r));
  };
  if (req.method == "OPTIONS") return reply(net::Response{200, "", "text/plain", {}});
  Ctx c;
  auto rid = req.header("x-request-id");
  c.request_id = rid.empty() || core::text_violation(rid, 1, core::limits::kRequestIdBytes)
                     ? core::random_hex(16)
                     : std::string(rid);
  try {
    route(c, req, reply);
  } catch (const Error& e) {
    if (reply) reply(failure(c, e));
  } catch (const std::exception& e) {
    if (!reply) return;
    // A bug, not the client's fault: answer 500 without losing the server.
    reply(net::Response{500,
                        json::serialize(json::object{{"status", "error"},
                                                     {"error", "500"},
                                                     {"message", "internal_error"},
                                                     {"data", json::object{{"message", e.what()}}},
                                                     {"request_id", c.request_id}}),
                        "application/json",
                        {}});
  }
}

void Rest::route(Ctx& c, const net::Request& req, net::Reply& reply) {
  auto seg = split_path(req.path);
  // No id is other than UTF-8, and errors echo ids ("cause"): one that is not is not echoed.
  for (auto& s : seg)
    if (!core::valid_utf8(s))
      throw Error(Errc::not_found, "bad identifier",
                  json::object{{"cause", "a path segment that is not UTF-8"}});
  if (seg.size() < 2 || seg[0] != "v2") throw Error(Errc::not_found, "not found");

  if (seg.size() == 2 && (seg[1] == "api_auth" || seg[1] == "user_auth")) {
    allow(req, {"PUT", "POST"});
    auto env = parse_envelope(req);
    const auto& data = data_of(env);
    core::TokenClaims claims;
    json::object out;
    // Logins are throttled per address (and user_auth per account name): core login().
    std::string source(req.remote_address());
    if (seg[1] == "api_auth") {
      auto key = require_str(data, "api_key");
      // A throttled address is refused before anything else, the store reload below included.
      svc_.check_login({}, source);
      try {
        c.auth_token = svc_.auth_api_key(key, &claims);
      } catch (const Error& e) {
        if (e.code != Errc::unauthorized) throw;
        // Perhaps created offline since we started: look in the store (one reload at a time,
        // shared by every login that waits for it, at most one per interval), then answer.
        persist_.refresh("account", [this, c, key, source, reply = std::move(reply)]() mutable {
          try {
            core::TokenClaims claims;
            c.auth_token = svc_.login({}, source, [&] { return svc_.auth_api_key(key, &claims); });
            reply(success(c, 201, auth_data(claims)));
          } catch (const Error& e) {
            reply(failure(c, e));
          }
        });
        return;
      }
    } else {
      auto creds = require_str(data, "credentials");
      auto method = str_of(data, "method");
      if (!method.empty() && method != "md5")
        throw field_error("method", "enum", "Value not found in enumerated list of values");
      auto account_name = require_str(data, "account_name");
      c.auth_token = svc_.login("account:" + core::lower(account_name), source,
                                [&] { return svc_.auth_user(creds, account_name, &claims); });
      out["owner_id"] = claims.user_id;
    }
    auto more = auth_data(claims);
    for (auto& [k, v] : more) out[k] = v;
    return reply(success(c, 201, std::move(out)));
  }

  // Everything else needs a token.
  auto token = req.header("x-auth-token");
  std::string query_token;
  if (token.empty()) token = query_token = req.query_param("auth_token");
  c.auth_token = std::string(token);
  c.claims = svc_.verify(token);

  if (seg[1] == "accounts") return accounts(c, req, seg, reply);
  throw Error(Errc::not_found, "not found");
}

void Rest::accounts(Ctx& c, const net::Request& req, const std::vector<std::string>& seg,
                    net::Reply& reply) {
  if (seg.size() == 2) {  // /v2/accounts
    allow(req, {"PUT"});
    svc_.authorize(c.claims, c.claims.account_id, Access::manage_accounts);
    auto env = parse_envelope(req);
    std::string api_key;
    auto w = svc_.prepare_account(data_of(env), false, api_key);
    return save(c, std::move(w), 201, reply, json::object{{"api_key", api_key}});
  }
  const auto& account = seg[2];
  // Reach first, lookups after: a foreign token learns nothing about which ids exist.
  svc_.authorize(c.claims, account, Access::read);
  if (seg.size() == 3) {
    allow(req, {"GET", "POST", "PATCH"});
    if (req.method == "GET") {
      svc_.authorize(c.claims, account, Access::read);
      auto& d = svc_.get("account", account, account);
      auto out = public_doc(d);
      out["is_master_account"] = svc_.is_admin_account(account);
      return reply(success(c, 200, std::move(out), revision_tag(d)));
    }
    svc_.authorize(c.claims, account, Access::write);
    auto env = parse_envelope(req);
    auto mode = req.method == "POST" ? WriteMode::replace : WriteMode::patch;
    return save(c, svc_.prepare("account", account, account, mode, data_of(env), &c.claims), 200,
                reply);
  }
  const auto& coll = seg[3];
  if (coll == "children" && seg.size() == 4) {
    allow(req, {"GET"});
    svc_.authorize(c.claims, account, Access::manage_accounts);
    json::array out;
    for (auto* d : svc_.directory().all("account"))
      if (d->id != account)
        out.push_back(json::object{{"id", d->id},
                                   {"name", d->body.contains("name") ? d->body.at("name") : ""}});
    return reply(success(c, 200, std::move(out)));
  }
  if (coll == "users") return users(c, req, account, seg, reply);
  if (coll == "hubs") return hubs(c, req, account, seg, reply);
  if (coll == "conferences") return conferences(c, req, account, seg, reply);
  if (coll == "media") return media(c, req, account, seg, reply);
  if (coll == "recordings") return recordings(c, req, account, seg, reply);
  throw Error(Errc::not_found, "not found");
}

void Rest::users(Ctx& c, const net::Request& req, const std::string& account,
                 const std::vector<std::string>& seg, net::Reply& reply) {
  svc_.get("account", account, account);
  if (seg.size() == 4) {
    allow(req, {"GET", "PUT"});
    if (req.method == "GET") {
      svc_.authorize(c.claims, account, Access::read);
      json::array out;
      for (auto* d : svc_.directory().list("user", account)) {
        json::object u{{"id", d->id}};
        for (auto key : {"username", "first_name", "last_name", "email", "priv_level", "extension"})
          if (auto* v = d->body.if_contains(key)) u[key] = *v;
        out.push_back(std::move(u));
      }
      return reply(success(c, 200, std::move(out)));
    }
    svc_.authorize(c.claims, account, Access::write);
    auto env = parse_envelope(req);
    return save(c, svc_.prepare("user", account, {}, WriteMode::create, data_of(env), &c.claims),
                201, reply);
  }
  if (seg.size() != 5) throw Error(Errc::not_found, "not found");
  const auto& id = seg[4];
  allow(req, {"GET", "POST", "PATCH", "DELETE"});
  if (req.method == "GET") {
    svc_.authorize(c.claims, account, Access::read);
    auto& d = svc_.get("user", account, id);
    return reply(success(c, 200, public_doc(d), revision_tag(d)));
  }
  // A user may change their own document; deleting users is for admins.
  svc_.authorize(c.claims, account, Access::write, req.method == "DELETE" ? "" : id);
  if (req.method == "DELETE")
    return save(c, svc_.prepare("user", account, id, WriteMode::remove, {}, &c.claims), 200, reply);
  auto env = parse_envelope(req);
  auto mode = req.method == "POST" ? WriteMode::replace : WriteMode::patch;
  return save(c, svc_.prepare("user", account, id, mode, data_of(env), &c.claims), 200, reply);
}

void Rest::hubs(Ctx& c, const net::Request& req, const std::string& account,
                const std::vector<std::string>& seg, net::Reply& reply) {
  svc_.get("account", account, account);
  if (seg.size() == 4) {
    allow(req, {"GET", "PUT"});
    if (req.method == "GET") {
      json::array out;
      for (auto* d : svc_.directory().list("hub", account)) out.push_back(public_doc(*d));
      return reply(success(c, 200, std::move(out)));
    }
    svc_.authorize(c.claims, account, Access::write);
    auto env = parse_envelope(req);
    return save(c, svc_.prepare("hub", account, {}, WriteMode::create, data_of(env), &c.claims),
                201, reply);
  }
  if (seg.size() != 5) throw Error(Errc::not_found, "not found");
  allow(req, {"GET", "POST", "PATCH", "DELETE"});
  auto& d = svc_.get("hub", account, seg[4]);
  if (req.method == "GET") return reply(success(c, 200, public_doc(d), revision_tag(d)));
  auto owner = d.body.contains("owner_id") && d.body.at("owner_id").is_string()
                   ? std::string(d.body.at("owner_id").as_string())
                   : std::string();
  svc_.authorize(c.claims, account, Access::write, owner);
  if (req.method == "DELETE")
    return save(c, svc_.prepare("hub", account, seg[4], WriteMode::remove, {}, &c.claims), 200,
                reply);
  auto env = parse_envelope(req);
  auto mode = req.method == "POST" ? WriteMode::replace : WriteMode::patch;
  return save(c, svc_.prepare("hub", account, seg[4], mode, data_of(env), &c.claims), 200, reply);
}

void Rest::conferences(Ctx& c, const net::Request& req, const std::string& account,
                       const std::vector<std::string>& seg, net::Reply& reply) {
  svc_.get("account", account, account);
  auto now = svc_.now();
  if (seg.size() == 4) {
    allow(req, {"GET", "PUT"});
    if (req.method == "GET") {
      svc_.authorize(c.claims, account, Access::read);
      json::array out;
      auto docs = svc_.directory().list("conference", account);
      out.reserve(docs.size());
      for (auto* d : docs) out.push_back(conference_summary(*d, svc_.room(d->id), now));
      return reply(success(c, 200, std::move(out)));
    }
    auto env = parse_envelope(req);
    const auto& data = data_of(env);
    svc_.authorize(c.claims, account, Access::write, str_of(data, "owner_id"));
    return save(c, svc_.prepare("conference", account, {}, WriteMode::create, data, &c.claims), 201,
                reply);
  }
  const auto& id = seg[4];
  if (seg.size() > 5) {
    if (seg[5] != "participants" || seg.size() > 7) throw Error(Errc::not_found, "not found");
    return participants(c, req, account, id, seg, reply);
  }
  allow(req, {"GET", "PUT", "POST", "PATCH", "DELETE"});
  auto& doc = svc_.get("conference", account, id);
  if (req.method == "GET") {
    svc_.authorize(c.claims, account, Access::read);
    return reply(success(
        c, 200, conference_json(doc, svc_.room(id), opts_.node, now, svc_.bad_pin_attempts(id)),
        revision_tag(doc)));
  }
  svc_.authorize(c.claims, account, Access::write, owner_of(doc));
  if (req.method == "PUT") {  // an action on the conference
    auto env = parse_envelope(req);
    svc_.conference_action(account, id, action_of(env), data_of(env));
    return reply(success(c, 202, "ok", {}, "accepted"));
  }
  if (req.method == "DELETE")
    return save(c, svc_.prepare("conference", account, id, WriteMode::remove, {}, &c.claims), 200,
                reply);
  auto env = parse_envelope(req);
  auto mode = req.method == "POST" ? WriteMode::replace : WriteMode::patch;
  return save(c, svc_.prepare("conference", account, id, mode, data_of(env), &c.claims), 200,
              reply);
}

void Rest::participants(Ctx& c, const net::Request& req, const std::string& account,
                        const std::string& conf, const std::vector<std::string>& seg,
                        net::Reply& reply) {
  auto& doc = svc_.get("conference", account, conf);
  auto now = svc_.now();
  const core::Room* room = svc_.room(conf);
  if (seg.size() == 6) {
    allow(req, {"GET", "PUT", "POST"});
    if (req.method == "GET") {
      svc_.authorize(c.claims, account, Access::read);
      json::array out;
      if (room)
        for (auto& p : room->participants())
          out.push_back(participant_json(p, *room, opts_.node, now));
      return reply(success(c, 200, std::move(out)));
    }
    auto env = parse_envelope(req);
    if (req.method == "POST") {  // join (the media issue adds an SDP offer here)
      svc_.authorize(c.claims, account, Access::join);
      const auto& data = data_of(env);
      if (!data.is_object())
        throw field_error("data", "type", "Value did not match type(s): object");
      core::JoinRequest j;
      j.name = str_of(data, "name");
      j.number = str_of(data, "number");
      j.pin = str_of(data, "pin");
      j.dialed = str_of(data, "dialed");
      j.call_id = str_of(data, "call_id");
      if (auto* md = data.as_object().if_contains("mute_detect")) {
        if (!md->is_bool())
          throw field_error("mute_detect", "type", "Value did not match type(s): boolean");
        j.mute_detect = md->as_bool();
      }
      j.source = req.remote.substr(0, req.remote.rfind(':'));
      j.principal =
          c.claims.account_id + "/" + (c.claims.user_id.empty() ? "key" : c.claims.user_id);
      // A user joining as themselves: their own user token, or an admin naming the user.
      j.user_id = str_of(data, "user_id");
      if (j.user_id.empty())
        j.user_id = c.claims.user_id;
      else if (j.user_id != c.claims.user_id)
        svc_.authorize(c.claims, account, Access::write);
      // An SDP offer is checked before anyone joins: a refusal leaves nothing behind.
      std::shared_ptr<MediaPort::Offer> offer;
      if (auto* sdp = data.as_object().if_contains("sdp")) {
        if (!sdp->is_string())
          throw field_error("sdp", "type", "Value did not match type(s): string");
        if (!opts_.media) throw Error(Errc::not_acceptable, "media is disabled on this server");
        offer = opts_.media->check(sdp->as_string());
      }
      auto p = svc_.join(account, conf, j);
      auto out = participant_json(p, *svc_.room(conf), opts_.node, now);
      if (offer) out["sdp"] = opts_.media->attach(std::string(conf), p.participant_id, *offer);
      return reply(success(c, 201, std::move(out)));
    }
    svc_.authorize(c.claims, account, Access::write, owner_of(doc));
    auto action = action_of(env);
    if (action == "relate") {  // Kazoo: data.participant_id, data.other_participant, relationship
      const auto& data = data_of(env);
      auto num = [&](std::string_view k) {
        auto* v = data.is_object() ? data.as_object().if_contains(k) : nullptr;
        if (!v || v->is_null()) throw field_error(k, "required", "Field is required but missing");
        return static_cast<int>(core::require_int(k, v, 1, core::limits::kMaxParticipantId, 0));
      };
      auto rel = str_of(data, "relationship");
      svc_.relate(account, conf, num("participant_id"), num("other_participant"),
                  rel.empty() ? "reset" : rel);
      return reply(success(c, 202, "relating participants", {}, "accepted"));
    }
    svc_.participants_action(account, conf, action);
    return reply(success(c, 202, "ok", {}, "accepted"));
  }
  int pid = participant_id(seg[6]);
  allow(req, {"GET", "PUT", "DELETE"});
  if (req.method == "GET") {
    svc_.authorize(c.claims, account, Access::read);
    const core::ParticipantView* p = room ? room->find(pid) : nullptr;
    if (!p) throw Error(Errc::not_found, "bad identifier", json::object{{"cause", seg[6]}});
    return reply(success(c, 200, participant_json(*p, *room, opts_.node, now)));
  }
  svc_.authorize(c.claims, account, Access::write, owner_of(doc));
  if (req.method == "DELETE") {
    svc_.leave(account, conf, pid, "left");
    return reply(success(c, 200, json::object{{"participant_id", pid}, {"left", true}}));
  }
  auto env = parse_envelope(req);
  svc_.participant_action(account, conf, pid, action_of(env), data_of(env));
  return reply(success(c, 202, "ok", {}, "accepted"));
}

void Rest::save(Ctx& c, core::PendingWrite w, int status, net::Reply& reply_ref,
                json::object extra) {
  auto done = saved(c, w, status, std::move(reply_ref), std::move(extra));
  persist_.write(std::move(w), std::move(done));
}

std::function<void(const std::string&)> Rest::saved(const Ctx& c, const core::PendingWrite& w,
                                                    int status, net::Reply reply,
                                                    json::object extra) {
  auto kind = w.doc.kind;
  auto id = w.doc.id;
  bool remove = w.remove;
  return [this, c, status, reply = std::move(reply), extra = std::move(extra), kind, id,
          remove](const std::string& err) {
    if (!err.empty()) return reply(failure(c, Error(Errc::unavailable, err)));
    if (remove) return reply(success(c, status, json::object{{"id", id}, {"_deleted", true}}));
    auto* d = svc_.directory().find(kind, id);
    if (!d) return reply(failure(c, Error(Errc::not_found, "bad identifier")));
    json::object out = kind == "conference" ? conference_json(*d, svc_.room(id), opts_.node,
                                                              svc_.now(), svc_.bad_pin_attempts(id))
                                            : public_doc(*d);
    for (auto& [k, v] : extra) out[k] = v;
    reply(success(c, status, std::move(out), revision_tag(*d)));
  };
}

}  // namespace confab::api::kazoo
