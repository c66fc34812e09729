#include "media/rtcp.hpp"

#include <algorithm>
#include <cstdlib>
#include <ctime>

namespace confab::media {

namespace {

constexpr std::uint8_t kSr = 200, kRr = 201, kSdes = 202, kBye = 203;
constexpr std::uint8_t kCname = 1;
constexpr std::size_t kBlockSize = 24;

std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}
void put32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}
std::string_view text(const std::uint8_t* p, std::size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}
std::size_t round4(std::size_t n) {
  return (n + 3) & ~std::size_t{3};
}

// Report blocks of an SR or RR; a block that does not fit the packet fails the whole datagram.
RtcpError read_blocks(std::span<const std::uint8_t> b, int count, RtcpInfo& out) {
  if (b.size() < kBlockSize * static_cast<std::size_t>(count)) return RtcpError::bad_count;
  for (int i = 0; i < count && out.block_count < RtcpInfo::kMaxBlocks; ++i) {
    const std::uint8_t* p = &b[kBlockSize * static_cast<std::size_t>(i)];
    auto& r = out.blocks[static_cast<std::size_t>(out.block_count++)];
    r.ssrc = be32(p);
    r.fraction_lost = p[4];
    std::int32_t lost = static_cast<std::int32_t>(be32(p + 4) & 0xffffff);
    r.cumulative_lost = lost & 0x800000 ? lost - 0x1000000 : lost;
    r.highest_seq = be32(p + 8);
    r.jitter = be32(p + 12);
    r.lsr = be32(p + 16);
    r.dlsr = be32(p + 20);
  }
  return RtcpError::ok;
}

// SDES chunks: an SSRC, items up to a null item, then zeros to the next 32-bit boundary.
RtcpError read_sdes(std::span<const std::uint8_t> b, int count, RtcpInfo& out) {
  std::size_t i = 0;
  for (int c = 0; c < count; ++c) {
    if (i > b.size() || b.size() - i < 4) return RtcpError::bad_count;
    for (i += 4;; i += 2u + b[i + 1]) {
      if (i >= b.size()) return RtcpError::bad_item;
      if (b[i] == 0) break;
      if (b.size() - i < 2 || b.size() - i - 2 < b[i + 1]) return RtcpError::bad_item;
      if (b[i] == kCname && out.cname.empty()) out.cname = text(&b[i + 2], b[i + 1]);
    }
    i = (i + 4) & ~std::size_t{3};  // b starts 32-bit aligned within the datagram
  }
  return RtcpError::ok;
}

// `first`: the compound's leading SR or RR, which speaks for its sender; later ones only add
// blocks.
RtcpError read_packet(std::uint8_t pt, int count, std::span<const std::uint8_t> b, bool first,
                      RtcpInfo& out) {
  switch (pt) {
    case kSr:
      if (b.size() < 24) return RtcpError::bad_length;
      if (first) {
        out.has_sr = true;
        out.sender_ssrc = be32(&b[0]);
        out.ntp = std::uint64_t{be32(&b[4])} << 32 | be32(&b[8]);
        out.lsr = ntp_mid32(out.ntp);
        out.rtp_ts = be32(&b[12]);
        out.packets = be32(&b[16]);
        out.octets = be32(&b[20]);
      }
      return read_blocks(b.subspan(24), count, out);
    case kRr:
      if (b.size() < 4) return RtcpError::bad_length;
      if (first) out.sender_ssrc = be32(&b[0]);
      return read_blocks(b.subspan(4), count, out);
    case kSdes:
      return read_sdes(b, count, out);
    case kBye: {
      std::size_t n = 4 * static_cast<std::size_t>(count);
      if (b.size() < n) return RtcpError::bad_count;
      out.bye = true;
      if (count > 0) out.bye_ssrc = be32(&b[0]);
      if (b.size() > n) {
        if (b.size() - n - 1 < b[n]) return RtcpError::bad_item;
        out.bye_reason = text(&b[n + 1], b[n]);
      }
      return RtcpError::ok;
    }
    default:  // APP, feedback (RFC 4585), XR: nothing a mixer needs
      return RtcpError::ok;
  }
}

}  // namespace

