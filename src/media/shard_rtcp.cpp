// RTCP (RFC 3550) for the shard's legs: reports received, SR/RR sent on schedule, BYE.
#include "media/shard_state.hpp"

#include <sys/socket.h>

#include <algorithm>

namespace confab::media {

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
    emit(e);
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
  queue(leg.rtcp_remote, std::span(leg.rtcp_buf).first(n));
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

}  // namespace confab::media
