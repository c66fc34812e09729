#include "media/shard_state.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace confab::media {

Shard::Shard(const EngineConfig& cfg, int index)
    : cfg_(cfg), commands_(cfg.command_queue), events_(cfg.event_queue) {
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
  by_addr_.reserve(16);
  pending_.reserve(16);
  reserve_backlog();
  thread_ = std::thread([this] { run(); });
  if (cfg.realtime_priority > 0) {
    sched_param p{};
    p.sched_priority = std::min(cfg.realtime_priority, 99);
    realtime_ = pthread_setschedparam(thread_.native_handle(), SCHED_FIFO, &p) == 0;
  }
}

Shard::~Shard() {
  stop();
  if (fd_ >= 0) ::close(fd_);
}

void Shard::stop() {
  if (!thread_.joinable()) return;
  stop_ = true;
  wake_.fetch_add(1);
  wake_.notify_one();
  thread_.join();
  stopped_ = true;
}

bool Shard::command(const Command& c) {
  bool ok = commands_.push(c);
  // Seen by a shard about to sleep (it re-checks the queue after saying it sleeps), or it
  // wakes it: a shard with nothing to tick costs nothing until a command comes.
  wake_.fetch_add(1);
  if (idle_.load()) wake_.notify_one();
  return ok;
}

std::size_t Shard::poll(const std::function<void(const EngineEvent&)>& on_event) {
  std::size_t n = 0;
  while (auto e = events_.pop()) {
    on_event(*e);
    ++n;
  }
  if (stopped_) {  // the thread is joined: what it held back is ours to hand over now
    for (auto& e : backlog_) on_event(e);
    n += backlog_.size();
    backlog_.clear();
  }
  return n;
}

void Shard::sleep_until_command() {
  auto seen = wake_.load();
  idle_.store(true);
  if (commands_.empty() && !stop_) {
    ++sleeps_;
    wake_.wait(seen);
  }
  idle_.store(false);
  // Whatever reached the socket while no leg was here belongs to no leg: the late packets of
  // peers that left. Left queued, they would be read once the next leg arrives and latch it to a
  // departed peer of the same IP (see pending_leg).
  for (;;) {
    for (std::size_t i = 0; i < kBatch; ++i) rx_msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    int n = ::recvmmsg(fd_, rx_msgs_.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) break;
    rx_ += static_cast<std::uint64_t>(n);
    rx_unknown_ += static_cast<std::uint64_t>(n);
    if (static_cast<std::size_t>(n) < kBatch) break;
  }
}

void Shard::add_stats(Engine::Stats& s) const {
  s.ticks += ticks_;
  s.late_ticks += late_;
  s.rx_packets += rx_;
  s.tx_packets += tx_;
  s.rx_unknown += rx_unknown_;
  s.decodes += decodes_;
  s.queue_full += events_dropped_;
  s.rtcp_rx += rtcp_rx_;
  s.rtcp_tx += rtcp_tx_;
  s.rx_refused += rx_refused_;
  s.events_deferred += events_deferred_;
  s.sleeps += sleeps_;
  s.mixed_samples += mixed_samples_;
  s.rate_changes += rate_changes_;
  s.dtmf_inband += dtmf_inband_;
  s.dtmf_duplicates += dtmf_duplicates_;
  for (std::size_t i = 0; i < kCodecs; ++i) {
    s.codec_encodes[i] += codec_encodes_[i];
    s.encodes += codec_encodes_[i];
  }
}

void Shard::report(EngineEvent::Type t, const Room& room, const Leg& leg, int value) {
  emit({t, room.id, leg.spec.leg, value});
}

void Shard::emit(const EngineEvent& e) {
  using T = EngineEvent::Type;
  bool critical = e.type == T::played || e.type == T::timeout || e.type == T::bye;
  // Behind the ones already held back, so that they keep their order.
  if (critical && !backlog_.empty()) {
    backlog_.push_back(e);
    ++events_deferred_;
    return;
  }
  if (events_.push(e)) return;
  if (!critical) {
    ++events_dropped_;  // talk, energy, floor, DTMF: the next change says it again
    return;
  }
  backlog_.push_back(e);  // capacity reserved (reserve_backlog): no allocation
  ++events_deferred_;
}

void Shard::flush_backlog() {
  std::size_t n = 0;
  while (n < backlog_.size() && events_.push(backlog_[n])) ++n;
  if (n) backlog_.erase(backlog_.begin(), backlog_.begin() + static_cast<std::ptrdiff_t>(n));
}

