// Tones, prompts, hold music and recording: the tone-string parser, the recorder's file, and the
// engine over real loopback UDP, asserting on what each leg hears and what the file holds.
#include "media/recorder.hpp"
#include "media/tone.hpp"
#include "udp_leg.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

using namespace confab::media;
using namespace confab::media::test;

TEST(Tone, ParsesTeletoneStrings) {
  auto t = parse_tone(kDefaultEntryTone);
  ASSERT_EQ(t.segments.size(), 1u);
  EXPECT_EQ(t.segments[0].on_ms, 200);
  EXPECT_EQ(t.segments[0].freqs, (std::vector<int>{500, 600, 700}));
  // Kazoo's own entry tone, with directives we accept and ignore.
  t = parse_tone("tone_stream://v=-7;>=2;+=.1;%(300,0,523,659);v=-7;>=3;+=.1;%(800,0,659,783)");
  EXPECT_EQ(t.segments.size(), 2u);
  EXPECT_EQ(t.volume_db, -7);
  t = parse_tone("L=3;%(100,100,440)");
  EXPECT_EQ(t.loops, 3);
}

TEST(Tone, RefusesWhatIsNotATone) {
  for (const char* bad :
       {"", "tone_stream://", "%(abc,0,440)", "%(200)", "%(200,0,99999)", "%(200,0,440",
        "L=1000;%(1,1,440)", "%(60000,1,440)", "v=5;%(100,0,440)", "hello", "%(0,0,440)",
        "%(-5,0,440)", "%(100,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19)"}) {
    EXPECT_THROW(parse_tone(bad), std::invalid_argument) << bad;
  }
  try {
    parse_tone("%(200,0,99999)");
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("frequencies"), std::string::npos) << e.what();
  }
}

TEST(Tone, RendersTheFrequenciesForTheirDurations) {
  auto pcm = render_tone(parse_tone("L=2;%(250,250,440)"), 8000);
  ASSERT_EQ(pcm.size(), 2u * 4000u);
  std::span<const std::int16_t> on(pcm.data() + 200, 1600), off(pcm.data() + 2200, 1600);
  EXPECT_GT(goertzel(on, 440), 1000);
  EXPECT_LT(goertzel(on, 1000), 50);
  EXPECT_EQ(goertzel(off, 440), 0);
  // Above Nyquist at 8 kHz: left out rather than aliased.
  auto high = render_tone(parse_tone("%(100,0,6000)"), 8000);
  for (auto s : high) EXPECT_EQ(s, 0);
}

namespace {
std::vector<std::uint8_t> slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}
std::uint32_t le32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return b[at] | b[at + 1] << 8 | b[at + 2] << 16 | static_cast<std::uint32_t>(b[at + 3]) << 24;
}
std::vector<std::int16_t> samples_of(const std::vector<std::uint8_t>& wav) {
  std::vector<std::int16_t> out((wav.size() - 44) / 2);
  std::memcpy(out.data(), wav.data() + 44, out.size() * 2);
  return out;
}
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/confab-rec-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};
}  // namespace

namespace {
// Frames of 320 samples, frame i all of value i, into `rec`; `pause_ms` between them.
void write_frames(Recording& rec, int frames, int pause_ms) {
  std::vector<std::int16_t> frame(320);
  for (int i = 0; i < frames; ++i) {
    std::fill(frame.begin(), frame.end(), static_cast<std::int16_t>(i));
    rec.write(frame);
    if (pause_ms) std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
  }
}

std::vector<std::shared_ptr<Recording>> finished(Recorder& recorder) {
  std::vector<std::shared_ptr<Recording>> done;
  for (int i = 0; i < 400 && done.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    done = recorder.take_finished();
  }
  return done;
}

void check_header(const std::vector<std::uint8_t>& wav, std::uint32_t rate) {
  ASSERT_GE(wav.size(), 44u);
  EXPECT_EQ(std::string(wav.begin(), wav.begin() + 4), "RIFF");
  EXPECT_EQ(le32(wav, 24), rate);
  EXPECT_EQ(le32(wav, 40), wav.size() - 44);
  EXPECT_EQ(le32(wav, 4), wav.size() - 8);
}
}  // namespace

