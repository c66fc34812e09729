#include "media/rtcp.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

using namespace confab::media;

namespace {

using Bytes = std::vector<std::uint8_t>;

// Exactly sized heap copies, so that ASan sees any read past the end.
RtcpError parse(const Bytes& d, RtcpInfo& info) {
  return parse_rtcp(std::span(d.data(), d.size()), info);
}
RtcpError parse(const Bytes& d) {
  RtcpInfo info;
  return parse(d, info);
}

ReportBlock sample_block() {
  ReportBlock b;
  b.ssrc = 0x55667788;
  b.fraction_lost = 64;
  b.cumulative_lost = -2;
  b.highest_seq = 0x00010005;
  b.jitter = 7;
  b.lsr = 0xccddeeff;
  b.dlsr = 0x10000;
  return b;
}

// An SR with one block and an SDES CNAME "ab", assembled field by field from RFC 3550 §6.4.1/§6.5.
const Bytes kRfcSr = {
    0x81, 200,  0,    12,                            // V=2 RC=1 SR, 13 words
    0x11, 0x22, 0x33, 0x44,                          // sender SSRC
    0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11,  // NTP timestamp
    0x01, 0x02, 0x03, 0x04,                          // RTP timestamp
    0,    0,    0,    5,    0,    0,    0x03, 0x20,  // packets 5, octets 800
    0x55, 0x66, 0x77, 0x88,                          // block: source
    64,   0xff, 0xff, 0xfe,                          // 25% lost, cumulative -2
    0,    1,    0,    5,    0,    0,    0,    7,     // extended seq, jitter
    0xcc, 0xdd, 0xee, 0xff, 0,    1,    0,    0,     // LSR, DLSR 1 s
    0x81, 202,  0,    3,    0x11, 0x22, 0x33, 0x44,  // SDES, one chunk
    1,    2,    'a',  'b',  0,    0,    0,    0,     // CNAME "ab", null item, pad
};

}  // namespace

TEST(Rtcp, WritesAnSrByteForByteAsRfc3550LaysItOut) {
  std::array<std::uint8_t, 128> buf{};
  auto block = sample_block();
  std::size_t n = write_sr(buf, 0x11223344, 0xaabbccddeeff0011, 0x01020304, 5, 800, &block, "ab");
  ASSERT_EQ(n, kRfcSr.size());
  EXPECT_EQ(Bytes(buf.begin(), buf.begin() + static_cast<long>(n)), kRfcSr);
}

TEST(Rtcp, ParsesTheRfcLayoutSr) {
  RtcpInfo info;
  ASSERT_EQ(parse(kRfcSr, info), RtcpError::ok);
  EXPECT_TRUE(info.has_sr);
  EXPECT_EQ(info.sender_ssrc, 0x11223344u);
  EXPECT_EQ(info.ntp, 0xaabbccddeeff0011u);
  EXPECT_EQ(info.lsr, 0xccddeeffu);  // the middle 32 bits, as the peer will echo them
  EXPECT_EQ(info.rtp_ts, 0x01020304u);
  EXPECT_EQ(info.packets, 5u);
  EXPECT_EQ(info.octets, 800u);
  ASSERT_EQ(info.block_count, 1);
  EXPECT_EQ(info.blocks[0], sample_block());
  EXPECT_EQ(info.cname, "ab");
  EXPECT_FALSE(info.bye);
  EXPECT_EQ(info.block_for(0x55667788), &info.blocks[0]);
  EXPECT_EQ(info.block_for(1), nullptr);
}

