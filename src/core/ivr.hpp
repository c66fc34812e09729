#pragma once
// The dial-in IVR of one SIP call: Kazoo's conference callflow (conf_discovery_req.erl) with
// FreeSWITCH mod_conference's prompts and keypad controls, as a pure state machine. It owns no
// socket, timer or media: the SIP bridge feeds it events (the call arrived, a digit, a prompt
// finished, a timer fired, the join's outcome, the room changed) and carries out the actions it
// returns, in order. What it must know of conferences it asks through `IvrLookup`, which
// ServiceLookup (ivr_service.hpp) implements on the ConferenceService, so that it decides
// exactly as the REST join does.
//
// The flow (docs/ivr.md):
//   arrived: a number of a conference -> answer, conf-welcome (unless play_welcome is false);
//            the access number -> answer, conf-welcome, conf-enter_conf_number, up to 3 tries
//            (conf-bad_conf between, conf-too_many_attempts and hang up after the third);
//            anything else -> hang up unanswered (unknown_number: SIP 404).
//   PIN:     when the role the number picks (or either role, when it picks none) has PINs:
//            conf-enter_conf_pin, 1-16 digits ended by '#' or 5 s of silence; a wrong one plays
//            conf-bad_pin and asks again, 3 tries; the shared lockout (PinGuard) may end it
//            sooner. Without PINs the same check runs with no PIN (a locked-out caller is
//            refused even then, as on REST).
//   entry:   locked -> conf-locked, full -> max_members_media or conf-max_participants, then
//            hang up; play_name -> conf-announce_your_name, a beep, the recording (60 s at
//            most, any key ends it); then join.
//   joined:  conf-joining_conference, conf-muted / conf-deaf when joined so, then
//            conf-conference_will_start_shortly while a moderator is awaited, or conf-alone when
//            alone; hold music while held or alone; the recorded name is announced to the room
//            with conf-has_joined (and conf-has_left when the caller goes). Entry and exit tones
//            are the media bridge's, for every face alike.
//   keypad:  the role's control map (ivr_controls.hpp), each action with its confirmation.
#include "core/ivr_controls.hpp"
#include "core/room.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace confab::core::ivr {

// ---- what the IVR is told ----------------------------------------------------------------

// Longest dialled number, domain, caller name or number, source or Call-ID kept: longer ones
// are cut (SIP headers may be long; a participant's fields are not).
inline constexpr std::size_t kMaxField = 256;
// Longest conference number or PIN collected (Kazoo: 1-16 digits).
inline constexpr int kMaxDigits = 16;

struct CallInfo {
  std::string dialed;         // Request-URI user part
  std::string domain;         // Request-URI host: picks the account by its realm, when one has it
  std::string caller_name;    // From display name
  std::string caller_number;  // From user part
  std::string source;         // where the call comes from ("sip:203.0.113.5"), for PIN throttles
  std::string call_id;        // SIP Call-ID: the participant's call_id
};

// What the IVR needs of a conference document.
struct ConferenceInfo {
  std::string account_id;
  std::string conference_id;
  std::string number;             // the number that found it
  std::optional<Role> by_number;  // member.numbers / moderator.numbers; none: conference_numbers
  bool member_pins = false;       // member.pins is not empty
  bool moderator_pins = false;    // moderator.pins is not empty
  bool play_welcome = true;
  bool play_name = false;
  std::string caller_controls = "default";
  std::string moderator_controls = "default";
  std::string max_members_media;  // played instead of conf-max_participants when set
  std::string language;           // the document's; empty: the IVR's
  int pin_timeout_ms = 0;         // Kazoo's pin_timeout; 0: the IVR's
};

enum class Verdict {
  ok,                 // admitted (role says how)
  bad_pin,            // wrong or missing PIN; attempts_left says how many the lockout allows
  too_many_attempts,  // the shared lockout refuses this caller now
  locked,
  full,
  forbidden,  // an outcast, or a members-only room
  not_found,  // the conference went away
  error,      // anything else (logged by the bridge)
};

struct AdmitResult {
  Verdict verdict = Verdict::ok;
  Role role = Role::member;
  int attempts_left = 0;
};

