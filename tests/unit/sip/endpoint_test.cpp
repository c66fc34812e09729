// The endpoint as a caller sees it: real datagrams on 127.0.0.1, every answer read off the wire.
#include "sip_harness.hpp"

namespace confab::sip::test {
namespace {

using Endpoint_ = Harness;

TEST_F(Endpoint_, OptionsIsAnsweredWithWhatWeDoAndWhereItCameFrom) {
  Req r;
  r.method = "OPTIONS";
  r.uri = "sip:127.0.0.1";
  send(r);
  auto resp = next();
  EXPECT_EQ(status_of(resp), 200) << resp;
  EXPECT_NE(header_of(resp, "Allow").find("INVITE"), std::string::npos);
  EXPECT_NE(header_of(resp, "Allow").find("UPDATE"), std::string::npos);
  EXPECT_NE(header_of(resp, "Accept").find("application/sdp"), std::string::npos);
  EXPECT_EQ(header_of(resp, "Supported"), "timer");
  // RFC 3581: the Via tells the caller the address and port we saw.
  auto via = header_of(resp, "Via");
  EXPECT_NE(via.find("rport=" + std::to_string(ua.port)), std::string::npos) << via;
  EXPECT_NE(via.find("received=127.0.0.1"), std::string::npos) << via;
  EXPECT_FALSE(tag_of(header_of(resp, "To")).empty());
  // The same probe again gets the same answer (stateless: same To tag), and no state is kept.
  send(r);
  auto again = next();
  EXPECT_EQ(tag_of(header_of(again, "To")), tag_of(header_of(resp, "To")));
  EXPECT_EQ(ep->transactions(), 0u);
  EXPECT_EQ(ep->stats().options, 2u);
}

TEST_F(Endpoint_, WithoutRportTheAnswerStillGoesWhereTheRequestCameFrom) {
  auto other = Socket::udp();
  Req r;
  r.method = "OPTIONS";
  r.rport = false;
  r.via_port = other.port;  // the Via names another port than the one the request came from
  send(r);
  auto resp = next();
  EXPECT_EQ(status_of(resp), 200);
  EXPECT_EQ(header_of(resp, "Via").find("rport"), std::string::npos);  // not asked, not added
  run_for(50ms, &other);
  EXPECT_TRUE(inbox.empty());
}

TEST_F(Endpoint_, InviteReachesTheApplicationWithWhoCalledWhom) {
  app.invite_action = [&](const IncomingCall& c) { ep->reject(c.call, 404); };
  auto inv = invite();
  inv.uri = "sip:%32000@127.0.0.1;user=phone";
  send(inv);
  auto resp = next_final();
  EXPECT_EQ(status_of(resp), 404);
  ASSERT_EQ(app.invites.size(), 1u);
  auto& c = app.invites[0];
  EXPECT_EQ(c.request_user, "2000");  // unescaped
  EXPECT_EQ(c.from_user, "alice");
  EXPECT_EQ(c.from_display, "Alice Caller");
  EXPECT_EQ(c.call_id, "call-1@test");
  EXPECT_EQ(c.source_ip, "127.0.0.1");
  EXPECT_EQ(c.source_port, ua.port);
  EXPECT_EQ(c.transport, Transport::udp);
  ASSERT_TRUE(c.offer);
  EXPECT_EQ(*c.offer, kSdp);
  EXPECT_TRUE(app.ends.empty());  // the application ended it itself: not reported back
}

TEST_F(Endpoint_, RejectionCarriesItsWarningAndRetransmissionsAreAbsorbed) {
  app.invite_action = [&](const IncomingCall& c) {
    ep->reject(c.call, 404, {}, "no conference at this number");
  };
  auto inv = invite();
  send(inv);
  auto first = next_final();
  EXPECT_EQ(status_of(first), 404);
  EXPECT_EQ(header_of(first, "Warning"), "399 127.0.0.1 \"no conference at this number\"");
  // The INVITE again (its 404 was "lost"): the same 404 again, and no second call.
  send(inv);
  auto second = next_final();
  EXPECT_EQ(status_of(second), 404);
  EXPECT_EQ(tag_of(header_of(second, "To")), tag_of(header_of(first, "To")));
  EXPECT_EQ(app.invites.size(), 1u);
  EXPECT_EQ(ep->tx_stats().absorbed, 1u);
  auto ack = ack_for(inv, first);
  ack.branch = inv.branch;  // the ACK of a non-2xx is part of the INVITE's transaction
  send(ack);                // it ends timer G's repeats
  run_for(100ms);
  EXPECT_EQ(ep->dialogs(), 0u);
  EXPECT_EQ(ep->stats().stray, 0u);
}

TEST_F(Endpoint_, AnsweredCallRepeatsItsOkUntilTheAckThenByeEndsIt) {
  app.invite_action = [&](const IncomingCall& c) { ep->answer(c.call, kAnswer); };
  auto inv = invite();
  send(inv);
  auto ok = next_final();
  ASSERT_EQ(status_of(ok), 200) << ok;
  EXPECT_EQ(body_of(ok), kAnswer);
  EXPECT_EQ(header_of(ok, "Content-Type"), "application/sdp");
  EXPECT_NE(header_of(ok, "Contact").find("sip:127.0.0.1:" + std::to_string(ep->port())),
            std::string::npos);
  // No ACK yet: the 200 comes again (T1, then 2*T1...).
  auto again = next();
  EXPECT_EQ(status_of(again), 200);
  EXPECT_GE(ep->stats().ok_retransmitted, 1u);
  EXPECT_EQ(ep->dialogs(), 1u);
  send(ack_for(inv, ok));
  ASSERT_TRUE(run_until([&] { return !app.acks.empty(); }));
  EXPECT_FALSE(app.acks[0].second);  // the INVITE had the offer: the ACK brings no answer
  // No more 200s once acknowledged.
  inbox.clear();
  run_for(200ms);
  EXPECT_TRUE(inbox.empty());
  send(in_dialog(inv, ok, "BYE", 2));
  auto bye_ok = next();
  EXPECT_EQ(status_of(bye_ok), 200);
  EXPECT_EQ(header_of(bye_ok, "CSeq"), "2 BYE");
  ASSERT_EQ(app.ends.size(), 1u);
  EXPECT_EQ(app.ends[0].second, EndReason::remote_bye);
  EXPECT_EQ(ep->dialogs(), 0u);
  // The BYE again: its transaction answers 200 again, the dialog being gone does not matter.
  send(in_dialog(inv, ok, "BYE", 2));
  EXPECT_EQ(status_of(next()), 200);
  EXPECT_EQ(app.ends.size(), 1u);
}

TEST_F(Endpoint_, InviteRepeatedAfterTheOkGetsTheOkNotASecondCall) {
  app.invite_action = [&](const IncomingCall& c) { ep->answer(c.call, kAnswer); };
  auto inv = invite();
  send(inv);
  auto ok = next_final();
  ASSERT_EQ(status_of(ok), 200);
  send(inv);  // its transaction ended with the 200: the dialog layer recognises it
  auto ok2 = next_final();
  EXPECT_EQ(status_of(ok2), 200);
  EXPECT_EQ(tag_of(header_of(ok2, "To")), tag_of(header_of(ok, "To")));
  EXPECT_EQ(app.invites.size(), 1u);
  EXPECT_GE(ep->stats().invites_absorbed, 1u);
}

TEST_F(Endpoint_, LateOfferGoesInTheOkAndTheAnswerComesWithTheAck) {
  app.invite_action = [&](const IncomingCall& c) {
    EXPECT_FALSE(c.offer);
    ep->answer(c.call, kAnswer);  // our offer
  };
  auto inv = invite("late@test", "");
  send(inv);
  auto ok = next_final();
  ASSERT_EQ(status_of(ok), 200);
  EXPECT_EQ(body_of(ok), kAnswer);
  send(ack_for(inv, ok, kSdp));
  ASSERT_TRUE(run_until([&] { return !app.acks.empty(); }));
  ASSERT_TRUE(app.acks[0].second);
  EXPECT_EQ(*app.acks[0].second, kSdp);
}

TEST_F(Endpoint_, NoAckMeansByeAndTheEnd) {
  app.invite_action = [&](const IncomingCall& c) { ep->answer(c.call, kAnswer); };
  send(invite());
  ASSERT_EQ(status_of(next_final()), 200);
  // 64*T1 (T1 = 20 ms here): the endpoint gives up and says BYE.
  std::string bye;
  ASSERT_TRUE(run_until(
      [&] {
        while (!inbox.empty()) {
          if (inbox.front().starts_with("BYE ")) bye = inbox.front();
          inbox.pop_front();
        }
        return !bye.empty();
      },
      5000ms));
  EXPECT_EQ(header_of(bye, "Call-ID"), "call-1@test");
  EXPECT_NE(header_of(bye, "Via").find("branch=z9hG4bK"), std::string::npos);
  ASSERT_EQ(app.ends.size(), 1u);
  EXPECT_EQ(app.ends[0].second, EndReason::ack_timeout);
  EXPECT_EQ(ep->dialogs(), 0u);
}

TEST_F(Endpoint_, CancelBeforeTheAnswerGets200AndTheInvite487) {
  auto inv = invite();
  send(inv);
  ASSERT_EQ(status_of(next()), 100);  // the application has not answered: 100 Trying
  ASSERT_EQ(app.invites.size(), 1u);
  Req cancel = inv;
  cancel.method = "CANCEL";
  cancel.body.clear();
  cancel.content_type.clear();
  send(cancel);
  std::vector<std::string> got{next(), next()};
  int ok = 0, terminated = 0;
  for (auto& m : got) {
    if (status_of(m) == 200 && header_of(m, "CSeq") == "1 CANCEL") ++ok;
    if (status_of(m) == 487 && header_of(m, "CSeq") == "1 INVITE") ++terminated;
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(terminated, 1);
  ASSERT_EQ(app.ends.size(), 1u);
  EXPECT_EQ(app.ends[0].second, EndReason::cancelled);
  EXPECT_FALSE(ep->answer(app.invites[0].call, kAnswer));  // the call is gone
  EXPECT_EQ(ep->dialogs(), 0u);
}

TEST_F(Endpoint_, CancelOfNothingAndByeOutsideADialogGet481) {
  Req cancel = invite("nothing@test", "");
  cancel.method = "CANCEL";
  send(cancel);
  auto r = next();
  EXPECT_EQ(status_of(r), 481);
  EXPECT_FALSE(header_of(r, "Warning").empty());
  Req bye = invite("nothing2@test", "");
  bye.method = "BYE";
  bye.to += ";tag=unknown";
  send(bye);
  EXPECT_EQ(status_of(next()), 481);
  EXPECT_EQ(ep->stats().not_found_481, 2u);
  EXPECT_TRUE(app.invites.empty());
}

TEST_F(Endpoint_, RingingThenAnswerLater) {
  CallId id = 0;
  app.invite_action = [&](const IncomingCall& c) {
    id = c.call;
    EXPECT_TRUE(ep->ring(c.call, 183, kAnswer));
  };
  auto inv = invite();
  send(inv);
  auto ringing = next();
  EXPECT_EQ(status_of(ringing), 183);
  EXPECT_EQ(body_of(ringing), kAnswer);
  EXPECT_FALSE(tag_of(header_of(ringing, "To")).empty());
  EXPECT_TRUE(ep->answer(id, kAnswer));
  auto ok = next();
  EXPECT_EQ(status_of(ok), 200);
  EXPECT_EQ(tag_of(header_of(ok, "To")), tag_of(header_of(ringing, "To")));
  EXPECT_FALSE(ep->ring(id));  // answered: too late to ring
}

TEST_F(Endpoint_, ApplicationByeReachesTheCaller) {
  app.invite_action = [&](const IncomingCall& c) { ep->answer(c.call, kAnswer); };
  auto inv = invite();
  send(inv);
  auto ok = next_final();
  send(ack_for(inv, ok));
  ASSERT_TRUE(run_until([&] { return !app.acks.empty(); }));
  inbox.clear();
  EXPECT_TRUE(ep->bye(app.invites[0].call));
  auto bye = next();
  ASSERT_TRUE(bye.starts_with("BYE sip:alice@127.0.0.1:")) << bye;
  EXPECT_EQ(header_of(bye, "To"), inv.from);  // their From, tag and all
  EXPECT_EQ(tag_of(header_of(bye, "From")), tag_of(header_of(ok, "To")));
  EXPECT_EQ(ep->dialogs(), 0u);
  EXPECT_TRUE(app.ends.empty());
  // Our BYE unanswered: its transaction repeats it (timer E).
  EXPECT_TRUE(next().starts_with("BYE "));
}

TEST_F(Endpoint_, AnswerTimeoutGives480) {
  auto o = test_options();
  o.answer_timeout = 1s;
  ep.reset();
  start(o);
  send(invite());
  EXPECT_EQ(status_of(next()), 100);
  auto r = next(3000ms);
  EXPECT_EQ(status_of(r), 480);
  ASSERT_EQ(app.ends.size(), 1u);
  EXPECT_EQ(app.ends[0].second, EndReason::answer_timeout);
}

TEST_F(Endpoint_, DialogTableHasACap) {
  auto o = test_options();
  o.max_dialogs = 1;
  ep.reset();
  start(o);
  send(invite("one@test"));
  EXPECT_EQ(status_of(next()), 100);
  send(invite("two@test"));
  auto r = next();
  EXPECT_EQ(status_of(r), 503);
  EXPECT_FALSE(header_of(r, "Retry-After").empty());
  EXPECT_EQ(app.invites.size(), 1u);
  EXPECT_EQ(ep->stats().refused_full, 1u);
}

TEST_F(Endpoint_, MalformedRequestsGet400NamingTheProblem) {
  Req r;
  r.method = "OPTIONS";
  r.cseq_method = "INVITE";
  send(r);
  auto resp = next();
  EXPECT_EQ(status_of(resp), 400);
  EXPECT_NE(header_of(resp, "Warning").find("CSeq method INVITE does not match"), std::string::npos)
      << resp;
  // Nothing to answer with (no Via): dropped, counted.
  send_raw("INVITE sip:x@y SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\n\r\n");
  run_for(100ms);
  EXPECT_TRUE(inbox.empty());
  EXPECT_EQ(ep->stats().malformed, 1u);
  EXPECT_EQ(ep->stats().malformed_dropped, 1u);
}

TEST_F(Endpoint_, UnknownExtensionsAndSchemesAndMethodsAreRefused) {
  Req r;
  r.method = "OPTIONS";
  r.headers = {"Require: 100rel, timer"};
  send(r);
  auto resp = next();
  EXPECT_EQ(status_of(resp), 420);
  EXPECT_EQ(header_of(resp, "Unsupported"), "100rel");
  Req m;
  m.method = "REGISTER";
  m.call_id = "reg@test";
  send(m);
  auto reg = next();
  EXPECT_EQ(status_of(reg), 405);
  EXPECT_FALSE(header_of(reg, "Allow").empty());
  Req u;
  u.method = "FROBNICATE";
  u.call_id = "frob@test";
  send(u);
  EXPECT_EQ(status_of(next()), 501);
  Req t = invite("tel@test");
  t.uri = "tel:+15551234";
  send(t);
  EXPECT_EQ(status_of(next()), 416);
  EXPECT_TRUE(app.invites.empty());
}

TEST_F(Endpoint_, BodiesThatAreNotSdpAre415) {
  auto inv = invite();
  inv.content_type = "text/plain";
  inv.body = "hello";
  send(inv);
  auto r = next();
  EXPECT_EQ(status_of(r), 415);
  EXPECT_EQ(header_of(r, "Accept"), "application/sdp");
  EXPECT_TRUE(app.invites.empty());
}

TEST_F(Endpoint_, CrlfKeepalivesAreIgnored) {
  send_raw("\r\n\r\n");
  run_for(50ms);
  EXPECT_TRUE(inbox.empty());
  EXPECT_EQ(ep->stats().keepalives, 1u);
}

TEST_F(Endpoint_, StopSaysByeToEstablishedCalls) {
  app.invite_action = [&](const IncomingCall& c) { ep->answer(c.call, kAnswer); };
  auto inv = invite();
  send(inv);
  auto ok = next_final();
  send(ack_for(inv, ok));
  ASSERT_TRUE(run_until([&] { return !app.acks.empty(); }));
  inbox.clear();
  ep->stop();
  ASSERT_EQ(app.ends.size(), 1u);
  EXPECT_EQ(app.ends[0].second, EndReason::shutdown);
  pump(ua);
  ASSERT_FALSE(inbox.empty());
  EXPECT_TRUE(inbox.front().starts_with("BYE "));
}

}  // namespace
}  // namespace confab::sip::test
