#include "app/media_bridge.hpp"

#include "core/error.hpp"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <stdexcept>

namespace confab::app {

MediaBridge::MediaBridge(core::ConferenceService& svc, bus::LocalBus& bus, media::Engine& engine,
                         boost::asio::io_context& io, std::string advertise_ip)
    : svc_(svc), bus_(bus), engine_(engine), timer_(io), advertise_ip_(std::move(advertise_ip)) {
  sub_ = bus_.subscribe([this](const core::Event& e) { on_core_event(e); });
  arm();
}

MediaBridge::~MediaBridge() {
  stopping_ = true;
  bus_.unsubscribe(sub_);
  timer_.cancel();
}

void MediaBridge::arm() {
  // Engine events are few (talk changes, energy twice a second): a 10 ms poll keeps them prompt
  // without waking the control thread per packet.
  timer_.expires_after(std::chrono::milliseconds(10));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    engine_.poll([this](const media::EngineEvent& e) { on_engine_event(e); });
    arm();
  });
}

std::shared_ptr<api::MediaPort::Offer> MediaBridge::check(std::string_view sdp) {
  auto o = std::make_shared<Offer>();
  try {
    o->offer = media::parse_offer(sdp);
    o->codec = media::negotiate(o->offer);
  } catch (const std::invalid_argument& e) {
    throw Error(Errc::not_acceptable, e.what());
  }
  if (o->offer.direction == "inactive")
    throw Error(Errc::not_acceptable, "the audio stream is inactive");
  o->remote.sin_family = AF_INET;
  o->remote.sin_port = htons(o->offer.port);
  if (::inet_pton(AF_INET, o->offer.address.c_str(), &o->remote.sin_addr) != 1)
    throw Error(Errc::not_acceptable, "media address " + o->offer.address +
                                          " is not an IPv4 address (IPv6 and "
                                          "host names are not supported yet)");
  // Everything is mixed on the engine's tick; the answer asks the far end for that ptime.
  o->codec.ptime = engine_.config().tick_ms;
  return o;
}

std::string MediaBridge::attach(const std::string& conference_id, int participant_id,
                                const Offer& offer) {
  auto* room = svc_.room(conference_id);
  auto* p = room ? room->find(participant_id) : nullptr;
  if (!p) throw Error(Errc::not_found, "participant not found");
  auto [it, fresh] = rooms_.try_emplace(conference_id, 0);
  if (fresh) it->second = next_id_++;
  auto port = engine_.add_room(it->second);
  media::LegSpec spec;
  spec.leg = next_id_++;
  spec.room = it->second;
  spec.codec = offer.codec;
  spec.remote = offer.remote;
  spec.level_ext = offer.offer.audio_level_ext;
  bool held = room->holds(svc_.get("conference", room->account_id(), conference_id).body, *p);
  spec.speak = p->speak && !held;
  spec.hear = p->hear && !held;
  if (!engine_.add_leg(spec)) {
    // The shard is saturated with commands: refuse the join rather than admit someone who
    // would never hear or be heard.
    svc_.leave(room->account_id(), conference_id, participant_id, "media unavailable");
    throw Error(Errc::unavailable, "the media engine is busy: try again");
  }
  legs_[spec.leg] = {conference_id, room->account_id(), participant_id,
                     it->second,    spec.speak,         spec.hear};
  leg_of_[{conference_id, participant_id}] = spec.leg;
  return media::make_answer(offer.offer, offer.codec, advertise_ip_, port, spec.leg);
}

void MediaBridge::drop_leg(const std::string& conference_id, int participant_id) {
  auto it = leg_of_.find({conference_id, participant_id});
  if (it == leg_of_.end()) return;
  auto leg = legs_.find(it->second);
  if (leg != legs_.end()) {
    engine_.remove_leg(leg->second.room, it->second);
    legs_.erase(leg);
  }
  leg_of_.erase(it);
}

void MediaBridge::on_core_event(const core::Event& e) {
  using core::EventType;
  switch (e.type) {
    case EventType::mute_member:
    case EventType::unmute_member:
    case EventType::deaf_member:
    case EventType::undeaf_member:
    case EventType::role_change:
    case EventType::add_member:  // a moderator arriving releases members who wait for one
      sync_flags(e.conference_id);
      return;
    case EventType::command:
      if (e.detail == "relate") {
        for (auto key : {"participant_id", "other_participant"})
          if (auto* v = e.payload.if_contains(key); v && v->is_int64())
            sync_blocked(e.conference_id, static_cast<int>(v->as_int64()));
      }
      return;
    case EventType::del_member:
      if (e.participant) drop_leg(e.conference_id, e.participant->participant_id);
      sync_flags(e.conference_id);  // the last moderator leaving holds members again
      return;
    case EventType::conference_destroy: {
      auto it = rooms_.find(e.conference_id);
      if (it == rooms_.end()) return;
      engine_.remove_room(it->second);
      rooms_.erase(it);
      return;
    }
    default:
      return;
  }
}

void MediaBridge::sync_flags(const std::string& conference_id) {
  auto* room = svc_.room(conference_id);
  auto* doc = svc_.directory().find("conference", conference_id);
  if (!room || !doc) return;
  for (auto& p : room->participants()) {
    auto it = leg_of_.find({conference_id, p.participant_id});
    if (it == leg_of_.end()) continue;
    bool held = room->holds(doc->body, p);
    auto& leg = legs_[it->second];
    bool speak = p.speak && !held, hear = p.hear && !held;
    // Only changes go to the engine: a join must not resend every leg of a big room.
    if (speak == leg.speak && hear == leg.hear) continue;
    leg.speak = speak;
    leg.hear = hear;
    engine_.set_flags(leg.room, it->second, speak, hear);
  }
}

void MediaBridge::sync_blocked(const std::string& conference_id, int listener) {
  auto* room = svc_.room(conference_id);
  auto it = leg_of_.find({conference_id, listener});
  if (!room || it == leg_of_.end()) return;
  std::vector<std::uint64_t> legs;
  for (int speaker : room->blocked_for(listener))
    if (auto s = leg_of_.find({conference_id, speaker}); s != leg_of_.end())
      legs.push_back(s->second);
  engine_.set_blocked(legs_[it->second].room, it->second, legs);
}

void MediaBridge::on_engine_event(const media::EngineEvent& e) {
  auto it = legs_.find(e.leg);
  if (it == legs_.end()) return;  // the leg left meanwhile
  auto ref = it->second;          // leave() below may erase it
  using T = media::EngineEvent::Type;
  switch (e.type) {
    case T::talking:
      svc_.media_talking(ref.conference_id, ref.participant_id, true, e.value);
      break;
    case T::quiet:
      svc_.media_talking(ref.conference_id, ref.participant_id, false, e.value);
      break;
    case T::energy:
      svc_.media_energy(ref.conference_id, ref.participant_id, e.value);
      break;
    case T::floor:
      svc_.media_floor(ref.conference_id, ref.participant_id);
      break;
    case T::dtmf:
      svc_.media_dtmf(ref.conference_id, ref.participant_id, static_cast<char>(e.value));
      break;
    case T::timeout:
      try {
        svc_.leave(ref.account_id, ref.conference_id, ref.participant_id, "rtp timeout");
      } catch (const Error& err) {
        spdlog::debug("media: timed-out leg {} already gone: {}", e.leg, err.message);
        drop_leg(ref.conference_id, ref.participant_id);
      }
      break;
  }
}

}  // namespace confab::app
