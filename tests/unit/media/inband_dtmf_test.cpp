// In-band DTMF on the engine (LegSpec::inband_dtmf) over real loopback UDP: keypad tones in a
// leg's audio become the same `dtmf` events RFC 4733 telephone-events do, in G.711 and G.722;
// speech and music make none; a key sent both ways is reported once. And an IVR-phase leg
// (speak=false, hear=false) still hears its own prompts, reports its keys, and is heard by no one.
#include "media/tone.hpp"
#include "signals.hpp"
#include "udp_leg.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <string_view>

using namespace confab::media;
using namespace confab::media::test;

namespace {

constexpr std::string_view kAllKeys = "0123456789*#ABCD";  // RFC 4733's event order

// Appends PCM at `rate`: `ms` of key `k` (each tone's peak at `db` dBFS), or of silence for 0.
void append_key(std::vector<std::int16_t>& pcm, int rate, char k, int ms, double db = -10) {
  const double a = 32768 * std::pow(10, db / 20);
  for (int i = 0; i < rate * ms / 1000; ++i) {
    double t = double(i) / rate, v = 0;
    if (k)
      v = a * (std::sin(2 * std::numbers::pi * row_of(k) * t) +
               std::sin(2 * std::numbers::pi * col_of(k) * t));
    pcm.push_back(static_cast<std::int16_t>(std::lround(v)));
  }
}

std::vector<std::int16_t> keys_pcm(std::string_view keys, int rate, int on_ms, int off_ms) {
  std::vector<std::int16_t> pcm;
  append_key(pcm, rate, 0, 200);
  for (char k : keys) {
    append_key(pcm, rate, k, on_ms);
    append_key(pcm, rate, 0, off_ms);
  }
  return pcm;
}

// Voiced speech: a glottal buzz (harmonics falling 1/h) through three formants, pitch gliding,
// vowels changing every 150 ms and a syllable envelope; near keypad frequencies on purpose.
std::vector<std::int16_t> speech_pcm(int rate, int ms) {
  struct Vowel {
    double f1, f2, f3;
  };
  const Vowel vowels[] = {{700, 1220, 2600}, {300, 2300, 3000}, {350, 850, 2400},
                          {600, 1000, 2500}, {500, 1500, 2500}, {770, 1340, 2500}};
  std::vector<std::int16_t> pcm;
  double phase = 0;
  for (int i = 0; i < rate * ms / 1000; ++i) {
    double t = double(i) / rate;
    const auto& v = vowels[static_cast<std::size_t>(t / 0.15) % std::size(vowels)];
    double f0 = 110 + 40 * std::sin(2 * std::numbers::pi * 0.7 * t);
    phase += 2 * std::numbers::pi * f0 / rate;
    double y = formant_voice(phase, f0, v.f1, v.f2, v.f3, rate);
    double envelope = 0.55 + 0.45 * std::sin(2 * std::numbers::pi * 4 * t);
    pcm.push_back(static_cast<std::int16_t>(std::clamp(7000 * y * envelope, -32000.0, 32000.0)));
  }
  return pcm;
}

// Music: two voices (a melody over a bass) of plucked notes with five harmonics, and chords;
// the notes include F5 (698 Hz, on the first row tone) and E5, whose harmonic is near 1336 Hz.
std::vector<std::int16_t> music_pcm(int rate, int ms) {
  const double melody[] = {523.3, 587.3, 659.3, 698.5, 784.0, 880.0, 987.8, 1046.5,
                           987.8, 880.0, 784.0, 698.5, 659.3, 587.3, 523.3, 659.3};
  const double bass[] = {130.8, 174.6, 196.0, 130.8};
  std::vector<std::int16_t> pcm;
  for (int i = 0; i < rate * ms / 1000; ++i) {
    double t = double(i) / rate;
    double note_t = std::fmod(t, 0.2), bar_t = std::fmod(t, 0.8);
    double m = melody[static_cast<std::size_t>(t / 0.2) % std::size(melody)];
    double b = bass[static_cast<std::size_t>(t / 0.8) % std::size(bass)];
    double y = 0;
    for (int h = 1; h <= 5; ++h) {
      y += std::exp(-6 * note_t) / h * std::sin(2 * std::numbers::pi * m * h * t);
      y += 0.8 * std::exp(-2 * bar_t) / h * std::sin(2 * std::numbers::pi * b * h * t);
      y += 0.5 * std::exp(-2 * bar_t) / h * std::sin(2 * std::numbers::pi * b * 1.25 * h * t);
    }
    pcm.push_back(static_cast<std::int16_t>(std::clamp(5000 * y, -32000.0, 32000.0)));
  }
  return pcm;
}

LegSpec inband_leg(std::uint64_t id, std::uint64_t room, const TestLeg& t, bool speak = true) {
  LegSpec s{id, room, t.codec, t.addr, 0, speak, speak};
  s.inband_dtmf = true;
  return s;
}

// The keys each leg reported, in order.
std::map<std::uint64_t, std::string> keys_of(const std::vector<EngineEvent>& events) {
  std::map<std::uint64_t, std::string> keys;
  for (auto& e : events)
    if (e.type == EngineEvent::Type::dtmf) keys[e.leg] += static_cast<char>(e.value);
  return keys;
}

int frames_of(const TestLeg& l) {
  return static_cast<int>(l.script.size() / static_cast<std::size_t>(l.rate() / 50)) + 1;
}

}  // namespace

