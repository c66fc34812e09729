#pragma once
// A live conference room: who is in it, in which role, muted or deaf, and whether it is locked.
// Pure state and rules; every change returns the events it causes.
#include "core/events.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace confab::core {

enum class Role { member, moderator };

struct JoinRequest {
  std::string name;    // caller id name
  std::string number;  // caller id number
  std::string pin;
  std::string dialed;          // the conference number dialled, if any: picks the role (COMPAT.md)
  std::string call_id;         // optional; generated when empty
  std::string user_id;         // a confab user joining as themselves (CTI, Drumee); no PIN needed
  std::string socket_id;       // the live socket that joins (Drumee)
  std::optional<Role> role;    // forced role (an invitation names it); skips the PIN
  bool first_is_host = false;  // Drumee: whoever opens an empty room hosts it
  // Where the request came from (an IP address), for counting wrong PINs of callers that give
  // no number, so that one anonymous caller cannot lock out all the others.
  std::string source;
  // Who makes the request on the caller's behalf (a token's account/user), throttled as a
  // source of wrong PINs too.
  std::string principal;
  // FreeSWITCH's mute-detect: while muted, the member's audio is still analysed, so that
  // start-talking tells a moderator someone talks into a muted line (never mixed).
  bool mute_detect = false;
};

// Who is admitted, and how: decided by the service from PIN, user and affiliations.
struct Admission {
  Role role = Role::member;
  Affiliation affiliation = Affiliation::none;
  bool voice = true;
  std::string user_id;
  std::string username;
};

// Which role a caller gets from the dialled number and PIN, by Kazoo's rules. Throws bad_pin.
Role resolve_role(const boost::json::object& conf_doc, const JoinRequest& req);

class Room {
 public:
  Room(std::string account_id, std::string conference_id, std::string name, std::string instance_id,
       std::int64_t now);

  const std::string& account_id() const { return account_id_; }
  const std::string& conference_id() const { return conference_id_; }
  const std::string& instance_id() const { return instance_id_; }
  std::int64_t created() const { return created_; }
  bool locked() const { return locked_; }
  const std::vector<ParticipantView>& participants() const { return participants_; }
  int count(Role r) const;
  const ParticipantView* find(int participant_id) const;
  const ParticipantView* find_call(std::string_view call_id) const;

  // Throws room_locked / room_full when nobody may enter now (join checks it first; the SIP IVR
  // asks before it records a caller's name, as Kazoo checks max_participants first).
  void check_entry(const boost::json::object& conf_doc) const;
  // Admits a caller whose role is already resolved; throws room_locked / room_full.
  ParticipantView join(const boost::json::object& conf_doc, const Admission& adm,
                       const JoinRequest& req, std::string call_id, std::int64_t now,
                       std::vector<Event>& out);
  void leave(int participant_id, std::string_view reason, std::int64_t now,
             std::vector<Event>& out);
  // Everyone leaves (the room is closed or deleted), in join order.
  void leave_all(std::string_view reason, std::int64_t now, std::vector<Event>& out);

  // "mute" "unmute" "deaf" "undeaf" "kick" "voice" "devoice" on one participant; throws
  // not_found / unknown_action, or forbidden when `actor` (an occupant acting, or null for an
  // administrator) may not act on the target (higher affiliation; a visitor cannot be unmuted).
  void act(const ParticipantView* actor, int participant_id, std::string_view action,
           std::int64_t now, std::vector<Event>& out);
  // The same on everyone but `except_id`; mute/deaf skip moderators when `skip_moderators`
  // (Kazoo's bulk actions), and those already in that state; kick takes everyone.
  void act_all(const ParticipantView* actor, std::string_view action, bool skip_moderators,
               int except_id, std::int64_t now, std::vector<Event>& out);
  const ParticipantView* find_user(std::string_view user_id) const;
  // FreeSWITCH's wait-mod (the conference's wait_for_moderator): while no moderator is in the
  // room, members are held, neither mixed nor hearing. Kazoo itself does not enforce it.
  bool holds(const boost::json::object& conf_doc, const ParticipantView& p) const;
  // Media state: returns false when the participant is gone.
  bool set_talking(int participant_id, bool talking, int energy, std::int64_t now,
                   std::vector<Event>& out);
  bool set_energy(int participant_id, int energy);
  bool set_floor(int participant_id, std::int64_t now, std::vector<Event>& out);
  const ParticipantView* find_socket(std::string_view socket_id) const;
  // Replaces a participant's metadata; false when the participant is gone.
  bool set_metadata(int participant_id, boost::json::object metadata);
  // "lock" / "unlock".
  void set_locked(bool locked, std::int64_t now, std::vector<Event>& out);
  // A play request (payload: media_id) for the room, or for `target` alone: a command event
  // with detail "play" that the media side carries out.
  void play(const ParticipantView* target, boost::json::object payload, std::int64_t now,
            std::vector<Event>& out);
  // Recording on or off: a command event with detail "record" and payload {action}. Throws
  // conflict when it is already so.
  void set_recording(bool on, std::int64_t now, std::vector<Event>& out);
  bool recording() const { return recording_; }
  // Kazoo's relate (FreeSWITCH's conference relate) between two participants: "mute": `other`
  // no longer hears `id`; "deaf": `id` no longer hears `other`; "reset" ends both. Emits a
  // command event (detail "relate") naming both. Throws not_found / invalid_data.
  void relate(int id, int other, std::string_view relationship, std::int64_t now,
              std::vector<Event>& out);
  // Who `listener` must not hear.
  std::vector<int> blocked_for(int listener) const;

  Event make_event(EventType t, std::int64_t now, const ParticipantView* p = nullptr,
                   std::string detail = {}) const;

 private:
  bool apply(const ParticipantView* actor, ParticipantView& p, std::string_view action,
             std::int64_t now, std::vector<Event>& out);
  ParticipantView* at(int participant_id);
  void remove(const std::vector<int>& ids, std::string_view reason, bool kicked, std::int64_t now,
              std::vector<Event>& out);

  std::string account_id_, conference_id_, name_, instance_id_;
  std::int64_t created_;
  bool locked_ = false;
  bool recording_ = false;
  int next_id_ = 1;
  std::vector<ParticipantView> participants_;  // in join order, which is the order of their ids
  // Indexes, so that no lookup scans the room (every media report names a participant).
  std::unordered_map<std::string, int> by_call_, by_socket_;
  std::unordered_map<std::string, std::set<int>> by_user_;
  std::set<std::pair<int, int>> blocked_;  // (listener, speaker) pairs from relate
};

bool is_participant_action(std::string_view action);

}  // namespace confab::core
