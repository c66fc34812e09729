#pragma once
// One media thread: a UDP socket, the rooms placed on it and their legs. Runs a fixed tick;
// everything it touches per tick was allocated when a room or leg was added.
#include "media/addr_table.hpp"
#include "media/codec.hpp"
#include "media/engine.hpp"
#include "media/jitter.hpp"
#include "media/mixer.hpp"
#include "media/spsc.hpp"
#include "media/talk.hpp"

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

struct mmsghdr;
struct iovec;

namespace confab::media {

struct RtpPacket;

struct Command {
  enum class Type : std::uint8_t {
    add_room,
    remove_room,
    add_leg,
    remove_leg,
    set_flags,
    set_blocked,
    play,
    stop_play,
    hold_music,
    record_start,
    record_stop,
    record_leg_start,
    record_leg_stop,
    set_sending,
    set_volume,
    stop
  };
  Type type{};
  std::uint64_t room = 0;
  std::uint64_t leg = 0;
  LegSpec spec;
  bool speak = true;
  bool hear = true;
  bool held = false;
  bool loop = false;
  bool on = false;             // set_sending
  int rate = 0;                // add_room
  int talk = 0, listen = 0;    // set_volume: levels, already clamped
  const Clip* clip = nullptr;  // play, hold_music
  std::uint64_t ref = 0;       // play, hold_music: the id reported back when it ends
  Recording* rec = nullptr;    // record_start, record_leg_start
  std::uint64_t limit = 0;     // record_leg_start: samples it may hold
  std::array<std::uint64_t, Engine::kMaxBlocked> blocked{};
  std::uint8_t blocked_count = 0;
};

class Shard {
 public:
  Shard(const EngineConfig& cfg, int index);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  std::uint16_t port() const { return port_; }
  bool realtime() const { return realtime_; }  // runs SCHED_FIFO (EngineConfig::realtime_priority)
  // False when the queue is full. Wakes the shard when it sleeps (it has nothing to tick).
  bool command(const Command& c);
  // Stops the thread and joins it: nothing it references is read any more afterwards.
  void stop();
  // Events, then (once stopped) those the full queue held back.
  std::size_t poll(const std::function<void(const EngineEvent&)>& on_event);
  void add_stats(Engine::Stats& s) const;

 private:
  struct Group;
  struct Leg;
  struct Room;
  struct Play {
    const Clip* clip = nullptr;
    std::uint64_t id = 0;
    std::size_t pos = 0;
    bool loop = false;
  };

 public:
  using PlayState = Play;

