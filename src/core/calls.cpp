#include "core/calls.hpp"

#include "core/conference_doc.hpp"
#include "core/error.hpp"
#include "core/field_errors.hpp"
#include "core/json_util.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace confab::core {
namespace json = boost::json;

namespace {

bool valid_privilege(std::int64_t p) {
  using namespace privilege;
  for (int v : {none, anonymous, read, write, remove, admin, owner})
    if (p == v) return true;
  return false;
}

}  // namespace

int required_privilege(std::string_view s) {
  for (auto n : {"attendee", "join", "leave", "update"})
    if (s == n) return privilege::anonymous;
  for (auto n : {"accept", "broadcast", "decline"})
    if (s == n) return privilege::read;
  for (auto n : {"cancel", "get_caller", "invite", "logCall", "revoke"})
    if (s == n) return privilege::owner;
  throw Error(Errc::not_found, "SERVICE_NOT_FOUND:conference." + std::string(s));
}

json::object validate_hub(const json::value& input) {
  if (!input.is_object()) throw field_error("data", "type", "Value did not match type(s): object");
  json::object doc;
  for (auto& [k, v] : input.as_object())
    if (k != "id" && !k.starts_with("pvt_")) doc[k] = v;
  Report r;
  check_tree(r, doc, "", is_private_key);
  if (!doc.contains("name")) r.fail("name", "required", "Field is required but missing");
  check_string(r, doc, "name", "name", 1, limits::kNameBytes);
  check_string(r, doc, "owner_id", "owner_id", 1, limits::kIdBytes);
  auto priv = [&](const json::value& v, std::string path) {
    if (!v.is_int64() || !valid_privilege(v.as_int64()))
      r.fail(std::move(path), "enum", "Value not found in enumerated list of values",
             json::array{0, 1, 3, 7, 15, 31, 63});
  };
  if (auto* d = doc.if_contains("default_privilege")) priv(*d, "default_privilege");
  if (auto* p = doc.if_contains("privileges")) {
    if (!p->is_object()) {
      r.fail("privileges", "type", "Value did not match type(s): object");
    } else if (p->as_object().size() <= limits::kObjectKeys) {  // over: the general pass said so
      for (auto& [user, v] : p->as_object()) {
        if (text_violation(user, 1, limits::kIdBytes)) {
          r.fail("privileges", "propertyNames",
                 "Keys must be user ids of 1 to " + std::to_string(limits::kIdBytes) +
                     " bytes without control characters",
                 static_cast<std::int64_t>(limits::kIdBytes));
          break;
        }
        priv(v, "privileges." + std::string(user));
      }
    }
  }
  r.throw_if_any();
  if (!doc.contains("default_privilege")) doc["default_privilege"] = privilege::anonymous;
  if (!doc.contains("privileges")) doc["privileges"] = json::object{};
  return doc;
}

std::string hub_of(const Doc& conference) {
  return str_field(conference.body, "hub_id");
}

json::object attendee_view(const Doc& conference) {
  json::object out;
  for (auto& [k, v] : conference.body) {
    if (k.starts_with("pvt_") || k == "bridge_password") continue;
    out[k] = v;
    if ((k == "moderator" || k == "member") && v.is_object()) out[k].as_object().erase("pins");
  }
  return out;
}

Calls::Calls(ConferenceService& svc, EventSink& sink) : svc_(svc), sink_(sink) {
  room_end_listener_ = svc_.add_room_end_listener([this](const std::string& c) { room_ended(c); });
}

Calls::~Calls() {
  svc_.remove_room_end_listener(room_end_listener_);
}

void Calls::room_ended(const std::string& conference_id) {
  std::vector<Invitation> ringing;
  std::erase_if(invitations_, [&](const Invitation& i) {
    if (i.conference_id != conference_id) return false;
    if (!answered_.contains(i.conference_id + "/" + i.callee_user)) ringing.push_back(i);
    return true;
  });
  std::erase_if(answered_,
                [&](const std::string& k) { return k.starts_with(conference_id + "/"); });
  for (auto& inv : ringing) {
    auto e = call_event("cancel", inv);
    e.to_sockets = sockets_of(inv.callee_user);
    if (!inv.caller_user.empty()) e.to_users.push_back(inv.caller_user);
    if (!e.to_sockets.empty() || !e.to_users.empty()) sink_.publish(e);
  }
}

