// SDP offers from clients: parse, negotiate, answer.
#include "media/sdp.hpp"

#include <cstdint>
#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto o =
        confab::media::parse_offer(std::string_view(reinterpret_cast<const char*>(data), size));
    auto n = confab::media::negotiate(o);
    (void)confab::media::make_answer(o, n, "127.0.0.1", 30000, 1);
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
