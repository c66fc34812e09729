#pragma once
// Every change of live state is one Event. Core produces them; the bus carries them; each face
// renders them in its own wire format. Events carry a snapshot, never a pointer into core state.
#include "core/muc.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace confab::core {

enum class EventType {
  conference_create,
  conference_destroy,
  add_member,
  del_member,
  mute_member,
  unmute_member,
  deaf_member,
  undeaf_member,
  kick_member,
  lock,
  unlock,
  start_talking,
  stop_talking,
  floor_change,
  command,       // an action requested on a conference (Kazoo conference.command.{id})
  role_change,   // voice granted or revoked, affiliation changed (detail names which)
  chat_message,  // a chat message was stored (payload: the message)
  subject_change,
  call,               // a call-flow step (detail: invite, accept, decline, cancel, revoke)
  broadcast,          // an application payload relayed to the sockets of a hub (detail: its name)
  room_update,        // a participant's metadata changed (Drumee conference.update; detail: event)
  conference_update,  // a conference document was created, changed or deleted (detail says)
  dtmf,               // a participant pressed a key (RFC 4733); detail: the digit
};

// Kazoo / FreeSWITCH event names: "add-member", "conference-create", ...
std::string_view event_name(EventType t);
bool is_participant_event(EventType t);

struct ParticipantView {
  int participant_id = 0;
  std::string call_id;
  std::string caller_id_name;
  std::string caller_id_number;
  bool is_moderator = false;
  bool speak = true;
  bool hear = true;
  bool talking = false;
  bool floor = false;
  bool mute_detect = false;
  bool video = false;
  int energy_level = 20;
  int current_energy = 0;
  std::int64_t join_time = 0;  // unix seconds
  // Who this is, when known: a confab user (by login, or by a caller number equal to a user's
  // extension) and the live socket that joined for them (Drumee).
  std::string user_id;
  std::string username;
  std::string socket_id;
  Affiliation affiliation = Affiliation::none;
  bool voice = true;  // false: a MUC visitor, muted and unable to unmute
  // What the participant's client last said about itself (Drumee conference.update: camera,
  // microphone, screen...); opaque to core.
  boost::json::object metadata;

  MucRole role() const {
    return is_moderator ? MucRole::moderator : voice ? MucRole::participant : MucRole::visitor;
  }
};

struct Event {
  EventType type{};
  std::string account_id;
  std::string conference_id;
  std::string conference_name;
  std::string instance_id;  // the live room's uuid
  std::optional<ParticipantView> participant;
  std::string detail;     // del-member: reason; command: action name
  std::int64_t time = 0;  // unix seconds
  // For addressed events (calls, broadcasts, direct chat): the sockets and users to reach, and a
  // socket to leave out (the sender's own). Room events leave these empty: faces address them by
  // room membership.
  std::vector<std::string> to_sockets;
  std::vector<std::string> to_users;
  std::string except_socket;
  boost::json::object payload;
  // The events of one change (a room closed: every del-member) share a batch number, and the
  // core is already in its final state for all of them: what a face renders from that state
  // (XiVO's conference list) it may render once per batch. 0: an event of its own.
  std::uint64_t batch = 0;
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void publish(const Event& e) = 0;
};

}  // namespace confab::core
