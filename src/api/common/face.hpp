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
  // The server's own refusal of a request to one of this face's paths that it could not read
  // (413 body too large, 431 header too large, 408 too slow, 400 not HTTP), in this face's error
  // format; nullopt leaves it to Kazoo's envelope.
  virtual std::optional<net::Response> transport_error(int /*status*/, std::string_view /*message*/,
                                                       std::string_view /*path*/) const {
    return std::nullopt;
  }
};

// The name of a transport-level refusal, as Kazoo's envelope says it.
inline std::string_view transport_error_name(int status) {
  switch (status) {
    case 408:
      return "request_timeout";
    case 413:
      return "request_too_large";
    case 431:
      return "request_header_fields_too_large";
    case 503:
      return "service_unavailable";
    case 404:
      return "not_found";
    default:
      return "parse_error";
  }
}

}  // namespace confab::api
