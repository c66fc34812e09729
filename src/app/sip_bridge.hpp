#pragma once
// The conference bridge of SIP callers (docs/sip.md, "Dial-in"): a SipApp that runs one dial-in
// IVR (core/ivr.hpp) per call and carries out its actions: the answer with a media leg in the
// conference's engine room, prompts to that leg alone, digits (RFC 4733 from the engine, SIP
// INFO) to the IVR, the join through the same ConferenceService::join as REST, keypad controls,
// and the end of the call. The dialog and the participant end together: the caller's BYE or
// CANCEL makes the participant leave; a kick, the room's end or an RTP timeout sends BYE.
#include "app/media_bridge.hpp"
#include "app/prompt_set.hpp"
#include "bus/local_bus.hpp"
#include "core/ivr.hpp"
#include "core/ivr_service.hpp"
#include "sip/endpoint.hpp"
#include "sip/sip_app.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

namespace confab::app {

struct SipBridgeOptions {
  std::string access_number = "conference";  // [sip] access_number
  std::string language = "en";               // [sip] language
};

class SipBridge final : public sip::SipApp, public MediaBridge::LegListener {
 public:
  SipBridge(sip::Endpoint& ep, core::ConferenceService& svc, bus::LocalBus& bus, MediaBridge& media,
            const PromptSet& prompts, boost::asio::io_context& io, SipBridgeOptions opts);
  ~SipBridge() override;

  void on_invite(const sip::IncomingCall& call) override;
  void on_ack(sip::CallId call, const std::optional<std::string>& answer) override;
  void on_reoffer(sip::CallId call, const std::optional<std::string>& offer) override;
  void on_info_digit(sip::CallId call, char digit, int duration_ms) override;
  void on_end(sip::CallId call, sip::EndReason reason) override;

  void on_leg_dtmf(std::uint64_t leg, char digit) override;
  void on_leg_played(std::uint64_t leg, std::uint64_t play) override;
  void on_leg_gone(std::uint64_t leg, std::string_view why) override;

  std::size_t calls() const { return calls_.size(); }

 private:
  struct Call {
    Call(core::ivr::IvrLookup& lookup, core::ivr::IvrConfig cfg, boost::asio::io_context& io)
        : ivr(lookup, std::move(cfg)), timer(io) {}
    sip::CallId id = 0;
    core::ivr::Ivr ivr;
    core::ivr::CallInfo info;
    std::optional<std::string> sdp;  // the caller's offer
    std::uint64_t leg = 0;
    int rate = 0;
    bool answered = false;
    std::string account_id, conference_id;
    int participant_id = 0;
    // the IVR's current play: items still to play, the play going, its token
    std::deque<core::ivr::PromptItem> queue;
    std::string play_language;
    std::uint64_t play_token = 0, playing = 0;
    boost::asio::steady_timer timer;
  };
  using Actions = std::vector<core::ivr::Action>;
  Call* find(sip::CallId id);
  Call* by_leg(std::uint64_t leg);
  // Carries out actions in order; stops once the call is gone.
  void run(sip::CallId id, Actions actions);
  void act(Call& c, const core::ivr::Action& a, Actions& more);
  void next_prompt(Call& c, Actions& more);
  // Ends the call: the final answer or BYE, the participant's leave, the leg; forgets it.
  void finish(sip::CallId id, bool signal, int code, std::string_view leave_reason);
  void on_core_event(const core::Event& e);

  sip::Endpoint& ep_;
  core::ConferenceService& svc_;
  bus::LocalBus& bus_;
  MediaBridge& media_;
  const PromptSet& prompts_;
  boost::asio::io_context& io_;
  SipBridgeOptions opts_;
  core::ivr::ServiceLookup lookup_;
  int sub_ = 0;
  std::unordered_map<sip::CallId, std::unique_ptr<Call>> calls_;
  std::unordered_map<std::uint64_t, sip::CallId> by_leg_;
};

}  // namespace confab::app
