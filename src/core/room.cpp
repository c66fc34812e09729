#include "core/room.hpp"

#include "core/error.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <unordered_set>

namespace confab::core {
namespace json = boost::json;

namespace {

bool contains(const json::object& role, std::string_view key, std::string_view value) {
  auto* v = role.if_contains(key);
  if (!v || !v->is_array()) return false;
  for (auto& x : v->as_array())
    if (x.is_string() && x.as_string() == value) return true;
  return false;
}

bool empty_list(const json::object& role, std::string_view key) {
  auto* v = role.if_contains(key);
  return !v || !v->is_array() || v->as_array().empty();
}

const json::object& role_obj(const json::object& doc, std::string_view role) {
  static const json::object empty;
  auto* v = doc.if_contains(role);
  return v && v->is_object() ? v->as_object() : empty;
}

bool flag(const json::object& role, std::string_view key, bool dflt) {
  auto* v = role.if_contains(key);
  return v && v->is_bool() ? v->as_bool() : dflt;
}

}  // namespace

bool is_participant_action(std::string_view a) {
  return a == "mute" || a == "unmute" || a == "deaf" || a == "undeaf" || a == "kick" ||
         a == "voice" || a == "devoice";
}

Role resolve_role(const json::object& doc, const JoinRequest& req) {
  auto& mod = role_obj(doc, "moderator");
  auto& mem = role_obj(doc, "member");
  // The dialled number can fix the role; conference_numbers (or none) leave it to the PIN.
  bool by_number_mod = !req.dialed.empty() && contains(mod, "numbers", req.dialed);
  bool by_number_mem = !req.dialed.empty() && contains(mem, "numbers", req.dialed);
  if (!req.dialed.empty() && !by_number_mod && !by_number_mem &&
      !contains(doc, "conference_numbers", req.dialed))
    throw field_error("dialed", "enum", "Not a number of this conference: " + req.dialed);

  auto pin_ok = [&](const json::object& role) {
    return req.pin.empty() ? empty_list(role, "pins") : contains(role, "pins", req.pin);
  };
  if (by_number_mod) {
    if (pin_ok(mod)) return Role::moderator;
  } else if (by_number_mem) {
    if (pin_ok(mem)) return Role::member;
  } else if (req.pin.empty()) {
    // Without a PIN a caller can only be a member of a room whose member PINs are empty.
    if (empty_list(mem, "pins")) return Role::member;
  } else {
    if (contains(mod, "pins", req.pin)) return Role::moderator;
    if (contains(mem, "pins", req.pin)) return Role::member;
  }
  throw Error(Errc::bad_pin,
              req.pin.empty() ? "a PIN is required to join this conference"
                              : "the PIN does not match this conference",
              json::object{{"pin", json::object{{req.pin.empty() ? "required" : "invalid",
                                                 json::object{{"message", "PIN is not valid"}}}}}});
}

Room::Room(std::string account_id, std::string conference_id, std::string name,
           std::string instance_id, std::int64_t now)
    : account_id_(std::move(account_id)),
      conference_id_(std::move(conference_id)),
      name_(std::move(name)),
      instance_id_(std::move(instance_id)),
      created_(now) {}

int Room::count(Role r) const {
  return static_cast<int>(std::count_if(participants_.begin(), participants_.end(), [&](auto& p) {
    return p.is_moderator == (r == Role::moderator);
  }));
}

// Participants are kept in join order, which is the order of their ids: a binary search.
ParticipantView* Room::at(int id) {
  auto it = std::lower_bound(participants_.begin(), participants_.end(), id,
                             [](const ParticipantView& p, int v) { return p.participant_id < v; });
  return it != participants_.end() && it->participant_id == id ? &*it : nullptr;
}

const ParticipantView* Room::find(int id) const {
  return const_cast<Room*>(this)->at(id);
}

const ParticipantView* Room::find_call(std::string_view call_id) const {
  auto it = by_call_.find(std::string(call_id));
  return it == by_call_.end() ? nullptr : find(it->second);
}

Event Room::make_event(EventType t, std::int64_t now, const ParticipantView* p,
                       std::string detail) const {
  Event e;
  e.type = t;
  e.account_id = account_id_;
  e.conference_id = conference_id_;
  e.conference_name = name_;
  e.instance_id = instance_id_;
  if (p) e.participant = *p;
  e.detail = std::move(detail);
  e.time = now;
  return e;
}

void Room::check_entry(const json::object& doc) const {
  if (locked_) throw Error(Errc::room_locked, "the conference is locked");
  if (auto* m = doc.if_contains("max_participants"); m && m->is_number()) {
    auto max = m->to_number<std::int64_t>();
    if (max > 0 && static_cast<std::int64_t>(participants_.size()) >= max)
      throw Error(Errc::room_full, "the conference is full",
                  json::object{{"max_participants", max}});
  }
}

ParticipantView Room::join(const json::object& doc, const Admission& adm, const JoinRequest& req,
                           std::string call_id, std::int64_t now, std::vector<Event>& out) {
  check_entry(doc);
  auto& cfg = role_obj(doc, adm.role == Role::moderator ? "moderator" : "member");
  ParticipantView p;
  p.participant_id = next_id_++;
  p.call_id = std::move(call_id);
  p.caller_id_name = req.name.empty() ? adm.username : req.name;
  p.caller_id_number = req.number;
  p.is_moderator = adm.role == Role::moderator;
  p.voice = adm.voice || p.is_moderator;
  p.speak = p.voice && !flag(cfg, "join_muted", adm.role == Role::member);
  p.hear = !flag(cfg, "join_deaf", false);
  p.mute_detect = req.mute_detect;
  p.join_time = now;
  p.user_id = adm.user_id;
  p.username = adm.username;
  p.socket_id = req.socket_id;
  p.affiliation = adm.affiliation;
  if (participants_.empty()) out.push_back(make_event(EventType::conference_create, now));
  participants_.push_back(p);
  by_call_[p.call_id] = p.participant_id;
  if (!p.socket_id.empty()) by_socket_[p.socket_id] = p.participant_id;
  if (!p.user_id.empty()) by_user_[p.user_id].insert(p.participant_id);
  out.push_back(make_event(EventType::add_member, now, &p));
  return p;
}

const ParticipantView* Room::find_user(std::string_view user_id) const {
  auto it = by_user_.find(std::string(user_id));
  return it == by_user_.end() ? nullptr : find(*it->second.begin());  // the first to join
}

bool Room::set_talking(int id, bool talking, int energy, std::int64_t now,
                       std::vector<Event>& out) {
  auto* p = at(id);
  if (!p) return false;
  p->current_energy = energy;
  if (p->talking == talking) return true;
  p->talking = talking;
  out.push_back(make_event(talking ? EventType::start_talking : EventType::stop_talking, now, p));
  return true;
}

bool Room::set_energy(int id, int energy) {
  auto* p = at(id);
  if (p) p->current_energy = energy;
  return p != nullptr;
}

bool Room::set_floor(int id, std::int64_t now, std::vector<Event>& out) {
  ParticipantView* next = at(id);
  if (!next || next->floor) return next != nullptr;
  for (auto& p : participants_) p.floor = false;
  next->floor = true;
  out.push_back(make_event(EventType::floor_change, now, next));
  return true;
}

bool Room::holds(const json::object& doc, const ParticipantView& p) const {
  if (p.is_moderator || !flag(doc, "wait_for_moderator", false)) return false;
  return std::none_of(participants_.begin(), participants_.end(),
                      [](const ParticipantView& x) { return x.is_moderator; });
}

const ParticipantView* Room::find_socket(std::string_view socket_id) const {
  auto it = by_socket_.find(std::string(socket_id));
  return it == by_socket_.end() ? nullptr : find(it->second);
}

bool Room::set_metadata(int id, json::object metadata) {
  auto* p = at(id);
  if (p) p->metadata = std::move(metadata);
  return p != nullptr;
}

void Room::leave(int id, std::string_view reason, std::int64_t now, std::vector<Event>& out) {
  if (!at(id))
    throw Error(Errc::not_found, "participant not found",
                json::object{{"cause", std::to_string(id)}});
  remove({id}, reason, false, now, out);
}

void Room::leave_all(std::string_view reason, std::int64_t now, std::vector<Event>& out) {
  std::vector<int> ids;
  ids.reserve(participants_.size());
  for (auto& p : participants_) ids.push_back(p.participant_id);
  remove(ids, reason, false, now, out);
}

// One pass however many leave, so that emptying a big room is linear: each gets its del-member
// (after its kick-member when kicked) in the order given, then the room is compacted once.
void Room::remove(const std::vector<int>& ids, std::string_view reason, bool kicked,
                  std::int64_t now, std::vector<Event>& out) {
  std::unordered_set<int> gone;
  for (int id : ids) {
    auto* p = at(id);
    if (!p || !gone.insert(id).second) continue;
    if (kicked) out.push_back(make_event(EventType::kick_member, now, p));
    out.push_back(make_event(EventType::del_member, now, p, std::string(reason)));
    by_call_.erase(p->call_id);
    if (auto s = by_socket_.find(p->socket_id); s != by_socket_.end() && s->second == id)
      by_socket_.erase(s);
    if (auto u = by_user_.find(p->user_id); u != by_user_.end()) {
      u->second.erase(id);
      if (u->second.empty()) by_user_.erase(u);
    }
  }
  if (gone.empty()) return;
  std::erase_if(participants_,
                [&](const ParticipantView& p) { return gone.contains(p.participant_id); });
  std::erase_if(blocked_,
                [&](const auto& b) { return gone.contains(b.first) || gone.contains(b.second); });
  if (participants_.empty()) out.push_back(make_event(EventType::conference_destroy, now));
}

void Room::relate(int id, int other, std::string_view relationship, std::int64_t now,
                  std::vector<Event>& out) {
  if (relationship != "mute" && relationship != "deaf" && relationship != "reset" &&
      relationship != "clear")
    throw Error(
        Errc::invalid_data, "invalid data",
        json::object{{"relationship",
                      json::object{{"enum", json::object{{"message",
                                                          "Value not found in enumerated list of "
                                                          "values"},
                                                         {"value", json::array{"mute", "deaf",
                                                                               "reset"}}}}}}});
  auto* a = find(id);
  auto* b = find(other);
  if (!a || !b)
    throw Error(Errc::not_found, "participant not found",
                json::object{{"cause", std::to_string(!a ? id : other)}});
  if (id == other) throw field_error("other_participant", "invalid", "a participant with itself");
  if (relationship == "mute")
    blocked_.insert({other, id});
  else if (relationship == "deaf")
    blocked_.insert({id, other});
  else {
    blocked_.erase({other, id});
    blocked_.erase({id, other});
  }
  auto e = make_event(EventType::command, now, a, "relate");
  e.payload = json::object{{"participant_id", id},
                           {"other_participant", other},
                           {"relationship", relationship == "clear" ? "reset" : relationship}};
  out.push_back(std::move(e));
}

std::vector<int> Room::blocked_for(int listener) const {
  std::vector<int> out;
  for (auto it = blocked_.lower_bound({listener, 0}); it != blocked_.end() && it->first == listener;
       ++it)
    out.push_back(it->second);
  return out;
}

bool Room::apply(const ParticipantView* actor, ParticipantView& p, std::string_view a,
                 std::int64_t now, std::vector<Event>& out) {
  // Acting on someone of higher affiliation is refused (XEP-0045), except on oneself.
  if (actor && actor->participant_id != p.participant_id &&
      !may_act_on(actor->affiliation, p.affiliation))
    throw Error(Errc::forbidden, "cannot act on a participant of higher affiliation",
                json::object{{"affiliation", affiliation_name(p.affiliation)}});
  auto set = [&](bool& field, bool value, EventType t) {
    if (field == value) return false;
    field = value;
    out.push_back(make_event(t, now, &p));
    return true;
  };
  if (a == "mute") return set(p.speak, false, EventType::mute_member);
  if (a == "unmute") {
    if (!p.voice)
      throw Error(Errc::forbidden, "a visitor has no voice: grant voice before unmuting",
                  json::object{{"role", "visitor"}});
    return set(p.speak, true, EventType::unmute_member);
  }
  if (a == "deaf") return set(p.hear, false, EventType::deaf_member);
  if (a == "undeaf") return set(p.hear, true, EventType::undeaf_member);
  if (a == "voice") {
    if (p.voice) return false;
    p.voice = true;
    out.push_back(make_event(EventType::role_change, now, &p, "voice"));
    return true;
  }
  if (a == "devoice") {
    if (p.is_moderator)
      throw Error(Errc::forbidden, "a moderator's voice cannot be revoked",
                  json::object{{"role", "moderator"}});
    if (!p.voice) return false;
    set(p.speak, false, EventType::mute_member);
    p.voice = false;
    out.push_back(make_event(EventType::role_change, now, &p, "devoice"));
    return true;
  }
  throw Error(Errc::unknown_action, "unknown action: " + std::string(a));
}

void Room::act(const ParticipantView* actor, int id, std::string_view a, std::int64_t now,
               std::vector<Event>& out) {
  if (!is_participant_action(a))
    throw Error(Errc::unknown_action, "unknown action: " + std::string(a));
  auto* it = at(id);
  if (!it)
    throw Error(Errc::not_found, "participant not found",
                json::object{{"cause", std::to_string(id)}});
  if (a == "kick") {
    if (actor && actor->participant_id != id && !may_act_on(actor->affiliation, it->affiliation))
      throw Error(Errc::forbidden, "cannot act on a participant of higher affiliation",
                  json::object{{"affiliation", affiliation_name(it->affiliation)}});
    out.push_back(make_event(EventType::command, now, it, std::string(a)));
    remove({id}, "kicked", true, now, out);
    return;
  }
  // Validate first, so that a refused action emits nothing at all.
  std::vector<Event> changes;
  auto copy = *it;
  apply(actor, copy, a, now, changes);
  out.push_back(make_event(EventType::command, now, it, std::string(a)));
  *it = copy;
  for (auto& e : changes) out.push_back(std::move(e));
}

void Room::act_all(const ParticipantView* actor, std::string_view a, bool skip_moderators,
                   int except_id, std::int64_t now, std::vector<Event>& out) {
  if (!is_participant_action(a))
    throw Error(Errc::unknown_action, "unknown action: " + std::string(a));
  out.push_back(make_event(EventType::command, now, nullptr, std::string(a)));
  std::vector<int> ids;
  for (auto& p : participants_)
    // Bulk actions pass over those they may not touch (higher affiliation, visitors on unmute)
    // instead of failing half-way.
    if (p.participant_id != except_id && !(skip_moderators && p.is_moderator) &&
        (!actor || may_act_on(actor->affiliation, p.affiliation)))
      ids.push_back(p.participant_id);
  if (a == "kick") return remove(ids, "kicked", true, now, out);
  for (int id : ids) {
    auto* p = at(id);
    if (a == "unmute" && !p->voice) continue;
    if (a == "devoice" && p->is_moderator) continue;
    apply(actor, *p, a, now, out);
  }
}

void Room::play(const ParticipantView* target, json::object payload, std::int64_t now,
                std::vector<Event>& out) {
  auto e = make_event(EventType::command, now, target, "play");
  if (target) payload["participant_id"] = target->participant_id;
  e.payload = std::move(payload);
  out.push_back(std::move(e));
}

void Room::set_recording(bool on, std::int64_t now, std::vector<Event>& out) {
  if (on == recording_)
    throw Error(
        Errc::conflict,
        on ? "the conference is already being recorded" : "the conference is not being recorded",
        json::object{{"cause", conference_id_}});
  recording_ = on;
  auto e = make_event(EventType::command, now, nullptr, "record");
  e.payload = json::object{{"action", on ? "start" : "stop"}};
  out.push_back(std::move(e));
}

void Room::set_locked(bool locked, std::int64_t now, std::vector<Event>& out) {
  out.push_back(make_event(EventType::command, now, nullptr, locked ? "lock" : "unlock"));
  if (locked_ == locked) return;
  locked_ = locked;
  out.push_back(make_event(locked ? EventType::lock : EventType::unlock, now));
}

std::string_view event_name(EventType t) {
  switch (t) {
    case EventType::conference_create:
      return "conference-create";
    case EventType::conference_destroy:
      return "conference-destroy";
    case EventType::add_member:
      return "add-member";
    case EventType::del_member:
      return "del-member";
    case EventType::mute_member:
      return "mute-member";
    case EventType::unmute_member:
      return "unmute-member";
    case EventType::deaf_member:
      return "deaf-member";
    case EventType::undeaf_member:
      return "undeaf-member";
    case EventType::kick_member:
      return "kick-member";
    case EventType::lock:
      return "lock";
    case EventType::unlock:
      return "unlock";
    case EventType::start_talking:
      return "start-talking";
    case EventType::stop_talking:
      return "stop-talking";
    case EventType::floor_change:
      return "floor-change";
    case EventType::command:
      return "command";
    case EventType::role_change:
      return "role-change";
    case EventType::chat_message:
      return "chat-message";
    case EventType::subject_change:
      return "subject-change";
    case EventType::call:
      return "call";
    case EventType::broadcast:
      return "broadcast";
    case EventType::room_update:
      return "room-update";
    case EventType::conference_update:
      return "conference-update";
    case EventType::dtmf:
      return "dtmf";
  }
  return "unknown";
}

bool is_participant_event(EventType t) {
  switch (t) {
    case EventType::add_member:
    case EventType::del_member:
    case EventType::mute_member:
    case EventType::unmute_member:
    case EventType::deaf_member:
    case EventType::undeaf_member:
    case EventType::kick_member:
    case EventType::start_talking:
    case EventType::stop_talking:
    case EventType::floor_change:
    case EventType::dtmf:
    case EventType::role_change:
      return true;
    default:
      return false;
  }
}

}  // namespace confab::core