TEST(EngineInbandDtmf, EverySixteenKeysOnceOverPcmuPcmaAndG722) {
  EngineConfig cfg;
  cfg.conference_rate = 16000;
  Engine e(cfg);
  auto port = e.add_room(1);
  TestLeg u(0, 0, negotiated(Codec::pcmu)), a(0, 0, negotiated(Codec::pcma)),
      g(0, 0, negotiated(Codec::g722)), plain(0, 0, negotiated(Codec::pcmu));
  for (auto* l : {&u, &a, &g, &plain}) l->script = keys_pcm(kAllKeys, l->rate(), 100, 100);
  e.add_leg(inband_leg(10, 1, u));
  e.add_leg(inband_leg(11, 1, a));
  e.add_leg(inband_leg(12, 1, g));
  e.add_leg({13, 1, plain.codec, plain.addr, 0, true, true});  // did not ask: finds nothing
  std::vector<EngineEvent> events;
  run_for(e, port, {&u, &a, &g, &plain}, frames_of(u) + 25, &events);
  auto keys = keys_of(events);
  EXPECT_EQ(keys[10], kAllKeys) << "PCMU";
  EXPECT_EQ(keys[11], kAllKeys) << "PCMA";
  EXPECT_EQ(keys[12], kAllKeys) << "G.722";
  EXPECT_EQ(keys.count(13), 0u) << "a leg without inband_dtmf reported " << keys[13];
  EXPECT_EQ(e.stats().dtmf_inband, 3 * kAllKeys.size());
}

TEST(EngineInbandDtmf, SpeechAndMusicMakeNoKeys) {
  EngineConfig cfg;
  cfg.conference_rate = 16000;
  Engine e(cfg);
  auto port = e.add_room(2);
  TestLeg u(0, 0, negotiated(Codec::pcmu)), a(0, 0, negotiated(Codec::pcma)),
      g(0, 0, negotiated(Codec::g722));
  u.script = speech_pcm(8000, 2000);
  auto music = music_pcm(8000, 2000);
  u.script.insert(u.script.end(), music.begin(), music.end());
  a.script = music_pcm(8000, 2000);
  auto speech = speech_pcm(8000, 2000);
  a.script.insert(a.script.end(), speech.begin(), speech.end());
  g.script = speech_pcm(16000, 2000);
  auto wide = music_pcm(16000, 2000);
  g.script.insert(g.script.end(), wide.begin(), wide.end());
  e.add_leg(inband_leg(20, 2, u));
  e.add_leg(inband_leg(21, 2, a));
  e.add_leg(inband_leg(22, 2, g));
  std::vector<EngineEvent> events;
  run_for(e, port, {&u, &a, &g}, frames_of(u) + 5, &events);
  for (auto& [leg, keys] : keys_of(events)) ADD_FAILURE() << "leg " << leg << " reported " << keys;
  // The signals were heard (decoded and mixed): the legs talked.
  int talking = 0;
  for (auto& ev : events) talking += ev.type == EngineEvent::Type::talking;
  EXPECT_GE(talking, 3);
}

namespace {
// A key sent both ways: its tone in the audio from frame `tone_at`, and RFC 4733 packets from
// frame `event_at` (every 20 ms, then the end packet three times), over `frames` frames each.
struct Press {
  char key;
  int tone_at, event_at, frames;
};

void run_presses(Engine& e, std::uint16_t port, TestLeg& leg, TestLeg& ear,
                 const std::vector<Press>& presses, int total, std::vector<EngineEvent>& events) {
  const int rate = leg.rate(), n = rate / 50;
  leg.script.assign(static_cast<std::size_t>(total * n), 0);
  for (auto& p : presses) {
    std::vector<std::int16_t> tone;
    append_key(tone, rate, p.key, 20 * p.frames);
    std::copy(tone.begin(), tone.end(), leg.script.begin() + p.tone_at * n);
  }
  const std::uint32_t ts0 = leg.ts;
  const auto step = static_cast<std::uint32_t>(rtp_increment(leg.codec.codec, 20));
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < total; ++i) {
    leg.send(port);
    ear.send(port);
    for (auto& p : presses) {
      auto ev = static_cast<std::uint8_t>(kAllKeys.find(p.key));
      auto begin = ts0 + static_cast<std::uint32_t>(p.event_at) * step;
      int k = i - p.event_at;
      if (k >= 0 && k < p.frames)
        leg.send_event(port, ev, begin, static_cast<std::uint16_t>((k + 1) * step), false);
      if (k == p.frames)
        for (int r = 0; r < 3; ++r)
          leg.send_event(port, ev, begin, static_cast<std::uint16_t>(p.frames * step), true);
    }
    std::this_thread::sleep_until(start + std::chrono::milliseconds(20 * (i + 1)));
    leg.drain();
    ear.drain();
    e.poll([&](const EngineEvent& ev) { events.push_back(ev); });
  }
}
}  // namespace

