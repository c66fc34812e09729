#include "api/drumee/drumee.hpp"

#include "api/drumee/live.hpp"
#include "api/drumee/wire.hpp"
#include "core/error.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <map>

namespace confab::api::drumee {
using core::Doc;

namespace {

constexpr std::string_view kPrefix = "/-/svc/";

// One service call, alive until it is answered (a store write may come first).
struct Req {
  std::string ack;   // "conference.join"
  std::string name;  // "join": the ACL's name for it
  Params p;
  std::optional<core::TokenClaims> claims;
  std::string me;  // the user; empty for guests and API-key tokens
  net::Reply reply;
  Origin origin;
  bool answered = false;

  void answer(net::Response r) {
    if (answered) return;
    answered = true;
    reply(std::move(r));
  }
};
using ReqPtr = std::shared_ptr<Req>;

int positive(std::string_view s) {
  int n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  return ec == std::errc{} && end == s.data() + s.size() && n > 0 ? n : 0;
}

json::object public_fields(const Doc& d) {
  auto out = core::attendee_view(d);
  out["room_id"] = d.id;
  return out;
}

}  // namespace

struct Drumee::Impl {
  using Handler = void (Impl::*)(const ReqPtr&);

  explicit Impl(FaceContext c) : ctx(std::move(c)), live(ctx) {
    services = {{"conference.accept", &Impl::accept},
                {"conference.attendee", &Impl::attendee_svc},
                {"conference.broadcast", &Impl::broadcast},
                {"conference.cancel", &Impl::cancel},
                {"conference.decline", &Impl::decline},
                {"conference.get_caller", &Impl::get_caller},
                {"conference.invite", &Impl::invite},
                {"conference.join", &Impl::join},
                {"conference.leave", &Impl::leave},
                {"conference.logCall", &Impl::log_call},
                {"conference.revoke", &Impl::revoke},
                {"conference.update", &Impl::update},
                {"chat.post", &Impl::chat_post},
                {"chat.messages", &Impl::chat_messages}};
  }

  FaceContext ctx;
  Live live;
  std::map<std::string, Handler, std::less<>> services;

  // --- answering -------------------------------------------------------------------------

  void answer(const ReqPtr& r, json::value data) {
    if (data.is_object())
      if (auto* echo = r->p.get("echoId")) data.as_object()["echoId"] = *echo;
    r->answer(ok(r->ack, std::move(data)));
  }

  // Runs a step of a service, answering with the error it throws.
  template <class F>
  void guard(const ReqPtr& r, F&& f) {
    try {
      f();
    } catch (const MissingParam& m) {
      r->answer(failure(r->ack, 400, "MISSING_PARAM", m.name + " is required"));
    } catch (const Error& e) {
      r->answer(failure(r->ack, e));
    } catch (const std::exception& e) {
      r->answer(failure(r->ack, 500, "INTERNAL_ERROR", e.what()));
    }
  }

  // Stored, then answered; a store failure is 503 and nothing was written.
  void stored(const ReqPtr& r, const std::string& err, json::value data) {
    if (!err.empty()) return r->answer(failure(r->ack, Error(Errc::unavailable, err)));
    answer(r, std::move(data));
  }

  void handle(net::Request&& req, net::Reply reply) {
    auto r = std::make_shared<Req>();
    r->reply = std::move(reply);
    r->ack = req.path.substr(kPrefix.size());
    if (req.method == "OPTIONS") {
      net::Response res{204, "", "text/plain", {}};
      res.headers.emplace_back("Access-Control-Allow-Origin", "*");
      res.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      res.headers.emplace_back("Access-Control-Allow-Headers", "Content-Type, X-Auth-Token");
      return r->answer(std::move(res));
    }
    auto it = services.find(r->ack);
    if (it == services.end())
      return r->answer(failure(r->ack, 404, "SERVICE_NOT_FOUND:" + r->ack, "no such service"));
    r->name = r->ack.substr(r->ack.find('.') + 1);
    guard(r, [&] {
      r->p = Params::from(req);
      if (auto token = token_of(req, &r->p); !token.empty()) {
        r->claims = ctx.svc.verify(token);
        r->me = r->claims->user_id;
      }
      if (auto* e = r->p.get("echoId")) {
        core::require_tree("echoId", *e, core::limits::kRequestIdBytes);
        r->origin.echo_id = *e;
      }
      // The `service` parameter renames the notification of a call step or a join (Drumee's
      // client joins with service=conference.accept). Never for broadcast and update, whose
      // models the caller writes: that would let anyone forge any notification.
      if (auto as = r->p.str("service");
          as.starts_with("conference.") && r->name != "broadcast" && r->name != "update")
        r->origin.notify_as = as;
      auto socket = r->p.str("socket_id");
      r->origin.sender = sender_of(ctx.svc, socket, r->me, r->p.str("guest_name"));
      (this->*(it->second))(r);
    });
  }

