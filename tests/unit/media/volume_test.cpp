// Per-leg volume steps (Engine::set_volume, FreeSWITCH's `vol talk` / `vol listen`), over real
// loopback UDP, judged on the signal: each step is 3 dB of what the leg sends into the mix
// (talk) or of everything it hears (listen), within 1 dB, and nobody else's levels move.
#include "media/tone.hpp"
#include "udp_leg.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace confab::media;
using namespace confab::media::test;

namespace {

double db(double level, double reference) {
  return 20 * std::log10(level / reference);
}

// Levels of `hz` the leg hears over `frames` ticks once `settle` ticks have passed.
struct Heard {
  double a = 0, b = 0;
};

Heard measure(Engine& e, std::uint16_t port, std::vector<TestLeg*> legs, TestLeg& ear, double a,
              double b) {
  run_for(e, port, legs, 10);  // the command applied, the jitter buffers steady
  ear.heard.clear();
  run_for(e, port, legs, 25);
  return {goertzel(ear.recent(), a), goertzel(ear.recent(), b)};
}

LegSpec leg(std::uint64_t id, std::uint64_t room, const TestLeg& t, bool speak) {
  return {id, room, pcmu(), t.addr, 0, speak, true};
}

}  // namespace

TEST(EngineVolume, TalkStepsScaleWhatTheLegSendsIntoTheMixByThreeDbEachClamped) {
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  Engine e(cfg);
  auto port = e.add_room(1);
  // Quiet enough that +12 dB of one talker plus the other stays below the limiter's ceiling.
  TestLeg a(500, 2000), b(1000, 2000), ear(0);
  e.add_leg(leg(10, 1, a, true));
  e.add_leg(leg(11, 1, b, true));
  e.add_leg(leg(12, 1, ear, false));
  std::vector<TestLeg*> all{&a, &b, &ear};
  auto base = measure(e, port, all, ear, 500, 1000);
  ASSERT_GT(base.a, 300) << "the listener does not hear a";
  ASSERT_GT(base.b, 300) << "the listener does not hear b";

  // {asked, applied}: outside -4..+4 is clamped.
  for (auto [asked, applied] : {std::pair{2, 2}, {-3, -3}, {4, 4}, {9, 4}, {-1, -1}, {-7, -4}}) {
    ASSERT_TRUE(e.set_volume(1, 10, asked, 0));
    auto now = measure(e, port, all, ear, 500, 1000);
    EXPECT_NEAR(db(now.a, base.a), 3.0 * applied, 1.0) << "talk " << asked;
    EXPECT_NEAR(db(now.b, base.b), 0.0, 1.0) << "b moved with a's talk " << asked;
  }
  ASSERT_TRUE(e.set_volume(1, 10, 0, 0));
  auto back = measure(e, port, all, ear, 500, 1000);
  EXPECT_NEAR(db(back.a, base.a), 0.0, 1.0) << "level 0 is not unity again";
}

TEST(EngineVolume, ListenStepsScaleWhatThatLegHearsAloneAndOnlyItLosesTheSharedEncode) {
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  Engine e(cfg);
  auto port = e.add_room(2);
  TestLeg a(500, 2000), b(1000, 2000), ear(0), other(0);
  e.add_leg(leg(20, 2, a, true));
  e.add_leg(leg(21, 2, b, true));
  e.add_leg(leg(22, 2, ear, false));    // muted listeners: never speakers, so they share
  e.add_leg(leg(23, 2, other, false));  // their group's encode while their level is 0
  std::vector<TestLeg*> all{&a, &b, &ear, &other};
  auto base = measure(e, port, all, ear, 500, 1000);
  auto base_other = Heard{goertzel(other.recent(), 500), goertzel(other.recent(), 1000)};
  auto base_a = goertzel(a.recent(), 1000);
  ASSERT_GT(base.a, 300);
  ASSERT_GT(base_other.b, 300);

  auto encodes_per_tick = [&] {
    run_for(e, port, all, 5);
    auto s0 = e.stats();
    run_for(e, port, all, 25);
    auto s1 = e.stats();
    return double(s1.encodes - s0.encodes) / double(s1.ticks - s0.ticks);
  };
  double shared = encodes_per_tick();  // a's and b's mix-minus, one for both listeners

  for (int level : {-2, 3, -4, 1}) {
    ASSERT_TRUE(e.set_volume(2, 22, 0, level));
    auto now = measure(e, port, all, ear, 500, 1000);
    EXPECT_NEAR(db(now.a, base.a), 3.0 * level, 1.0) << "listen " << level << ", a";
    EXPECT_NEAR(db(now.b, base.b), 3.0 * level, 1.0) << "listen " << level << ", b";
    EXPECT_NEAR(db(goertzel(other.recent(), 500), base_other.a), 0.0, 1.0)
        << "the other listener's level moved with listen " << level;
    EXPECT_NEAR(db(goertzel(a.recent(), 1000), base_a), 0.0, 1.0) << "a speaker's level moved";
  }
  // One more encode a tick: the scaled listener's own; the other listener still shares.
  EXPECT_NEAR(encodes_per_tick() - shared, 1.0, 0.25);
  ASSERT_TRUE(e.set_volume(2, 22, 0, 0));
  auto back = measure(e, port, all, ear, 500, 1000);
  EXPECT_NEAR(db(back.a, base.a), 0.0, 1.0);
  EXPECT_NEAR(encodes_per_tick(), shared, 0.25) << "level 0 did not go back to sharing";
}

TEST(EngineVolume, ListenScalesAHeldLegsMusicAndALegsOwnPrompt) {
  Clip music;
  music.rate = 8000;
  music.pcm = render_tone(parse_tone("tone_stream://v=-24;%(1000,0,2500)"), 8000);
  Clip prompt;
  prompt.rate = 8000;
  prompt.pcm = render_tone(parse_tone("tone_stream://v=-24;%(1000,0,3000)"), 8000);
  EngineConfig cfg;  // after the clips: they outlive the engine
  cfg.conference_rate = 8000;
  Engine e(cfg);
  auto port = e.add_room(3);
  ASSERT_TRUE(e.set_hold_music(3, &music, 1));
  TestLeg held(0), talker(500, 2000), ear(0);
  LegSpec h{30, 3, pcmu(), held.addr, 0, false, false};
  h.held = true;
  e.add_leg(h);
  e.add_leg(leg(31, 3, talker, true));
  e.add_leg(leg(32, 3, ear, false));
  std::vector<TestLeg*> all{&held, &talker, &ear};
  auto music0 = measure(e, port, all, held, 2500, 500);
  ASSERT_GT(music0.a, 100) << "no hold music";
  ASSERT_TRUE(e.set_volume(3, 30, 0, -3));
  auto music1 = measure(e, port, all, held, 2500, 500);
  EXPECT_NEAR(db(music1.a, music0.a), -9.0, 1.0) << "the hold music is not scaled";
  EXPECT_LT(music1.b, 60) << "a held leg hears the room";

  ASSERT_TRUE(e.play(3, 32, &prompt, 2, true));
  auto prompt0 = measure(e, port, all, ear, 3000, 500);
  ASSERT_GT(prompt0.a, 100) << "no prompt";
  ASSERT_TRUE(e.set_volume(3, 32, 0, 2));
  auto prompt1 = measure(e, port, all, ear, 3000, 500);
  EXPECT_NEAR(db(prompt1.a, prompt0.a), 6.0, 1.0) << "the leg's prompt is not scaled";
  EXPECT_NEAR(db(prompt1.b, prompt0.b), 6.0, 1.0) << "the room under the prompt is not scaled";
}
