#include "media/shard_state.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace confab::media {

Shard::Shard(const EngineConfig& cfg, int index) : cfg_(cfg) {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("media: socket() failed");
  int size = 8 << 20;
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  // Don't-fragment: our datagrams are far below any MTU, and for DF datagrams on an unconnected
  // socket the kernel skips the per-destination IP ID hash, a visible cost at 100k packets/s.
  int pmtu = IP_PMTUDISC_DO;
  ::setsockopt(fd_, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(cfg.port_base ? static_cast<std::uint16_t>(cfg.port_base + index) : 0);
  if (::inet_pton(AF_INET, cfg.bind_ip.c_str(), &a.sin_addr) != 1)
    throw std::invalid_argument("media: bad bind address " + cfg.bind_ip);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd_);
    throw std::runtime_error("media: cannot bind " + cfg.bind_ip + ":" +
                             std::to_string(ntohs(a.sin_port)) + ": " + std::strerror(errno));
  }
  socklen_t len = sizeof a;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  cname_ = "confab@" + cfg.bind_ip + ":" + std::to_string(port_);

  rx_msgs_.resize(kBatch);
  rx_iov_.resize(kBatch);
  rx_buf_.resize(kBatch * kMaxDatagram);
  rx_addr_.resize(kBatch);
  for (std::size_t i = 0; i < kBatch; ++i) {
    rx_iov_[i] = {rx_buf_.data() + i * kMaxDatagram, kMaxDatagram};
    rx_msgs_[i] = {};
    rx_msgs_[i].msg_hdr.msg_iov = &rx_iov_[i];
    rx_msgs_[i].msg_hdr.msg_iovlen = 1;
    rx_msgs_[i].msg_hdr.msg_name = &rx_addr_[i];
  }
  thread_ = std::thread([this] { run(); });
}

Shard::~Shard() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

void Shard::add_stats(Engine::Stats& s) const {
  s.ticks += ticks_;
  s.late_ticks += late_;
  s.rx_packets += rx_;
  s.tx_packets += tx_;
  s.rx_unknown += rx_unknown_;
  s.encodes += encodes_;
  s.decodes += decodes_;
  s.queue_full += events_dropped_;
  s.rtcp_rx += rtcp_rx_;
  s.rtcp_tx += rtcp_tx_;
}

void Shard::report(EngineEvent::Type t, const Room& room, const Leg& leg, int value) {
  if (!events_.push({t, room.id, leg.spec.leg, value})) ++events_dropped_;
}

void Shard::on_packet(Leg& leg, const std::uint8_t* data, std::size_t len, std::int64_t now_ms) {
  std::span<const std::uint8_t> d(data, len);
  if (looks_like_rtcp(d)) return on_rtcp(leg, d, now_ms);
  RtpPacket p;
  if (parse_rtp(d, p, static_cast<std::uint8_t>(leg.spec.level_ext)) != RtpError::ok) return;
  leg.last_rx = now_ms;
  leg.received = true;
  if (!leg.have_remote || p.ssrc != leg.remote_ssrc) {  // a new source: new statistics
    leg.rx = {};
    leg.remote_ssrc = p.ssrc;
    leg.have_remote = true;
  }
  leg.rx.on_rtp(p.seq, p.timestamp,
                static_cast<std::uint32_t>(now_ms * leg.spec.codec.clock / 1000));
  if (p.payload_type == leg.spec.codec.pt) {
    // A muted leg is neither mixed nor decoded: buffering its audio would be wasted work
    // (a webinar's listeners are mostly muted). Its packets still keep it alive.
    if (leg.spec.speak || leg.spec.mute_detect) leg.jb.put(p.seq, p.payload, now_ms);
    // The client measured its own level before encoding (RFC 6464): talk detection and the
    // choice of speakers use it rather than the decoded (coded, concealed) signal.
    if (p.has_level) leg.level_score = TalkDetector::score_of_level(p.level);
    return;
  }
  if (p.payload_type == leg.spec.codec.dtmf_pt && p.payload.size() >= 4) {
    // RFC 4733: one event spans several packets with the same timestamp; report it once.
    if (leg.dtmf_seen && p.timestamp == leg.dtmf_ts) return;
    leg.dtmf_seen = true;
    leg.dtmf_ts = p.timestamp;
    static constexpr char digits[] = "0123456789*#ABCD";
    std::uint8_t ev = p.payload[0];
    if (ev < 16) {
      for (auto& [id, room] : rooms_)
        if (std::find(room->legs.begin(), room->legs.end(), &leg) != room->legs.end())
          report(EngineEvent::Type::dtmf, *room, leg, digits[ev]);
    }
  }
}

// A source we do not know: senders behind NAT, or tools that send from another socket than the
// one they receive on (ffmpeg), reach us from a port their SDP did not announce. Such a source is
// bound to the one leg of the same IP that has received nothing yet; media still goes to the
// announced address. Ambiguous or unmatched sources are dropped.
std::unordered_map<std::uint64_t, Shard::Leg*>::iterator Shard::latch(const sockaddr_in& from) {
  Leg* found = nullptr;
  for (auto& [id, leg] : by_id_) {
    if (leg->received || leg->latched || leg->spec.remote.sin_addr.s_addr != from.sin_addr.s_addr)
      continue;
    if (found) return by_addr_.end();  // two candidates: do not guess
    found = leg;
  }
  if (!found) return by_addr_.end();
  found->latched = addr_key(from);
  return by_addr_.emplace(found->latched, found).first;
}

