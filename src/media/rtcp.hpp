#pragma once
// RTCP (RFC 3550 §6): parsing of compound reports, per-leg receiver statistics (Appendix A.1, A.3,
// A.8) and writing of SR/RR/SDES/BYE compounds. Everything here may run per packet on a shard:
// no allocation, no exceptions; views into the caller's buffers and status codes.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace confab::media {

// One reception report block (RFC 3550 §6.4.1).
struct ReportBlock {
  std::uint32_t ssrc = 0;            // the source this block reports on
  std::uint8_t fraction_lost = 0;    // since the previous report, in 1/256
  std::int32_t cumulative_lost = 0;  // 24-bit signed on the wire: duplicates can make it negative
  std::uint32_t highest_seq = 0;     // extended: wrap cycles in the high 16 bits
  std::uint32_t jitter = 0;          // interarrival jitter, RTP timestamp units
  std::uint32_t lsr = 0;             // middle 32 bits of the last SR's NTP time, 0 if none yet
  std::uint32_t dlsr = 0;            // delay since that SR, 1/65536 s
  bool operator==(const ReportBlock&) const = default;
};

struct RtcpInfo {
  // A report may hold 31 blocks; a conference leg reports on one source (us), so a few suffice.
  static constexpr int kMaxBlocks = 4;
  bool has_sr = false;
  std::uint32_t sender_ssrc = 0;  // of the first SR or RR
  std::uint64_t ntp = 0;          // SR only
  std::uint32_t lsr = 0;          // SR only: middle 32 bits of `ntp`, echoed in our next report
  std::uint32_t rtp_ts = 0, packets = 0, octets = 0;  // SR only
  std::array<ReportBlock, kMaxBlocks> blocks{};
  int block_count = 0;     // blocks kept, across every SR/RR of the compound
  std::string_view cname;  // the first CNAME; views the datagram
  bool bye = false;
  std::uint32_t bye_ssrc = 0;   // the first SSRC of the BYE, 0 if it names none
  std::string_view bye_reason;  // views the datagram

  const ReportBlock* block_for(std::uint32_t ssrc) const {
    for (int i = 0; i < block_count; ++i)
      if (blocks[static_cast<std::size_t>(i)].ssrc == ssrc)
        return &blocks[static_cast<std::size_t>(i)];
    return nullptr;
  }
};

enum class RtcpError {
  ok,
  too_short,
  bad_version,
  bad_length,
  bad_padding,
  bad_count,
  bad_item,
  not_compound
};

// Validates a whole compound datagram (RFC 3550 A.2): version 2 everywhere, lengths that add up to
// the datagram, padding only on the last packet, and SR or RR first. A lone BYE is accepted too
// (some clients hang up with one); RFC 5506 reduced-size feedback is `not_compound`. On error
// `out` is partly filled and must not be used.
RtcpError parse_rtcp(std::span<const std::uint8_t> datagram, RtcpInfo& out);

// What one leg has received (RFC 3550 A.1, A.3, A.8). Simplified probation: the first packet
// starts the source (the RFC waits for two in sequence); a jump of more than 3000 is still only
// believed when the next packet follows it, which restarts the counts.
class RtpReceiverStats {
 public:
  // `arrival` is the local arrival time in the stream's RTP clock units (wrapping).
  void on_rtp(std::uint16_t seq, std::uint32_t rtp_ts, std::uint32_t arrival);
  // `lsr` is RtcpInfo::lsr of an SR from this source; `now_ms` is on the clock of make_report.
  void on_sr(std::uint32_t lsr, std::int64_t now_ms);
  // The block for our next SR/RR about `source_ssrc`; starts the next fraction-lost interval.
  ReportBlock make_report(std::uint32_t source_ssrc, std::int64_t now_ms);

  bool started() const { return started_; }
  std::uint32_t extended_max() const { return cycles_ + max_seq_; }
  std::uint32_t received() const { return received_; }
  std::int64_t expected() const;
  std::int64_t lost() const { return expected() - received_; }  // unclamped
  std::uint32_t jitter() const { return static_cast<std::uint32_t>(jitter16_ >> 4); }

 private:
  void restart(std::uint16_t seq);

  bool started_ = false;
  std::uint16_t max_seq_ = 0;
  std::uint32_t cycles_ = 0;  // wraps of the sequence number, times 65536
  std::uint32_t base_seq_ = 0;
  std::uint32_t bad_seq_ = 0x10001;  // after a big jump: the seq that would confirm it
  std::uint32_t received_ = 0, expected_prior_ = 0, received_prior_ = 0;
  std::uint64_t jitter16_ = 0;  // x16, the RFC's integer form
  std::uint32_t transit_ = 0, last_ts_ = 0;
  bool have_transit_ = false;
  std::uint32_t lsr_ = 0;
  std::int64_t lsr_at_ms_ = 0;
};

// Compounds for one leg, returning the bytes written, or 0 when `out` is too small. `block` may be
// null (nothing received yet). A CNAME (at most 255 bytes) is required in every compound by RFC
// 3550 §6.1; an empty one omits the SDES.
std::size_t write_sr(std::span<std::uint8_t> out, std::uint32_t ssrc, std::uint64_t ntp,
                     std::uint32_t rtp_ts, std::uint32_t packets, std::uint32_t octets,
                     const ReportBlock* block, std::string_view cname);
std::size_t write_rr(std::span<std::uint8_t> out, std::uint32_t ssrc, const ReportBlock* block,
                     std::string_view cname);
// RR (no block) + SDES + BYE with an optional reason (at most 255 bytes).
std::size_t write_bye(std::span<std::uint8_t> out, std::uint32_t ssrc, std::string_view cname,
                      std::string_view reason = {});

// NTP time (RFC 5905 64-bit format) of CLOCK_REALTIME, and of a Unix time.
std::uint64_t ntp_now();
std::uint64_t ntp_from_unix(std::int64_t sec, std::int64_t nsec);
inline std::uint32_t ntp_mid32(std::uint64_t ntp) {
  return static_cast<std::uint32_t>(ntp >> 16);
}

// Round trip from a block about our stream that arrived at `arrival_mid32` (ntp_mid32 of the
// arrival): arrival - LSR - DLSR (RFC 3550 §6.4.1). None while the peer has no SR of ours (LSR 0);
// a negative result (rounding of DLSR, the peer's clock rate) counts as 0.
std::optional<std::uint32_t> rtt_ms(const ReportBlock& block, std::uint32_t arrival_mid32);

}  // namespace confab::media
