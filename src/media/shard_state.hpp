#pragma once
// The state a shard owns (its rooms, legs and listener groups), shared by the files that make up
// the shard: shard.cpp (thread, socket I/O), shard_control.cpp (commands), shard_mix.cpp (the
// tick's mixing and encoding), shard_rtcp.cpp (reports). Private to src/media.
#include "media/dtmf_detect.hpp"
#include "media/rtcp.hpp"
#include "media/rtp.hpp"
#include "media/shard.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>

#include <algorithm>
#include <cmath>

namespace confab::media {

namespace shard_detail {

inline constexpr std::size_t kBatch = 64;  // datagrams per recvmmsg/sendmmsg call
inline constexpr std::size_t kMaxDatagram = 1500;
inline constexpr std::size_t kMaxPayload = 1200;
inline constexpr int kEnergyEvery = 25;  // ticks between energy reports (500 ms at 20 ms)

inline std::int64_t mono_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1'000'000;
}

inline std::uint64_t addr_key(const sockaddr_in& a) {
  return std::uint64_t{ntohl(a.sin_addr.s_addr)} << 16 | ntohs(a.sin_port);
}

// The key of an IP alone in the pending_ table (never 0, never an ip:port key's twin).
inline std::uint64_t ip_key(const sockaddr_in& a) {
  return std::uint64_t{1} << 48 | ntohl(a.sin_addr.s_addr);
}

inline std::uint64_t group_key(const Negotiated& n) {
  return std::uint64_t(static_cast<int>(n.codec)) << 40 | std::uint64_t(n.channels) << 32 |
         std::uint64_t(n.pt) << 16 | std::uint64_t(n.ptime);
}

// Engine::set_volume's level as a linear gain (1 at level 0).
inline float volume_gain(int level) {
  return static_cast<float>(std::pow(10.0, level * Engine::kVolumeStepDb / 20.0));
}

inline void apply_gain(std::span<std::int16_t> pcm, float gain) {
  for (auto& v : pcm)
    v = static_cast<std::int16_t>(std::clamp(std::lrintf(v * gain), -32768L, 32767L));
}

}  // namespace shard_detail

using namespace shard_detail;

// Listeners with the same codec, channels, payload type and ptime share one encode of the mix.
// One signal encoded once a tick for every listener of a group. Each signal has its own encoder
// and resampler: their state must not mix (the room's mix, the hold music).
struct SharedEncode {
  std::unique_ptr<Encoder> enc;
  std::unique_ptr<Resampler> down;  // room rate -> codec rate, null when equal
  std::vector<std::uint8_t> payload;
  int bytes = 0;
  bool done = false;  // this tick

  SharedEncode(const Negotiated& n, int room_rate, int tick_ms)
      : enc(make_encoder(n.codec, n.channels, tick_ms)), payload(kMaxPayload) {
    set_rate(n, room_rate);
  }
  void set_rate(const Negotiated& n, int room_rate) {
    down = pcm_rate(n.codec) != room_rate
               ? std::make_unique<Resampler>(room_rate, pcm_rate(n.codec))
               : nullptr;
  }
  // This tick's payload of `pcm` (room rate), encoded on first use; empty when encoding failed.
  // `scratch` holds one frame at the codec's rate.
  std::span<const std::uint8_t> get(std::span<const std::int16_t> pcm,
                                    std::span<std::int16_t> scratch,
                                    std::atomic<std::uint64_t>& encodes) {
    if (!done) {
      if (down) pcm = scratch.first(static_cast<std::size_t>(down->process_exact(pcm, scratch)));
      bytes = enc->encode(pcm, payload);
      done = true;
      encodes.fetch_add(1, std::memory_order_relaxed);
    }
    return std::span(payload).first(static_cast<std::size_t>(std::max(0, bytes)));
  }
};

struct Shard::Group {
  Negotiated codec;
  SharedEncode mix, hold;
  std::vector<std::int16_t> pcm;      // one frame at the codec's rate, for the resamplers
  std::vector<std::uint8_t> silence;  // one encoded silent frame, for deaf legs
  int silence_bytes = 0;
  int users = 0;
  Group(const Negotiated& n, int room_rate, int tick_ms)
      : codec(n), mix(n, room_rate, tick_ms), hold(n, room_rate, tick_ms) {}
};

