#pragma once
// Drumee's live socket (/-/websocket): who is connected, and core events rendered as Drumee live
// notifications {"service", "model", "options": {"service", "echoId", "sender"}}. Header-only:
// the build lists one translation unit for this face (drumee.cpp).
#include "api/common/face.hpp"
#include "api/drumee/wire.hpp"
#include "core/crypto.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace confab::api::drumee {

// Who a user is, as Drumee shows people: {uid, username, firstname, lastname, fullname}.
inline json::object person(const core::ConferenceService& svc, std::string_view uid,
                           std::string_view guest_name = {}) {
  json::object o{{"uid", uid}, {"username", ""}, {"firstname", ""}, {"lastname", ""}};
  std::string full;
  if (auto* u = uid.empty() ? nullptr : svc.directory().find("user", uid)) {
    auto first = str_of(u->body, "first_name"), last = str_of(u->body, "last_name");
    o["username"] = str_of(u->body, "username");
    o["firstname"] = first;
    o["lastname"] = last;
    full = first.empty() || last.empty() ? first + last : first + " " + last;
    if (full.empty()) full = str_of(u->body, "username");
  } else {
    o["firstname"] = guest_name;
    full = std::string(guest_name);
  }
  o["fullname"] = full;
  return o;
}

// The sender of a notification: {socket_id, uid, firstname, lastname, fullname}.
inline json::object sender_of(const core::ConferenceService& svc, std::string_view socket_id,
                              std::string_view uid, std::string_view guest_name = {}) {
  auto p = person(svc, uid, guest_name);
  p.erase("username");
  json::object o{{"socket_id", socket_id}};
  for (auto& [k, v] : p) o[k] = v;
  return o;
}

// A participant as Drumee lists attendees.
inline json::object attendee(const core::ConferenceService& svc, const core::ParticipantView& p) {
  auto who = person(svc, p.user_id, p.caller_id_name);
  return json::object{
      {"socket_id", p.socket_id},
      {"uid", p.user_id},
      {"username", p.user_id.empty() ? json::value(p.caller_id_name) : who.at("username")},
      {"firstname", who.at("firstname")},
      {"lastname", who.at("lastname")},
      {"role", p.is_moderator ? "host" : "attendee"},
      {"participant_id", p.participant_id},
      {"status", "started"}};
}

using core::hub_of;

// What the request being served adds to the notifications its core calls cause. Core calls are
// synchronous, so the events they publish arrive while this is set.
struct Origin {
  std::string notify_as;  // the request's `service` parameter: names its main notification
  json::value echo_id;    // null when not given
  json::object sender;
  std::string joining_socket;  // add-member of this socket is announced as `join_as`...
  std::string join_as;
  std::set<std::string> quiet;  // ...except to these sockets, told by the call event instead
};

class Live {
 public:
  explicit Live(FaceContext& ctx) : ctx_(ctx) {
    sub_ = ctx_.bus.subscribe([this](const core::Event& e) { on_event(e); });
  }
  ~Live() { ctx_.bus.unsubscribe(sub_); }
  Live(const Live&) = delete;
  Live& operator=(const Live&) = delete;

  class Scope {
   public:
    Scope(Live& l, const Origin& o) : l_(l), prev_(l.origin_) { l_.origin_ = &o; }
    ~Scope() { l_.origin_ = prev_; }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Live& l_;
    const Origin* prev_;
  };

  // A new live socket for a user (or a guest: empty user; an API-key token gives an account).
  // The server speaks first: sys.hello goes out at once (the network layer holds frames until
  // the handshake is done).
  net::WsHandlers open(std::shared_ptr<net::WsConnection> conn, std::string account_id,
                       std::string user_id) {
    auto s = std::make_shared<Session>();
    s->conn = conn;
    s->socket_id = core::random_hex(16);
    s->user_id = std::move(user_id);
    sessions_[s->socket_id] = s;
    ctx_.calls.connect({s->socket_id, std::move(account_id), s->user_id, "drumee"});
    json::value user = nullptr;
    if (auto* u = s->user_id.empty() ? nullptr : ctx_.svc.directory().find("user", s->user_id))
      user = json::object{{"id", s->user_id}, {"username", str_of(u->body, "username")}};
    reply(*s, json::object{{"service", "sys.hello"},
                           {"data", json::object{{"socket_id", s->socket_id}, {"user", user}}}});
    std::weak_ptr<Session> weak = s;
    net::WsHandlers h;
    h.on_message = [this, weak](std::string_view text) {
      if (auto s = weak.lock()) on_message(*s, text);
    };
    h.on_close = [this, weak] {
      if (auto s = weak.lock()) drop(*s);
    };
    return h;
  }