TEST(Rtcp, RrRoundTripsWithAndWithoutABlock) {
  std::array<std::uint8_t, 128> buf{};
  auto block = sample_block();
  block.cumulative_lost = 0x7fffff;
  // CNAME lengths 1..4 cover every amount of SDES padding.
  for (std::string_view cname : {"x", "xy", "xyz", "user@host.example"}) {
    std::size_t n = write_rr(buf, 42, &block, cname);
    ASSERT_GT(n, 0u);
    EXPECT_EQ(n % 4, 0u);
    RtcpInfo info;
    ASSERT_EQ(parse_rtcp(std::span(buf).first(n), info), RtcpError::ok);
    EXPECT_FALSE(info.has_sr);
    EXPECT_EQ(info.sender_ssrc, 42u);
    ASSERT_EQ(info.block_count, 1);
    EXPECT_EQ(info.blocks[0], block);
    EXPECT_EQ(info.cname, cname);
  }
  std::size_t n = write_rr(buf, 42, nullptr, "");
  EXPECT_EQ(n, 8u);  // a bare empty RR
  RtcpInfo info;
  ASSERT_EQ(parse_rtcp(std::span(buf).first(n), info), RtcpError::ok);
  EXPECT_EQ(info.block_count, 0);
  EXPECT_TRUE(info.cname.empty());
}

TEST(Rtcp, ByeRoundTripsWithAndWithoutReason) {
  std::array<std::uint8_t, 128> buf{};
  std::size_t n = write_bye(buf, 7, "cn", "hung up");
  RtcpInfo info;
  ASSERT_EQ(parse_rtcp(std::span(buf).first(n), info), RtcpError::ok);
  EXPECT_EQ(buf[1], 201);  // RFC 3550 §6.1: a compound starts with a report, even to say BYE
  EXPECT_TRUE(info.bye);
  EXPECT_EQ(info.bye_ssrc, 7u);
  EXPECT_EQ(info.bye_reason, "hung up");
  EXPECT_EQ(info.cname, "cn");
  n = write_bye(buf, 8, "cn");
  ASSERT_EQ(parse_rtcp(std::span(buf).first(n), info), RtcpError::ok);
  EXPECT_EQ(info.bye_ssrc, 8u);
  EXPECT_TRUE(info.bye_reason.empty());
}

TEST(Rtcp, AcceptsALoneByeButNotALoneSdesOrFeedback) {
  RtcpInfo info;
  ASSERT_EQ(parse(Bytes{0x81, 203, 0, 1, 0, 0, 0, 9}, info), RtcpError::ok);
  EXPECT_TRUE(info.bye);
  EXPECT_EQ(info.bye_ssrc, 9u);
  EXPECT_EQ(parse(Bytes{0x81, 202, 0, 2, 0, 0, 0, 9, 0, 0, 0, 0}), RtcpError::not_compound);
  EXPECT_EQ(parse(Bytes{0x81, 205, 0, 2, 0, 0, 0, 9, 0, 0, 0, 1}), RtcpError::not_compound);
}

TEST(Rtcp, ReadsCnameAmongOtherItemsAndSkipsAppAndPadding) {
  Bytes d = {
      0x80, 201, 0, 1, 0, 0, 0,   1,                        // empty RR from 1
      0x82, 202, 0, 6,                                      // SDES, two chunks
      0,    0,   0, 1, 2, 3, 'b', 'o', 'b', 0,              // NAME "bob", null item
      0,    0,   0, 0, 0, 2, 1,   4,   'c', 'a', 't', 's',  // chunk 2: CNAME "cats"
      0,    0,                                              // null item and pad
      0x80, 204, 0, 2, 0, 0, 0,   1,   'n', 'a', 'm', 'e',  // APP
      0xa1, 203, 0, 2, 0, 0, 0,   1,   0,   0,   0,   4,    // padded BYE
  };
  RtcpInfo info;
  ASSERT_EQ(parse(d, info), RtcpError::ok);
  EXPECT_EQ(info.cname, "cats");
  EXPECT_TRUE(info.bye);
  EXPECT_TRUE(info.bye_reason.empty());  // the padding is not a reason
}

TEST(Rtcp, KeepsTheFirstBlocksOfAFullReport) {
  Bytes d = {0x9f, 201, 0, 1 + 31 * 6, 0, 0, 0, 1};
  for (std::uint8_t i = 0; i < 31; ++i) {
    Bytes block(24, 0);
    block[3] = i;
    d.insert(d.end(), block.begin(), block.end());
  }
  RtcpInfo info;
  ASSERT_EQ(parse(d, info), RtcpError::ok);
  ASSERT_EQ(info.block_count, RtcpInfo::kMaxBlocks);
  EXPECT_EQ(info.blocks[3].ssrc, 3u);
}

