#pragma once
// Transport-neutral HTTP and WebSocket types: faces see these, never Beast, so that only one
// translation unit (http_server.cpp) pays for Beast's templates.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace confab::net {

struct Request {
  std::string method;                                        // "GET", "PUT", ...
  std::string path;                                          // percent-decoded, without the query
  std::string query;                                         // raw, without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  std::string remote;  // "<address>:<port>"

  // The client's IP address: `remote` without its port.
  std::string_view remote_address() const {
    return std::string_view(remote).substr(0, remote.rfind(':'));
  }

  std::string_view header(std::string_view lower_name) const;
  std::string query_param(std::string_view name) const;  // decoded; empty when absent
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

// A handler answers exactly once through Reply, now or later (after a store write).
using Reply = std::function<void(Response)>;
using HttpHandler = std::function<void(Request&&, Reply)>;

class WsConnection {
 public:
  virtual ~WsConnection() = default;
  // Queues a text frame; a connection whose queue goes over its bounds (frames or bytes) is cut
  // with close code 1008 (slow consumer). Never calls back into the face from inside the call:
  // on_close comes on a later pass of the event loop.
  virtual void send(std::shared_ptr<const std::string> text) = 0;
  virtual void close() = 0;
  virtual const std::string& remote() const = 0;
};

struct WsHandlers {
  std::function<void(std::string_view)> on_message;
  std::function<void()> on_close;
};
// Decides whether to accept an upgrade at this request; returns the handlers if so.
using WsAccept =
    std::function<std::optional<WsHandlers>(const Request&, std::shared_ptr<WsConnection>)>;

std::string percent_decode(std::string_view s, bool plus_as_space);

}  // namespace confab::net
