#include "api/kazoo/render.hpp"

#include "core/crypto.hpp"

#include <boost/json.hpp>

namespace confab::api::kazoo {
namespace json = boost::json;

json::object public_doc(const core::Doc& d) {
  json::object out;
  out.reserve(d.body.size() + 2);
  for (auto& [k, v] : d.body)
    if (!k.starts_with("pvt_")) out.emplace(k, v);
  out["id"] = d.id;
  return out;
}

std::string revision_tag(const core::Doc& d) {
  return std::to_string(d.revision) + "-" + core::md5_hex(d.id + ":" + std::to_string(d.revision));
}

json::object participant_json(const core::ParticipantView& p, const core::Room& room,
                              std::string_view node, std::int64_t now) {
  return json::object{
      {"participant_id", p.participant_id},
      {"call_id", p.call_id},
      {"caller_id_name", p.caller_id_name},
      {"caller_id_number", p.caller_id_number},
      {"conference_name", room.conference_id()},
      {"conference_uuid", room.instance_id()},
      {"switch_hostname", node},
      {"speak", p.speak},
      {"hear", p.hear},
      {"talking", p.talking},
      {"floor", p.floor},
      {"energy_level", p.energy_level},
      {"current_energy", p.current_energy},
      {"mute_detect", p.mute_detect},
      {"video", p.video},
      {"is_moderator", p.is_moderator},
      {"join_time", gregorian(p.join_time)},
      {"duration", now - p.join_time},
  };
}

json::object read_only(const core::Room* room, std::string_view node, std::int64_t now,
                       int bad_pins) {
  json::array parts;
  int members = 0, moderators = 0;
  if (room) {
    members = room->count(core::Role::member);
    moderators = room->count(core::Role::moderator);
    for (auto& p : room->participants()) parts.push_back(participant_json(p, *room, node, now));
  }
  // The seed documents say "admins"; Kazoo's code says "moderators": both are given.
  return json::object{{"members", members},
                      {"moderators", moderators},
                      {"admins", moderators},
                      {"duration", room ? now - room->created() : 0},
                      {"is_locked", room ? room->locked() : false},
                      {"is_recording", room ? room->recording() : false},
                      {"bad_pin_attempts", bad_pins},
                      {"participants", std::move(parts)}};
}

json::object conference_json(const core::Doc& d, const core::Room* room, std::string_view node,
                             std::int64_t now, int bad_pins) {
  auto out = public_doc(d);
  out["focus"] = node;
  out["_read_only"] = read_only(room, node, now, bad_pins);
  return out;
}

json::object conference_summary(const core::Doc& d, const core::Room* room, std::int64_t now) {
  json::object out{{"id", d.id}};
  for (auto key : {"name", "owner_id", "member", "moderator", "conference_numbers"})
    if (auto* v = d.body.if_contains(key)) out[key] = *v;
  int moderators = room ? room->count(core::Role::moderator) : 0;
  out["members"] = room ? room->count(core::Role::member) : 0;
  out["moderators"] = moderators;
  out["admins"] = moderators;
  out["duration"] = room ? now - room->created() : 0;
  out["is_locked"] = room ? room->locked() : false;
  return out;
}

std::string routing_key(const core::Event& e) {
  if (e.type == core::EventType::command) return "conference.command." + e.conference_id;
  std::string key = "conference.event.";
  key += core::event_name(e.type);
  key += "." + e.account_id + "." + e.conference_id;
  if (e.participant) key += "." + e.participant->call_id;
  return key;
}

json::object event_data(const core::Event& e, std::string_view node, std::uint64_t msg_id) {
  json::object d;
  char id[17];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(msg_id));
  d["conference_id"] = e.conference_id;
  d["instance_id"] = e.instance_id;
  d["conference_name"] = e.conference_name;
  d["account_id"] = e.account_id;
  d["focus"] = node;
  d["node"] = node;
  d["msg_id"] = id;
  d["event_category"] = "conference";
  d["app_name"] = "confab";
  d["app_version"] = CONFAB_VERSION;
  d["timestamp"] = gregorian(e.time);
  if (e.type == core::EventType::command) {
    d["event_name"] = "command";
    d["application_name"] = e.detail;
    d["routing_key"] = routing_key(e);
    if (e.participant) d["participant_id"] = e.participant->participant_id;
    for (auto& [k, v] : e.payload)  // what the command carries: media_id, record action, relate
      if (!d.contains(k)) d[k] = v;
    return d;
  }
  d["event"] = core::event_name(e.type);
  if (!e.participant) {
    d["event_name"] = "conference_event";
    d["routing_key"] = "conference_event";
    return d;
  }
  auto& p = *e.participant;
  d["event_name"] = "participant_event";
  d["routing_key"] = "participant_event";
  d["custom_channel_vars"] = json::object{{"account_id", e.account_id}};
  d["call_id"] = p.call_id;
  d["participant_id"] = p.participant_id;
  d["caller_id_name"] = p.caller_id_name;
  d["caller_id_number"] = p.caller_id_number;
  d["is_moderator"] = p.is_moderator;
  d["speak"] = p.speak;
  d["hear"] = p.hear;
  d["talking"] = p.talking;
  d["floor"] = p.floor;
  d["mute_detect"] = p.mute_detect;
  d["video"] = p.video;
  d["energy_level"] = p.energy_level;
  d["current_energy"] = p.current_energy;
  d["join_time"] = gregorian(p.join_time);
  d["duration"] = e.time - p.join_time;
  if (e.type == core::EventType::del_member) d["reason"] = e.detail;
  if (e.type == core::EventType::dtmf) d["dtmf_digit"] = e.detail;
  return d;
}

}  // namespace confab::api::kazoo