TEST(Rtcp, WritersReturnZeroWhenTheBufferIsTooSmall) {
  std::array<std::uint8_t, 128> buf{};
  auto block = sample_block();
  std::size_t sr = write_sr(buf, 1, 2, 3, 4, 5, &block, "cname");
  std::size_t rr = write_rr(buf, 1, &block, "cname");
  std::size_t bye = write_bye(buf, 1, "cname", "bye");
  for (std::size_t n = 0; n < sr; ++n)
    EXPECT_EQ(write_sr(std::span(buf).first(n), 1, 2, 3, 4, 5, &block, "cname"), 0u);
  for (std::size_t n = 0; n < rr; ++n)
    EXPECT_EQ(write_rr(std::span(buf).first(n), 1, &block, "cname"), 0u);
  for (std::size_t n = 0; n < bye; ++n)
    EXPECT_EQ(write_bye(std::span(buf).first(n), 1, "cname", "bye"), 0u);
  std::string too_long(256, 'x');
  EXPECT_EQ(write_rr(buf, 1, nullptr, too_long), 0u);
  EXPECT_EQ(write_bye(buf, 1, "c", too_long), 0u);
}

TEST(Rtcp, RejectsMalformedCompounds) {
  const Bytes rr = {0x80, 201, 0, 1, 0, 0, 0, 1};
  auto with = [&](Bytes tail) {
    Bytes d = rr;
    d.insert(d.end(), tail.begin(), tail.end());
    return d;
  };
  EXPECT_EQ(parse(Bytes{}), RtcpError::too_short);
  EXPECT_EQ(parse(Bytes{0x80, 201, 0}), RtcpError::too_short);
  EXPECT_EQ(parse(with({0x80, 202})), RtcpError::too_short);  // a header cut short
  EXPECT_EQ(parse(Bytes{0x80, 201, 0, 2, 0, 0, 0, 1}), RtcpError::bad_length);  // past the end
  EXPECT_EQ(parse(with({0x80, 202, 0xff, 0xff})), RtcpError::bad_length);
  EXPECT_EQ(parse(Bytes{0x40, 201, 0, 1, 0, 0, 0, 1}), RtcpError::bad_version);
  EXPECT_EQ(parse(with({0xc0, 202, 0, 0})), RtcpError::bad_version);
  EXPECT_EQ(parse(Bytes{0x80, 200, 0, 0}), RtcpError::bad_length);  // SR of no words
  EXPECT_EQ(parse(Bytes{0x80, 201, 0, 0}), RtcpError::bad_length);  // RR of no words
  EXPECT_EQ(parse(Bytes{0x81, 201, 0, 1, 0, 0, 0, 1}), RtcpError::bad_count);
  Bytes sr_short(28 + 24, 0);  // SR claiming two blocks, holding one
  sr_short[0] = 0x82, sr_short[1] = 200, sr_short[3] = 12;
  EXPECT_EQ(parse(sr_short), RtcpError::bad_count);
  EXPECT_EQ(parse(with({0x83, 203, 0, 1, 0, 0, 0, 1})), RtcpError::bad_count);  // BYE of 3
  EXPECT_EQ(parse(with({0x82, 202, 0, 2, 0, 0, 0, 1, 1, 0, 0, 0})), RtcpError::bad_count);
  // An item or reason running past its packet.
  EXPECT_EQ(parse(with({0x81, 202, 0, 2, 0, 0, 0, 1, 1, 9, 'a', 'b'})), RtcpError::bad_item);
  EXPECT_EQ(parse(with({0x81, 202, 0, 2, 0, 0, 0, 1, 1, 2, 'a', 'b'})), RtcpError::bad_item);
  EXPECT_EQ(parse(with({0x81, 203, 0, 2, 0, 0, 0, 1, 5, 'a', 'b', 'c'})), RtcpError::bad_item);
  // Padding: a count of 0, one larger than the packet, or on a packet that is not the last.
  EXPECT_EQ(parse(Bytes{0xa0, 201, 0, 1, 0, 0, 0, 0}), RtcpError::bad_padding);
  EXPECT_EQ(parse(Bytes{0xa0, 201, 0, 1, 0, 0, 0, 5}), RtcpError::bad_padding);
  EXPECT_EQ(parse(Bytes{0xa0, 201, 0, 0}), RtcpError::bad_padding);
  EXPECT_EQ(parse(Bytes{0xa0, 201, 0, 2, 0, 0, 0, 1, 0, 0, 0, 4, 0x80, 203, 0, 0}),
            RtcpError::bad_padding);
  EXPECT_EQ(parse(Bytes{0xa0, 201, 0, 2, 0, 0, 0, 1, 0, 0, 0, 4}), RtcpError::ok);
  EXPECT_EQ(parse(Bytes{0xa0, 201, 0, 1, 0, 0, 0, 4}), RtcpError::bad_length);  // no room left
}

