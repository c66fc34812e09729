#include "app/media_bridge.hpp"

#include "core/error.hpp"
#include "media/wav.hpp"
#include "store/media_files.hpp"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <system_error>

namespace confab::app {
namespace json = boost::json;

namespace {
// A media file is read whole on the store thread; ten minutes of 48 kHz stereo fit.
constexpr std::size_t kMaxMediaBytes = 128u << 20;
}  // namespace

int profile_rate(const json::object& conference) {
  auto* v = conference.if_contains("profile");
  if (!v || !v->is_string()) return 0;
  std::string_view p = v->as_string();
  if (p == "narrowband" || p == "8000" || p == "8k") return 8000;
  if (p == "wideband" || p == "16000" || p == "16k") return 16000;
  if (p == "cdquality" || p == "fullband" || p == "48000" || p == "48k") return 48000;
  return 0;
}

MediaBridge::MediaBridge(core::ConferenceService& svc, bus::LocalBus& bus, media::Engine& engine,
                         api::Persister& persist, boost::asio::io_context& io, MediaOptions opts)
    : svc_(svc), bus_(bus), engine_(engine), persist_(persist), timer_(io), opts_(std::move(opts)) {
  sub_ = bus_.subscribe([this](const core::Event& e) { on_core_event(e); });
}

MediaBridge::~MediaBridge() {
  shutdown();
  bus_.unsubscribe(sub_);
}

void MediaBridge::shutdown() {
  if (shut_) return;
  shut_ = stopping_ = true;
  timer_.cancel();
  engine_.stop();
  // Only the clips matter now: participants are not made to leave by a stopping server.
  engine_.poll([this](const media::EngineEvent& e) {
    if (e.type == media::EngineEvent::Type::played) plays_.erase(e.ref);
  });
  hold_plays_.clear();
  collect_recordings();
  if (!recordings_.empty())
    spdlog::error("media: {} recording(s) not finished at shutdown", recordings_.size());
  plays_.clear();
}

void MediaBridge::poll_engine() {
  if (polling_ || stopping_) return;
  polling_ = true;
  arm();
}

void MediaBridge::arm() {
  // Engine events are few (talk changes, energy twice a second): a 10 ms poll keeps them prompt
  // without waking the control thread per packet. Only while something can raise one (legs,
  // plays, recordings): an idle server does not wake 100 times a second for nothing.
  timer_.expires_after(std::chrono::milliseconds(10));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) {
      polling_ = false;
      return;
    }
    engine_.poll([this](const media::EngineEvent& e) { on_engine_event(e); });
    collect_recordings();
    // Hold music lasts as long as its room: it alone does not keep the poll going (its end is
    // collected by the poll a room's removal starts, or the next one).
    if (legs_.empty() && callers_.empty() && plays_.size() == hold_plays_.size() &&
        recordings_.empty() && engine_.commands_waiting() == 0) {
      polling_ = false;
      return;
    }
    arm();
  });
}

std::shared_ptr<api::MediaPort::Offer> MediaBridge::check(std::string_view sdp) {
  auto o = std::make_shared<Offer>();
  try {
    o->offer = media::parse_offer(sdp);
    o->codec = media::negotiate(o->offer);
  } catch (const media::SdpTooLarge& e) {
    throw field_error("sdp", e.rule, e.what());  // the client's mistake: 400
  } catch (const std::invalid_argument& e) {
    throw Error(Errc::not_acceptable, e.what());
  }
  if (o->offer.direction == "inactive")
    throw Error(Errc::not_acceptable, "the audio stream is inactive");
  o->remote.sin_family = AF_INET;
  o->remote.sin_port = htons(o->offer.port);
  // (inet_pton reads a C string: an address with a NUL in it would pass as its first part.)
  if (o->offer.address.find('\0') != std::string::npos ||
      ::inet_pton(AF_INET, o->offer.address.c_str(), &o->remote.sin_addr) != 1)
    throw Error(Errc::not_acceptable, "media address " + o->offer.address +
                                          " is not an IPv4 address (IPv6 and "
                                          "host names are not supported yet)");
  // Media goes only where it is wanted (docs/security.md, "Media").
  auto ip = ntohl(o->remote.sin_addr.s_addr);
  if (ip == 0)
    throw Error(Errc::not_acceptable,
                "media address 0.0.0.0 (RFC 2543 hold) names nowhere to send the audio to");
  if ((ip >> 28) == 0xe || ip == 0xffffffffu || (ip >> 24) == 0)
    throw Error(Errc::not_acceptable,
                "media address " + o->offer.address + " is not a unicast host address");
  if (!engine_.allowed(o->remote.sin_addr.s_addr))
    throw Error(Errc::forbidden,
                "media address " + o->offer.address + " is outside [media] allow_destinations");
  // Everything is mixed on the engine's tick; the answer asks the far end for that ptime.
  o->codec.ptime = engine_.config().tick_ms;
  return o;
}

