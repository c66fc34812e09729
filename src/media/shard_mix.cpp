// One tick of one room: a frame from every leg, the mix, and what each leg is sent.
#include "media/shard_state.hpp"

#include <algorithm>

namespace confab::media {

void Shard::mix_room(Room& room, std::int64_t now_ms) {
  // 1. One frame from every leg: decoded only when it can be heard.
  for (auto* leg : room.legs) {
    auto& in = room.inputs[leg->slot];
    in = {};
    leg->heard = false;
    if (leg->timed_out) continue;
    if (now_ms - leg->last_rx > cfg_.rtp_timeout_ms) {
      leg->timed_out = true;
      report(EngineEvent::Type::timeout, room, *leg, 0);
      continue;
    }
    // Muted: nothing was buffered (see on_packet) unless mute-detect asks for talk detection
    // or its audio is analysed (own_audio).
    if (!leg->decoded()) {
      leg->carry_n = 0;
      continue;
    }
    // Exactly one frame at the codec's rate a tick, whatever a packet holds: a peer may send
    // 21.25 ms (ffmpeg's PCM) or 10 or 30 ms a packet. What a packet holds beyond the frame is
    // kept for the next tick (no packet is taken then); a short one is followed by the next.
    const std::size_t need = leg->codec_frame;
    bool waited = false;
    for (int k = 0; leg->carry_n < need && k < 4; ++k) {
      auto f = leg->jb.pop();
      if (f.kind == JitterBuffer::Kind::waiting) {
        waited = true;
        break;
      }
      int n = f.kind == JitterBuffer::Kind::packet ? leg->dec->decode(f.payload, leg->pcm_codec)
                                                   : leg->dec->conceal(leg->pcm_codec, f.next);
      ++decodes_;
      if (n <= 0) continue;
      auto take = std::min(static_cast<std::size_t>(n), leg->carry.size() - leg->carry_n);
      std::copy_n(leg->pcm_codec.begin(), take,
                  leg->carry.begin() + static_cast<long>(leg->carry_n));
      leg->carry_n += take;
    }
    if (leg->carry_n == 0) {
      if (waited && leg->talk.talking() && leg->talk.feed_score(0) == TalkChange::stopped)
        report(EngineEvent::Type::quiet, room, *leg, 0);
      if (leg->analysed()) {  // a pause in its stream is silence (a key's tone ends)
        auto quiet = std::span(leg->pcm_codec).first(need);
        std::fill(quiet.begin(), quiet.end(), std::int16_t{0});
        own_audio(room, *leg, quiet, now_ms);
      }
      continue;
    }
    if (leg->carry_n < need)  // the stream paused mid-frame: the rest is silence
      std::fill(leg->carry.begin() + static_cast<long>(leg->carry_n),
                leg->carry.begin() + static_cast<long>(need), std::int16_t{0});
    // This tick's frame goes to the decode buffer (the mixer reads it until the tick ends); what
    // is left moves to the front of the carry.
    std::copy_n(leg->carry.begin(), need, leg->pcm_codec.begin());
    auto left = leg->carry_n > need ? leg->carry_n - need : 0;
    std::copy_n(leg->carry.begin() + static_cast<long>(need), left, leg->carry.begin());
    leg->carry_n = left;
    std::span<const std::int16_t> frame = std::span(leg->pcm_codec).first(need);
    if (leg->analysed()) own_audio(room, *leg, frame, now_ms);  // before the talk level
    if (!leg->spec.speak && !leg->spec.mute_detect) continue;   // decoded for own_audio only
    std::span<std::int16_t> conf;
    if (leg->up) {
      int m = leg->up->process(frame, leg->pcm_conf);
      if (m < static_cast<int>(room.frame))
        std::fill(leg->pcm_conf.begin() + m, leg->pcm_conf.end(), std::int16_t{0});
      conf = leg->pcm_conf;
    } else {
      // The codec's rate is the room's: need == room.frame, and `conf` is `frame` itself.
      conf = std::span(leg->pcm_codec).first(room.frame);
    }
    auto change =
        leg->level_score >= 0 ? leg->talk.feed_score(leg->level_score) : leg->talk.feed(conf);
    if (change == TalkChange::started)
      report(EngineEvent::Type::talking, room, *leg, leg->talk.score());
    if (change == TalkChange::stopped) report(EngineEvent::Type::quiet, room, *leg, 0);
    if (++leg->energy_tick >= kEnergyEvery) {
      leg->energy_tick = 0;
      if (leg->talk.score() != leg->last_energy) {
        leg->last_energy = leg->talk.score();
        report(EngineEvent::Type::energy, room, *leg, leg->last_energy);
      }
    }
    if (!leg->spec.speak) continue;  // mute-detect: analysed, never mixed
    if (leg->talk_gain != 1.0f) apply_gain(conf, leg->talk_gain);
    leg->heard = true;
    in = {leg->talk.score(), true, conf};
  }

  // 2. Mix: the N loudest, a mix-minus each, one full mix for the rest. Room-wide plays (tones,
  // prompts) are one more input everybody hears, through the same limiter.
  bool playing = false;
  for (std::size_t k = 0; k < room.plays.size(); ++k) {
    auto& p = room.plays[k];
    if (!p.clip) continue;
    if (!playing) std::fill(room.extra.begin(), room.extra.end(), std::int16_t{0});
    playing = true;
    advance(p, room, 0, room.extra, room.play_rs[k].get());
  }
  room.mixer.mix(room.inputs, playing ? std::span<const std::int16_t>(room.extra)
                                      : std::span<const std::int16_t>());
  mixed_samples_.fetch_add(room.frame, std::memory_order_relaxed);
  if (room.rec) {
    if (room.rec_rs) {  // recorded at the nominal rate, whatever the room mixes at
      room.rec_rs->process_exact(room.mixer.full(), room.rec_pcm);
      room.rec->write(room.rec_pcm);
    } else {
      room.rec->write(room.mixer.full());
    }
  }

  // Floor (FreeSWITCH): the first talker takes it; another takes it over when clearly louder.
  Leg* holder = nullptr;
  Leg* loudest = nullptr;
  for (auto* leg : room.legs) {
    if (leg->spec.leg == room.floor) holder = leg;
    if (leg->heard && leg->talk.talking() &&
        (!loudest || leg->talk.score() > loudest->talk.score()))
      loudest = leg;
  }
  if (loudest && loudest != holder &&
      (!holder || (loudest->talk.score() > 300 && holder->talk.score() < 100))) {
    room.floor = loudest->spec.leg;
    report(EngineEvent::Type::floor, room, *loudest, 1);
  }

  // 3. Encode and queue: speakers their own mix; listeners share their group's encode; a leg
  // with a prompt of its own, a listen level of its own, or relate exclusions, gets a private one.
  for (auto& [key, g] : room.groups) g->mix.done = g->hold.done = false;
  room.hold_ready = false;
  for (auto* leg : room.legs) {
    if (!can_send(*leg)) continue;  // nothing is encoded for a leg nothing may be sent to
    report_rtcp(*leg, now_ms);
    auto* g = leg->group;
    const bool prompt = leg->play.clip != nullptr;
    const bool scaled = leg->listen_gain != 1.0f;  // its own level: its own encode
    std::span<const std::int16_t> base;            // set: this leg's audio is encoded for it alone
    if (leg->held || !leg->spec.hear) {
      bool music = leg->held && room.hold.clip;
      if (music && !room.hold_ready) {
        std::fill(room.hold_pcm.begin(), room.hold_pcm.end(), std::int16_t{0});
        advance(room.hold, room, 0, room.hold_pcm, room.hold_rs.get());
        room.hold_ready = true;
      }
      if (prompt || (music && scaled)) {
        base = music ? std::span<const std::int16_t>(room.hold_pcm) : room.zeros;
      } else if (music) {
        if (auto p = g->hold.get(room.hold_pcm, g->pcm, codec_encodes(g->codec)); !p.empty())
          send(*leg, p);
        continue;
      } else {
        send(*leg,
             std::span(g->silence).first(static_cast<std::size_t>(std::max(0, g->silence_bytes))));
        continue;
      }
    } else {
      // Speakers this leg must not hear (relate) make its mix its own this tick.
      std::array<std::size_t, Engine::kMaxBlocked + 1> excluded{};
      std::size_t nx = 0;
      for (std::size_t k = 0; k < leg->blocked_count; ++k) {
        auto bt = by_id_.find(leg->blocked[k]);
        if (bt == by_id_.end()) continue;
        auto sl = bt->second->slot;
        if (sl < room.legs.size() && room.legs[sl] == bt->second && room.mixer.is_speaker(sl))
          excluded[nx++] = sl;
      }
      if (nx > 0) {
        if (room.mixer.is_speaker(leg->slot)) excluded[nx++] = leg->slot;
        room.mixer.mix_without(room.inputs, std::span(excluded).first(nx), leg->mix_conf);
        base = leg->mix_conf;
      } else if (room.mixer.is_speaker(leg->slot)) {
        base = room.mixer.minus(leg->slot);
        leg->was_speaker = true;
      } else if (prompt || scaled || leg->was_speaker) {
        // A leg that just left the speakers keeps its own path one tick more: the shared
        // resampler's delay line still holds last tick's full mix, its own voice included.
        base = room.mixer.full();
        leg->was_speaker = false;
      } else {
        if (auto p = g->mix.get(room.mixer.full(), g->pcm, codec_encodes(g->codec)); !p.empty())
          send(*leg, p);
        continue;
      }
    }
    if (prompt || scaled) {
      if (base.data() != leg->mix_conf.data())
        std::copy(base.begin(), base.end(), leg->mix_conf.begin());
      if (prompt) advance(leg->play, room, leg->spec.leg, leg->mix_conf, leg->play_rs.get());
      if (scaled) apply_gain(leg->mix_conf, leg->listen_gain);
      base = leg->mix_conf;
    }
    auto payload = encode_private(*leg, base);
    if (!payload.empty()) send(*leg, payload);
  }
  // Shared payloads and private buffers must outlive the send: flush before the next room
  // reuses its group buffers (each room has its own groups, so once per tick is enough).
}

void Shard::own_audio(Room& room, Leg& leg, std::span<const std::int16_t> frame,
                      std::int64_t now_ms) {
  if (leg.rec) {
    auto out = frame;
    if (leg.rec_rs)
      out = std::span(leg.rec_pcm)
                .first(static_cast<std::size_t>(leg.rec_rs->process_exact(frame, leg.rec_pcm)));
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), leg.rec_left));
    leg.rec->write(out.first(n));
    leg.rec_left -= n;
    if (leg.rec_left == 0) {  // max_ms: finished (the writer closes the file)
      leg.rec->close();
      leg.rec = nullptr;
    }
  }
  if (!leg.inband) return;
  leg.inband->feed(frame);
  std::array<char, DtmfDetector::kMaxPending> keys{};
  auto n = leg.inband->take(keys);
  for (std::size_t k = 0; k < n; ++k) {
    // An RFC 4733 event lasts or has just ended: the tone is that key, already reported.
    if (now_ms - leg.rfc_dtmf_ms < Engine::kDtmfOverlapMs) {
      ++dtmf_duplicates_;
      continue;
    }
    leg.inband_digit = keys[k];
    leg.inband_ms = now_ms;
    ++dtmf_inband_;
    report(EngineEvent::Type::dtmf, room, leg, keys[k]);
  }
}

