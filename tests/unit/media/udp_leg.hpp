#pragma once
// Test legs over real loopback UDP: plain sockets that send G.711 tones every 20 ms and decode
// what the engine sends back, and a Goertzel filter to assert on the signal.
#include "media/engine.hpp"
#include "media/g711.hpp"
#include "media/rtp.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
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

struct TestLeg {
  int fd;
  sockaddr_in addr{};
  double hz;
  std::uint16_t seq = 1;
  std::uint32_t ts = 0;
  long t = 0;
  std::vector<std::int16_t> heard;
  std::vector<std::vector<std::uint8_t>> rtcp;  // what came back that was RTCP
  std::uint32_t last_ssrc = 0;                  // of the RTP the engine sends us
  std::uint32_t ssrc() const { return 0x1000 + static_cast<std::uint32_t>(hz); }

  explicit TestLeg(double f) : hz(f) {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  }
  ~TestLeg() { ::close(fd); }

  void send(std::uint16_t port) {
    std::uint8_t pkt[12 + 160];
    write_rtp_header(pkt, 0, seq == 1, seq, ts, 0x1000 + static_cast<std::uint32_t>(hz));
    for (int i = 0; i < 160; ++i)
      pkt[12 + i] = g711::linear_to_ulaw(
          static_cast<std::int16_t>(6000 * std::sin(2 * std::numbers::pi * hz * t++ / 8000)));
    ++seq;
    ts += 160;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::sendto(fd, pkt, sizeof pkt, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  void drain() {
    std::uint8_t buf[1500];
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
      for (auto b : p.payload) heard.push_back(g711::ulaw_to_linear(b));
    }
  }
  // The last half second heard.
  std::span<const std::int16_t> recent() const {
    std::size_t n = std::min<std::size_t>(heard.size(), 4000);
    return std::span(heard).last(n);
  }
};

inline Negotiated pcmu() {
  Negotiated n;
  n.codec = Codec::pcmu;
  n.pt = 0;
  n.clock = 8000;
  return n;
}

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
