// Replays every file of the given corpus directories through LLVMFuzzerTestOneInput, plus a fixed
// number of mutations of each (deterministic), so that gcc builds exercise the fuzz targets too.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  std::size_t runs = 0;
  std::mt19937 rng(12345);
  for (int i = 1; i < argc; ++i) {
    for (auto& e : std::filesystem::recursive_directory_iterator(argv[i])) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::vector<std::uint8_t> buf((std::istreambuf_iterator<char>(in)), {});
      LLVMFuzzerTestOneInput(buf.data(), buf.size());
      ++runs;
      for (int m = 0; m < 200; ++m) {
        auto copy = buf;
        int edits = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < edits; ++k) {
          switch (rng() % 3) {
            case 0:
              if (!copy.empty()) copy[rng() % copy.size()] = static_cast<std::uint8_t>(rng());
              break;
            case 1:
              if (!copy.empty()) copy.erase(copy.begin() + static_cast<long>(rng() % copy.size()));
              break;
            default:
              copy.insert(copy.begin() + static_cast<long>(copy.empty() ? 0 : rng() % copy.size()),
                          static_cast<std::uint8_t>("{}[]\":,0a.*"[rng() % 11]));
          }
        }
        LLVMFuzzerTestOneInput(copy.data(), copy.size());
        ++runs;
      }
    }
  }
  std::printf("replayed %zu inputs\n", runs);
  return runs ? 0 : 1;
}
