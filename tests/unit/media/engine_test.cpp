// The engine over real loopback UDP: legs are plain sockets of this test that send G.711 tones
// every 20 ms and decode what comes back. Assertions are on the signal (Goertzel).
#include "media/rtcp.hpp"
#include "udp_leg.hpp"

#include <gtest/gtest.h>

#include <cstring>

using namespace confab::media;
using namespace confab::media::test;

TEST(Engine, EachLegHearsTheOthersAndNeverItselfMuteAndDeafAct) {
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  Engine e(cfg);
  auto port = e.add_room(1);
  TestLeg a(500), b(1000), c(1500);
  std::uint64_t id = 10;
  for (auto* l : {&a, &b, &c}) e.add_leg({id++, 1, pcmu(), l->addr, 0, true, true});
  std::vector<EngineEvent> events;
  run_for(e, port, {&a, &b, &c}, 50, &events);
  for (auto* l : {&a, &b, &c}) {
    ASSERT_GT(l->heard.size(), 4000u) << l->hz;
    for (double f : {500.0, 1000.0, 1500.0}) {
      double p = goertzel(l->recent(), f);
      if (f == l->hz)
        EXPECT_LT(p, 60) << l->hz << " hears itself";
      else
        EXPECT_GT(p, 600) << l->hz << " does not hear " << f;
    }
  }
  bool talked = false;
  for (auto& ev : events) talked |= ev.type == EngineEvent::Type::talking;
  EXPECT_TRUE(talked);

  // Mute b: nobody hears 1000 Hz any more. Deafen c: it hears (near) silence.
  e.set_flags(1, 11, false, true);
  e.set_flags(1, 12, true, false);
  for (auto* l : {&a, &b, &c}) l->heard.clear();
  run_for(e, port, {&a, &b, &c}, 40);
  EXPECT_LT(goertzel(a.recent(), 1000), 60);
  EXPECT_GT(goertzel(a.recent(), 1500), 600);
  EXPECT_GT(goertzel(b.recent(), 500), 600);  // muted, still hearing
  double loudest_c = 0;
  for (auto s : c.recent()) loudest_c = std::max(loudest_c, std::abs(static_cast<double>(s)));
  EXPECT_LT(loudest_c, 64);  // deaf: silence

  // A removed leg gets nothing more.
  e.remove_leg(1, 10);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  a.drain();
  a.heard.clear();
  run_for(e, port, {&b, &c}, 10);
  a.drain();
  EXPECT_TRUE(a.heard.empty());
  auto s = e.stats();
  EXPECT_GT(s.ticks, 90u);
  EXPECT_GT(s.tx_packets, 200u);
}

TEST(Engine, SilentLegsTimeOut) {
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  cfg.rtp_timeout_ms = 200;
  Engine e(cfg);
  e.add_room(7);
  TestLeg quiet(700);
  e.add_leg({70, 7, pcmu(), quiet.addr, 0, true, true});
  std::vector<EngineEvent> events;
  for (int i = 0; i < 30 && events.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    e.poll([&](const EngineEvent& ev) { events.push_back(ev); });
  }
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].type, EngineEvent::Type::timeout);
  EXPECT_EQ(events[0].leg, 70u);
}

TEST(Engine, ASenderFromAnotherPortIsLatchedToTheLegThatHasHeardNothingAndGetsItsMedia) {
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  Engine e(cfg);
  auto port = e.add_room(3);
  // `actual` sends from a port the offer did not name (a NAT's mapping): symmetric RTP
  // (RFC 7362) sends the leg's media back there, not to the `announced` port.
  TestLeg listener(500), announced(1000), actual(1000);
  e.add_leg({30, 3, pcmu(), listener.addr, 0, true, true});
  e.add_leg({31, 3, pcmu(), announced.addr, 0, true, true});
  run_for(e, port, {&listener, &actual}, 40);
  announced.drain();
  EXPECT_GT(goertzel(listener.recent(), 1000), 600);  // heard, though from an unannounced port
  EXPECT_GT(goertzel(actual.recent(), 500), 600) << "the latched source gets nothing back";
  // Before the first packet the offered address got the media (REST legs); after, nothing.
  announced.heard.clear();
  run_for(e, port, {&listener, &actual}, 10);
  announced.drain();
  EXPECT_TRUE(announced.heard.empty()) << "media still goes to the offered port once latched";
}

