#include "api/xivo/cti.hpp"

#include "api/xivo/auth.hpp"
#include "api/xivo/render.hpp"
#include "core/crypto.hpp"
#include "core/error.hpp"
#include "core/field_errors.hpp"

#include <spdlog/spdlog.h>
#include <boost/json.hpp>

#include <deque>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace confab::api::xivo {
namespace json = boost::json;
using render::frame;

namespace {

constexpr std::string_view kCti = "/xuc/api/2.0/cti";

// A frame the client got wrong: answered with msgType Error, and the socket stays open.
struct BadFrame : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A command refused: answered with ConferenceCommandError.
struct Refused {
  std::string error;
  std::string message;  // none for xuc's own four codes, which carry only "error"
};

struct RoomCommand {
  std::string_view command, action;
  bool indexed;  // names a participant by "index"
};
constexpr RoomCommand kRoomCommands[] = {
    {"conferenceMuteMe", "mute_me", false},   {"conferenceUnmuteMe", "unmute_me", false},
    {"conferenceMuteAll", "mute_all", false}, {"conferenceUnmuteAll", "unmute_all", false},
    {"conferenceMute", "mute", true},         {"conferenceUnmute", "unmute", true},
    {"conferenceDeafen", "deaf", true},       {"conferenceUndeafen", "undeaf", true},
    {"conferenceKick", "kick", true},         {"conferenceClose", "close", false},
    {"conferenceGrantVoice", "voice", true},  {"conferenceRevokeVoice", "devoice", true},
};

// How a core refusal reads in XiVO. `invalid` names a validation failure of this command.
Refused refusal(const Error& e, std::string_view invalid) {
  switch (e.code) {
    case Errc::not_a_member:
      return {"NotAMember", {}};
    case Errc::not_organizer:
      return {"NotOrganizer", {}};
    case Errc::cannot_kick_organizer:
      return {"CannotKickOrganizer", {}};
    case Errc::not_found:
      return {"ParticipantNotFound", {}};
    case Errc::invalid_data:
    case Errc::parse_error:
      return {std::string(invalid), core::describe(e)};
    case Errc::unavailable:
      return {"Unavailable", e.message};
    default:
      return {"NotAllowed", e.message};
  }
}

// A text argument: a string, or a number as XiVO clients often send (numConf, exten); a line of
// UTF-8 within its documented limit (numbers for numConf and exten, ids otherwise).
std::string text_arg(const json::object& m, std::string_view key) {
  auto* v = m.if_contains(key);
  if (!v || v->is_null()) return {};
  std::string s;
  if (v->is_string())
    s = std::string(v->as_string());
  else if (v->is_int64())
    s = std::to_string(v->as_int64());
  else if (v->is_uint64())
    s = std::to_string(v->as_uint64());
  else
    throw BadFrame(std::string(key) + " must be a string");
  auto max =
      key == "numConf" || key == "exten" ? core::limits::kNumberBytes : core::limits::kIdBytes;
  try {
    core::require_text(key, s, 0, max);
  } catch (const Error& e) {
    throw BadFrame(e.message);
  }
  return s;
}

std::string required_text(const json::object& m, std::string_view key) {
  auto s = text_arg(m, key);
  if (s.empty()) throw BadFrame(std::string(key) + " is required");
  return s;
}

// A number argument within [min, max] (a JSON integer or a string of digits): anything else is
// refused naming the field and its range, never clamped.
std::int64_t int_arg(const json::object& m, std::string_view key, std::int64_t dflt,
                     std::int64_t min, std::int64_t max) {
  try {
    return core::require_int(key, m.if_contains(key), min, max, dflt);
  } catch (const Error& e) {
    throw BadFrame(e.message);
  }
}

bool bool_arg(const json::object& m, std::string_view key) {
  auto* v = m.if_contains(key);
  if (!v || v->is_null()) return false;
  if (v->is_bool()) return v->as_bool();
  if (v->is_string() && (v->as_string() == "true" || v->as_string() == "false"))
    return v->as_string() == "true";
  throw BadFrame(std::string(key) + " must be a boolean");
}

}  // namespace

