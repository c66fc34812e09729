#pragma once
// A real endpoint on 127.0.0.1 (port 0) and a real UDP/TCP user agent talking to it: the tests
// are the application (a SipApp that records what it is told and does what each test says).
#include "sip/endpoint.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace confab::sip::test {

using namespace std::chrono_literals;

struct RecordingApp : SipApp {
  Endpoint* ep = nullptr;
  std::vector<IncomingCall> invites;
  std::vector<std::pair<CallId, std::optional<std::string>>> acks, reoffers;
  struct Digit {
    CallId call;
    char digit;
    int duration;
  };
  std::vector<Digit> digits;
  std::vector<std::pair<CallId, EndReason>> ends;
  std::function<void(const IncomingCall&)> invite_action;  // none: leave it unanswered
  std::function<void(CallId, const std::optional<std::string>&)> reoffer_action;

  void on_invite(const IncomingCall& c) override {
    invites.push_back(c);
    if (invite_action) invite_action(c);
  }
  void on_ack(CallId c, const std::optional<std::string>& a) override { acks.emplace_back(c, a); }
  void on_reoffer(CallId c, const std::optional<std::string>& o) override {
    reoffers.emplace_back(c, o);
    if (reoffer_action) reoffer_action(c, o);
  }
  void on_info_digit(CallId c, char d, int ms) override { digits.push_back({c, d, ms}); }
  void on_end(CallId c, EndReason r) override { ends.emplace_back(c, r); }
};

// A SIP user agent's socket: plain BSD sockets, so that nothing of the endpoint's is reused.
struct Socket {
  int fd = -1;
  std::uint16_t port = 0;
  bool tcp = false;
  std::string stream;  // TCP bytes not yet cut into messages

  static Socket udp(const char* ip = "127.0.0.1") {
    Socket s;
    s.fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, ip, &a.sin_addr);
    ::bind(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&a), &len);
    s.port = ntohs(a.sin_port);
    ::fcntl(s.fd, F_SETFL, O_NONBLOCK);
    return s;
  }
  static Socket tcp_to(std::uint16_t port) {
    Socket s;
    s.tcp = true;
    s.fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    // Non-blocking connect: the endpoint accepts only while the test runs its io_context.
    ::fcntl(s.fd, F_SETFL, O_NONBLOCK);
    ::connect(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&a), &len);
    s.port = ntohs(a.sin_port);
    return s;
  }
  Socket() = default;
  Socket(Socket&& o) noexcept : fd(o.fd), port(o.port), tcp(o.tcp) { o.fd = -1; }
  Socket& operator=(Socket&& o) noexcept {
    std::swap(fd, o.fd);
    port = o.port;
    tcp = o.tcp;
    return *this;
  }
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
  void send(std::uint16_t to, std::string_view msg) const {
    if (tcp) {
      std::size_t done = 0;
      for (int tries = 0; done < msg.size() && tries < 1000; ++tries) {
        auto n = ::send(fd, msg.data() + done, msg.size() - done, MSG_NOSIGNAL);
        if (n > 0)
          done += static_cast<std::size_t>(n);
        else
          ::usleep(1000);
      }
      return;
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(to);
    ::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  // Messages received since the last call (TCP: cut at Content-Length, CRLF pongs kept apart).
  std::vector<std::string> receive() {
    std::vector<std::string> out;
    char buf[65536];
    for (;;) {
      auto n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) break;
      if (!tcp)
        out.emplace_back(buf, static_cast<std::size_t>(n));
      else
        stream.append(buf, static_cast<std::size_t>(n));
    }
    while (tcp && !stream.empty()) {
      if (stream.starts_with("\r\n")) {
        out.emplace_back("\r\n");
        stream.erase(0, 2);
        continue;
      }
      auto end = stream.find("\r\n\r\n");
      if (end == std::string::npos) break;
      std::size_t cl = 0;
      auto h = stream.find("Content-Length:");
      if (h != std::string::npos && h < end) cl = std::stoul(stream.substr(h + 15));
      if (stream.size() < end + 4 + cl) break;
      out.push_back(stream.substr(0, end + 4 + cl));
      stream.erase(0, end + 4 + cl);
    }
    return out;
  }
};

// A request as a test writes it. Via names the socket's port; rport asked for by default.
struct Req {
  std::string method = "INVITE";
  std::string uri = "sip:1234@127.0.0.1";
  std::string call_id = "call-1@test";
  std::string branch = "z9hG4bK-test-1";
  std::string from = "\"Alice Caller\" <sip:alice@127.0.0.1>;tag=ft1";
  std::string to = "<sip:1234@127.0.0.1>";
  int cseq = 1;
  std::string cseq_method;  // "": the method
  std::uint16_t via_port = 0;
  std::string transport = "UDP";
  bool rport = true;
  std::vector<std::string> headers;  // extra lines, "Name: value"
  std::string content_type;
  std::string body;