TEST(RtcpStats, CountsLossWhenEveryFourthPacketIsDropped) {
  RtpReceiverStats s;
  for (std::uint32_t i = 0; i < 100; ++i)
    if (i % 4 != 1) s.on_rtp(static_cast<std::uint16_t>(i), i * 160, i * 160);
  auto r = s.make_report(99, 0);
  EXPECT_EQ(r.ssrc, 99u);
  EXPECT_EQ(r.fraction_lost, 64);  // 25% in 1/256
  EXPECT_EQ(r.cumulative_lost, 25);
  EXPECT_EQ(r.highest_seq, 99u);
  for (std::uint32_t i = 100; i < 200; ++i)
    s.on_rtp(static_cast<std::uint16_t>(i), i * 160, i * 160);
  r = s.make_report(99, 0);
  EXPECT_EQ(r.fraction_lost, 0);  // a clean interval after a lossy one
  EXPECT_EQ(r.cumulative_lost, 25);
  r = s.make_report(99, 0);
  EXPECT_EQ(r.fraction_lost, 0);  // nothing expected, nothing lost
}

TEST(RtcpStats, ExtendsTheSequenceAcrossTheWrap) {
  RtpReceiverStats s;
  std::uint16_t seq = 65530;
  for (int i = 0; i < 12; ++i) s.on_rtp(seq++, 0, 0);  // 65530..65535, 0..5
  EXPECT_EQ(s.extended_max(), 0x10005u);
  EXPECT_EQ(s.expected(), 12);
  EXPECT_EQ(s.lost(), 0);
  s.on_rtp(65534, 0, 0);  // late from before the wrap: not a new cycle
  EXPECT_EQ(s.extended_max(), 0x10005u);
  EXPECT_EQ(s.make_report(1, 0).highest_seq, 0x10005u);
}

TEST(RtcpStats, DuplicatesAndReorderingAreNotLoss) {
  RtpReceiverStats s;
  for (std::uint16_t seq : {10, 11, 13, 12, 14, 14}) s.on_rtp(seq, 0, 0);
  EXPECT_EQ(s.expected(), 5);
  EXPECT_EQ(s.received(), 6u);
  auto r = s.make_report(1, 0);
  EXPECT_EQ(r.cumulative_lost, -1);  // RFC 3550 A.3: duplicates count, loss can go negative
  EXPECT_EQ(r.fraction_lost, 0);
}

TEST(RtcpStats, AJumpIsBelievedOnlyWhenTheNextPacketFollowsIt) {
  RtpReceiverStats s;
  for (std::uint16_t seq = 0; seq < 10; ++seq) s.on_rtp(seq, 0, 0);
  s.on_rtp(30000, 0, 0);  // a stray: ignored
  s.on_rtp(10, 0, 0);
  EXPECT_EQ(s.extended_max(), 10u);
  EXPECT_EQ(s.received(), 11u);
  s.on_rtp(40000, 0, 0);
  s.on_rtp(40001, 0, 0);  // the sender restarted: count from here
  EXPECT_EQ(s.extended_max(), 40001u);
  EXPECT_EQ(s.expected(), 1);
  EXPECT_EQ(s.received(), 1u);
}