std::string MediaBridge::attach(const std::string& conference_id, int participant_id,
                                const Offer& offer) {
  auto* room = svc_.room(conference_id);
  auto* p = room ? room->find(participant_id) : nullptr;
  if (!p) throw Error(Errc::not_found, "participant not found");
  if (shut_) {
    svc_.leave(room->account_id(), conference_id, participant_id, "media unavailable");
    throw Error(Errc::unavailable, "the server is shutting down");
  }
  auto& doc = svc_.get("conference", room->account_id(), conference_id).body;
  auto& rref = room_for(room->account_id(), conference_id);
  auto port = engine_.port_of(rref.id);
  media::LegSpec spec;
  spec.leg = next_id_++;
  spec.room = rref.id;
  spec.codec = offer.codec;
  spec.remote = offer.remote;
  spec.level_ext = offer.offer.audio_level_ext;
  bool held = room->holds(doc, *p);
  spec.speak = p->speak && !held;
  spec.hear = p->hear && !held;
  spec.held = held;
  spec.rtcp_mux = offer.offer.rtcp_mux;
  spec.mute_detect = p->mute_detect;
  // A REST leg's offered address is its token holder's word: media goes there until the peer's
  // own packets say where it is (docs/security.md, "Media").
  spec.send_to = media::SendTo::offered;
  if (!engine_.add_leg(spec)) {
    // The shard is saturated with commands: refuse the join rather than admit someone who
    // would never hear or be heard.
    svc_.leave(room->account_id(), conference_id, participant_id, "media unavailable");
    throw Error(Errc::unavailable, "the media engine is busy: try again");
  }
  legs_[spec.leg] = {
      conference_id, room->account_id(), participant_id, rref.id, spec.speak, spec.hear, held};
  leg_of_[{conference_id, participant_id}] = spec.leg;
  poll_engine();
  return media::make_answer(offer.offer, offer.codec, opts_.advertise_ip, port, spec.leg);
}

MediaBridge::RoomRef& MediaBridge::room_for(const std::string& account_id,
                                            const std::string& conference_id) {
  auto [it, fresh] = rooms_.try_emplace(conference_id);
  if (!fresh) return it->second;
  auto& doc = svc_.get("conference", account_id, conference_id).body;
  it->second = {next_id_++, engine_.room_rate(profile_rate(doc)), account_id};
  engine_.add_room(it->second.id, it->second.rate);
  if (!opts_.hold_music.empty())
    with_clip(account_id, opts_.hold_music, it->second.rate,
              [this, conference_id, room_id = it->second.id](ClipPtr clip) {
                auto r = rooms_.find(conference_id);
                if (r == rooms_.end() || r->second.id != room_id) return;
                auto id = next_id_++;
                if (engine_.set_hold_music(room_id, clip.get(), id)) {
                  plays_[id] = std::move(clip);
                  hold_plays_[id] = room_id;
                  poll_engine();
                }
              });
  return it->second;
}

