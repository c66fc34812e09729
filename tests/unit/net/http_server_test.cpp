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

std::string get(std::uint16_t port, const std::string& path) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
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
  o.error_response = [](int status, std::string_view msg) {
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
