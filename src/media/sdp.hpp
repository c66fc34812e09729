#pragma once
// SDP offer/answer for one audio stream (RFC 3264, RFC 4566): reads an offer, picks the codec
// confab will use, and writes the answer. Supported: Opus/48000 (mono or stereo), G722/8000,
// PCMU/8000, PCMA/8000, and telephone-event (RFC 4733). Control path only.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace confab::media {

enum class Codec { opus, g722, pcmu, pcma };
inline constexpr std::size_t kCodecs = 4;
std::string_view codec_name(Codec c);

struct AudioOffer {
  std::string address;  // where to send the leg's media (c= of the media or the session)
  std::uint16_t port = 0;
  bool rtcp_mux = false;
  int ptime = 20;
  std::string direction = "sendrecv";
  struct Format {
    int pt = 0;
    std::string encoding;  // lower-case
    int clock = 0;
    int channels = 1;
    std::string fmtp;
  };
  std::vector<Format> formats;  // in the offer's order of preference
  int audio_level_ext = 0;      // extmap id of RFC 6464 (ssrc-audio-level), 0 when absent
};

struct Negotiated {
  Codec codec{};
  int pt = 0;
  int clock = 8000;  // RTP clock rate
  int channels = 1;  // what we send (Opus stereo when offered stereo=1)
  int dtmf_pt = -1;  // telephone-event payload type, -1 when not offered
  int ptime = 20;
  bool fec = false;  // Opus in-band FEC offered
};

// What an offer may hold (README "Media", docs/api): larger ones are refused with SdpTooLarge.
inline constexpr std::size_t kMaxSdpBytes = 64 * 1024;
inline constexpr std::size_t kMaxSdpLines = 1024;
inline constexpr std::size_t kMaxSdpMedia = 16;    // m= sections (WebRTC bundles a few)
inline constexpr std::size_t kMaxSdpFormats = 64;  // payload types on the audio m= line

// An offer over one of the limits above: the client's mistake (400), not a negotiation failure.
struct SdpTooLarge : std::invalid_argument {
  SdpTooLarge(const char* rule_name, const std::string& why)
      : std::invalid_argument(why), rule(rule_name) {}
  const char* rule;  // the JSON-schema word a field error names: maxLength, maxItems
};

// Throws std::invalid_argument with a message that says why (a 488-style refusal): no audio
// stream, a rejected stream (port 0), an unsupported transport, or no codec we support; or
// SdpTooLarge.
AudioOffer parse_offer(std::string_view sdp);
Negotiated negotiate(const AudioOffer& offer);
// The answer for the negotiated stream, sending from `address`:`port`.
std::string make_answer(const AudioOffer& offer, const Negotiated& n, std::string_view address,
                        std::uint16_t port, std::uint64_t session_id);

}  // namespace confab::media
