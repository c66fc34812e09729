#include "core/service.hpp"

#include "core/calls.hpp"
#include "core/conference_doc.hpp"
#include "core/crypto.hpp"
#include "core/error.hpp"
#include "core/field_errors.hpp"
#include "core/identity.hpp"
#include "core/json_util.hpp"
#include "core/media_doc.hpp"
#include "core/muc.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace confab::core {
namespace json = boost::json;

namespace {

void copy_private(const json::object& from, json::object& to) {
  for (auto& [k, v] : from)
    if (k.starts_with("pvt_")) to[k] = v;
}

// Every document, of every kind, is bounded as stored: its fields each have their limits, and
// together they may not exceed the document's.
void check_storable(const json::object& body) {
  Report r;
  check_stored_size(r, body);
  r.throw_if_any();
}

// What a caller says of itself when it joins, from any face: ids, names and numbers are lines
// within their limits. The faces check their own names for these first; this holds for all.
void check_join(const JoinRequest& j) {
  using limits::kCallIdBytes, limits::kDisplayBytes, limits::kIdBytes, limits::kNumberBytes;
  require_text("name", j.name, 0, kDisplayBytes);
  require_text("number", j.number, 0, kNumberBytes);
  require_text("dialed", j.dialed, 0, kNumberBytes);
  require_text("pin", j.pin, 0, limits::kPinDigits);
  if (!std::all_of(j.pin.begin(), j.pin.end(), [](char c) { return c >= '0' && c <= '9'; }))
    throw field_error("pin", "pattern", "Failed to match pattern '^[0-9]+$'");
  require_text("call_id", j.call_id, 0, kCallIdBytes);
  require_text("user_id", j.user_id, 0, kIdBytes);
  require_text("socket_id", j.socket_id, 0, kIdBytes);
}

const json::object& as_patch(const json::value& data) {
  if (!data.is_object()) throw field_error("data", "type", "Value did not match type(s): object");
  return data.as_object();
}

}  // namespace

ConferenceService::ConferenceService(EventSink& sink, Clock clock, std::string secret,
                                     ServiceConfig cfg)
    : sink_(sink),
      clock_(std::move(clock)),
      secret_(std::move(secret)),
      cfg_(cfg),
      pins_([&] {
        auto p = cfg.pins;
        p.caller_attempts = cfg.max_pin_attempts;
        p.caller_lockout_s = cfg.pin_lockout_seconds;
        return p;
      }()),
      logins_(cfg.logins) {}

std::string ConferenceService::new_id() const {
  return random_hex(16);
}
std::string ConferenceService::new_api_key() const {
  return random_hex(32);
}
std::string ConferenceService::keyed_hash(std::string_view s) const {
  return hmac_sha256_hex(secret_, s);
}

