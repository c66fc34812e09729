#include "app/sip_bridge.hpp"

#include "core/error.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

namespace confab::app {
namespace ivr = core::ivr;

namespace {

// The host of a SIP Request-URI ("sip:4000@conf.example.com:5060;transport=udp").
std::string uri_host(std::string_view uri) {
  if (auto colon = uri.find(':'); colon != std::string_view::npos) uri.remove_prefix(colon + 1);
  if (auto at = uri.find('@'); at != std::string_view::npos) uri.remove_prefix(at + 1);
  auto end = uri.find_first_of(":;?>");
  return std::string(uri.substr(0, end));
}

std::string cut(std::string_view s) {
  return std::string(s.substr(0, ivr::kMaxField));
}

}  // namespace

SipBridge::SipBridge(sip::Endpoint& ep, core::ConferenceService& svc, bus::LocalBus& bus,
                     MediaBridge& media, const PromptSet& prompts, boost::asio::io_context& io,
                     SipBridgeOptions opts)
    : ep_(ep),
      svc_(svc),
      bus_(bus),
      media_(media),
      prompts_(prompts),
      io_(io),
      opts_(std::move(opts)),
      lookup_(svc) {
  sub_ = bus_.subscribe([this](const core::Event& e) { on_core_event(e); });
  media_.set_leg_listener(this);
}

SipBridge::~SipBridge() {
  media_.set_leg_listener(nullptr);
  bus_.unsubscribe(sub_);
}

SipBridge::Call* SipBridge::find(sip::CallId id) {
  auto it = calls_.find(id);
  return it == calls_.end() ? nullptr : it->second.get();
}

SipBridge::Call* SipBridge::by_leg(std::uint64_t leg) {
  auto it = by_leg_.find(leg);
  return it == by_leg_.end() ? nullptr : find(it->second);
}

void SipBridge::on_invite(const sip::IncomingCall& in) {
  ivr::IvrConfig cfg;
  cfg.access_number = opts_.access_number;
  cfg.language = opts_.language;
  auto c = std::make_unique<Call>(lookup_, cfg, io_);
  c->id = in.call;
  c->sdp = in.offer;
  c->info.dialed = cut(in.request_user);
  c->info.domain = cut(uri_host(in.request_uri));
  c->info.caller_name = cut(in.from_display);
  c->info.caller_number = cut(in.from_user);
  c->info.source = cut("sip:" + in.source_ip);
  c->info.call_id = cut(in.call_id);
  auto actions = c->ivr.arrived(c->info);
  calls_[in.call] = std::move(c);
  run(in.call, std::move(actions));
}

void SipBridge::run(sip::CallId id, Actions actions) {
  for (std::size_t i = 0; i < actions.size(); ++i) {
    auto* c = find(id);
    if (!c) return;
    Actions more;
    act(*c, actions[i], more);
    actions.insert(actions.end(), std::make_move_iterator(more.begin()),
                   std::make_move_iterator(more.end()));
  }
}

void SipBridge::act(Call& c, const ivr::Action& a, Actions& more) {
  using T = ivr::Action::Type;
  switch (a.type) {
    case T::answer: {
      auto& conf = c.ivr.conference();
      if (!conf) {
        // The access number: the conference (and so the engine room) is not known yet.
        spdlog::info("sip: call {} to the access number: not carried by the bridge yet", c.id);
        finish(c.id, true, 480, "");
        return;
      }
      if (!c.sdp) {
        // Late offer (offer in our 200, answer in the ACK) is not carried out by the bridge yet.
        ep_.reject(c.id, 488, {}, "the conference bridge needs an SDP offer in the INVITE");
        finish(c.id, false, 0, "");
        return;
      }
      std::shared_ptr<api::MediaPort::Offer> offer;
      try {
        offer = media_.check(*c.sdp);
      } catch (const Error& e) {
        ep_.reject(c.id, 488, {}, e.message);
        finish(c.id, false, 0, "");
        return;
      }
      try {
        auto leg = media_.open_caller_leg(conf->account_id, conf->conference_id, *offer);
        c.leg = leg.leg;
        c.rate = leg.rate;
        c.account_id = conf->account_id;
        c.conference_id = conf->conference_id;
        by_leg_[c.leg] = c.id;
        c.answered = ep_.answer(c.id, leg.answer);
      } catch (const std::exception& e) {
        spdlog::warn("sip: call {}: no media leg: {}", c.id, e.what());
        finish(c.id, true, 503, "");
      }
      return;
    }
    case T::hangup: {
      int code = a.reason == ivr::HangupReason::unknown_number ? 404 : 480;
      finish(c.id, true, code, std::string("sip ") + std::string(ivr::reason_name(a.reason)));
      return;
    }
    case T::play:
      c.queue.insert(c.queue.end(), a.prompts.begin(), a.prompts.end());
      c.play_token = a.token;
      c.play_language = a.language;
      if (!c.playing) next_prompt(c, more);
      return;
    case T::stop_play:
      c.queue.clear();
      if (c.playing) media_.stop_leg_play(c.leg);
      c.playing = 0;
      return;
    case T::start_timer: {
      c.timer.expires_after(std::chrono::milliseconds(a.timeout_ms));
      c.timer.async_wait([this, id = c.id, token = a.token](const boost::system::error_code& ec) {
        if (ec) return;
        if (auto* call = find(id)) run(id, call->ivr.timeout(token));
      });
      return;
    }
    case T::cancel_timer:
      c.timer.cancel();
      return;
    case T::record_name: {
      // Name recording is not carried out yet: the IVR goes on without a name.
      auto r = c.ivr.name_recorded(a.token, false);
      more.insert(more.end(), r.begin(), r.end());
      return;
    }
    case T::join: {
      core::ParticipantView p;
      auto outcome = ivr::join(svc_, a.join, &p);
      if (outcome.verdict == ivr::Verdict::ok) {
        c.participant_id = outcome.participant_id;
        media_.bind_caller_leg(c.leg, c.participant_id);
      }
      auto r = c.ivr.joined(outcome);
      more.insert(more.end(), r.begin(), r.end());
      return;
    }
    case T::control: {
      bool done = false;
      try {
        done = ivr::apply_control(svc_, c.account_id, c.conference_id, c.participant_id, a.op);
      } catch (const Error& e) {
        spdlog::info("sip: call {}: keypad {} refused: {}", c.id, ivr::op_name(a.op), e.message);
      }
      if (!done || !find(c.id)) return;
      c.queue.insert(c.queue.end(), a.prompts.begin(), a.prompts.end());
      c.play_language = a.language;
      if (!c.playing) next_prompt(c, more);
      return;
    }
    case T::collect:           // digits always go to the IVR
    case T::stop_record:       // no recording is made (record_name)
    case T::announce:          // only recorded names are announced: none yet
    case T::start_hold_music:  // held legs hear the room's hold music from the engine flags
    case T::stop_hold_music:
      return;
  }
}

void SipBridge::next_prompt(Call& c, Actions& more) {
  while (!c.queue.empty()) {
    auto item = std::move(c.queue.front());
    c.queue.pop_front();
    std::uint64_t id = 0;
    if (item.kind == ivr::PromptItem::Kind::prompt) {
      auto src = resolve_prompt(svc_.directory(), c.account_id, prompts_, c.play_language, item.ref,
                                c.rate);
      if (src.kind == PromptSource::Kind::file)
        id = media_.play_to_leg(c.leg, src.file, "");
      else if (src.kind == PromptSource::Kind::media)
        spdlog::info("sip: prompt override {} is not played to callers yet", src.media_id);
      else
        spdlog::warn("sip: no prompt {} in language {}", item.ref, c.play_language);
    } else if (item.kind == ivr::PromptItem::Kind::media) {
      id = media_.play_to_leg(c.leg, {}, item.ref);
    }
    if (id) {
      c.playing = id;
      return;
    }
  }
  c.playing = 0;
  auto r = c.ivr.prompts_done(c.play_token);
  more.insert(more.end(), r.begin(), r.end());
}

void SipBridge::on_leg_played(std::uint64_t leg, std::uint64_t play) {
  auto* c = by_leg(leg);
  if (!c || c->playing != play) return;
  c->playing = 0;
  Actions more;
  next_prompt(*c, more);
  run(c->id, std::move(more));
}

void SipBridge::on_leg_dtmf(std::uint64_t leg, char digit) {
  if (auto* c = by_leg(leg)) run(c->id, c->ivr.digit(digit));
}

void SipBridge::on_info_digit(sip::CallId call, char digit, int) {
  if (auto* c = find(call)) run(call, c->ivr.digit(digit));
}

void SipBridge::on_leg_gone(std::uint64_t leg, std::string_view why) {
  if (auto* c = by_leg(leg)) finish(c->id, true, 0, why);
}

void SipBridge::on_ack(sip::CallId call, const std::optional<std::string>&) {
  if (auto* c = find(call); c && c->leg) media_.set_sending(c->leg, true);
}

void SipBridge::on_reoffer(sip::CallId call, const std::optional<std::string>&) {
  // The leg keeps its codec and address: a new offer is refused, the call goes on as it was.
  ep_.reject(call, 488, "Not Acceptable Here", "the bridge does not renegotiate media yet");
}

void SipBridge::on_end(sip::CallId call, sip::EndReason reason) {
  finish(call, false, 0, std::string("sip ") + std::string(sip::end_reason_name(reason)));
}

void SipBridge::finish(sip::CallId id, bool signal, int code, std::string_view leave_reason) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  auto c = std::move(it->second);  // forgotten first: what follows raises events about it
  calls_.erase(it);
  if (c->leg) by_leg_.erase(c->leg);
  c->timer.cancel();
  if (signal) {
    if (c->answered)
      ep_.bye(id);
    else if (code == 404)
      ep_.reject(id, 404, {}, "no conference at this number");
    else
      ep_.reject(id, code ? code : 480);
  }
  if (c->participant_id) {
    try {
      svc_.leave(c->account_id, c->conference_id, c->participant_id,
                 leave_reason.empty() ? "sip hangup" : leave_reason);
    } catch (const Error& e) {
      spdlog::debug("sip: call {}: participant already gone: {}", id, e.message);
    }
  }
  if (c->leg) media_.close_caller_leg(c->leg);
}

void SipBridge::on_core_event(const core::Event& e) {
  using core::EventType;
  if (calls_.empty()) return;
  std::vector<sip::CallId> ids;
  for (auto& [id, c] : calls_)
    if (c->participant_id && c->conference_id == e.conference_id) ids.push_back(id);
  for (auto id : ids) {
    auto* c = find(id);
    if (!c) continue;
    bool mine = e.participant && e.participant->participant_id == c->participant_id;
    if ((e.type == EventType::del_member && mine) || e.type == EventType::conference_destroy) {
      // Kicked, the room ended, or the media timed out: the participant is gone, so is the call.
      c->participant_id = 0;
      finish(id, true, 0, "");
      continue;
    }
    run(id, c->ivr.room_changed(ivr::room_view(svc_, c->conference_id, c->participant_id)));
  }
}

}  // namespace confab::app