TEST(RtcpStats, JitterIsZeroForConstantTransitAndGrowsWithVariableTransit) {
  RtpReceiverStats s;
  std::uint32_t ts = 0xfffff000;  // the RTP clock wraps too
  for (int i = 0; i < 200; ++i, ts += 960) s.on_rtp(static_cast<std::uint16_t>(i), ts, ts + 12345);
  EXPECT_EQ(s.jitter(), 0u);
  // Every other packet 10 ms (480 units at 48 kHz) late: |D| = 480 each time.
  for (int i = 200; i < 400; ++i, ts += 960)
    s.on_rtp(static_cast<std::uint16_t>(i), ts, ts + 12345 + (i % 2 ? 480 : 0));
  EXPECT_GT(s.jitter(), 470u);
  EXPECT_LE(s.jitter(), 480u);
  for (int i = 400; i < 600; ++i, ts += 960) s.on_rtp(static_cast<std::uint16_t>(i), ts, ts + 99);
  EXPECT_LT(s.jitter(), 10u);  // and decays once the path is steady again
  // RFC 4733 events repeat a timestamp for their whole length: they are not jitter.
  for (int i = 600; i < 650; ++i)
    s.on_rtp(static_cast<std::uint16_t>(i), ts, ts + 99 + 20 * (i - 600));
  EXPECT_LT(s.jitter(), 10u);
}

TEST(RtcpStats, EchoesTheLastSrWithItsDelayIn65536thsOfASecond) {
  RtpReceiverStats s;
  s.on_rtp(1, 0, 0);
  auto r = s.make_report(1, 500);
  EXPECT_EQ(r.lsr, 0u);  // no SR yet: both zero (RFC 3550 §6.4.1)
  EXPECT_EQ(r.dlsr, 0u);
  s.on_sr(0x12345678, 1000);
  r = s.make_report(1, 1500);
  EXPECT_EQ(r.lsr, 0x12345678u);
  EXPECT_EQ(r.dlsr, 32768u);  // 0.5 s
}

TEST(RtcpStats, AReportSurvivesTheWireAndGivesTheRoundTrip) {
  RtpReceiverStats s;
  for (std::uint16_t seq = 0; seq < 8; ++seq)
    if (seq != 3) s.on_rtp(seq, seq * 160u, seq * 160u);
  std::uint64_t our_sr_ntp = ntp_from_unix(1'700'000'000, 0);
  s.on_sr(ntp_mid32(our_sr_ntp), 0);
  auto block = s.make_report(0xabcd, 250);
  std::array<std::uint8_t, 64> buf{};
  std::size_t n = write_rr(buf, 5, &block, "leg");
  RtcpInfo info;
  ASSERT_EQ(parse_rtcp(std::span(buf).first(n), info), RtcpError::ok);
  const ReportBlock* got = info.block_for(0xabcd);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->fraction_lost, 32);  // 1 of 8
  EXPECT_EQ(got->cumulative_lost, 1);
  // It reaches us 250 ms of holding + 100 ms of network after our SR.
  std::uint32_t arrival = ntp_mid32(ntp_from_unix(1'700'000'000, 350'000'000));
  EXPECT_EQ(rtt_ms(*got, arrival), 100u);
  ReportBlock none;
  EXPECT_FALSE(rtt_ms(none, arrival).has_value());  // LSR 0: no SR of ours has arrived
  ReportBlock early = *got;
  early.dlsr += 100;  // the peer's clock ran fast: never a huge unsigned RTT
  EXPECT_EQ(rtt_ms(early, ntp_mid32(our_sr_ntp) + got->dlsr), 0u);
}

TEST(Rtcp, NtpTimeFromUnixTime) {
  EXPECT_EQ(ntp_from_unix(0, 500'000'000), (std::uint64_t{2208988800u} << 32) | 0x80000000u);
  EXPECT_EQ(ntp_mid32(0x0000aaaabbbb0000), 0xaaaabbbbu);
  EXPECT_GT(ntp_now() >> 32, 2208988800u + 1'600'000'000u);  // after 2020
}
