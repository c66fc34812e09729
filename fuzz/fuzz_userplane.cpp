// Userplane: GET /v1/conference.json and /v1/conference/<roomId>.json with their HTTP Basic
// credentials (siteId:apiKey, base64), through the real Userplane face and the login throttle.
// Input: "METHOD TARGET\nheaders\n\nbody"; $B stands for the base64 of the account's right
// credentials, $S for its siteId, $K for its API key, $C for a conference id.
#include "api/userplane/userplane.hpp"
#include "face_world.hpp"

using confab::fuzz::FaceWorld;

namespace {
std::string base64(std::string_view in) {
  static constexpr char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    std::uint32_t n = static_cast<std::uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<std::uint8_t>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<std::uint8_t>(in[i + 2]);
    out += abc[(n >> 18) & 63];
    out += abc[(n >> 12) & 63];
    out += i + 1 < in.size() ? abc[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? abc[n & 63] : '=';
  }
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static FaceWorld w;
  static confab::api::userplane::Userplane up{w.ctx};
  w.next_input();  // the token is not used: Userplane takes Basic credentials
  auto in = FaceWorld::fill(std::string(reinterpret_cast<const char*>(data), size),
                            {{"$B", base64(w.account + ":" + w.api_key)},
                             {"$S", w.account},
                             {"$K", w.api_key},
                             {"$C", w.conference}});
  auto req = FaceWorld::request(in);
  if (!up.handles(req.path)) return 0;  // the server gives the face its paths only
  bool answered = false;
  up.handle(std::move(req), [&](confab::net::Response) { answered = true; });
  if (!answered) __builtin_trap();  // Userplane answers every request at once
  return 0;
}
