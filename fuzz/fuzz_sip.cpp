// SIP from a hostile peer, through the whole endpoint: parser and caps, transactions, dialogs.
// The input is one or more messages separated by "\n--\n"; "@TAG@" in a message stands for the
// To tag of the last response the endpoint sent (so that a seed can reach into a dialog it
// made: ACK, re-INVITE, UPDATE, INFO, BYE). The messages come from one UDP peer whose socket the
// target reads back.
#include "sip/endpoint.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace {

using namespace confab::sip;

struct App final : SipApp {
  Endpoint* ep = nullptr;
  // The dialled number chooses what the application does, so that seeds reach every path.
  void on_invite(const IncomingCall& c) override {
    auto u = c.request_user;
    if (u.starts_with("1")) {
      ep->answer(c.call,
                 "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                 "t=0 0\r\nm=audio 30000 RTP/AVP 0\r\n");
    } else if (u.starts_with("2")) {
      ep->ring(c.call, 180);
    } else if (u.starts_with("3")) {
      ep->ring(c.call, 183, "v=0\r\n");
      ep->bye(c.call);
    } else if (!u.starts_with("4")) {  // 4...: left unanswered
      ep->reject(c.call, 404, {}, "no conference at this number");
    }
  }
  void on_ack(CallId, const std::optional<std::string>&) override {}
  void on_reoffer(CallId c, const std::optional<std::string>& offer) override {
    if (offer && offer->size() % 2)
      ep->reject(c, 488);
    else
      ep->answer(c,
                 "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n");
  }
  void on_info_digit(CallId c, char d, int) override {
    if (d == '#') ep->bye(c);
  }
  void on_end(CallId, EndReason) override {}
};

struct World {
  boost::asio::io_context io;
  App app;
  std::unique_ptr<Endpoint> ep;
  int peer_fd = -1;
  std::uint16_t peer_port = 0;
  int inputs = 0;

  World() {
    spdlog::set_level(spdlog::level::off);  // every refusal is logged: not while fuzzing
    peer_fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(peer_fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(peer_fd, reinterpret_cast<sockaddr*>(&a), &len);
    peer_port = ntohs(a.sin_port);
    fresh();
  }
  void fresh() {
    ep.reset();
    EndpointOptions o;
    o.transport.host = "127.0.0.1";
    o.transport.port = 0;
    o.rate.rate = 0;
    o.max_dialogs = 64;
    o.max_transactions = 512;
    ep = std::make_unique<Endpoint>(io, o, &app);
    app.ep = ep.get();
  }
  // The To tag of the last response the peer got, "" if none.
  std::string drain() {
    std::string tag;
    char buf[65536];
    for (;;) {
      auto n = ::recv(peer_fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      std::string_view m(buf, static_cast<std::size_t>(n));
      auto to = m.find("\r\nTo: ");
      auto t = to == std::string_view::npos ? to : m.find(";tag=", to);
      auto eol = to == std::string_view::npos ? to : m.find("\r\n", to + 2);
      if (t != std::string_view::npos && t < eol) {
        auto v = m.substr(t + 5, eol - t - 5);
        tag = std::string(v.substr(0, v.find_first_of(";> ")));
      }
    }
    return tag;
  }
};

World& world() {
  static World w;
  return w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& w = world();
  if (++w.inputs % 256 == 0) w.fresh();  // bounded state: calls left unanswered go away
  Peer from{boost::asio::ip::make_address("127.0.0.1"), w.peer_port, Transport::udp, 0};
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string tag;
  constexpr std::string_view kSep = "\n--\n";
  for (int n = 0; n < 16 && !in.empty(); ++n) {
    auto cut = in.find(kSep);
    std::string msg(in.substr(0, cut));
    in.remove_prefix(cut == std::string_view::npos ? in.size() : cut + kSep.size());
    for (auto at = msg.find("@TAG@"); at != std::string::npos; at = msg.find("@TAG@", at))
      msg.replace(at, 5, tag);
    w.ep->inject(msg, from);
    w.io.poll();
    if (auto t = w.drain(); !t.empty()) tag = t;
  }
  return 0;
}
