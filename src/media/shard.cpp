#include "media/shard.hpp"

#include "media/rtcp.hpp"
#include "media/rtp.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>

namespace confab::media {

namespace {

constexpr std::size_t kBatch = 64;  // datagrams per recvmmsg/sendmmsg call
constexpr std::size_t kMaxDatagram = 1500;
constexpr std::size_t kMaxPayload = 1200;
constexpr int kEnergyEvery = 25;  // ticks between energy reports (500 ms at 20 ms)

std::int64_t mono_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1'000'000;
}

std::uint64_t addr_key(const sockaddr_in& a) {
  return std::uint64_t{ntohl(a.sin_addr.s_addr)} << 16 | ntohs(a.sin_port);
}

std::uint64_t group_key(const Negotiated& n) {
  return std::uint64_t(static_cast<int>(n.codec)) << 40 | std::uint64_t(n.channels) << 32 |
         std::uint64_t(n.pt) << 16 | std::uint64_t(n.ptime);
}

}  // namespace

// Listeners with the same codec, channels, payload type and ptime share one encode of the mix.
struct Shard::Group {
  Negotiated codec;
  std::unique_ptr<Encoder> enc;
  std::unique_ptr<Resampler> down;  // conference rate -> codec rate, null when equal
  std::vector<std::int16_t> pcm;
  std::vector<std::uint8_t> payload;
  int bytes = 0;
  bool encoded = false;               // this tick
  std::vector<std::uint8_t> silence;  // one encoded silent frame, for deaf legs
  int silence_bytes = 0;
  int users = 0;
  // Hold music has its own encoder and resampler: their state must not mix with the room's.
  std::unique_ptr<Encoder> hold_enc;
  std::unique_ptr<Resampler> hold_down;
  std::vector<std::uint8_t> hold_payload;
  int hold_bytes = 0;
  bool hold_encoded = false;  // this tick
};

struct Shard::Leg {
  LegSpec spec;
  Group* group = nullptr;
  std::unique_ptr<Decoder> dec;
  std::unique_ptr<Encoder> enc;     // private: this leg's mix-minus while it speaks
  std::unique_ptr<Resampler> up;    // codec rate -> conference rate
  std::unique_ptr<Resampler> down;  // conference rate -> codec rate
  JitterBuffer jb{32, kMaxPayload, 1, 8, 20};
  TalkDetector talk;
  std::vector<std::int16_t> pcm_codec, pcm_conf, out_codec;
  std::vector<std::int16_t> mix_conf;  // a mix of its own (relate), at the conference rate
  std::array<std::uint64_t, Engine::kMaxBlocked> blocked{};  // legs it must not hear
  std::size_t blocked_count = 0;
  std::vector<std::uint8_t> payload;
  std::array<std::uint8_t, kRtpHeaderSize> header{};
  std::uint32_t ssrc = 0;
  std::uint16_t seq = 0;
  std::uint32_t ts = 0;
  bool first = true;
  std::int64_t last_rx = 0;
  bool timed_out = false;
  bool received = false;      // any packet yet (from the SDP address or a latched one)
  std::uint64_t latched = 0;  // a second source address this leg accepts (0: none)
  bool heard = false;         // decoded audio this tick
  std::uint32_t dtmf_ts = 0;
  bool dtmf_seen = false;
  int energy_tick = 0;
  int last_energy = -1;
  std::size_t slot = 0;
  bool held = false;         // waiting for a moderator: hears the hold music
  bool was_speaker = false;  // one of the mixed speakers last tick
  int level_score = -1;      // from the sender's RFC 6464 level, when it sends one
  Play play;                 // a prompt for this leg alone
  // RTCP (RFC 3550): what we receive, for our report blocks, and what we send, for our SRs.
  RtpReceiverStats rx;
  std::uint32_t remote_ssrc = 0;
  bool have_remote = false;
  std::uint32_t sent_packets = 0, sent_octets = 0, last_sent_ts = 0;
  std::int64_t last_sent_ms = 0;
  bool sent_since_report = false;
  std::int64_t next_report_ms = 0;
  int rtt_ms = -1;
  sockaddr_in rtcp_remote{};
  std::array<std::uint8_t, 320> rtcp_buf{};
};