 private:
  void run();
  void sleep_until_command();
  void apply(const Command& c);
  void receive(std::int64_t now_ms);
  // The one leg of `from`'s IP that has received nothing yet, or null (none, or several).
  Leg* pending_leg(const sockaddr_in& from) const;
  void add_pending(Leg& leg);
  void remove_pending(Leg& leg);
  // The leg follows `from` from now on (symmetric RTP); false when `from` is not allowed.
  bool latch(Leg& leg, const sockaddr_in& from);
  bool can_send(const Leg& leg) const;
  std::atomic<std::uint64_t>& codec_encodes(const Negotiated& n) {
    return codec_encodes_[static_cast<std::size_t>(n.codec)];
  }
  void on_packet(Leg& leg, const std::uint8_t* data, std::size_t len, std::int64_t now_ms,
                 const sockaddr_in& from, bool known);
  // The jitter buffer's sequence number for an audio packet of the leg (see Leg::seq_skew).
  static std::uint16_t audio_seq(Leg& leg, const RtpPacket& p);
  void mix_room(Room& room, std::int64_t now_ms);
  // What the leg sent this tick (decoded, at its codec's rate; silence when nothing came) to
  // what analyses it: its in-band DTMF detector, its recording.
  void own_audio(Room& room, Leg& leg, std::span<const std::int16_t> frame, std::int64_t now_ms);
  // Adds the play's next frame to `out` (at the mix rate; `rs`, when set, takes the clip from
  // the room's nominal rate there); false (and reported) once it has ended.
  bool advance(Play& p, Room& room, std::uint64_t leg, std::span<std::int16_t> out, Resampler* rs);
  // The mix rate a room's legs call for, and the switch to it (between ticks: allocates).
  int wanted_rate(const Room& room, int joining_rate) const;
  void set_rate(Room& room, int rate);
  void make_leg_rate(Room& room, Leg& leg);
  void end_play(Play& p, std::uint64_t room, std::uint64_t leg);
  std::span<const std::uint8_t> encode_private(Leg& leg, std::span<const std::int16_t> pcm);
  void send(Leg& leg, std::span<const std::uint8_t> payload);
  // One datagram (head, then body if any) into this tick's send batch; both must outlive flush().
  void queue(const sockaddr_in& to, std::span<const std::uint8_t> head,
             std::span<const std::uint8_t> body = {});
  void on_rtcp(Leg& leg, std::span<const std::uint8_t> d, std::int64_t now_ms);
  // Queues the leg's SR (or RR when we have sent nothing) when its report is due.
  void report_rtcp(Leg& leg, std::int64_t now_ms);
  void send_bye(Leg& leg);
  int next_interval();
  void drop_room(Room& room);
  void forget_leg(Room& room, Leg* leg);
  // A room is ticked while it has legs, a recording or a room-wide play; others cost nothing.
  void update_active(Room& room);
  bool busy(const Room& room) const;
  void flush();
  void report(EngineEvent::Type t, const Room& room, const Leg& leg, int value);
  // played, timeout and bye are never dropped: a full queue holds them back (see backlog_).
  void emit(const EngineEvent& e);
  void flush_backlog();
  void reserve_backlog();

  EngineConfig cfg_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  Spsc<Command> commands_;
  Spsc<EngineEvent> events_;
  // Critical events (played, timeout, bye) the full queue could not take, oldest first. Its
  // capacity is reserved between ticks for every such event the live legs and plays can still
  // raise, so holding one back never allocates.
  std::vector<EngineEvent> backlog_;
  std::map<std::uint64_t, std::unique_ptr<Room>> rooms_;
  std::vector<Room*> active_;  // the rooms ticked (see update_active)
  AddrTable<Leg> by_addr_;     // ip:port -> leg (offered and latched addresses)
  AddrTable<Leg> pending_;     // ip -> first of the legs of that IP that received nothing
  std::unordered_map<std::uint64_t, Leg*> by_id_;
  // Batched I/O arrays, grown when legs are added, reused every tick.
  std::vector<mmsghdr> rx_msgs_;
  std::vector<iovec> rx_iov_;
  std::vector<std::uint8_t> rx_buf_;
  std::vector<sockaddr_in> rx_addr_;
  std::vector<mmsghdr> tx_msgs_;
  std::vector<iovec> tx_iov_;
  std::size_t tx_count_ = 0;

  std::atomic<bool> stop_{false};
  std::atomic<bool> stopped_{false};  // the thread has been joined
  std::atomic<bool> idle_{false};     // the thread sleeps until wake_ changes
  std::atomic<std::uint32_t> wake_{0};
  std::atomic<std::uint64_t> ticks_{0}, late_{0}, rx_{0}, tx_{0}, rx_unknown_{0}, rx_refused_{0},
      decodes_{0}, mixed_samples_{0}, rate_changes_{0}, events_dropped_{0}, events_deferred_{0},
      rtcp_rx_{0}, rtcp_tx_{0}, sleeps_{0}, dtmf_inband_{0}, dtmf_duplicates_{0};
  std::array<std::atomic<std::uint64_t>, kCodecs> codec_encodes_{};
  std::uint32_t rand_ = 0x9e3779b9;  // report jitter (RFC 3550 6.2), not security
  std::int64_t tick_ms_ = 0;         // when this tick started
  std::string cname_;                // our RTCP CNAME
  std::thread thread_;
  bool realtime_ = false;
};

}  // namespace confab::media
