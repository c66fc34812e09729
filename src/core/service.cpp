#include "core/service.hpp"

#include "core/conference_doc.hpp"
#include "core/crypto.hpp"
#include "core/error.hpp"
#include "core/identity.hpp"

#include <boost/json.hpp>

namespace confab::core {
namespace json = boost::json;

namespace {

void copy_private(const json::object& from, json::object& to) {
  for (auto& [k, v] : from)
    if (k.starts_with("pvt_")) to[k] = v;
}

std::string str_field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

const json::object& as_patch(const json::value& data) {
  if (!data.is_object()) throw field_error("data", "type", "Value did not match type(s): object");
  return data.as_object();
}

}  // namespace

ConferenceService::ConferenceService(EventSink& sink, Clock clock, std::string secret,
                                     ServiceConfig cfg)
    : sink_(sink), clock_(std::move(clock)), secret_(std::move(secret)), cfg_(cfg) {}

std::string ConferenceService::new_id() const { return random_hex(16); }
std::string ConferenceService::new_api_key() const { return random_hex(32); }
std::string ConferenceService::keyed_hash(std::string_view s) const {
  return hmac_sha256_hex(secret_, s);
}

std::vector<UniqueKey> ConferenceService::keys_for(const Doc& d) const {
  std::vector<UniqueKey> keys;
  if (d.kind == "conference") {
    for (auto& n : conference_numbers(d.body)) keys.push_back({"numbers", n, {}});
  } else if (d.kind == "user") {
    if (auto u = str_field(d.body, "username"); !u.empty()) keys.push_back({"username", u, {}});
    if (auto e = str_field(d.body, "extension"); !e.empty()) keys.push_back({"extension", e, {}});
  } else if (d.kind == "account") {
    keys.push_back({"name", lower(str_field(d.body, "name")), "accounts"});
  }
  return keys;
}

void ConferenceService::load(Doc d) {
  auto keys = keys_for(d);
  dir_.load(std::move(d), std::move(keys));
}

const Doc& ConferenceService::get(std::string_view kind, std::string_view account_id,
                                  std::string_view id) const {
  auto* d = dir_.find(kind, id);
  if (!d || d->account_id != account_id)
    throw Error(Errc::not_found, "bad identifier", json::object{{"cause", id}});
  return *d;
}

PendingWrite ConferenceService::prepare(std::string_view kind, std::string_view account_id,
                                        std::string_view id, WriteMode mode,
                                        const json::value& data) {
  if (!dir_.find("account", account_id))
    throw Error(Errc::not_found, "bad identifier", json::object{{"cause", account_id}});
  const Doc* old = mode == WriteMode::create ? nullptr : &get(kind, account_id, id);
  if (mode == WriteMode::remove) return dir_.begin(*old, true, keys_for(*old));

  json::value input = data;
  if (mode == WriteMode::patch) input = merge_patch(strip_private(old->body), as_patch(data));

  Doc d;
  d.kind = std::string(kind);
  d.account_id = std::string(account_id);
  d.id = old ? old->id : new_id();
  d.revision = old ? old->revision + 1 : 1;
  if (kind == "conference") {
    d.body = validate_conference(input);
  } else if (kind == "user") {
    auto u = validate_user(input);
    d.body = std::move(u.doc);
    auto username = str_field(d.body, "username");
    if (old) copy_private(old->body, d.body);
    if (!u.password.empty()) {
      if (username.empty())
        throw field_error("username", "required", "A username is required to set a password");
      d.body["pvt_credentials"] = keyed_hash(user_credentials(username, u.password));
    } else if (old && username != str_field(old->body, "username") &&
               old->body.contains("pvt_credentials")) {
      throw field_error("password", "required", "A new password is required to change username");
    }
  } else if (kind == "account") {
    d.body = validate_account(input);
    d.account_id = d.id;
  } else {
    throw Error(Errc::not_found, "bad identifier", json::object{{"cause", kind}});
  }
  if (old) copy_private(old->body, d.body);
  d.body["pvt_created"] = old ? old->body.at("pvt_created") : json::value(now());
  d.body["pvt_modified"] = now();
  return dir_.begin(std::move(d), false, keys_for(d));
}

PendingWrite ConferenceService::prepare_account(const json::value& data, bool admin,
                                                std::string& api_key) {
  Doc d;
  d.kind = "account";
  d.id = new_id();
  d.account_id = d.id;
  d.revision = 1;
  d.body = validate_account(data);
  api_key = new_api_key();
  d.body["pvt_api_key_hash"] = keyed_hash(api_key);
  d.body["pvt_superduper_admin"] = admin;
  d.body["pvt_created"] = now();
  d.body["pvt_modified"] = now();
  auto keys = keys_for(d);
  return dir_.begin(std::move(d), false, std::move(keys));
}

void ConferenceService::commit(const PendingWrite& w) {
  dir_.commit(w);
  if (w.remove && w.doc.kind == "conference") end_room(w.doc.id, "conference deleted");
}

std::string ConferenceService::auth_api_key(std::string_view api_key, TokenClaims* out) const {
  auto* acct = api_key.empty() ? nullptr
                               : dir_.find_account_by("pvt_api_key_hash", keyed_hash(api_key));
  if (!acct) throw Error(Errc::unauthorized, "invalid credentials");
  TokenClaims c{acct->id, {}, now() + cfg_.token_ttl_seconds, "api_key"};
  if (out) *out = c;
  return issue_token(secret_, c);
}

std::string ConferenceService::auth_user(std::string_view credentials,
                                         std::string_view account_name, TokenClaims* out) const {
  // Kazoo account names match case-insensitively; accounts are few and this runs only on login.
  const Doc* acct = nullptr;
  auto want = lower(account_name);
  for (auto* a : dir_.all("account"))
    if (lower(str_field(a->body, "name")) == want) acct = a;
  if (!acct || credentials.empty()) throw Error(Errc::unauthorized, "invalid credentials");
  auto* user = dir_.find_by("user", acct->id, "pvt_credentials", keyed_hash(lower(credentials)));
  if (!user) throw Error(Errc::unauthorized, "invalid credentials");
  TokenClaims c{acct->id, user->id, now() + cfg_.token_ttl_seconds, "user_auth"};
  if (out) *out = c;
  return issue_token(secret_, c);
}

TokenClaims ConferenceService::verify(std::string_view token) const {
  auto c = verify_token(secret_, token, now());
  if (!dir_.find("account", c.account_id)) throw Error(Errc::unauthorized, "invalid credentials");
  if (!c.user_id.empty() && !dir_.find("user", c.user_id))
    throw Error(Errc::unauthorized, "invalid credentials");
  return c;
}

bool ConferenceService::is_admin_account(std::string_view account_id) const {
  auto* a = dir_.find("account", account_id);
  if (!a) return false;
  auto* v = a->body.if_contains("pvt_superduper_admin");
  return v && v->is_bool() && v->as_bool();
}

void ConferenceService::authorize(const TokenClaims& c, std::string_view account_id, Access a,
                                  std::string_view owner) const {
  auto forbidden = [] { return Error(Errc::forbidden, "forbidden"); };
  bool admin_account = is_admin_account(c.account_id);
  bool user_admin = true;
  if (!c.user_id.empty()) {
    auto* u = dir_.find("user", c.user_id);
    user_admin = u && str_field(u->body, "priv_level") == "admin";
  }
  if (a == Access::manage_accounts) {
    if (!admin_account || !user_admin) throw forbidden();
    return;
  }
  if (c.account_id != account_id && !admin_account) throw forbidden();
  if (a == Access::write && !user_admin && (owner.empty() || owner != c.user_id)) throw forbidden();
}

// --- live rooms --------------------------------------------------------------------------

const Room* ConferenceService::room(std::string_view conference_id) const {
  auto it = rooms_.find(conference_id);
  return it == rooms_.end() ? nullptr : it->second.get();
}

Room& ConferenceService::live_room(std::string_view account_id, std::string_view conference_id) {
  get("conference", account_id, conference_id);
  auto it = rooms_.find(conference_id);
  if (it == rooms_.end())
    throw Error(Errc::not_found, "conference is not running",
                json::object{{"cause", conference_id}});
  return *it->second;
}

void ConferenceService::emit(std::vector<Event>& events) {
  for (auto& e : events) sink_.publish(e);
  events.clear();
}

ParticipantView ConferenceService::join(std::string_view account_id,
                                        std::string_view conference_id, const JoinRequest& req) {
  auto& doc = get("conference", account_id, conference_id);
  auto t = now();
  auto caller = std::make_pair(std::string(conference_id),
                               req.number.empty() ? std::string("anonymous") : req.number);
  auto& fails = pin_failures_[caller];
  if (fails.count >= cfg_.max_pin_attempts) {
    if (t - fails.last < cfg_.pin_lockout_seconds)
      throw Error(Errc::too_many_attempts, "too many wrong PINs from this caller",
                  json::object{{"retry_after", cfg_.pin_lockout_seconds - (t - fails.last)}});
    fails = {};
  }
  Role role;
  try {
    role = resolve_role(doc.body, req);
  } catch (Error& e) {
    if (e.code != Errc::bad_pin) throw;
    ++fails.count;
    fails.last = t;
    ++bad_pins_[std::string(conference_id)];
    e.details["attempts_remaining"] = std::max(0, cfg_.max_pin_attempts - fails.count);
    throw;
  }
  pin_failures_.erase(caller);

  auto it = rooms_.find(conference_id);
  bool created = it == rooms_.end();
  if (created) {
    auto name = str_field(doc.body, "name");
    it = rooms_
             .emplace(std::string(conference_id),
                      std::make_unique<Room>(std::string(account_id), std::string(conference_id),
                                             name, random_hex(16), t))
             .first;
  }
  auto& room = *it->second;
  std::string call_id = req.call_id.empty() ? random_hex(16) : req.call_id;
  for (auto& p : room.participants())
    if (p.call_id == call_id)
      throw Error(Errc::conflict, "call_id already in this conference",
                  json::object{{"cause", call_id}});
  std::vector<Event> events;
  try {
    auto p = room.join(doc.body, role, req, std::move(call_id), t, events);
    emit(events);
    return p;
  } catch (...) {
    if (created) rooms_.erase(it);
    throw;
  }
}

void ConferenceService::leave(std::string_view account_id, std::string_view conference_id,
                              int participant_id, std::string_view reason) {
  auto& room = live_room(account_id, conference_id);
  std::vector<Event> events;
  room.leave(participant_id, reason, now(), events);
  if (room.participants().empty()) rooms_.erase(rooms_.find(conference_id));
  emit(events);
}

void ConferenceService::conference_action(std::string_view account_id,
                                          std::string_view conference_id,
                                          std::string_view action) {
  if (action != "lock" && action != "unlock")
    throw Error(Errc::unknown_action, "unknown action: " + std::string(action));
  auto& room = live_room(account_id, conference_id);
  std::vector<Event> events;
  room.set_locked(action == "lock", now(), events);
  emit(events);
}

void ConferenceService::participants_action(std::string_view account_id,
                                            std::string_view conference_id,
                                            std::string_view action) {
  if (!is_participant_action(action))
    throw Error(Errc::unknown_action, "unknown action: " + std::string(action));
  auto& room = live_room(account_id, conference_id);
  std::vector<Event> events;
  room.act_all(action, now(), events);
  if (room.participants().empty()) rooms_.erase(rooms_.find(conference_id));
  emit(events);
}

void ConferenceService::participant_action(std::string_view account_id,
                                           std::string_view conference_id, int participant_id,
                                           std::string_view action) {
  if (!is_participant_action(action))
    throw Error(Errc::unknown_action, "unknown action: " + std::string(action));
  auto& room = live_room(account_id, conference_id);
  std::vector<Event> events;
  room.act(participant_id, action, now(), events);
  if (room.participants().empty()) rooms_.erase(rooms_.find(conference_id));
  emit(events);
}

void ConferenceService::end_room(const std::string& conference_id, std::string_view reason) {
  auto it = rooms_.find(conference_id);
  if (it == rooms_.end()) return;
  std::vector<Event> events;
  std::vector<int> ids;
  for (auto& p : it->second->participants()) ids.push_back(p.participant_id);
  for (int id : ids) it->second->leave(id, reason, now(), events);
  rooms_.erase(it);
  emit(events);
}

int ConferenceService::bad_pin_attempts(std::string_view conference_id) const {
  auto it = bad_pins_.find(std::string(conference_id));
  return it == bad_pins_.end() ? 0 : it->second;
}

}  // namespace confab::core
