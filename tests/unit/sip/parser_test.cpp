// The parser's caps and checks, on messages as a hostile peer would write them.
#include "sip/parser.hpp"

#include <gtest/gtest.h>

#include <string>

namespace confab::sip {
namespace {

const std::string kHead =
    "OPTIONS sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-p1\r\n"
    "From: <sip:alice@example.com>;tag=1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: p1@example.com\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Max-Forwards: 70\r\n";

Parsed parse_text(const std::string& s, Limits l = {}) {
  init_osip();
  return parse(s, l);
}

TEST(SipParser, ParsesAGoodRequestAndItsCompactForms) {
  auto p = parse_text(
      "INVITE sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-c\r\n"
      "f: <sip:alice@example.com>;tag=9\r\nt: <sip:bob@example.com>\r\ni: c@x\r\n"
      "CSeq: 7 INVITE\r\nc: application/sdp\r\nl: 4\r\n\r\nv=0\r\n");
  ASSERT_EQ(p.status, 0) << p.why;
  EXPECT_TRUE(p.request);
  EXPECT_EQ(method(p.msg.get()), "INVITE");
  EXPECT_EQ(call_id(p.msg.get()), "c@x");
  EXPECT_EQ(from_tag(p.msg.get()), "9");
  EXPECT_EQ(cseq_number(p.msg.get()), 7u);
  EXPECT_EQ(body(p.msg.get()), "v=0\r");  // exactly Content-Length bytes
  EXPECT_EQ(content_type(p.msg.get()), "application/sdp");
}

TEST(SipParser, BytesPastContentLengthAreNotPartOfTheMessage) {
  auto text = kHead + "Content-Length: 0\r\n\r\n";
  auto p = parse_text(text + "INVITE sip:another@example.com SIP/2.0\r\n\r\n");
  ASSERT_EQ(p.status, 0) << p.why;
  EXPECT_EQ(p.size, text.size());
  EXPECT_EQ(method(p.msg.get()), "OPTIONS");
}

TEST(SipParser, ContentLengthLargerThanTheBodyIs400) {
  auto p = parse_text(kHead + "Content-Length: 50\r\n\r\nshort");
  EXPECT_EQ(p.status, 400);
  EXPECT_NE(p.why.find("Content-Length 50 is larger than the body (5 bytes)"), std::string::npos)
      << p.why;
  EXPECT_TRUE(p.respond);
}

TEST(SipParser, BadAndConflictingContentLengthsAre400) {
  for (auto cl : {"Content-Length: -3\r\n", "Content-Length: 4x\r\n",
                  "Content-Length: 3\r\nl: 4\r\n", "Content-Length: 99999999999\r\n"}) {
    auto p = parse_text(kHead + cl + "\r\nabcd");
    EXPECT_EQ(p.status, 400) << cl;
    EXPECT_NE(p.why.find("Content-Length"), std::string::npos) << p.why;
    EXPECT_TRUE(p.respond) << cl;
  }
}

TEST(SipParser, CapsAreEnforcedBeforeOsipSeesTheMessage) {
  Limits l;
  l.max_headers = 32;
  std::string many = kHead;
  for (int i = 0; i < 5000; ++i) many += "X-H: v\r\n";  // quadratic for osip's lists
  auto p = parse_text(many + "\r\n", l);
  EXPECT_EQ(p.status, 400);
  EXPECT_EQ(p.why, "more than 32 header fields");
  EXPECT_TRUE(p.respond);  // the first fields hold what a response needs
  std::string commas = kHead + "Route: ";
  for (int i = 0; i < 100; ++i) commas += "<sip:a>,";
  auto q = parse_text(commas + "<sip:b>\r\n\r\n", l);
  EXPECT_EQ(q.status, 400);  // each comma-separated value counts
  l.max_body = 10;
  auto b = parse_text(
      kHead + "Content-Type: application/sdp\r\nContent-Length: 11\r\n\r\n" + std::string(11, 'x'),
      l);
  EXPECT_EQ(b.status, 413);
  l.max_message = 2048;
  auto big = parse_text(kHead + "Subject: " + std::string(3000, 'y') + "\r\n\r\n", l);
  EXPECT_EQ(big.status, 513);
}

TEST(SipParser, MissingAndMismatchedFieldsAreNamed) {
  struct Case {
    std::string text;
    int status;
    std::string why;
  } cases[] = {
      {"OPTIONS sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n"
       "To: <sip:b@x>\r\nCSeq: 1 OPTIONS\r\n\r\n",
       400, "missing Call-ID header"},
      {"OPTIONS sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n"
       "To: <sip:b@x>\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\n\r\n",
       400, "CSeq method INVITE does not match the request method OPTIONS"},
      {"OPTIONS sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n"
       "To: <sip:b@x>\r\nCall-ID: 1\r\nCSeq: 36893488147419103232 OPTIONS\r\n\r\n",
       400, "CSeq number is not a decimal below 2^31"},
      {"OPTIONS sip:b@x SIP/7.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n"
       "To: <sip:b@x>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n",
       505, "SIP version SIP/7.0 is not supported"},
      {kHead + "Max-Forwards: 300\r\n\r\n", 400, "more than one max-forwards header"},
      {"OPTIONS sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n"
       "To: <sip:b@x>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 300\r\n\r\n",
       400, "Max-Forwards is not a number from 0 to 255"},
      {kHead + "To: <sip:c@x>\r\n\r\n", 400, "more than one To header"},
  };
  for (auto& c : cases) {
    auto p = parse_text(c.text);
    EXPECT_EQ(p.status, c.status) << c.text;
    EXPECT_EQ(p.why, c.why) << c.text;
  }
}

TEST(SipParser, WhatCannotBeAnsweredIsMarkedSo) {
  auto garbage = parse_text("hello there\r\n\r\n");
  EXPECT_NE(garbage.status, 0);
  EXPECT_FALSE(garbage.respond);
  auto no_end = parse_text(kHead);  // no empty line
  EXPECT_EQ(no_end.status, 400);
  auto response = parse_text(
      "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n"
      "To: <sip:b@x>\r\nCall-ID: 1\r\nCSeq: x OPTIONS\r\n\r\n");
  EXPECT_NE(response.status, 0);
  EXPECT_FALSE(response.respond);  // never answer a response
  auto ack = parse_text(
      "ACK sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n"
      "To: <sip:b@x>\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\n\r\n");
  EXPECT_EQ(ack.status, 400);
  EXPECT_FALSE(ack.respond);  // nor an ACK
}

TEST(SipParser, ScanHeadFindsTheEndAndCounts) {
  auto h = scan_head("\r\n\r\nOPTIONS x SIP/2.0\r\nA: 1,2\r\n b\r\nl: 3\r\n\r\nabc", 1000);
  EXPECT_TRUE(h.complete);
  EXPECT_EQ(h.start, 4u);
  EXPECT_EQ(h.fields, 3u);  // A, its comma, l
  ASSERT_TRUE(h.length);
  EXPECT_EQ(*h.length, 3u);
  EXPECT_FALSE(scan_head("OPTIONS x SIP/2.0\r\nA: 1\r\n", 1000).complete);
}

}  // namespace
}  // namespace confab::sip
