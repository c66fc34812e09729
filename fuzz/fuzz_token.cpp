// Auth tokens arrive in headers, query strings and WebSocket messages.
#include "core/error.hpp"
#include "core/token.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    confab::core::verify_token("fuzz-secret",
                               std::string_view(reinterpret_cast<const char*>(data), size), 0);
  } catch (const confab::Error&) {
  }
  return 0;
}