TEST(Recorder, WritesAValidWavOfEverythingWritten) {
  TempDir dir;
  auto file = dir.path / "sub" / "r.wav";
  {
    Recorder recorder(10);
    // The ring holds more than everything written: nothing may be dropped, whatever the
    // writer's timing, and the file must hold every frame, whole and in order.
    auto rec = std::make_shared<Recording>(file, 16000, 16384);
    recorder.add(rec);
    write_frames(*rec, 50, 2);
    rec->close();
    auto done = finished(recorder);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_TRUE(done[0]->error().empty()) << done[0]->error();
    EXPECT_EQ(done[0]->dropped(), 0u);
    EXPECT_EQ(done[0]->samples(), 50u * 320u);
  }
  auto wav = slurp(file);
  check_header(wav, 16000);
  auto s = samples_of(wav);
  ASSERT_EQ(s.size(), 50u * 320u);
  for (std::size_t i = 0; i < s.size(); ++i)
    ASSERT_EQ(s[i], static_cast<std::int16_t>(i / 320)) << "sample " << i;
}

TEST(Recorder, AWriterThatFallsBehindDropsWholeFramesAndCountsThem) {
  TempDir dir;
  auto file = dir.path / "r.wav";
  std::uint64_t kept = 0;
  {
    Recorder recorder(10'000);  // the writer sleeps through the writes: the ring fills
    auto rec = std::make_shared<Recording>(file, 8000, 1024);
    recorder.add(rec);
    write_frames(*rec, 50, 0);
    rec->close();
    recorder.stop();  // drains and finishes what it holds
    auto done = recorder.take_finished();
    ASSERT_EQ(done.size(), 1u);
    kept = done[0]->samples();
    EXPECT_EQ(kept + done[0]->dropped(), 50u * 320u);
    EXPECT_GT(done[0]->dropped(), 0u) << "a 1024-sample ring took 16000 samples undrained";
    EXPECT_GE(kept, 3u * 320u) << "the ring's first three frames were not kept";
    EXPECT_EQ(kept % 320, 0u) << "part of a frame was kept";
  }
  auto wav = slurp(file);
  check_header(wav, 8000);
  auto s = samples_of(wav);
  ASSERT_EQ(s.size(), kept);
  for (std::size_t i = 1; i < s.size(); ++i) EXPECT_GE(s[i], s[i - 1]);  // in order
}

TEST(Recorder, AFileThatCannotBeCreatedIsRefusedNamingIt) {
  try {
    Recording r("/proc/nope/r.wav", 8000, 1024);
    FAIL() << "created a file under /proc";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/proc/nope/r.wav"), std::string::npos);
  }
}

namespace {
Clip tone_clip(const char* tone, int rate) {
  Clip c;
  c.rate = rate;
  c.pcm = render_tone(parse_tone(tone), rate);
  return c;
}
bool has_played(const std::vector<EngineEvent>& events, std::uint64_t ref) {
  for (auto& e : events)
    if (e.type == EngineEvent::Type::played && e.ref == ref) return true;
  return false;
}
}  // namespace

TEST(EnginePlay, ARoomPlayIsHeardByEveryoneAndALegPlayByThatLegAlone) {
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  Engine e(cfg);
  auto port = e.add_room(1);
  TestLeg a(500), b(1000), c(0);
  e.add_leg({10, 1, pcmu(), a.addr, 0, true, true});
  e.add_leg({11, 1, pcmu(), b.addr, 0, true, true});
  e.add_leg({12, 1, pcmu(), c.addr, 0, true, true});
  run_for(e, port, {&a, &b, &c}, 10);

  auto room_tone = tone_clip("tone_stream://v=-20;%(600,0,2000)", 8000);
  std::vector<EngineEvent> events;
  ASSERT_TRUE(e.play(1, 0, &room_tone, 77));
  for (auto* l : {&a, &b, &c}) l->heard.clear();
  run_for(e, port, {&a, &b, &c}, 20, &events);
  for (auto* l : {&a, &b, &c}) {
    auto first = std::span(l->heard).first(std::min<std::size_t>(l->heard.size(), 3000));
    EXPECT_GT(goertzel(first, 2000), 600) << l->hz << " did not hear the room's tone";
  }
  EXPECT_GT(goertzel(c.recent(), 500), 600);  // the tone adds to the mix, it does not replace it
  run_for(e, port, {&a, &b, &c}, 15, &events);
  EXPECT_TRUE(has_played(events, 77)) << "no played event once the clip ended";
  c.heard.clear();
  run_for(e, port, {&a, &b, &c}, 15);
  EXPECT_LT(goertzel(c.recent(), 2000), 60) << "the tone goes on after its end";

  auto prompt = tone_clip("tone_stream://v=-20;%(2000,0,3000)", 8000);
  ASSERT_TRUE(e.play(1, 12, &prompt, 78));
  for (auto* l : {&a, &b, &c}) l->heard.clear();
  run_for(e, port, {&a, &b, &c}, 30);
  EXPECT_GT(goertzel(c.recent(), 3000), 600) << "c does not hear its prompt";
  EXPECT_GT(goertzel(c.recent(), 1000), 600) << "c's prompt hides the room";
  // (G.711 quantisation noise of a three-tone mix reaches ~70: "absent" is below 120.)
  EXPECT_LT(goertzel(a.recent(), 3000), 120) << "a hears c's prompt";
  EXPECT_LT(goertzel(b.recent(), 3000), 120) << "b hears c's prompt";

  // Removing the leg ends its play, and says so: the clip can then be freed.
  events.clear();
  e.remove_leg(1, 12);
  run_for(e, port, {&a, &b}, 5, &events);
  EXPECT_TRUE(has_played(events, 78));
}

TEST(EnginePlay, HeldLegsHearTheHoldMusicAndAreNotHeard) {
  EngineConfig cfg;
  cfg.conference_rate = 16000;
  Engine e(cfg);
  auto port = e.add_room(2);
  auto music = tone_clip("tone_stream://v=-20;%(1000,0,2500)", 16000);
  ASSERT_TRUE(e.set_hold_music(2, &music, 5));
  TestLeg a(500), b(1000), held(1500);
  e.add_leg({20, 2, pcmu(), a.addr, 0, true, true});
  e.add_leg({21, 2, pcmu(), b.addr, 0, true, true});
  LegSpec h{22, 2, pcmu(), held.addr, 0, false, false};
  h.held = true;
  e.add_leg(h);
  run_for(e, port, {&a, &b, &held}, 40);
  EXPECT_GT(goertzel(held.recent(), 2500), 600) << "no hold music";
  EXPECT_LT(goertzel(held.recent(), 500), 120) << "a held member hears the room";
  EXPECT_LT(goertzel(a.recent(), 1500), 60) << "a held member is heard";
  EXPECT_LT(goertzel(a.recent(), 2500), 60) << "the room hears the hold music";
  // Released (a moderator came): it hears the room and is heard, the music stops.
  e.set_flags(2, 22, true, true, false);
  for (auto* l : {&a, &b, &held}) l->heard.clear();
  run_for(e, port, {&a, &b, &held}, 40);
  EXPECT_GT(goertzel(held.recent(), 500), 600);
  EXPECT_LT(goertzel(held.recent(), 2500), 60);
  EXPECT_GT(goertzel(a.recent(), 1500), 600);
  std::vector<EngineEvent> events;
  e.remove_room(2);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  e.poll([&](const EngineEvent& ev) { events.push_back(ev); });
  EXPECT_TRUE(has_played(events, 5)) << "the hold music was not released with its room";
}

TEST(EngineRecord, TheFileHoldsTheRoomMixAtTheRoomRate) {
  TempDir dir;
  EngineConfig cfg;
  cfg.conference_rate = 48000;
  Engine e(cfg);
  auto port = e.add_room(3, 16000);  // the room's own rate, not the engine's default
  TestLeg a(500), b(1000);
  e.add_leg({30, 3, pcmu(), a.addr, 0, true, true});
  e.add_leg({31, 3, pcmu(), b.addr, 0, true, true});
  run_for(e, port, {&a, &b}, 10);
  EXPECT_GT(goertzel(a.recent(), 1000), 600) << "a 16 kHz room with G.711 legs does not mix";
  auto rec = e.record_start(3, 16000, dir.path / "rec" / "r.wav");
  run_for(e, port, {&a, &b}, 50);
  e.record_stop(3);
  std::vector<std::shared_ptr<Recording>> done;
  for (int i = 0; i < 100 && done.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    done = e.take_recordings();
  }
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0], rec);
  EXPECT_TRUE(rec->error().empty()) << rec->error();
  auto wav = slurp(dir.path / "rec" / "r.wav");
  ASSERT_GT(wav.size(), 44u);
  EXPECT_EQ(le32(wav, 24), 16000u);
  auto s = samples_of(wav);
  // About a second at 16 kHz (ticks, not wall-clock: 50 ticks give 50 frames, give or take).
  EXPECT_GT(s.size(), 16000u * 8 / 10);
  std::span<const std::int16_t> tail = std::span(s).last(8000);
  EXPECT_GT(goertzel(tail, 500, 16000), 600) << "a is not in the recording";
  EXPECT_GT(goertzel(tail, 1000, 16000), 600) << "b is not in the recording";
  EXPECT_THROW(e.record_start(3, 16000, "/proc/nope/x.wav"), std::runtime_error);
}