RtcpError parse_rtcp(std::span<const std::uint8_t> d, RtcpInfo& out) {
  out = RtcpInfo{};
  if (d.size() < 4) return RtcpError::too_short;
  for (std::size_t pos = 0; pos < d.size();) {
    if (d.size() - pos < 4) return RtcpError::too_short;
    const std::uint8_t* h = &d[pos];
    if (h[0] >> 6 != 2) return RtcpError::bad_version;
    std::size_t len = 4 * (std::size_t{be16(h + 2)} + 1);
    if (len > d.size() - pos) return RtcpError::bad_length;
    if (pos == 0 && h[1] != kSr && h[1] != kRr && h[1] != kBye) return RtcpError::not_compound;
    auto body = d.subspan(pos + 4, len - 4);
    bool first = pos == 0;
    pos += len;
    if (h[0] & 0x20) {  // the count in the last octet includes itself
      if (pos != d.size() || body.empty()) return RtcpError::bad_padding;
      std::size_t pad = body.back();
      if (pad == 0 || pad > body.size()) return RtcpError::bad_padding;
      body = body.first(body.size() - pad);
    }
    if (auto e = read_packet(h[1], h[0] & 0x1f, body, first, out); e != RtcpError::ok) return e;
  }
  return RtcpError::ok;
}

void RtpReceiverStats::restart(std::uint16_t seq) {
  started_ = true;
  base_seq_ = max_seq_ = seq;
  bad_seq_ = 0x10001;
  cycles_ = received_ = received_prior_ = expected_prior_ = 0;
}

std::int64_t RtpReceiverStats::expected() const {
  return started_ ? std::int64_t{extended_max()} - base_seq_ + 1 : 0;
}

void RtpReceiverStats::on_rtp(std::uint16_t seq, std::uint32_t rtp_ts, std::uint32_t arrival) {
  constexpr std::uint16_t kMaxDropout = 3000, kMaxMisorder = 100;
  bool advanced = false;
  std::uint16_t delta = static_cast<std::uint16_t>(seq - max_seq_);
  if (!started_) {
    restart(seq);
    advanced = true;
  } else if (delta == 0) {
    // a duplicate of the highest: counted, as the RFC does
  } else if (delta < kMaxDropout) {
    if (seq < max_seq_) cycles_ += 0x10000;
    max_seq_ = seq;
    advanced = true;
  } else if (delta <= 0x10000 - kMaxMisorder) {
    if (seq != bad_seq_) {  // a jump: believed only if the next packet follows it
      bad_seq_ = static_cast<std::uint16_t>(seq + 1);
      return;
    }
    restart(seq);  // the sender restarted its sequence
    advanced = true;
  }  // else late or duplicate: counted, but says nothing of the current transit
  ++received_;
  // A.8, on packets that advance the stream only: a reordered one, or one of several with the same
  // timestamp (RFC 4733 events, a split frame), was not sent when its timestamp says.
  if (!advanced || (have_transit_ && rtp_ts == last_ts_)) return;
  std::uint32_t transit = arrival - rtp_ts;
  if (have_transit_) {
    auto d = static_cast<std::uint64_t>(
        std::abs(std::int64_t{static_cast<std::int32_t>(transit - transit_)}));
    jitter16_ = jitter16_ + d - ((jitter16_ + 8) >> 4);  // J += (|D| - J) / 16
  }
  transit_ = transit;
  last_ts_ = rtp_ts;
  have_transit_ = true;
}

void RtpReceiverStats::on_sr(std::uint32_t lsr, std::int64_t now_ms) {
  lsr_ = lsr;
  lsr_at_ms_ = now_ms;
}

ReportBlock RtpReceiverStats::make_report(std::uint32_t source_ssrc, std::int64_t now_ms) {
  ReportBlock r;
  r.ssrc = source_ssrc;
  std::int64_t expected_now = expected();
  std::int64_t expected_interval = expected_now - expected_prior_;
  std::int64_t lost_interval = expected_interval - (std::int64_t{received_} - received_prior_);
  if (expected_interval > 0 && lost_interval > 0)
    r.fraction_lost = static_cast<std::uint8_t>(
        std::min<std::int64_t>((lost_interval << 8) / expected_interval, 255));
  expected_prior_ = static_cast<std::uint32_t>(expected_now);
  received_prior_ = received_;
  r.cumulative_lost =
      static_cast<std::int32_t>(std::clamp<std::int64_t>(lost(), -0x800000, 0x7fffff));
  r.highest_seq = extended_max();
  r.jitter = jitter();
  r.lsr = lsr_;
  if (lsr_ != 0 && now_ms > lsr_at_ms_)
    r.dlsr = static_cast<std::uint32_t>(
        std::min<std::int64_t>((now_ms - lsr_at_ms_) * 65536 / 1000, 0xffffffff));
  return r;
}

