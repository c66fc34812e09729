#pragma once
// Attribution of event deliveries to the sends that caused them, for confab_ws_fanout. No I/O:
// the driver reports each send and hands over each received text frame with its receipt time.
//
// The server renders an event once and sends the same msg_id to every subscriber, and a
// connection delivers in order. The first subscriber to see its k-th matching event binds that
// msg_id to send k (if the binding is consistent: the slot is free, send k has happened, and
// msg_ids grow with the send order); every later sighting of that msg_id is attributed to send
// k, and each event's name must be the one send k asked for. The actions alternate, so a slip
// shows as a mismatch.
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace confab::bench {

using Clock = std::chrono::steady_clock;

// Nearest-rank percentile of sorted microseconds, in milliseconds.
inline double percentile_ms(const std::vector<std::uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto k = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(k, sorted.size() - 1)] / 1000.0;
}

inline std::uint64_t parse_hex(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  return ec == std::errc{} && p == s.data() + s.size() ? v : 0;
}

// The fields a delivery is matched on. The server's JSON is compact and these keys are unique,
// so a string search finds "event" and "msg_id" without building a DOM for each of 100,000
// messages a second (a full parse would add the client's own time to the measured latency).
// Every 256th message, and any message the search cannot read, is parsed in full, and the two
// methods must agree.
struct Fields {
  bool is_event = false;
  std::string_view event, msg_id;
};

inline std::string_view string_field(std::string_view text, std::string_view key_colon_quote) {
  auto p = text.find(key_colon_quote);
  if (p == std::string_view::npos) return {};
  p += key_colon_quote.size();
  auto e = text.find('"', p);
  return e == std::string_view::npos ? std::string_view{} : text.substr(p, e - p);
}

inline Fields quick_fields(std::string_view text) {
  Fields f;
  f.is_event = text.starts_with(R"({"action":"event",)");
  if (!f.is_event) return f;
  f.event = string_field(text, R"("event":")");
  f.msg_id = string_field(text, R"("msg_id":")");
  return f;
}

// Full parse into `storage`, which `f` then points into; false if the text is not a JSON object.
inline bool full_fields(std::string_view text, boost::json::value& storage, Fields& f) {
  boost::system::error_code ec;
  storage = boost::json::parse(text, ec);
  if (ec || !storage.is_object()) return false;
  auto& m = storage.as_object();
  auto* action = m.if_contains("action");
  auto* data = m.if_contains("data");
  f = {};
  if (!action || !action->is_string() || action->as_string() != "event" || !data ||
      !data->is_object())
    return true;
  f.is_event = true;
  auto& d = data->as_object();
  if (auto* ev = d.if_contains("event"); ev && ev->is_string()) f.event = ev->as_string();
  if (auto* mid = d.if_contains("msg_id"); mid && mid->is_string()) f.msg_id = mid->as_string();
  return true;
}

// One subscriber's position in the stream of sends.
struct Cursor {
  std::uint32_t next = 0;      // index of the next send this subscriber should see
  std::uint32_t received = 0;  // distinct events attributed to a send
  double latency_sum_us = 0;
};

struct MatchCounts {
  std::uint64_t mismatched = 0, duplicates = 0, other_messages = 0, unparsable = 0;
  std::uint64_t parse_disagreements = 0;
};

class Matcher {
 public:
  // events[i % 2] is the event name send i must produce.
  void plan(std::uint32_t total, std::array<std::string, 2> events, std::size_t expected) {
    events_ = std::move(events);
    sent_at_.assign(total, {});
    msg_of_index_.assign(total, 0);
    latency_us_.reserve(expected);
  }
  void sent(std::uint32_t i, Clock::time_point t) {
    sent_at_[i] = t;
    sent_ = i + 1;
  }
  std::uint32_t sent() const { return sent_; }
  Clock::time_point sent_at(std::uint32_t i) const { return sent_at_[i]; }
  const MatchCounts& counts() const { return counts_; }
  std::vector<std::uint32_t>& latencies_us() { return latency_us_; }

  void on_text(Cursor& c, std::string_view text, Clock::time_point now) {
    Fields f = quick_fields(text);
    boost::json::value storage;
    if (!f.is_event || f.event.empty() || f.msg_id.empty() || (++checked_ & 255) == 0) {
      Fields full;
      if (!full_fields(text, storage, full)) {
        ++counts_.unparsable;
        return;
      }
      if (f.is_event && !f.event.empty() && !f.msg_id.empty() &&
          (full.event != f.event || full.msg_id != f.msg_id))
        ++counts_.parse_disagreements;
      f = full;
    }
    if (!f.is_event || (f.event != events_[0] && f.event != events_[1])) {
      ++counts_.other_messages;
      return;
    }
    std::uint64_t msg = parse_hex(f.msg_id);
    if (msg == 0) {
      ++counts_.unparsable;
      return;
    }
    std::uint32_t idx;
    if (auto it = index_of_msg_.find(msg); it != index_of_msg_.end()) {
      idx = it->second;
    } else if (bindable(c.next, msg)) {
      idx = c.next;
      msg_of_index_[idx] = msg;
      index_of_msg_.emplace(msg, idx);
    } else {
      ++counts_.mismatched;
      return;
    }
    if (idx < c.next) {
      ++counts_.duplicates;
      return;
    }
    if (f.event != events_[idx % 2]) {
      ++counts_.mismatched;
      return;
    }
    auto us = std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::microseconds>(now - sent_at_[idx]).count());
    latency_us_.push_back(static_cast<std::uint32_t>(us));
    c.latency_sum_us += static_cast<double>(us);
    c.next = idx + 1;
    ++c.received;
  }

 private:
  bool bindable(std::uint32_t idx, std::uint64_t msg) const {
    return idx < sent_ && msg_of_index_[idx] == 0 &&
           (idx == 0 || msg_of_index_[idx - 1] == 0 || msg_of_index_[idx - 1] < msg) &&
           (idx + 1 >= msg_of_index_.size() || msg_of_index_[idx + 1] == 0 ||
            msg_of_index_[idx + 1] > msg);
  }

  std::array<std::string, 2> events_;
  std::vector<Clock::time_point> sent_at_;
  std::uint32_t sent_ = 0;
  std::vector<std::uint64_t> msg_of_index_;  // 0: not yet seen
  std::unordered_map<std::uint64_t, std::uint32_t> index_of_msg_;
  std::vector<std::uint32_t> latency_us_;
  std::uint64_t checked_ = 0;
  MatchCounts counts_;
};

}  // namespace confab::bench