std::vector<UniqueKey> ConferenceService::keys_for(const Doc& d) const {
  std::vector<UniqueKey> keys;
  auto tag = [&](std::string field, std::string value, std::string scope = {}) {
    if (!value.empty())
      keys.push_back({std::move(field), std::move(value), std::move(scope), false});
  };
  if (d.kind == "conference") {
    for (auto& n : conference_numbers(d.body)) keys.push_back({"numbers", n, {}, true});
    tag("hub_id", str_field(d.body, "hub_id"));
  } else if (d.kind == "user") {
    auto u = str_field(d.body, "username");
    if (!u.empty()) keys.push_back({"username", u, {}, true});
    if (auto e = str_field(d.body, "extension"); !e.empty())
      keys.push_back({"extension", e, {}, true});
    tag("pvt_credentials", str_field(d.body, "pvt_credentials"));
    tag("username", u, kLogins);  // XiVO logs in by username, across accounts
  } else if (d.kind == "account") {
    keys.push_back({"name", lower(str_field(d.body, "name")), kAccounts, true});
    tag("pvt_api_key_hash", str_field(d.body, "pvt_api_key_hash"), kAccounts);
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
                                        const json::value& data, const TokenClaims* actor) {
  if (!dir_.find("account", account_id))
    throw Error(Errc::not_found, "bad identifier", json::object{{"cause", account_id}});
  const Doc* old = mode == WriteMode::create ? nullptr : &get(kind, account_id, id);
  if (mode == WriteMode::remove) return dir_.begin(*old, true, keys_for(*old));

  // A patch is merged first; anything else is validated as it came (never copied before it is
  // found within its limits).
  json::value merged;
  if (mode == WriteMode::patch) merged = merge_patch(strip_private(old->body), as_patch(data));
  const json::value& input = mode == WriteMode::patch ? merged : data;

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
    // A user with priv_level "user" may edit itself, but never raise its own privilege.
    auto before = old ? str_field(old->body, "priv_level") : std::string("user");
    if (actor && !is_admin_user(*actor) && str_field(d.body, "priv_level") != before)
      throw Error(
          Errc::forbidden, "only an admin may change priv_level",
          json::object{
              {"priv_level",
               json::object{{"forbidden",
                             json::object{{"message", "only an admin may change priv_level"}}}}}});
    if (old) copy_private(old->body, d.body);  // before the new credentials replace the old
    if (!u.password.empty()) {
      if (username.empty())
        throw field_error("username", "required", "A username is required to set a password");
      d.body["pvt_credentials"] = keyed_hash(user_credentials(username, u.password));
    } else if (old && username != str_field(old->body, "username") &&
               old->body.contains("pvt_credentials")) {
      throw field_error("password", "required", "A new password is required to change username");
    }
  } else if (kind == "hub") {
    d.body = validate_hub(input);
  } else if (kind == "media") {
    d.body = validate_media(input, old ? &old->body : nullptr, actor == nullptr);
  } else if (kind == "recording") {
    if (actor) throw Error(Errc::forbidden, "recordings are made by the server, not by clients");
    d.body = validate_recording(input);
  } else if (kind == "account") {
    d.body = validate_account(input);
    d.account_id = d.id;
  } else {
    throw Error(Errc::not_found, "bad identifier", json::object{{"cause", kind}});
  }
  if (old && kind != "user") copy_private(old->body, d.body);
  d.body["pvt_created"] = old ? old->body.at("pvt_created") : json::value(now());
  d.body["pvt_modified"] = now();
  check_storable(d.body);
  auto keys = keys_for(d);
  return dir_.begin(std::move(d), false, std::move(keys));
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
  check_storable(d.body);
  auto keys = keys_for(d);
  return dir_.begin(std::move(d), false, std::move(keys));
}

void ConferenceService::commit(const PendingWrite& w) {
  // A changed room subject or description is news for the room's chat.
  json::value before_muc = nullptr;
  if (auto* old = dir_.find(w.doc.kind, w.doc.id); old && w.doc.kind == "conference")
    if (auto* m = old->body.if_contains("muc")) before_muc = *m;
  dir_.commit(w);
  if (w.doc.kind == "conference") {
    // Lists of conferences (XiVO's ConferenceList) follow documents, not only rooms.
    Event u;
    u.type = EventType::conference_update;
    u.account_id = w.doc.account_id;
    u.conference_id = w.doc.id;
    u.conference_name = str_field(w.doc.body, "name");
    u.detail = w.remove ? "delete" : w.doc.revision == 1 ? "create" : "update";
    u.time = now();
    sink_.publish(u);
  }
  if (w.doc.kind == "conference" && !w.remove) {
    auto* m = w.doc.body.if_contains("muc");
    auto pick = [](const json::value* muc, std::string_view k) -> json::value {
      if (!muc || !muc->is_object()) return "";
      auto* v = muc->as_object().if_contains(k);
      return v ? *v : json::value("");
    };
    auto* bm = before_muc.is_null() ? nullptr : &before_muc;
    if (pick(m, "subject") != pick(bm, "subject") ||
        pick(m, "description") != pick(bm, "description")) {
      Event e;
      e.type = EventType::subject_change;
      e.account_id = w.doc.account_id;
      e.conference_id = w.doc.id;
      e.conference_name = str_field(w.doc.body, "name");
      e.time = now();
      e.payload =
          json::object{{"subject", pick(m, "subject")}, {"description", pick(m, "description")}};
      sink_.publish(e);
    }
  }
  if (w.remove && w.doc.kind == "conference") end_room(w.doc.id, "conference deleted");
  settle_hub_room(w, w.doc.id);
}

