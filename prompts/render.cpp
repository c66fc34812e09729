// Build tool: renders a prompt list (prompts/<language>.txt: "<id> <sentence>" a line) into WAV
// files <out>/<rate>/<id>.wav at each conference rate. The speech comes from the espeak-ng
// program (GPL-3: run, never linked), at its own 22050 Hz; confab's resampler makes the rates,
// and every prompt is brought to the same peak level.
//   confab_prompt_render <espeak-ng> <voice> <list.txt> <out dir> <rate>...
#include "media/clip.hpp"
#include "media/wav.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace confab;

namespace {

struct Line {
  std::string id, text;
};

// Ids name files under the rate directory: letters, digits, '-', '_' and one level of '/'.
bool good_id(const std::string& id) {
  if (id.empty() || id.size() > 64 || id.front() == '/' || id.back() == '/') return false;
  if (std::count(id.begin(), id.end(), '/') > 1) return false;
  return std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '/';
  });
}

std::vector<Line> read_list(const fs::path& p) {
  std::ifstream in(p);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::vector<Line> out;
  std::string s;
  for (int n = 1; std::getline(in, s); ++n) {
    auto at = s.find_first_not_of(" \t");
    if (at == std::string::npos || s[at] == '#') continue;
    std::istringstream ls(s.substr(at));
    Line l;
    ls >> l.id;
    std::getline(ls >> std::ws, l.text);
    if (!good_id(l.id) || l.text.empty())
      throw std::runtime_error(p.string() + ":" + std::to_string(n) +
                               ": expected '<id> <sentence>' with an id of [A-Za-z0-9_-/]");
    out.push_back(std::move(l));
  }
  return out;
}

// espeak-ng -v <voice> -w <file> <text>, without a shell.
void speak(const std::string& espeak, const std::string& voice, const std::string& text,
           const fs::path& wav) {
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    std::string w = wav.string();
    execl(espeak.c_str(), espeak.c_str(), "-v", voice.c_str(), "-s", "150", "-w", w.c_str(),
          text.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error(espeak + " failed for: " + text);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The same peak (-3 dBFS) for every prompt, so that none is louder than the others.
void normalize(std::vector<std::int16_t>& pcm) {
  int peak = 1;
  for (auto s : pcm) peak = std::max(peak, std::abs(static_cast<int>(s)));
  double gain = 0.707 * 32767.0 / peak;
  for (auto& s : pcm)
    s = static_cast<std::int16_t>(std::clamp(std::lround(s * gain), -32767L, 32767L));
}

void write_wav(const fs::path& p, int rate, const std::vector<std::int16_t>& pcm) {
  fs::create_directories(p.parent_path());
  auto tmp = p;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    auto h = media::wav_header(rate, 1, static_cast<std::uint32_t>(pcm.size() * 2));
    out.write(reinterpret_cast<const char*>(h.data()), static_cast<std::streamsize>(h.size()));
    for (auto s : pcm) {  // little-endian whatever the host
      char b[2] = {static_cast<char>(s & 0xff), static_cast<char>((s >> 8) & 0xff)};
      out.write(b, 2);
    }
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  fs::rename(tmp, p);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::cerr << "usage: " << argv[0] << " <espeak-ng> <voice> <list.txt> <out dir> <rate>...\n";
    return 2;
  }
  try {
    std::string espeak = argv[1], voice = argv[2];
    fs::path list = argv[3], out = argv[4];
    std::vector<int> rates;
    for (int i = 5; i < argc; ++i) rates.push_back(std::stoi(argv[i]));
    auto lines = read_list(list);
    fs::create_directories(out);
    for (int rate : rates) fs::remove_all(out / std::to_string(rate));  // no prompt left over
    auto raw = out / ".espeak.wav";
    for (auto& l : lines) {
      speak(espeak, voice, l.text, raw);
      auto pcm = media::parse_wav(slurp(raw));
      for (int rate : rates) {
        auto clip = media::to_clip(pcm, rate);
        normalize(clip.pcm);
        write_wav(out / std::to_string(rate) / (l.id + ".wav"), rate, clip.pcm);
      }
    }
    fs::remove(raw);
    std::cout << "rendered " << lines.size() << " prompts (" << voice << ") into " << out.string()
              << "\n";
  } catch (const std::exception& e) {
    std::cerr << argv[0] << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
