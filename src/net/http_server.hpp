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
  std::size_t ws_queue_limit = 8192;  // frames queued for one socket before it is dropped
  std::chrono::seconds idle_timeout{60};
  // Renders transport-level errors (413, 400 on an unparsable request) in the API's own shape.
  std::function<Response(int status, std::string_view message)> error_response;
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, HttpOptions opts, HttpHandler http, WsAccept ws);
  ~HttpServer();
  std::uint16_t port() const;  // the bound port (useful with port 0)
  void stop();

  struct Impl;  // public so that the sessions in http_server.cpp can name it

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace confab::net
