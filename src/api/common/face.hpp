#pragma once
// What every API face gets, and what it offers the HTTP server. A face translates one wire format
// to core calls and core events back; it keeps no room state and decides no rule.
#include "api/common/persist.hpp"
#include "bus/local_bus.hpp"
#include "core/calls.hpp"
#include "core/chat.hpp"
#include "core/service.hpp"
#include "net/http.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace confab::api {

struct FaceContext {
  core::ConferenceService& svc;
  core::Chat& chat;
  core::Calls& calls;
  Persister& persist;
  bus::LocalBus& bus;
  std::string node;
};

class Face {
 public:
  virtual ~Face() = default;
  // True for the HTTP paths this face serves (and answers, even with errors).
  virtual bool handles(std::string_view path) const = 0;
  virtual void handle(net::Request&& req, net::Reply reply) = 0;
  // A WebSocket upgrade at a path of this face; nullopt when the path is not its.
  virtual std::optional<net::WsHandlers> accept(const net::Request&,
                                                std::shared_ptr<net::WsConnection>) {
    return std::nullopt;
  }
};

}  // namespace confab::api
