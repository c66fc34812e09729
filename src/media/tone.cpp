#include "media/tone.hpp"

#include <charconv>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

namespace confab::media {

namespace {

constexpr std::size_t kMaxSegments = 64;
constexpr std::size_t kMaxFreqs = 18;  // teletone's own limit

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

template <typename T>
T number(std::string_view s, std::string_view what) {
  s = trim(s);
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size())
    throw std::invalid_argument("tone: " + std::string(what) + " is not a number: \"" +
                                std::string(s) + "\"");
  return v;
}

ToneSegment segment(std::string_view body) {
  ToneSegment seg;
  std::vector<std::string_view> parts;
  while (true) {
    auto comma = body.find(',');
    parts.push_back(body.substr(0, comma));
    if (comma == std::string_view::npos) break;
    body.remove_prefix(comma + 1);
  }
  if (parts.size() < 2)
    throw std::invalid_argument("tone: a segment needs at least %(on ms,off ms)");
  if (parts.size() - 2 > kMaxFreqs)
    throw std::invalid_argument("tone: at most 18 frequencies in a segment");
  seg.on_ms = number<int>(parts[0], "on duration");
  seg.off_ms = number<int>(parts[1], "off duration");
  if (seg.on_ms < 0 || seg.off_ms < 0 || seg.on_ms > kMaxToneMs || seg.off_ms > kMaxToneMs)
    throw std::invalid_argument("tone: durations must be 0 to 60000 ms");
  for (std::size_t i = 2; i < parts.size(); ++i) {
    int hz = number<int>(parts[i], "frequency");
    if (hz < 0 || hz > 20000)
      throw std::invalid_argument("tone: frequencies must be 0 to 20000 Hz");
    if (hz > 0) seg.freqs.push_back(hz);
  }
  return seg;
}

}  // namespace

ToneSpec parse_tone(std::string_view s) {
  if (s.starts_with(kToneScheme)) s.remove_prefix(kToneScheme.size());
  ToneSpec spec;
  while (!s.empty()) {
    auto semi = s.find(';');
    auto item = trim(s.substr(0, semi));
    s.remove_prefix(semi == std::string_view::npos ? s.size() : semi + 1);
    if (item.empty()) continue;
    if (item.starts_with("%(")) {
      if (!item.ends_with(")")) throw std::invalid_argument("tone: a segment must end with ')'");
      if (spec.segments.size() >= kMaxSegments)
        throw std::invalid_argument("tone: at most 64 segments");
      spec.segments.push_back(segment(item.substr(2, item.size() - 3)));
      continue;
    }
    auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0)
      throw std::invalid_argument("tone: unexpected \"" + std::string(item) +
                                  "\" (expected %(on,off,Hz...) or name=value)");
    auto name = trim(item.substr(0, eq));
    auto value = item.substr(eq + 1);
    if (name == "v") {
      spec.volume_db = number<int>(value, "volume");
      if (spec.volume_db > 0 || spec.volume_db < -63)
        throw std::invalid_argument("tone: volume must be -63 to 0 dB");
    } else if (name == "L") {
      spec.loops = number<int>(value, "loop count");
      if (spec.loops < 1 || spec.loops > 100)
        throw std::invalid_argument("tone: loop count must be 1 to 100");
    }
    // Other teletone directives (decay, rate...) change nothing here.
  }
  if (spec.segments.empty()) throw std::invalid_argument("tone: no %(on,off,Hz) segment");
  long total = 0;
  for (auto& seg : spec.segments) total += seg.on_ms + seg.off_ms;
  if (total * spec.loops > kMaxToneMs)
    throw std::invalid_argument("tone: longer than 60 seconds in all");
  if (total == 0) throw std::invalid_argument("tone: it lasts 0 ms");
  return spec;
}

std::vector<std::int16_t> render_tone(const ToneSpec& spec, int rate) {
  std::vector<std::int16_t> out;
  const double peak = 32767.0 * std::pow(10.0, spec.volume_db / 20.0);
  const double nyquist = rate / 2.0;
  const int ramp = rate / 200;  // 5 ms fades: no clicks at segment edges
  for (int loop = 0; loop < spec.loops; ++loop) {
    for (auto& seg : spec.segments) {
      long on = static_cast<long>(seg.on_ms) * rate / 1000;
      std::vector<int> freqs;
      for (int f : seg.freqs)
        if (f < nyquist) freqs.push_back(f);
      double amp = freqs.empty() ? 0.0 : peak / static_cast<double>(freqs.size());
      for (long i = 0; i < on; ++i) {
        double v = 0;
        for (int f : freqs) v += std::sin(2 * std::numbers::pi * f * static_cast<double>(i) / rate);
        double fade = 1.0;
        if (i < ramp) fade = static_cast<double>(i) / ramp;
        if (on - i < ramp) fade = std::min(fade, static_cast<double>(on - i) / ramp);
        out.push_back(static_cast<std::int16_t>(std::lround(v * amp * fade)));
      }
      out.insert(out.end(), static_cast<std::size_t>(seg.off_ms) * rate / 1000, 0);
    }
  }
  return out;
}

}  // namespace confab::media
