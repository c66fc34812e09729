// Commands from the control thread, applied between ticks: rooms and legs come and go (all
// allocation happens here, never in a tick), flags, plays, hold music, recordings.
#include "media/shard_state.hpp"

#include <algorithm>
#include <random>

namespace confab::media {

void Shard::apply(const Command& c) {
  Room* touched = nullptr;  // whose activity may have changed
  switch (c.type) {
    case Command::Type::add_room:
      if (!rooms_.count(c.room))
        rooms_[c.room] = std::make_unique<Room>(c.room, c.rate ? c.rate : cfg_.conference_rate,
                                                cfg_.tick_ms, cfg_.max_speakers);
      break;
    case Command::Type::remove_room: {
      auto it = rooms_.find(c.room);
      if (it == rooms_.end()) break;
      drop_room(*it->second);
      update_active(*it->second);  // out of active_ before it goes
      rooms_.erase(it);
      break;
    }
    case Command::Type::add_leg: {
      auto it = rooms_.find(c.room);
      if (it == rooms_.end() || by_id_.count(c.spec.leg)) break;
      auto& room = *it->second;
      auto codec = c.spec.codec.codec;
      // A wider codec than the room mixes at: the room goes up to it (up to its nominal rate).
      if (int r = wanted_rate(room, pcm_rate(codec)); r != room.rate) set_rate(room, r);
      auto* leg = new Leg;
      leg->spec = c.spec;
      auto frame = static_cast<std::size_t>(frame_samples(codec, cfg_.tick_ms));
      leg->dec = make_decoder(codec, cfg_.tick_ms);
      if (c.spec.inband_dtmf) leg->inband = std::make_unique<DtmfDetector>(pcm_rate(codec));
      leg->enc = make_encoder(codec, c.spec.codec.channels, cfg_.tick_ms);
      make_leg_rate(room, *leg);
      leg->out_codec.resize(frame);
      leg->payload.resize(kMaxPayload);
      std::random_device rd;
      leg->ssrc = rd();
      leg->seq = static_cast<std::uint16_t>(rd());
      leg->ts = rd();
      leg->last_rx = mono_ms();
      leg->held = c.spec.held;
      leg->dest = c.spec.remote;
      leg->sending = c.spec.sending;
      leg->room = &room;
      leg->jb.set_fec(c.spec.codec.fec);
      leg->rtcp_remote = c.spec.remote;
      if (!c.spec.rtcp_mux)
        leg->rtcp_remote.sin_port =
            htons(static_cast<std::uint16_t>(ntohs(c.spec.remote.sin_port) + 1));
      leg->next_report_ms = leg->last_rx + next_interval();
      auto key = group_key(c.spec.codec);
      auto& g = room.groups[key];
      if (!g) {
        g = std::make_unique<Group>(c.spec.codec, room.rate, cfg_.tick_ms);
        g->pcm.resize(frame);
        g->silence.resize(kMaxPayload);
        std::vector<std::int16_t> zeros(frame);
        auto quiet = make_encoder(codec, c.spec.codec.channels, cfg_.tick_ms);
        g->silence_bytes = quiet->encode(zeros, g->silence);
      }
      ++g->users;
      leg->group = g.get();
      leg->slot = room.legs.size();
      room.legs.push_back(leg);
      room.inputs.resize(room.legs.size());
      by_id_[c.spec.leg] = leg;
      // Every leg's offered address and the one it may latch to, without allocating then.
      by_addr_.reserve(2 * by_id_.size());
      pending_.reserve(by_id_.size());
      by_addr_.put(addr_key(c.spec.remote), leg);
      add_pending(*leg);
      touched = &room;
      // Room for every leg's datagram in one tick's send batch.
      std::size_t total = by_id_.size();
      if (tx_msgs_.size() < total) {
        tx_msgs_.resize(total * 2);
        tx_iov_.resize(total * 4);
      }
      break;
    }
    case Command::Type::remove_leg: {
      auto it = rooms_.find(c.room);
      auto lt = by_id_.find(c.leg);
      if (it == rooms_.end() || lt == by_id_.end()) break;
      auto& room = *it->second;
      Leg* leg = lt->second;
      if (leg->room != &room) break;
      room.legs.erase(std::remove(room.legs.begin(), room.legs.end(), leg), room.legs.end());
      for (std::size_t i = 0; i < room.legs.size(); ++i) room.legs[i]->slot = i;
      room.inputs.resize(room.legs.size());
      if (leg->group && --leg->group->users == 0) room.groups.erase(group_key(leg->group->codec));
      if (room.floor == leg->spec.leg) room.floor = 0;
      forget_leg(room, leg);
      // The widest codec left: the room comes down to what its legs still use.
      if (!room.legs.empty())
        if (int r = wanted_rate(room, 0); r != room.rate) set_rate(room, r);
      touched = &room;
      break;
    }
    case Command::Type::set_flags: {
      auto lt = by_id_.find(c.leg);
      if (lt == by_id_.end()) break;
      auto* leg = lt->second;
      // A muted leg's packets are not even buffered (see on_packet): start afresh when heard.
      if (c.speak && !leg->decoded()) {
        leg->jb.reset();
        leg->carry_n = 0;
      }
      leg->spec.speak = c.speak;
      leg->spec.hear = c.hear;
      leg->held = c.held;
      break;
    }
    case Command::Type::play: {
      auto it = rooms_.find(c.room);
      if (it == rooms_.end() || !c.clip) {
        Play orphan{c.clip, c.ref, 0, false};
        end_play(orphan, c.room, c.leg);
        break;
      }
      auto& room = *it->second;
      Play p{c.clip, c.ref, 0, c.loop};
      if (c.leg == 0) {
        auto slot = std::find_if(room.plays.begin(), room.plays.end(),
                                 [](const Play& q) { return q.clip == nullptr; });
        if (slot == room.plays.end()) slot = room.plays.begin();  // the oldest gives way
        end_play(*slot, room.id, 0);
        *slot = p;
        if (auto& rs = room.play_rs[static_cast<std::size_t>(slot - room.plays.begin())])
          rs->reset();
        break;
      }
      auto lt = by_id_.find(c.leg);
      if (lt == by_id_.end()) {
        end_play(p, room.id, c.leg);
        break;
      }
      end_play(lt->second->play, room.id, c.leg);
      lt->second->play = p;
      if (lt->second->play_rs) lt->second->play_rs->reset();
      break;
    }
    case Command::Type::stop_play: {
      auto it = rooms_.find(c.room);
      if (it == rooms_.end()) break;
      if (c.leg == 0) {
        for (auto& p : it->second->plays) end_play(p, c.room, 0);
      } else if (auto lt = by_id_.find(c.leg); lt != by_id_.end()) {
        end_play(lt->second->play, c.room, c.leg);
      }
      break;
    }
    case Command::Type::hold_music: {
      auto it = rooms_.find(c.room);
      Play p{c.clip, c.ref, 0, true};
      if (it == rooms_.end()) {
        end_play(p, c.room, 0);
        break;
      }
      end_play(it->second->hold, c.room, 0);
      it->second->hold = p;
      if (it->second->hold_rs) it->second->hold_rs->reset();
      break;
    }
    case Command::Type::record_start: {
      auto it = rooms_.find(c.room);
      if (it == rooms_.end()) {
        c.rec->close();  // nothing to record: the writer finishes an empty file
        break;
      }
      if (it->second->rec) it->second->rec->close();
      it->second->rec = c.rec;
      if (it->second->rec_rs) it->second->rec_rs->reset();
      break;
    }
    case Command::Type::record_stop: {
      auto it = rooms_.find(c.room);
      if (it == rooms_.end() || !it->second->rec) break;
      it->second->rec->close();
      it->second->rec = nullptr;
      break;
    }
    case Command::Type::record_leg_start: {
      auto lt = by_id_.find(c.leg);
      if (lt == by_id_.end() || lt->second->room->id != c.room) {
        c.rec->close();  // nobody to record: the writer finishes an empty file
        break;
      }
      auto& leg = *lt->second;
      if (!leg.decoded()) {  // its packets were not kept: start afresh
        leg.jb.reset();
        leg.carry_n = 0;
      }
      if (leg.rec) leg.rec->close();
      leg.rec = c.rec;
      leg.rec_left = c.limit;
      int from = pcm_rate(leg.spec.codec.codec), to = c.rec->rate();
      leg.rec_rs = from != to ? std::make_unique<Resampler>(from, to) : nullptr;
      leg.rec_pcm.assign(static_cast<std::size_t>(to * cfg_.tick_ms / 1000), 0);
      break;
    }
    case Command::Type::record_leg_stop: {
      auto lt = by_id_.find(c.leg);
      if (lt == by_id_.end() || lt->second->room->id != c.room || !lt->second->rec) break;
      lt->second->rec->close();
      lt->second->rec = nullptr;
      break;
    }
    case Command::Type::set_sending: {
      auto lt = by_id_.find(c.leg);
      if (lt != by_id_.end()) lt->second->sending = c.on;
      break;
    }
    case Command::Type::set_volume: {
      auto lt = by_id_.find(c.leg);
      if (lt == by_id_.end() || lt->second->room->id != c.room) break;
      lt->second->talk_gain = volume_gain(c.talk);
      lt->second->listen_gain = volume_gain(c.listen);
      break;
    }
    case Command::Type::set_blocked: {
      auto lt = by_id_.find(c.leg);
      if (lt == by_id_.end()) break;
      lt->second->blocked = c.blocked;
      lt->second->blocked_count = c.blocked_count;
      break;
    }
    case Command::Type::stop:
      stop_ = true;
      break;
  }
  if (c.type == Command::Type::play || c.type == Command::Type::stop_play ||
      c.type == Command::Type::record_start || c.type == Command::Type::record_stop)
    if (auto it = rooms_.find(c.room); it != rooms_.end()) touched = it->second.get();
  if (touched) update_active(*touched);
  reserve_backlog();
}

int Shard::wanted_rate(const Room& room, int joining_rate) const {
  int r = std::max(8000, joining_rate);
  for (auto* leg : room.legs) r = std::max(r, pcm_rate(leg->spec.codec.codec));
  return std::min(r, room.nominal);
}

// A leg's path to and from the room's mix rate: resamplers where its codec's rate differs, and
// buffers of the mix's frame.
void Shard::make_leg_rate(Room& room, Leg& leg) {
  int rate = pcm_rate(leg.spec.codec.codec);
  auto frame = static_cast<std::size_t>(frame_samples(leg.spec.codec.codec, cfg_.tick_ms));
  leg.up = rate != room.rate ? std::make_unique<Resampler>(rate, room.rate) : nullptr;
  leg.down = rate != room.rate ? std::make_unique<Resampler>(room.rate, rate) : nullptr;
  // A decoder may return more than a frame: any G.711 or G.722 payload we take fits.
  leg.pcm_codec.resize(std::max(std::max(frame, room.frame) * 2, 2 * kMaxPayload));
  leg.codec_frame = frame;
  leg.carry.resize(leg.pcm_codec.size() + frame);
  leg.carry_n = 0;
  leg.pcm_conf.assign(room.frame, 0);
  leg.mix_conf.assign(room.frame, 0);
  leg.play_rs =
      room.nominal != room.rate ? std::make_unique<Resampler>(room.nominal, room.rate) : nullptr;
}

// The room mixes at another rate from the next tick: every buffer and resampler of the mix
// follows. Legs hear at most one frame of the resamplers starting afresh; plays go on where they
// were; a recording stays at the nominal rate.
void Shard::set_rate(Room& room, int rate) {
  room.rate = rate;
  room.frame = static_cast<std::size_t>(rate * cfg_.tick_ms / 1000);
  room.mixer = Mixer(room.frame, 64, static_cast<std::size_t>(cfg_.max_speakers));
  room.extra.assign(room.frame, 0);
  room.hold_pcm.assign(room.frame, 0);
  room.zeros.assign(room.frame, 0);
  auto to_mix = [&]() -> std::unique_ptr<Resampler> {
    return room.nominal != rate ? std::make_unique<Resampler>(room.nominal, rate) : nullptr;
  };
  for (auto& rs : room.play_rs) rs = to_mix();
  room.hold_rs = to_mix();
  room.rec_rs = room.nominal != rate ? std::make_unique<Resampler>(rate, room.nominal) : nullptr;
  for (auto* leg : room.legs) make_leg_rate(room, *leg);
  for (auto& [key, g] : room.groups) {
    g->mix.set_rate(g->codec, rate);
    g->hold.set_rate(g->codec, rate);
  }
  ++rate_changes_;
}

bool Shard::busy(const Room& room) const {
  if (!room.legs.empty() || room.rec) return true;
  for (auto& p : room.plays)
    if (p.clip) return true;
  return false;
}

void Shard::update_active(Room& room) {
  bool want = busy(room);
  if (want == room.active) return;
  room.active = want;
  if (want)
    active_.push_back(&room);
  else
    active_.erase(std::remove(active_.begin(), active_.end(), &room), active_.end());
}

// A leg leaves: its addresses, play and recording go, and its peer gets our BYE (if it was ours
// to send to).
void Shard::forget_leg(Room& room, Leg* leg) {
  if (by_addr_.find(addr_key(leg->spec.remote)) == leg) by_addr_.erase(addr_key(leg->spec.remote));
  if (leg->latched && by_addr_.find(leg->latched) == leg) by_addr_.erase(leg->latched);
  remove_pending(*leg);
  by_id_.erase(leg->spec.leg);
  end_play(leg->play, room.id, leg->spec.leg);
  if (leg->rec) leg->rec->close();  // the leg leaving ends its recording
  if (leg->sending && (leg->latched || leg->spec.send_to == SendTo::offered)) send_bye(*leg);
  delete leg;
}

void Shard::drop_room(Room& room) {
  for (auto* leg : room.legs) forget_leg(room, leg);
  room.legs.clear();
  for (auto& p : room.plays) end_play(p, room.id, 0);
  end_play(room.hold, room.id, 0);
  if (room.rec) room.rec->close();
  room.rec = nullptr;
}

}  // namespace confab::media