struct Shard::Room {
  std::uint64_t id;
  int rate;
  std::size_t frame;  // samples per tick at `rate`
  Mixer mixer;
  std::vector<Leg*> legs;  // slot order
  std::vector<MixerInput> inputs;
  std::map<std::uint64_t, std::unique_ptr<Group>> groups;
  std::uint64_t floor = 0;
  std::array<Play, Engine::kRoomPlays> plays;  // heard by everyone, through the mixer
  Play hold;                                   // looped for held legs
  bool hold_ready = false;                     // hold_pcm holds this tick's frame
  std::vector<std::int16_t> extra, hold_pcm, zeros;
  Recording* rec = nullptr;
  Room(std::uint64_t i, int r, int tick_ms, int speakers)
      : id(i),
        rate(r),
        frame(static_cast<std::size_t>(r * tick_ms / 1000)),
        mixer(frame, 64, static_cast<std::size_t>(speakers)),
        extra(frame),
        hold_pcm(frame),
        zeros(frame) {}
};

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

void Shard::apply(const Command& c) {
  switch (c.type) {
    case Command::Type::add_room:
      if (!rooms_.count(c.room))
        rooms_[c.room] = std::make_unique<Room>(c.room, c.rate ? c.rate : cfg_.conference_rate,
                                                cfg_.tick_ms, cfg_.max_speakers);
      break;
    case Command::Type::remove_room: {
      auto it = rooms_.find(c.room);
      if (it == rooms_.end()) break;
      drop_room(*it->second);
      rooms_.erase(it);
      break;
    }
    case Command::Type::add_leg: {
      auto it = rooms_.find(c.room);
      if (it == rooms_.end() || by_id_.count(c.spec.leg)) break;
      auto& room = *it->second;
      auto* leg = new Leg;
      leg->spec = c.spec;
      auto codec = c.spec.codec.codec;
      int rate = pcm_rate(codec);
      auto frame = static_cast<std::size_t>(frame_samples(codec, cfg_.tick_ms));
      leg->dec = make_decoder(codec, cfg_.tick_ms);
      leg->enc = make_encoder(codec, c.spec.codec.channels, cfg_.tick_ms);
      if (rate != room.rate) {
        leg->up = std::make_unique<Resampler>(rate, room.rate);
        leg->down = std::make_unique<Resampler>(room.rate, rate);
      }
      leg->pcm_codec.resize(std::max(frame, room.frame) * 2);  // a decoder may return more
      leg->pcm_conf.resize(room.frame);
      leg->mix_conf.resize(room.frame);
      leg->out_codec.resize(frame);
      leg->payload.resize(kMaxPayload);
      std::random_device rd;
      leg->ssrc = rd();
      leg->seq = static_cast<std::uint16_t>(rd());
      leg->ts = rd();
      leg->last_rx = mono_ms();
      leg->held = c.spec.held;
      leg->jb.set_fec(c.spec.codec.fec);
      leg->rtcp_remote = c.spec.remote;
      if (!c.spec.rtcp_mux)
        leg->rtcp_remote.sin_port =
            htons(static_cast<std::uint16_t>(ntohs(c.spec.remote.sin_port) + 1));
      leg->next_report_ms = leg->last_rx + next_interval();
      auto key = group_key(c.spec.codec);
      auto& g = room.groups[key];
      if (!g) {
        g = std::make_unique<Group>();
        g->codec = c.spec.codec;
        g->enc = make_encoder(codec, c.spec.codec.channels, cfg_.tick_ms);
        g->hold_enc = make_encoder(codec, c.spec.codec.channels, cfg_.tick_ms);
        if (rate != room.rate) {
          g->down = std::make_unique<Resampler>(room.rate, rate);
          g->hold_down = std::make_unique<Resampler>(room.rate, rate);
        }
        g->pcm.resize(frame);
        g->payload.resize(kMaxPayload);
        g->hold_payload.resize(kMaxPayload);
        g->silence.resize(kMaxPayload);
        std::vector<std::int16_t> zeros(frame);
        auto quiet = make_encoder(codec, c.spec.codec.channels, cfg_.tick_ms);
        g->silence_bytes = quiet->encode(zeros, g->silence);
      }
      ++g->users;
      leg->group = g.get();
      leg->slot = room.legs.size();
      room.legs.push_back(leg);
      room.inputs.resize(room.legs.size());
      by_addr_[addr_key(c.spec.remote)] = leg;
      by_id_[c.spec.leg] = leg;
      // Room for every leg's datagram in one tick's send batch.
      std::size_t total = by_id_.size();
      if (tx_msgs_.size() < total) {
        tx_msgs_.resize(total * 2);
        tx_iov_.resize(total * 4);
      }
      break;
    }
    case Command::Type::remove_leg: {
      auto it = rooms_.find(c.room);
      auto lt = by_id_.find(c.leg);
      if (it == rooms_.end() || lt == by_id_.end()) break;
      auto& room = *it->second;
      Leg* leg = lt->second;
      by_addr_.erase(addr_key(leg->spec.remote));
      if (leg->latched) by_addr_.erase(leg->latched);
      by_id_.erase(lt);
      room.legs.erase(std::remove(room.legs.begin(), room.legs.end(), leg), room.legs.end());
      for (std::size_t i = 0; i < room.legs.size(); ++i) room.legs[i]->slot = i;
      room.inputs.resize(room.legs.size());
      if (leg->group && --leg->group->users == 0) room.groups.erase(group_key(leg->group->codec));
      if (room.floor == leg->spec.leg) room.floor = 0;
      end_play(leg->play, room.id, leg->spec.leg);
      send_bye(*leg);
      delete leg;
      break;
    }
    case Command::Type::set_flags: {
      auto lt = by_id_.find(c.leg);
      if (lt == by_id_.end()) break;
      auto* leg = lt->second;
      // A muted leg's packets are not even buffered (see on_packet): start afresh when heard.
      if (c.speak && !leg->spec.speak && !leg->spec.mute_detect) leg->jb.reset();
      leg->spec.speak = c.speak;
      leg->spec.hear = c.hear;
      leg->held = c.held;
      break;
    }
    case Command::Type::play: {
      auto it = rooms_.find(c.room);
      if (it == rooms_.end() || !c.clip) {
        Play orphan{c.clip, c.ref, 0, false};
        end_play(orphan, c.room, c.leg);
        break;
      }
      auto& room = *it->second;
      Play p{c.clip, c.ref, 0, c.loop};
      if (c.leg == 0) {
        auto slot = std::find_if(room.plays.begin(), room.plays.end(),
                                 [](const Play& q) { return q.clip == nullptr; });
        if (slot == room.plays.end()) slot = room.plays.begin();  // the oldest gives way
        end_play(*slot, room.id, 0);
        *slot = p;
        break;
      }
      auto lt = by_id_.find(c.leg);
      if (lt == by_id_.end()) {
        end_play(p, room.id, c.leg);
        break;
      }
      end_play(lt->second->play, room.id, c.leg);
      lt->second->play = p;
      break;
    }
    case Command::Type::stop_play: {
      auto it = rooms_.find(c.room);
      if (it == rooms_.end()) break;
      if (c.leg == 0) {
        for (auto& p : it->second->plays) end_play(p, c.room, 0);
      } else if (auto lt = by_id_.find(c.leg); lt != by_id_.end()) {
        end_play(lt->second->play, c.room, c.leg);
      }
      break;
    }
    case Command::Type::hold_music: {
      auto it = rooms_.find(c.room);
      Play p{c.clip, c.ref, 0, true};
      if (it == rooms_.end()) {
        end_play(p, c.room, 0);
        break;
      }
      end_play(it->second->hold, c.room, 0);
      it->second->hold = p;
      break;
    }
    case Command::Type::record_start: {
      auto it = rooms_.find(c.room);
      if (it == rooms_.end()) {
        c.rec->close();  // nothing to record: the writer finishes an empty file
        break;
      }
      if (it->second->rec) it->second->rec->close();
      it->second->rec = c.rec;
      break;
    }
    case Command::Type::record_stop: {
      auto it = rooms_.find(c.room);
      if (it == rooms_.end() || !it->second->rec) break;
      it->second->rec->close();
      it->second->rec = nullptr;
      break;
    }
    case Command::Type::set_blocked: {
      auto lt = by_id_.find(c.leg);
      if (lt == by_id_.end()) break;
      lt->second->blocked = c.blocked;
      lt->second->blocked_count = c.blocked_count;
      break;
    }
    case Command::Type::stop:
      stop_ = true;
      break;
  }
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

void Shard::mix_room(Room& room, std::int64_t now_ms) {
  // 1. One frame from every leg: decoded only when it can be heard.
  for (auto* leg : room.legs) {
    auto& in = room.inputs[leg->slot];
    in = {};
    leg->heard = false;
    if (leg->timed_out) continue;
    if (now_ms - leg->last_rx > cfg_.rtp_timeout_ms) {
      leg->timed_out = true;
      report(EngineEvent::Type::timeout, room, *leg, 0);
      continue;
    }
    // Muted: nothing was buffered (see on_packet) unless mute-detect asks for talk detection.
    auto f = leg->spec.speak || leg->spec.mute_detect ? leg->jb.pop() : JitterBuffer::Frame{};
    if (f.kind == JitterBuffer::Kind::waiting) {
      if (leg->talk.talking() && leg->talk.feed_score(0) == TalkChange::stopped)
        report(EngineEvent::Type::quiet, room, *leg, 0);
      continue;
    }
    int n = f.kind == JitterBuffer::Kind::packet ? leg->dec->decode(f.payload, leg->pcm_codec)
                                                 : leg->dec->conceal(leg->pcm_codec, f.next);
    ++decodes_;
    if (n <= 0) continue;
    std::span<const std::int16_t> conf;
    if (leg->up) {
      int m = leg->up->process(std::span(leg->pcm_codec).first(static_cast<std::size_t>(n)),
                               leg->pcm_conf);
      if (m < static_cast<int>(room.frame))
        std::fill(leg->pcm_conf.begin() + m, leg->pcm_conf.end(), std::int16_t{0});
      conf = leg->pcm_conf;
    } else {
      if (static_cast<std::size_t>(n) < room.frame) continue;
      conf = std::span(leg->pcm_codec).first(room.frame);
    }
    auto change =
        leg->level_score >= 0 ? leg->talk.feed_score(leg->level_score) : leg->talk.feed(conf);
    if (change == TalkChange::started)
      report(EngineEvent::Type::talking, room, *leg, leg->talk.score());
    if (change == TalkChange::stopped) report(EngineEvent::Type::quiet, room, *leg, 0);
    if (++leg->energy_tick >= kEnergyEvery) {
      leg->energy_tick = 0;
      if (leg->talk.score() != leg->last_energy) {
        leg->last_energy = leg->talk.score();
        report(EngineEvent::Type::energy, room, *leg, leg->last_energy);
      }
    }
    if (!leg->spec.speak) continue;  // mute-detect: analysed, never mixed
    leg->heard = true;
    in = {leg->talk.score(), true, conf};
  }

  // 2. Mix: the N loudest, a mix-minus each, one full mix for the rest. Room-wide plays (tones,
  // prompts) are one more input everybody hears, through the same limiter.
  bool playing = false;
  for (auto& p : room.plays) {
    if (!p.clip) continue;
    if (!playing) std::fill(room.extra.begin(), room.extra.end(), std::int16_t{0});
    playing = true;
    advance(p, room, 0, room.extra);
  }
  room.mixer.mix(room.inputs, playing ? std::span<const std::int16_t>(room.extra)
                                      : std::span<const std::int16_t>());
  if (room.rec) room.rec->write(room.mixer.full());

  // Floor (FreeSWITCH): the first talker takes it; another takes it over when clearly louder.
  Leg* holder = nullptr;
  Leg* loudest = nullptr;
  for (auto* leg : room.legs) {
    if (leg->spec.leg == room.floor) holder = leg;
    if (leg->heard && leg->talk.talking() &&
        (!loudest || leg->talk.score() > loudest->talk.score()))
      loudest = leg;
  }
  if (loudest && loudest != holder &&
      (!holder || (loudest->talk.score() > 300 && holder->talk.score() < 100))) {
    room.floor = loudest->spec.leg;
    report(EngineEvent::Type::floor, room, *loudest, 1);
  }

  // 3. Encode and queue: speakers their own mix; listeners share their group's encode; a leg
  // with a prompt of its own, or relate exclusions, gets a private one.
  for (auto& [key, g] : room.groups) g->encoded = g->hold_encoded = false;
  room.hold_ready = false;
  for (auto* leg : room.legs) {
    if (leg->timed_out) continue;
    report_rtcp(*leg, now_ms);
    auto* g = leg->group;
    const bool prompt = leg->play.clip != nullptr;
    std::span<const std::int16_t> base;  // set: this leg's audio is encoded for it alone
    if (leg->held || !leg->spec.hear) {
      bool music = leg->held && room.hold.clip;
      if (music && !room.hold_ready) {
        std::fill(room.hold_pcm.begin(), room.hold_pcm.end(), std::int16_t{0});
        advance(room.hold, room, 0, room.hold_pcm);
        room.hold_ready = true;
      }
      if (prompt) {
        base = music ? std::span<const std::int16_t>(room.hold_pcm) : room.zeros;
      } else if (music) {
        if (!g->hold_encoded) {
          std::span<const std::int16_t> pcm = room.hold_pcm;
          if (g->hold_down)
            pcm = std::span(g->pcm).first(
                static_cast<std::size_t>(g->hold_down->process_exact(room.hold_pcm, g->pcm)));
          g->hold_bytes = g->hold_enc->encode(pcm, g->hold_payload);
          g->hold_encoded = true;
          ++encodes_;
        }
        if (g->hold_bytes > 0)
          send(*leg, std::span(g->hold_payload).first(static_cast<std::size_t>(g->hold_bytes)));
        continue;
      } else {
        send(*leg,
             std::span(g->silence).first(static_cast<std::size_t>(std::max(0, g->silence_bytes))));
        continue;
      }
    } else {
      // Speakers this leg must not hear (relate) make its mix its own this tick.
      std::array<std::size_t, Engine::kMaxBlocked + 1> excluded{};
      std::size_t nx = 0;
      for (std::size_t k = 0; k < leg->blocked_count; ++k) {
        auto bt = by_id_.find(leg->blocked[k]);
        if (bt == by_id_.end()) continue;
        auto sl = bt->second->slot;
        if (sl < room.legs.size() && room.legs[sl] == bt->second && room.mixer.is_speaker(sl))
          excluded[nx++] = sl;
      }
      if (nx > 0) {
        if (room.mixer.is_speaker(leg->slot)) excluded[nx++] = leg->slot;
        room.mixer.mix_without(room.inputs, std::span(excluded).first(nx), leg->mix_conf);
        base = leg->mix_conf;
      } else if (room.mixer.is_speaker(leg->slot)) {
        base = room.mixer.minus(leg->slot);
        leg->was_speaker = true;
      } else if (prompt || leg->was_speaker) {
        // A leg that just left the speakers keeps its own path one tick more: the shared
        // resampler's delay line still holds last tick's full mix, its own voice included.
        base = room.mixer.full();
        leg->was_speaker = false;
      } else {
        if (!g->encoded) {
          auto mix = room.mixer.full();
          std::span<const std::int16_t> pcm = mix;
          if (g->down)
            pcm = std::span(g->pcm).first(
                static_cast<std::size_t>(g->down->process_exact(mix, g->pcm)));
          g->bytes = g->enc->encode(pcm, g->payload);
          g->encoded = true;
          ++encodes_;
        }
        if (g->bytes > 0)
          send(*leg, std::span(g->payload).first(static_cast<std::size_t>(g->bytes)));
        continue;
      }
    }
    if (prompt) {
      if (base.data() != leg->mix_conf.data())
        std::copy(base.begin(), base.end(), leg->mix_conf.begin());
      advance(leg->play, room, leg->spec.leg, leg->mix_conf);
      base = leg->mix_conf;
    }
    auto payload = encode_private(*leg, base);
    if (!payload.empty()) send(*leg, payload);
  }
  // Shared payloads and private buffers must outlive the send: flush before the next room
  // reuses its group buffers (each room has its own groups, so once per tick is enough).
}

bool Shard::advance(Play& p, const Room& room, std::uint64_t leg, std::span<std::int16_t> out) {
  auto& pcm = p.clip->pcm;
  std::size_t i = 0;
  while (i < out.size()) {
    if (p.pos >= pcm.size()) {
      if (!p.loop || pcm.empty()) break;
      p.pos = 0;
    }
    auto n = std::min(out.size() - i, pcm.size() - p.pos);
    for (std::size_t k = 0; k < n; ++k)
      out[i + k] = static_cast<std::int16_t>(
          std::clamp<std::int32_t>(std::int32_t{out[i + k]} + pcm[p.pos + k], -32768, 32767));
    i += n;
    p.pos += n;
  }
  if (p.loop || p.pos < pcm.size()) return true;
  end_play(p, room.id, leg);
  return false;
}

void Shard::end_play(Play& p, std::uint64_t room, std::uint64_t leg) {
  if (!p.clip && !p.id) return;
  EngineEvent e{EngineEvent::Type::played, room, leg, 0, p.id};
  if (!events_.push(e)) ++events_dropped_;
  p = {};
}

std::span<const std::uint8_t> Shard::encode_private(Leg& leg, std::span<const std::int16_t> pcm) {
  if (leg.down)
    pcm = std::span(leg.out_codec)
              .first(static_cast<std::size_t>(leg.down->process_exact(pcm, leg.out_codec)));
  int bytes = leg.enc->encode(pcm, leg.payload);
  ++encodes_;
  if (bytes <= 0) return {};
  return std::span(leg.payload).first(static_cast<std::size_t>(bytes));
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
  if (tx_count_ >= tx_msgs_.size()) flush();
  auto& m = tx_msgs_[tx_count_];
  auto* iov = &tx_iov_[tx_count_ * 2];
  iov[0] = {leg.header.data(), leg.header.size()};
  iov[1] = {const_cast<std::uint8_t*>(payload.data()), payload.size()};
  m = {};
  m.msg_hdr.msg_iov = iov;
  m.msg_hdr.msg_iovlen = 2;
  m.msg_hdr.msg_name = &leg.spec.remote;
  m.msg_hdr.msg_namelen = sizeof(sockaddr_in);
  ++tx_count_;
}

int Shard::next_interval() {
  // Spread reports over 0.5 to 1.5 intervals so that legs joined together do not report together.
  rand_ ^= rand_ << 13;
  rand_ ^= rand_ >> 17;
  rand_ ^= rand_ << 5;
  return cfg_.rtcp_interval_ms / 2 +
         static_cast<int>(rand_ % static_cast<std::uint32_t>(std::max(1, cfg_.rtcp_interval_ms)));
}

void Shard::on_rtcp(Leg& leg, std::span<const std::uint8_t> d, std::int64_t now_ms) {
  RtcpInfo info;
  if (parse_rtcp(d, info) != RtcpError::ok) return;
  ++rtcp_rx_;
  leg.last_rx = now_ms;  // reports keep a leg alive too (a listener that sends no audio)
  if (info.has_sr && (!leg.have_remote || info.sender_ssrc == leg.remote_ssrc))
    leg.rx.on_sr(info.lsr, now_ms);
  if (auto* b = info.block_for(leg.ssrc))
    if (auto rtt = rtt_ms(*b, ntp_mid32(ntp_now()))) leg.rtt_ms = static_cast<int>(*rtt);
  if (info.bye && (!leg.have_remote || info.bye_ssrc == leg.remote_ssrc) && !leg.timed_out) {
    leg.timed_out = true;  // sends nothing more; the control thread removes it
    EngineEvent e{EngineEvent::Type::bye, leg.spec.room, leg.spec.leg, 0, 0};
    if (!events_.push(e)) ++events_dropped_;
  }
}

void Shard::report_rtcp(Leg& leg, std::int64_t now_ms) {
  if (now_ms < leg.next_report_ms) return;
  leg.next_report_ms = now_ms + next_interval();
  ReportBlock block{};
  bool have_block = leg.rx.started();
  if (have_block) block = leg.rx.make_report(leg.remote_ssrc, now_ms);
  std::size_t n = 0;
  if (leg.sent_since_report) {
    // The SR's RTP timestamp is the one that matches its NTP instant (RFC 3550 6.4.1).
    auto rtp_now = leg.last_sent_ts + static_cast<std::uint32_t>((now_ms - leg.last_sent_ms) *
                                                                 leg.spec.codec.clock / 1000);
    n = write_sr(leg.rtcp_buf, leg.ssrc, ntp_now(), rtp_now, leg.sent_packets, leg.sent_octets,
                 have_block ? &block : nullptr, cname_);
  } else {
    n = write_rr(leg.rtcp_buf, leg.ssrc, have_block ? &block : nullptr, cname_);
  }
  leg.sent_since_report = false;
  if (n == 0) return;
  if (tx_count_ >= tx_msgs_.size()) flush();
  auto& m = tx_msgs_[tx_count_];
  auto* iov = &tx_iov_[tx_count_ * 2];
  iov[0] = {leg.rtcp_buf.data(), n};
  m = {};
  m.msg_hdr.msg_iov = iov;
  m.msg_hdr.msg_iovlen = 1;
  m.msg_hdr.msg_name = &leg.rtcp_remote;
  m.msg_hdr.msg_namelen = sizeof(sockaddr_in);
  ++tx_count_;
  ++rtcp_tx_;
}

void Shard::send_bye(Leg& leg) {
  // Leaving is rare: sent at once rather than batched, so the leg can go now.
  auto n = write_bye(leg.rtcp_buf, leg.ssrc, cname_);
  if (n &&
      ::sendto(fd_, leg.rtcp_buf.data(), n, MSG_DONTWAIT,
               reinterpret_cast<const sockaddr*>(&leg.rtcp_remote), sizeof leg.rtcp_remote) > 0)
    ++rtcp_tx_;
}

void Shard::drop_room(Room& room) {
  for (auto* leg : room.legs) {
    by_addr_.erase(addr_key(leg->spec.remote));
    if (leg->latched) by_addr_.erase(leg->latched);
    by_id_.erase(leg->spec.leg);
    end_play(leg->play, room.id, leg->spec.leg);
    send_bye(*leg);
    delete leg;
  }
  room.legs.clear();
  for (auto& p : room.plays) end_play(p, room.id, 0);
  end_play(room.hold, room.id, 0);
  if (room.rec) room.rec->close();
  room.rec = nullptr;
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