class IvrLookup {
 public:
  virtual ~IvrLookup() = default;
  // The conference a number dials, or none.
  virtual std::optional<ConferenceInfo> find(std::string_view number, std::string_view domain) = 0;
  // The REST join's admission of this caller with this PIN (empty: none given), counted by the
  // shared PIN lockout as REST counts it. Verdicts: ok, bad_pin, too_many_attempts, forbidden,
  // not_found.
  virtual AdmitResult admit(const ConferenceInfo& c, const CallInfo& call,
                            std::string_view pin) = 0;
  // Whether a newcomer may enter the room now: ok, locked, full (or not_found).
  virtual Verdict entry(const ConferenceInfo& c) = 0;
};

// The room as the caller's participant sees it, after a join and after every change of its room
// (add/del member, mute, deaf, lock...): the bridge reports it with room_changed().
struct RoomView {
  int participants = 0;  // everyone in the room, the caller included
  bool locked = false;
  bool held = false;  // wait_for_moderator holds this participant (Room::holds)
  bool speak = true;
  bool hear = true;
};

struct JoinOutcome {
  Verdict verdict = Verdict::ok;
  Role role = Role::member;
  int participant_id = 0;
  RoomView room;  // right after the join
};

// ---- what the IVR asks for ---------------------------------------------------------------

struct PromptItem {
  enum class Kind {
    prompt,  // a prompt id (conf-welcome): PromptSet, or the account's media document of that name
    media,   // a media id of the account or a tone string (max_members_media)
    name,    // the caller's recorded name
  };
  Kind kind = Kind::prompt;
  std::string ref;
  bool operator==(const PromptItem&) const = default;
};

enum class HangupReason {
  unknown_number,     // before answer: SIP 404
  no_conference,      // three wrong conference numbers
  bad_pin,            // three wrong PINs
  too_many_attempts,  // the shared lockout
  locked,
  full,
  forbidden,
  keypad,  // the caller's hangup key
  kicked,
  conference_ended,
  error,
};
std::string_view reason_name(HangupReason r);

struct JoinSpec {
  std::string account_id, conference_id;
  std::string dialed;  // the conference number: picks the role as on REST
  std::string pin;
  Role role = Role::member;  // what admission decided; join decides again from dialed + pin
  CallInfo call;
};

struct Action {
  enum class Type {
    answer,  // answer the call (200 OK)
    // prompts, in order, to the caller, after any play still going; prompts_done(token) when
    // they have all played (a later play's token supersedes an earlier one's)
    play,
    stop_play,     // cut every play going or queued (a key barged in)
    collect,       // digits are collected (max, terminator; timers follow as start_timer)
    start_timer,   // (re)arm the one timer: timeout(token) after timeout_ms
    cancel_timer,  // disarm it
    record_name,   // beep (tone), then record up to timeout_ms; then name_recorded(token, ok)
    stop_record,   // end the recording now (name_recorded still follows)
    join,          // ConferenceService::join with `join`; then joined(outcome)
    announce,      // prompts to the whole room (the caller's name)
    control,       // a keypad action on the conference, then its confirmation to the caller
    start_hold_music,
    stop_hold_music,
    hangup,  // end the call (BYE, or a final answer before answer) for `reason`
  };
  Type type{};
  std::vector<PromptItem> prompts;  // play, announce; control: the confirmation
  std::string language;             // play, announce, control: the prompt set
  std::uint64_t token = 0;          // play, start_timer, record_name
  int timeout_ms = 0;               // start_timer; record_name: longest recording
  // collect
  int max_digits = 0;
  char terminator = '#';
  int first_digit_ms = 0, inter_digit_ms = 0;
  std::string tone;  // record_name: the beep before recording
  JoinSpec join;     // join
  // control: the op; `level` for volumes (-4..4). The bridge speaks the confirmation only when
  // the service accepted the op.
  ControlOp op{};
  int level = 0;
  HangupReason reason{};  // hangup
};

struct IvrConfig {
  std::string access_number = "conference";  // [sip] access_number
  std::string language = "en";
  int digit_timeout_ms = 5000;  // first and inter-digit, for conference numbers and PINs
  int tries = 3;                // conference numbers and PINs
  int name_max_ms = 60000;      // Kazoo records a name for 60 s at most
  // A keypad sequence ("*1") forgets a partial key after this. FreeSWITCH's ivr-dtmf-timeout is
  // 500 ms, shorter than people take between '*' and the digit on a phone's keypad.
  int control_digit_timeout_ms = 2000;
};

