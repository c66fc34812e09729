#pragma once
// Wires the media engine to the core: a participant who joins with an SDP offer gets a leg;
// mute/deaf/kick and room ends become engine commands; what the engine hears (talking, energy,
// floor, DTMF, silent legs) comes back to the core on the control thread.
#include "api/common/media_port.hpp"
#include "api/common/persist.hpp"
#include "bus/local_bus.hpp"
#include "core/service.hpp"
#include "media/engine.hpp"
#include "media/sdp.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace confab::api {
struct MediaPort::Offer {
  media::AudioOffer offer;
  media::Negotiated codec;
  sockaddr_in remote{};
};
}  // namespace confab::api

namespace confab::app {

struct MediaOptions {
  std::string advertise_ip = "127.0.0.1";
  std::filesystem::path data_dir;  // media/ and recordings/ live under it
  std::string hold_music;          // tone string or media id; empty: held members hear silence
};

// A conference's `profile` names its mixing rate: narrowband 8 kHz, wideband 16 kHz,
// cdquality / fullband 48 kHz (or the rate itself, "8000"...); anything else (FreeSWITCH
// profile names we do not know, "default") mixes at the engine's configured rate: 0.
int profile_rate(const boost::json::object& conference);

class MediaBridge final : public api::MediaPort {
 public:
  MediaBridge(core::ConferenceService& svc, bus::LocalBus& bus, media::Engine& engine,
              api::Persister& persist, boost::asio::io_context& io, MediaOptions opts);
  ~MediaBridge() override;

  // The media side ends before the server stops (SIGTERM): the engine's shards are stopped and
  // joined, so nothing reads a clip once this bridge frees them; every play is released; every
  // recording still running is finished and queued on the store as its recording document (the
  // server drains the store next). Idempotent; the destructor calls it.
  void shutdown();

  std::shared_ptr<Offer> check(std::string_view sdp) override;
  std::string attach(const std::string& conference_id, int participant_id,
                     const Offer& offer) override;

  std::size_t legs() const { return legs_.size(); }

  // ---- legs of SIP callers (the SIP bridge, src/app/sip_bridge.hpp) ----
  // What the engine says of a caller's leg: its digits (before and after the join), the end of
  // its per-leg plays, and, before the join, the end of its media (after the join an RTP
  // timeout makes the participant leave, as for every leg).
  class LegListener {
   public:
    virtual ~LegListener() = default;
    virtual void on_leg_dtmf(std::uint64_t leg, char digit) = 0;
    virtual void on_leg_played(std::uint64_t leg, std::uint64_t play) = 0;
    virtual void on_leg_gone(std::uint64_t leg, std::string_view why) = 0;
  };
  void set_leg_listener(LegListener* l) { listener_ = l; }
  struct CallerLeg {
    std::uint64_t leg = 0;
    std::string answer;  // the SDP answer
    int rate = 0;        // the room's: prompts are played at it
  };
  // A leg in the conference's engine room that neither speaks nor hears and sends nothing until
  // set_sending(); media only to the address its own packets prove (SendTo::proven).
  CallerLeg open_caller_leg(const std::string& account_id, const std::string& conference_id,
                            const Offer& offer);
  void set_sending(std::uint64_t leg, bool on);
  // Makes the leg the participant's: from here on it follows the participant's flags.
  void bind_caller_leg(std::uint64_t leg, int participant_id);
  // Removes a leg that is no participant's (a caller who leaves before the join).
  void close_caller_leg(std::uint64_t leg);
  // Plays a WAV file (a prompt) or a tone string / media id (`file` empty) to the leg alone;
  // returns the play id that on_leg_played reports, or 0 when nothing could be played.
  std::uint64_t play_to_leg(std::uint64_t leg, const std::filesystem::path& file,
                            const std::string& ref);
  void stop_leg_play(std::uint64_t leg);
  std::size_t plays() const { return plays_.size(); }

 private:
  struct RoomRef {
    std::uint64_t id = 0;
    int rate = 0;
    std::string account_id;
  };
  struct RecordingRef {
    std::string account_id, conference_id, conference_name;
    std::int64_t start = 0;  // unix seconds
  };
  using ClipPtr = std::shared_ptr<const media::Clip>;
  // A tone string or a media id of the account at `rate`, then `then(clip)` on the control
  // thread: at once for tones and cached clips, after the store thread has read the file for
  // media. A clip that cannot be had is logged and not played. Clips are cached by source and
  // rate (media by revision too): the same entry tone serves every join.
  void with_clip(const std::string& account_id, const std::string& ref, int rate,
                 std::function<void(ClipPtr)> then);
  void cache(std::string key, ClipPtr clip);
  // Plays a clip to the room (leg 0) or one leg, keeping it alive until the engine is done.
  // `conference_id` and `room.id` are checked again when the clip arrives late (file read).
  void start_play(const std::string& conference_id, std::uint64_t room, std::uint64_t leg,
                  ClipPtr clip);
  // play_entry_tone / play_exit_tone of the conference: true, a tone string or a media id.
  void play_tone(const std::string& conference_id, std::string_view key,
                 std::string_view default_tone);
  void on_command(const core::Event& e);
  void collect_recordings();
  struct LegRef {
    std::string conference_id;
    std::string account_id;
    int participant_id = 0;
    std::uint64_t room = 0;
    bool speak = true;  // what the engine was last told
    bool hear = true;
    bool held = false;
  };
  void on_core_event(const core::Event& e);
  // The engine room of a conference (created on first use).
  RoomRef& room_for(const std::string& account_id, const std::string& conference_id);
  ClipPtr file_clip(const std::filesystem::path& file, int rate);
  void on_engine_event(const media::EngineEvent& e);
  void arm();
  void poll_engine();  // polls the engine every 10 ms until it has nothing left to report
  void drop_leg(const std::string& conference_id, int participant_id);
  // Engine flags follow core state: speak/hear, and wait-for-moderator holds.
  void sync_flags(const std::string& conference_id);
  // Engine "must not hear" lists follow the room's relations.
  void sync_blocked(const std::string& conference_id, int listener);

  core::ConferenceService& svc_;
  bus::LocalBus& bus_;
  media::Engine& engine_;
  api::Persister& persist_;
  boost::asio::steady_timer timer_;
  MediaOptions opts_;
  int sub_ = 0;
  bool stopping_ = false;
  bool shut_ = false;
  bool polling_ = false;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::string, RoomRef> rooms_;    // conference id -> engine room
  std::unordered_map<std::uint64_t, ClipPtr> plays_;  // play id -> clip the engine reads
  // Those of plays_ that are hold music of a live room (play id -> engine room): they alone do not
  // keep the poll going; once their room ends they do, until the engine gives them back.
  std::unordered_map<std::uint64_t, std::uint64_t> hold_plays_;
  std::map<std::string, ClipPtr> clips_;  // source@rate -> clip
  // Running recordings (the engine's recorder holds them until they come back finished).
  std::map<const media::Recording*, RecordingRef> recordings_;
  std::unordered_map<std::uint64_t, LegRef> legs_;  // engine leg -> participant
  std::map<std::pair<std::string, int>, std::uint64_t> leg_of_;
  LegListener* listener_ = nullptr;
  struct CallerRef {
    std::string conference_id;
    std::uint64_t room = 0;
    bool bound = false;
  };
  std::unordered_map<std::uint64_t, CallerRef> callers_;        // caller legs (bound or not)
  std::unordered_map<std::uint64_t, std::uint64_t> leg_plays_;  // play id -> caller leg
};

}  // namespace confab::app