namespace {
// Waits for the engine's writer to finish `rec`; null when it did not within two seconds.
std::shared_ptr<Recording> wait_finished(Engine& e, const std::shared_ptr<Recording>& rec,
                                         std::uint16_t port, std::vector<TestLeg*> legs) {
  for (int i = 0; i < 100; ++i) {
    for (auto& r : e.take_recordings())
      if (r == rec) return r;
    run_for(e, port, legs, 1);
  }
  return nullptr;
}
}  // namespace

TEST(EngineRecordLeg, TheFileHoldsWhatThatLegSentAndNothingOfTheMix) {
  TempDir dir;
  Clip tone = tone_clip("tone_stream://v=-20;%(5000,0,2000)", 16000);  // outlives the engine
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  Engine e(cfg);
  auto port = e.add_room(5, 16000);  // G.711 legs: it mixes at 8 kHz, its nominal rate is 16
  TestLeg a(500), b(1000), c(0);
  e.add_leg({50, 5, pcmu(), a.addr, 0, true, true});
  e.add_leg({51, 5, pcmu(), b.addr, 0, true, true});
  e.add_leg({52, 5, pcmu(), c.addr, 0, true, true});
  ASSERT_TRUE(e.play(5, 0, &tone, 1));      // the room hears a tone: not a's
  ASSERT_TRUE(e.set_volume(5, 50, -4, 0));  // what a sends, not what the room hears of it
  run_for(e, port, {&a, &b, &c}, 10);
  auto rec = e.record_leg_start(5, 50, 0, dir.path / "name.wav", 10'000);
  run_for(e, port, {&a, &b, &c}, 50);
  EXPECT_GT(goertzel(a.recent(), 2000), 300) << "the room tone does not play";
  e.record_leg_stop(5, 50);
  ASSERT_EQ(wait_finished(e, rec, port, {&a, &b, &c}), rec) << "not finished after stop";
  EXPECT_TRUE(rec->error().empty()) << rec->error();
  auto wav = slurp(dir.path / "name.wav");
  check_header(wav, 16000);  // the room's nominal rate
  auto s = samples_of(wav);
  EXPECT_GT(s.size(), 16000u * 8 / 10) << "about a second (50 ticks)";
  EXPECT_EQ(s.size(), rec->samples());
  auto tail = std::span<const std::int16_t>(s).last(8000);
  EXPECT_GT(goertzel(tail, 500, 16000), 2400) << "a's tone, at the level it sent (~3000)";
  EXPECT_LT(goertzel(tail, 1000, 16000), 30) << "b is in a's recording";
  EXPECT_LT(goertzel(tail, 2000, 16000), 30) << "the room's tone is in a's recording";
  e.stop_play(5, 0);
}

TEST(EngineRecordLeg, AnIvrPhaseLegIsRecordedUntilMaxMsAndALegLeavingEndsIt) {
  TempDir dir;
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  Engine e(cfg);
  auto port = e.add_room(6);
  TestLeg talker(1000), caller(700);
  e.add_leg({60, 6, pcmu(), talker.addr, 0, true, true});
  e.add_leg({61, 6, pcmu(), caller.addr, 0, false, false});  // in the IVR: not decoded so far
  run_for(e, port, {&talker, &caller}, 10);
  // 300 ms at 8 kHz: exactly 2,400 samples, finished without a stop.
  auto rec = e.record_leg_start(6, 61, 8000, dir.path / "short.wav", 300);
  run_for(e, port, {&talker, &caller}, 30);
  ASSERT_EQ(wait_finished(e, rec, port, {&talker, &caller}), rec) << "max_ms did not end it";
  auto s = samples_of(slurp(dir.path / "short.wav"));
  ASSERT_EQ(s.size(), 2400u);
  // Its jitter buffer starts when the recording does: the first frames may be silence.
  auto last = std::span<const std::int16_t>(s).last(1200);
  EXPECT_GT(goertzel(last, 700), 2400) << "the caller is not in its recording";
  EXPECT_LT(goertzel(last, 1000), 30) << "the room is in the caller's recording";
  EXPECT_LT(goertzel(talker.recent(), 700), 60) << "recording made the IVR leg heard";

  // The leg leaving ends the next one.
  auto gone = e.record_leg_start(6, 61, 16000, dir.path / "gone.wav", 60'000);
  run_for(e, port, {&talker, &caller}, 20);
  e.remove_leg(6, 61);
  ASSERT_EQ(wait_finished(e, gone, port, {&talker}), gone) << "the leg left, the file is open";
  auto g = samples_of(slurp(dir.path / "gone.wav"));
  EXPECT_GT(g.size(), 16000u * 3 / 10);
  EXPECT_GT(goertzel(std::span<const std::int16_t>(g).last(3200), 700, 16000), 2400);

  // Nobody to record: an empty file at once.
  auto none = e.record_leg_start(6, 999, 0, dir.path / "none.wav", 1000);
  ASSERT_EQ(wait_finished(e, none, port, {&talker}), none);
  EXPECT_EQ(none->samples(), 0u);
}

TEST(EngineRecordLeg, RefusesABadRateOrLengthAndAFileItCannotCreate) {
  TempDir dir;
  auto file = dir.path / "x.wav";
  Engine e(EngineConfig{});
  e.add_room(7);
  EXPECT_THROW(e.record_leg_start(7, 1, 44100, file, 1000), std::invalid_argument);
  EXPECT_THROW(e.record_leg_start(7, 1, 0, file, 0), std::invalid_argument);
  EXPECT_THROW(e.record_leg_start(7, 1, 0, file, Engine::kMaxLegRecordMs + 1),
               std::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(file)) << "a refused recording left its file";
  EXPECT_THROW(e.record_leg_start(7, 1, 8000, "/proc/nope/x.wav", 1000), std::runtime_error);
}
