#include "api/kazoo/event_socket.hpp"

#include "api/kazoo/render.hpp"
#include "core/crypto.hpp"
#include "core/error.hpp"
#include "core/field_errors.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <unordered_map>

namespace confab::api::kazoo {
namespace json = boost::json;

struct EventSocket::Session {
  std::weak_ptr<net::WsConnection> conn;
  std::string account_id;  // set by the first authenticated message
  bool admin = false;
  std::vector<std::pair<std::string, std::string>> keys;      // index keys this session is under
  std::vector<std::pair<std::string, std::string>> bindings;  // (account, binding as written)
};

Binding parse_binding(std::string_view text) {
  std::vector<std::string_view> parts;
  for (std::string_view rest = text;;) {
    auto dot = rest.find('.');
    parts.push_back(rest.substr(0, dot));
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  if (parts.empty() || parts[0] != "conference")
    throw Error(Errc::invalid_data, "no available subscriptions to requested binding");
  Binding b{std::string(text), false, {}, "*"};
  auto invalid = [&] {
    return Error(Errc::invalid_data,
                 "invalid format for conference subscription : " + std::string(text));
  };
  if (parts.size() >= 2 && parts[1] == "command") {
    if (parts.size() != 3) throw invalid();
    b.command = true;
    b.conference = std::string(parts[2]);
  } else if (parts.size() >= 2 && parts[1] == "event") {
    if (parts.size() != 4) throw invalid();
    b.conference = std::string(parts[2]);
    b.call = std::string(parts[3]);
  } else {
    throw Error(Errc::invalid_data, "no available subscriptions to requested binding");
  }
  if (b.conference.empty() || b.call.empty())
    throw Error(Errc::invalid_data, "ConferenceId required");
  return b;
}

EventSocket::EventSocket(core::ConferenceService& svc, bus::LocalBus& bus, std::string node)
    : svc_(svc), bus_(bus), node_(std::move(node)) {
  bus_sub_ = bus_.subscribe([this](const core::Event& e) { on_event(e); });
}

EventSocket::~EventSocket() {
  bus_.unsubscribe(bus_sub_);
}

std::size_t EventSocket::subscriptions() const {
  std::size_t n = 0;
  for (auto& [k, v] : subs_) n += v.size();
  return n;
}

std::optional<net::WsHandlers> EventSocket::accept(const net::Request&,
                                                   std::shared_ptr<net::WsConnection> conn) {
  auto s = std::make_shared<Session>();
  s->conn = conn;
  std::weak_ptr<Session> weak = s;
  net::WsHandlers h;
  // The connection owns the handlers and the handlers own the session; the session only
  // observes the connection, so closing the socket frees everything.
  h.on_message = [this, s](std::string_view text) { on_message(s, text); };
  h.on_close = [this, weak] {
    if (auto s = weak.lock()) drop(*s);
  };
  return h;
}

void EventSocket::drop(Session& s) {
  for (auto& key : s.keys) {
    auto it = subs_.find(key);
    if (it == subs_.end()) continue;
    std::erase_if(it->second, [&](const Sub& sub) { return sub.session == &s; });
    if (it->second.empty()) subs_.erase(it);
  }
  s.keys.clear();
  s.bindings.clear();
}

void EventSocket::reply(Session& s, const std::string& request_id, std::string_view status,
                        json::object data) {
  auto conn = s.conn.lock();
  if (!conn) return;
  json::object msg{{"action", "reply"},
                   {"request_id", request_id},
                   {"status", status},
                   {"data", std::move(data)}};
  conn->send(std::make_shared<const std::string>(json::serialize(msg)));
}

void EventSocket::on_message(const std::shared_ptr<Session>& sp, std::string_view text) {
  auto& s = *sp;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  std::string request_id = core::random_hex(16);
  auto error = [&](std::string msg) {
    reply(s, request_id, "error", json::object{{"errors", json::array{json::value(msg)}}});
  };
  if (ec || !v.is_object()) return error("message must be a JSON object");
  auto& m = v.as_object();
  // What a client names is bounded like everything else; the reply says which field is not.
  auto bad_text = [&](std::string_view field, const json::value* v, std::size_t max) {
    if (!v || !v->is_string()) return false;
    try {
      core::require_text(field, v->as_string(), 0, max);
      return false;
    } catch (const Error& e) {
      error(e.message);
      return true;
    }
  };
  if (bad_text("request_id", m.if_contains("request_id"), core::limits::kRequestIdBytes)) return;
  if (auto* r = m.if_contains("request_id"); r && r->is_string())
    request_id = std::string(r->as_string());
  if (bad_text("action", m.if_contains("action"), core::limits::kIdBytes)) return;
  if (bad_text("auth_token", m.if_contains("auth_token"), core::limits::kTokenBytes)) return;
  auto* act = m.if_contains("action");
  std::string action = act && act->is_string() ? std::string(act->as_string()) : "noop";

  // A token given is always checked. The first valid one fixes the socket's account for its
  // lifetime (as in Kazoo), so a socket never changes account under its own subscriptions.
  if (auto* t = m.if_contains("auth_token")) {
    if (!t->is_string()) return error("invalid authentication token format");
    try {
      auto claims = svc_.verify(t->as_string());
      if (s.account_id.empty()) {
        s.account_id = claims.account_id;
        s.admin = svc_.is_admin_account(claims.account_id);
      } else if (claims.account_id != s.account_id) {
        return error("this socket is already authenticated for another account");
      }
    } catch (const Error& e) {
      return error("failed to authenticate token " + std::string(t->as_string()) + ": " +
                   e.message);
    }
  }
  if (s.account_id.empty()) return error("authentication token required");

  if (action == "ping") return reply(s, request_id, "success", json::object{{"response", "pong"}});
  if (action != "subscribe" && action != "unsubscribe") return error("unknown action: " + action);

  auto* d = m.if_contains("data");
  if (!d || !d->is_object() || d->as_object().empty())
    return error("missing required keys in data object");
  auto& data = d->as_object();
  std::string account = s.account_id;
  if (auto* a = data.if_contains("account_id")) {
    if (!a->is_string()) return error("missing required keys : account_id");
    if (bad_text("account_id", a, core::limits::kIdBytes)) return;
    account = std::string(a->as_string());
  }
  if (account == "*") return error("unauthorized wildcard account id");
  if (account != s.account_id && !s.admin) return error("unauthorized account id");

  std::vector<std::string> wanted;
  if (auto* b = data.if_contains("binding"); b && b->is_string()) {
    if (bad_text("binding", b, core::limits::kBindingBytes)) return;
    wanted.emplace_back(b->as_string());
  }
  if (auto* bs = data.if_contains("bindings"); bs && bs->is_array()) {
    if (bs->as_array().size() > core::limits::kBindingsPerSocket)
      return error("bindings must hold at most " +
                   std::to_string(core::limits::kBindingsPerSocket) + " bindings");
    for (auto& b : bs->as_array()) {
      if (bad_text("binding", &b, core::limits::kBindingBytes)) return;
      if (b.is_string()) wanted.emplace_back(b.as_string());
    }
  }
  if (wanted.empty()) return error("missing required keys : binding");
  if (action == "subscribe") {
    // A socket's bindings are bounded: what it already holds plus what it asks for.
    std::size_t fresh = 0;
    for (auto& w : wanted)
      if (std::find(s.bindings.begin(), s.bindings.end(), std::pair{account, w}) ==
          s.bindings.end())
        ++fresh;
    if (s.bindings.size() + fresh > core::limits::kBindingsPerSocket)
      return error("a socket holds at most " + std::to_string(core::limits::kBindingsPerSocket) +
                   " bindings (bindings)");
  }

  std::vector<Binding> parsed;
  for (auto& w : wanted) {
    try {
      auto b = parse_binding(w);
      // Only a new subscription needs its conference to exist; one may always let go of a
      // binding, even after its conference was deleted.
      if (action == "subscribe" && b.conference != "*") {
        auto* doc = svc_.directory().find("conference", b.conference);
        if (!doc || doc->account_id != account)
          return error("unknown conference id for this account: " + b.conference);
      }
      parsed.push_back(std::move(b));
    } catch (const Error& e) {
      return error(e.message);
    }
  }

  auto listed = [&] {
    json::array out;
    for (auto& [acct, text] : s.bindings) out.push_back(json::value(text));
    return out;
  };
  if (action == "subscribe") {
    for (auto& b : parsed) {
      std::pair<std::string, std::string> mine{account, b.text};
      if (std::find(s.bindings.begin(), s.bindings.end(), mine) != s.bindings.end()) continue;
      std::pair<std::string, std::string> key{account, b.conference};
      subs_[key].push_back(Sub{&s, b, account});
      if (std::find(s.keys.begin(), s.keys.end(), key) == s.keys.end()) s.keys.push_back(key);
      s.bindings.push_back(std::move(mine));
    }
    return reply(s, request_id, "success", json::object{{"subscribed", listed()}});
  }
  json::array removed;
  for (auto& b : parsed) {
    auto it = std::find(s.bindings.begin(), s.bindings.end(), std::pair{account, b.text});
    if (it == s.bindings.end()) continue;
    s.bindings.erase(it);
    removed.push_back(json::value(b.text));
    auto sit = subs_.find({account, b.conference});
    if (sit != subs_.end()) {
      std::erase_if(sit->second, [&](const Sub& sub) {
        return sub.session == &s && sub.binding.text == b.text;
      });
      if (sit->second.empty()) subs_.erase(sit);
    }
  }
  reply(s, request_id, "success",
        json::object{{"unsubscribed", std::move(removed)}, {"subscribed", listed()}});
}

void EventSocket::on_event(const core::Event& e) {
  // Only the events Kazoo's conference bindings carry; addressed (call, chat) and document
  // events are other faces' business.
  switch (e.type) {
    case core::EventType::conference_update:
    case core::EventType::call:
    case core::EventType::chat_message:
    case core::EventType::broadcast:
    case core::EventType::room_update:
    case core::EventType::subject_change:
      return;
    default:
      break;
  }
  auto exact = subs_.find({e.account_id, e.conference_id});
  auto wild = subs_.find({e.account_id, "*"});
  if (exact == subs_.end() && wild == subs_.end()) return;

  bool is_command = e.type == core::EventType::command;
  auto data = json::serialize(event_data(e, node_, ++msg_id_));
  auto rkey = json::serialize(json::value(routing_key(e)));
  auto name = json::serialize(json::value(is_command ? "command" : core::event_name(e.type)));
  const std::string* call = e.participant ? &e.participant->call_id : nullptr;

  // Subscribers with the same binding get byte-identical frames: build each distinct frame once
  // per event and share the buffer, so fan-out costs one write per socket and no copies.
  // Every subscription looked at here belongs to the event's account, so the binding text alone
  // identifies the frame.
  std::unordered_map<std::string_view, std::shared_ptr<const std::string>> built;
  auto frame_for = [&](const Sub& sub) {
    if (auto it = built.find(sub.binding.text); it != built.end()) return it->second;
    auto& b = sub.binding;
    // The key of the subscription as made: with its own wildcards, not the event's ids.
    std::string subscription =
        b.command ? "conference.command." + b.conference
                  : "conference.event.*." + sub.account_id + "." + b.conference + "." + b.call;
    auto msg = std::make_shared<std::string>();
    msg->reserve(data.size() + 256);
    *msg += R"({"action":"event","subscribed_key":)";
    *msg += json::serialize(json::value(b.text));
    *msg += R"(,"subscription_key":)";
    *msg += json::serialize(json::value(subscription));
    *msg += R"(,"name":)";
    *msg += name;
    *msg += R"(,"routing_key":)";
    *msg += rkey;
    *msg += R"(,"data":)";
    *msg += data;
    *msg += '}';
    return built.emplace(sub.binding.text, std::move(msg)).first->second;
  };
  auto deliver = [&](std::vector<Sub>& list) {
    for (auto& sub : list) {
      auto& b = sub.binding;
      if (b.command != is_command) continue;
      if (!is_command && b.call != "*" && (!call || *call != b.call)) continue;
      if (auto conn = sub.session->conn.lock()) conn->send(frame_for(sub));
    }
  };
  if (exact != subs_.end()) deliver(exact->second);
  wild = subs_.find({e.account_id, "*"});
  if (wild != subs_.end()) deliver(wild->second);
}

}  // namespace confab::api::kazoo
