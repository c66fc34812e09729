// Where a leg's media goes (docs/security.md, "Media"): symmetric RTP, legs that send nothing
// before their signalling confirms them or before their peer has proven its address, and the
// destination allowlist. Over real loopback UDP, asserting on what each socket receives.
#include "media/addr_table.hpp"
#include "media/cidr.hpp"
#include "udp_leg.hpp"

#include <gtest/gtest.h>

using namespace confab::media;
using namespace confab::media::test;

namespace {
// Everything that reached `l` since the last call, RTP and RTCP: how many datagrams.
std::size_t datagrams(TestLeg& l) {
  l.drain();
  auto n = l.heard.size() / 160 + l.rtcp.size();
  l.heard.clear();
  l.rtcp.clear();
  return n;
}
}  // namespace

TEST(SendPolicy, AProvenLegGetsNothingUntilItsPeerSendsThenGetsItAtTheSource) {
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  cfg.rtcp_interval_ms = 100;
  Engine e(cfg);
  auto port = e.add_room(1);
  TestLeg talker(500), offered(0), source(1000);
  e.add_leg({10, 1, pcmu(), talker.addr, 0, true, true});
  LegSpec spec{11, 1, pcmu(), offered.addr, 0, true, true};
  spec.send_to = SendTo::proven;
  e.add_leg(spec);
  run_for(e, port, {&talker}, 20);
  EXPECT_EQ(datagrams(offered), 0u) << "a proven leg was sent media before its peer sent any";
  // Its peer speaks from another port of the offered IP: that is where its media goes now.
  run_for(e, port, {&talker, &source}, 30);
  EXPECT_GT(goertzel(source.recent(), 500), 600) << "the proven source does not hear the room";
  EXPECT_GT(goertzel(talker.recent(), 1000), 600) << "the room does not hear the proven leg";
  EXPECT_EQ(datagrams(offered), 0u) << "the offered address got media it never asked for";
}

TEST(SendPolicy, ALegNotYetSendingGetsNothingIsHeardAndStartsWhenEnabled) {
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  cfg.rtcp_interval_ms = 100;
  Engine e(cfg);
  auto port = e.add_room(2);
  TestLeg a(500), caller(1000);
  e.add_leg({20, 2, pcmu(), a.addr, 0, true, true});
  LegSpec spec{21, 2, pcmu(), caller.addr, 0, true, true};
  spec.sending = false;  // a SIP leg before the ACK confirms its dialog
  e.add_leg(spec);
  run_for(e, port, {&a, &caller}, 30);
  EXPECT_EQ(datagrams(caller), 0u) << "RTP or RTCP sent before the dialog was confirmed";
  EXPECT_GT(goertzel(a.recent(), 1000), 600) << "what the caller says is not mixed meanwhile";
  e.set_sending(2, 21, true);  // the ACK came
  run_for(e, port, {&a, &caller}, 30);
  EXPECT_GT(goertzel(caller.recent(), 500), 600) << "enabled, and still nothing";
  e.set_sending(2, 21, false);  // e.g. ICE consent expired (RFC 7675)
  run_for(e, port, {&a, &caller}, 3);
  datagrams(caller);
  run_for(e, port, {&a, &caller}, 20);
  EXPECT_EQ(datagrams(caller), 0u) << "still sending after set_sending(false)";
}

TEST(SendPolicy, ALatchedLegCannotBeTakenOverFromAnotherPort) {
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  Engine e(cfg);
  auto port = e.add_room(3);
  TestLeg a(500), b(1000), intruder(1500);
  e.add_leg({30, 3, pcmu(), a.addr, 0, true, true});
  e.add_leg({31, 3, pcmu(), b.addr, 0, true, true});
  run_for(e, port, {&a, &b}, 20);
  auto unknown = e.stats().rx_unknown;
  run_for(e, port, {&a, &b, &intruder}, 30);
  EXPECT_TRUE(intruder.heard.empty()) << "a source of the same IP took a latched leg's media";
  EXPECT_LT(goertzel(a.recent(), 1500), 60) << "the intruder is mixed";
  EXPECT_GT(goertzel(a.recent(), 1000), 600);
  EXPECT_GE(e.stats().rx_unknown - unknown, 25u);
}

TEST(SendPolicy, SourcesOutsideTheAllowlistNeverLatch) {
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  cfg.allow_destinations = {parse_cidr("10.0.0.0/8")};
  Engine e(cfg);
  EXPECT_FALSE(e.allowed(htonl(INADDR_LOOPBACK)));
  EXPECT_TRUE(e.allowed(htonl(0x0a010203)));
  auto port = e.add_room(4);
  TestLeg a(500), b(1000);
  // The bridge refuses such legs at join; the engine still never follows a source outside.
  LegSpec sa{40, 4, pcmu(), a.addr, 0, true, true};
  sa.send_to = SendTo::proven;
  LegSpec sb{41, 4, pcmu(), b.addr, 0, true, true};
  sb.send_to = SendTo::proven;
  e.add_leg(sa);
  e.add_leg(sb);
  run_for(e, port, {&a, &b}, 20);
  EXPECT_TRUE(a.heard.empty());
  EXPECT_TRUE(b.heard.empty());
  EXPECT_GE(e.stats().rx_refused, 30u);
}

