#pragma once
// Per-source token buckets against scanners and floods. Each source IP address may send `rate`
// messages a second with bursts of `burst`. Past that it is refused (503 with Retry-After, so
// that a well-behaved peer backs off) until its debt reaches `burst` more, and then dropped
// without a word: a flood costs us one hash look-up per datagram, and its answers are bounded
// by the rate itself. Other sources are not touched.
#include "media/cidr.hpp"
#include "sip/timer_queue.hpp"

#include <boost/asio/ip/address.hpp>

#include <array>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace confab::sip {

struct RateOptions {
  double rate = 100;                  // messages per second per source; 0: no limit
  double burst = 200;                 // messages a source may send at once
  std::vector<media::Cidr> exempt;    // IPv4 blocks never limited (trunks, our own proxies)
  std::size_t max_sources = 1 << 16;  // tracked at once; past it new sources share one bucket
};

enum class RateVerdict : std::uint8_t { pass, refuse, drop };

struct RateStats {
  std::uint64_t refused = 0;          // answered 503
  std::uint64_t dropped = 0;          // dropped silently
  std::uint64_t limited_sources = 0;  // times a source went from passing to refused
  std::uint64_t shared = 0;           // messages counted in the shared bucket (table full)
};

class RateLimiter {
 public:
  explicit RateLimiter(RateOptions o) : opts_(std::move(o)) {}
  // `first` is set when this verdict is the source's first refusal since it last passed (to
  // log once per episode).
  RateVerdict check(const boost::asio::ip::address& from, Clock::time_point now, bool* first);
  std::size_t tracked() const { return buckets_.size(); }
  const RateStats& stats() const { return stats_; }
  bool enabled() const { return opts_.rate > 0; }

 private:
  using Key = std::array<std::uint8_t, 16>;
  struct KeyHash {
    std::size_t operator()(const Key& k) const;
  };
  struct Bucket {
    double tokens;
    Clock::time_point last;
    bool limited = false;
  };
  void evict_idle(Clock::time_point now);

  RateOptions opts_;
  std::unordered_map<Key, Bucket, KeyHash> buckets_;
  Bucket shared_{0, {}};
  bool shared_init_ = false;
  RateStats stats_;
};

}  // namespace confab::sip
