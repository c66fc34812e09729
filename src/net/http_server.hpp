#pragma once
#include "net/http.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace boost::asio {
class io_context;
}

namespace confab::net {

struct HttpOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8000;
  std::size_t body_limit = 1 << 20;  // bytes; larger bodies get 413
  // The limit of one request, decided once its header is in (method, percent-decoded path), so
  // that uploads may be allowed more than everything else. Unset: body_limit for every request.
  std::function<std::size_t(std::string_view method, std::string_view path)> body_limit_for;
  // Renders transport-level errors (413, 431, 400 on an unparsable request, 408, 503 at the
  // connection caps) in the shape of the API the request was for: `path` is its percent-decoded
  // path, as far as it arrived (the request line of a header that never ended), or empty when
  // nothing was read.
  std::function<Response(int status, std::string_view message, std::string_view path)>
      error_response;

  // Slow clients. A request's header must be whole within header_timeout of the connection's
  // start (first request) or of its first byte (later ones); a byte now and then does not
  // extend it. The body must arrive within body_timeout plus one second per body_min_rate bytes
  // received so far: a client has to keep up that average rate, so an upload on a live link is
  // never cut, and a stalled one is. A response must be taken at the same rate. Between requests
  // a keep-alive connection may stay silent for keepalive_timeout. A header or body timeout is
  // answered with 408; an idle connection is closed without a word.
  std::chrono::seconds header_timeout{10};
  std::chrono::seconds body_timeout{10};
  std::size_t body_min_rate = 16 * 1024;  // bytes per second
  std::chrono::seconds keepalive_timeout{60};
  // Connection caps, WebSocket connections included. A connection over a cap is answered 503
  // with Retry-After (the body from error_response) and closed without reading its request.
  std::size_t max_connections = 10000;
  std::size_t max_connections_per_source = 1024;  // per remote IP address
  std::chrono::seconds retry_after{5};
  // WebSocket: a socket the client has been silent on for ws_ping_interval gets a ping; one
  // silent for ws_idle_timeout (a pong counts as an answer) is closed with 1001. Frames queued
  // for one socket are bounded in number and in bytes; a socket that does not take them is cut
  // with 1008 and its queue released.
  std::chrono::seconds ws_ping_interval{30};
  std::chrono::seconds ws_idle_timeout{60};
  std::size_t ws_queue_limit = 8192;     // frames
  std::size_t ws_queue_bytes = 8 << 20;  // bytes of frames
  // A handler call on the control thread longer than this is counted and logged (at most one
  // line a second).
  std::chrono::milliseconds slow_handler{10};
};

// Counters of the server since it started; see README (GET /metrics, "http" and "control").
struct HttpStats {
  std::uint64_t connections_open = 0;  // HTTP and WebSocket, as counted against the caps
  std::uint64_t websockets_open = 0;
  std::uint64_t connections_accepted = 0;
  std::uint64_t refused_per_source = 0;
  std::uint64_t refused_total = 0;
  std::uint64_t accept_errors = 0;  // accept() failed (out of descriptors, ...)
  std::uint64_t timeout_header = 0;
  std::uint64_t timeout_body = 0;
  std::uint64_t timeout_idle = 0;
  std::uint64_t timeout_write = 0;
  std::uint64_t ws_closed_slow = 0;  // cut with 1008: the queue went over its bounds
  std::uint64_t ws_ping_timeouts = 0;
  // The control thread: every HTTP handler, WebSocket accept and WebSocket message call is
  // timed; the loop's lag is how late a 100 ms timer fires.
  std::uint64_t handler_calls = 0;
  std::uint64_t slow_handlers = 0;
  double max_handler_ms = 0;
  double loop_lag_max_ms = 0;
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, HttpOptions opts, HttpHandler http, WsAccept ws);
  ~HttpServer();
  std::uint16_t port() const;  // the bound port (useful with port 0)
  void stop();
  const HttpStats& stats() const;

  struct Impl;  // public so that the sessions in http_server.cpp can name it

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace confab::net