MediaBridge::CallerLeg MediaBridge::open_caller_leg(const std::string& account_id,
                                                    const std::string& conference_id,
                                                    const Offer& offer) {
  if (shut_) throw Error(Errc::unavailable, "the server is shutting down");
  auto& rref = room_for(account_id, conference_id);
  media::LegSpec spec;
  spec.leg = next_id_++;
  spec.room = rref.id;
  spec.codec = offer.codec;
  spec.remote = offer.remote;
  spec.level_ext = offer.offer.audio_level_ext;
  spec.speak = false;
  spec.hear = false;
  spec.rtcp_mux = offer.offer.rtcp_mux;
  // Nobody vouches for a SIP caller's address: only its own packets prove where it is, and
  // nothing goes anywhere before its ACK confirms the dialog.
  spec.send_to = media::SendTo::proven;
  spec.sending = false;
  if (!engine_.add_leg(spec)) throw Error(Errc::unavailable, "the media engine is busy");
  callers_[spec.leg] = {conference_id, rref.id, false};
  poll_engine();
  return {spec.leg,
          media::make_answer(offer.offer, offer.codec, opts_.advertise_ip, engine_.port_of(rref.id),
                             spec.leg),
          rref.rate};
}

void MediaBridge::set_sending(std::uint64_t leg, bool on) {
  auto it = callers_.find(leg);
  if (it != callers_.end()) engine_.set_sending(it->second.room, leg, on);
}

void MediaBridge::bind_caller_leg(std::uint64_t leg, int participant_id) {
  auto it = callers_.find(leg);
  if (it == callers_.end() || it->second.bound) return;
  auto* room = svc_.room(it->second.conference_id);
  if (!room || !room->find(participant_id)) return;
  it->second.bound = true;
  // speak/hear false: what the engine was told; sync_flags sends the participant's own.
  legs_[leg] = {it->second.conference_id,
                room->account_id(),
                participant_id,
                it->second.room,
                false,
                false,
                false};
  leg_of_[{it->second.conference_id, participant_id}] = leg;
  sync_flags(it->second.conference_id);
}

void MediaBridge::close_caller_leg(std::uint64_t leg) {
  auto it = callers_.find(leg);
  if (it == callers_.end()) return;
  if (it->second.bound) {
    // The participant's leave drops a bound leg; one still here is dropped now.
    if (auto l = legs_.find(leg); l != legs_.end())
      drop_leg(l->second.conference_id, l->second.participant_id);
    callers_.erase(leg);
    return;
  }
  if (rooms_.count(it->second.conference_id)) engine_.remove_leg(it->second.room, leg);
  callers_.erase(it);
}

MediaBridge::ClipPtr MediaBridge::file_clip(const std::filesystem::path& file, int rate) {
  auto key = file.string() + "@" + std::to_string(rate);
  if (auto it = clips_.find(key); it != clips_.end()) return it->second;
  // Prompts are a few seconds of audio: read once, then served from the cache.
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) throw std::runtime_error("cannot read " + file.string());
  auto clip = std::make_shared<media::Clip>(media::to_clip(media::parse_wav(bytes), rate));
  cache(key, clip);
  return clip;
}

std::uint64_t MediaBridge::play_to_leg(std::uint64_t leg, const std::filesystem::path& file,
                                       const std::string& ref) {
  auto it = callers_.find(leg);
  if (it == callers_.end()) return 0;
  auto room = rooms_.find(it->second.conference_id);
  if (room == rooms_.end() || room->second.id != it->second.room) return 0;
  ClipPtr clip;
  try {
    if (!file.empty())
      clip = file_clip(file, room->second.rate);
    else if (ref.starts_with(media::kToneScheme))
      with_clip(room->second.account_id, ref, room->second.rate, [&](ClipPtr c) { clip = c; });
  } catch (const std::exception& e) {
    spdlog::warn("sip: cannot play {} to leg {}: {}", file.empty() ? ref : file.string(), leg,
                 e.what());
  }
  if (!clip) return 0;
  auto id = next_id_++;
  if (!engine_.play(it->second.room, leg, clip.get(), id)) return 0;
  plays_[id] = std::move(clip);
  leg_plays_[id] = leg;
  poll_engine();
  return id;
}

void MediaBridge::stop_leg_play(std::uint64_t leg) {
  auto it = callers_.find(leg);
  if (it != callers_.end()) engine_.stop_play(it->second.room, leg);
}

