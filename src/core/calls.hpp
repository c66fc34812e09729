#pragma once
// Presence (which sockets each user has open, on any face) and call flows: invite, accept,
// decline, cancel, revoke, with Drumee's edge cases (offline guest, crossed calls within 5 s,
// get_caller) and XiVO's conferenceInvite. Hubs scope Drumee rooms to an account and hold each
// user's privilege bitmask.
#include "core/events.hpp"
#include "core/room.hpp"
#include "core/service.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace confab::core {

// Drumee privilege bitmasks.
namespace privilege {
constexpr int none = 0, anonymous = 1, read = 3, write = 7, remove = 15, admin = 31, owner = 63;
}
// The privilege a Drumee conference service needs (COMPAT.md's ACL table); throws not_found for
// a service that does not exist.
int required_privilege(std::string_view service);
boost::json::object validate_hub(const boost::json::value& input);
// The hub a conference belongs to; empty for conferences outside hubs (made by other faces).
std::string hub_of(const Doc& conference);
// What anyone who may join a conference sees of its document: all but private fields and secrets
// (PINs: whoever knows the moderator PIN can enter as an organizer by phone; bridge_password).
boost::json::object attendee_view(const Doc& conference);

struct SocketInfo {
  std::string socket_id;
  std::string account_id;
  std::string user_id;  // empty: a guest
  std::string face;     // "drumee", "xivo", ...
};

struct Invitation {
  std::string account_id;
  std::string conference_id;
  std::string caller_user;
  std::string caller_socket;
  std::string callee_user;
  Role role = Role::member;
  std::int64_t created = 0;  // unix seconds
  boost::json::object metadata;
};

class Calls {
 public:
  static constexpr std::int64_t kCrossedCallWindow = 5;  // seconds (Drumee)

  Calls(ConferenceService& svc, EventSink& sink);
  ~Calls();
  Calls(const Calls&) = delete;
  Calls& operator=(const Calls&) = delete;

  // --- presence --------------------------------------------------------------------------
  void connect(SocketInfo s);
  // A socket that goes away leaves the rooms it joined (each in the room's own account: a
  // guest socket has none) and withdraws the calls it placed.
  void disconnect(const std::string& socket_id);
  const SocketInfo* socket(std::string_view socket_id) const;
  // Throws not_found ("unknown socket_id") or forbidden ("socket_id is not yours") unless the
  // socket is connected for that user (empty: a guest).
  void check_socket(std::string_view socket_id, std::string_view user_id) const;
  std::vector<std::string> sockets_of(std::string_view user_id) const;
  bool online(std::string_view user_id) const { return !sockets_of(user_id).empty(); }

  // --- hubs ------------------------------------------------------------------------------
  // The privilege of a user (or a guest: empty id) in a hub; throws not_found.
  int hub_privilege(std::string_view hub_id, std::string_view user_id) const;
  // Throws forbidden ("PERMISSION_DENIED") unless the user's privilege covers the service's.
  void check_service(std::string_view hub_id, std::string_view user_id,
                     std::string_view service) const;
  // The hub a Drumee service acts in, checked for its caller (`claims` null: a guest): the hub
  // of `conference_id` when given (not_found when that conference is in no hub, or not in the
  // hub's account), else `hub_id`; the token must reach the hub's account and the privilege
  // there cover the service (forbidden).
  const Doc& hub_scope(std::string_view service, const TokenClaims* claims,
                       std::string_view conference_id, std::string_view hub_id) const;
  // The live sockets a hub's news reaches: its account's connected users with a non-zero
  // privilege in it, and the guests in its live rooms.
  std::vector<std::string> hub_sockets(std::string_view hub_id) const;
  // The last room of a hub that the socket is in; empty when none.
  std::string hub_room_of(std::string_view socket_id) const;
  // A participant named by its socket, or by its number in `conference_id`, or in the live rooms
  // of `hub_id` (numbers are per room: only when exactly one has it). Returns (conference id,
  // participant), or nullopt.
  std::optional<std::pair<std::string, ParticipantView>> find_participant(
      std::string_view socket_id, int number, std::string_view conference_id,
      std::string_view hub_id) const;
  // Relays an application payload to the hub's sockets but the sender's (event broadcast,
  // payload {event, payload, hub_id}). Throws not_found for an unknown hub.
  void broadcast(std::string_view hub_id, std::string_view from_socket, std::string_view event,
                 const boost::json::value& payload);
  // A participant's socket tells the others about itself (Drumee conference.update): when the
  // socket is the user's and is in the room, its metadata (with `uid` = the user) is stored on
  // the participant and sent to the other sockets of the room's hub (event room_update, payload
  // {room_id, socket_id, metadata, timestamp (ms), event?}), which is returned. Otherwise
  // nothing changes and nullopt is returned.
  std::optional<boost::json::object> update(std::string_view conference_id,
                                            std::string_view socket_id, std::string_view user_id,
                                            boost::json::object metadata, std::string_view event);

