#include "core/chat.hpp"

#include "core/error.hpp"
#include "core/field_errors.hpp"
#include "core/json_util.hpp"
#include "core/muc.hpp"

#include <boost/json.hpp>

namespace confab::core {
namespace json = boost::json;

json::object to_json(const ChatMessage& m) {
  json::object o{{"room_id", m.room_id},
                 {"seq", m.seq},
                 {"account_id", m.account_id},
                 {"ts", m.ts},
                 {"author_id", m.author_id},
                 {"author_name", m.author_name},
                 {"kind", m.kind},
                 {"body", m.body},
                 {"metadata", m.metadata}};
  if (!m.owner_id.empty()) {
    o["owner_id"] = m.owner_id;
    o["peer_id"] = m.peer_id;
  }
  return o;
}

std::string direct_room(std::string_view owner, std::string_view peer) {
  return "dm:" + std::string(owner) + ":" + std::string(peer);
}

Chat::Chat(ConferenceService& svc, EventSink& sink, MsClock clock)
    : svc_(svc), sink_(sink), clock_(std::move(clock)) {}

std::string Chat::display_name(std::string_view user_id) const {
  auto* u = svc_.directory().find("user", user_id);
  if (!u) return {};
  auto name = str_field(u->body, "first_name") + " " + str_field(u->body, "last_name");
  return name == " " ? str_field(u->body, "username") : name;
}

ChatMessage Chat::numbered(std::string room_id, std::string_view account_id,
                           std::string_view author, std::string_view body) {
  if (body.empty()) throw field_error("message", "required", "Field is required but missing");
  require_text("message", body, 1, limits::kMessageBytes, TextKind::text);
  ChatMessage m;
  auto& next = next_[room_id];
  if (next == 0) next = 1;
  m.seq = next++;
  m.room_id = std::move(room_id);
  m.account_id = std::string(account_id);
  m.ts = clock_();
  m.author_id = std::string(author);
  m.author_name = display_name(author);
  m.body = std::string(body);
  return m;
}

ChatMessage Chat::prepare_room(std::string_view account_id, std::string_view conference_id,
                               std::string_view author, std::string_view body) {
  auto& doc = svc_.get("conference", account_id, conference_id);
  auto* room = svc_.room(conference_id);
  auto* me = room ? room->find_user(author) : nullptr;
  if (!me)
    throw Error(Errc::not_a_member, "only occupants of the room may post",
                json::object{{"condition", "not-acceptable"}});
  if (muc_config(doc.body).moderated && me->role() == MucRole::visitor)
    throw Error(Errc::forbidden, "visitors may not post in a moderated room",
                json::object{{"condition", "forbidden"}, {"role", "visitor"}});
  auto m = numbered(std::string(conference_id), account_id, author, body);
  if (m.author_name.empty()) m.author_name = me->caller_id_name;
  return m;
}

std::vector<ChatMessage> Chat::prepare_direct(std::string_view account_id, std::string_view from,
                                              std::string_view to, std::string_view body,
                                              std::string_view kind, const json::object& metadata) {
  for (auto id : {from, to}) svc_.get("user", account_id, id);
  if (from == to) throw field_error("peer_id", "invalid", "cannot message oneself");
  std::vector<ChatMessage> out;
  for (auto [owner, peer] : {std::pair{from, to}, std::pair{to, from}}) {
    auto m = numbered(direct_room(owner, peer), account_id, from, body);
    m.kind = std::string(kind);
    m.metadata = metadata;
    m.owner_id = std::string(owner);
    m.peer_id = std::string(peer);
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<ChatMessage> Chat::prepare_call_log(std::string_view account_id,
                                                std::string_view caller, std::string_view callee,
                                                std::string_view event, std::int64_t duration) {
  if (event != "cancel" && event != "leave" && event != "reject" && event != "decline") return {};
  auto msgs = prepare_direct(account_id, caller, callee, "call", "call");
  for (auto& m : msgs)
    m.metadata = json::object{{"message_type", "call"},
                              {"call_status", event},
                              {"duration", duration},
                              {"role", m.owner_id == caller ? "caller" : "callee"}};
  return msgs;
}

void Chat::commit(const ChatMessage& m) {
  Event e;
  e.type = EventType::chat_message;
  e.account_id = m.account_id;
  e.time = m.ts / 1000;
  e.payload = to_json(m);
  if (m.owner_id.empty()) {
    e.conference_id = m.room_id;
    if (auto* d = svc_.directory().find("conference", m.room_id))
      e.conference_name = str_field(d->body, "name");
  } else {
    e.to_users.push_back(m.owner_id);
  }
  sink_.publish(e);
}

void Chat::check_read(std::string_view account_id, std::string_view room_id,
                      std::string_view user_id) const {
  if (room_id.starts_with("dm:")) {
    auto rest = room_id.substr(3);
    auto owner = rest.substr(0, rest.find(':'));
    if (!user_id.empty() && owner != user_id)
      throw Error(Errc::forbidden, "a direct channel is read by its owner only");
    svc_.get("user", account_id, owner);
    return;
  }
  auto& doc = svc_.get("conference", account_id, room_id);
  if (affiliation_of(doc.body, user_id) == Affiliation::outcast)
    throw Error(Errc::forbidden, "banned from this conference",
                json::object{{"affiliation", "outcast"}});
}

PendingWrite Chat::prepare_subject(std::string_view account_id, std::string_view conference_id,
                                   std::string_view user_id, const json::object& change) {
  svc_.get("conference", account_id, conference_id);
  auto* room = svc_.room(conference_id);
  auto* me = room ? room->find_user(user_id) : nullptr;
  if (!me) throw Error(Errc::not_a_member, "only occupants of the room may change its subject");
  if (!me->is_moderator)
    throw Error(Errc::forbidden, "only moderators may change the subject",
                json::object{{"condition", "forbidden"}});
  json::object muc;
  for (auto key : {"subject", "description"})
    if (auto* v = change.if_contains(key)) muc[key] = *v;
  return svc_.prepare("conference", account_id, conference_id, WriteMode::patch,
                      json::object{{"muc", std::move(muc)}});
}

}  // namespace confab::core
