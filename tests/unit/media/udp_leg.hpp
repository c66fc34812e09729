#pragma once
// Test legs over real loopback UDP: plain sockets that send tones (or any PCM) every 20 ms in
// G.711 or G.722 and decode what the engine sends back, and a Goertzel filter to assert on the
// signal.
#include "media/codec.hpp"
#include "media/engine.hpp"
#include "media/g711.hpp"
#include "media/rtp.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <numbers>
#include <thread>
#include <vector>

namespace confab::media::test {

inline double goertzel(std::span<const std::int16_t> x, double hz, double rate = 8000) {
  double k = 2 * std::cos(2 * std::numbers::pi * hz / rate), s1 = 0, s2 = 0;
  for (auto v : x) {
    double s0 = v + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return std::sqrt(std::max(0.0, s1 * s1 + s2 * s2 - k * s1 * s2)) / static_cast<double>(x.size());
}

// What an SDP exchange would have settled for `c` (telephone-event on 101).
inline Negotiated negotiated(Codec c) {
  Negotiated n;
  n.codec = c;
  n.pt = c == Codec::pcmu ? 0 : c == Codec::pcma ? 8 : c == Codec::g722 ? 9 : 111;
  n.clock = c == Codec::opus ? 48000 : 8000;
  n.dtmf_pt = 101;
  return n;
}

inline Negotiated pcmu() {
  auto n = negotiated(Codec::pcmu);
  n.dtmf_pt = -1;
  return n;
}

// A peer on its own loopback socket: sends a 20 ms frame of its tone (frequency `hz`, peak
// `amp`; 0 Hz is silence) in its codec, or of what `script` still holds, at each send(), and
// decodes what the engine sends it into `heard` (at the codec's rate).
struct TestLeg {
  int fd;
  sockaddr_in addr{};
  double hz;
  double amp;
  Negotiated codec;
  std::unique_ptr<Encoder> enc;
  std::unique_ptr<Decoder> dec;
  std::vector<std::int16_t> script;  // PCM at the codec's rate, sent before the tone resumes
  std::size_t script_pos = 0;
  std::uint16_t seq = 1;
  std::uint32_t ts = 0;
  long t = 0;
  std::vector<std::int16_t> heard;
  std::vector<std::vector<std::uint8_t>> rtcp;  // what came back that was RTCP
  std::uint32_t last_ssrc = 0;                  // of the RTP the engine sends us
  std::uint32_t ssrc() const { return 0x1000 + static_cast<std::uint32_t>(hz); }

  explicit TestLeg(double f, double a = 6000, Negotiated n = pcmu())
      : hz(f), amp(a), codec(n), enc(make_encoder(n.codec, 1, 20)), dec(make_decoder(n.codec, 20)) {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  }
  ~TestLeg() { ::close(fd); }
  TestLeg(const TestLeg&) = delete;
  TestLeg& operator=(const TestLeg&) = delete;

  int rate() const { return pcm_rate(codec.codec); }

  void send(std::uint16_t port) {
    const auto n = static_cast<std::size_t>(frame_samples(codec.codec, 20));
    std::vector<std::int16_t> pcm(n);
    for (auto& v : pcm) {
      if (script_pos < script.size()) {
        v = script[script_pos++];
        continue;
      }
      v = static_cast<std::int16_t>(amp * std::sin(2 * std::numbers::pi * hz * t++ / rate()));
    }
    std::uint8_t pkt[12 + 1500];
    write_rtp_header(pkt, static_cast<std::uint8_t>(codec.pt), seq == 1, seq, ts, ssrc());
    int bytes = enc->encode(pcm, std::span(pkt + 12, 1500));
    ++seq;
    ts += static_cast<std::uint32_t>(rtp_increment(codec.codec, 20));
    to(port, std::span(pkt, 12 + static_cast<std::size_t>(std::max(bytes, 0))));
  }
  // One RFC 4733 packet: `event` (0-15) begun at RTP time `start`, `duration` in RTP units.
  void send_event(std::uint16_t port, std::uint8_t event, std::uint32_t start,
                  std::uint16_t duration, bool end) {
    std::uint8_t pkt[16];
    write_rtp_header(pkt, static_cast<std::uint8_t>(codec.dtmf_pt), false, seq++, start, ssrc());
    pkt[12] = event;
    pkt[13] = static_cast<std::uint8_t>((end ? 0x80 : 0) | 10);  // volume -10 dBm0
    pkt[14] = static_cast<std::uint8_t>(duration >> 8);
    pkt[15] = static_cast<std::uint8_t>(duration);
    to(port, pkt);
  }
  void to(std::uint16_t port, std::span<const std::uint8_t> datagram) {
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(port);
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&dst),
             sizeof dst);
  }
  void drain() {
    std::uint8_t buf[1500];
    std::vector<std::int16_t> pcm(4096);
    for (;;) {
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      std::span<const std::uint8_t> d(buf, static_cast<std::size_t>(n));
      if (looks_like_rtcp(d)) {
        rtcp.emplace_back(d.begin(), d.end());
        continue;
      }
      RtpPacket p;
      if (parse_rtp(d, p) != RtpError::ok) continue;
      last_ssrc = p.ssrc;
      int m = dec->decode(p.payload, pcm);
      if (m > 0) heard.insert(heard.end(), pcm.begin(), pcm.begin() + m);
    }
  }
  // The last half second heard.
  std::span<const std::int16_t> recent() const {
    std::size_t n = std::min<std::size_t>(heard.size(), static_cast<std::size_t>(rate() / 2));
    return std::span(heard).last(n);
  }
};

inline void run_for(Engine& e, std::uint16_t port, std::vector<TestLeg*> legs, int frames,
                    std::vector<EngineEvent>* events = nullptr) {
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < frames; ++i) {
    for (auto* l : legs) l->send(port);
    std::this_thread::sleep_until(start + std::chrono::milliseconds(20 * (i + 1)));
    for (auto* l : legs) l->drain();
    e.poll([&](const EngineEvent& ev) {
      if (events) events->push_back(ev);
    });
  }
}

}  // namespace confab::media::test
