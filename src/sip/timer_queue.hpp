#pragma once
// Many deadlines on one steady_timer: a binary heap of (when, id, generation). Moving an
// object's deadline pushes a new entry under a new generation; the old one is skipped when it
// comes up. No allocation per entry beyond the heap's vector. The timer is armed on 5 ms
// boundaries: deadlines that close together fire in one wake-up, and the timer (a timerfd) is
// not reset for each of thousands of transactions a second. SIP's timers are 500 ms and up.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace confab::sip {

using Clock = std::chrono::steady_clock;

class TimerQueue {
 public:
  // Called for each entry that comes due, on the io_context's thread.
  using Fire = std::function<void(std::uint64_t id, std::uint32_t gen)>;
  TimerQueue(boost::asio::io_context& io, Fire fire)
      : state_(std::make_shared<State>(io, std::move(fire))) {}
  ~TimerQueue() { state_->timer.cancel(); }
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  void schedule(Clock::time_point at, std::uint64_t id, std::uint32_t gen) {
    auto& s = *state_;
    s.heap.push_back({at, id, gen});
    std::push_heap(s.heap.begin(), s.heap.end(), Later{});
    if (!s.armed || boundary(at) < s.armed_at) arm(state_);
  }
  std::size_t size() const { return state_->heap.size(); }
  void clear() {
    state_->heap.clear();
    state_->timer.cancel();
    state_->armed = false;
  }

 private:
  struct Entry {
    Clock::time_point at;
    std::uint64_t id;
    std::uint32_t gen;
  };
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const { return a.at > b.at; }
  };
  struct State {
    State(boost::asio::io_context& io, Fire f) : timer(io), fire(std::move(f)) {}
    boost::asio::steady_timer timer;
    Fire fire;
    std::vector<Entry> heap;
    bool armed = false;
    Clock::time_point armed_at{};
    std::uint64_t arm_gen = 0;
  };

  static Clock::time_point boundary(Clock::time_point t) {
    constexpr auto kSlack = std::chrono::milliseconds(5);
    auto since = t.time_since_epoch();
    auto rounded = (since + kSlack - Clock::duration(1)) / kSlack * kSlack;
    return Clock::time_point(std::chrono::duration_cast<Clock::duration>(rounded));
  }

  static void arm(const std::shared_ptr<State>& st) {
    auto& s = *st;
    if (s.heap.empty()) {
      s.armed = false;
      return;
    }
    s.armed = true;
    s.armed_at = boundary(s.heap.front().at);
    s.timer.expires_at(s.armed_at);
    s.timer.async_wait(
        [w = std::weak_ptr<State>(st), g = ++s.arm_gen](boost::system::error_code ec) {
          auto st = w.lock();
          if (!st || ec || g != st->arm_gen) return;
          st->armed = false;
          auto now = Clock::now();
          // Entries fired here may schedule new ones (due now or later): take what is due first.
          while (!st->heap.empty() && st->heap.front().at <= now) {
            std::pop_heap(st->heap.begin(), st->heap.end(), Later{});
            auto e = st->heap.back();
            st->heap.pop_back();
            st->fire(e.id, e.gen);
          }
          if (!st->armed) arm(st);
        });
  }

  std::shared_ptr<State> state_;
};

}  // namespace confab::sip
