#include "media/engine.hpp"

#include "media/shard.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <deque>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace confab::media {

struct Engine::Deferred {
  std::vector<std::deque<Command>> queues;
  std::uint64_t count = 0;
};

Engine::Engine(EngineConfig cfg) : deferred_(std::make_unique<Deferred>()), cfg_(std::move(cfg)) {
  if (cfg_.conference_rate != 8000 && cfg_.conference_rate != 16000 &&
      cfg_.conference_rate != 48000)
    throw std::invalid_argument("media: conference rate must be 8000, 16000 or 48000");
  if (cfg_.tick_ms != 10 && cfg_.tick_ms != 20 && cfg_.tick_ms != 40)
    throw std::invalid_argument("media: tick must be 10, 20 or 40 ms");
  for (int i = 0; i < std::max(1, cfg_.shards); ++i)
    shards_.push_back(std::make_unique<Shard>(cfg_, i));
  deferred_->queues.resize(shards_.size());
}

int Engine::realtime_shards() const {
  int n = 0;
  for (const auto& s : shards_) n += s->realtime() ? 1 : 0;
  return n;
}

Engine::~Engine() {
  stop();
}

void Engine::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& s : shards_) s->stop();
  recorder_.stop();  // the shards closed every recording; the writer finishes them now
}

bool Engine::allowed(std::uint32_t ip_net_order) const {
  return media::allowed(cfg_.allow_destinations, ntohl(ip_net_order));
}

namespace {
Command command_for(Command::Type t, std::uint64_t room, std::uint64_t leg = 0) {
  Command c;
  c.type = t;
  c.room = room;
  c.leg = leg;
  return c;
}
}  // namespace

bool Engine::send(const Command& c, bool may_defer) {
  auto i = index_of(c.room);
  auto& q = deferred_->queues[i];
  while (!q.empty() && shards_[i]->command(q.front())) q.pop_front();
  if (q.empty() && shards_[i]->command(c)) return true;
  if (!may_defer) return false;
  q.push_back(c);  // behind those already waiting: the shard sees them in order
  ++deferred_->count;
  return true;
}

void Engine::flush_deferred() {
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    auto& q = deferred_->queues[i];
    while (!q.empty() && shards_[i]->command(q.front())) q.pop_front();
  }
}

std::size_t Engine::commands_waiting() const {
  std::size_t n = 0;
  for (auto& q : deferred_->queues) n += q.size();
  return n;
}

std::size_t Engine::index_of(std::uint64_t room) const {
  auto it = placement_.find(room);
  return it == placement_.end() ? 0 : it->second;
}

std::uint16_t Engine::add_room(std::uint64_t room, int rate) {
  rate = room_rate(rate);
  if (rate != 8000 && rate != 16000 && rate != 48000)
    throw std::invalid_argument("media: a room's rate must be 8000, 16000 or 48000");
  auto& p = placement_;
  auto it = p.find(room);
  if (it == p.end()) {
    // Least-loaded shard by rooms placed: an idle room costs nothing, a busy one is not split.
    std::vector<std::size_t> load(shards_.size());
    for (auto& [r, s] : p) ++load[s];
    std::size_t best = 0;
    for (std::size_t i = 1; i < load.size(); ++i)
      if (load[i] < load[best]) best = i;
    it = p.emplace(room, best).first;
  }
  nominal_[room] = rate;
  auto c = command_for(Command::Type::add_room, room);
  c.rate = rate;
  send(c);
  return shards_[it->second]->port();
}

void Engine::remove_room(std::uint64_t room) {
  send(command_for(Command::Type::remove_room, room));
  placement_.erase(room);
  nominal_.erase(room);
}

bool Engine::add_leg(const LegSpec& spec) {
  auto c = command_for(Command::Type::add_leg, spec.room, spec.leg);
  c.spec = spec;
  return send(c, false);
}

void Engine::remove_leg(std::uint64_t room, std::uint64_t leg) {
  send(command_for(Command::Type::remove_leg, room, leg));
}

void Engine::set_flags(std::uint64_t room, std::uint64_t leg, bool speak, bool hear, bool held) {
  auto c = command_for(Command::Type::set_flags, room, leg);
  c.speak = speak;
  c.hear = hear;
  c.held = held;
  send(c);
}