  // --- scope and privilege ---------------------------------------------------------------

  const core::TokenClaims* claims(const ReqPtr& r) const {
    return r->claims ? &*r->claims : nullptr;
  }

  // The hub a call acts in (the hub of `conference_id` when given, else the hub_id parameter),
  // checked against the caller's privilege there.
  const Doc& scope(const ReqPtr& r, std::string_view conference_id = {}) {
    auto hub = r->p.str("hub_id");
    if (conference_id.empty() && hub.empty()) throw MissingParam{"hub_id"};
    return ctx.calls.hub_scope(r->name, claims(r), conference_id, hub);
  }

  void own_socket(const ReqPtr& r, std::string_view socket_id) const {
    ctx.calls.check_socket(socket_id, r->me);
  }

  json::array attendees(std::string_view conference_id, int except_id = 0) const {
    json::array out;
    if (auto* room = ctx.svc.room(conference_id))
      for (auto& p : room->participants())
        if (p.participant_id != except_id) out.push_back(attendee(ctx.svc, p));
    return out;
  }

  // Creates a room of a hub (durably), then continues with its id. A shared room being created
  // by another join is waited for instead.
  template <class F>
  void create_room(const ReqPtr& r, const Doc& hub, const std::string& type, bool shared, F then) {
    auto next = [this, r, then = std::move(then)](const std::string& id, const std::string& err) {
      guard(r, [&] {
        if (id.empty()) throw Error(Errc::unavailable, err);
        then(id);
      });
    };
    if (shared && ctx.svc.await_hub_room(hub.id, type, [next](const std::string& id) {
          next(id, "the room could not be stored");
        }))
      return;
    auto w = ctx.svc.prepare_hub_room(hub.account_id, hub.id, type, claims(r), shared);
    auto id = w.doc.id;
    ctx.persist.write(std::move(w), [next, id](const std::string& err) {
      next(err.empty() ? id : std::string(), err);
    });
  }

  // Joins a socket into a room; a socket already in it keeps its place (core).
  core::ParticipantView enter(const ReqPtr& r, const std::string& account,
                              const std::string& conference_id, const std::string& socket_id) {
    own_socket(r, socket_id);  // again: it may have closed while a room was being created
    core::JoinRequest j;
    j.user_id = r->me;
    j.socket_id = socket_id;
    j.first_is_host = true;
    if (r->me.empty()) j.name = r->p.str("guest_name");
    r->origin.joining_socket = socket_id;
    r->origin.join_as = r->origin.notify_as;
    Live::Scope s(live, r->origin);
    return ctx.svc.join(account, conference_id, j);
  }

  // --- conference services ---------------------------------------------------------------

  void join(const ReqPtr& r) {
    auto socket = r->p.need_str("socket_id");
    auto metadata = r->p.need_obj("metadata");
    auto type = Params::text(metadata.if_contains("type"), "metadata.type");
    if (type.empty()) type = r->p.str("type");
    if (type.empty()) type = "meeting";
    auto& hub = scope(r);  // hub_id is required here
    own_socket(r, socket);
    auto account = hub.account_id;
    auto hub_id = hub.id;
    auto finish = [this, r, account, hub_id, socket](const std::string& conference_id) {
      auto me = enter(r, account, conference_id, socket);
      answer(r, json::object{
                    {"permission", ctx.calls.hub_privilege(hub_id, r->me)},
                    {"details", public_fields(ctx.svc.get("conference", account, conference_id))},
                    {"configs", json::object{}},
                    {"attendees", attendees(conference_id, me.participant_id)},
                    {"user", attendee(ctx.svc, me)}});
    };
    if (auto room = r->p.str("room_id"); !room.empty())
      return finish(ctx.svc.hub_conference(hub.id, room).id);
    if (auto* d = ctx.svc.hub_room(hub.id, type)) return finish(d->id);
    create_room(r, hub, type, true, finish);
  }

