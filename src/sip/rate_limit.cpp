#include "sip/rate_limit.hpp"

#include <algorithm>
#include <cstring>

namespace confab::sip {

std::size_t RateLimiter::KeyHash::operator()(const Key& k) const {
  std::uint64_t a, b;
  std::memcpy(&a, k.data(), 8);
  std::memcpy(&b, k.data() + 8, 8);
  return static_cast<std::size_t>((a * 0x9e3779b97f4a7c15ull) ^ (b + 0x632be59bd9b4e019ull));
}

void RateLimiter::evict_idle(Clock::time_point now) {
  // A bucket that has refilled is the same as no bucket: forget it.
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    double secs = std::chrono::duration<double>(now - it->second.last).count();
    if (it->second.tokens + secs * opts_.rate >= opts_.burst)
      it = buckets_.erase(it);
    else
      ++it;
  }
}

RateVerdict RateLimiter::check(const boost::asio::ip::address& from, Clock::time_point now,
                               bool* first) {
  if (first) *first = false;
  if (opts_.rate <= 0) return RateVerdict::pass;
  Key key{};
  if (from.is_v4()) {
    auto v4 = from.to_v4().to_uint();
    if (!opts_.exempt.empty() && media::allowed(opts_.exempt, v4)) return RateVerdict::pass;
    auto b = from.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), key.begin() + 12);
  } else {
    auto b = from.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), key.begin());
  }
  Bucket* bucket = nullptr;
  if (auto it = buckets_.find(key); it != buckets_.end()) {
    bucket = &it->second;
  } else {
    if (buckets_.size() >= opts_.max_sources) evict_idle(now);
    if (buckets_.size() >= opts_.max_sources) {
      ++stats_.shared;
      if (!shared_init_) {
        shared_ = {opts_.burst, now};
        shared_init_ = true;
      }
      bucket = &shared_;
    } else {
      bucket = &buckets_.emplace(key, Bucket{opts_.burst, now}).first->second;
    }
  }
  double secs = std::chrono::duration<double>(now - bucket->last).count();
  bucket->last = now;
  bucket->tokens = std::min(opts_.burst, bucket->tokens + std::max(0.0, secs) * opts_.rate);
  if (bucket->tokens >= 1) {
    bucket->tokens -= 1;
    bucket->limited = false;
    return RateVerdict::pass;
  }
  if (!bucket->limited) {
    bucket->limited = true;
    ++stats_.limited_sources;
    if (first) *first = true;
  }
  if (bucket->tokens > -opts_.burst) {
    bucket->tokens -= 1;
    ++stats_.refused;
    return RateVerdict::refuse;
  }
  ++stats_.dropped;
  return RateVerdict::drop;
}

}  // namespace confab::sip
