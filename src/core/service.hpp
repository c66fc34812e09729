#pragma once
// ConferenceService: every rule of confab's control plane, on one thread, without I/O. Faces call
// it with commands; it answers with results and publishes events to the sink. Persistent changes
// are two-phase (prepare -> durable store write -> commit/abort) so that nothing is visible, and no
// event is sent, before the store has it.
#include "core/directory.hpp"
#include "core/events.hpp"
#include "core/pin_guard.hpp"
#include "core/room.hpp"
#include "core/token.hpp"

#include <boost/json/object.hpp>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

namespace confab::core {

struct ServiceConfig {
  int max_pin_attempts = 3;  // bad PINs from one caller before a lockout (Kazoo: 3 tries)
  int pin_lockout_seconds = 60;
  int token_ttl_seconds = 3600;
  // The other PIN throttles (per source, per conference); caller_* come from the two above.
  PinGuardConfig pins;
  // The login throttle ([logins]): per source address and per target (what a login names).
  PinGuardConfig logins = login_guard_defaults();
};

enum class WriteMode { create, replace, patch, remove };

// What a request wants to do, for authorization.
enum class Access {
  read,             // GET anything in the account
  join,             // join a room
  write,            // change a document or act on a room; `owner` = the user owning the target
  manage_accounts,  // create / list accounts: the admin account only
};

class ConferenceService {
 public:
  using Clock = std::function<std::int64_t()>;  // unix seconds

  ConferenceService(EventSink& sink, Clock clock, std::string secret, ServiceConfig cfg = {});

  // --- persisted documents ---------------------------------------------------------------
  void load(Doc d);  // startup
  const Directory& directory() const { return dir_; }
  // Throws not_found unless the document exists and belongs to the account.
  const Doc& get(std::string_view kind, std::string_view account_id, std::string_view id) const;
  // `actor` (who asks) matters for rules such as: only admins change a user's priv_level. A null
  // actor is the server itself: only it sets a media document's file facts (after an upload) and
  // writes recordings.
  PendingWrite prepare(std::string_view kind, std::string_view account_id, std::string_view id,
                       WriteMode mode, const boost::json::value& data,
                       const TokenClaims* actor = nullptr);
  // A new account with a fresh API key, returned once through `api_key`.
  PendingWrite prepare_account(const boost::json::value& data, bool admin, std::string& api_key);
  void commit(const PendingWrite& w);
  void abort(const PendingWrite& w);
  std::string new_id() const;

  // --- authentication ------------------------------------------------------------------
  std::string keyed_hash(std::string_view s) const;  // what we store instead of a secret
  std::string new_api_key() const;
  // api_key -> token; throws unauthorized.
  std::string auth_api_key(std::string_view api_key, TokenClaims* out = nullptr) const;
  // Kazoo user_auth: md5 credentials + account name -> token; throws unauthorized.
  std::string auth_user(std::string_view credentials, std::string_view account_name,
                        TokenClaims* out = nullptr) const;
  // XiVO login: "username" (unique across accounts) or "username@account name", and password.
  std::string auth_login(std::string_view login, std::string_view password,
                         TokenClaims* out = nullptr) const;
  // Every login a client tries goes through login(): `target` is whom it names ("account:<name>",
  // "user:<username>", "site:<id>"; empty for an API key alone), `source` the client's address
  // (empty: not throttled by source). While either is throttled ([logins]) it throws
  // too_many_logins (details retry_after and scope, "source" or "target") before `verify` runs,
  // whatever the credentials; an unauthorized from `verify` counts against both; a success
  // makes (source, target) known, so that this source passes the target's throttle.
  std::string login(std::string_view target, std::string_view source,
                    const std::function<std::string()>& verify);
  // The check alone, for work to be done before `verify` (api_auth's reload of the accounts).
  void check_login(std::string_view target, std::string_view source);
  PinGuard& login_guard() { return logins_; }
  const PinGuard& login_guard() const { return logins_; }
  // A fresh token for the same identity (xuc's auth/check).
  std::string refresh(const TokenClaims& c) const;
  TokenClaims verify(std::string_view token) const;
  bool is_admin_account(std::string_view account_id) const;
  // Throws forbidden. A token reaches its own account (the admin account reaches all); a user
  // with priv_level "user" may read and join, and change only what it owns.
  void authorize(const TokenClaims& c, std::string_view account_id, Access a,
                 std::string_view owner = {}) const;

