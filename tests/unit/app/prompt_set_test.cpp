// The voice prompts rendered at build time (prompts/): one for every id the IVR can ask for, at
// every conference rate, and each of them speech: loud enough, in the telephone band, with the
// ups and downs of syllables rather than a steady tone or noise.
#include "app/prompt_set.hpp"
#include "core/directory.hpp"
#include "core/ivr.hpp"
#include "media/wav.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cmath>
#include <fstream>
#include <iterator>
#include <numbers>

using confab::app::PromptSet;
using confab::app::PromptSource;
namespace fs = std::filesystem;

namespace {

constexpr int kRates[] = {8000, 16000, 48000};

confab::media::Pcm read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return confab::media::parse_wav(bytes);
}

// RBJ biquad, enough to split off the telephone band.
struct Biquad {
  double b0, b1, b2, a1, a2, z1 = 0, z2 = 0;
  static Biquad make(bool high, double f, int rate) {
    double w = 2 * std::numbers::pi * f / rate, c = std::cos(w),
           alpha = std::sin(w) / std::sqrt(2.0);
    double a0 = 1 + alpha;
    double k = high ? (1 + c) / 2 : (1 - c) / 2;
    return {k / a0, (high ? -(1 + c) : 1 - c) / a0, k / a0, -2 * c / a0, (1 - alpha) / a0};
  }
  double operator()(double x) {
    double y = b0 * x + z1;
    z1 = b1 * x - a1 * y + z2;
    z2 = b2 * x - a2 * y;
    return y;
  }
};

struct Judged {
  double rms = 0;         // of the whole prompt, full scale 32768
  double band = 0;        // share of the energy in 300-3400 Hz
  double modulation = 0;  // spread of the 20 ms frame levels over their mean
  double seconds = 0;
};

Judged judge(const confab::media::Pcm& pcm) {
  Judged j;
  auto hp = Biquad::make(true, 300, pcm.rate);
  auto lp = Biquad::make(false, std::min(3400.0, pcm.rate * 0.45), pcm.rate);
  double all = 0, in_band = 0;
  std::vector<double> frames;
  double frame = 0;
  std::size_t n = 0, per_frame = static_cast<std::size_t>(pcm.rate / 50);
  for (auto s : pcm.samples) {
    double x = s / 32768.0;
    double y = lp(hp(x));
    all += x * x;
    in_band += y * y;
    frame += x * x;
    if (++n % per_frame == 0) {
      frames.push_back(std::sqrt(frame / per_frame));
      frame = 0;
    }
  }
  j.seconds = static_cast<double>(pcm.samples.size()) / pcm.rate;
  j.rms = std::sqrt(all / std::max<std::size_t>(1, pcm.samples.size()));
  j.band = all > 0 ? in_band / all : 0;
  double mean = 0, var = 0;
  for (double f : frames) mean += f;
  mean /= std::max<std::size_t>(1, frames.size());
  for (double f : frames) var += (f - mean) * (f - mean);
  var /= std::max<std::size_t>(1, frames.size());
  j.modulation = mean > 0 ? std::sqrt(var) / mean : 0;
  return j;
}

}  // namespace

#ifdef CONFAB_HAVE_PROMPTS

TEST(PromptSet, EveryPromptTheIvrAsksForIsRenderedAsSpeechAtEveryRate) {
  auto set = PromptSet::load(PromptSet::default_root());
  EXPECT_EQ(set.languages(), (std::vector<std::string>{"en"}));
  EXPECT_EQ(set.rates("en"), (std::vector<int>{8000, 16000, 48000}));
  for (auto& id : confab::core::ivr::prompt_ids()) {
    EXPECT_TRUE(set.has("en", id)) << id;
    for (int rate : kRates) {
      auto p = set.path("en", id, rate);
      ASSERT_TRUE(p) << id << " at " << rate;
      auto pcm = read(*p);
      ASSERT_EQ(pcm.rate, rate) << *p;
      ASSERT_EQ(pcm.channels, 1) << *p;
      auto j = judge(pcm);
      SCOPED_TRACE(p->string());
      EXPECT_GT(j.seconds, 0.2);
      EXPECT_LT(j.seconds, 10.0);
      EXPECT_GT(j.rms, 0.03) << "about -30 dBFS: silence or a whisper is not a prompt";
      EXPECT_GT(j.band, 0.5) << "most of a voice's energy is in the telephone band";
      EXPECT_GT(j.modulation, 0.4) << "speech rises and falls; a steady tone does not";
    }
  }
}

