#pragma once
// The audio engine (DESIGN.md sections 2-3): K shard threads, each owning one UDP socket and the
// rooms placed on it. The control thread talks to a shard through a bounded command queue and
// hears back through an event queue; nothing else is shared.
#include "media/sdp.hpp"

#include <netinet/in.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace confab::media {

struct EngineConfig {
  std::string bind_ip = "127.0.0.1";
  std::uint16_t port_base = 0;  // shard i binds port_base + i; 0: any free port
  int shards = 1;
  int tick_ms = 20;
  int conference_rate = 48000;  // 8000, 16000 or 48000 (the profile's rate)
  int max_speakers = 3;
  int rtp_timeout_ms = 30000;  // a leg that sends nothing this long is dropped
};

struct LegSpec {
  std::uint64_t leg = 0;
  std::uint64_t room = 0;
  Negotiated codec;
  sockaddr_in remote{};
  int level_ext = 0;  // RFC 6464 extension id, 0 when not negotiated
  bool speak = true;
  bool hear = true;
};

struct EngineEvent {
  enum class Type : std::uint8_t { talking, quiet, energy, dtmf, timeout, floor };
  Type type{};
  std::uint64_t room = 0;
  std::uint64_t leg = 0;
  int value = 0;  // energy score; DTMF: the digit character
};

class Shard;

class Engine {
 public:
  explicit Engine(EngineConfig cfg);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Control thread API. A room lives on one shard; its legs receive on that shard's port.
  std::uint16_t add_room(std::uint64_t room);  // returns the port legs of this room use
  void remove_room(std::uint64_t room);
  // False when the shard's command queue is full: the leg was not added.
  bool add_leg(const LegSpec& spec);
  void remove_leg(std::uint64_t room, std::uint64_t leg);
  void set_flags(std::uint64_t room, std::uint64_t leg, bool speak, bool hear);
  static constexpr std::size_t kMaxBlocked = 16;
  // The legs `listener` must not hear (relate); replaces the previous list. At most kMaxBlocked.
  void set_blocked(std::uint64_t room, std::uint64_t listener,
                   const std::vector<std::uint64_t>& speakers);
  // Drains every event reported since the last call.
  std::size_t poll(const std::function<void(const EngineEvent&)>& on_event);

  const EngineConfig& config() const { return cfg_; }
  std::uint16_t port_of(std::uint64_t room) const;

  struct Stats {
    std::uint64_t ticks = 0, late_ticks = 0, rx_packets = 0, tx_packets = 0, rx_unknown = 0,
                  encodes = 0, decodes = 0, queue_full = 0;
  };
  Stats stats() const;  // summed over shards (read racily: for reports only)

 private:
  Shard& shard_of(std::uint64_t room) const;
  EngineConfig cfg_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unordered_map<std::uint64_t, std::size_t> placement_;  // room -> shard (control thread)
};

}  // namespace confab::media
