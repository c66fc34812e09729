#include "media/sdp.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

using namespace confab::media;

namespace {

// What `ffmpeg -f rtp` writes for an Opus stream (its SDP file).
constexpr const char* kFfmpegOpus =
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "a=tool:libavformat 59.27.100\r\nm=audio 5004 RTP/AVP 97\r\nb=AS:64\r\n"
    "a=rtpmap:97 opus/48000/2\r\na=fmtp:97 sprop-stereo=1\r\n";

// A desk phone: G.711 both laws, G.722, DTMF, static types without rtpmap for 0 and 8.
constexpr const char* kPhone =
    "v=0\r\no=phone 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 8 0 9 101\r\na=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n";

std::string refusal(const std::string& sdp) {
  try {
    negotiate(parse_offer(sdp));
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "accepted";
}

}  // namespace

TEST(Sdp, TakesFfmpegsOpusOffer) {
  auto o = parse_offer(kFfmpegOpus);
  EXPECT_EQ(o.address, "127.0.0.1");
  EXPECT_EQ(o.port, 5004);
  auto n = negotiate(o);
  EXPECT_EQ(n.codec, Codec::opus);
  EXPECT_EQ(n.pt, 97);
  EXPECT_EQ(n.clock, 48000);
  EXPECT_EQ(n.dtmf_pt, -1);
  auto a = make_answer(o, n, "127.0.0.1", 31000, 42);
  EXPECT_NE(a.find("m=audio 31000 RTP/AVP 97\r\n"), std::string::npos) << a;
  EXPECT_NE(a.find("a=rtpmap:97 opus/48000/2\r\n"), std::string::npos);
  EXPECT_NE(a.find("c=IN IP4 127.0.0.1\r\n"), std::string::npos);
}

TEST(Sdp, PrefersWidebandAndKeepsDtmfOnTheSameClock) {
  auto o = parse_offer(kPhone);
  ASSERT_EQ(o.formats.size(), 4u);  // static 8 and 0 filled in without rtpmap
  auto n = negotiate(o);
  EXPECT_EQ(n.codec, Codec::g722);
  EXPECT_EQ(n.pt, 9);
  EXPECT_EQ(n.dtmf_pt, 101);
  auto a = make_answer(o, n, "192.0.2.1", 30000, 1);
  EXPECT_NE(a.find("m=audio 30000 RTP/AVP 9 101"), std::string::npos);
  EXPECT_NE(a.find("a=rtpmap:101 telephone-event/8000"), std::string::npos);
  EXPECT_NE(a.find("a=sendrecv"), std::string::npos);
}

TEST(Sdp, StereoOpusAndFecAreSeen) {
  auto o = parse_offer(
      "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 9 RTP/AVP 111 0\r\na=rtpmap:111 opus/48000/2\r\n"
      "a=fmtp:111 minptime=10;useinbandfec=1;stereo=1\r\n"
      "a=extmap:3 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=rtcp-mux\r\n");
  auto n = negotiate(o);
  EXPECT_EQ(n.channels, 2);
  EXPECT_TRUE(n.fec);
  EXPECT_EQ(o.audio_level_ext, 3);
  auto a = make_answer(o, n, "127.0.0.1", 30002, 7);
  EXPECT_NE(a.find("a=extmap:3 urn:ietf:params:rtp-hdrext:ssrc-audio-level"), std::string::npos);
  EXPECT_NE(a.find("a=rtcp-mux"), std::string::npos);
  EXPECT_NE(a.find("stereo=1"), std::string::npos);
}

TEST(Sdp, RefusalsSayWhy) {
  EXPECT_NE(refusal("v=0\r\nc=IN IP4 1.2.3.4\r\nm=video 5000 RTP/AVP 96\r\n").find("no audio"),
            std::string::npos);
  EXPECT_NE(refusal("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n").find("port 0"),
            std::string::npos);
  EXPECT_NE(
      refusal("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n")
          .find("no supported codec offered (g729/8000)"),
      std::string::npos);
  EXPECT_NE(refusal("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 UDP/TLS/RTP/SAVPF 111\r\n")
                .find("unsupported transport"),
            std::string::npos);
  EXPECT_NE(refusal("v=0\r\nm=audio 5000 RTP/AVP 0\r\n").find("no connection address"),
            std::string::npos);
  EXPECT_NE(refusal(std::string(70000, 'a')).find("too large"), std::string::npos);
}

TEST(Sdp, FormatsTheEngineCannotHonourAreNotTakenAndNamed) {
  auto opus255 = std::string("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP 111\r\n") +
                 "a=rtpmap:111 opus/48000/255\r\n";
  auto why = refusal(opus255);
  EXPECT_NE(why.find("opus/48000/255: 255 channels (opus: 1 or 2)"), std::string::npos) << why;
  EXPECT_NE(refusal("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP 0\r\n"
                    "a=rtpmap:0 PCMU/8000/2\r\n")
                .find("pcmu/8000/2: 2 channels (mono only)"),
            std::string::npos);
  // Beside a format it can take, the bad one is passed over (RFC 3264: the answerer picks).
  auto n = negotiate(parse_offer(opus255.substr(0, opus255.find(" 111\r\n")) +
                                 " 111 8\r\na=rtpmap:111 opus/48000/255\r\n"));
  EXPECT_EQ(n.codec, Codec::pcma);
  // sprop-stereo says what the sender sends; only stereo=1 asks us for stereo.
  auto mono = negotiate(parse_offer(
      "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP 97\r\na=rtpmap:97 opus/48000/2\r\n"
      "a=fmtp:97 sprop-stereo=1\r\n"));
  EXPECT_EQ(mono.channels, 1);
  EXPECT_FALSE(mono.fec);
  auto stereo = negotiate(parse_offer(
      "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP 97\r\na=rtpmap:97 opus/48000/2\r\n"
      "a=fmtp:97 minptime=10; stereo=1; useinbandfec=1\r\n"));
  EXPECT_EQ(stereo.channels, 2);
  EXPECT_TRUE(stereo.fec);
}

TEST(Sdp, OffersOverTheLimitsAreTooLargeAndSaySo) {
  std::string many_m = "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP 0\r\n";
  for (int i = 0; i < 1000; ++i) many_m += "m=video 0 RTP/AVP 96\r\n";
  try {
    parse_offer(many_m);
    FAIL() << "1,001 m= sections taken";
  } catch (const SdpTooLarge& e) {
    EXPECT_NE(std::string(e.what()).find("too many m= sections (at most 16)"), std::string::npos);
  }
  std::string many_lines = "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP 0\r\n";
  for (int i = 0; i < 2000; ++i) many_lines += "a=x\r\n";
  EXPECT_THROW(parse_offer(many_lines), SdpTooLarge);
  std::string many_pts = "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP";
  for (int i = 0; i < 100; ++i) many_pts += " " + std::to_string(i);
  EXPECT_THROW(parse_offer(many_pts + "\r\n"), SdpTooLarge);
  EXPECT_THROW(parse_offer(std::string(70000, 'a')), SdpTooLarge);
  // At the limits: taken.
  std::string at = "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP 0\r\n";
  for (std::size_t i = 1; i < kMaxSdpMedia; ++i) at += "m=video 0 RTP/AVP 96\r\n";
  EXPECT_EQ(parse_offer(at).port, 5000);
}