void Shard::receive(std::int64_t now_ms) {
  for (;;) {
    for (std::size_t i = 0; i < kBatch; ++i) rx_msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    int n = ::recvmmsg(fd_, rx_msgs_.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    rx_ += static_cast<std::uint64_t>(n);
    for (int i = 0; i < n; ++i) {
      auto& from = rx_addr_[static_cast<std::size_t>(i)];
      auto* data = rx_buf_.data() + static_cast<std::size_t>(i) * kMaxDatagram;
      auto len = rx_msgs_[static_cast<std::size_t>(i)].msg_len;
      auto it = by_addr_.find(addr_key(from));
      if (it == by_addr_.end() && looks_like_rtcp({data, len})) {
        // RTCP without rtcp-mux comes from the RTP port + 1; never latch a leg to it.
        it = by_addr_.find(addr_key(from) - 1);
      } else if (it == by_addr_.end()) {
        it = latch(from);
      }
      if (it == by_addr_.end()) {
        ++rx_unknown_;
        continue;
      }
      on_packet(*it->second, data, len, now_ms);
    }
    if (static_cast<std::size_t>(n) < kBatch) return;
  }
}

void Shard::send(Leg& leg, std::span<const std::uint8_t> payload) {
  write_rtp_header(leg.header, static_cast<std::uint8_t>(leg.spec.codec.pt), leg.first, leg.seq++,
                   leg.ts, leg.ssrc);
  ++leg.sent_packets;
  leg.sent_octets += static_cast<std::uint32_t>(payload.size());
  leg.last_sent_ts = leg.ts;
  leg.last_sent_ms = tick_ms_;
  leg.sent_since_report = true;
  leg.ts += static_cast<std::uint32_t>(rtp_increment(leg.spec.codec.codec, cfg_.tick_ms));
  leg.first = false;
  queue(leg.spec.remote, leg.header, payload);
}

void Shard::queue(const sockaddr_in& to, std::span<const std::uint8_t> head,
                  std::span<const std::uint8_t> body) {
  if (tx_count_ >= tx_msgs_.size()) flush();
  auto& m = tx_msgs_[tx_count_];
  auto* iov = &tx_iov_[tx_count_ * 2];
  iov[0] = {const_cast<std::uint8_t*>(head.data()), head.size()};
  iov[1] = {const_cast<std::uint8_t*>(body.data()), body.size()};
  m = {};
  m.msg_hdr.msg_iov = iov;
  m.msg_hdr.msg_iovlen = body.empty() ? 1 : 2;
  m.msg_hdr.msg_name = const_cast<sockaddr_in*>(&to);
  m.msg_hdr.msg_namelen = sizeof(sockaddr_in);
  ++tx_count_;
}

void Shard::flush() {
  std::size_t sent = 0;
  while (sent < tx_count_) {
    int n = ::sendmmsg(fd_, tx_msgs_.data() + sent,
                       static_cast<unsigned>(std::min(kBatch, tx_count_ - sent)), MSG_DONTWAIT);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      ++sent;  // skip the datagram the kernel refused (counted as not sent)
      continue;
    }
    sent += static_cast<std::size_t>(n);
    tx_ += static_cast<std::uint64_t>(n);
  }
  tx_count_ = 0;
}

void Shard::run() {
  timespec next{};
  clock_gettime(CLOCK_MONOTONIC, &next);
  const long tick_ns = static_cast<long>(cfg_.tick_ms) * 1'000'000;
  while (!stop_) {
    while (auto c = commands_.pop()) apply(*c);
    auto now = mono_ms();
    tick_ms_ = now;
    receive(now);
    for (auto& [id, room] : rooms_) mix_room(*room, now);
    flush();
    ++ticks_;
    next.tv_nsec += tick_ns;
    while (next.tv_nsec >= 1'000'000'000) {
      next.tv_nsec -= 1'000'000'000;
      ++next.tv_sec;
    }
    timespec now_ts{};
    clock_gettime(CLOCK_MONOTONIC, &now_ts);
    if (now_ts.tv_sec > next.tv_sec ||
        (now_ts.tv_sec == next.tv_sec && now_ts.tv_nsec > next.tv_nsec)) {
      ++late_;
      // Behind: run the next tick at once and keep the schedule, so the ticks missed are made
      // up (listeners keep 50 frames a second); only when far behind start over from now.
      long behind_ns =
          (now_ts.tv_sec - next.tv_sec) * 1'000'000'000L + (now_ts.tv_nsec - next.tv_nsec);
      if (behind_ns > 5 * tick_ns) next = now_ts;
      continue;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
  }
  for (auto& [id, room] : rooms_) drop_room(*room);
  rooms_.clear();
}

}  // namespace confab::media
