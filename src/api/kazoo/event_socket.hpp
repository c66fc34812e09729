#pragma once
// Kazoo blackhole WebSocket (/v2/websocket): subscribe/unsubscribe to conference bindings, events
// pushed as {"action":"event",...}. Each event's payload is rendered once and shared by every
// subscriber; only the per-subscription keys are added per socket.
#include "bus/local_bus.hpp"
#include "core/service.hpp"
#include "net/http.hpp"

#include <boost/json/object.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace confab::api::kazoo {

// A parsed binding: conference.event.{conf}.{call} or conference.command.{conf}.
struct Binding {
  std::string text;
  bool command = false;
  std::string conference;  // "*" = every conference of the account
  std::string call;        // "*" = every participant (and conference-level events)
};
// Throws Error{invalid_data} with Kazoo's message when the binding is not a conference binding.
Binding parse_binding(std::string_view text);

class EventSocket {
 public:
  EventSocket(core::ConferenceService& svc, bus::LocalBus& bus, std::string node);
  ~EventSocket();
  std::optional<net::WsHandlers> accept(const net::Request& req,
                                        std::shared_ptr<net::WsConnection> conn);
  std::size_t subscriptions() const;

 private:
  struct Session;
  struct Sub {
    Session* session;
    Binding binding;
    std::string account_id;
  };
  void on_message(const std::shared_ptr<Session>& s, std::string_view text);
  void on_event(const core::Event& e);
  void reply(Session& s, const std::string& request_id, std::string_view status,
             boost::json::object data);
  void drop(Session& s);

  core::ConferenceService& svc_;
  bus::LocalBus& bus_;
  std::string node_;
  int bus_sub_ = 0;
  std::uint64_t msg_id_ = 0;
  // Index for fan-out: (account, conference or "*") -> subscriptions.
  std::map<std::pair<std::string, std::string>, std::vector<Sub>> subs_;
};

}  // namespace confab::api::kazoo