  // --- hub rooms (Drumee) ---------------------------------------------------------------
  // A hub's rooms are conference documents with its `hub_id` and a `type` (the kind of
  // meeting). The newest live room of the hub with that type, or null.
  const Doc* hub_room(std::string_view hub_id, std::string_view type) const;
  // Every conference of a hub (indexed: no scan of the account).
  std::vector<const Doc*> hub_conferences(std::string_view hub_id) const;
  // A conference of the hub (same account); throws not_found ("the room is not in this hub").
  const Doc& hub_conference(std::string_view hub_id, std::string_view conference_id) const;
  // A new room for a hub: {"name": "<hub name> <type>", "hub_id", "type", "member":
  // {"join_muted": false}} (Drumee meetings are conversations: attendees are heard at once).
  // `shared`: a room that joins find by hub and type. Two of those must never be created at
  // once, so while one is being written another for the same hub and type is refused with
  // conflict: the second join waits for the first with await_hub_room. A private room (a call)
  // is never shared. Throws not_found for a hub not in the account.
  PendingWrite prepare_hub_room(std::string_view account_id, std::string_view hub_id,
                                std::string_view type, const TokenClaims* actor,
                                bool shared = true);
  // While a shared room of the hub and type is being written: queues `then`, called with the
  // room's id once it is committed (empty if the write was aborted), and returns true; false
  // when none is being written. `then` runs inside commit()/abort() and must not throw.
  bool await_hub_room(std::string_view hub_id, std::string_view type,
                      std::function<void(const std::string& conference_id)> then);

  // --- live rooms ------------------------------------------------------------------------
  const Room* room(std::string_view conference_id) const;
  // What join decides of a caller before the room changes: the PIN throttles (too_many_attempts),
  // the dialled number and the PIN (bad_pin, counted as a wrong PIN; a right one as proved),
  // affiliations (forbidden). join runs it first; the SIP IVR runs it alone to check a PIN before
  // it records the caller's name, then joins with the same request.
  Admission admit_caller(std::string_view account_id, std::string_view conference_id,
                         const JoinRequest& req);
  // A socket already in the room keeps its place: joining again returns its participant and
  // changes nothing.
  ParticipantView join(std::string_view account_id, std::string_view conference_id,
                       const JoinRequest& req);
  void leave(std::string_view account_id, std::string_view conference_id, int participant_id,
             std::string_view reason);
  // The participant of a socket leaves; false when the socket is not in the room (so leaving
  // twice is harmless).
  bool leave_socket(std::string_view account_id, std::string_view conference_id,
                    std::string_view socket_id, std::string_view reason);
  // lock, unlock, play {media_id} (to the whole room), record {action: start|stop}.
  void conference_action(std::string_view account_id, std::string_view conference_id,
                         std::string_view action, const boost::json::value& data = {});
  void participants_action(std::string_view account_id, std::string_view conference_id,
                           std::string_view action);
  void relate(std::string_view account_id, std::string_view conference_id, int participant_id,
              int other_participant, std::string_view relationship);
  // mute, unmute, deaf, undeaf, kick, and play {media_id} (to this participant alone).
  void participant_action(std::string_view account_id, std::string_view conference_id,
                          int participant_id, std::string_view action,
                          const boost::json::value& data = {});
  // What a play's media_id (or play_entry_tone) names must exist: a tone string
  // (tone_stream://...) that parses, or a media document of the account with audio uploaded.
  // Throws invalid_data naming `field`.
  void check_media_ref(std::string_view account_id, std::string_view ref,
                       std::string_view field) const;
  int bad_pin_attempts(std::string_view conference_id) const;
  PinGuard& pin_guard() { return pins_; }
  const PinGuard& pin_guard() const { return pins_; }
  // Stores what a participant's client says about itself (replacing what it said before); no
  // event: the caller tells whom it concerns. Throws not_found.
  void set_participant_metadata(std::string_view conference_id, int participant_id,
                                boost::json::object metadata);
  // When the conference's room last emptied (unix seconds); its creation when never used; 0
  // while it has occupants.
  std::int64_t empty_since(std::string_view conference_id) const;