TEST(EngineRtcp, LegsGetSendersReportsAboutTheirStreamAndABye) {
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  cfg.rtcp_interval_ms = 200;
  Engine e(cfg);
  auto port = e.add_room(4);
  TestLeg a(500), b(1000);
  LegSpec sa{40, 4, pcmu(), a.addr, 0, true, true};
  sa.rtcp_mux = true;  // reports come to the RTP address
  e.add_leg(sa);
  e.add_leg({41, 4, pcmu(), b.addr, 0, true, true});
  run_for(e, port, {&a, &b}, 50);
  ASSERT_FALSE(a.rtcp.empty()) << "no RTCP in a second with a 200 ms interval";
  bool sr_about_a = false;
  for (auto& pkt : a.rtcp) {
    RtcpInfo info;
    ASSERT_EQ(parse_rtcp(pkt, info), RtcpError::ok);
    if (!info.has_sr) continue;
    EXPECT_EQ(info.sender_ssrc, a.last_ssrc) << "the SR is not from the stream a receives";
    EXPECT_FALSE(info.cname.empty());
    if (auto* blk = info.block_for(a.ssrc())) {
      sr_about_a = true;
      EXPECT_EQ(blk->cumulative_lost, 0);
      EXPECT_GT(blk->highest_seq, 1u);
    }
  }
  EXPECT_TRUE(sr_about_a) << "no report block about what a sends";
  // Without rtcp-mux, b's reports go to its RTP port + 1: b's own socket gets none.
  EXPECT_TRUE(b.rtcp.empty());

  // a says BYE: the engine reports it (the bridge then removes the participant).
  std::uint8_t bye[64];
  auto n = write_bye(bye, a.ssrc(), "test");
  ASSERT_GT(n, 0u);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::sendto(a.fd, bye, n, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  std::vector<EngineEvent> events;
  run_for(e, port, {&b}, 5, &events);
  bool said_bye = false;
  for (auto& ev : events) said_bye |= ev.type == EngineEvent::Type::bye && ev.leg == 40;
  EXPECT_TRUE(said_bye);
  EXPECT_GT(e.stats().rtcp_rx, 0u);
  EXPECT_GT(e.stats().rtcp_tx, 0u);
}

namespace {
// A G.711 packet with the RFC 6464 one-byte header extension (id 1) saying `level` -dBov.
void send_with_level(TestLeg& l, std::uint16_t port, std::uint8_t level, bool loud) {
  std::uint8_t pkt[12 + 8 + 160];
  write_rtp_header(pkt, 0, false, l.seq++, l.ts, l.ssrc());
  l.ts += 160;
  pkt[0] |= 0x10;  // X: a header extension follows
  const std::uint8_t ext[8] = {0xBE, 0xDE, 0, 1, 0x10, static_cast<std::uint8_t>(0x80 | level),
                               0,    0};
  std::memcpy(pkt + 12, ext, sizeof ext);
  for (int i = 0; i < 160; ++i)
    pkt[20 + i] = g711::linear_to_ulaw(static_cast<std::int16_t>(
        loud ? 12000 * std::sin(2 * std::numbers::pi * 700 * l.t++ / 8000) : 0));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::sendto(l.fd, pkt, sizeof pkt, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
}

bool talked(Engine& e, std::uint16_t port, TestLeg& l, std::uint8_t level, bool loud) {
  bool started = false;
  for (int i = 0; i < 40; ++i) {
    send_with_level(l, port, level, loud);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    l.drain();
    e.poll([&](const EngineEvent& ev) { started |= ev.type == EngineEvent::Type::talking; });
  }
  return started;
}
}  // namespace

TEST(Engine, TalkingFollowsTheSendersRfc6464LevelWhenItSendsOne) {
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  Engine e(cfg);
  auto port = e.add_room(6);
  TestLeg a(0);
  e.add_leg({60, 6, pcmu(), a.addr, 1, true, true});  // extension id 1 negotiated
  // Loud audio, but the client says -127 dBov (it measured silence, e.g. noise suppression).
  EXPECT_FALSE(talked(e, port, a, 127, true)) << "the decoded signal won over the level";
  // Silent audio, but the client says -10 dBov: the level decides.
  EXPECT_TRUE(talked(e, port, a, 10, false)) << "the sender's level was ignored";
}