void ConferenceService::abort(const PendingWrite& w) {
  dir_.abort(w);
  settle_hub_room(w, {});
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
  ++batch_;
  for (auto& e : events) {
    e.batch = batch_;
    // Which rooms each socket is in, kept from the membership events themselves (every join and
    // every leave emits one), so that a closing socket finds its rooms without a scan.
    if (e.participant && !e.participant->socket_id.empty()) {
      auto& sock = e.participant->socket_id;
      if (e.type == EventType::add_member) {
        socket_rooms_[sock].insert(e.conference_id);
      } else if (e.type == EventType::del_member) {
        if (auto it = socket_rooms_.find(sock); it != socket_rooms_.end()) {
          it->second.erase(e.conference_id);
          if (it->second.empty()) socket_rooms_.erase(it);
        }
      }
    }
    sink_.publish(e);
  }
  events.clear();
}

Admission ConferenceService::admit(std::string_view account_id, const Doc& conf,
                                   const JoinRequest& req) {
  Admission adm;
  // Who is this? A user joining as themselves, or a caller whose number is a user's extension.
  const Doc* user = nullptr;
  if (!req.user_id.empty()) {
    user = dir_.find("user", req.user_id);
    if (!user || user->account_id != account_id)
      throw Error(Errc::not_found, "bad identifier", json::object{{"cause", req.user_id}});
  } else if (!req.number.empty()) {
    user = user_by_extension(account_id, req.number);
  }
  if (user) {
    adm.user_id = user->id;
    adm.username = str_field(user->body, "username");
    if (adm.username.empty())
      adm.username = str_field(user->body, "first_name") + " " + str_field(user->body, "last_name");
  }
  adm.affiliation = affiliation_of(conf.body, adm.user_id);

  // Refusals by affiliation come before any PIN question: an outcast is told it is banned.
  if (adm.affiliation == Affiliation::outcast || (req.pin.empty() && !req.role))
    check_admission(conf.body, adm.affiliation, false);
  bool pin_proved = false;
  if (req.role) {
    adm.role = *req.role;  // an accepted invitation names the role
  } else if (!req.pin.empty()) {
    adm.role = resolve_role(conf.body, req);  // a PIN given is always checked, and counts
    pin_proved = true;
  } else if (!req.user_id.empty() && adm.affiliation >= Affiliation::member) {
    // An affiliated user joining as themselves needs no PIN: the affiliation is the proof.
    adm.role = adm.affiliation >= Affiliation::admin ? Role::moderator : Role::member;
  } else {
    adm.role = resolve_role(conf.body, req);
  }
  if (req.first_is_host && !room(conf.id)) adm.role = Role::moderator;
  check_admission(conf.body, adm.affiliation, pin_proved || req.role.has_value());
  auto muc = initial_role(muc_config(conf.body), adm.affiliation, adm.role == Role::moderator);
  if (muc == MucRole::moderator) adm.role = Role::moderator;
  adm.voice = muc != MucRole::visitor;
  return adm;
}

const Doc* ConferenceService::conference_by_number(std::string_view account_id,
                                                   std::string_view number) const {
  return dir_.owner("conference", account_id, {"numbers", std::string(number), {}, true});
}

const Doc* ConferenceService::user_by_extension(std::string_view account_id,
                                                std::string_view extension) const {
  return dir_.owner("user", account_id, {"extension", std::string(extension), {}, true});
}

Admission ConferenceService::admit_caller(std::string_view account_id,
                                          std::string_view conference_id, const JoinRequest& req) {
  check_join(req);
  auto& doc = get("conference", account_id, conference_id);
  auto t = now();
  auto who = !req.number.empty()    ? req.number
             : !req.user_id.empty() ? "user:" + req.user_id
             : !req.source.empty()  ? "from:" + req.source
                                    : std::string("anonymous");
  PinCaller caller{who, {}};
  if (!req.source.empty()) caller.sources.push_back("addr:" + req.source);
  if (!req.principal.empty()) caller.sources.push_back("token:" + req.principal);
  // The caller's own lockout holds for every try (Kazoo: the fourth is refused even with the
  // right PIN); the source and conference throttles only for tries that guess a PIN, so that
  // a guesser cannot keep members of a room out that they join without one.
  if (auto r = pins_.check(conference_id, caller, t);
      r && (r->scope == "caller" || !req.pin.empty())) {
    pins_.count_refusal(*r);
    std::string why = r->scope == "caller"   ? "too many wrong PINs from this caller"
                      : r->scope == "source" ? "too many wrong PINs from this source"
                                             : "too many wrong PINs for this conference";
    throw Error(Errc::too_many_attempts, std::move(why),
                json::object{{"retry_after", r->retry_after}, {"scope", r->scope}});
  }
  Admission adm;
  try {
    adm = admit(account_id, doc, req);
  } catch (Error& e) {
    if (e.code != Errc::bad_pin) throw;
    ++bad_pins_[std::string(conference_id)];
    e.details["attempts_remaining"] = pins_.failed(conference_id, caller, t);
    throw;
  }
  if (!req.pin.empty()) pins_.succeeded(conference_id, caller, t);
  return adm;
}

