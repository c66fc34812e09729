// A room mixes at the highest rate its legs' codecs use, up to its nominal rate: an all-G.711 room
// does not pay for 48 kHz. Switching when a wider codec joins (and back when it leaves) costs at
// most a frame of what anyone hears; prompts and recordings stay at the nominal rate.
#include "media/tone.hpp"
#include "udp_leg.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

using namespace confab::media;
using namespace confab::media::test;

namespace {
Negotiated g722() {
  Negotiated n;
  n.codec = Codec::g722;
  n.pt = 9;
  n.clock = 8000;
  return n;
}

// Samples per tick the engine mixed over `frames` ticks of legs talking, once the room has made
// `changes` rate changes in all (a busy machine may apply the last command some ticks late).
double mixed_per_tick(Engine& e, std::uint16_t port, std::vector<TestLeg*> legs, int frames,
                      std::uint64_t changes) {
  for (int i = 0; i < 250 && e.stats().rate_changes < changes; ++i) run_for(e, port, legs, 1);
  run_for(e, port, legs, 1);  // the tick that made the change is not in the window
  auto before = e.stats();
  run_for(e, port, legs, frames);
  auto after = e.stats();
  return double(after.mixed_samples - before.mixed_samples) / double(after.ticks - before.ticks);
}

// The longest run of samples below 1/16 of `amp`: a dropout (a 500 Hz tone never stays that low
// for more than a sample or two).
std::size_t longest_gap(std::span<const std::int16_t> x, double amp) {
  std::size_t run = 0, worst = 0;
  for (auto v : x) {
    run = std::abs(v) < amp / 16 ? run + 1 : 0;
    worst = std::max(worst, run);
  }
  return worst;
}

Clip tone_clip(const char* tone, int rate) {
  Clip c;
  c.rate = rate;
  c.pcm = render_tone(parse_tone(tone), rate);
  return c;
}
}  // namespace

TEST(RoomRate, AG711RoomMixesAt8kAndGoesUpAndDownWithAWidebandLegWithoutADropout) {
  EngineConfig cfg;
  cfg.conference_rate = 48000;
  Engine e(cfg);
  auto port = e.add_room(1);  // nominal 48 kHz
  TestLeg talker(500), listener(0);
  e.add_leg({10, 1, pcmu(), talker.addr, 0, true, true});
  e.add_leg({11, 1, pcmu(), listener.addr, 0, true, true});
  // (Counters are read while the shard runs: a tick's samples may be in before its count.)
  EXPECT_NEAR(mixed_per_tick(e, port, {&talker, &listener}, 20, 1), 160.0, 8.0)
      << "not mixed at 8 kHz";
  TestLeg wide(0);  // a G.722 leg (it sends nothing we decode; what matters is its codec)
  e.add_leg({12, 1, g722(), wide.addr, 0, true, true});
  EXPECT_NEAR(mixed_per_tick(e, port, {&talker, &listener}, 20, 2), 320.0, 8.0)
      << "a G.722 leg did not take the room to 16 kHz";
  e.remove_leg(1, 12);
  EXPECT_NEAR(mixed_per_tick(e, port, {&talker, &listener}, 20, 3), 160.0, 8.0)
      << "the room stayed at 16 kHz once its only G.722 leg left";
  EXPECT_EQ(e.stats().rate_changes, 3u);  // 48 -> 8 (first leg), 8 -> 16, 16 -> 8
  // The listener heard the talker all along: no gap of half a frame, switches included.
  auto heard = std::span<const std::int16_t>(listener.heard);
  ASSERT_GT(heard.size(), 8000u);
  auto start = heard.subspan(1000);  // from once the talker's stream is going
  EXPECT_LT(longest_gap(start, 6000 * 0.85), 80u) << "a dropout longer than 10 ms at a switch";
  EXPECT_GT(goertzel(listener.recent(), 500), 600);
}

