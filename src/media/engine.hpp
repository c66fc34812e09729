#pragma once
// The audio engine (DESIGN.md sections 2-3): K shard threads, each owning one UDP socket and the
// rooms placed on it. The control thread talks to a shard through a bounded command queue and
// hears back through an event queue; nothing else is shared.
#include "media/cidr.hpp"
#include "media/recorder.hpp"
#include "media/sdp.hpp"
#include "media/tone.hpp"

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace confab::media {

struct EngineConfig {
  std::string bind_ip = "127.0.0.1";
  std::uint16_t port_base = 0;  // shard i binds port_base + i; 0: any free port
  int shards = 1;
  int tick_ms = 20;
  int conference_rate = 48000;  // default room rate: 8000, 16000 or 48000 (profile "default")
  int max_speakers = 3;
  int rtp_timeout_ms = 30000;   // a leg that sends nothing this long is dropped
  int rtcp_interval_ms = 5000;  // mean RTCP report interval per leg (RFC 3550's minimum)
  // Where legs may send media (docs/security.md, "Media"): empty, anywhere; else a leg whose
  // address is outside is refused (allowed()), and packets from outside never latch a leg.
  std::vector<Cidr> allow_destinations;
  std::size_t command_queue = 4096;  // per shard
  // Shard threads run SCHED_FIFO at this priority (1-99) when > 0 and the process may (root or
  // CAP_SYS_NICE; FreeSWITCH's -rp): a busy machine then preempts the mix less. 0: normal.
  int realtime_priority = 0;
  std::size_t event_queue = 16384;  // per shard
};

// Where a leg's media goes (docs/security.md, "Media"). Every leg follows the source of its peer's
// packets once they arrive (symmetric RTP, RFC 7362): the first valid RTP packet from the offered
// IP (any port: a NAT, or a tool that sends from another socket) latches the leg to its source.
enum class SendTo : std::uint8_t {
  offered,  // before that, to the offered address (REST legs: the token holder answers for it)
  proven,   // before that, nothing (a caller nobody vouches for: only a proven address)
};

struct LegSpec {
  std::uint64_t leg = 0;
  std::uint64_t room = 0;
  Negotiated codec;
  sockaddr_in remote{};  // the offered address
  int level_ext = 0;     // RFC 6464 extension id, 0 when not negotiated
  bool speak = true;
  bool hear = true;
  bool held = false;         // waiting for a moderator (see set_flags)
  bool rtcp_mux = false;     // else our RTCP goes to the RTP port + 1
  bool mute_detect = false;  // muted: still decoded for talk detection (never mixed)
  SendTo send_to = SendTo::offered;
  // False: nothing is sent (RTP or RTCP) until set_sending(true): a SIP leg before the ACK
  // confirms its dialog, a WebRTC leg before ICE (or once consent expires, RFC 7675).
  bool sending = true;
  // Keypad tones in the leg's audio are reported as `dtmf` events too (media/dtmf_detect.hpp,
  // run on its decoded audio at the codec's rate), for phones that send no RFC 4733 events. The
  // leg's audio is then decoded even while it is muted (speak false). A key that also comes as
  // an RFC 4733 event is reported once: tones in the audio are ignored while an event lasts and
  // for Engine::kDtmfOverlapMs after its last packet, and an event for the key just heard in
  // the audio (within that time) is not reported again. Costs nothing on legs without it.
  bool inband_dtmf = false;
};

struct EngineEvent {
  // played: a play ended (finished, stopped, replaced, or its leg/room went); `ref` names it.
  // bye: the leg's source said RTCP BYE.
  enum class Type : std::uint8_t { talking, quiet, energy, dtmf, timeout, floor, played, bye };
  Type type{};
  std::uint64_t room = 0;
  std::uint64_t leg = 0;
  int value = 0;          // energy score; DTMF: the digit character ('0'-'9', '*', '#', 'A'-'D')
  std::uint64_t ref = 0;  // played: the play's id
};

class Shard;
struct Command;

class Engine {
 public:
  explicit Engine(EngineConfig cfg);
  // How many shard threads got the realtime_priority asked for (all, or none when not allowed).
  int realtime_shards() const;
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Control thread API. A room lives on one shard; its legs receive on that shard's port.
  // Returns the port legs of this room use. `rate`: the room's nominal rate (0: the default):
  // its clips and recordings are at that rate; it mixes at the highest rate its legs' codecs
  // use, up to that (an all-G.711 room mixes at 8 kHz).
  std::uint16_t add_room(std::uint64_t room, int rate = 0);
  int room_rate(int rate) const { return rate ? rate : cfg_.conference_rate; }
  void remove_room(std::uint64_t room);
  // False when the shard's command queue is full: the leg was not added.
  bool add_leg(const LegSpec& spec);
  void remove_leg(std::uint64_t room, std::uint64_t leg);
  // `held`: waiting for a moderator; hears the room's hold music (or silence), is not heard.
  // A leg that neither speaks nor hears (a caller in an IVR phase, before it joins the mix) is
  // heard by nobody and hears only its own play (play() with its leg id); it still reports DTMF
  // (RFC 4733 always, tones with LegSpec::inband_dtmf) and can be recorded (record_leg_start).
  void set_flags(std::uint64_t room, std::uint64_t leg, bool speak, bool hear, bool held = false);
  // Plays `clip` (at the room's rate) to the whole room (leg 0) or one leg, once or in a loop.
  // The clip must stay alive until a `played` event with this `id` comes back. A leg has one
  // play at a time (a new one replaces it); a room mixes up to kRoomPlays at once.
  static constexpr std::size_t kRoomPlays = 4;
  bool play(std::uint64_t room, std::uint64_t leg, const Clip* clip, std::uint64_t id,
            bool loop = false);
  void stop_play(std::uint64_t room, std::uint64_t leg);  // leg 0: every room-wide play
  // The music held legs hear (null: silence). Same lifetime rule, reported as played too.
  bool set_hold_music(std::uint64_t room, const Clip* clip, std::uint64_t id);
  // Records the room's mix to `path` (WAV, the room's rate). Throws std::runtime_error when the
  // file cannot be created or the shard is saturated. A finished recording comes back through
  // take_recordings() after record_stop() or the room's removal.
  std::shared_ptr<Recording> record_start(std::uint64_t room, int rate,
                                          const std::filesystem::path& path);
  void record_stop(std::uint64_t room);
  // Records what one leg sends (play_name: a caller records its name, announced later): its
  // decoded audio before its talk level, none of the mix, as WAV at `rate` (8000, 16000 or
  // 48000; 0: the room's nominal rate), also while the leg is muted or in an IVR phase (speak
  // and hear false). A pause in its stream is recorded as silence: the file runs in real time.
  // Ends at record_leg_stop(), once it holds `max_ms` (1..kMaxLegRecordMs), or when the leg or
  // its room goes; a new one on the same leg ends the previous one. Comes back through
  // take_recordings() like a room's. Throws std::invalid_argument for a bad rate or max_ms, and
  // as record_start does when the file cannot be created or the shard is saturated.
  static constexpr int kMaxLegRecordMs = 3'600'000;
  std::shared_ptr<Recording> record_leg_start(std::uint64_t room, std::uint64_t leg, int rate,
                                              std::filesystem::path path, int max_ms);
  void record_leg_stop(std::uint64_t room, std::uint64_t leg);
  // Every finished recording (of rooms and of legs) since the last call.
  std::vector<std::shared_ptr<Recording>> take_recordings() { return recorder_.take_finished(); }
  static constexpr std::size_t kMaxBlocked = 16;
  // The legs `listener` must not hear (relate); replaces the previous list. At most kMaxBlocked.
  void set_blocked(std::uint64_t room, std::uint64_t listener,
                   const std::vector<std::uint64_t>& speakers);
  // Lets a leg send (its signalling confirmed it) or stops it sending.
  void set_sending(std::uint64_t room, std::uint64_t leg, bool on);
  // Volume steps, FreeSWITCH's `vol talk` / `vol listen` (keypad controls): each of `talk` and
  // `listen` is a level from -kVolumeSteps to +kVolumeSteps (clamped), 0 unity, each step
  // kVolumeStepDb (so -12 dB .. +12 dB; FreeSWITCH's own table is not in dB). `talk` scales what
  // the leg sends into the mix (after talk detection, which keeps judging the leg's own level;
  // record_leg_start records it unscaled); `listen` scales everything the leg hears (the mix,
  // its prompts, the hold music), after the room's limiter, clamped. A leg whose listen level is
  // not 0 is encoded for alone; every other listener keeps its group's shared encode. False when
  // the shard's command queue is full: nothing changed (the caller may say so and retry).
  static constexpr int kDtmfOverlapMs = 500;  // see LegSpec::inband_dtmf
  static constexpr int kVolumeSteps = 4;
  static constexpr double kVolumeStepDb = 3.0;
  bool set_volume(std::uint64_t room, std::uint64_t leg, int talk, int listen);
  // Drains every event reported since the last call (played, timeout and bye are never
  // dropped; once stopped, those still held back come too).
  std::size_t poll(const std::function<void(const EngineEvent&)>& on_event);
  // Stops and joins every shard (rooms dropped: plays end, recordings close), then finishes
  // every recording (take_recordings() has them). Nothing the engine was handed (clips) is read
  // afterwards. Idempotent; the destructor calls it.
  void stop();
  // Commands still waiting for room in a shard's queue (see send()).
  std::size_t commands_waiting() const;
  // Whether media may be sent to `ip` (network byte order, as in sockaddr_in): the allowlist.
  bool allowed(std::uint32_t ip_net_order) const;

  const EngineConfig& config() const { return cfg_; }
  std::uint16_t port_of(std::uint64_t room) const;

  struct Stats {
    std::uint64_t ticks = 0, late_ticks = 0, rx_packets = 0, tx_packets = 0, rx_unknown = 0,
                  encodes = 0, decodes = 0, queue_full = 0, rtcp_rx = 0, rtcp_tx = 0;
    std::uint64_t rx_refused = 0;       // packets from outside allow_destinations, not latched
    std::uint64_t events_deferred = 0;  // critical events held back by a full queue (not lost)
    std::uint64_t sleeps = 0;           // times a shard with nothing to tick went to sleep
    std::uint64_t mixed_samples = 0;    // samples mixed, over rooms and ticks (at mix rates)
    std::uint64_t rate_changes = 0;     // times a room switched its mix rate
    std::array<std::uint64_t, kCodecs> codec_encodes{};  // by Codec
    std::uint64_t commands_deferred = 0;  // commands a full queue held back (not lost)
    std::uint64_t commands_waiting = 0;   // of those, still waiting
    std::uint64_t dtmf_inband = 0;        // keys found in legs' audio and reported
    std::uint64_t dtmf_duplicates = 0;    // keys found both ways: the second finding not reported
  };
  Stats stats() const;  // summed over shards (read racily: for reports only)

 private:
  std::size_t index_of(std::uint64_t room) const;
  Shard& shard_of(std::uint64_t room) const { return *shards_[index_of(room)]; }
  // Pushes `c` to its room's shard. A full queue: a command the caller can refuse (`may_defer`
  // false: a join, a play, a recording) returns false; any other (a leave, flags, stops) waits
  // on the control side, in order, and goes at the next send() or poll(): none is lost.
  bool send(const Command& c, bool may_defer = true);
  void flush_deferred();
  // Creates the file and hands it to the shard with `c` (record_start, record_leg_start).
  std::shared_ptr<Recording> start_recording(Command& c, int rate,
                                             const std::filesystem::path& path);
  struct Deferred;  // per shard, control thread only
  std::unique_ptr<Deferred> deferred_;
  EngineConfig cfg_;
  bool stopped_ = false;
  Recorder recorder_;  // declared before the shards: they stop writing before it goes
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unordered_map<std::uint64_t, std::size_t> placement_;  // room -> shard (control thread)
  std::unordered_map<std::uint64_t, int> nominal_;            // room -> its nominal rate
};

}  // namespace confab::media
