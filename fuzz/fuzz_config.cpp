// TOML configuration files.
#include "app/config.hpp"

#include <unistd.h>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::string path = "/tmp/confab-fuzz-config-" + std::to_string(::getpid()) + ".toml";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  confab::app::Config c;
  try {
    confab::app::apply_toml(c, path);
    c.port();
    c.host();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