TEST(RoomRate, PromptsAndRecordingsStayAtTheNominalRate) {
  auto dir = std::filesystem::temp_directory_path() / ("confab-rate-" + std::to_string(::getpid()));
  EngineConfig cfg;
  cfg.conference_rate = 48000;
  Engine e(cfg);
  auto port = e.add_room(2);
  TestLeg talker(500), listener(0), wide(0);
  e.add_leg({20, 2, pcmu(), talker.addr, 0, true, true});
  e.add_leg({21, 2, pcmu(), listener.addr, 0, true, true});
  auto rec = e.record_start(2, 48000, dir / "r.wav");
  run_for(e, port, {&talker, &listener}, 25);
  // A prompt made at 48 kHz (the nominal rate) is heard in the 8 kHz mix, at its pitch.
  auto prompt = tone_clip("tone_stream://v=-12;%(400,0,2000)", 48000);
  ASSERT_TRUE(e.play(2, 0, &prompt, 7));
  listener.heard.clear();
  run_for(e, port, {&talker, &listener}, 15);
  auto first = std::span<const std::int16_t>(listener.heard).first(2400);
  EXPECT_GT(goertzel(first, 2000), 300) << "a 48 kHz prompt is not heard in an 8 kHz mix";
  e.add_leg({22, 2, g722(), wide.addr, 0, true, true});  // up to 16 kHz mid-recording
  run_for(e, port, {&talker, &listener}, 25);
  e.remove_leg(2, 22);
  run_for(e, port, {&talker, &listener}, 25);
  e.record_stop(2);
  std::vector<std::shared_ptr<Recording>> done;
  for (int i = 0; i < 100 && done.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    done = e.take_recordings();
  }
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0], rec);
  EXPECT_EQ(rec->rate(), 48000);
  std::ifstream f(dir / "r.wav", std::ios::binary);
  std::vector<std::uint8_t> wav{std::istreambuf_iterator<char>(f), {}};
  ASSERT_GT(wav.size(), 44u + 48000u * 2);
  std::vector<std::int16_t> s((wav.size() - 44) / 2);
  std::memcpy(s.data(), wav.data() + 44, s.size() * 2);
  // About 90 ticks of 960 samples: the recording kept its rate through both switches.
  EXPECT_GT(s.size(), 960u * 80);
  EXPECT_LT(s.size(), 960u * 100);
  auto tail = std::span<const std::int16_t>(s).last(24000);
  EXPECT_GT(goertzel(tail, 500, 48000), 600) << "the talker is not in the recording";
  // From the talker's first sound on, the recording never drops out for 10 ms (480 samples).
  std::size_t from = 0;
  while (from < s.size() && std::abs(s[from]) < 3000) ++from;
  ASSERT_LT(from, s.size());
  EXPECT_LT(longest_gap(std::span<const std::int16_t>(s).subspan(from + 4800), 6000 * 0.85), 480u)
      << "the recording drops out at a rate switch";
  std::filesystem::remove_all(dir);
}

namespace {
// A G.711 stream of `spp` samples a packet, paced in real time, from `l` to the engine.
void stream_odd_packets(TestLeg& l, TestLeg& listener, std::uint16_t port, std::size_t spp,
                        double seconds) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto start = std::chrono::steady_clock::now();
  auto packets = static_cast<int>(seconds * 8000 / static_cast<double>(spp));
  std::vector<std::uint8_t> pkt(12 + spp);
  for (int k = 0; k < packets; ++k) {
    write_rtp_header(pkt, 0, k == 0, l.seq++, l.ts, l.ssrc());
    l.ts += static_cast<std::uint32_t>(spp);
    for (std::size_t i = 0; i < spp; ++i)
      pkt[12 + i] = g711::linear_to_ulaw(
          static_cast<std::int16_t>(6000 * std::sin(2 * std::numbers::pi * l.hz * l.t++ / 8000)));
    ::sendto(l.fd, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    std::this_thread::sleep_until(
        start + std::chrono::microseconds(static_cast<long>((k + 1) * spp * 125)));
    listener.drain();
  }
}
}  // namespace

TEST(RoomRate, PacketsThatAreNotOneFrameLongAreHeardWhole) {
  // ffmpeg sends G.711 in packets of 170 samples (21.25 ms); phones may use 10 or 30 ms. In a
  // room mixing at the codec's own rate (no resampler to absorb it), each tick must still take
  // exactly one frame of the stream: dropping the 10 samples a 170-sample packet has over a
  // frame shifts a 1 kHz tone's phase by 90 degrees every 20 ms, which Goertzel sees as loss.
  for (std::size_t spp : {170u, 80u, 240u}) {
    EngineConfig cfg;
    cfg.conference_rate = 8000;
    Engine e(cfg);
    auto port = e.add_room(1);
    TestLeg talker(1000), listener(0);
    e.add_leg({10, 1, pcmu(), talker.addr, 0, true, true});
    e.add_leg({11, 1, pcmu(), listener.addr, 0, true, true});
    stream_odd_packets(talker, listener, port, spp, 1.5);
    listener.drain();
    ASSERT_GT(listener.heard.size(), 4000u) << spp;
    // A steady 6000 tone reads 3000. With 10 ms
    // packets the jitter buffer, one packet deep, waits whenever a loaded machine delays the
    // sender (1,460 measured under ctest -j2). Truncated 170-sample packets read ~100 (the
    // phase turns a quarter every frame), packets shorter than a frame 0 (never mixed).
    EXPECT_GT(goertzel(listener.recent(), 1000), 1000) << spp << " samples a packet";
  }
}
