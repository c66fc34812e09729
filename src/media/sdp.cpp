#include "media/sdp.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>

namespace confab::media {

std::string_view codec_name(Codec c) {
  switch (c) {
    case Codec::opus:
      return "opus";
    case Codec::g722:
      return "G722";
    case Codec::pcmu:
      return "PCMU";
    case Codec::pcma:
      return "PCMA";
  }
  return "?";
}

namespace {

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool to_int(std::string_view s, int& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc{} && p == s.data() + s.size();
}

[[noreturn]] void refuse(const std::string& why) {
  throw std::invalid_argument(why);
}

// Static payload types that need no rtpmap (RFC 3551).
std::optional<AudioOffer::Format> static_format(int pt) {
  switch (pt) {
    case 0:
      return AudioOffer::Format{0, "pcmu", 8000, 1, {}};
    case 8:
      return AudioOffer::Format{8, "pcma", 8000, 1, {}};
    case 9:
      return AudioOffer::Format{9, "g722", 8000, 1, {}};
    default:
      return std::nullopt;
  }
}

}  // namespace

AudioOffer parse_offer(std::string_view sdp) {
  if (sdp.size() > kMaxSdpBytes)
    throw SdpTooLarge("maxLength", "SDP offer too large: " + std::to_string(sdp.size()) +
                                       " bytes (at most " + std::to_string(kMaxSdpBytes) + ")");
  AudioOffer o;
  std::size_t lines = 0, media = 0;
  std::string session_addr;
  bool in_audio = false, seen_audio = false, audio_done = false;
  std::vector<int> pts;
  std::size_t pos = 0;
  while (pos < sdp.size()) {
    auto eol = sdp.find('\n', pos);
    auto line = sdp.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    pos = eol == std::string_view::npos ? sdp.size() : eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (++lines > kMaxSdpLines)
      throw SdpTooLarge("maxItems", "SDP offer has too many lines (at most " +
                                        std::to_string(kMaxSdpLines) + ")");
    if (line.size() < 2 || line[1] != '=') continue;
    char type = line[0];
    auto value = line.substr(2);
    if (type == 'm') {
      if (++media > kMaxSdpMedia)
        throw SdpTooLarge("maxItems", "SDP offer has too many m= sections (at most " +
                                          std::to_string(kMaxSdpMedia) + ")");
      if (in_audio) audio_done = true;
      in_audio = false;
      auto w = words(value);
      if (w.size() >= 4 && w[0] == "audio" && !seen_audio) {
        seen_audio = in_audio = true;
        int port = 0;
        if (!to_int(w[1].substr(0, w[1].find('/')), port) || port < 0 || port > 65535)
          refuse("bad port in the audio m= line");
        if (port == 0) refuse("the audio stream is rejected (port 0)");
        o.port = static_cast<std::uint16_t>(port);
        if (w[2] != "RTP/AVP" && w[2] != "RTP/AVPF")
          refuse("unsupported transport " + std::string(w[2]) + " (plain RTP/AVP only here)");
        if (w.size() - 3 > kMaxSdpFormats)
          throw SdpTooLarge("maxItems", "the audio m= line lists " + std::to_string(w.size() - 3) +
                                            " payload types (at most " +
                                            std::to_string(kMaxSdpFormats) + ")");
        for (std::size_t i = 3; i < w.size(); ++i) {
          int pt;
          if (!to_int(w[i], pt) || pt < 0 || pt > 127) refuse("bad payload type in m= line");
          pts.push_back(pt);
        }
      }
      continue;
    }
    if (type == 'c') {
      auto w = words(value);
      if (w.size() < 3 || w[0] != "IN" || (w[1] != "IP4" && w[1] != "IP6")) refuse("bad c= line");
      std::string addr(w[2].substr(0, w[2].find('/')));
      if (in_audio)
        o.address = addr;
      else if (!seen_audio)
        session_addr = addr;
      continue;
    }
    if (type != 'a' || (!in_audio && seen_audio) || audio_done) continue;
    if (!in_audio) continue;  // session-level attributes are not needed
    auto colon = value.find(':');
    auto name = value.substr(0, colon);
    auto arg = colon == std::string_view::npos ? std::string_view{} : value.substr(colon + 1);
    if (name == "rtpmap") {
      auto sp = arg.find(' ');
      int pt;
      if (sp == std::string_view::npos || !to_int(arg.substr(0, sp), pt)) continue;
      auto enc = arg.substr(sp + 1);
      auto parts = std::vector<std::string_view>{};
      for (std::size_t s = 0, e; s <= enc.size(); s = e + 1) {
        e = enc.find('/', s);
        if (e == std::string_view::npos) e = enc.size();
        parts.push_back(enc.substr(s, e - s));
      }
      AudioOffer::Format f{pt, lower(parts[0]), 0, 1, {}};
      if (parts.size() < 2 || !to_int(parts[1], f.clock)) continue;
      // Channels as offered, kept even when absurd: negotiate() names what it cannot take.
      if (parts.size() > 2 && (!to_int(parts[2], f.channels) || f.channels < 1)) f.channels = 0;
      auto it =
          std::find_if(o.formats.begin(), o.formats.end(), [&](auto& x) { return x.pt == pt; });
      if (it == o.formats.end())
        o.formats.push_back(f);
      else {
        f.fmtp = it->fmtp;
        *it = f;
      }
    } else if (name == "fmtp") {
      auto sp = arg.find(' ');
      int pt;
      if (sp == std::string_view::npos || !to_int(arg.substr(0, sp), pt)) continue;
      auto it =
          std::find_if(o.formats.begin(), o.formats.end(), [&](auto& x) { return x.pt == pt; });
      if (it == o.formats.end())
        o.formats.push_back({pt, {}, 0, 1, lower(arg.substr(sp + 1))});
      else
        it->fmtp = lower(arg.substr(sp + 1));
    } else if (name == "ptime") {
      int p;
      if (to_int(arg, p) && p >= 10 && p <= 120 && p % 10 == 0) o.ptime = p;
    } else if (name == "rtcp-mux") {
      o.rtcp_mux = true;
    } else if (name == "sendrecv" || name == "sendonly" || name == "recvonly" ||
               name == "inactive") {
      o.direction = std::string(name);
    } else if (name == "extmap") {
      auto w = words(arg);
      int id;
      if (w.size() >= 2 && to_int(w[0].substr(0, w[0].find('/')), id) && id >= 1 && id <= 14 &&
          w[1] == "urn:ietf:params:rtp-hdrext:ssrc-audio-level")
        o.audio_level_ext = id;
    }
  }
  if (!seen_audio) refuse("no audio stream in the offer");
  if (o.address.empty()) o.address = session_addr;
  if (o.address.empty()) refuse("no connection address (c=) for the audio stream");
  // Keep the m= line's order, and fill in static payload types that had no rtpmap.
  std::vector<AudioOffer::Format> ordered;
  for (int pt : pts) {
    auto it = std::find_if(o.formats.begin(), o.formats.end(), [&](auto& x) { return x.pt == pt; });
    if (it != o.formats.end() && !it->encoding.empty())
      ordered.push_back(*it);
    else if (auto s = static_format(pt))
      ordered.push_back(*s);
  }
  o.formats = std::move(ordered);
  return o;
}

namespace {
// Why the engine cannot take an offered format it otherwise knows, or "" when it can: Opus is
// mono or stereo (RFC 7587 writes opus/48000/2 either way), G.711 and G.722 are mono only.
std::string unusable(const AudioOffer::Format& f) {
  bool known =
      f.encoding == "opus" || f.encoding == "g722" || f.encoding == "pcmu" || f.encoding == "pcma";
  if (!known) return {};
  std::string name = f.encoding + "/" + std::to_string(f.clock);
  if (f.channels < 1) return name + " with a bad channel count";
  if (f.encoding == "opus" && f.channels > 2)
    return name + "/" + std::to_string(f.channels) + ": " + std::to_string(f.channels) +
           " channels (opus: 1 or 2)";
  if (f.encoding != "opus" && f.channels != 1)
    return name + "/" + std::to_string(f.channels) + ": " + std::to_string(f.channels) +
           " channels (mono only)";
  return {};
}
// One parameter of an fmtp line ("a=1;b=2", spaces allowed around the separators).
std::string_view fmtp_param(std::string_view fmtp, std::string_view key) {
  std::size_t i = 0;
  while (i <= fmtp.size()) {
    auto end = fmtp.find(';', i);
    if (end == std::string_view::npos) end = fmtp.size();
    auto item = fmtp.substr(i, end - i);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    auto eq = item.find('=');
    if (eq != std::string_view::npos && item.substr(0, eq) == key) return item.substr(eq + 1);
    i = end + 1;
  }
  return {};
}
}  // namespace

Negotiated negotiate(const AudioOffer& o) {
  Negotiated n;
  n.ptime = o.ptime;
  // Our preference, whatever the offer's order: Opus, then G.722, then G.711.
  const AudioOffer::Format* best = nullptr;
  int best_rank = 99;
  auto rank = [](const AudioOffer::Format& f) {
    if (!unusable(f).empty()) return 99;
    if (f.encoding == "opus" && f.clock == 48000) return 0;
    if (f.encoding == "g722" && f.clock == 8000) return 1;
    if (f.encoding == "pcmu" && f.clock == 8000) return 2;
    if (f.encoding == "pcma" && f.clock == 8000) return 3;
    return 99;
  };
  for (auto& f : o.formats) {
    int r = rank(f);
    if (r < best_rank) best_rank = r, best = &f;
  }
  if (!best) {
    std::string offered, why;
    for (auto& f : o.formats) {
      offered += (offered.empty() ? "" : ", ") + f.encoding + "/" + std::to_string(f.clock);
      if (auto u = unusable(f); !u.empty()) why += "; " + u;
    }
    refuse("no supported codec offered (" + (offered.empty() ? std::string("none") : offered) +
           ")" + why +
           "; confab takes opus/48000 (1 or 2 channels), G722/8000, PCMU/8000, "
           "PCMA/8000");
  }
  n.pt = best->pt;
  n.codec = best_rank == 0   ? Codec::opus
            : best_rank == 1 ? Codec::g722
            : best_rank == 2 ? Codec::pcmu
                             : Codec::pcma;
  n.clock = best->clock;
  // DTMF events run on the audio codec's RTP clock (RFC 4733).
  for (auto& f : o.formats)
    if (f.encoding == "telephone-event" && f.clock == n.clock && n.dtmf_pt < 0) n.dtmf_pt = f.pt;
  if (n.codec == Codec::opus) {
    // "stereo=1": the receiver prefers stereo (RFC 7587 7.1); sprop-stereo only says what the
    // sender sends, and does not ask us for stereo.
    n.channels = fmtp_param(best->fmtp, "stereo") == "1" ? 2 : 1;
    n.fec = fmtp_param(best->fmtp, "useinbandfec") == "1";
  }
  return n;
}

std::string make_answer(const AudioOffer& o, const Negotiated& n, std::string_view address,
                        std::uint16_t port, std::uint64_t session_id) {
  bool v6 = address.find(':') != std::string_view::npos;
  std::string ip = v6 ? "IP6 " : "IP4 ";
  std::string s;
  s += "v=0\r\n";
  s += "o=confab " + std::to_string(session_id) + " 1 IN " + ip + std::string(address) + "\r\n";
  s += "s=confab\r\n";
  s += "c=IN " + ip + std::string(address) + "\r\n";
  s += "t=0 0\r\n";
  s += "m=audio " + std::to_string(port) + " RTP/AVP " + std::to_string(n.pt);
  if (n.dtmf_pt >= 0) {  // two appends: GCC 12 -O3 warns (falsely) about " " + to_string
    s += ' ';
    s += std::to_string(n.dtmf_pt);
  }
  s += "\r\n";
  s += "a=rtpmap:" + std::to_string(n.pt) + " " + std::string(codec_name(n.codec)) + "/" +
       std::to_string(n.clock) + (n.codec == Codec::opus ? "/2" : "") + "\r\n";
  if (n.codec == Codec::opus)
    s += "a=fmtp:" + std::to_string(n.pt) + " minptime=10;useinbandfec=1" +
         (n.channels == 2 ? ";stereo=1;sprop-stereo=1" : "") + "\r\n";
  if (n.dtmf_pt >= 0) {
    s += "a=rtpmap:" + std::to_string(n.dtmf_pt) + " telephone-event/" + std::to_string(n.clock) +
         "\r\n";
    s += "a=fmtp:" + std::to_string(n.dtmf_pt) + " 0-16\r\n";
  }
  s += "a=ptime:" + std::to_string(n.ptime) + "\r\n";
  // Without rtcp-mux, RFC 3605 points the far end's RTCP at the RTP port: a shard has one socket.
  s += o.rtcp_mux ? std::string("a=rtcp-mux\r\n") : "a=rtcp:" + std::to_string(port) + "\r\n";
  if (o.audio_level_ext)
    s += "a=extmap:" + std::to_string(o.audio_level_ext) +
         " urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n";
  std::string dir = o.direction == "sendonly"   ? "recvonly"
                    : o.direction == "recvonly" ? "sendonly"
                                                : o.direction;
  s += "a=" + dir + "\r\n";
  return s;
}

}  // namespace confab::media
