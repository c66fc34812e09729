#pragma once
// Keypad control maps of the dial-in IVR, selected by a conference's caller_controls and
// moderator_controls names (docs/ivr.md, "Keypad controls"):
// - "default": Kazoo's DEFAULT_CONTROLS (kapps_conference.hrl): *1 mute toggle, *2 mute on,
//   *3 mute off, *4 deaf toggle, *5 deaf on, *6 deaf off, # hangup. Kazoo gives moderators the
//   same map; confab's moderators also get *7 lock toggle, *8 mute everyone else, *9 unmute
//   everyone else, on keys Kazoo leaves unbound.
// - "freeswitch": FreeSWITCH's stock "default" caller-controls group (conference.conf.xml):
//   0 mute toggle, * deaf+mute toggle, 1/2/3 talk volume down/zero/up, 4/5/6 listen volume
//   down/zero/up, # hangup. Its energy keys (7/8/9) are not bound: confab's talk detection has no
//   per-participant threshold to step.
// - "none": no controls (FreeSWITCH's reserved name).
// Any other name (a map Kazoo keeps in its system config, which confab does not have) is the
// default, so that callers keep their hangup and mute keys.
#include "core/room.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace confab::core::ivr {

// What a key binds.
enum class ControlKind {
  mute_toggle,
  mute_on,
  mute_off,
  deaf_toggle,
  deaf_on,
  deaf_off,
  deaf_mute_toggle,
  lock_toggle,
  mute_all,
  unmute_all,
  talk_down,
  talk_zero,
  talk_up,
  listen_down,
  listen_zero,
  listen_up,
  hangup,
};

// What the bridge does on the conference (ConferenceService) or the caller's leg (the mixer).
enum class ControlOp {
  mute,           // participant_action mute
  unmute,         // participant_action unmute
  deaf,           // participant_action deaf
  undeaf,         // participant_action undeaf
  lock,           // conference_action lock
  unlock,         // conference_action unlock
  mute_all,       // everyone but the caller (act_as mute_all: moderators only)
  unmute_all,     // everyone but the caller (act_as unmute_all)
  talk_volume,    // the caller's voice as the room hears it, level -4..4 (0: as sent)
  listen_volume,  // what the caller hears, level -4..4
};
std::string_view op_name(ControlOp op);

struct Binding {
  std::string digits;
  ControlKind kind;
};

using ControlMap = std::vector<Binding>;

// The map for a conference's controls name and the caller's role.
const ControlMap& control_map(std::string_view name, Role role);

// FreeSWITCH clamps volume levels to -4..4 (switch_normalize_volume).
inline constexpr int kMaxVolumeLevel = 4;

struct KeyMatch {
  enum class Result { none, partial, exact } result = Result::none;
  ControlKind kind{};
  bool longer = false;  // exact, and a longer binding starts with these keys too
};
KeyMatch match_keys(const ControlMap& map, std::string_view keys);

}  // namespace confab::core::ivr
