#include "net/ws_frame.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace confab::net::ws;

namespace {

// A client frame: masked with `key`.
std::vector<std::uint8_t> client_frame(Opcode op, std::string_view payload, bool fin = true,
                                       std::array<std::uint8_t, 4> key = {1, 2, 3, 4}) {
  std::vector<std::uint8_t> f;
  f.push_back(static_cast<std::uint8_t>((fin ? 0x80 : 0) | static_cast<int>(op)));
  if (payload.size() < 126) {
    f.push_back(static_cast<std::uint8_t>(0x80 | payload.size()));
  } else {
    f.push_back(0x80 | 126);
    f.push_back(static_cast<std::uint8_t>(payload.size() >> 8));
    f.push_back(static_cast<std::uint8_t>(payload.size()));
  }
  f.insert(f.end(), key.begin(), key.end());
  for (std::size_t i = 0; i < payload.size(); ++i)
    f.push_back(static_cast<std::uint8_t>(payload[i]) ^ key[i & 3]);
  return f;
}

std::string text(const Frame& f) {
  return {reinterpret_cast<const char*>(f.payload.data()), f.payload.size()};
}

}  // namespace

TEST(WsFrame, UnmasksTextAndKnowsItsSize) {
  auto b = client_frame(Opcode::text, "hello");
  b.push_back(0x81);  // the start of the next frame stays for later
  Frame f;
  ASSERT_EQ(parse_frame(b, 1024, f), Parse::frame);
  EXPECT_TRUE(f.fin);
  EXPECT_EQ(f.opcode, Opcode::text);
  EXPECT_EQ(text(f), "hello");
  EXPECT_EQ(f.size, b.size() - 1);
}

TEST(WsFrame, WaitsForWholeFramesAndReadsExtendedLengths) {
  std::string big(300, 'x');
  auto b = client_frame(Opcode::text, big);
  Frame f;
  for (std::size_t n = 0; n < b.size(); ++n)
    EXPECT_EQ(parse_frame(std::span(b).first(n), 1024, f), Parse::need_more) << n;
  ASSERT_EQ(parse_frame(b, 1024, f), Parse::frame);
  EXPECT_EQ(text(f), big);
  EXPECT_EQ(parse_frame(b, 100, f), Parse::too_big);
}

TEST(WsFrame, RefusesWhatRfc6455Forbids) {
  Frame f;
  auto unmasked = std::vector<std::uint8_t>{0x81, 0x01, 'a'};
  EXPECT_EQ(parse_frame(unmasked, 1024, f), Parse::protocol_error);
  auto rsv = client_frame(Opcode::text, "a");
  rsv[0] |= 0x40;
  EXPECT_EQ(parse_frame(rsv, 1024, f), Parse::protocol_error);
  auto fragmented_ping = client_frame(Opcode::ping, "a", false);
  EXPECT_EQ(parse_frame(fragmented_ping, 1024, f), Parse::protocol_error);
  auto bad_op = client_frame(static_cast<Opcode>(3), "a");
  EXPECT_EQ(parse_frame(bad_op, 1024, f), Parse::protocol_error);
  auto long_ping = client_frame(Opcode::ping, std::string(126, 'p'));
  EXPECT_EQ(parse_frame(long_ping, 1024, f), Parse::protocol_error);
}

TEST(WsFrame, ServerHeadersUseTheShortestLength) {
  std::uint8_t h[10];
  EXPECT_EQ(write_header(h, Opcode::text, 125), 2u);
  EXPECT_EQ(h[0], 0x81);
  EXPECT_EQ(h[1], 125);
  EXPECT_EQ(write_header(h, Opcode::text, 126), 4u);
  EXPECT_EQ(h[1], 126);
  EXPECT_EQ(write_header(h, Opcode::close, 70000), 10u);
  EXPECT_EQ(h[0], 0x88);
  EXPECT_EQ(h[1], 127);
}

TEST(WsFrame, AssemblerJoinsFragmentsAndRejectsBadSequences) {
  Assembler a(10);
  auto f1 = client_frame(Opcode::text, "hel", false);
  auto f2 = client_frame(Opcode::continuation, "lo");
  Frame f;
  parse_frame(f1, 1024, f);
  EXPECT_FALSE(a.add(f));
  EXPECT_EQ(a.error(), nullptr);
  parse_frame(f2, 1024, f);
  ASSERT_TRUE(a.add(f));
  EXPECT_EQ(a.message(), "hello");
  auto stray = client_frame(Opcode::continuation, "x");
  parse_frame(stray, 1024, f);
  EXPECT_FALSE(a.add(f));
  EXPECT_NE(a.error(), nullptr);
  auto big = client_frame(Opcode::text, "0123456789ab");
  parse_frame(big, 1024, f);
  EXPECT_FALSE(a.add(f));
  EXPECT_STREQ(a.error(), "message too big");
}

TEST(WsFrame, Utf8IsCheckedAsRfc3629Says) {
  for (std::string_view ok : {"", "plain", "caf\xc3\xa9", "\xe4\xbc\x9a\xe8\xad\xb0",
                              "\xf0\x9f\x8e\xa7", "\xed\x9f\xbf", "\xf4\x8f\xbf\xbf"})
    EXPECT_TRUE(valid_utf8(ok)) << ok;
  for (std::string_view bad :
       {"\xff", "\x80", "\xc0\xaf",                // a stray byte, a lone continuation, overlong
        "\xc1\xbf", "\xe0\x9f\xbf",                // overlong two and three bytes
        "\xf0\x8f\xbf\xbf",                        // overlong four bytes
        "\xed\xa0\x80", "\xed\xbf\xbf",            // surrogates
        "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",    // above U+10FFFF
        "\xe2\x82", "a\xe2\x82x", "\xf0\x9f\x8e",  // cut short
        "\xc3\x28"})
    EXPECT_FALSE(valid_utf8(bad)) << testing::PrintToString(std::string(bad));
}

TEST(WsFrame, CloseFramesThatNoEndpointMaySend) {
  auto err = [](std::string_view p) {
    return close_frame_error(std::span(reinterpret_cast<const std::uint8_t*>(p.data()), p.size()));
  };
  EXPECT_EQ(err(""), 0);
  EXPECT_EQ(err(std::string_view("\x03\xe8", 2)), 0);  // 1000
  EXPECT_EQ(err(std::string_view("\x03\xe9"
                                 "bye",
                                 5)),
            0);                                        // 1001 with a reason
  EXPECT_EQ(err(std::string_view("\x0f\xa0", 2)), 0);  // 4000, for applications
  EXPECT_EQ(err("\x03"), 1002);                        // one byte
  for (unsigned code : {0u, 999u, 1004u, 1005u, 1006u, 1015u, 2999u, 5000u, 65535u}) {
    std::string p{static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
    EXPECT_EQ(err(p), 1002) << code;
  }
  EXPECT_EQ(err(std::string_view("\x03\xe8\xff", 3)), 1007);  // a reason that is not UTF-8
}
