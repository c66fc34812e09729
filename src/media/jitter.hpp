#pragma once
// An adaptive jitter buffer for one leg: packets are filed by RTP sequence number into a fixed
// ring of slots (copies, so the socket buffer can be reused at once); each tick takes exactly one
// frame: the packet due, or a loss to conceal (with the next packet at hand for Opus FEC). The
// playout delay follows the measured jitter between `min_frames` and `max_frames`.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace confab::media {

class JitterBuffer {
 public:
  JitterBuffer(std::size_t slots = 32, std::size_t max_payload = 1024, int min_frames = 1,
               int max_frames = 8, int frame_ms = 20);

  // Files a packet that arrived at `arrival_ms`. Returns false (and counts why) when it is a
  // duplicate, too late to play, too far ahead, or too large.
  bool put(std::uint16_t seq, std::span<const std::uint8_t> payload, std::int64_t arrival_ms);

  enum class Kind { packet, lost, waiting };
  struct Frame {
    Kind kind = Kind::waiting;
    std::span<const std::uint8_t> payload;  // packet: its payload
    std::span<const std::uint8_t> next;     // lost: the following packet if already here
  };
  // One frame per tick. `waiting` before playout starts or while the buffer refills.
  Frame pop();
  // Forgets everything buffered, as for a new stream (a leg unmuted after being ignored).
  void reset();
  // The codec can rebuild a lost frame from the next packet (Opus in-band FEC): on a lossy link
  // the buffer then holds one frame more, so that the next packet is at hand when one is lost.
  void set_fec(bool on) { fec_ = on; }

  int target_frames() const { return target_; }
  std::size_t buffered() const;
  struct Stats {
    std::uint64_t received = 0, played = 0, lost = 0, late = 0, duplicate = 0, dropped = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Slot {
    bool full = false;
    std::uint16_t seq = 0;
    std::size_t size = 0;
  };
  Slot& slot(std::uint16_t seq) { return slots_[seq % slots_.size()]; }
  std::span<const std::uint8_t> data(const Slot& s) const;
  void adapt(std::uint16_t seq, std::int64_t arrival_ms);

  std::vector<Slot> slots_;
  std::vector<std::uint8_t> store_;
  std::size_t max_payload_;
  int min_, max_, frame_ms_;
  int target_;
  bool started_ = false;    // playout running
  bool primed_ = false;     // first packet seen
  std::uint16_t next_ = 0;  // next sequence number to play
  // RFC 3550 interarrival jitter, in ms (x16 fixed point as in the RFC's integer form).
  std::int64_t jitter16_ = 0;
  std::int64_t last_transit_ = 0;
  bool have_transit_ = false;
  std::uint16_t base_seq_ = 0;
  std::int64_t base_arrival_ = 0;
  int surplus_ticks_ = 0;
  int want_ = 1;        // frames the jitter estimate asks for
  int late_peak_ = 0;   // frames by which reordered packets came late (decays)
  int calm_ticks_ = 0;  // ticks since the last reordered late packet or FEC-leg loss
  int deepen_ = 0;      // frames of delay to add (played as concealment)
  bool fec_ = false;
  int loss_depth_ = 0;         // 1 after a loss on a leg whose codec repairs the next one (FEC)
  int dry_ = 0;                // ticks in a row with nothing to play
  bool dry_valid_ = false;     // the last frame played was concealed for want of anything held
  std::uint16_t dry_seq_ = 0;  // ... and this was its sequence number
  bool have_highest_ = false;
  std::uint16_t highest_ = 0;  // highest sequence number received
  void retarget();
  Stats stats_;
};

}  // namespace confab::media