// Every prompt id the IVR can ask to play (the prompt set must have each).
std::vector<std::string> prompt_ids();

class Ivr {
 public:
  enum class State {
    idle,           // before arrived()
    number,         // collecting a conference number (access number)
    pin,            // collecting a PIN
    name,           // recording the caller's name
    joining,        // join asked, waiting for joined()
    in_conference,  // joined
    ending,         // final prompts, then hang up
    done,           // hung up
  };

  Ivr(IvrLookup& lookup, IvrConfig cfg = {});

  // Each returns the actions to carry out, in order.
  std::vector<Action> arrived(const CallInfo& call);
  std::vector<Action> digit(char d);  // '0'-'9', '*', '#' (others, such as A-D, are ignored)
  std::vector<Action> timeout(std::uint64_t token);
  std::vector<Action> prompts_done(std::uint64_t token);
  std::vector<Action> name_recorded(std::uint64_t token, bool have_audio);
  std::vector<Action> joined(const JoinOutcome& outcome);
  std::vector<Action> room_changed(const RoomView& room);
  // The caller's participant was removed from the room by someone else (kick) or the room
  // ended: the call is ended, after conf-kicked for a kick.
  std::vector<Action> removed(bool kicked);
  // The caller hung up (BYE or CANCEL): an exit announcement of its name, if it was in.
  std::vector<Action> caller_gone();

  State state() const { return state_; }
  const std::optional<ConferenceInfo>& conference() const { return conf_; }
  Role role() const { return role_; }
  int participant_id() const { return participant_id_; }
  const std::string& language() const { return language_; }
  int talk_level() const { return talk_; }
  int listen_level() const { return listen_; }

 private:
  using Actions = std::vector<Action>;
  // What to do when the play in progress ends.
  enum class Next { none, arm_collect, admit, record, hangup, hold };
  Action make(Action::Type t) const;
  void play(Actions& out, std::vector<PromptItem> items, Next next);
  void timer(Actions& out, int ms);
  void cancel_timer(Actions& out);
  void start_collect(Actions& out, std::vector<PromptItem> items, State s, int timeout_ms);
  int pin_timeout() const;
  bool pin_needed() const;
  void enter(Actions& out, bool welcome);
  void collected(Actions& out, std::string digits);
  void after_number(Actions& out, const std::string& digits);
  void after_pin(Actions& out, const std::string& pin);
  void admitted(Actions& out);
  void ask_join(Actions& out);
  void refused(Actions& out, Verdict v);
  void end(Actions& out, std::vector<PromptItem> items, HangupReason r);
  void hangup(Actions& out, HangupReason r);
  void leave_announcement(Actions& out, HangupReason r);
  void stop_hold(Actions& out);
  void update_hold(Actions& out);
  const ControlMap& keys() const;
  void control_digit(Actions& out, char d);
  void run_control(Actions& out, ControlKind k);
  void control(Actions& out, ControlOp op, int level, std::vector<PromptItem> confirm);
  static std::vector<PromptItem> level_prompts(int level);

  IvrLookup& lookup_;
  IvrConfig cfg_;
  State state_ = State::idle;
  CallInfo call_;
  std::optional<ConferenceInfo> conf_;
  std::string language_;
  Role role_ = Role::member;
  std::string pin_;  // the PIN admission took, for the join
  int tries_ = 0;
  std::uint64_t next_token_ = 1;
  std::uint64_t play_token_ = 0;  // the latest play (0: none playing)
  Next next_ = Next::none;
  std::uint64_t timer_token_ = 0;  // the armed timer (0: none)
  std::uint64_t record_token_ = 0;
  bool record_stopped_ = false;
  bool collecting_ = false;
  int collect_timeout_ms_ = 0;
  std::string digits_;
  HangupReason ending_reason_{};
  bool have_name_ = false;
  bool joined_ = false;  // in the room (an exit announcement is due)
  int participant_id_ = 0;
  RoomView room_;
  bool hold_music_ = false;
  std::string keys_;  // a partial keypad sequence
  int talk_ = 0, listen_ = 0;
};

}  // namespace confab::core::ivr