void Shard::reserve_backlog() {
  // Between two commands a tick can raise at most: per leg one timeout or bye and the end of its
  // own play; per room the end of its room-wide plays (hold music ends on commands only).
  backlog_.reserve(backlog_.size() + 2 * by_id_.size() + rooms_.size() * Engine::kRoomPlays + 16);
}

void Shard::on_packet(Leg& leg, const std::uint8_t* data, std::size_t len, std::int64_t now_ms,
                      const sockaddr_in& from, bool known) {
  std::span<const std::uint8_t> d(data, len);
  if (looks_like_rtcp(d)) {
    if (known) on_rtcp(leg, d, now_ms);  // never latches: only RTP does
    return;
  }
  RtpPacket p;
  auto& c = leg.spec.codec;
  if (parse_rtp(d, p, static_cast<std::uint8_t>(leg.spec.level_ext)) != RtpError::ok ||
      (!known && p.payload_type != c.pt && p.payload_type != c.dtmf_pt)) {
    if (!known) ++rx_unknown_;
    return;
  }
  if (!leg.latched && !latch(leg, from)) return;
  leg.last_rx = now_ms;
  if (!leg.have_remote || p.ssrc != leg.remote_ssrc) {  // a new source: new statistics
    leg.rx = {};
    leg.remote_ssrc = p.ssrc;
    leg.have_remote = true;
  }
  leg.rx.on_rtp(p.seq, p.timestamp, static_cast<std::uint32_t>(now_ms * c.clock / 1000));
  if (p.payload_type == c.pt) {
    // A muted leg is neither mixed nor decoded unless its audio is analysed: buffering it
    // would be wasted work (a webinar's listeners are mostly muted). Its packets still keep it
    // alive.
    auto seq = audio_seq(leg, p);
    if (leg.decoded()) leg.jb.put(seq, p.payload, now_ms);
    // The client measured its own level before encoding (RFC 6464): talk detection and the
    // choice of speakers use it rather than the decoded (coded, concealed) signal.
    if (p.has_level) leg.level_score = TalkDetector::score_of_level(p.level);
    return;
  }
  if (p.payload_type == c.dtmf_pt && p.payload.size() >= 4) {
    leg.rfc_dtmf_ms = now_ms;  // the tone in its audio, if any, is this event (own_audio)
    if (leg.have_audio && static_cast<std::int16_t>(p.seq - leg.last_audio_seq) > 0 &&
        (leg.events_since_audio == 0 ||
         static_cast<std::int16_t>(p.seq - leg.last_event_seq) > 0)) {
      ++leg.events_since_audio;
      leg.last_event_seq = p.seq;
    }
    // RFC 4733: one event spans several packets with the same timestamp; report it once.
    if (leg.dtmf_seen && p.timestamp == leg.dtmf_ts) return;
    leg.dtmf_seen = true;
    leg.dtmf_ts = p.timestamp;
    static constexpr char digits[] = "0123456789*#ABCD";
    std::uint8_t ev = p.payload[0];
    if (ev >= 16 || !leg.room) return;
    // The key its audio carried a moment ago (a gateway that relays tones it detected sends the
    // event after them): already reported.
    if (leg.inband_digit == digits[ev] && now_ms - leg.inband_ms < Engine::kDtmfOverlapMs) {
      ++dtmf_duplicates_;
      return;
    }
    report(EngineEvent::Type::dtmf, *leg.room, leg, digits[ev]);
  }
}

// RFC 4733 events share the stream's sequence numbers. A sender that keeps its audio going while
// it sends a key's events puts them between audio packets one frame apart in time: the jitter
// buffer would take each for a lost frame, conceal it and fall behind by as much (and a tone in
// that audio would be chopped up). Those sequence numbers are taken out of what it sees. A
// sender that sends the events instead of audio (the usual) leaves a gap in time as well, which
// stays a gap. Reordered and repeated packets keep the mapping of the moment.
std::uint16_t Shard::audio_seq(Leg& leg, const RtpPacket& p) {
  if (leg.have_audio) {
    auto gap = static_cast<std::int16_t>(p.seq - leg.last_audio_seq);
    if (gap <= 0) return static_cast<std::uint16_t>(p.seq - leg.seq_skew);
    auto step = p.timestamp - leg.last_audio_ts;
    if (gap == 1)
      leg.audio_step = step;
    else if (step != 0 && step == leg.audio_step && leg.events_since_audio == gap - 1)
      leg.seq_skew = static_cast<std::uint16_t>(leg.seq_skew + gap - 1);
  }
  leg.have_audio = true;
  leg.last_audio_seq = p.seq;
  leg.last_audio_ts = p.timestamp;
  leg.events_since_audio = 0;
  return static_cast<std::uint16_t>(p.seq - leg.seq_skew);
}