  std::string str() const {
    std::string s = method + " " + uri + " SIP/2.0\r\n";
    s += "Via: SIP/2.0/" + transport + " 127.0.0.1:" + std::to_string(via_port) +
         ";branch=" + branch + (rport ? ";rport" : "") + "\r\n";
    s += "Max-Forwards: 70\r\n";
    s += "From: " + from + "\r\n";
    s += "To: " + to + "\r\n";
    s += "Call-ID: " + call_id + "\r\n";
    s += "CSeq: " + std::to_string(cseq) + " " + (cseq_method.empty() ? method : cseq_method) +
         "\r\n";
    s += "Contact: <sip:alice@127.0.0.1:" + std::to_string(via_port) + ">\r\n";
    for (auto& h : headers) s += h + "\r\n";
    if (!content_type.empty()) s += "Content-Type: " + content_type + "\r\n";
    s += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    return s;
  }
};

inline int status_of(const std::string& msg) {
  if (!msg.starts_with("SIP/2.0 ")) return 0;
  return std::stoi(msg.substr(8, 3));
}

// The value of the first header `name` (case-insensitive, long form), "" when none.
inline std::string header_of(const std::string& msg, std::string_view name) {
  auto end = msg.find("\r\n\r\n");
  for (std::size_t pos = msg.find("\r\n"); pos != std::string::npos && pos < end;) {
    auto next = msg.find("\r\n", pos + 2);
    auto line = std::string_view(msg).substr(pos + 2, next - pos - 2);
    auto colon = line.find(':');
    if (colon != std::string_view::npos && colon == name.size() &&
        strncasecmp(line.data(), name.data(), name.size()) == 0) {
      auto v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      return std::string(v);
    }
    pos = next;
  }
  return {};
}

inline std::string tag_of(const std::string& header_value) {
  auto t = header_value.find(";tag=");
  if (t == std::string::npos) return {};
  auto v = header_value.substr(t + 5);
  return v.substr(0, v.find_first_of(";> "));
}

inline std::string body_of(const std::string& msg) {
  auto end = msg.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : msg.substr(end + 4);
}

inline constexpr char kSdp[] =
    "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
inline constexpr char kAnswer[] =
    "v=0\r\no=confab 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

inline EndpointOptions test_options() {
  EndpointOptions o;
  o.transport.host = "127.0.0.1";
  o.transport.port = 0;
  o.rate.rate = 0;  // the tests of the limiter turn it on
  o.t1 = 20ms;      // our 200 is repeated, and given up, 25 times sooner than on the wire
  return o;
}

struct Harness : ::testing::Test {
  boost::asio::io_context io;
  RecordingApp app;
  std::unique_ptr<Endpoint> ep;
  Socket ua = Socket::udp();
  std::deque<std::string> inbox;

  void start(EndpointOptions o = test_options()) {
    ep = std::make_unique<Endpoint>(io, o, &app);
    app.ep = ep.get();
  }
  void SetUp() override { start(); }

  void pump(Socket& s) {
    for (auto& m : s.receive()) inbox.push_back(std::move(m));
  }
  // Runs the control loop until `done` holds or `limit` passes; returns `done()`.
  template <typename F>
  bool run_until(F done, std::chrono::milliseconds limit = 3000ms, Socket* s = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io.run_for(2ms);
      pump(s ? *s : ua);
    }
    return done();
  }
  void run_for(std::chrono::milliseconds d, Socket* s = nullptr) {
    run_until([] { return false; }, d, s);
  }
  // The next message the user agent receives (a failure when none comes within `limit`).
  std::string next(std::chrono::milliseconds limit = 3000ms, Socket* s = nullptr) {
    if (!run_until([&] { return !inbox.empty(); }, limit, s)) {
      ADD_FAILURE() << "no message arrived";
      return {};
    }
    auto m = std::move(inbox.front());
    inbox.pop_front();
    return m;
  }
  // The next message that is not a 100 Trying.
  std::string next_final(std::chrono::milliseconds limit = 3000ms, Socket* s = nullptr) {
    for (;;) {
      auto m = next(limit, s);
      if (status_of(m) != 100) return m;
    }
  }
  void send(const Req& r, Socket* s = nullptr) {
    auto& sock = s ? *s : ua;
    Req copy = r;
    if (!copy.via_port) copy.via_port = sock.port;
    sock.send(ep->port(), copy.str());
  }
  void send_raw(std::string_view text, Socket* s = nullptr) {
    (s ? *s : ua).send(ep->port(), text);
  }
  Req invite(std::string call_id = "call-1@test", std::string body = kSdp) {
    Req r;
    r.call_id = std::move(call_id);
    r.branch = "z9hG4bK-" + r.call_id;
    r.body = std::move(body);
    if (!r.body.empty()) r.content_type = "application/sdp";
    return r;
  }
  // An in-dialog request of the caller's after the 200 `ok` to `inv`.
  Req in_dialog(const Req& inv, const std::string& ok, std::string method, int cseq) {
    Req r = inv;
    r.method = std::move(method);
    r.cseq = cseq;
    r.to = header_of(ok, "To");
    r.branch = "z9hG4bK-" + inv.call_id + "-" + r.method + std::to_string(cseq);
    r.body.clear();
    r.content_type.clear();
    return r;
  }
  Req ack_for(const Req& inv, const std::string& ok, std::string body = {}) {
    Req r = in_dialog(inv, ok, "ACK", inv.cseq);
    r.body = std::move(body);
    if (!r.body.empty()) r.content_type = "application/sdp";
    return r;
  }
};

}  // namespace confab::sip::test