  // --- calls -----------------------------------------------------------------------------
  // A pending call from `callee` to `caller` placed less than 5 s ago: the two called each
  // other, and the second call joins the first one's room instead of ringing.
  const Invitation* crossed(std::string_view caller, std::string_view callee) const;

  struct Rung {
    bool offline = false;              // the callee has no socket anywhere: nothing rang
    std::vector<std::string> sockets;  // where it rang
  };
  // Rings every socket of the callee for the conference, which the caller must be in (joined
  // through `caller_socket`, or as a user). Emits call/invite to the callee's sockets.
  // `organizer_only`: the caller must be a moderator of the room (XiVO's conferenceInvite).
  Rung invite(std::string_view account_id, std::string_view conference_id,
              std::string_view caller_user, std::string_view caller_socket,
              std::string_view callee_user, Role role, const boost::json::object& metadata,
              bool organizer_only = false);
  // The callee answers on one socket: joins the room with the invitation's role; tells the
  // caller and the callee's other sockets (call/accept). `caller_socket` picks the call when
  // several ring; empty takes the latest.
  // `conference_id`, when given, picks the call to that room.
  ParticipantView accept(std::string_view account_id, std::string_view callee_user,
                         std::string_view socket_id, std::string_view caller_socket,
                         std::string_view conference_id = {});
  void decline(std::string_view account_id, std::string_view callee_user,
               std::string_view socket_id, std::string_view caller_socket,
               std::string_view conference_id = {});
  // Ends the room and every call to it; everyone in it or rung for it is told (call/cancel).
  void cancel(std::string_view account_id, std::string_view conference_id,
              std::string_view socket_id);
  // Takes one callee out of the room and its pending call; tells the callee's sockets.
  void revoke(std::string_view account_id, std::string_view conference_id,
              std::string_view callee_user, std::string_view socket_id);
  // The call `guest` placed to `me`, ringing or answered; nullopt when none.
  std::optional<Invitation> caller_of(std::string_view me, std::string_view guest) const;
  std::vector<Invitation> pending_for(std::string_view callee_user) const;
  // The latest call ringing for the callee from `caller_socket` (empty: from anyone), or null.
  const Invitation* ringing(std::string_view callee_user, std::string_view caller_socket) const;
  // The room of a hub that `socket_id` is in where `callee_user` is too, or is called to; empty
  // when none (what revoke acts on when no room is named).
  std::string call_room(std::string_view hub_id, std::string_view socket_id,
                        std::string_view callee_user) const;

 private:
  Event call_event(std::string_view step, const Invitation& inv) const;
  void forget(std::string_view conference_id, std::string_view callee);
  // The room ended: calls still ringing for it are cancelled (callee and caller told), answered
  // ones forgotten.
  void room_ended(const std::string& conference_id);
  int room_end_listener_ = 0;

  ConferenceService& svc_;
  EventSink& sink_;
  std::map<std::string, SocketInfo, std::less<>> sockets_;
  std::map<std::string, std::set<std::string>, std::less<>> by_user_;
  std::map<std::string, std::set<std::string>, std::less<>> by_account_;  // sockets of an account
  std::vector<Invitation> invitations_;  // ringing or answered, until the room ends
  std::set<std::string> answered_;       // "<conference>/<callee>"
};

}  // namespace confab::core
