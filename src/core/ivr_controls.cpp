#include "core/ivr_controls.hpp"

namespace confab::core::ivr {

namespace {

using K = ControlKind;

const ControlMap kKazooDefault = {
    {"*1", K::mute_toggle}, {"*2", K::mute_on},  {"*3", K::mute_off}, {"*4", K::deaf_toggle},
    {"*5", K::deaf_on},     {"*6", K::deaf_off}, {"#", K::hangup},
};

ControlMap with_moderator_keys(ControlMap m) {
  m.push_back({"*7", K::lock_toggle});
  m.push_back({"*8", K::mute_all});
  m.push_back({"*9", K::unmute_all});
  return m;
}

const ControlMap kModeratorDefault = with_moderator_keys(kKazooDefault);

const ControlMap kFreeswitch = {
    {"0", K::mute_toggle}, {"*", K::deaf_mute_toggle}, {"1", K::talk_down},
    {"2", K::talk_zero},   {"3", K::talk_up},          {"4", K::listen_down},
    {"5", K::listen_zero}, {"6", K::listen_up},        {"#", K::hangup},
};

const ControlMap kNone;

}  // namespace

std::string_view op_name(ControlOp op) {
  switch (op) {
    case ControlOp::mute:
      return "mute";
    case ControlOp::unmute:
      return "unmute";
    case ControlOp::deaf:
      return "deaf";
    case ControlOp::undeaf:
      return "undeaf";
    case ControlOp::lock:
      return "lock";
    case ControlOp::unlock:
      return "unlock";
    case ControlOp::mute_all:
      return "mute_all";
    case ControlOp::unmute_all:
      return "unmute_all";
    case ControlOp::talk_volume:
      return "talk_volume";
    case ControlOp::listen_volume:
      return "listen_volume";
  }
  return "?";
}

const ControlMap& control_map(std::string_view name, Role role) {
  if (name == "none") return kNone;
  if (name == "freeswitch") return kFreeswitch;
  return role == Role::moderator ? kModeratorDefault : kKazooDefault;
}

KeyMatch match_keys(const ControlMap& map, std::string_view keys) {
  KeyMatch m;
  bool exact = false;
  for (auto& b : map) {
    if (b.digits == keys) {
      exact = true;
      m.kind = b.kind;
    } else if (b.digits.size() > keys.size() && b.digits.starts_with(keys)) {
      m.longer = true;
    }
  }
  m.result = exact      ? KeyMatch::Result::exact
             : m.longer ? KeyMatch::Result::partial
                        : KeyMatch::Result::none;
  return m;
}

}  // namespace confab::core::ivr
