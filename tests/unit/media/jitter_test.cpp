#include "media/jitter.hpp"

#include <gtest/gtest.h>

#include <array>

using confab::media::JitterBuffer;
using Kind = JitterBuffer::Kind;

namespace {
std::array<std::uint8_t, 1> tag(std::uint16_t seq) {
  return {static_cast<std::uint8_t>(seq)};
}
}  // namespace

TEST(Jitter, PlaysInOrderWhatArrivesOutOfOrder) {
  JitterBuffer jb(32, 64, 2, 8);
  // 12 overtakes 11 on the way: reordered on playout.
  jb.put(10, tag(10), 0);
  jb.put(12, tag(12), 40);
  jb.put(11, tag(11), 41);
  jb.put(13, tag(13), 60);
  std::vector<int> played;
  for (int i = 0; i < 4; ++i) {
    auto f = jb.pop();
    ASSERT_EQ(f.kind, Kind::packet);
    played.push_back(f.payload[0]);
  }
  EXPECT_EQ(played, (std::vector<int>{10, 11, 12, 13}));
}

TEST(Jitter, ALossIsReportedWithTheNextPacketForFec) {
  JitterBuffer jb(32, 64, 1, 8);
  jb.put(1, tag(1), 0);
  jb.put(3, tag(3), 40);
  EXPECT_EQ(jb.pop().kind, Kind::packet);
  auto f = jb.pop();
  EXPECT_EQ(f.kind, Kind::lost);
  ASSERT_EQ(f.next.size(), 1u);
  EXPECT_EQ(f.next[0], 3);
  EXPECT_EQ(jb.pop().kind, Kind::packet);
  EXPECT_EQ(jb.stats().lost, 1u);
}

TEST(Jitter, LateAndDuplicatePacketsAreRefused) {
  JitterBuffer jb(32, 64, 1, 8);
  jb.put(5, tag(5), 0);
  EXPECT_FALSE(jb.put(5, tag(5), 1));
  jb.pop();
  EXPECT_FALSE(jb.put(4, tag(4), 30));  // its time has passed
  EXPECT_EQ(jb.stats().duplicate, 1u);
  EXPECT_EQ(jb.stats().late, 1u);
  std::vector<std::uint8_t> huge(100);
  EXPECT_FALSE(jb.put(6, huge, 30));
}

TEST(Jitter, DelayGrowsWithJitterAndStaysLowWithout) {
  JitterBuffer steady(32, 64, 1, 8);
  for (std::uint16_t s = 0; s < 100; ++s) steady.put(s, tag(s), s * 20);
  EXPECT_EQ(steady.target_frames(), 1);  // 20 ms: keeps mouth-to-ear short
  JitterBuffer bursty(32, 64, 1, 8);
  for (std::uint16_t s = 0; s < 100; ++s) bursty.put(s, tag(s), s * 20 + (s % 2 ? 45 : 0));
  EXPECT_GE(bursty.target_frames(), 3);
  EXPECT_LE(bursty.target_frames(), 8);
}

TEST(Jitter, SequenceWrapAndSenderJumps) {
  JitterBuffer jb(32, 64, 1, 8);
  std::int64_t t = 0;
  for (std::uint16_t s : {65534, 65535, 0, 1}) jb.put(s, tag(s), t += 20);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(jb.pop().kind, Kind::packet);
  jb.put(30000, tag(30000), 100);  // a restart far ahead: resynchronise
  auto f = jb.pop();
  EXPECT_EQ(f.kind, Kind::packet);
  EXPECT_EQ(f.payload[0], static_cast<std::uint8_t>(30000));
}
