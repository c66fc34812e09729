#pragma once
// G.711 mu-law and A-law (ITU-T G.711), sample by sample. Branch-light and table-free on encode;
// decode through 256-entry tables built once at compile time.
#include <cstddef>
#include <cstdint>
#include <span>

namespace confab::media::g711 {

std::uint8_t linear_to_ulaw(std::int16_t pcm);
std::int16_t ulaw_to_linear(std::uint8_t u);
std::uint8_t linear_to_alaw(std::int16_t pcm);
std::int16_t alaw_to_linear(std::uint8_t a);

// Whole frames; `out` must be at least as long as `in`.
void encode_ulaw(std::span<const std::int16_t> in, std::span<std::uint8_t> out);
void decode_ulaw(std::span<const std::uint8_t> in, std::span<std::int16_t> out);
void encode_alaw(std::span<const std::int16_t> in, std::span<std::uint8_t> out);
void decode_alaw(std::span<const std::uint8_t> in, std::span<std::int16_t> out);

}  // namespace confab::media::g711
