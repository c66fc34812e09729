#include "media/jitter.hpp"

#include <algorithm>
#include <cstring>

namespace confab::media {

namespace {
// Signed distance from a to b in sequence space.
int seq_diff(std::uint16_t b, std::uint16_t a) {
  return static_cast<std::int16_t>(b - a);
}
}  // namespace

JitterBuffer::JitterBuffer(std::size_t slots, std::size_t max_payload, int min_frames,
                           int max_frames, int frame_ms)
    : slots_(slots),
      store_(slots * max_payload),
      max_payload_(max_payload),
      min_(min_frames),
      max_(std::max(min_frames, max_frames)),
      frame_ms_(frame_ms),
      target_(min_frames) {}

void JitterBuffer::reset() {
  for (auto& s : slots_) s.full = false;
  started_ = primed_ = have_transit_ = have_highest_ = false;
  jitter16_ = 0;
  surplus_ticks_ = late_peak_ = calm_ticks_ = deepen_ = dry_ = 0;
  dry_valid_ = false;
  loss_depth_ = 0;
  want_ = min_;
  target_ = min_;
}

std::span<const std::uint8_t> JitterBuffer::data(const Slot& s) const {
  auto index = static_cast<std::size_t>(&s - slots_.data());
  return {store_.data() + index * max_payload_, s.size};
}

std::size_t JitterBuffer::buffered() const {
  return static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.end(), [&](const Slot& s) {
    return s.full && (!started_ || seq_diff(s.seq, next_) >= 0);
  }));
}

void JitterBuffer::adapt(std::uint16_t seq, std::int64_t arrival_ms) {
  // Transit relative to the first packet: arrival minus the packet's place in the stream.
  std::int64_t sent =
      base_arrival_ + static_cast<std::int64_t>(seq_diff(seq, base_seq_)) * frame_ms_;
  std::int64_t transit = arrival_ms - sent;
  if (have_transit_) {
    std::int64_t d = std::abs(transit - last_transit_);
    jitter16_ += d - ((jitter16_ + 8) >> 4);  // RFC 3550 A.8: J += (|D| - J) / 16, J kept x16
  }
  last_transit_ = transit;
  have_transit_ = true;
  // Hold about twice the jitter, rounded up to whole frames.
  want_ = static_cast<int>((2 * jitter16_ / 16 + frame_ms_ - 1) / frame_ms_);
  retarget();
}

// The depth: what the jitter asks for, and enough to catch the reordering seen lately (the
// RFC 3550 estimate stays under half a frame for occasional reordering: a peak detector, as
// NetEq's, covers it).
void JitterBuffer::retarget() {
  int before = target_;
  target_ = std::clamp(std::max(want_, min_ + std::max(late_peak_, loss_depth_)), min_, max_);
  if (started_ && target_ > before) deepen_ += target_ - before;
}

bool JitterBuffer::put(std::uint16_t seq, std::span<const std::uint8_t> payload,
                       std::int64_t arrival_ms) {
  if (payload.size() > max_payload_) {
    ++stats_.dropped;
    return false;
  }
  if (!primed_) {
    primed_ = true;
    next_ = seq;
    base_seq_ = seq;
    base_arrival_ = arrival_ms;
  }
  int ahead = seq_diff(seq, next_);
  if (started_ && ahead == -1 && dry_valid_ && seq == dry_seq_) {
    // The packet just concealed for want of it, arriving a moment late: playout runs a little
    // ahead of this sender. Play it after all, next: the concealed frame becomes one frame of
    // added delay (the buffer re-phases without a gap).
    next_ = seq;
    ahead = 0;
    dry_valid_ = false;
  }
  if (started_ && ahead < 0) {
    ++stats_.late;
    // Reordered (a later packet came first), not a stalled sender: deepen to catch the next one.
    if (have_highest_ && seq_diff(highest_, seq) > 0 && -ahead > late_peak_) {
      late_peak_ = -ahead;
      calm_ticks_ = 0;
      retarget();
    }
    return false;
  }
  if (!have_highest_ || seq_diff(seq, highest_) > 0) highest_ = seq;
  have_highest_ = true;
  if (ahead >= static_cast<int>(slots_.size())) {
    // Far ahead: the sender jumped (or we stalled). Resynchronise on it.
    for (auto& s : slots_) s.full = false;
    next_ = seq;
    started_ = false;
    base_seq_ = seq;  // and the timing estimate starts over from here
    base_arrival_ = arrival_ms;
    have_transit_ = false;
    ++stats_.dropped;
  }
  auto& s = slot(seq);
  if (s.full && s.seq == seq) {
    ++stats_.duplicate;
    return false;
  }
  s.full = true;
  s.seq = seq;
  s.size = payload.size();
  std::memcpy(store_.data() + (&s - slots_.data()) * max_payload_, payload.data(), payload.size());
  ++stats_.received;
  adapt(seq, arrival_ms);
  return true;
}

JitterBuffer::Frame JitterBuffer::pop() {
  Frame f;
  if (!primed_) return f;
  std::size_t held = buffered();
  if (!started_) {
    if (held < static_cast<std::size_t>(target_)) return f;
    started_ = true;
  }
  // The frame concealed last tick for want of its packet never came: a loss. On a leg with FEC,
  // hold a frame more, so that the next packet is at hand to repair the next loss.
  if (dry_valid_ && fec_) {
    calm_ticks_ = 0;
    if (loss_depth_ == 0) {
      loss_depth_ = 1;
      retarget();
    }
  }
  // Calm (no reordering, no loss) lets the extra depth go, a frame per 10 s.
  if (++calm_ticks_ > 500) {
    calm_ticks_ = 0;
    if (late_peak_ > 0)
      --late_peak_;
    else
      loss_depth_ = 0;
    retarget();
  }
  if (held == 0) {
    // Nothing due: a lost or late packet is concealed at once (the leg keeps its place in the
    // mix and its delay); only a sender silent for longer than concealment covers (3 frames,
    // G.711's fade) restarts playout, refilling to the target first.
    if (++dry_ > 3) {
      started_ = false;
      dry_ = 0;
      dry_valid_ = false;
      return f;
    }
    dry_valid_ = true;
    dry_seq_ = next_;
  } else {
    dry_ = 0;
    dry_valid_ = false;
  }
  if (deepen_ > 0) {  // play one frame of concealment without advancing: one frame more held
    --deepen_;
    f.kind = Kind::lost;
    ++stats_.lost;
    return f;
  }
  // Too much held for a while (a stalled sender's backlog, jitter gone down): skip a frame to cut
  // the delay back to the target.
  if (held > static_cast<std::size_t>(target_)) {
    if (++surplus_ticks_ > 10) {
      auto& drop = slot(next_);
      if (drop.full && drop.seq == next_) drop.full = false;
      ++next_;
      ++stats_.dropped;
      surplus_ticks_ = 0;
    }
  } else {
    surplus_ticks_ = 0;
  }
  auto& s = slot(next_);
  if (s.full && s.seq == next_) {
    s.full = false;
    f.kind = Kind::packet;
    f.payload = data(s);
    ++stats_.played;
  } else {
    f.kind = Kind::lost;
    auto& n = slot(static_cast<std::uint16_t>(next_ + 1));
    if (n.full && n.seq == static_cast<std::uint16_t>(next_ + 1)) f.next = data(n);
    ++stats_.lost;
  }
  ++next_;
  return f;
}

}  // namespace confab::media