namespace {
// Adds the clip's next `out.size()` samples into `out` (clamped), looping or not; false once a
// clip that does not loop has no more.
bool add_clip(Shard::PlayState& p, std::span<std::int16_t> out) {
  auto& pcm = p.clip->pcm;
  std::size_t i = 0;
  while (i < out.size()) {
    if (p.pos >= pcm.size()) {
      if (!p.loop || pcm.empty()) break;
      p.pos = 0;
    }
    auto n = std::min(out.size() - i, pcm.size() - p.pos);
    for (std::size_t k = 0; k < n; ++k)
      out[i + k] = static_cast<std::int16_t>(
          std::clamp<std::int32_t>(std::int32_t{out[i + k]} + pcm[p.pos + k], -32768, 32767));
    i += n;
    p.pos += n;
  }
  return p.loop || p.pos < pcm.size();
}
}  // namespace

bool Shard::advance(Play& p, Room& room, std::uint64_t leg, std::span<std::int16_t> out,
                    Resampler* rs) {
  bool going;
  if (rs) {
    // The clip is at the room's nominal rate: one nominal frame, resampled to the mix's.
    auto in = std::span(room.clip_in).first(room.nominal_frame);
    std::fill(in.begin(), in.end(), std::int16_t{0});
    going = add_clip(p, in);
    auto mixed = std::span(room.clip_out).first(out.size());
    rs->process_exact(in, mixed);
    for (std::size_t k = 0; k < out.size(); ++k)
      out[k] = static_cast<std::int16_t>(
          std::clamp<std::int32_t>(std::int32_t{out[k]} + mixed[k], -32768, 32767));
  } else {
    going = add_clip(p, out);
  }
  if (going) return true;
  end_play(p, room.id, leg);
  return false;
}

void Shard::end_play(Play& p, std::uint64_t room, std::uint64_t leg) {
  if (!p.clip && !p.id) return;
  emit({EngineEvent::Type::played, room, leg, 0, p.id});
  p = {};
}

std::span<const std::uint8_t> Shard::encode_private(Leg& leg, std::span<const std::int16_t> pcm) {
  if (leg.down)
    pcm = std::span(leg.out_codec)
              .first(static_cast<std::size_t>(leg.down->process_exact(pcm, leg.out_codec)));
  int bytes = leg.enc->encode(pcm, leg.payload);
  ++codec_encodes(leg.spec.codec);
  if (bytes <= 0) return {};
  return std::span(leg.payload).first(static_cast<std::size_t>(bytes));
}

}  // namespace confab::media