void MediaBridge::drop_leg(const std::string& conference_id, int participant_id) {
  auto it = leg_of_.find({conference_id, participant_id});
  if (it == leg_of_.end()) return;
  auto leg = legs_.find(it->second);
  if (leg != legs_.end()) {
    engine_.remove_leg(leg->second.room, it->second);
    legs_.erase(leg);
  }
  callers_.erase(it->second);
  leg_of_.erase(it);
}

void MediaBridge::on_core_event(const core::Event& e) {
  using core::EventType;
  if (shut_) return;  // the engine is stopped: nothing to tell it
  switch (e.type) {
    case EventType::mute_member:
    case EventType::unmute_member:
    case EventType::deaf_member:
    case EventType::undeaf_member:
    case EventType::role_change:
      sync_flags(e.conference_id);
      return;
    case EventType::add_member:  // a moderator arriving releases members who wait for one
      sync_flags(e.conference_id);
      play_tone(e.conference_id, "play_entry_tone", media::kDefaultEntryTone);
      return;
    case EventType::command:
      on_command(e);
      return;
    case EventType::del_member:
      if (e.participant) drop_leg(e.conference_id, e.participant->participant_id);
      sync_flags(e.conference_id);  // the last moderator leaving holds members again
      play_tone(e.conference_id, "play_exit_tone", media::kDefaultExitTone);
      return;
    case EventType::conference_destroy: {
      auto it = rooms_.find(e.conference_id);
      if (it == rooms_.end()) return;
      engine_.remove_room(it->second.id);  // a recording still running ends with it
      std::erase_if(hold_plays_, [&](const auto& h) { return h.second == it->second.id; });
      rooms_.erase(it);
      poll_engine();  // for the end of its hold music
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
    if (speak == leg.speak && hear == leg.hear && held == leg.held) continue;
    leg.speak = speak;
    leg.hear = hear;
    leg.held = held;
    engine_.set_flags(leg.room, it->second, speak, hear, held);
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
  if (e.type == media::EngineEvent::Type::played) {
    plays_.erase(e.ref);  // the engine no longer reads the clip
    hold_plays_.erase(e.ref);
    if (auto p = leg_plays_.find(e.ref); p != leg_plays_.end()) {
      auto leg = p->second;
      leg_plays_.erase(p);
      if (listener_) listener_->on_leg_played(leg, e.ref);
    }
    return;
  }
  using T = media::EngineEvent::Type;
  if (auto c = callers_.find(e.leg); c != callers_.end() && listener_) {
    if (e.type == T::dtmf) listener_->on_leg_dtmf(e.leg, static_cast<char>(e.value));
    if (!c->second.bound && (e.type == T::bye || e.type == T::timeout)) {
      listener_->on_leg_gone(e.leg, e.type == T::bye ? "rtcp bye" : "rtp timeout");
      return;
    }
  }
  auto it = legs_.find(e.leg);
  if (it == legs_.end()) return;  // the leg left meanwhile
  auto ref = it->second;          // leave() below may erase it
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
    case T::played:
      break;
    case T::bye:
    case T::timeout:  // the media ended: the participant leaves, saying why
      try {
        svc_.leave(ref.account_id, ref.conference_id, ref.participant_id,
                   e.type == T::bye ? "rtcp bye" : "rtp timeout");
      } catch (const Error& err) {
        spdlog::debug("media: leg {} ended, participant already gone: {}", e.leg, err.message);
        drop_leg(ref.conference_id, ref.participant_id);
      }
      break;
  }
}

}  // namespace confab::app