  void attendee_svc(const ReqPtr& r) {
    auto pid = r->p.need_str("participant_id");
    auto found =
        ctx.calls.find_participant(pid, positive(pid), r->p.str("room_id"), r->p.str("hub_id"));
    if (!found) {
      if (!r->p.str("hub_id").empty()) scope(r);  // privilege first, then absence
      throw Error(Errc::not_found, "participant not found", json::object{{"cause", pid}});
    }
    scope(r, found->first);
    auto out = attendee(ctx.svc, found->second);
    out["room_id"] = found->first;
    answer(r, std::move(out));
  }

  void leave(const ReqPtr& r) {
    auto room_id = r->p.need_str("room_id");
    auto socket = r->p.need_str("socket_id");
    auto& hub = scope(r, room_id);
    own_socket(r, socket);
    {
      Live::Scope s(live, r->origin);
      ctx.svc.leave_socket(hub.account_id, room_id, socket, "left");
    }
    answer(r, json::object{{"peers", attendees(room_id)}});
  }

  void update(const ReqPtr& r) {
    auto room_id = r->p.need_str("room_id");
    auto socket = r->p.need_str("socket_id");
    auto metadata = r->p.need_obj("metadata");
    scope(r, room_id);
    Live::Scope s(live, r->origin);
    auto data = ctx.calls.update(room_id, socket, r->me, std::move(metadata), r->p.str("event"));
    answer(r, data ? std::move(*data) : json::object{});  // not the caller's: {} (Drumee)
  }

  void broadcast(const ReqPtr& r) {
    auto socket = r->p.need_str("socket_id");
    auto event = r->p.need_str("event");
    auto payload = r->p.need_value("payload");
    auto& hub = scope(r, r->p.str("hub_id").empty() ? ctx.calls.hub_room_of(socket) : "");
    own_socket(r, socket);
    {
      Live::Scope s(live, r->origin);
      ctx.calls.broadcast(hub.id, socket, event, payload);
    }
    answer(r, json::object{{"payload", payload}});
  }

  void invite(const ReqPtr& r) {
    r->p.need_str("hub_id");
    auto guest = r->p.need_str("guest_id");
    auto socket = r->p.need_str("socket_id");
    auto metadata = r->p.need_obj("metadata");
    auto type = Params::text(metadata.if_contains("type"), "metadata.type");
    auto& hub = scope(r);
    own_socket(r, socket);
    auto account = hub.account_id;
    ctx.svc.get("user", account, guest);
    metadata["uid"] = r->me;
    // The guest called us a moment ago: answer that call instead of ringing back.
    if (auto* inv = ctx.calls.crossed(r->me, guest)) {
      auto conference_id = inv->conference_id;
      auto caller_socket = inv->caller_socket;  // copied: accepting changes the calls
      accept_call(r, account, socket, caller_socket);
      return answer(
          r, json::object{{"room_id", conference_id}, {"nid", conference_id}, {"cross_call", 1}});
    }
    if (!ctx.calls.online(guest)) return answer(r, json::object{{"offline", 1}, {"uid", guest}});
    auto ring = [this, r, account, socket, guest, metadata](const std::string& conference_id) {
      enter(r, account, conference_id, socket);
      Live::Scope s(live, r->origin);
      auto rung = ctx.calls.invite(account, conference_id, r->me, socket, guest, core::Role::member,
                                   metadata);
      if (rung.offline) return answer(r, json::object{{"offline", 1}, {"uid", guest}});
      answer(r, json::object{{"room_id", conference_id}, {"nid", conference_id}});
    };
    if (auto room = r->p.str("room_id"); !room.empty())
      return ring(ctx.svc.hub_conference(hub.id, room).id);
    create_room(r, hub, type.empty() ? "connect" : type, false, ring);
  }