bool Engine::play(std::uint64_t room, std::uint64_t leg, const Clip* clip, std::uint64_t id,
                  bool loop) {
  auto c = command_for(Command::Type::play, room, leg);
  c.clip = clip;
  c.ref = id;
  c.loop = loop;
  return send(c, false);
}

void Engine::stop_play(std::uint64_t room, std::uint64_t leg) {
  send(command_for(Command::Type::stop_play, room, leg));
}

bool Engine::set_hold_music(std::uint64_t room, const Clip* clip, std::uint64_t id) {
  auto c = command_for(Command::Type::hold_music, room);
  c.clip = clip;
  c.ref = id;
  return send(c, false);
}

std::shared_ptr<Recording> Engine::record_start(std::uint64_t room, int rate,
                                                const std::filesystem::path& path) {
  auto c = command_for(Command::Type::record_start, room);
  return start_recording(c, room_rate(rate), path);
}

std::shared_ptr<Recording> Engine::record_leg_start(std::uint64_t room, std::uint64_t leg, int rate,
                                                    std::filesystem::path path, int max_ms) {
  if (rate != 0 && rate != 8000 && rate != 16000 && rate != 48000)
    throw std::invalid_argument("media: a leg's recording rate must be 8000, 16000 or 48000");
  if (max_ms < 1 || max_ms > kMaxLegRecordMs)
    throw std::invalid_argument("media: a leg's recording lasts 1 to " +
                                std::to_string(kMaxLegRecordMs) + " ms");
  if (rate == 0) {
    auto it = nominal_.find(room);
    rate = it == nominal_.end() ? cfg_.conference_rate : it->second;
  }
  auto c = command_for(Command::Type::record_leg_start, room, leg);
  c.limit = static_cast<std::uint64_t>(rate) * static_cast<std::uint64_t>(max_ms) / 1000;
  return start_recording(c, rate, path);
}

void Engine::record_leg_stop(std::uint64_t room, std::uint64_t leg) {
  send(command_for(Command::Type::record_leg_stop, room, leg));
}

std::shared_ptr<Recording> Engine::start_recording(Command& c, int rate,
                                                   const std::filesystem::path& path) {
  if (stopped_) throw std::runtime_error("the media engine is stopping");
  // Two seconds of ring: the writer wakes every 100 ms, so only a stalled disk drops samples.
  auto rec = std::make_shared<Recording>(path, rate, static_cast<std::size_t>(rate) * 2);
  c.rec = rec.get();
  if (!send(c, false)) {
    rec->close();
    rec->finish();
    std::error_code ec;
    std::filesystem::remove(path, ec);
    throw std::runtime_error("the media engine is busy: try again");
  }
  recorder_.add(rec);
  return rec;
}

void Engine::record_stop(std::uint64_t room) {
  send(command_for(Command::Type::record_stop, room));
}

void Engine::set_sending(std::uint64_t room, std::uint64_t leg, bool on) {
  auto c = command_for(Command::Type::set_sending, room, leg);
  c.on = on;
  send(c);
}

bool Engine::set_volume(std::uint64_t room, std::uint64_t leg, int talk, int listen) {
  auto c = command_for(Command::Type::set_volume, room, leg);
  c.talk = std::clamp(talk, -kVolumeSteps, kVolumeSteps);
  c.listen = std::clamp(listen, -kVolumeSteps, kVolumeSteps);
  return send(c, false);
}

void Engine::set_blocked(std::uint64_t room, std::uint64_t listener,
                         const std::vector<std::uint64_t>& speakers) {
  auto c = command_for(Command::Type::set_blocked, room, listener);
  c.blocked_count = static_cast<std::uint8_t>(std::min(speakers.size(), kMaxBlocked));
  std::copy_n(speakers.begin(), c.blocked_count, c.blocked.begin());
  send(c);
}

std::size_t Engine::poll(const std::function<void(const EngineEvent&)>& on_event) {
  flush_deferred();
  std::size_t n = 0;
  for (auto& s : shards_) n += s->poll(on_event);
  return n;
}

std::uint16_t Engine::port_of(std::uint64_t room) const {
  return shard_of(room).port();
}

Engine::Stats Engine::stats() const {
  Stats s;
  for (auto& sh : shards_) sh->add_stats(s);
  s.commands_deferred = deferred_->count;
  s.commands_waiting = commands_waiting();
  return s;
}

}  // namespace confab::media