void Calls::connect(SocketInfo s) {
  if (!s.user_id.empty()) by_user_[s.user_id].insert(s.socket_id);
  if (!s.account_id.empty()) by_account_[s.account_id].insert(s.socket_id);
  auto id = s.socket_id;
  sockets_[id] = std::move(s);
}

void Calls::disconnect(const std::string& socket_id) {
  auto it = sockets_.find(socket_id);
  if (it == sockets_.end()) return;
  auto info = it->second;
  sockets_.erase(it);
  if (auto u = by_user_.find(info.user_id); u != by_user_.end()) {
    u->second.erase(socket_id);
    if (u->second.empty()) by_user_.erase(u);
  }
  if (auto a = by_account_.find(info.account_id); a != by_account_.end()) {
    a->second.erase(socket_id);
    if (a->second.empty()) by_account_.erase(a);
  }
  for (auto& [conference, pid] : svc_.participations(socket_id)) {
    auto* room = svc_.room(conference);
    if (!room) continue;
    auto account = room->account_id();  // a copy: leaving may end the room
    try {
      svc_.leave(account, conference, pid, "disconnected");
    } catch (const Error&) {
    }
  }
  // Calls placed from this socket stop ringing.
  std::vector<Invitation> gone;
  std::erase_if(invitations_, [&](const Invitation& i) {
    if (i.caller_socket != socket_id) return false;
    gone.push_back(i);
    return true;
  });
  for (auto& inv : gone) {
    auto e = call_event("cancel", inv);
    e.to_sockets = sockets_of(inv.callee_user);
    if (!e.to_sockets.empty()) sink_.publish(e);
  }
}

const SocketInfo* Calls::socket(std::string_view socket_id) const {
  auto it = sockets_.find(socket_id);
  return it == sockets_.end() ? nullptr : &it->second;
}

void Calls::check_socket(std::string_view socket_id, std::string_view user_id) const {
  auto* s = socket(socket_id);
  if (!s) throw Error(Errc::not_found, "unknown socket_id", json::object{{"cause", socket_id}});
  if (s->user_id != user_id) throw Error(Errc::forbidden, "socket_id is not yours");
}

