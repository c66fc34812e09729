#pragma once
// Wires the media engine to the core: a participant who joins with an SDP offer gets a leg;
// mute/deaf/kick and room ends become engine commands; what the engine hears (talking, energy,
// floor, DTMF, silent legs) comes back to the core on the control thread.
#include "api/common/media_port.hpp"
#include "bus/local_bus.hpp"
#include "core/service.hpp"
#include "media/engine.hpp"
#include "media/sdp.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <map>
#include <string>
#include <unordered_map>

namespace confab::api {
struct MediaPort::Offer {
  media::AudioOffer offer;
  media::Negotiated codec;
  sockaddr_in remote{};
};
}  // namespace confab::api

namespace confab::app {

class MediaBridge final : public api::MediaPort {
 public:
  MediaBridge(core::ConferenceService& svc, bus::LocalBus& bus, media::Engine& engine,
              boost::asio::io_context& io, std::string advertise_ip);
  ~MediaBridge() override;

  std::shared_ptr<Offer> check(std::string_view sdp) override;
  std::string attach(const std::string& conference_id, int participant_id,
                     const Offer& offer) override;

  std::size_t legs() const { return legs_.size(); }

 private:
  struct LegRef {
    std::string conference_id;
    std::string account_id;
    int participant_id = 0;
    std::uint64_t room = 0;
    bool speak = true;  // what the engine was last told
    bool hear = true;
  };
  void on_core_event(const core::Event& e);
  void on_engine_event(const media::EngineEvent& e);
  void arm();
  void drop_leg(const std::string& conference_id, int participant_id);
  // Engine flags follow core state: speak/hear, and wait-for-moderator holds.
  void sync_flags(const std::string& conference_id);
  // Engine "must not hear" lists follow the room's relations.
  void sync_blocked(const std::string& conference_id, int listener);

  core::ConferenceService& svc_;
  bus::LocalBus& bus_;
  media::Engine& engine_;
  boost::asio::steady_timer timer_;
  std::string advertise_ip_;
  int sub_ = 0;
  bool stopping_ = false;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::string, std::uint64_t> rooms_;  // conference id -> engine room
  std::unordered_map<std::uint64_t, LegRef> legs_;        // engine leg -> participant
  std::map<std::pair<std::string, int>, std::uint64_t> leg_of_;
};

}  // namespace confab::app
