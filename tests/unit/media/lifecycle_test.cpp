// The engine's life outside the tick: shards with nothing to do sleep, a full event queue never
// loses the events that free clips or end legs, and stop() leaves nothing running that reads
// what the control thread is about to free.
#include "media/tone.hpp"
#include "udp_leg.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <set>

using namespace confab::media;
using namespace confab::media::test;

namespace {
std::unique_ptr<Clip> tone_clip(const char* tone, int rate) {
  auto c = std::make_unique<Clip>();
  c->rate = rate;
  c->pcm = render_tone(parse_tone(tone), rate);
  return c;
}
void wait_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}
}  // namespace

TEST(EngineIdle, AShardWithoutLegsSleepsAndWakesForTheNextLeg) {
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  Engine e(cfg);
  for (std::uint64_t r = 1; r <= 1000; ++r) e.add_room(r);  // rooms without legs cost nothing
  wait_ms(60);
  auto before = e.stats();
  wait_ms(300);  // 15 ticks' worth
  auto idle = e.stats();
  EXPECT_EQ(idle.ticks, before.ticks) << "an engine without legs kept ticking";
  EXPECT_GE(idle.sleeps, 1u);

  auto port = e.port_of(500);
  TestLeg a(500), b(1000);
  e.add_leg({10, 500, pcmu(), a.addr, 0, true, true});
  e.add_leg({11, 500, pcmu(), b.addr, 0, true, true});
  run_for(e, port, {&a, &b}, 30);
  EXPECT_GT(goertzel(a.recent(), 1000), 600) << "the woken shard does not mix";
  EXPECT_GT(e.stats().ticks, idle.ticks + 20);

  e.remove_leg(500, 10);
  e.remove_leg(500, 11);
  wait_ms(250);  // applied at the next tick, however late a loaded machine runs it
  auto after = e.stats();
  wait_ms(200);
  EXPECT_EQ(e.stats().ticks, after.ticks) << "the shard went on ticking once its legs left";
}

TEST(EngineIdle, ARoomWithoutLegsStillPlaysOutItsPromptsAndRecords) {
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  Engine e(cfg);
  e.add_room(1);
  auto clip = tone_clip("tone_stream://%(200,0,440)", 8000);
  ASSERT_TRUE(e.play(1, 0, clip.get(), 7));
  bool played = false;
  for (int i = 0; i < 50 && !played; ++i) {
    wait_ms(20);
    e.poll([&](const EngineEvent& ev) { played |= ev.type == EngineEvent::Type::played; });
  }
  EXPECT_TRUE(played) << "a play in a room without legs never ended: its clip stays held";
}

TEST(EngineEvents, PlayedTimeoutAndByeAreNeverDroppedByAFullQueue) {
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  cfg.event_queue = 4;
  cfg.rtp_timeout_ms = 100;
  Engine e(cfg);
  auto port = e.add_room(1);
  std::vector<std::unique_ptr<TestLeg>> legs;
  std::vector<std::unique_ptr<Clip>> clips;
  for (std::uint64_t i = 0; i < 12; ++i) {
    legs.push_back(std::make_unique<TestLeg>(300 + 100 * static_cast<double>(i)));
    e.add_leg({100 + i, 1, pcmu(), legs.back()->addr, 0, true, true});
    clips.push_back(tone_clip("tone_stream://%(40,0,440)", 8000));
    ASSERT_TRUE(e.play(1, 100 + i, clips.back().get(), 1000 + i));
  }
  // Nobody polls while 12 plays end and 12 silent legs time out: the queue holds 4.
  (void)port;
  wait_ms(600);
  std::set<std::uint64_t> played, timed_out;
  for (int i = 0; i < 20; ++i) {
    e.poll([&](const EngineEvent& ev) {
      if (ev.type == EngineEvent::Type::played) played.insert(ev.ref);
      if (ev.type == EngineEvent::Type::timeout) timed_out.insert(ev.leg);
    });
    wait_ms(25);
  }
  EXPECT_EQ(played.size(), 12u) << "played events lost: their clips would be held for ever";
  EXPECT_EQ(timed_out.size(), 12u) << "timeouts lost: those participants would stay";
  EXPECT_GT(e.stats().events_deferred, 0u);
}

