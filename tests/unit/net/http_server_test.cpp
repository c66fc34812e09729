// The control-thread watchdog of HttpServer, in process: a handler that sleeps holds the thread
// at least that long, so the counters have lower bounds that do not depend on the machine's speed.
#include "net/http_server.hpp"

#include <gtest/gtest.h>
#include <boost/asio.hpp>

#include <chrono>
#include <string>
#include <thread>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using confab::net::HttpServer;

namespace {

// Sends `req` as it is and reads the answer until the server closes.
std::string send_raw(std::uint16_t port, const std::string& req) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(s, asio::buffer(req));
  std::string out;
  boost::system::error_code ec;
  char buf[4096];
  for (;;) {
    auto n = s.read_some(asio::buffer(buf), ec);
    out.append(buf, n);
    if (ec) break;
  }
  return out;
}

std::string get(std::uint16_t port, const std::string& path) {
  return send_raw(port, "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

}  // namespace

TEST(HttpServerWatchdog, SlowHandlerIsCountedAndTimed) {
  asio::io_context io;
  confab::net::HttpOptions o;
  o.port = 0;
  o.slow_handler = 15ms;
  HttpServer srv(
      io, o,
      [](confab::net::Request&& req, confab::net::Reply reply) {
        if (req.path == "/slow") std::this_thread::sleep_for(40ms);
        reply({200, "{}", "application/json", {}});
      },
      nullptr);
  std::string slow, fast;
  std::thread client([&, port = srv.port()] {
    fast = get(port, "/fast");
    slow = get(port, "/slow");
    asio::post(io, [&] { io.stop(); });
  });
  io.run_for(20s);
  client.join();
  EXPECT_EQ(fast.substr(0, 12), "HTTP/1.1 200");
  EXPECT_EQ(slow.substr(0, 12), "HTTP/1.1 200");
  auto& s = srv.stats();
  EXPECT_EQ(s.handler_calls, 2u);
  EXPECT_GE(s.slow_handlers, 1u);
  EXPECT_GE(s.max_handler_ms, 40.0);
  EXPECT_EQ(s.connections_accepted, 2u);
}

TEST(HttpServerWatchdog, BlockedLoopShowsAsLag) {
  asio::io_context io;
  confab::net::HttpOptions o;
  o.port = 0;
  HttpServer srv(
      io, o, [](confab::net::Request&&, confab::net::Reply) {}, nullptr);
  // The 100 ms timer falls due while the loop is held for 300 ms: it fires at least 200 ms late.
  asio::post(io, [] { std::this_thread::sleep_for(300ms); });
  io.run_for(700ms);
  EXPECT_GE(srv.stats().loop_lag_max_ms, 150.0);
}

TEST(HttpServerCaps, OverTheSourceCapIsAnswered503AndClosed) {
  asio::io_context io;
  confab::net::HttpOptions o;
  o.port = 0;
  o.max_connections_per_source = 1;
  o.error_response = [](int status, std::string_view msg, std::string_view) {
    return confab::net::Response{
        status, "{\"message\":\"" + std::string(msg) + "\"}", "application/json", {}};
  };
  HttpServer srv(
      io, o,
      [](confab::net::Request&&, confab::net::Reply reply) {
        reply({200, "{}", "application/json", {}});
      },
      nullptr);
  std::string refused;
  std::thread client([&, port = srv.port()] {
    asio::io_context cio;
    asio::ip::tcp::socket hog(cio);
    hog.connect({asio::ip::make_address("127.0.0.1"), port});
    std::this_thread::sleep_for(100ms);  // accepted before the next one
    refused = get(port, "/x");
    asio::post(io, [&] { io.stop(); });
  });
  io.run_for(20s);
  client.join();
  EXPECT_EQ(refused.substr(0, 12), "HTTP/1.1 503") << refused;
  EXPECT_NE(refused.find("Retry-After: 5"), std::string::npos) << refused;
  EXPECT_NE(refused.find("too many connections from this address (limit 1)"), std::string::npos);
  EXPECT_EQ(srv.stats().refused_per_source, 1u);
}

// The server's own refusals name the path the request was for, so that each API answers in its
// own format: from the parsed header (413), or from the request line of a header that never
// ended (431).
TEST(HttpServerErrors, RefusalsKnowTheRequestsPath) {
  asio::io_context io;
  confab::net::HttpOptions o;
  o.port = 0;
  o.body_limit = 10;
  std::vector<std::string> paths;
  o.error_response = [&paths](int status, std::string_view, std::string_view path) {
    paths.push_back(std::to_string(status) + " " + std::string(path));
    return confab::net::Response{status, "{}", "application/json", {}};
  };
  HttpServer srv(
      io, o,
      [](confab::net::Request&&, confab::net::Reply reply) {
        reply({200, "{}", "application/json", {}});
      },
      nullptr);
  std::string body_refused, header_refused, line_refused;
  std::thread client([&, port = srv.port()] {
    body_refused = send_raw(port,
                            "PUT /-/svc/chat.post?x=1 HTTP/1.1\r\nHost: x\r\n"
                            "Content-Length: 100\r\n\r\n");
    header_refused = send_raw(port, "GET /xuc/api/2.0/auth/l%6Fgin HTTP/1.1\r\nX-Pad: " +
                                        std::string(20000, 'p') + "\r\n\r\n");
    line_refused =
        send_raw(port, "GET /v1/conference/" + std::string(20000, 'r') + " HTTP/1.1\r\n\r\n");
    asio::post(io, [&] { io.stop(); });
  });
  io.run_for(20s);
  client.join();
  EXPECT_EQ(body_refused.substr(0, 12), "HTTP/1.1 413") << body_refused;
  EXPECT_EQ(header_refused.substr(0, 12), "HTTP/1.1 431") << header_refused;
  EXPECT_EQ(line_refused.substr(0, 12), "HTTP/1.1 431") << line_refused;
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(paths[0], "413 /-/svc/chat.post");
  EXPECT_EQ(paths[1], "431 /xuc/api/2.0/auth/login");
  EXPECT_EQ(paths[2].substr(0, 24), "431 /v1/conference/rrrrr") << paths[2].substr(0, 40);
}