// Symmetric RTP (RFC 7362): the first valid RTP packet of a leg names where its media goes from
// then on, whatever the offer said: a peer behind a NAT sends from another port (or address)
// than it offered and hears nothing anywhere else. A packet from an address the leg was not
// given (its offered one) is taken only for the one leg of that IP that has received nothing
// yet (see pending_leg); a leg never latches twice, so once it has, nobody else can take its
// media over by sending from somewhere else. Allocation-free: tables are sized on add_leg.
bool Shard::latch(Leg& leg, const sockaddr_in& from) {
  if (!media::allowed(cfg_.allow_destinations, ntohl(from.sin_addr.s_addr))) {
    ++rx_refused_;
    return false;
  }
  auto key = addr_key(from);
  if (key != addr_key(leg.spec.remote)) by_addr_.put(key, &leg);
  leg.latched = key;
  leg.dest = from;
  leg.rtcp_remote = from;
  if (!leg.spec.rtcp_mux)  // RTCP without rtcp-mux: the port above (RFC 3550 11)
    leg.rtcp_remote.sin_port = htons(static_cast<std::uint16_t>(ntohs(from.sin_port) + 1));
  remove_pending(leg);
  return true;
}

Shard::Leg* Shard::pending_leg(const sockaddr_in& from) const {
  Leg* first = pending_.find(ip_key(from));
  if (!first || first->next_pending) return nullptr;  // none, or two candidates: do not guess
  return first;
}

void Shard::add_pending(Leg& leg) {
  auto key = ip_key(leg.spec.remote);
  leg.next_pending = pending_.find(key);
  pending_.put(key, &leg);  // reserved in add_leg
  leg.pending = true;
}

void Shard::remove_pending(Leg& leg) {
  if (!leg.pending) return;
  leg.pending = false;
  auto key = ip_key(leg.spec.remote);
  Leg* head = pending_.find(key);
  if (head == &leg) {
    if (leg.next_pending)
      pending_.put(key, leg.next_pending);  // replaces a present key: no new slot
    else
      pending_.erase(key);
  } else {
    for (Leg* l = head; l; l = l->next_pending)
      if (l->next_pending == &leg) {
        l->next_pending = leg.next_pending;
        break;
      }
  }
  leg.next_pending = nullptr;
}

bool Shard::can_send(const Leg& leg) const {
  return leg.sending && !leg.timed_out && (leg.latched || leg.spec.send_to == SendTo::offered);
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
      Leg* leg = by_addr_.find(addr_key(from));
      bool known = leg != nullptr;
      if (!leg && looks_like_rtcp({data, len})) {
        // RTCP without rtcp-mux comes from the RTP port + 1; never latch a leg to it.
        leg = by_addr_.find(addr_key(from) - 1);
        known = leg != nullptr;
      } else if (!leg) {
        // A leg added after this tick began may already be sending (its join was answered
        // once its command was queued, so the command is in the queue now): apply what waits
        // before taking the packet for another leg of the same IP, which it would hijack.
        bool applied = false;
        while (auto c = commands_.pop()) {
          apply(*c);
          applied = true;
        }
        if (applied) {
          leg = by_addr_.find(addr_key(from));
          known = leg != nullptr;
        }
        if (!leg) leg = pending_leg(from);
      }
      if (!leg) {
        ++rx_unknown_;
        continue;
      }
      on_packet(*leg, data, len, now_ms, from, known);
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
  queue(leg.dest, leg.header, payload);
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
    flush_backlog();
    if (active_.empty() && backlog_.empty()) {
      // Nothing to tick (no legs, recordings or plays anywhere): sleep until a command comes.
      sleep_until_command();
      clock_gettime(CLOCK_MONOTONIC, &next);
      continue;
    }
    auto now = mono_ms();
    tick_ms_ = now;
    receive(now);
    for (std::size_t i = 0; i < active_.size();) {
      auto& room = *active_[i];
      mix_room(room, now);
      if (busy(room)) {
        ++i;
        continue;
      }
      room.active = false;  // its last play ended: no more ticks until it has something
      active_[i] = active_.back();
      active_.pop_back();
    }
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
  active_.clear();
}

}  // namespace confab::media