TEST(EngineStop, NothingIsReadAfterStopAndEveryPlayAndRecordingIsHandedBack) {
  auto dir = std::filesystem::temp_directory_path() / ("confab-stop-" + std::to_string(::getpid()));
  EngineConfig cfg;
  cfg.conference_rate = 16000;
  Engine e(cfg);
  auto port = e.add_room(1);
  TestLeg a(500), b(1000);
  e.add_leg({10, 1, pcmu(), a.addr, 0, true, true});
  e.add_leg({11, 1, pcmu(), b.addr, 0, true, true});
  auto loop = tone_clip("tone_stream://%(100,100,700)", 16000);
  auto music = tone_clip("tone_stream://%(100,100,900)", 16000);
  ASSERT_TRUE(e.play(1, 0, loop.get(), 1, true));
  ASSERT_TRUE(e.play(1, 10, loop.get(), 2, true));
  ASSERT_TRUE(e.set_hold_music(1, music.get(), 3));
  auto rec = e.record_start(1, 16000, dir / "r.wav");
  run_for(e, port, {&a, &b}, 20);
  e.stop();
  // The control thread may free the clips now: a shard still mixing would read freed memory
  // (AddressSanitizer would say so here).
  loop.reset();
  music.reset();
  wait_ms(100);
  std::set<std::uint64_t> played;
  e.poll([&](const EngineEvent& ev) {
    if (ev.type == EngineEvent::Type::played) played.insert(ev.ref);
  });
  EXPECT_EQ(played, (std::set<std::uint64_t>{1, 2, 3}));
  auto done = e.take_recordings();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0]->error().empty()) << done[0]->error();
  EXPECT_GT(done[0]->samples(), 16000u * 3 / 10);
  EXPECT_EQ(std::filesystem::file_size(dir / "r.wav"), 44 + done[0]->samples() * 2)
      << "the WAV header does not match its data: not finished";
  EXPECT_THROW(e.record_start(1, 16000, dir / "late.wav"), std::runtime_error);
  e.stop();  // idempotent
  std::filesystem::remove_all(dir);
}

TEST(EngineCommands, AFullCommandQueueDefersLeavesAndFlagsInOrderAndRefusesJoins) {
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  cfg.command_queue = 2;
  Engine e(cfg);
  auto port = e.add_room(1);
  TestLeg a(500), b(1000);
  wait_ms(30);
  ASSERT_TRUE(e.add_leg({10, 1, pcmu(), a.addr, 0, true, true}));
  wait_ms(30);
  ASSERT_TRUE(e.add_leg({11, 1, pcmu(), b.addr, 0, true, true}));
  run_for(e, port, {&a, &b}, 10);
  // A burst of 40 flag changes, the last one muting b, then b leaves: far more than the queue
  // holds between two ticks. None may be lost, and they must apply in order.
  for (int i = 0; i < 40; ++i) e.set_flags(1, 11, i % 2 == 1, true);
  e.set_flags(1, 11, false, true);
  EXPECT_GT(e.commands_waiting(), 0u);
  TestLeg c(1500);
  EXPECT_FALSE(e.add_leg({12, 1, pcmu(), c.addr, 0, true, true}))
      << "a join was queued behind deferred commands instead of being refused";
  e.remove_leg(1, 11);
  for (int i = 0; i < 50 && e.commands_waiting(); ++i) run_for(e, port, {&a, &b}, 1);
  EXPECT_EQ(e.commands_waiting(), 0u);
  EXPECT_GT(e.stats().commands_deferred, 30u);
  b.drain();
  b.heard.clear();
  a.heard.clear();
  run_for(e, port, {&a, &b}, 15);
  b.drain();
  EXPECT_TRUE(b.heard.empty()) << "the deferred remove_leg was lost: b still gets media";
  EXPECT_LT(goertzel(a.recent(), 1000), 60) << "b is still mixed";
}