 private:
  struct Session {
    std::weak_ptr<net::WsConnection> conn;
    std::string socket_id, user_id;
  };

  void write(Session& s, std::shared_ptr<const std::string> msg) {
    if (auto c = s.conn.lock()) c->send(std::move(msg));
  }

  void reply(Session& s, json::object msg) {
    write(s, std::make_shared<const std::string>(json::serialize(msg)));
  }

  void on_message(Session& s, std::string_view text) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    std::string service;
    if (!ec && v.is_object()) service = str_of(v.as_object(), "service");
    if (service == "x.ping" || service == "sys.ping")
      return reply(s, json::object{{"service", "sys.ping"}, {"data", json::object{{"ok", 1}}}});
    auto error = ec || !v.is_object() ? std::string("BAD_MESSAGE") : "SERVICE_NOT_FOUND:" + service;
    reply(s, json::object{{"service", "sys.error"}, {"data", json::object{{"error", error}}}});
  }

  void drop(Session& s) {
    auto id = s.socket_id;
    sessions_.erase(id);
    ctx_.calls.disconnect(id);  // leaves its rooms, withdraws its calls
  }

  // --- rendering core events -------------------------------------------------------------

  void push(std::vector<std::string> to, std::string_view service, json::object model,
            const json::object& sender) {
    std::sort(to.begin(), to.end());
    to.erase(std::unique(to.begin(), to.end()), to.end());
    std::vector<Session*> targets;
    for (auto& id : to)
      if (auto it = sessions_.find(id); it != sessions_.end()) targets.push_back(it->second.get());
    if (targets.empty()) return;
    model["type"] = service;
    json::object msg{
        {"service", service},
        {"model", std::move(model)},
        {"options", json::object{{"service", service},
                                 {"echoId", origin_ ? origin_->echo_id : json::value(nullptr)},
                                 {"sender", sender}}}};
    auto frame = std::make_shared<const std::string>(json::serialize(msg));
    for (auto* s : targets) write(*s, frame);
  }

  std::vector<std::string> room_sockets(std::string_view conference_id,
                                        std::string_view except = {}) const {
    std::vector<std::string> out;
    if (auto* room = ctx_.svc.room(conference_id))
      for (auto& p : room->participants())
        if (p.socket_id != except && sessions_.contains(p.socket_id)) out.push_back(p.socket_id);
    return out;
  }

  std::vector<std::string> user_sockets(std::string_view user_id) const {
    std::vector<std::string> out;
    for (auto& s : ctx_.calls.sockets_of(user_id))
      if (sessions_.contains(s)) out.push_back(s);
    return out;
  }

  json::object room_model(const core::Event& e, const core::ParticipantView& p) const {
    auto m = attendee(ctx_.svc, p);
    m["room_id"] = e.conference_id;
    auto* d = ctx_.svc.directory().find("conference", e.conference_id);
    m["hub_id"] = d ? hub_of(*d) : std::string();
    return m;
  }

  json::object sender_for(std::string_view socket_id, std::string_view uid,
                          std::string_view guest_name = {}) const {
    return origin_ ? origin_->sender : sender_of(ctx_.svc, socket_id, uid, guest_name);
  }

  void on_event(const core::Event& e) {
    if (sessions_.empty()) return;
    using T = core::EventType;
    switch (e.type) {
      case T::add_member:
        return on_join(e);
      case T::del_member:
        return on_leave(e);
      case T::mute_member:
      case T::unmute_member:
      case T::deaf_member:
      case T::undeaf_member:
        return on_media(e);
      case T::call:
        return on_call(e);
      case T::broadcast:
      case T::room_update: {
        auto* s = ctx_.calls.socket(e.except_socket);
        return push(e.to_sockets,
                    e.type == T::broadcast ? "conference.broadcast" : "conference.update",
                    e.payload, sender_for(e.except_socket, s ? s->user_id : std::string()));
      }
      case T::chat_message:
        return on_chat(e);
      default:
        return;
    }
  }

  void on_join(const core::Event& e) {
    if (!e.participant) return;
    auto& p = *e.participant;
    std::string service = p.is_moderator ? "conference.start" : "conference.join";
    bool mine = origin_ && !p.socket_id.empty() && origin_->joining_socket == p.socket_id;
    if (mine && !origin_->join_as.empty()) service = origin_->join_as;
    std::vector<std::string> to;
    for (auto& s : room_sockets(e.conference_id, p.socket_id))
      if (!mine || !origin_->quiet.contains(s)) to.push_back(s);
    push(std::move(to), service, room_model(e, p),
         mine ? origin_->sender : sender_of(ctx_.svc, p.socket_id, p.user_id, p.caller_id_name));
  }

  void on_leave(const core::Event& e) {
    if (!e.participant) return;
    auto& p = *e.participant;
    auto to = room_sockets(e.conference_id);
    if (e.detail == "kicked" && sessions_.contains(p.socket_id)) to.push_back(p.socket_id);
    auto model = room_model(e, p);
    model["reason"] = e.detail;
    push(std::move(to), "conference.leave", std::move(model),
         sender_of(ctx_.svc, p.socket_id, p.user_id, p.caller_id_name));
  }

  void on_media(const core::Event& e) {
    if (!e.participant) return;
    auto& p = *e.participant;
    auto model = room_model(e, p);
    model["event"] = core::event_name(e.type);
    model["speak"] = p.speak;
    model["hear"] = p.hear;
    push(room_sockets(e.conference_id), "conference.attendee", std::move(model),
         sender_for(p.socket_id, p.user_id, p.caller_id_name));
  }

  // Call steps go to the sockets core names; a user named without any of their sockets being
  // named (a call placed from another face) is reached on all their Drumee sockets.
  void on_call(const core::Event& e) {
    std::vector<std::string> to;
    for (auto& s : e.to_sockets)
      if (s != e.except_socket) to.push_back(s);
    for (auto& u : e.to_users) {
      auto mine = user_sockets(u);
      bool named = std::any_of(mine.begin(), mine.end(), [&](const std::string& s) {
        return std::find(e.to_sockets.begin(), e.to_sockets.end(), s) != e.to_sockets.end();
      });
      if (!named)
        for (auto& s : mine)
          if (s != e.except_socket) to.push_back(s);
    }
    auto model = e.payload;
    json::object sender;
    if (e.detail == "accept" || e.detail == "decline") {
      // The callee acted, from `except_socket`.
      auto callee = str_of(e.payload, "callee_id");
      sender = sender_for(e.except_socket, callee);
      model["socket_id"] = e.except_socket;
      if (auto* room = ctx_.svc.room(e.conference_id))
        if (auto* p = room->find_socket(e.except_socket))
          model["attendee"] = attendee(ctx_.svc, *p);
    } else {
      json::object caller;
      if (auto* c = e.payload.if_contains("caller"); c && c->is_object()) caller = c->as_object();
      sender = sender_for(str_of(caller, "caller_id"), str_of(caller, "uid"));
    }
    std::string service = "conference." + e.detail;
    if (origin_ && !origin_->notify_as.empty()) service = origin_->notify_as;
    push(std::move(to), service, std::move(model), sender);
  }

  void on_chat(const core::Event& e) {
    std::vector<std::string> to;
    if (!e.to_users.empty()) {
      for (auto& u : e.to_users)
        for (auto& s : user_sockets(u)) to.push_back(s);
    } else {
      to = room_sockets(e.conference_id);
    }
    auto author = str_of(e.payload, "author_id");
    push(std::move(to), "chat.post", e.payload,
         sender_of(ctx_.svc, origin_ ? str_of(origin_->sender, "socket_id") : std::string(),
                   author));
  }

  FaceContext& ctx_;
  int sub_ = 0;
  std::map<std::string, std::shared_ptr<Session>, std::less<>> sessions_;
  const Origin* origin_ = nullptr;
};

}  // namespace confab::api::drumee
