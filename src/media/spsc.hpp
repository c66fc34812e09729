#pragma once
// A bounded single-producer single-consumer ring: the only channel between the control thread
// and a media shard. Lock-free and allocation-free after construction.
#include <atomic>
#include <cstddef>
#include <optional>
#include <vector>

namespace confab::media {

template <typename T>
class Spsc {
 public:
  explicit Spsc(std::size_t capacity) : buf_(capacity + 1) {}
  // Producer side. False when full: the caller counts it (never blocks the media thread).
  bool push(const T& v) {
    auto t = tail_.load(std::memory_order_relaxed);
    auto next = (t + 1) % buf_.size();
    if (next == head_.load(std::memory_order_acquire)) return false;
    buf_[t] = v;
    tail_.store(next, std::memory_order_release);
    return true;
  }
  // Consumer side.
  bool empty() const {
    return head_.load(std::memory_order_seq_cst) == tail_.load(std::memory_order_seq_cst);
  }
  std::optional<T> pop() {
    auto h = head_.load(std::memory_order_relaxed);
    if (h == tail_.load(std::memory_order_acquire)) return std::nullopt;
    T v = buf_[h];
    head_.store((h + 1) % buf_.size(), std::memory_order_release);
    return v;
  }

 private:
  std::vector<T> buf_;
  alignas(64) std::atomic<std::size_t> head_{0};
  alignas(64) std::atomic<std::size_t> tail_{0};
};

}  // namespace confab::media