TEST(Cidr, ParsesBlocksAndRefusesWhatIsNotOne) {
  auto c = parse_cidr("10.0.0.0/8");
  EXPECT_EQ(c.net, 0x0a000000u);
  EXPECT_EQ(c.mask, 0xff000000u);
  EXPECT_EQ(to_string(c), "10.0.0.0/8");
  EXPECT_EQ(to_string(parse_cidr("192.0.2.7")), "192.0.2.7/32");
  EXPECT_EQ(to_string(parse_cidr("0.0.0.0/0")), "0.0.0.0/0");
  std::vector<Cidr> allow{parse_cidr("10.0.0.0/8"), parse_cidr("192.0.2.7/32")};
  EXPECT_TRUE(allowed(allow, 0x0a112233));
  EXPECT_TRUE(allowed(allow, 0xc0000207));
  EXPECT_FALSE(allowed(allow, 0xc0000208));
  EXPECT_TRUE(allowed({}, 0x08080808));  // empty: anywhere
  for (const char* bad : {"", "10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "::1/128",
                          "ten/8", "10.0.0.0/8x", "10.0.0.0/-1", "1.2.3.4/8/8"}) {
    EXPECT_THROW(parse_cidr(bad), std::invalid_argument) << bad;
  }
  try {
    parse_cidr("10.0.0.1/8");
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("10.0.0.1/8"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("host bits"), std::string::npos) << e.what();
  }
}

TEST(AddrTable, FindsPutsErasesAndStaysWithinItsReservation) {
  AddrTable<int> t;
  EXPECT_EQ(t.find(1), nullptr);
  EXPECT_FALSE(t.put(1, nullptr)) << "an unreserved table took a key";
  int v[300];
  t.reserve(300);
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(t.put(static_cast<std::uint64_t>(i) * 7919 + 1, &v[i]));
  EXPECT_EQ(t.size(), 300u);
  for (int i = 0; i < 300; ++i) EXPECT_EQ(t.find(static_cast<std::uint64_t>(i) * 7919 + 1), &v[i]);
  for (int i = 0; i < 300; i += 2) t.erase(static_cast<std::uint64_t>(i) * 7919 + 1);
  EXPECT_EQ(t.size(), 150u);
  for (int i = 0; i < 300; ++i)
    EXPECT_EQ(t.find(static_cast<std::uint64_t>(i) * 7919 + 1), i % 2 ? &v[i] : nullptr);
  // Erase and put again many times (tombstones): lookups still end, a reserve clears them.
  for (int round = 0; round < 50; ++round) {
    t.reserve(300);
    for (int i = 0; i < 300; i += 2) ASSERT_TRUE(t.put(1'000'000 + round * 1000 + i, &v[i]));
    for (int i = 0; i < 300; i += 2) t.erase(1'000'000 + round * 1000 + i);
  }
  EXPECT_EQ(t.size(), 150u);
  EXPECT_EQ(t.find(424242), nullptr);
  EXPECT_FALSE(t.put(0, &v[0])) << "0 is not a key";
}

// The late packets of a peer that left reach the socket after its leg is gone. The next leg of
// the same IP must not be latched to that departed peer: it would never hear a thing.
TEST(SendPolicy, ALateStrayPacketOfADepartedPeerDoesNotLatchTheNextLegOfItsIp) {
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  Engine e(cfg);
  auto port = e.add_room(4);
  TestLeg gone(700);
  e.add_leg({40, 4, pcmu(), gone.addr, 0, true, true});
  run_for(e, port, {&gone}, 10);
  e.remove_leg(4, 40);
  e.remove_room(4);
  run_for(e, port, {}, 5);  // the shard has nothing left and sleeps
  gone.send(port);          // ...and its peer's last packets arrive meanwhile
  gone.send(port);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  port = e.add_room(5);
  TestLeg next(500), other(1000);
  e.add_leg({50, 5, pcmu(), next.addr, 0, true, true});  // the one leg of its IP without media
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  e.add_leg({51, 5, pcmu(), other.addr, 0, true, true});
  run_for(e, port, {&next, &other}, 30);
  EXPECT_GT(goertzel(next.recent(), 1000), 600) << "the new leg was latched to a departed peer";
  EXPECT_GT(goertzel(other.recent(), 500), 600);
}
