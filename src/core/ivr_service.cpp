#include "core/ivr_service.hpp"

#include "core/error.hpp"
#include "core/identity.hpp"
#include "core/json_util.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace confab::core::ivr {
namespace json = boost::json;

namespace {

const json::object& sub(const json::object& o, std::string_view key) {
  static const json::object empty;
  auto* v = o.if_contains(key);
  return v && v->is_object() ? v->as_object() : empty;
}

bool has(const json::object& o, std::string_view key, std::string_view value) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_array()) return false;
  return std::any_of(v->as_array().begin(), v->as_array().end(),
                     [&](const json::value& x) { return x.is_string() && x.as_string() == value; });
}

bool non_empty(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_array() && !v->as_array().empty();
}

bool flag(const json::object& o, std::string_view key, bool dflt) {
  auto* v = o.if_contains(key);
  return v && v->is_bool() ? v->as_bool() : dflt;
}

std::string name_or(const json::object& o, std::string_view key, std::string_view dflt) {
  auto s = str_field(o, key);
  return s.empty() ? std::string(dflt) : s;
}

// Kazoo's pin_timeout is in milliseconds; what is not a sane one is ignored.
int pin_timeout(const json::object& o) {
  auto* v = o.if_contains("pin_timeout");
  if (!v || !v->is_int64()) return 0;
  auto ms = v->as_int64();
  return ms >= 1000 && ms <= 60000 ? static_cast<int>(ms) : 0;
}

Verdict verdict_of(Errc c) {
  switch (c) {
    case Errc::bad_pin:
      return Verdict::bad_pin;
    case Errc::too_many_attempts:
      return Verdict::too_many_attempts;
    case Errc::room_locked:
      return Verdict::locked;
    case Errc::room_full:
      return Verdict::full;
    case Errc::forbidden:
      return Verdict::forbidden;
    case Errc::not_found:
      return Verdict::not_found;
    default:
      return Verdict::error;
  }
}

int attempts_left(const Error& e) {
  auto* v = e.details.if_contains("attempts_remaining");
  return v && v->is_int64() ? static_cast<int>(v->as_int64()) : 0;
}

}  // namespace

ConferenceInfo conference_info(const Doc& conf, std::string_view number) {
  auto& b = conf.body;
  auto& mem = sub(b, "member");
  auto& mod = sub(b, "moderator");
  ConferenceInfo c;
  c.account_id = conf.account_id;
  c.conference_id = conf.id;
  c.number = std::string(number);
  bool as_member = has(mem, "numbers", number), as_moderator = has(mod, "numbers", number);
  if (as_member != as_moderator) c.by_number = as_moderator ? Role::moderator : Role::member;
  c.member_pins = non_empty(mem, "pins");
  c.moderator_pins = non_empty(mod, "pins");
  c.play_welcome = flag(b, "play_welcome", true);
  c.play_name = flag(b, "play_name", false);
  c.caller_controls = name_or(b, "caller_controls", "default");
  c.moderator_controls = name_or(b, "moderator_controls", "default");
  c.max_members_media = str_field(b, "max_members_media");
  c.language = str_field(b, "language");
  c.pin_timeout_ms = pin_timeout(b);
  return c;
}

std::optional<ConferenceInfo> ServiceLookup::find(std::string_view number,
                                                  std::string_view domain) {
  if (number.empty()) return std::nullopt;
  auto& dir = svc_.directory();
  if (!domain.empty()) {
    auto host = lower(domain);
    for (auto* a : dir.all("account"))
      if (lower(str_field(a->body, "realm")) == host) {
        auto* d = svc_.conference_by_number(a->id, number);
        if (!d) return std::nullopt;
        return conference_info(*d, number);
      }
  }
  const Doc* found = nullptr;
  for (auto* a : dir.all("account"))
    if (auto* d = svc_.conference_by_number(a->id, number)) {
      if (found) return std::nullopt;  // ambiguous: the caller must dial the account's realm
      found = d;
    }
  if (!found) return std::nullopt;
  return conference_info(*found, number);
}

JoinRequest join_request(const CallInfo& call, std::string_view dialed, std::string_view pin) {
  JoinRequest req;
  req.name = call.caller_name;
  req.number = call.caller_number;
  req.pin = std::string(pin);
  req.dialed = std::string(dialed);
  req.call_id = call.call_id;
  req.source = call.source;
  return req;
}

AdmitResult ServiceLookup::admit(const ConferenceInfo& c, const CallInfo& call,
                                 std::string_view pin) {
  AdmitResult a;
  try {
    a.role =
        svc_.admit_caller(c.account_id, c.conference_id, join_request(call, c.number, pin)).role;
  } catch (const Error& e) {
    a.verdict = verdict_of(e.code);
    if (a.verdict == Verdict::bad_pin) a.attempts_left = attempts_left(e);
  }
  return a;
}

Verdict ServiceLookup::entry(const ConferenceInfo& c) {
  try {
    auto& doc = svc_.get("conference", c.account_id, c.conference_id);
    if (auto* r = svc_.room(c.conference_id)) r->check_entry(doc.body);
    return Verdict::ok;
  } catch (const Error& e) {
    return verdict_of(e.code);
  }
}

JoinOutcome join(ConferenceService& svc, const JoinSpec& spec, ParticipantView* joined) {
  JoinOutcome o;
  try {
    auto p = svc.join(spec.account_id, spec.conference_id,
                      join_request(spec.call, spec.dialed, spec.pin));
    o.role = p.is_moderator ? Role::moderator : Role::member;
    o.participant_id = p.participant_id;
    o.room = room_view(svc, spec.conference_id, p.participant_id);
    if (joined) *joined = std::move(p);
  } catch (const Error& e) {
    o.verdict = verdict_of(e.code);
  }
  return o;
}

RoomView room_view(const ConferenceService& svc, std::string_view conference_id,
                   int participant_id) {
  RoomView v;
  auto* r = svc.room(conference_id);
  if (!r) return v;
  v.participants = static_cast<int>(r->participants().size());
  v.locked = r->locked();
  if (auto* p = r->find(participant_id)) {
    v.speak = p->speak;
    v.hear = p->hear;
    if (auto* d = svc.directory().find("conference", conference_id)) v.held = r->holds(d->body, *p);
  }
  return v;
}

bool apply_control(ConferenceService& svc, std::string_view account_id,
                   std::string_view conference_id, int participant_id, ControlOp op) {
  switch (op) {
    case ControlOp::mute:
    case ControlOp::unmute:
    case ControlOp::deaf:
    case ControlOp::undeaf:
      svc.participant_action(account_id, conference_id, participant_id, op_name(op));
      return true;
    case ControlOp::lock:
    case ControlOp::unlock:
      svc.conference_action(account_id, conference_id, op_name(op));
      return true;
    case ControlOp::mute_all:
    case ControlOp::unmute_all:
      svc.participants_action(account_id, conference_id,
                              op == ControlOp::mute_all ? "mute" : "unmute");
      return true;
    case ControlOp::talk_volume:
    case ControlOp::listen_volume:
      return false;
  }
  return false;
}

}  // namespace confab::core::ivr