  // An occupant acting on their own room, with XiVO's organizer rules: the actor must be in the
  // room (not_a_member), organizer-only actions need a moderator (not_organizer), organizers
  // cannot be kicked (cannot_kick_organizer), the target must exist (not_found). `target` 0
  // means everyone but the actor ("mute_all"...), or the actor itself ("mute_me"...).
  // Actions: mute unmute deaf undeaf kick voice devoice, mute_me unmute_me, mute_all unmute_all,
  // close.
  void act_as(std::string_view account_id, std::string_view conference_id, std::string_view user_id,
              std::string_view action, int target = 0);
  // The conference of an account that owns a dial-in number (XiVO names rooms by number).
  const Doc* conference_by_number(std::string_view account_id, std::string_view number) const;
  const Doc* user_by_extension(std::string_view account_id, std::string_view extension) const;
  // What the media engine hears, reported on the control thread: talking starts/stops (events
  // start-talking / stop-talking), the current energy (no event: _read_only shows it), the floor
  // (floor-change). Unknown rooms or participants are ignored: the leg may just have left.
  void media_talking(std::string_view conference_id, int participant_id, bool talking, int energy);
  void media_energy(std::string_view conference_id, int participant_id, int energy);
  void media_floor(std::string_view conference_id, int participant_id);
  void media_dtmf(std::string_view conference_id, int participant_id, char digit);
  // Hangs everyone up (reason in del-member) and ends the room.
  void close(std::string_view account_id, std::string_view conference_id, std::string_view reason);
  // Every (conference, participant) a socket joined.
  std::vector<std::pair<std::string, int>> participations(std::string_view socket_id) const;

  // Told after a live room ended (its last participant left, or it was closed), once its
  // events are out. Returns an id for remove_room_end_listener.
  using RoomEndListener = std::function<void(const std::string& conference_id)>;
  int add_room_end_listener(RoomEndListener f);
  void remove_room_end_listener(int id);

  std::int64_t now() const { return clock_(); }
  const ServiceConfig& config() const { return cfg_; }

 private:
  // Scopes of the directory keys shared by all accounts.
  static constexpr const char* kAccounts = "accounts";
  static constexpr const char* kLogins = "logins";
  std::vector<UniqueKey> keys_for(const Doc& d) const;
  bool is_admin_user(const TokenClaims& c) const;
  Admission admit(std::string_view account_id, const Doc& conf, const JoinRequest& req);
  void finish(std::string_view conference_id, std::vector<Event>& events);
  // data.media_id of a play, checked; the command event's payload.
  boost::json::object media_payload(std::string_view account_id,
                                    const boost::json::value& data) const;
  // data.action of a record: true for "start", false for "stop"; throws invalid_data.
  static bool record_switch(const boost::json::value& data);
  Room& live_room(std::string_view account_id, std::string_view conference_id);
  void emit(std::vector<Event>& events);
  void end_room(const std::string& conference_id, std::string_view reason);
  void settle_hub_room(const PendingWrite& w, const std::string& conference_id);

  struct HubRoomWrite {
    std::uint64_t ticket = 0;
    std::vector<std::function<void(const std::string&)>> waiting;
  };

  EventSink& sink_;
  Clock clock_;
  std::string secret_;
  ServiceConfig cfg_;
  Directory dir_;
  std::map<std::string, std::unique_ptr<Room>, std::less<>> rooms_;  // by conference id
  PinGuard pins_;
  PinGuard logins_;
  std::map<int, RoomEndListener> room_end_;
  int next_listener_ = 1;
  void room_ended(const std::string& conference_id);
  std::unordered_map<std::string, int> bad_pins_;          // conf -> total
  std::unordered_map<std::string, std::int64_t> emptied_;  // conf -> when its room last emptied
  std::map<std::string, HubRoomWrite, std::less<>> hub_rooms_;  // "<hub>/<type>" being written
  std::unordered_map<std::string, std::set<std::string>> socket_rooms_;  // socket -> conferences
  std::uint64_t batch_ = 0;  // Event::batch of the last emit()
};

}  // namespace confab::core