namespace confab::app {

void MediaBridge::cache(std::string key, ClipPtr clip) {
  // A few dozen distinct sources at most in practice; drop the ones nobody plays any more.
  if (clips_.size() >= 64)
    std::erase_if(clips_, [](const auto& kv) { return kv.second.use_count() == 1; });
  clips_[std::move(key)] = std::move(clip);
}

void MediaBridge::with_clip(const std::string& account_id, const std::string& ref, int rate,
                            std::function<void(ClipPtr)> then) {
  if (ref.starts_with(media::kToneScheme)) {
    auto key = ref + "@" + std::to_string(rate);
    if (auto it = clips_.find(key); it != clips_.end()) return then(it->second);
    // Up to a minute of up to 18 summed sines: rendered off the control thread too.
    auto clip = std::make_shared<media::Clip>();
    clip->rate = rate;
    persist_.run(
        [clip, ref, rate] { clip->pcm = media::render_tone(media::parse_tone(ref), rate); },
        [this, key, ref, clip, then = std::move(then)](const std::string& error) {
          if (stopping_) return;
          if (!error.empty()) {
            spdlog::warn("media: cannot play {}: {}", ref, error);
            return;
          }
          cache(key, clip);
          then(clip);
        });
    return;
  }
  auto* doc = svc_.directory().find("media", ref);
  if (!doc || doc->account_id != account_id || !doc->body.contains("content_length")) {
    spdlog::warn("media: cannot play {}: no such media with audio in account {}", ref, account_id);
    return;
  }
  auto key =
      account_id + "/" + ref + "#" + std::to_string(doc->revision) + "@" + std::to_string(rate);
  if (auto it = clips_.find(key); it != clips_.end()) return then(it->second);
  std::filesystem::path file;
  try {
    file = store::media_path(opts_.data_dir, account_id, ref);
  } catch (const std::exception& e) {
    spdlog::warn("media: cannot play {}: {}", ref, e.what());
    return;
  }
  // Reading, parsing and resampling a WAV of up to ten minutes is long work: all of it runs off
  // the control thread (on the store thread, which also sees every write queued before it).
  struct Loaded {
    std::string error;
    ClipPtr clip;
  };
  auto loaded = std::make_shared<Loaded>();
  persist_.run(
      [loaded, file, rate] {
        try {
          auto bytes = store::read_file(file, kMaxMediaBytes);
          loaded->clip =
              std::make_shared<media::Clip>(media::to_clip(media::parse_wav(bytes), rate));
        } catch (const std::system_error& e) {
          loaded->error = e.code() == std::errc::no_such_file_or_directory ? "missing" : e.what();
        } catch (const std::exception& e) {
          loaded->error = e.what();
        }
      },
      [this, key, ref, loaded, then = std::move(then)](const std::string& error) {
        if (stopping_) return;
        if (!error.empty() || !loaded->error.empty()) {
          spdlog::warn("media: cannot play {}: {}", ref, error.empty() ? loaded->error : error);
          return;
        }
        cache(key, loaded->clip);
        then(std::move(loaded->clip));
      });
}

void MediaBridge::start_play(const std::string& conference_id, std::uint64_t room,
                             std::uint64_t leg, ClipPtr clip) {
  auto it = rooms_.find(conference_id);
  if (!clip || it == rooms_.end() || it->second.id != room) return;  // the room ended meanwhile
  if (leg && !legs_.count(leg)) return;                              // so did the leg
  auto id = next_id_++;
  if (engine_.play(room, leg, clip.get(), id)) {
    plays_[id] = std::move(clip);
    poll_engine();
  } else
    spdlog::warn("media: the engine is busy; a play to room {} was dropped", room);
}

void MediaBridge::play_tone(const std::string& conference_id, std::string_view key,
                            std::string_view default_tone) {
  auto room = rooms_.find(conference_id);
  auto* doc = svc_.directory().find("conference", conference_id);
  if (room == rooms_.end() || !doc) return;
  auto* v = doc->body.if_contains(key);
  std::string ref;
  if (v && v->is_bool() && v->as_bool()) ref = default_tone;
  if (v && v->is_string()) ref = v->as_string();
  if (ref.empty()) return;  // absent or false: Kazoo plays nothing
  with_clip(room->second.account_id, ref, room->second.rate,
            [this, conference_id, id = room->second.id](ClipPtr clip) {
              start_play(conference_id, id, 0, std::move(clip));
            });
}

void MediaBridge::on_command(const core::Event& e) {
  if (e.detail == "relate") {
    for (auto key : {"participant_id", "other_participant"})
      if (auto* v = e.payload.if_contains(key); v && v->is_int64())
        sync_blocked(e.conference_id, static_cast<int>(v->as_int64()));
    return;
  }
  auto room = rooms_.find(e.conference_id);
  if (room == rooms_.end()) return;  // nobody joined with media: nothing to play or record
  if (e.detail == "play") {
    auto* media_id = e.payload.if_contains("media_id");
    if (!media_id || !media_id->is_string()) return;
    std::uint64_t leg = 0;
    if (e.participant) {
      auto it = leg_of_.find({e.conference_id, e.participant->participant_id});
      if (it == leg_of_.end()) return;  // no media leg: nobody to play to
      leg = it->second;
    }
    with_clip(room->second.account_id, std::string(media_id->as_string()), room->second.rate,
              [this, conference_id = e.conference_id, id = room->second.id, leg](ClipPtr clip) {
                start_play(conference_id, id, leg, std::move(clip));
              });
    return;
  }
  if (e.detail == "record") {
    auto* action = e.payload.if_contains("action");
    bool start = action && action->is_string() && action->as_string() == "start";
    if (!start) {
      engine_.record_stop(room->second.id);
      return;
    }
    try {
      // Recorded beside where it will be installed; named after its document once it exists.
      auto part = store::temp_path_for(
          store::recording_path(opts_.data_dir, room->second.account_id, svc_.new_id()));
      auto rec = engine_.record_start(room->second.id, room->second.rate, part);
      auto* doc = svc_.directory().find("conference", e.conference_id);
      std::string name;
      if (doc)
        if (auto* n = doc->body.if_contains("name"); n && n->is_string()) name = n->as_string();
      recordings_[rec.get()] = {room->second.account_id, e.conference_id, name,
                                static_cast<std::int64_t>(std::time(nullptr))};
      poll_engine();
    } catch (const std::exception& err) {
      spdlog::error("media: cannot record conference {}: {}", e.conference_id, err.what());
    }
  }
}

// A finished recording file becomes a recording document: renamed to its id, then stored.
void MediaBridge::collect_recordings() {
  for (auto& rec : engine_.take_recordings()) {
    auto it = recordings_.find(rec.get());
    if (it == recordings_.end()) continue;
    auto ref = it->second;
    recordings_.erase(it);
    std::error_code ec;
    if (!rec->error().empty()) {
      spdlog::error("media: recording of {} failed: {}", ref.conference_id, rec->error());
      std::filesystem::remove(rec->path(), ec);
      continue;
    }
    auto ms =
        static_cast<std::int64_t>(rec->samples() * 1000 / static_cast<std::uint64_t>(rec->rate()));
    json::object body{{"name", ref.conference_name.empty() ? "conference recording"
                                                           : ref.conference_name + " recording"},
                      {"conference_id", ref.conference_id},
                      {"media_source", "recorded"},
                      {"source_type", "conference"},
                      {"content_type", "audio/wav"},
                      {"media_type", "wav"},
                      {"start", ref.start},
                      {"duration_ms", ms},
                      {"duration", ms / 1000},
                      {"content_length", static_cast<std::int64_t>(44 + rec->samples() * 2)},
                      {"sample_rate", rec->rate()},
                      {"channels", 1},
                      {"samples_dropped", static_cast<std::int64_t>(rec->dropped())}};
    try {
      auto w = svc_.prepare("recording", ref.account_id, "", core::WriteMode::create, body);
      auto dest = store::recording_path(opts_.data_dir, ref.account_id, w.doc.id);
      persist_.write_with_staged_file(
          std::move(w), rec->path(), dest,
          [staged = rec->path(), id = ref.conference_id](const std::string& error) {
            if (error.empty()) return;
            spdlog::error("media: recording of {} not stored: {}", id, error);
            std::error_code ignored;
            std::filesystem::remove(staged, ignored);
          });
    } catch (const std::exception& err) {
      spdlog::error("media: recording of {} not stored: {}", ref.conference_id, err.what());
      std::filesystem::remove(rec->path(), ec);
    }
  }
}

}  // namespace confab::app