struct Shard::Leg {
  LegSpec spec;
  Group* group = nullptr;
  std::unique_ptr<Decoder> dec;
  std::unique_ptr<Encoder> enc;     // private: this leg's mix-minus while it speaks
  std::unique_ptr<Resampler> up;    // codec rate -> conference rate
  std::unique_ptr<Resampler> down;  // conference rate -> codec rate
  JitterBuffer jb{32, kMaxPayload, 1, 8, 20};
  TalkDetector talk;
  std::vector<std::int16_t> pcm_codec, pcm_conf, out_codec;
  std::vector<std::int16_t> mix_conf;  // a mix of its own (relate), at the conference rate
  std::vector<std::int16_t> carry;     // decoded, not yet mixed (packets longer than a frame)
  std::size_t carry_n = 0;
  std::size_t codec_frame = 0;                               // samples a tick at the codec's rate
  std::array<std::uint64_t, Engine::kMaxBlocked> blocked{};  // legs it must not hear
  std::size_t blocked_count = 0;
  std::vector<std::uint8_t> payload;
  std::array<std::uint8_t, kRtpHeaderSize> header{};
  std::uint32_t ssrc = 0;
  std::uint16_t seq = 0;
  std::uint32_t ts = 0;
  bool first = true;
  std::int64_t last_rx = 0;
  bool timed_out = false;
  // Where media goes (see SendTo): `dest` is the offered address until `latched` (the key of
  // the source it follows, 0: none yet) says otherwise.
  sockaddr_in dest{};
  std::uint64_t latched = 0;
  bool sending = true;          // set_sending
  bool pending = false;         // in the shard's pending_ list (has received nothing)
  Leg* next_pending = nullptr;  // the next leg of the same IP that has received nothing
  Room* room = nullptr;
  bool heard = false;  // decoded audio this tick
  std::uint32_t dtmf_ts = 0;
  bool dtmf_seen = false;
  // RFC 4733 packets take sequence numbers of the audio stream: those sent between audio
  // packets one frame apart in time are taken out of what the jitter buffer sees (audio_seq).
  std::uint16_t last_audio_seq = 0, last_event_seq = 0;
  std::uint32_t last_audio_ts = 0, audio_step = 0;
  std::uint16_t events_since_audio = 0;
  std::uint16_t seq_skew = 0;  // event packets taken out so far
  bool have_audio = false;
  std::unique_ptr<DtmfDetector> inband;  // LegSpec::inband_dtmf
  Recording* rec = nullptr;              // record_leg_start: what it sends
  std::unique_ptr<Resampler> rec_rs;     // its codec's rate -> the recording's, when they differ
  std::vector<std::int16_t> rec_pcm;     // one frame at the recording's rate
  std::uint64_t rec_left = 0;            // samples the recording may still take (max_ms)
  // For reporting a key once when it comes both ways (see LegSpec::inband_dtmf).
  std::int64_t rfc_dtmf_ms = -Engine::kDtmfOverlapMs;  // the last RFC 4733 packet
  std::int64_t inband_ms = -Engine::kDtmfOverlapMs;    // the last key found in the audio
  char inband_digit = 0;
  int energy_tick = 0;
  int last_energy = -1;
  std::size_t slot = 0;
  bool held = false;                   // waiting for a moderator: hears the hold music
  bool was_speaker = false;            // one of the mixed speakers last tick
  int level_score = -1;                // from the sender's RFC 6464 level, when it sends one
  float talk_gain = 1.0f;              // Engine::set_volume: what it sends into the mix
  float listen_gain = 1.0f;            // ... and what it hears (1: shares its group's encode)
  Play play;                           // a prompt for this leg alone
  std::unique_ptr<Resampler> play_rs;  // its clip (nominal rate) to the mix rate, when they differ
  // RTCP (RFC 3550): what we receive, for our report blocks, and what we send, for our SRs.
  RtpReceiverStats rx;
  std::uint32_t remote_ssrc = 0;
  bool have_remote = false;
  std::uint32_t sent_packets = 0, sent_octets = 0, last_sent_ts = 0;
  std::int64_t last_sent_ms = 0;
  bool sent_since_report = false;
  std::int64_t next_report_ms = 0;
  int rtt_ms = -1;
  sockaddr_in rtcp_remote{};
  std::array<std::uint8_t, 320> rtcp_buf{};

  // Whether own_audio() has work: in-band DTMF, a recording.
  bool analysed() const { return inband || rec; }
  // Whether its audio is buffered and decoded: it is mixed, or something analyses it.
  bool decoded() const { return spec.speak || spec.mute_detect || analysed(); }
};

// A room mixes at `rate`: the highest rate its legs' codecs use, never above `nominal` (its
// profile's rate, or [media] rate), so that an all-G.711 room does not resample every leg both
// ways for a rate none of them carries. Clips (tones, prompts, hold music) and recordings are at
// the nominal rate whatever the mix rate: resampled in the tick when the two differ.
struct Shard::Room {
  std::uint64_t id;
  int nominal;
  int rate;
  std::size_t frame;          // samples per tick at `rate`
  std::size_t nominal_frame;  // samples per tick at `nominal`
  Mixer mixer;
  std::vector<Leg*> legs;  // slot order
  std::vector<MixerInput> inputs;
  std::map<std::uint64_t, std::unique_ptr<Group>> groups;
  std::uint64_t floor = 0;
  std::array<Play, Engine::kRoomPlays> plays;  // heard by everyone, through the mixer
  Play hold;                                   // looped for held legs
  // nominal -> mix rate for each play, null while the rates are equal
  std::array<std::unique_ptr<Resampler>, Engine::kRoomPlays> play_rs;
  std::unique_ptr<Resampler> hold_rs;
  std::unique_ptr<Resampler> rec_rs;  // mix rate -> nominal, for the recording
  bool hold_ready = false;            // hold_pcm holds this tick's frame
  std::vector<std::int16_t> extra, hold_pcm, zeros;
  std::vector<std::int16_t> clip_in, clip_out, rec_pcm;  // nominal frames, for the resamplers
  Recording* rec = nullptr;
  bool active = false;  // in the shard's active_ list
  Room(std::uint64_t i, int r, int tick_ms, int speakers)
      : id(i),
        nominal(r),
        rate(r),
        frame(static_cast<std::size_t>(r * tick_ms / 1000)),
        nominal_frame(frame),
        mixer(frame, 64, static_cast<std::size_t>(speakers)),
        extra(frame),
        hold_pcm(frame),
        zeros(frame),
        clip_in(frame),
        clip_out(frame),
        rec_pcm(frame) {}
};

}  // namespace confab::media
