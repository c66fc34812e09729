// Inside a call: re-offers, INFO digits, session timers; and the transport and limiter around it.
#include "sip_harness.hpp"

#include <map>

namespace confab::sip::test {
namespace {

struct Dialog : Harness {
  Req inv;
  std::string ok;
  CallId id = 0;
  int cseq = 1;

  // An answered, acknowledged call.
  void establish(std::vector<std::string> headers = {}) {
    app.invite_action = [&](const IncomingCall& c) {
      id = c.call;
      ep->answer(c.call, kAnswer);
    };
    inv = invite();
    inv.headers = std::move(headers);
    send(inv);
    ok = next_final();
    ASSERT_EQ(status_of(ok), 200) << ok;
    send(ack_for(inv, ok));
    ASSERT_TRUE(run_until([&] { return !app.acks.empty(); }));
    inbox.clear();
  }
  Req request(std::string method) { return in_dialog(inv, ok, std::move(method), ++cseq); }
};

TEST_F(Dialog, ReInviteOfferIsTheApplicationsToAnswer) {
  establish();
  std::string hold = std::string(kSdp) + "a=sendonly\r\n";
  app.reoffer_action = [&](CallId c, const std::optional<std::string>& offer) {
    ASSERT_TRUE(offer);
    EXPECT_EQ(*offer, hold);
    ep->answer(c, std::string(kAnswer) + "a=recvonly\r\n");
  };
  auto re = request("INVITE");
  re.body = hold;
  re.content_type = "application/sdp";
  send(re);
  auto r = next_final();
  ASSERT_EQ(status_of(r), 200);
  EXPECT_NE(body_of(r).find("a=recvonly"), std::string::npos);
  EXPECT_EQ(tag_of(header_of(r, "To")), tag_of(header_of(ok, "To")));
  auto ack = ack_for(inv, ok);
  ack.cseq = re.cseq;
  ack.branch = "z9hG4bK-reack";
  send(ack);
  ASSERT_TRUE(run_until([&] { return app.acks.size() == 2; }));
  EXPECT_EQ(app.reoffers.size(), 1u);
  EXPECT_EQ(app.reoffers[0].first, id);
}

TEST_F(Dialog, RejectedReofferKeepsTheCall) {
  establish();
  app.reoffer_action = [&](CallId c, const std::optional<std::string>&) { ep->reject(c, 488); };
  auto re = request("INVITE");
  re.body = kSdp;
  re.content_type = "application/sdp";
  send(re);
  auto r = next_final();
  EXPECT_EQ(status_of(r), 488);
  EXPECT_EQ(ep->dialogs(), 1u);
  EXPECT_TRUE(app.ends.empty());
  send(request("BYE"));
  EXPECT_EQ(status_of(next()), 200);
  EXPECT_EQ(ep->dialogs(), 0u);
}

TEST_F(Dialog, UpdateWithAnOfferIsAnsweredWithoutAck) {
  establish();
  app.reoffer_action = [&](CallId c, const std::optional<std::string>&) { ep->answer(c, kAnswer); };
  auto up = request("UPDATE");
  up.body = kSdp;
  up.content_type = "application/sdp";
  send(up);
  auto r = next();
  EXPECT_EQ(status_of(r), 200);
  EXPECT_EQ(header_of(r, "CSeq"), std::to_string(up.cseq) + " UPDATE");
  EXPECT_EQ(body_of(r), kAnswer);
  ASSERT_EQ(app.reoffers.size(), 1u);
  // A bare UPDATE is a refresh: answered here, no body, nothing for the application.
  send(request("UPDATE"));
  auto bare = next();
  EXPECT_EQ(status_of(bare), 200);
  EXPECT_TRUE(body_of(bare).empty());
  EXPECT_EQ(app.reoffers.size(), 1u);
}

TEST_F(Dialog, InfoDigitsAreDelivered) {
  establish();
  auto info = request("INFO");
  info.content_type = "application/dtmf-relay";
  info.body = "Signal=5\r\nDuration=160\r\n";
  send(info);
  EXPECT_EQ(status_of(next()), 200);
  auto bare = request("INFO");
  bare.content_type = "application/dtmf";
  bare.body = "#";
  send(bare);
  EXPECT_EQ(status_of(next()), 200);
  ASSERT_EQ(app.digits.size(), 2u);
  EXPECT_EQ(app.digits[0].digit, '5');
  EXPECT_EQ(app.digits[0].duration, 160);
  EXPECT_EQ(app.digits[0].call, id);
  EXPECT_EQ(app.digits[1].digit, '#');
  auto bad = request("INFO");
  bad.content_type = "application/dtmf-relay";
  bad.body = "Signal=Z\r\n";
  send(bad);
  auto r = next();
  EXPECT_EQ(status_of(r), 400);
  EXPECT_NE(header_of(r, "Warning").find("Signal"), std::string::npos);
  auto other = request("INFO");
  other.content_type = "text/plain";
  other.body = "hello";
  send(other);
  EXPECT_EQ(status_of(next()), 415);
  EXPECT_EQ(app.digits.size(), 2u);
}

TEST_F(Dialog, OutOfOrderCSeqIs500) {
  establish();
  auto a = request("INFO");
  send(a);
  EXPECT_EQ(status_of(next()), 200);
  auto old = a;
  old.cseq = a.cseq - 1;
  old.branch = "z9hG4bK-older";
  send(old);
  EXPECT_EQ(status_of(next()), 500);
}

TEST_F(Dialog, RequestsInAnUnknownDialogGet481) {
  establish();
  auto bye = request("BYE");
  bye.to = "<sip:1234@127.0.0.1>;tag=not-ours";
  send(bye);
  EXPECT_EQ(status_of(next()), 481);
  EXPECT_EQ(ep->dialogs(), 1u);
}

TEST_F(Dialog, SessionTimerIsNegotiatedAndTooSmallIs422) {
  auto o = test_options();
  o.timers = {1800, 90};
  ep.reset();
  start(o);
  auto small = invite("small@test");
  small.headers = {"Supported: timer", "Session-Expires: 30"};
  send(small);
  auto r = next();
  EXPECT_EQ(status_of(r), 422);
  EXPECT_EQ(header_of(r, "Min-SE"), "90");
  EXPECT_TRUE(app.invites.empty());
  establish({"Supported: timer", "Session-Expires: 600"});
  EXPECT_EQ(header_of(ok, "Session-Expires"), "600;refresher=uac");
  EXPECT_EQ(header_of(ok, "Require"), "timer");
}

TEST_F(Dialog, NoRefreshEndsTheCallWithBye) {
  auto o = test_options();
  o.timers = {1800, 1};  // a 3 s session for the test (RFC 4028 forbids below 90 on the wire)
  ep.reset();
  start(o);
  establish({"Supported: timer", "Session-Expires: 3;refresher=uac"});
  EXPECT_EQ(header_of(ok, "Session-Expires"), "3;refresher=uac");
  // Refreshed every second by a bare UPDATE (it would expire 2 s after each): the call lives.
  for (int i = 0; i < 4; ++i) {
    run_for(1000ms);
    auto up = request("UPDATE");
    up.headers = {"Supported: timer", "Session-Expires: 3;refresher=uac"};
    send(up);
    auto r = next();
    EXPECT_EQ(status_of(r), 200);
    EXPECT_EQ(header_of(r, "Session-Expires"), "3;refresher=uac");
  }
  EXPECT_TRUE(app.ends.empty());
  EXPECT_EQ(ep->stats().refreshes_received, 4u);
  // Then nothing: the endpoint says BYE.
  std::string bye;
  ASSERT_TRUE(run_until(
      [&] {
        for (auto& m : inbox)
          if (m.starts_with("BYE ")) bye = m;
        inbox.clear();
        return !bye.empty();
      },
      5000ms));
  ASSERT_EQ(app.ends.size(), 1u);
  EXPECT_EQ(app.ends[0].second, EndReason::session_expired);
  EXPECT_EQ(ep->dialogs(), 0u);
}

TEST_F(Dialog, WhenWeRefreshWeSendUpdate) {
  auto o = test_options();
  o.timers = {1800, 1};
  ep.reset();
  start(o);
  establish({"Supported: timer", "Session-Expires: 4;refresher=uas",
             "Allow: INVITE, ACK, BYE, CANCEL, UPDATE"});
  EXPECT_EQ(header_of(ok, "Session-Expires"), "4;refresher=uas");
  auto up = next(4000ms);  // at half the interval
  ASSERT_TRUE(up.starts_with("UPDATE sip:alice@127.0.0.1:")) << up;
  EXPECT_EQ(header_of(up, "Session-Expires"), "4;refresher=uac");  // we are its UAC
  // Answer it: the call goes on past the first expiry.
  std::string resp = "SIP/2.0 200 OK\r\nVia: " + header_of(up, "Via") +
                     "\r\nFrom: " + header_of(up, "From") + "\r\nTo: " + header_of(up, "To") +
                     "\r\nCall-ID: " + header_of(up, "Call-ID") +
                     "\r\nCSeq: " + header_of(up, "CSeq") +
                     "\r\nSession-Expires: 4;refresher=uac\r\n" + "Content-Length: 0\r\n\r\n";
  send_raw(resp);
  run_for(3000ms);  // past the first interval's end (4 s after the answer)
  EXPECT_TRUE(app.ends.empty());
  EXPECT_GE(ep->stats().refreshes_sent, 1u);
}

TEST_F(Dialog, TcpCarriesCallsAndFramesByContentLength) {
  auto tcp = Socket::tcp_to(ep->port());
  app.invite_action = [&](const IncomingCall& c) {
    EXPECT_EQ(c.transport, Transport::tcp);
    ep->answer(c.call, kAnswer);
  };
  auto opt = Req{};
  opt.method = "OPTIONS";
  opt.transport = "TCP";
  opt.via_port = tcp.port;
  auto in = invite("tcp@test");
  in.transport = "TCP";
  in.via_port = tcp.port;
  // Two messages in one write, then a keep-alive ping, then a message split in two writes.
  run_for(20ms, &tcp);
  tcp.send(ep->port(), opt.str() + in.str() + "\r\n\r\n");
  std::vector<std::string> got;
  ASSERT_TRUE(run_until(
      [&] {
        while (!inbox.empty()) {
          got.push_back(inbox.front());
          inbox.pop_front();
        }
        return got.size() >= 3;
      },
      3000ms, &tcp));
  EXPECT_EQ(status_of(got[0]), 200);
  EXPECT_EQ(header_of(got[0], "CSeq"), "1 OPTIONS");
  EXPECT_EQ(status_of(got[1]), 200);
  EXPECT_EQ(header_of(got[1], "CSeq"), "1 INVITE");
  EXPECT_EQ(got[2], "\r\n");  // RFC 5626 pong
  EXPECT_NE(header_of(got[1], "Contact").find("transport=tcp"), std::string::npos);
  // Over TCP the 200 is not repeated.
  run_for(200ms, &tcp);
  EXPECT_TRUE(inbox.empty());
  auto ack = ack_for(in, got[1]);
  auto text = ack.str();
  tcp.send(0, text.substr(0, 40));
  run_for(30ms, &tcp);
  tcp.send(0, text.substr(40));
  ASSERT_TRUE(run_until([&] { return !app.acks.empty(); }, 3000ms, &tcp));
  EXPECT_EQ(ep->transport_stats().tcp_open, 1u);
}

TEST_F(Dialog, TcpWithoutAWholeMessageIsClosed) {
  auto tcp = Socket::tcp_to(ep->port());
  run_for(20ms, &tcp);
  // A Content-Length that cannot be trusted: answered 400, then the connection is closed.
  Req r;
  r.method = "OPTIONS";
  r.transport = "TCP";
  r.via_port = tcp.port;
  auto text = r.str();
  auto at = text.find("Content-Length: 0");
  text.replace(at, 17, "Content-Length: 12x");
  tcp.send(0, text);
  auto resp = next(3000ms, &tcp);
  EXPECT_EQ(status_of(resp), 400);
  ASSERT_TRUE(run_until([&] { return ep->transport_stats().tcp_open == 0; }, 3000ms, &tcp));
  EXPECT_EQ(ep->transport_stats().tcp_closed_framing, 1u);
}

TEST_F(Dialog, FloodingSourceIsRefusedThenDroppedOthersAreNot) {
  auto o = test_options();
  o.rate = {5, 5, {}, 1024};  // 5/s, bursts of 5; 5 more get 503, the rest nothing
  ep.reset();
  start(o);
  Req r;
  r.method = "OPTIONS";
  for (int i = 0; i < 20; ++i) {
    r.branch = "z9hG4bK-flood-" + std::to_string(i);
    send(r);
  }
  std::map<int, int> codes;
  run_for(300ms);
  for (auto& m : inbox) ++codes[status_of(m)];
  inbox.clear();
  EXPECT_EQ(codes[200], 5);
  EXPECT_GE(codes[503], 5);
  EXPECT_LE(codes[503], 7);                // the bucket refills a little while the loop runs
  EXPECT_LT(codes[200] + codes[503], 20);  // the rest dropped
  EXPECT_GE(ep->rate_stats().dropped, 1u);
  EXPECT_EQ(ep->rate_stats().limited_sources, 1u);
  // Another source is untouched.
  auto other = Socket::udp("127.0.0.2");
  send(r, &other);
  EXPECT_EQ(status_of(next(3000ms, &other)), 200);
}

TEST_F(Dialog, RetryAfterIsInThe503) {
  auto o = test_options();
  o.rate = {1, 1, {}, 1024};
  ep.reset();
  start(o);
  Req r;
  r.method = "OPTIONS";
  send(r);
  EXPECT_EQ(status_of(next()), 200);
  r.branch = "z9hG4bK-second";
  send(r);
  auto resp = next();
  EXPECT_EQ(status_of(resp), 503);
  EXPECT_EQ(header_of(resp, "Retry-After"), "5");
}

}  // namespace
}  // namespace confab::sip::test