  // Answers the call from `caller_socket` (empty: the latest) on `socket`: the caller and the
  // callee's other sockets hear conference.accept from core; the rest of the room hears of the
  // new attendee as conference.accept too.
  void accept_call(const ReqPtr& r, const std::string& account, const std::string& socket,
                   const std::string& caller_socket) {
    r->origin.joining_socket = socket;
    r->origin.join_as = "conference.accept";
    r->origin.quiet.insert(caller_socket);
    for (auto& s : ctx.calls.sockets_of(r->me)) r->origin.quiet.insert(s);
    for (auto& inv : ctx.calls.pending_for(r->me))
      if (caller_socket.empty() || inv.caller_socket == caller_socket)
        r->origin.quiet.insert(inv.caller_socket);
    Live::Scope s(live, r->origin);
    ctx.calls.accept(account, r->me, socket, caller_socket);
  }

  // The hub of the call ringing for me from `caller_socket` (empty: the latest).
  const Doc& call_scope(const ReqPtr& r, const std::string& caller_socket) {
    auto* inv = ctx.calls.ringing(r->me, caller_socket);
    if (!inv && r->p.str("hub_id").empty())
      throw Error(Errc::not_found, "no call is ringing for you");
    return scope(r, inv ? inv->conference_id : std::string());
  }

  void accept(const ReqPtr& r) {
    auto caller = r->p.need_obj("caller");
    auto socket = r->p.need_str("socket_id");
    auto caller_socket = Params::text(caller.if_contains("caller_id"), "caller.caller_id");
    auto& hub = call_scope(r, caller_socket);
    own_socket(r, socket);
    accept_call(r, hub.account_id, socket, caller_socket);
    answer(r, json::object{{"caller", caller}});
  }

  void decline(const ReqPtr& r) {
    auto caller = r->p.need_obj("caller");
    auto socket = r->p.str("socket_id");
    auto caller_socket = Params::text(caller.if_contains("caller_id"), "caller.caller_id");
    auto& hub = call_scope(r, caller_socket);
    if (!socket.empty()) own_socket(r, socket);
    Live::Scope s(live, r->origin);
    ctx.calls.decline(hub.account_id, r->me, socket, caller_socket);
    answer(r, json::object{{"caller", caller}});
  }

  void cancel(const ReqPtr& r) {
    auto room_id = r->p.need_str("room_id");
    auto socket = r->p.need_str("socket_id");
    auto& hub = scope(r, room_id);
    own_socket(r, socket);
    Live::Scope s(live, r->origin);
    ctx.calls.cancel(hub.account_id, room_id, socket);
    answer(r, json::object{});
  }

  void revoke(const ReqPtr& r) {
    r->p.need_str("hub_id");
    auto callee = r->p.need_obj("callee");
    auto socket = r->p.need_str("socket_id");
    auto user = Params::text(callee.if_contains("drumate_id"), "callee.drumate_id");
    if (user.empty()) user = Params::text(callee.if_contains("entity_id"), "callee.entity_id");
    if (user.empty()) throw MissingParam{"callee.drumate_id"};
    auto& hub = scope(r);
    own_socket(r, socket);
    auto room_id = r->p.str("room_id");
    if (room_id.empty()) room_id = ctx.calls.call_room(hub.id, socket, user);
    if (room_id.empty())
      throw Error(Errc::not_found, "that user is neither in a room of yours nor called to it",
                  json::object{{"cause", user}});
    ctx.svc.hub_conference(hub.id, room_id);
    auto peer = Params::text(callee.if_contains("entity_id"), "callee.entity_id");
    // The log is prepared (and checked) before anything changes.
    auto log =
        ctx.chat.prepare_call_log(hub.account_id, r->me, peer.empty() ? user : peer, "cancel", 0);
    {
      Live::Scope s(live, r->origin);
      ctx.calls.revoke(hub.account_id, room_id, user, socket);
    }
    ctx.persist.write_messages(ctx.chat, std::move(log), [this, r, room_id](const std::string& e) {
      stored(r, e, json::object{{"room_id", room_id}});
    });
  }

  void get_caller(const ReqPtr& r) {
    auto guest = r->p.need_str("guest_id");
    auto inv = ctx.calls.caller_of(r->me, guest);
    auto& hub = scope(r, inv ? inv->conference_id : std::string());
    if (!inv) return answer(r, json::object{});
    auto out = person(ctx.svc, guest);
    out["hub_id"] = hub.id;
    out["room_id"] = inv->conference_id;
    out["nid"] = inv->conference_id;
    out["caller_id"] = inv->caller_socket;
    out["metadata"] = inv->metadata;
    answer(r, std::move(out));
  }

