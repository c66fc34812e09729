#pragma once
// The IVR's lookups on the real ConferenceService, and the two calls the SIP bridge makes for
// it: the join (ConferenceService::join, as REST joins) and the keypad actions that change the
// conference (the same service calls as the REST actions, so every face sees the same events).
// Admission is the service's own (ConferenceService::admit_caller, Room::check_entry): the IVR
// decides nothing about PINs, lockouts, locks or limits by itself.
#include "core/ivr.hpp"
#include "core/service.hpp"

namespace confab::core::ivr {

class ServiceLookup final : public IvrLookup {
 public:
  explicit ServiceLookup(ConferenceService& svc) : svc_(svc) {}

  // The account is the one whose `realm` is the Request-URI host (case-insensitive); with no
  // such account, the only account that has the number (a number several accounts use is found
  // in none of them).
  std::optional<ConferenceInfo> find(std::string_view number, std::string_view domain) override;
  AdmitResult admit(const ConferenceInfo& c, const CallInfo& call, std::string_view pin) override;
  Verdict entry(const ConferenceInfo& c) override;

 private:
  ConferenceService& svc_;
};

// What a conference document says to the IVR, for the number that found it.
ConferenceInfo conference_info(const Doc& conf, std::string_view number);

// The JoinRequest of a SIP caller: the REST join's fields from the call (caller id, the dialled
// number, the PIN, the Call-ID and the source that PIN throttles count).
JoinRequest join_request(const CallInfo& call, std::string_view dialed, std::string_view pin);

// ConferenceService::join for the IVR's join action; `joined` receives the participant when it
// succeeded. Refusals come back as verdicts, never as exceptions.
JoinOutcome join(ConferenceService& svc, const JoinSpec& spec, ParticipantView* joined = nullptr);

// The room as a participant sees it, for Ivr::room_changed; participants 0 when it is gone.
RoomView room_view(const ConferenceService& svc, std::string_view conference_id,
                   int participant_id);

// Carries out a keypad op on the conference: mute/unmute/deaf/undeaf on the caller, lock/unlock
// on the room, mute_all/unmute_all as Kazoo's bulk participants actions (moderators are
// skipped). Throws the service's Error when it refuses (the bridge then skips the confirmation).
// Returns false for talk_volume / listen_volume: those are the mixer's, not the service's.
bool apply_control(ConferenceService& svc, std::string_view account_id,
                   std::string_view conference_id, int participant_id, ControlOp op);

}  // namespace confab::core::ivr