struct Cti::Impl {
  struct Session {
    std::weak_ptr<net::WsConnection> conn;
    std::string socket_id, account_id, user_id, username;
    bool refused = false;  // a bad token: LoggedOnError, then the socket closes
    bool listing = false;  // asked for the conference list: kept up to date
    std::shared_ptr<const std::string> last_list;
    // Frames go out in the order their causes came in: a reply that waits for the store holds
    // a place, and what follows it (pongs, events) queues behind that place.
    struct Place {
      std::shared_ptr<const std::string> frame;
      bool ready = false;
    };
    std::deque<std::shared_ptr<Place>> order;
  };
  using SessionPtr = std::shared_ptr<Session>;

  explicit Impl(FaceContext c) : ctx(c) {
    sub = ctx.bus.subscribe([this](const core::Event& e) {
      // Rendering must never throw into the core that is publishing.
      try {
        on_event(e);
      } catch (const std::exception& ex) {
        spdlog::error("xivo: cannot render {} event: {}", core::event_name(e.type), ex.what());
      }
    });
  }
  ~Impl() { ctx.bus.unsubscribe(sub); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  FaceContext ctx;
  int sub = 0;
  std::unordered_map<std::string, SessionPtr> sessions;  // logged-on sockets, by socket id

  // --- sending ---------------------------------------------------------------------------
  // The net layer queues frames sent before the handshake completes.
  void send(Session& s, std::shared_ptr<const std::string> f) {
    if (!s.order.empty()) {
      s.order.push_back(std::make_shared<Session::Place>(Session::Place{std::move(f), true}));
      return;
    }
    if (auto c = s.conn.lock()) c->send(std::move(f));
  }
  // A place in the output for a reply that comes later.
  std::shared_ptr<Session::Place> hold(Session& s) {
    s.order.push_back(std::make_shared<Session::Place>());
    return s.order.back();
  }
  // Fills a held place (or leaves it empty) and sends everything that was waiting behind it.
  void release(Session& s, const std::shared_ptr<Session::Place>& place,
               std::shared_ptr<const std::string> f = nullptr) {
    place->frame = std::move(f);
    place->ready = true;
    auto c = s.conn.lock();
    while (!s.order.empty() && s.order.front()->ready) {
      if (c && s.order.front()->frame) c->send(s.order.front()->frame);
      s.order.pop_front();
    }
  }
  static std::shared_ptr<const std::string> refusal_frame(const Refused& r) {
    json::object m{{"error", r.error}};
    if (!r.message.empty()) m["message"] = r.message;
    return frame("ConferenceCommandError", std::move(m));
  }
  void send(Session& s, std::string_view type, json::value msg) {
    send(s, frame(type, std::move(msg)));
  }
  void error(Session& s, std::string_view what) { send(s, "Error", json::object{{"Error", what}}); }
  void refuse(Session& s, const Refused& r) {
    json::object m{{"error", r.error}};
    if (!r.message.empty()) m["message"] = r.message;
    send(s, "ConferenceCommandError", std::move(m));
  }

  // --- addressing ------------------------------------------------------------------------
  std::vector<Session*> sessions_of(std::string_view user_id) {
    std::vector<Session*> out;
    for (auto& id : ctx.calls.sockets_of(user_id))
      if (auto it = sessions.find(id); it != sessions.end()) out.push_back(it->second.get());
    return out;
  }
  // The users in a room, each once, in join order (a set: linear in the room).
  std::vector<std::string> users_in(std::string_view conference_id) const {
    std::vector<std::string> out;
    std::unordered_set<std::string_view> seen;
    if (auto* room = ctx.svc.room(conference_id))
      for (auto& p : room->participants())
        if (!p.user_id.empty() && seen.insert(p.user_id).second) out.push_back(p.user_id);
    return out;
  }
  // (number, name) of a conference; a deleted one keeps the name its events carry.
  std::pair<std::string, std::string> label(const std::string& conference_id,
                                            const std::string& name) const {
    auto* d = ctx.svc.directory().find("conference", conference_id);
    if (!d) return {"", name.empty() ? conference_id : name};
    return {render::room_number(d->body), render::room_name(*d)};
  }
  void to_room(const std::string& conference_id, const std::shared_ptr<const std::string>& f) {
    for (auto& u : users_in(conference_id))
      for (auto* s : sessions_of(u)) send(*s, f);
  }

  // --- events ----------------------------------------------------------------------------
  void on_event(const core::Event& e);
  void on_participant(const core::Event& e);
  void on_call(const core::Event& e);
  void refresh_lists(const std::string& account_id, std::uint64_t batch);
  std::uint64_t list_batch = 0;  // the batch of events the lists were last refreshed for
  std::string list_account;

  // --- the socket --------------------------------------------------------------------------
  std::optional<net::WsHandlers> accept(const net::Request& req,
                                        std::shared_ptr<net::WsConnection> conn);
  void closed(Session& s) {
    if (sessions.erase(s.socket_id)) ctx.calls.disconnect(s.socket_id);
  }
  void on_message(const SessionPtr& s, std::string_view text);
  void command(const SessionPtr& s, std::string_view cmd, const json::object& m);
  std::string conference(const Session& s, const json::object& m) const;
  void room_command(Session& s, const RoomCommand& rc, const json::object& m);
  void invite(Session& s, const json::object& m);
  void answer(Session& s, const json::object& m, bool accept);
  void chat_send(const SessionPtr& s, const json::object& m);
  void chat_history(const SessionPtr& s, const json::object& m);
  void set_subject(const SessionPtr& s, const json::object& m);
};

// ---------------------------------------------------------------------------------------------
// The CTI socket.

std::optional<net::WsHandlers> Cti::Impl::accept(const net::Request& req,
                                                 std::shared_ptr<net::WsConnection> conn) {
  if (req.path != kCti) return std::nullopt;
  auto s = std::make_shared<Session>();
  s->conn = conn;
  s->socket_id = core::random_hex(16);
  try {
    auto claims = ctx.svc.verify(req.query_param("token"));
    if (claims.user_id.empty()) throw Error(Errc::unauthorized, "not a user's token");
    auto& user = ctx.svc.get("user", claims.account_id, claims.user_id);
    s->account_id = claims.account_id;
    s->user_id = claims.user_id;
    s->username = render::str_field(user.body, "username");
  } catch (const Error&) {
    s->refused = true;
    send(*s, "LoggedOnError", json::object{{"Error", "loggedOnFailed"}});
    conn->close();  // after the frame above
  }
  if (!s->refused) {
    sessions[s->socket_id] = s;
    ctx.calls.connect({s->socket_id, s->account_id, s->user_id, "xivo"});
    send(*s, "LoggedOn",
         json::object{
             {"userId", s->user_id}, {"username", s->username}, {"accountId", s->account_id}});
  }
  std::weak_ptr<Session> weak = s;
  net::WsHandlers h;
  // The connection owns the handlers, the handlers own the session: closing frees both.
  h.on_message = [this, s](std::string_view text) { on_message(s, text); };
  h.on_close = [this, weak] {
    if (auto s = weak.lock()) closed(*s);
  };
  return h;
}

void Cti::Impl::on_message(const SessionPtr& sp, std::string_view text) {
  auto& s = *sp;
  if (s.refused) return;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return error(s, "a frame must be a JSON object");
  auto& m = v.as_object();
  auto* claz = m.if_contains("claz");
  if (!claz || !claz->is_string()) return error(s, "claz is required");
  if (claz->as_string() == "ping") return send(s, "Pong", json::object{});
  if (claz->as_string() != "web")
    return error(s, "unknown claz: " + std::string(claz->as_string()));
  auto* cmd = m.if_contains("command");
  if (!cmd || !cmd->is_string()) return error(s, "command is required");
  try {
    command(sp, cmd->as_string(), m);
  } catch (const BadFrame& e) {
    error(s, e.what());
  } catch (const Refused& r) {
    refuse(s, r);
  } catch (const Error& e) {
    refuse(s, refusal(e, "InvalidCommand"));
  } catch (const std::exception& e) {
    // A bug, not the client's fault; the socket survives it.
    error(s, std::string("internal error: ") + e.what());
  }
}

void Cti::Impl::command(const SessionPtr& s, std::string_view cmd, const json::object& m) {
  if (cmd == "getList") {
    auto type = text_arg(m, "objectType");
    if (type != "meetme")
      throw BadFrame("getList: unsupported objectType \"" + type + "\" (only \"meetme\")");
    s->listing = true;
    s->last_list = frame("ConferenceList", render::conference_list(ctx.svc, s->account_id));
    return send(*s, s->last_list);
  }
  for (auto& rc : kRoomCommands)
    if (rc.command == cmd) return room_command(*s, rc, m);
  if (cmd == "conferenceInvite") return invite(*s, m);
  if (cmd == "conferenceInviteAccept") return answer(*s, m, true);
  if (cmd == "conferenceInviteDecline") return answer(*s, m, false);
  if (cmd == "conferenceChatSend") return chat_send(s, m);
  if (cmd == "conferenceChatHistory") return chat_history(s, m);
  if (cmd == "conferenceSetSubject") return set_subject(s, m);
  throw BadFrame("unknown command: " + std::string(cmd));
}

// The conference a command names by number; one the user cannot see is one they are not in.
std::string Cti::Impl::conference(const Session& s, const json::object& m) const {
  auto* d = ctx.svc.conference_by_number(s.account_id, required_text(m, "numConf"));
  if (!d) throw Refused{"NotAMember", {}};
  return d->id;
}

void Cti::Impl::room_command(Session& s, const RoomCommand& rc, const json::object& m) {
  auto conf = conference(s, m);
  int target = 0;
  if (rc.indexed) {
    if (!m.contains("index")) throw BadFrame("index is required");
    target = static_cast<int>(int_arg(m, "index", 0, 1, core::limits::kMaxParticipantId));
  }
  // Nobody is a member of a room that is not running (act_as would say "not found").
  if (!ctx.svc.room(conf)) throw Refused{"NotAMember", {}};
  try {
    ctx.svc.act_as(s.account_id, conf, s.user_id, rc.action, target);
  } catch (const Error& e) {
    throw refusal(e, "InvalidCommand");
  }
}

void Cti::Impl::invite(Session& s, const json::object& m) {
  auto conf = conference(s, m);
  auto exten = required_text(m, "exten");
  auto role_text = text_arg(m, "role");
  if (!role_text.empty() && role_text != "User" && role_text != "Organizer")
    throw BadFrame("role must be \"User\" or \"Organizer\"");
  auto role = role_text == "Organizer" ? core::Role::moderator : core::Role::member;
  bool early = bool_arg(m, "earlyJoin");
  auto* callee = ctx.svc.user_by_extension(s.account_id, exten);
  if (!callee)
    throw Refused{"InviteFailed", "no confab user has extension " + exten +
                                      "; dialling a phone extension needs SIP, which confab does "
                                      "not offer yet"};
  std::string callee_id = callee->id;
  // The caller's own participant when it joined through this socket (an accepted invitation).
  std::string caller_socket;
  if (auto* room = ctx.svc.room(conf); room && room->find_socket(s.socket_id))
    caller_socket = s.socket_id;
  core::Calls::Rung rung;
  try {
    rung = ctx.calls.invite(s.account_id, conf, s.user_id, caller_socket, callee_id, role,
                            json::object{{"earlyJoin", early}}, /*organizer_only=*/true);
  } catch (const Error& e) {
    throw refusal(e, "InvalidCommand");
  }
  if (rung.offline)
    throw Refused{"InviteFailed", "the user with extension " + exten +
                                      " has no confab session open (CTI, WebRTC); ringing their "
                                      "phone needs SIP, which confab does not offer yet"};
}

void Cti::Impl::answer(Session& s, const json::object& m, bool accept) {
  std::string conference;
  auto n = text_arg(m, "numConf");
  if (!n.empty()) {
    auto* d = ctx.svc.conference_by_number(s.account_id, n);
    if (!d) throw Refused{"NoInvitation", "no call to conference " + n + " is ringing for you"};
    conference = d->id;
  }
  try {
    if (accept)
      ctx.calls.accept(s.account_id, s.user_id, s.socket_id, {}, conference);
    else
      ctx.calls.decline(s.account_id, s.user_id, s.socket_id, {}, conference);
  } catch (const Error& e) {
    if (e.code == Errc::not_found)
      throw Refused{"NoInvitation",
                    n.empty() ? e.message : "no call to conference " + n + " is ringing for you"};
    throw refusal(e, "InvalidCommand");
  }
}

void Cti::Impl::chat_send(const SessionPtr& s, const json::object& m) {
  auto conf = conference(*s, m);
  auto* body = m.if_contains("message");
  if (body && !body->is_string()) throw BadFrame("message must be a string");
  core::ChatMessage msg;
  try {
    msg = ctx.chat.prepare_room(s->account_id, conf, s->user_id,
                                body ? std::string_view(body->as_string()) : std::string_view());
  } catch (const Error& e) {
    throw refusal(e, "InvalidMessage");
  }
  std::weak_ptr<Session> weak = s;
  // The room hears of it (ConferenceChatMessage, the sender included) once it is stored.
  auto place = hold(*s);
  ctx.persist.write_messages(
      ctx.chat, {std::move(msg)}, [this, weak, place](const std::string& err) {
        auto s = weak.lock();
        if (!s) return;
        release(*s, place,
                err.empty() ? nullptr
                            : refusal_frame({"Unavailable", "the message was not stored: " + err}));
      });
}

void Cti::Impl::chat_history(const SessionPtr& s, const json::object& m) {
  auto conf = conference(*s, m);
  using core::limits::kHistoryDefault, core::limits::kHistoryMax, core::limits::kHistoryMin;
  auto before = int_arg(m, "before", 0, 0, core::limits::kMaxSeq);
  auto limit = int_arg(m, "limit", kHistoryDefault, kHistoryMin, kHistoryMax);
  try {
    ctx.chat.check_read(s->account_id, conf, s->user_id);
  } catch (const Error& e) {
    throw refusal(e, "InvalidCommand");
  }
  std::weak_ptr<Session> weak = s;
  auto number = label(conf, {}).first;
  auto place = hold(*s);
  ctx.persist.history(
      conf, before, static_cast<int>(limit),
      [this, weak, number, place](const std::string& err, json::array rows) {
        auto s = weak.lock();
        if (!s) return;
        if (!err.empty())
          return release(*s, place, refusal_frame({"Unavailable", "history unavailable: " + err}));
        json::array out;
        for (auto& r : rows)
          if (r.is_object()) out.push_back(render::chat_message(ctx.svc, number, r.as_object()));
        release(*s, place,
                frame("ConferenceChatHistory",
                      json::object{{"numConf", number}, {"messages", std::move(out)}}));
      });
}

void Cti::Impl::set_subject(const SessionPtr& s, const json::object& m) {
  auto conf = conference(*s, m);
  auto* subject = m.if_contains("subject");
  if (!subject) throw BadFrame("subject is required");
  json::object change{{"subject", *subject}};
  if (auto* d = m.if_contains("description")) change["description"] = *d;
  core::PendingWrite w;
  try {
    w = ctx.chat.prepare_subject(s->account_id, conf, s->user_id, change);
  } catch (const Error& e) {
    throw refusal(e, "InvalidSubject");
  }
  std::weak_ptr<Session> weak = s;
  // The room hears of it (ConferenceSubject) once it is stored.
  auto place = hold(*s);
  ctx.persist.write(std::move(w), [this, weak, place](const std::string& err) {
    auto s = weak.lock();
    if (!s) return;
    release(*s, place,
            err.empty() ? nullptr
                        : refusal_frame({"Unavailable", "the subject was not stored: " + err}));
  });
}

// ---------------------------------------------------------------------------------------------
// Core events, rendered for the sockets they concern.

void Cti::Impl::on_event(const core::Event& e) {
  if (sessions.empty()) return;
  using T = core::EventType;
  switch (e.type) {
    case T::call:
      return on_call(e);
    case T::chat_message: {
      if (e.conference_id.empty() || !e.to_users.empty()) return;  // direct messages: not ours
      auto number = label(e.conference_id, e.conference_name).first;
      return to_room(e.conference_id, frame("ConferenceChatMessage",
                                            render::chat_message(ctx.svc, number, e.payload)));
    }
    case T::subject_change: {
      auto number = label(e.conference_id, e.conference_name).first;
      json::object msg{{"numConf", number}};
      for (auto key : {"subject", "description"})
        msg[key] = e.payload.contains(key) ? e.payload.at(key) : json::value("");
      return to_room(e.conference_id, frame("ConferenceSubject", std::move(msg)));
    }
    default:
      break;
  }
  if (e.participant) on_participant(e);
  switch (e.type) {
    case T::conference_create:
    case T::conference_destroy:
    case T::add_member:
    case T::del_member:
    case T::mute_member:
    case T::unmute_member:
      return refresh_lists(e.account_id, e.batch);
    default:
      return;
  }
}

void Cti::Impl::on_participant(const core::Event& e) {
  using T = core::EventType;
  std::string_view type;
  switch (e.type) {
    case T::add_member:
      type = "Join";
      break;
    case T::del_member:
      type = "Leave";
      break;
    case T::mute_member:
    case T::unmute_member:
    case T::deaf_member:
    case T::undeaf_member:
    case T::role_change:
    case T::start_talking:
    case T::stop_talking:
      type = "Update";
      break;
    default:
      return;  // kick-member is followed by del-member; floor and commands are not XiVO's
  }
  auto& p = *e.participant;
  auto [number, name] = label(e.conference_id, e.conference_name);
  auto now = ctx.svc.now();
  bool membership = type != "Update";
  // Room membership is read after the change: a leaver hears only its own ConferenceEvent.
  if (membership && !p.user_id.empty())
    if (auto mine = sessions_of(p.user_id); !mine.empty()) {
      auto f = frame(
          "ConferenceEvent",
          render::conference_event(type, p, number, name, ctx.svc.room(e.conference_id), now));
      for (auto* s : mine) send(*s, f);
    }
  std::shared_ptr<const std::string> for_me, for_others;
  for (auto& u : users_in(e.conference_id)) {
    bool me = u == p.user_id;
    if (me && membership) continue;  // told by its ConferenceEvent
    auto& f = me ? for_me : for_others;
    if (!f)
      f = frame("ConferenceParticipantEvent",
                render::participant_event(type, p, number, name, me ? u : std::string(), now));
    for (auto* s : sessions_of(u)) send(*s, f);
  }
}

void Cti::Impl::on_call(const core::Event& e) {
  std::vector<std::string> targets = e.to_sockets;
  for (auto& u : e.to_users)
    for (auto& id : ctx.calls.sockets_of(u)) targets.push_back(id);
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  std::shared_ptr<const std::string> f;
  for (auto& id : targets) {
    if (id == e.except_socket) continue;
    auto it = sessions.find(id);
    if (it == sessions.end()) continue;
    if (!f) {
      auto [number, name] = label(e.conference_id, e.conference_name);
      f = frame(e.detail == "invite" ? "ConferenceInvite" : "ConferenceInviteUpdate",
                render::call(ctx.svc, number, name, e));
    }
    send(*it->second, f);
  }
}

// A socket that asked for the list gets it again whenever it changes. Events come in batches
// (a close kicks everyone) and the core is already in its final state for each of them, so
// an unchanged list is not sent twice.
void Cti::Impl::refresh_lists(const std::string& account_id, std::uint64_t batch) {
  // One render per batch of events (closing a room of a thousand is one list, not a thousand).
  if (batch != 0 && batch == list_batch && account_id == list_account) return;
  list_batch = batch, list_account = account_id;
  std::shared_ptr<const std::string> f;
  for (auto& [id, s] : sessions) {
    if (!s->listing || s->account_id != account_id) continue;
    if (!f) f = frame("ConferenceList", render::conference_list(ctx.svc, account_id));
    if (s->last_list && *s->last_list == *f) continue;
    s->last_list = f;
    send(*s, f);
  }
}

// ---------------------------------------------------------------------------------------------

Cti::Cti(FaceContext ctx) : impl_(std::make_unique<Impl>(ctx)) {}
Cti::~Cti() = default;

bool Cti::handles(std::string_view path) const {
  return path == "/xuc" || path.starts_with("/xuc/");
}

void Cti::handle(net::Request&& req, net::Reply reply) {
  net::Response r;
  try {
    if (req.path == kLogin)
      r = login(impl_->ctx.svc, req);
    else if (req.path == kCheck)
      r = check(impl_->ctx.svc, req);
    else
      r = http_error(404, "NotFound", "no such endpoint: " + req.path);
  } catch (const std::exception& e) {
    // A bug, not the client's fault: answer without losing the server.
    r = http_error(500, "UnhandledError", e.what());
  }
  reply(std::move(r));
}

std::optional<net::Response> Cti::transport_error(int status, std::string_view message,
                                                  std::string_view) const {
  std::string_view code = status == 408   ? "RequestTimeout"
                          : status == 413 ? "RequestTooLarge"
                          : status == 431 ? "RequestHeaderFieldsTooLarge"
                          : status == 404 ? "NotFound"
                          : status == 503 ? "ServiceUnavailable"
                                          : "BadRequest";
  return http_error(status, code, message);
}

std::optional<net::WsHandlers> Cti::accept(const net::Request& req,
                                           std::shared_ptr<net::WsConnection> conn) {
  return impl_->accept(req, std::move(conn));
}

}  // namespace confab::api::xivo