namespace {

void put_header(std::uint8_t* p, int count, std::uint8_t pt, std::size_t bytes) {
  p[0] = static_cast<std::uint8_t>(0x80 | count);
  p[1] = pt;
  p[2] = static_cast<std::uint8_t>((bytes / 4 - 1) >> 8);
  p[3] = static_cast<std::uint8_t>(bytes / 4 - 1);
}

struct SenderInfo {
  std::uint64_t ntp;
  std::uint32_t rtp_ts, packets, octets;
};

// SR or RR (with at most one block), then SDES CNAME, then BYE: the RFC 3550 §6.1 order.
std::size_t write_compound(std::span<std::uint8_t> out, std::uint32_t ssrc, const SenderInfo* si,
                           const ReportBlock* block, std::string_view cname, bool bye,
                           std::string_view reason) {
  if (cname.size() > 255 || reason.size() > 255) return 0;
  std::size_t report = (si ? 28 : 8) + (block ? kBlockSize : 0);
  std::size_t sdes = cname.empty() ? 0 : 8 + round4(2 + cname.size() + 1);
  std::size_t byes = bye ? 8 + (reason.empty() ? 0 : round4(1 + reason.size())) : 0;
  if (out.size() < report + sdes + byes) return 0;
  std::fill_n(out.begin(), report + sdes + byes, std::uint8_t{0});  // pads included
  std::uint8_t* p = out.data();
  put_header(p, block ? 1 : 0, si ? kSr : kRr, report);
  put32(p + 4, ssrc);
  p += 8;
  if (si) {
    put32(p, static_cast<std::uint32_t>(si->ntp >> 32));
    put32(p + 4, static_cast<std::uint32_t>(si->ntp));
    put32(p + 8, si->rtp_ts);
    put32(p + 12, si->packets);
    put32(p + 16, si->octets);
    p += 20;
  }
  if (block) {
    put32(p, block->ssrc);
    put32(p + 4, static_cast<std::uint32_t>(block->cumulative_lost) & 0xffffff);
    p[4] = block->fraction_lost;
    put32(p + 8, block->highest_seq);
    put32(p + 12, block->jitter);
    put32(p + 16, block->lsr);
    put32(p + 20, block->dlsr);
    p += kBlockSize;
  }
  if (sdes) {
    put_header(p, 1, kSdes, sdes);
    put32(p + 4, ssrc);
    p[8] = kCname;
    p[9] = static_cast<std::uint8_t>(cname.size());
    std::copy(cname.begin(), cname.end(), p + 10);
    p += sdes;
  }
  if (bye) {
    put_header(p, 1, kBye, byes);
    put32(p + 4, ssrc);
    if (!reason.empty()) {
      p[8] = static_cast<std::uint8_t>(reason.size());
      std::copy(reason.begin(), reason.end(), p + 9);
    }
  }
  return report + sdes + byes;
}

}  // namespace

std::size_t write_sr(std::span<std::uint8_t> out, std::uint32_t ssrc, std::uint64_t ntp,
                     std::uint32_t rtp_ts, std::uint32_t packets, std::uint32_t octets,
                     const ReportBlock* block, std::string_view cname) {
  SenderInfo si{ntp, rtp_ts, packets, octets};
  return write_compound(out, ssrc, &si, block, cname, false, {});
}

std::size_t write_rr(std::span<std::uint8_t> out, std::uint32_t ssrc, const ReportBlock* block,
                     std::string_view cname) {
  return write_compound(out, ssrc, nullptr, block, cname, false, {});
}

std::size_t write_bye(std::span<std::uint8_t> out, std::uint32_t ssrc, std::string_view cname,
                      std::string_view reason) {
  return write_compound(out, ssrc, nullptr, nullptr, cname, true, reason);
}

std::uint64_t ntp_from_unix(std::int64_t sec, std::int64_t nsec) {
  constexpr std::uint64_t kUnixToNtp = 2208988800u;  // 1900-01-01 to 1970-01-01, in seconds
  return (static_cast<std::uint64_t>(sec) + kUnixToNtp) << 32 |
         (static_cast<std::uint64_t>(nsec) << 32) / 1'000'000'000u;
}

std::uint64_t ntp_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return ntp_from_unix(ts.tv_sec, ts.tv_nsec);
}

std::optional<std::uint32_t> rtt_ms(const ReportBlock& b, std::uint32_t arrival_mid32) {
  if (b.lsr == 0) return std::nullopt;
  std::int32_t rtt = static_cast<std::int32_t>(arrival_mid32 - b.lsr - b.dlsr);
  if (rtt <= 0) return 0u;
  return static_cast<std::uint32_t>((std::int64_t{rtt} * 1000 + 32768) >> 16);
}

}  // namespace confab::media