TEST(PromptSet, TheJudgeTellsATone) {  // the measure above can fail: a steady tone fails it
  confab::media::Pcm tone;
  tone.rate = 8000;
  tone.channels = 1;
  for (int i = 0; i < 8000; ++i)
    tone.samples.push_back(
        static_cast<std::int16_t>(10000 * std::sin(2 * std::numbers::pi * 440 * i / 8000.0)));
  auto j = judge(tone);
  EXPECT_GT(j.band, 0.5);
  EXPECT_LT(j.modulation, 0.1);
  confab::media::Pcm low = tone;
  for (int i = 0; i < 8000; ++i)
    low.samples[i] =
        static_cast<std::int16_t>(10000 * std::sin(2 * std::numbers::pi * 100 * i / 8000.0));
  EXPECT_LT(judge(low).band, 0.5);
}

#endif

TEST(PromptSet, LanguagesFallBackAndRatesRoundUp) {
  auto root = fs::temp_directory_path() / ("confab-prompts-" + std::to_string(::getpid()));
  fs::remove_all(root);
  for (auto rate : {"8000", "48000"}) {
    fs::create_directories(root / "en" / rate / "digits");
    std::ofstream(root / "en" / rate / "conf-welcome.wav") << "x";
    std::ofstream(root / "en" / rate / "digits" / "1.wav") << "x";
  }
  fs::create_directories(root / "fr" / "8000");
  std::ofstream(root / "fr" / "8000" / "conf-welcome.wav") << "x";
  std::ofstream(root / "en" / "8000" / "notes.txt") << "not a prompt";
  auto set = PromptSet::load(root);
  EXPECT_EQ(set.pick_language("en-US"), "en");
  EXPECT_EQ(set.pick_language("fr-ca"), "fr");
  EXPECT_EQ(set.pick_language("de"), "en");
  EXPECT_EQ(set.pick_language("de", "xx"), "");
  EXPECT_EQ(set.path("en", "conf-welcome", 16000), root / "en" / "48000" / "conf-welcome.wav");
  EXPECT_EQ(set.path("en", "conf-welcome", 96000), root / "en" / "48000" / "conf-welcome.wav");
  EXPECT_EQ(set.path("en-us", "digits/1", 8000), root / "en" / "8000" / "digits" / "1.wav");
  EXPECT_FALSE(set.path("en", "notes", 8000));
  EXPECT_FALSE(set.path("fr", "digits/1", 8000)) << "a language's set is its own";
  EXPECT_TRUE(set.has("en", "digits/1"));
  EXPECT_FALSE(set.has("fr", "digits/1"));
  fs::remove_all(root);
  EXPECT_THROW(PromptSet::load(root), std::runtime_error);
}

TEST(PromptSet, AnAccountsMediaNamedAfterThePromptWins) {
  auto root = fs::temp_directory_path() / ("confab-prompts-o-" + std::to_string(::getpid()));
  fs::create_directories(root / "en" / "8000");
  std::ofstream(root / "en" / "8000" / "conf-welcome.wav") << "x";
  auto set = PromptSet::load(root);
  confab::core::Directory dir;
  auto media = [&](std::string id, std::string account, std::string name, std::int64_t len,
                   std::string lang) {
    confab::core::Doc d{"media", id, account, 1,
                        boost::json::object{{"name", name}, {"language", lang}}};
    if (len) d.body["content_length"] = len;
    dir.load(d, {});
  };
  media("m-none", "A", "conf-welcome", 0, "en-us");    // no audio uploaded yet
  media("m-other", "B", "conf-welcome", 10, "en-us");  // another account's
  auto src = confab::app::resolve_prompt(dir, "A", set, "en", "conf-welcome", 8000);
  EXPECT_EQ(src.kind, PromptSource::Kind::file);
  EXPECT_EQ(src.file, root / "en" / "8000" / "conf-welcome.wav");
  media("m-fr", "A", "conf-welcome", 10, "fr-fr");
  media("m-en", "A", "conf-welcome", 10, "en-us");
  src = confab::app::resolve_prompt(dir, "A", set, "en", "conf-welcome", 8000);
  EXPECT_EQ(src.kind, PromptSource::Kind::media);
  EXPECT_EQ(src.media_id, "m-en") << "the one in the caller's language";
  src = confab::app::resolve_prompt(dir, "A", set, "de", "conf-welcome", 8000);
  EXPECT_EQ(src.kind, PromptSource::Kind::media) << "any language beats none";
  EXPECT_EQ(confab::app::resolve_prompt(dir, "A", set, "en", "conf-nothing", 8000).kind,
            PromptSource::Kind::none);
  fs::remove_all(root);
}
