#pragma once
// XiVO's rendering of confab's rooms, participants, calls and chat messages (xuc's CTI message
// bodies). Pure functions of core snapshots; the Cti face addresses and sends them.
#include "core/calls.hpp"
#include "core/chat.hpp"
#include "core/service.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace confab::api::xivo::render {
namespace json = boost::json;

inline std::string str_field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// The number XiVO knows a room by: its first conference number, else its first member number,
// else its first moderator number; empty for a room nobody can dial.
inline std::string room_number(const json::object& doc) {
  auto first = [](const json::value* v) -> std::string {
    if (!v || !v->is_array()) return {};
    for (auto& n : v->as_array())
      if (n.is_string() && !n.as_string().empty()) return std::string(n.as_string());
    return {};
  };
  auto n = first(doc.if_contains("conference_numbers"));
  for (auto role : {"member", "moderator"}) {
    if (!n.empty()) break;
    if (auto* o = doc.if_contains(role); o && o->is_object())
      n = first(o->as_object().if_contains("numbers"));
  }
  return n;
}

inline std::string room_name(const core::Doc& d) {
  auto n = str_field(d.body, "name");
  return n.empty() ? d.id : n;
}

inline bool pin_required(const json::object& doc) {
  auto* m = doc.if_contains("member");
  if (!m || !m->is_object()) return false;
  auto* pins = m->as_object().if_contains("pins");
  return pins && pins->is_array() && !pins->as_array().empty();
}

inline std::shared_ptr<const std::string> frame(std::string_view type, json::value msg) {
  return std::make_shared<const std::string>(
      json::serialize(json::object{{"msgType", type}, {"ctiMessage", std::move(msg)}}));
}

// One entry of a ConferenceList: xuc's meetme room.
inline json::object list_entry(const core::Doc& d, const std::string& number,
                               const core::Room* room) {
  json::array members;
  if (room)
    for (auto& p : room->participants())
      members.push_back(json::object{{"joinOrder", p.participant_id},
                                     {"joinTime", p.join_time * 1000},
                                     {"muted", !p.speak},
                                     {"name", p.caller_id_name},
                                     {"number", p.caller_id_number},
                                     {"username", p.username}});
  return json::object{{"number", number},
                      {"name", room_name(d)},
                      {"pinRequired", pin_required(d.body)},
                      {"startTime", room ? room->created() * 1000 : 0},
                      {"members", std::move(members)}};
}

// Every dialable conference of an account, by number.
inline json::array conference_list(const core::ConferenceService& svc,
                                   std::string_view account_id) {
  std::vector<std::pair<std::string, const core::Doc*>> rooms;
  for (auto* d : svc.directory().list("conference", account_id))
    if (auto n = room_number(d->body); !n.empty()) rooms.emplace_back(std::move(n), d);
  std::sort(rooms.begin(), rooms.end(), [](auto& a, auto& b) {
    return a.first != b.first ? a.first < b.first : a.second->id < b.second->id;
  });
  json::array out;
  for (auto& [n, d] : rooms) out.push_back(list_entry(*d, n, svc.room(d->id)));
  return out;
}

// A participant as xuc describes it; `me` is the user who receives it.
inline json::object participant(const core::ParticipantView& p, std::string_view me,
                                std::int64_t now) {
  return json::object{{"index", p.participant_id},
                      {"callerIdName", p.caller_id_name},
                      {"callerIdNum", p.caller_id_number},
                      {"since", now - p.join_time},
                      {"isTalking", p.talking},
                      {"role", p.is_moderator ? "Organizer" : "User"},
                      {"isMuted", !p.speak},
                      {"isMe", !me.empty() && p.user_id == me},
                      {"username", p.username},
                      {"isDeaf", !p.hear}};
}

// ConferenceParticipantEvent: eventType, uniqueId, conference, then the participant's fields.
inline json::object participant_event(std::string_view type, const core::ParticipantView& p,
                                      std::string_view number, std::string_view name,
                                      std::string_view me, std::int64_t now) {
  json::object out{{"eventType", type},
                   {"uniqueId", p.call_id},
                   {"conferenceNumber", number},
                   {"conferenceName", name}};
  for (auto& [k, v] : participant(p, me, now)) out[k] = v;
  return out;
}

// ConferenceEvent: the receiving user's own participant entered or left a room.
inline json::object conference_event(std::string_view type, const core::ParticipantView& p,
                                     std::string_view number, std::string_view name,
                                     const core::Room* room, std::int64_t now) {
  json::array parts;
  if (room)
    for (auto& q : room->participants()) parts.push_back(participant(q, p.user_id, now));
  return json::object{{"eventType", type},
                      {"uniqueId", p.call_id},
                      {"conferenceNumber", number},
                      {"conferenceName", name},
                      {"participants", std::move(parts)},
                      {"since", room ? now - room->created() : 0}};
}

inline json::object person(const core::ConferenceService& svc, std::string_view user_id) {
  auto* u = user_id.empty() ? nullptr : svc.directory().find("user", user_id);
  if (!u) return json::object{{"username", ""}, {"name", ""}, {"extension", ""}};
  auto name = str_field(u->body, "first_name") + " " + str_field(u->body, "last_name");
  return json::object{{"username", str_field(u->body, "username")},
                      {"name", name == " " ? str_field(u->body, "username") : name},
                      {"extension", str_field(u->body, "extension")}};
}

// A chat message (an Event payload or a stored history row, both core::to_json's shape).
inline json::object chat_message(const core::ConferenceService& svc, std::string_view number,
                                 const json::object& m) {
  auto author = str_field(m, "author_id");
  auto username = str_field(person(svc, author), "username");
  auto num = [&](std::string_view k) -> json::value {
    auto* v = m.if_contains(k);
    return v && v->is_number() ? *v : json::value(0);
  };
  return json::object{{"numConf", number},
                      {"seq", num("seq")},
                      {"ts", num("ts")},
                      {"author", username.empty() ? author : username},
                      {"authorName", str_field(m, "author_name")},
                      {"message", str_field(m, "body")}};
}

// A call step (core::Calls' event payload): ConferenceInvite for "invite", otherwise
// ConferenceInviteUpdate with the step as its status.
inline json::object call(const core::ConferenceService& svc, std::string_view number,
                         std::string_view name, const core::Event& e) {
  std::string caller, callee = str_field(e.payload, "callee_id");
  if (auto* c = e.payload.if_contains("caller"); c && c->is_object())
    caller = str_field(c->as_object(), "uid");
  bool early = false;
  if (auto* m = e.payload.if_contains("metadata"); m && m->is_object())
    if (auto* v = m->as_object().if_contains("earlyJoin"); v && v->is_bool()) early = v->as_bool();
  json::object out;
  if (e.detail != "invite") out["status"] = e.detail;
  out["numConf"] = number;
  out["conferenceName"] = name;
  out["role"] = str_field(e.payload, "role");
  out["from"] = person(svc, caller);
  if (e.detail == "invite") {
    out["earlyJoin"] = early;
  } else if (!callee.empty()) {
    out["to"] = person(svc, callee);
  }
  if (auto* pid = e.payload.if_contains("participant_id")) out["index"] = *pid;
  return out;
}

}  // namespace confab::api::xivo::render