TEST(EngineInbandDtmf, AKeySentAsAnEventAndAsATonesIsReportedOnce) {
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  Engine e(cfg);
  auto port = e.add_room(3);
  for (auto codec : {Codec::pcmu, Codec::g722}) {
    SCOPED_TRACE(codec_name(codec));
    // A phone that keeps its audio (with the tone in it) going while it sends the events, in
    // one sequence space as RFC 4733 has it.
    TestLeg phone(0, 0, negotiated(codec)), ear(0);
    auto id = codec == Codec::pcmu ? 30u : 31u;
    e.add_leg(inband_leg(id, 3, phone));
    e.add_leg({id + 10, 3, pcmu(), ear.addr, 0, true, true});
    std::vector<EngineEvent> events;
    auto before = e.stats();
    run_presses(e, port, phone, ear,
                {{'5', 10, 10, 8},  // at once
                 {'9', 45, 45, 8},
                 {'#', 80, 80, 8},
                 {'3', 115, 121, 8},    // the event 120 ms after the tone (a relaying gateway)
                 {'7', 170, 1000, 8}},  // tone only, well after the last event: heard in-band
                230, events);
    EXPECT_EQ(keys_of(events)[id], "59#37");
    auto after = e.stats();
    // The tone was found in the audio each time: first for 3 and 7 (reported), after the event
    // for 5, 9 and # (not reported), and the event for 3 came after it (not reported).
    EXPECT_EQ(after.dtmf_inband - before.dtmf_inband, 2u);
    // (More when a loaded machine delays a packet mid-tone and the tone is found twice.)
    EXPECT_GE(after.dtmf_duplicates - before.dtmf_duplicates, 4u);
    e.remove_leg(3, id);
    e.remove_leg(3, id + 10);
  }
}

TEST(EngineInbandDtmf, AnIvrPhaseLegHearsOnlyItsPromptReportsKeysAndIsHeardByNoOne) {
  Clip prompt;  // before the engine: it outlives it
  prompt.rate = 8000;
  prompt.pcm = render_tone(parse_tone("tone_stream://v=-20;%(4000,0,2500)"), 8000);
  EngineConfig cfg;
  cfg.conference_rate = 8000;
  Engine e(cfg);
  auto port = e.add_room(4);
  TestLeg a(500), b(1000), caller(1500, 6000, negotiated(Codec::pcmu));
  e.add_leg({40, 4, pcmu(), a.addr, 0, true, true});
  e.add_leg({41, 4, pcmu(), b.addr, 0, true, true});
  e.add_leg(inband_leg(42, 4, caller, false));  // speak=false, hear=false: in the IVR
  ASSERT_TRUE(e.play(4, 42, &prompt, 9));
  // It types 4 as a tone, then 8 as an RFC 4733 event, under its 1500 Hz voice.
  std::vector<std::int16_t> pcm;
  append_key(pcm, 8000, 0, 400);
  append_key(pcm, 8000, '4', 100);
  caller.script = pcm;
  std::vector<EngineEvent> events;
  run_for(e, port, {&a, &b, &caller}, 40, &events);
  for (int k = 0; k < 5; ++k)
    caller.send_event(port, 8, 12345, static_cast<std::uint16_t>(160 * k), k == 4);
  run_for(e, port, {&a, &b, &caller}, 10, &events);
  EXPECT_EQ(keys_of(events)[42], "48");

  EXPECT_GT(goertzel(caller.recent(), 2500), 600) << "the caller does not hear its prompt";
  EXPECT_LT(goertzel(caller.recent(), 500), 60) << "the caller hears the room";
  EXPECT_LT(goertzel(caller.recent(), 1000), 60) << "the caller hears the room";
  for (auto* l : {&a, &b}) {
    EXPECT_LT(goertzel(l->recent(), 1500), 60) << l->hz << " hears the caller";
    EXPECT_LT(goertzel(l->recent(), 2500), 60) << l->hz << " hears the caller's prompt";
  }
  EXPECT_GT(goertzel(a.recent(), 1000), 600) << "the room does not mix";
  for (auto& ev : events)
    EXPECT_FALSE(ev.leg == 42 && ev.type == EngineEvent::Type::talking) << "an IVR leg talked";
  e.stop_play(4, 42);
}