std::vector<std::string> Calls::sockets_of(std::string_view user_id) const {
  auto it = by_user_.find(user_id);
  if (it == by_user_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

int Calls::hub_privilege(std::string_view hub_id, std::string_view user_id) const {
  auto* hub = svc_.directory().find("hub", hub_id);
  if (!hub) throw Error(Errc::not_found, "bad identifier", json::object{{"cause", hub_id}});
  auto dflt = hub->body.if_contains("default_privilege");
  int base = dflt && dflt->is_int64() ? static_cast<int>(dflt->as_int64()) : privilege::anonymous;
  if (user_id.empty()) return base & privilege::anonymous;  // guests are anonymous at most
  if (str_field(hub->body, "owner_id") == user_id) return privilege::owner;
  if (auto* p = hub->body.if_contains("privileges"); p && p->is_object())
    if (auto* v = p->as_object().if_contains(user_id); v && v->is_int64())
      return static_cast<int>(v->as_int64());
  return base;
}

void Calls::check_service(std::string_view hub_id, std::string_view user_id,
                          std::string_view service) const {
  int need = required_privilege(service);
  int have = hub_privilege(hub_id, user_id);
  if ((have & need) != need)
    throw Error(Errc::forbidden, "conference." + std::string(service) + ": PERMISSION_DENIED",
                json::object{{"privilege", have}, {"required", need}});
}

const Doc& Calls::hub_scope(std::string_view service, const TokenClaims* claims,
                            std::string_view conference_id, std::string_view hub_id) const {
  auto bad = [](std::string_view id) {
    return Error(Errc::not_found, "bad identifier", json::object{{"cause", id}});
  };
  const Doc* room = nullptr;
  std::string hub_ref(hub_id);
  if (!conference_id.empty()) {
    room = svc_.directory().find("conference", conference_id);
    if (!room) throw bad(conference_id);
    hub_ref = hub_of(*room);
    // Another account's room is as unknown as a made-up id: nothing tells an outsider it exists.
    if (hub_ref.empty() && claims && claims->account_id != room->account_id)
      throw bad(conference_id);
    if (hub_ref.empty())
      throw Error(Errc::not_found, "the room is not in a hub",
                  json::object{{"cause", conference_id}});
  }
  auto* hub = svc_.directory().find("hub", hub_ref);
  if (!hub) throw bad(hub_ref);
  if (room && room->account_id != hub->account_id) throw bad(conference_id);
  if (claims) svc_.authorize(*claims, hub->account_id, Access::join);
  check_service(hub->id, claims ? claims->user_id : std::string(), service);
  return *hub;
}

std::vector<std::string> Calls::hub_sockets(std::string_view hub_id) const {
  auto* hub = svc_.directory().find("hub", hub_id);
  if (!hub) throw Error(Errc::not_found, "bad identifier", json::object{{"cause", hub_id}});
  std::set<std::string> out;
  for (auto* d : svc_.hub_conferences(hub_id))
    if (auto* room = svc_.room(d->id))
      for (auto& p : room->participants())
        if (p.user_id.empty() && sockets_.contains(p.socket_id)) out.insert(p.socket_id);
  if (auto acct = by_account_.find(hub->account_id); acct != by_account_.end())
    for (auto& id : acct->second)
      if (auto s = sockets_.find(id); s != sockets_.end() && !s->second.user_id.empty() &&
                                      hub_privilege(hub_id, s->second.user_id) != privilege::none)
        out.insert(id);
  return {out.begin(), out.end()};
}

std::string Calls::hub_room_of(std::string_view socket_id) const {
  std::string found;
  for (auto& [conference_id, pid] : svc_.participations(socket_id))
    if (auto* d = svc_.directory().find("conference", conference_id); d && !hub_of(*d).empty())
      found = conference_id;
  return found;
}

std::optional<std::pair<std::string, ParticipantView>> Calls::find_participant(
    std::string_view socket_id, int number, std::string_view conference_id,
    std::string_view hub_id) const {
  if (!socket_id.empty())
    for (auto& [conf, pid] : svc_.participations(socket_id))
      if (auto* p = svc_.room(conf)->find(pid)) return std::pair{conf, *p};
  if (number <= 0) return std::nullopt;
  std::vector<std::string> rooms;
  if (!conference_id.empty()) {
    rooms.emplace_back(conference_id);
  } else {
    for (auto* d : svc_.hub_conferences(hub_id)) rooms.push_back(d->id);
  }
  std::optional<std::pair<std::string, ParticipantView>> found;
  for (auto& id : rooms)
    if (auto* room = svc_.room(id))
      if (auto* p = room->find(number)) {
        if (found) return std::nullopt;  // in two rooms: ambiguous
        found = std::pair{id, *p};
      }
  return found;
}

void Calls::broadcast(std::string_view hub_id, std::string_view from_socket, std::string_view event,
                      const json::value& payload) {
  require_text("event", event, 1, limits::kDisplayBytes);
  require_tree("payload", payload, limits::kMetadataBytes);
  auto* hub = svc_.directory().find("hub", hub_id);
  if (!hub) throw Error(Errc::not_found, "bad identifier", json::object{{"cause", hub_id}});
  Event e;
  e.type = EventType::broadcast;
  e.account_id = hub->account_id;
  e.detail = std::string(event);
  e.time = svc_.now();
  for (auto& s : hub_sockets(hub_id))
    if (s != from_socket) e.to_sockets.push_back(s);
  e.except_socket = std::string(from_socket);
  e.payload = json::object{{"event", event}, {"payload", payload}, {"hub_id", hub_id}};
  sink_.publish(e);
}

std::optional<json::object> Calls::update(std::string_view conference_id,
                                          std::string_view socket_id, std::string_view user_id,
                                          json::object metadata, std::string_view event) {
  require_text("event", event, 0, limits::kDisplayBytes);
  require_tree("metadata", metadata, limits::kMetadataBytes);
  auto* s = socket(socket_id);
  auto* room = svc_.room(conference_id);
  auto* p = room ? room->find_socket(socket_id) : nullptr;
  if (!s || s->user_id != user_id || !p) return std::nullopt;
  metadata["uid"] = user_id;
  svc_.set_participant_metadata(conference_id, p->participant_id, metadata);
  json::object data{{"room_id", conference_id},
                    {"socket_id", socket_id},
                    {"metadata", std::move(metadata)},
                    {"timestamp", svc_.now() * 1000}};
  if (!event.empty()) data["event"] = event;
  Event e = room->make_event(EventType::room_update, svc_.now(), room->find_socket(socket_id),
                             std::string(event));
  auto* d = svc_.directory().find("conference", conference_id);
  std::vector<std::string> to;
  if (auto hub = d ? hub_of(*d) : std::string(); !hub.empty()) {
    to = hub_sockets(hub);
  } else {
    for (auto& q : room->participants())
      if (!q.socket_id.empty()) to.push_back(q.socket_id);
  }
  for (auto& x : to)
    if (x != socket_id) e.to_sockets.push_back(x);
  e.except_socket = std::string(socket_id);
  e.payload = data;
  sink_.publish(e);
  return data;
}

const Invitation* Calls::crossed(std::string_view caller, std::string_view callee) const {
  auto now = svc_.now();
  for (auto it = invitations_.rbegin(); it != invitations_.rend(); ++it)
    if (it->caller_user == callee && it->callee_user == caller &&
        now - it->created < kCrossedCallWindow &&
        !answered_.contains(it->conference_id + "/" + it->callee_user) &&
        svc_.room(it->conference_id))
      return &*it;
  return nullptr;
}

Event Calls::call_event(std::string_view step, const Invitation& inv) const {
  Event e;
  e.type = EventType::call;
  e.detail = std::string(step);
  e.account_id = inv.account_id;
  e.conference_id = inv.conference_id;
  e.time = svc_.now();
  if (auto* d = svc_.directory().find("conference", inv.conference_id))
    e.conference_name = str_field(d->body, "name");
  json::object caller{{"caller_id", inv.caller_socket}, {"uid", inv.caller_user}};
  if (auto* u = svc_.directory().find("user", inv.caller_user)) {
    caller["username"] = str_field(u->body, "username");
    caller["firstname"] = str_field(u->body, "first_name");
    caller["lastname"] = str_field(u->body, "last_name");
    caller["extension"] = str_field(u->body, "extension");
  }
  e.payload = json::object{{"room_id", inv.conference_id},
                           {"nid", inv.conference_id},
                           {"caller", std::move(caller)},
                           {"callee_id", inv.callee_user},
                           {"role", inv.role == Role::moderator ? "Organizer" : "User"},
                           {"metadata", inv.metadata}};
  return e;
}

Calls::Rung Calls::invite(std::string_view account_id, std::string_view conference_id,
                          std::string_view caller_user, std::string_view caller_socket,
                          std::string_view callee_user, Role role, const json::object& metadata,
                          bool organizer_only) {
  require_tree("metadata", metadata, limits::kMetadataBytes);
  svc_.get("conference", account_id, conference_id);
  svc_.get("user", account_id, callee_user);
  if (callee_user == caller_user) throw field_error("guest_id", "invalid", "cannot invite oneself");
  auto* room = svc_.room(conference_id);
  const ParticipantView* me = room ? (caller_socket.empty() ? room->find_user(caller_user)
                                                            : room->find_socket(caller_socket))
                                   : nullptr;
  if (!me) throw Error(Errc::not_a_member, "join the conference before inviting to it");
  if (organizer_only && !me->is_moderator)
    throw Error(Errc::not_organizer, "only an organizer may invite to this conference");
  Rung r;
  r.sockets = sockets_of(callee_user);
  if (r.sockets.empty()) {
    r.offline = true;
    return r;
  }
  forget(conference_id, callee_user);  // a new call replaces an older one to the same room
  Invitation inv{std::string(account_id),
                 std::string(conference_id),
                 std::string(caller_user),
                 std::string(caller_socket),
                 std::string(callee_user),
                 role,
                 svc_.now(),
                 metadata};
  auto e = call_event("invite", inv);
  e.to_sockets = r.sockets;
  invitations_.push_back(std::move(inv));
  sink_.publish(e);
  return r;
}

ParticipantView Calls::accept(std::string_view account_id, std::string_view callee_user,
                              std::string_view socket_id, std::string_view caller_socket,
                              std::string_view conference_id) {
  Invitation* inv = nullptr;
  for (auto it = invitations_.rbegin(); it != invitations_.rend(); ++it)
    if (it->account_id == account_id && it->callee_user == callee_user &&
        (caller_socket.empty() || it->caller_socket == caller_socket) &&
        (conference_id.empty() || it->conference_id == conference_id) &&
        !answered_.contains(it->conference_id + "/" + it->callee_user)) {
      inv = &*it;
      break;
    }
  if (!inv) throw Error(Errc::not_found, "no call is ringing for you");
  if (!svc_.room(inv->conference_id)) {
    forget(inv->conference_id, callee_user);
    throw Error(Errc::not_found, "the call has ended");
  }
  JoinRequest j;
  j.user_id = std::string(callee_user);
  j.socket_id = std::string(socket_id);
  j.role = inv->role;
  if (auto* u = svc_.directory().find("user", callee_user)) {  // caller id for the others
    j.name = str_field(u->body, "first_name") + " " + str_field(u->body, "last_name");
    if (j.name == " ") j.name = str_field(u->body, "username");
    j.name = utf8_prefix(std::move(j.name), limits::kDisplayBytes);
    j.number = str_field(u->body, "extension");
  }
  auto p = svc_.join(account_id, inv->conference_id, j);
  answered_.insert(inv->conference_id + "/" + inv->callee_user);
  auto e = call_event("accept", *inv);
  if (!inv->caller_socket.empty()) e.to_sockets.push_back(inv->caller_socket);
  for (auto& s : sockets_of(callee_user))
    if (s != socket_id) e.to_sockets.push_back(s);
  e.to_users.push_back(inv->caller_user);
  e.except_socket = std::string(socket_id);
  e.payload["participant_id"] = p.participant_id;
  sink_.publish(e);
  return p;
}

void Calls::decline(std::string_view account_id, std::string_view callee_user,
                    std::string_view socket_id, std::string_view caller_socket,
                    std::string_view conference_id) {
  auto it = std::find_if(invitations_.rbegin(), invitations_.rend(), [&](const Invitation& i) {
    return i.account_id == account_id && i.callee_user == callee_user &&
           (caller_socket.empty() || i.caller_socket == caller_socket) &&
           (conference_id.empty() || i.conference_id == conference_id) &&
           !answered_.contains(i.conference_id + "/" + i.callee_user);
  });
  if (it == invitations_.rend()) throw Error(Errc::not_found, "no call is ringing for you");
  auto inv = *it;
  forget(inv.conference_id, callee_user);
  auto e = call_event("decline", inv);
  if (!inv.caller_socket.empty()) e.to_sockets.push_back(inv.caller_socket);
  for (auto& s : sockets_of(callee_user))
    if (s != socket_id) e.to_sockets.push_back(s);
  e.to_users.push_back(inv.caller_user);
  e.except_socket = std::string(socket_id);
  sink_.publish(e);
}

void Calls::cancel(std::string_view account_id, std::string_view conference_id,
                   std::string_view socket_id) {
  svc_.get("conference", account_id, conference_id);
  auto* room = svc_.room(conference_id);
  bool placed = std::any_of(invitations_.begin(), invitations_.end(), [&](const Invitation& i) {
    return i.conference_id == conference_id && i.caller_socket == socket_id;
  });
  if (!placed && !(room && room->find_socket(socket_id)))
    throw Error(Errc::not_a_member, "only someone in the room, or its caller, may cancel it");
  Invitation inv{std::string(account_id),
                 std::string(conference_id),
                 {},
                 std::string(socket_id),
                 {},
                 Role::member,
                 svc_.now(),
                 {}};
  if (auto* s = socket(socket_id)) inv.caller_user = s->user_id;
  auto e = call_event("cancel", inv);
  if (room)
    for (auto& p : room->participants())
      if (!p.socket_id.empty() && p.socket_id != socket_id) e.to_sockets.push_back(p.socket_id);
  for (auto& i : invitations_)
    if (i.conference_id == conference_id)
      for (auto& s : sockets_of(i.callee_user)) e.to_sockets.push_back(s);
  std::sort(e.to_sockets.begin(), e.to_sockets.end());
  e.to_sockets.erase(std::unique(e.to_sockets.begin(), e.to_sockets.end()), e.to_sockets.end());
  e.except_socket = std::string(socket_id);
  std::erase_if(invitations_,
                [&](const Invitation& i) { return i.conference_id == conference_id; });
  std::erase_if(answered_, [&](const std::string& k) {
    return k.starts_with(std::string(conference_id) + "/");
  });
  sink_.publish(e);
  svc_.close(account_id, conference_id, "cancelled");
}

void Calls::revoke(std::string_view account_id, std::string_view conference_id,
                   std::string_view callee_user, std::string_view socket_id) {
  svc_.get("conference", account_id, conference_id);
  auto* room = svc_.room(conference_id);
  if (!room || !room->find_socket(socket_id))
    throw Error(Errc::not_a_member, "join the conference before revoking from it");
  Invitation inv{std::string(account_id),
                 std::string(conference_id),
                 {},
                 std::string(socket_id),
                 std::string(callee_user),
                 Role::member,
                 svc_.now(),
                 {}};
  if (auto* s = socket(socket_id)) inv.caller_user = s->user_id;
  bool known = std::any_of(invitations_.begin(), invitations_.end(), [&](const Invitation& i) {
    return i.conference_id == conference_id && i.callee_user == callee_user;
  });
  auto* joined = room->find_user(callee_user);
  if (!known && !joined)
    throw Error(Errc::not_found, "that user is neither in the room nor called to it",
                json::object{{"cause", callee_user}});
  forget(conference_id, callee_user);
  auto e = call_event("revoke", inv);
  e.to_sockets = sockets_of(callee_user);
  sink_.publish(e);
  if (joined) svc_.leave(account_id, conference_id, joined->participant_id, "revoked");
}

std::optional<Invitation> Calls::caller_of(std::string_view me, std::string_view guest) const {
  for (auto it = invitations_.rbegin(); it != invitations_.rend(); ++it)
    if (it->caller_user == guest && it->callee_user == me && svc_.room(it->conference_id))
      return *it;
  return std::nullopt;
}

std::vector<Invitation> Calls::pending_for(std::string_view callee_user) const {
  std::vector<Invitation> out;
  for (auto& i : invitations_)
    if (i.callee_user == callee_user && !answered_.contains(i.conference_id + "/" + i.callee_user))
      out.push_back(i);
  return out;
}

const Invitation* Calls::ringing(std::string_view callee_user,
                                 std::string_view caller_socket) const {
  for (auto it = invitations_.rbegin(); it != invitations_.rend(); ++it)
    if (it->callee_user == callee_user &&
        (caller_socket.empty() || it->caller_socket == caller_socket) &&
        !answered_.contains(it->conference_id + "/" + it->callee_user))
      return &*it;
  return nullptr;
}

std::string Calls::call_room(std::string_view hub_id, std::string_view socket_id,
                             std::string_view callee_user) const {
  std::set<std::string, std::less<>> called;
  for (auto& inv : pending_for(callee_user)) called.insert(inv.conference_id);
  std::string found;
  for (auto& [conference_id, pid] : svc_.participations(socket_id)) {
    auto* d = svc_.directory().find("conference", conference_id);
    auto* room = svc_.room(conference_id);
    if (d && hub_of(*d) == hub_id &&
        (called.contains(conference_id) || (room && room->find_user(callee_user))))
      found = conference_id;
  }
  return found;
}

void Calls::forget(std::string_view conference_id, std::string_view callee) {
  std::erase_if(invitations_, [&](const Invitation& i) {
    return i.conference_id == conference_id && i.callee_user == callee;
  });
  answered_.erase(std::string(conference_id) + "/" + std::string(callee));
}

}  // namespace confab::core