  void log_call(const ReqPtr& r) {
    auto callee = r->p.need_obj("callee");
    auto event = r->p.need_str("event");
    auto peer = Params::text(callee.if_contains("entity_id"), "callee.entity_id");
    if (peer.empty()) throw MissingParam{"callee.entity_id"};
    auto duration = r->p.integer("duration", 0, 0, core::limits::kMaxCallSeconds);
    auto room = r->p.str("room_id");
    if (auto socket = r->p.str("socket_id"); room.empty() && r->p.str("hub_id").empty())
      room = ctx.calls.hub_room_of(socket);
    auto& hub = scope(r, room);
    auto log = ctx.chat.prepare_call_log(hub.account_id, r->me, peer, event, duration);
    if (log.empty()) return answer(r, json::object{{"callee", callee}});
    ctx.persist.write_messages(ctx.chat, std::move(log), [this, r, callee](const std::string& e) {
      stored(r, e, json::object{{"callee", callee}});
    });
  }

  // --- chat (confab extension) -----------------------------------------------------------

  const core::TokenClaims& need_token(const ReqPtr& r, bool user) const {
    if (!r->claims || (user && r->me.empty()))
      throw Error(Errc::unauthorized, user ? "a user token is required" : "a token is required");
    return *r->claims;
  }

  void chat_post(const ReqPtr& r) {
    auto& claims = need_token(r, true);
    auto room = r->p.str("room_id");
    auto peer = r->p.str("peer_id");
    if (room.empty() && peer.empty()) throw MissingParam{"room_id"};
    auto message = r->p.message("message");
    std::vector<core::ChatMessage> msgs;
    if (!room.empty())
      msgs.push_back(ctx.chat.prepare_room(claims.account_id, room, r->me, message));
    else
      msgs = ctx.chat.prepare_direct(claims.account_id, r->me, peer, message);
    auto mine = to_json(msgs.front());
    ctx.persist.write_messages(ctx.chat, std::move(msgs),
                               [this, r, mine](const std::string& e) { stored(r, e, mine); });
  }

  void chat_messages(const ReqPtr& r) {
    auto& claims = need_token(r, false);
    auto room = r->p.str("room_id");
    if (room.empty())
      if (auto peer = r->p.str("peer_id"); !peer.empty() && !r->me.empty())
        room = core::direct_room(r->me, peer);
    if (room.empty()) throw MissingParam{"room_id"};
    using core::limits::kHistoryDefault, core::limits::kHistoryMax, core::limits::kHistoryMin;
    auto before = r->p.integer("before", 0, 0, core::limits::kMaxSeq);
    auto limit = r->p.integer("limit", kHistoryDefault, kHistoryMin, kHistoryMax);
    ctx.chat.check_read(claims.account_id, room, r->me);
    ctx.persist.history(
        room, before, static_cast<int>(limit),
        [this, r, room](const std::string& e, json::array messages) {
          stored(r, e, json::object{{"room_id", room}, {"messages", std::move(messages)}});
        });
  }
};

Drumee::Drumee(FaceContext ctx) : impl_(std::make_unique<Impl>(std::move(ctx))) {}
Drumee::~Drumee() = default;

bool Drumee::handles(std::string_view path) const {
  return path.starts_with(kPrefix);
}

void Drumee::handle(net::Request&& req, net::Reply reply) {
  impl_->handle(std::move(req), std::move(reply));
}

std::optional<net::Response> Drumee::transport_error(int status, std::string_view message,
                                                     std::string_view path) const {
  return failure(path.substr(kPrefix.size()), status, transport_error_name(status), message);
}

std::optional<net::WsHandlers> Drumee::accept(const net::Request& req,
                                              std::shared_ptr<net::WsConnection> conn) {
  if (req.path != "/-/websocket" && req.path != "/websocket") return std::nullopt;
  std::string account, user;
  if (auto token = token_of(req, nullptr); !token.empty()) {
    try {
      auto claims = impl_->ctx.svc.verify(token);
      account = claims.account_id;
      user = claims.user_id;
    } catch (const Error&) {
      return std::nullopt;  // a bad token is refused, never taken for a guest
    }
  }
  return impl_->live.open(std::move(conn), std::move(account), std::move(user));
}

}  // namespace confab::api::drumee