ParticipantView ConferenceService::join(std::string_view account_id, std::string_view conference_id,
                                        const JoinRequest& req) {
  auto& doc = get("conference", account_id, conference_id);
  if (!req.socket_id.empty())
    if (auto* r = room(conference_id))
      if (auto* p = r->find_socket(req.socket_id)) return *p;
  auto adm = admit_caller(account_id, conference_id, req);
  auto t = now();

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
  if (room.find_call(call_id))
    throw Error(Errc::conflict, "call_id already in this conference",
                json::object{{"cause", call_id}});
  std::vector<Event> events;
  try {
    auto p = room.join(doc.body, adm, req, std::move(call_id), t, events);
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
  finish(conference_id, events);
}

bool ConferenceService::leave_socket(std::string_view account_id, std::string_view conference_id,
                                     std::string_view socket_id, std::string_view reason) {
  get("conference", account_id, conference_id);
  auto* r = room(conference_id);
  auto* p = r ? r->find_socket(socket_id) : nullptr;
  if (!p) return false;
  leave(account_id, conference_id, p->participant_id, reason);
  return true;
}

void ConferenceService::conference_action(std::string_view account_id,
                                          std::string_view conference_id, std::string_view action,
                                          const json::value& data) {
  if (action != "lock" && action != "unlock" && action != "play" && action != "record")
    throw Error(Errc::unknown_action, "unknown action: " + std::string(action));
  auto& room = live_room(account_id, conference_id);
  std::vector<Event> events;
  if (action == "play")
    room.play(nullptr, media_payload(account_id, data), now(), events);
  else if (action == "record")
    room.set_recording(record_switch(data), now(), events);
  else
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
  // Kazoo: bulk mute/deaf pass over moderators; bulk kick takes everyone.
  room.act_all(nullptr, action, action != "kick", 0, now(), events);
  finish(conference_id, events);
}

void ConferenceService::relate(std::string_view account_id, std::string_view conference_id,
                               int participant_id, int other, std::string_view relationship) {
  auto& room = live_room(account_id, conference_id);
  std::vector<Event> events;
  room.relate(participant_id, other, relationship, now(), events);
  emit(events);
}

void ConferenceService::participant_action(std::string_view account_id,
                                           std::string_view conference_id, int participant_id,
                                           std::string_view action, const json::value& data) {
  if (!is_participant_action(action) && action != "play")
    throw Error(Errc::unknown_action, "unknown action: " + std::string(action));
  auto& room = live_room(account_id, conference_id);
  std::vector<Event> events;
  if (action == "play") {
    auto* p = room.find(participant_id);
    if (!p)
      throw Error(Errc::not_found, "participant not found",
                  json::object{{"cause", std::to_string(participant_id)}});
    room.play(p, media_payload(account_id, data), now(), events);
    emit(events);
    return;
  }
  room.act(nullptr, participant_id, action, now(), events);
  finish(conference_id, events);
}

// Publishes a change's events, and forgets the room if it emptied.
void ConferenceService::finish(std::string_view conference_id, std::vector<Event>& events) {
  auto it = rooms_.find(conference_id);
  bool ended = it != rooms_.end() && it->second->participants().empty();
  if (ended) {
    emptied_[std::string(conference_id)] = now();
    rooms_.erase(it);
  }
  emit(events);
  if (ended) room_ended(std::string(conference_id));
}

int ConferenceService::add_room_end_listener(RoomEndListener f) {
  room_end_[next_listener_] = std::move(f);
  return next_listener_++;
}

void ConferenceService::remove_room_end_listener(int id) {
  room_end_.erase(id);
}

void ConferenceService::room_ended(const std::string& conference_id) {
  for (auto& [id, f] : room_end_) f(conference_id);
}

void ConferenceService::act_as(std::string_view account_id, std::string_view conference_id,
                               std::string_view user_id, std::string_view action, int target) {
  get("conference", account_id, conference_id);
  auto it = rooms_.find(conference_id);
  if (it == rooms_.end())  // nobody is in it, so neither is the actor
    throw Error(Errc::not_a_member, "you are not in this conference",
                json::object{{"cause", conference_id}});
  auto& room = *it->second;
  const ParticipantView* actor = room.find_user(user_id);
  if (!actor)
    throw Error(Errc::not_a_member, "you are not in this conference",
                json::object{{"cause", conference_id}});
  auto me = *actor;  // the room changes under the pointer
  std::vector<Event> events;
  auto t = now();
  if (action == "mute_me" || action == "unmute_me") {
    room.act(&me, me.participant_id, action == "mute_me" ? "mute" : "unmute", t, events);
    return finish(conference_id, events);
  }
  if (!me.is_moderator)
    throw Error(Errc::not_organizer, "only an organizer may do this",
                json::object{{"cause", std::string(action)}});
  if (action == "mute_all" || action == "unmute_all") {
    room.act_all(&me, action == "mute_all" ? "mute" : "unmute", false, me.participant_id, t,
                 events);
  } else if (action == "close") {
    room.act_all(&me, "kick", false, 0, t, events);
  } else if (is_participant_action(action)) {
    auto* p = room.find(target);
    if (!p)
      throw Error(Errc::not_found, "participant not found",
                  json::object{{"cause", std::to_string(target)}});
    if (action == "kick" && p->is_moderator && p->participant_id != me.participant_id)
      throw Error(Errc::cannot_kick_organizer, "an organizer cannot be kicked",
                  json::object{{"cause", std::to_string(target)}});
    room.act(&me, target, action, t, events);
  } else {
    throw Error(Errc::unknown_action, "unknown action: " + std::string(action));
  }
  finish(conference_id, events);
}

void ConferenceService::media_talking(std::string_view conference_id, int participant_id,
                                      bool talking, int energy) {
  auto it = rooms_.find(conference_id);
  if (it == rooms_.end()) return;
  std::vector<Event> events;
  it->second->set_talking(participant_id, talking, energy, now(), events);
  emit(events);
}

void ConferenceService::media_energy(std::string_view conference_id, int participant_id,
                                     int energy) {
  if (auto it = rooms_.find(conference_id); it != rooms_.end())
    it->second->set_energy(participant_id, energy);
}

void ConferenceService::media_floor(std::string_view conference_id, int participant_id) {
  auto it = rooms_.find(conference_id);
  if (it == rooms_.end()) return;
  std::vector<Event> events;
  it->second->set_floor(participant_id, now(), events);
  emit(events);
}

void ConferenceService::media_dtmf(std::string_view conference_id, int participant_id, char digit) {
  auto it = rooms_.find(conference_id);
  if (it == rooms_.end()) return;
  auto* p = it->second->find(participant_id);
  if (!p) return;
  auto e = it->second->make_event(EventType::dtmf, now(), p, std::string(1, digit));
  sink_.publish(e);
}

void ConferenceService::close(std::string_view account_id, std::string_view conference_id,
                              std::string_view reason) {
  get("conference", account_id, conference_id);
  end_room(std::string(conference_id), reason);
}

std::vector<std::pair<std::string, int>> ConferenceService::participations(
    std::string_view socket_id) const {
  std::vector<std::pair<std::string, int>> out;
  auto it = socket_rooms_.find(std::string(socket_id));
  if (it == socket_rooms_.end()) return out;
  for (auto& id : it->second)
    if (auto* r = room(id))
      if (auto* p = r->find_socket(socket_id)) out.emplace_back(id, p->participant_id);
  return out;
}

void ConferenceService::end_room(const std::string& conference_id, std::string_view reason) {
  auto it = rooms_.find(conference_id);
  if (it == rooms_.end()) return;
  std::vector<Event> events;
  it->second->leave_all(reason, now(), events);
  emptied_[conference_id] = now();
  rooms_.erase(it);
  emit(events);
  room_ended(conference_id);
}

void ConferenceService::set_participant_metadata(std::string_view conference_id, int participant_id,
                                                 json::object metadata) {
  auto it = rooms_.find(conference_id);
  if (it == rooms_.end() || !it->second->set_metadata(participant_id, std::move(metadata)))
    throw Error(Errc::not_found, "participant not found",
                json::object{{"cause", std::to_string(participant_id)}});
}

int ConferenceService::bad_pin_attempts(std::string_view conference_id) const {
  auto it = bad_pins_.find(std::string(conference_id));
  return it == bad_pins_.end() ? 0 : it->second;
}

}  // namespace confab::core
