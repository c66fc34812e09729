#pragma once
// Talk detection per leg with FreeSWITCH mod_conference semantics (COMPAT.md): the frame's score
// is the mean absolute sample; the gate is open while the score exceeds the leg's energy level;
// talking starts at once when the score exceeds the level by 400, or after `hangunder` gated
// frames in a row; it stops after `hangover` frames without the gate (40 x 20 ms = 800 ms).
#include <cstdint>
#include <span>

namespace confab::media {

enum class TalkChange { none, started, stopped };

class TalkDetector {
 public:
  explicit TalkDetector(int energy_level = 20, int hangunder = 5, int hangover = 40)
      : energy_level_(energy_level), hangunder_(hangunder), hangover_(hangover) {}

  static int score_of(std::span<const std::int16_t> frame);
  // RFC 6464 level (-dBov, 0 loud .. 127 silent) to the equivalent score of a full-scale sine
  // attenuated that much, so that clients' own levels drive the same thresholds.
  static int score_of_level(std::uint8_t dbov);

  TalkChange feed(std::span<const std::int16_t> frame) { return feed_score(score_of(frame)); }
  TalkChange feed_score(int score);

  bool talking() const { return talking_; }
  int score() const { return score_; }  // Kazoo's current_energy
  int energy_level() const { return energy_level_; }
  void set_energy_level(int level) { energy_level_ = level; }

 private:
  int energy_level_, hangunder_, hangover_;
  int score_ = 0;
  int gated_ = 0;  // consecutive frames with the gate open
  int quiet_ = 0;  // consecutive frames with it closed, while talking
  bool talking_ = false;
};

}  // namespace confab::media
