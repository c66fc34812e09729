// RTCP compounds from the network: whatever parses must write back and parse to the same values;
// the same bytes, read as (seq, timestamp, arrival) triples, drive the receiver statistics.
#include "media/rtcp.hpp"

#include <array>
#include <cstdint>
#include <cstring>

using namespace confab::media;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void round_trip(const RtcpInfo& in) {
  std::array<std::uint8_t, 1500> buf;
  const ReportBlock* block = in.block_count ? &in.blocks[0] : nullptr;
  std::size_t n = in.has_sr ? write_sr(buf, in.sender_ssrc, in.ntp, in.rtp_ts, in.packets,
                                       in.octets, block, in.cname)
                            : write_rr(buf, in.sender_ssrc, block, in.cname);
  check(n > 0 && n % 4 == 0);
  RtcpInfo out;
  check(parse_rtcp(std::span(buf).first(n), out) == RtcpError::ok);
  check(out.has_sr == in.has_sr && out.sender_ssrc == in.sender_ssrc && out.ntp == in.ntp &&
        out.cname == in.cname && out.block_count == (block ? 1 : 0));
  if (block) {
    check(out.blocks[0] == *block);
    (void)rtt_ms(*block, ntp_mid32(in.ntp));
  }
  if (in.has_sr) check(write_sr(std::span(buf).first(n - 1), 1, 2, 3, 4, 5, block, in.cname) == 0);
  if (in.bye) {
    n = write_bye(buf, in.bye_ssrc, in.cname, in.bye_reason);
    check(parse_rtcp(std::span(buf).first(n), out) == RtcpError::ok && out.bye &&
          out.bye_ssrc == in.bye_ssrc && out.bye_reason == in.bye_reason);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> d(data, size);
  RtcpInfo info;
  if (parse_rtcp(d, info) == RtcpError::ok) {
    auto inside = [&](std::string_view v) {
      auto p = reinterpret_cast<const std::uint8_t*>(v.data());
      return v.empty() || (p >= data && p + v.size() <= data + size);
    };
    check(inside(info.cname) && inside(info.bye_reason));
    round_trip(info);
  }
  RtpReceiverStats stats;
  for (std::size_t i = 0; i + 10 <= size; i += 10) {
    std::uint32_t ts, arrival;
    std::memcpy(&ts, data + i + 2, 4);
    std::memcpy(&arrival, data + i + 6, 4);
    stats.on_rtp(static_cast<std::uint16_t>(data[i] << 8 | data[i + 1]), ts, arrival);
    if (data[i] & 1) stats.on_sr(ts, arrival);
    if (data[i] & 2) (void)stats.make_report(1, static_cast<std::int64_t>(arrival) - ts);
  }
  return 0;
}
