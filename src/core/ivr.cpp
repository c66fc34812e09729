#include "core/ivr.hpp"

#include <algorithm>

namespace confab::core::ivr {

namespace {

// Prompt ids: Kazoo's (kazoo-sounds, kazoo-core/en/us) where Kazoo has one, FreeSWITCH's
// (sounds/en/us/callie/conference, digits, currency) for the rest, confab's own for mute all.
constexpr const char* kWelcome = "conf-welcome";
constexpr const char* kEnterNumber = "conf-enter_conf_number";
constexpr const char* kBadConf = "conf-bad_conf";
constexpr const char* kTooMany = "conf-too_many_attempts";
constexpr const char* kEnterPin = "conf-enter_conf_pin";
constexpr const char* kBadPin = "conf-bad_pin";
constexpr const char* kLocked = "conf-locked";  // FreeSWITCH
constexpr const char* kFull = "conf-max_participants";
constexpr const char* kAnnounceName = "conf-announce_your_name";
constexpr const char* kJoining = "conf-joining_conference";
constexpr const char* kMuted = "conf-muted";
constexpr const char* kUnmuted = "conf-unmuted";
constexpr const char* kDeaf = "conf-deaf";
constexpr const char* kUndeaf = "conf-undeaf";
constexpr const char* kAlone = "conf-alone";
constexpr const char* kWaitModerator = "conf-conference_will_start_shortly";  // FreeSWITCH
constexpr const char* kHasJoined = "conf-has_joined";
constexpr const char* kHasLeft = "conf-has_left";
constexpr const char* kKicked = "conf-kicked";           // FreeSWITCH
constexpr const char* kGoodbye = "conf-goodbye";         // FreeSWITCH
constexpr const char* kIsLocked = "conf-is-locked";      // FreeSWITCH
constexpr const char* kIsUnlocked = "conf-is-unlocked";  // FreeSWITCH
constexpr const char* kAllMuted = "conf-all_muted";      // confab
constexpr const char* kAllUnmuted = "conf-all_unmuted";  // confab
constexpr const char* kNegative = "currency/negative";   // FreeSWITCH, before a level below 0

// Kazoo's name recording beep (conf_pronounced_name.erl: 440 Hz, 500 ms on, 100 ms off).
constexpr const char* kNameBeep = "tone_stream://%(500,100,440)";

PromptItem P(const char* id) {
  return {PromptItem::Kind::prompt, id};
}

std::string digit_prompt(int n) {
  return "digits/" + std::to_string(n);
}

std::string clipped(std::string s) {
  if (s.size() > kMaxField) s.resize(kMaxField);
  return s;
}

bool valid_key(char d) {
  return (d >= '0' && d <= '9') || d == '*' || d == '#';
}

}  // namespace

std::vector<std::string> prompt_ids() {
  std::vector<std::string> ids = {
      kWelcome,    kEnterNumber,   kBadConf,    kTooMany, kEnterPin, kBadPin,  kLocked,
      kFull,       kAnnounceName,  kJoining,    kMuted,   kUnmuted,  kDeaf,    kUndeaf,
      kAlone,      kWaitModerator, kHasJoined,  kHasLeft, kKicked,   kGoodbye, kIsLocked,
      kIsUnlocked, kAllMuted,      kAllUnmuted, kNegative};
  for (int i = 0; i <= kMaxVolumeLevel; ++i) ids.push_back(digit_prompt(i));
  return ids;
}

std::string_view reason_name(HangupReason r) {
  switch (r) {
    case HangupReason::unknown_number:
      return "unknown_number";
    case HangupReason::no_conference:
      return "no_conference";
    case HangupReason::bad_pin:
      return "bad_pin";
    case HangupReason::too_many_attempts:
      return "too_many_attempts";
    case HangupReason::locked:
      return "locked";
    case HangupReason::full:
      return "full";
    case HangupReason::forbidden:
      return "forbidden";
    case HangupReason::keypad:
      return "keypad";
    case HangupReason::kicked:
      return "kicked";
    case HangupReason::conference_ended:
      return "conference_ended";
    case HangupReason::error:
      return "error";
  }
  return "?";
}

Ivr::Ivr(IvrLookup& lookup, IvrConfig cfg)
    : lookup_(lookup), cfg_(std::move(cfg)), language_(cfg_.language) {}

Action Ivr::make(Action::Type t) const {
  Action a;
  a.type = t;
  a.language = language_;
  return a;
}

// ---- building blocks ----------------------------------------------------------------------

void Ivr::play(Actions& out, std::vector<PromptItem> items, Next next) {
  if (items.empty()) {
    play_token_ = 0;
    next_ = Next::none;
    return;
  }
  auto a = make(Action::Type::play);
  a.prompts = std::move(items);
  a.token = play_token_ = next_token_++;
  next_ = next;
  out.push_back(std::move(a));
}

void Ivr::timer(Actions& out, int ms) {
  auto a = make(Action::Type::start_timer);
  a.token = timer_token_ = next_token_++;
  a.timeout_ms = ms;
  out.push_back(std::move(a));
}

void Ivr::cancel_timer(Actions& out) {
  if (!timer_token_) return;
  timer_token_ = 0;
  out.push_back(make(Action::Type::cancel_timer));
}

void Ivr::start_collect(Actions& out, std::vector<PromptItem> items, State s, int timeout_ms) {
  state_ = s;
  collecting_ = true;
  digits_.clear();
  collect_timeout_ms_ = timeout_ms;
  auto c = make(Action::Type::collect);
  c.max_digits = kMaxDigits;
  c.terminator = '#';
  c.first_digit_ms = c.inter_digit_ms = timeout_ms;
  out.push_back(std::move(c));
  bool prompts = !items.empty();
  play(out, std::move(items), Next::arm_collect);
  if (!prompts) timer(out, timeout_ms);
}

int Ivr::pin_timeout() const {
  return conf_ && conf_->pin_timeout_ms > 0 ? conf_->pin_timeout_ms : cfg_.digit_timeout_ms;
}

bool Ivr::pin_needed() const {
  if (!conf_->by_number) return conf_->member_pins || conf_->moderator_pins;
  return *conf_->by_number == Role::moderator ? conf_->moderator_pins : conf_->member_pins;
}

// The call ends after `items` have played.
void Ivr::end(Actions& out, std::vector<PromptItem> items, HangupReason r) {
  collecting_ = false;
  cancel_timer(out);
  stop_hold(out);
  state_ = State::ending;
  ending_reason_ = r;
  if (items.empty()) return hangup(out, r);
  play(out, std::move(items), Next::hangup);
}

void Ivr::hangup(Actions& out, HangupReason r) {
  cancel_timer(out);
  stop_hold(out);
  leave_announcement(out, r);
  state_ = State::done;
  auto a = make(Action::Type::hangup);
  a.reason = r;
  out.push_back(std::move(a));
}

// Kazoo's exit announcement: [exit tone (the media bridge's), name, conf-has_left].
void Ivr::leave_announcement(Actions& out, HangupReason r) {
  if (!joined_ || !have_name_ || r == HangupReason::conference_ended) return;
  joined_ = false;
  auto a = make(Action::Type::announce);
  a.prompts = {{PromptItem::Kind::name, {}}, P(kHasLeft)};
  out.push_back(std::move(a));
}

void Ivr::stop_hold(Actions& out) {
  if (!hold_music_) return;
  hold_music_ = false;
  out.push_back(make(Action::Type::stop_hold_music));
}

// FreeSWITCH's moh-sound: while the caller is alone or waits for a moderator.
void Ivr::update_hold(Actions& out) {
  bool want = state_ == State::in_conference && (room_.held || room_.participants <= 1);
  if (want == hold_music_) return;
  hold_music_ = want;
  out.push_back(make(want ? Action::Type::start_hold_music : Action::Type::stop_hold_music));
}

void Ivr::refused(Actions& out, Verdict v) {
  switch (v) {
    case Verdict::locked:
      return end(out, {P(kLocked)}, HangupReason::locked);
    case Verdict::full:
      if (conf_ && !conf_->max_members_media.empty())
        return end(out, {{PromptItem::Kind::media, conf_->max_members_media}}, HangupReason::full);
      return end(out, {P(kFull)}, HangupReason::full);
    case Verdict::too_many_attempts:
      return end(out, {P(kTooMany)}, HangupReason::too_many_attempts);
    case Verdict::bad_pin:
      return end(out, {P(kBadPin), P(kTooMany)}, HangupReason::bad_pin);
    case Verdict::forbidden:
      return end(out, {P(kGoodbye)}, HangupReason::forbidden);
    case Verdict::ok:
    case Verdict::not_found:
    case Verdict::error:
      return end(out, {P(kGoodbye)}, HangupReason::error);
  }
}

// ---- the flow -----------------------------------------------------------------------------

std::vector<Action> Ivr::arrived(const CallInfo& call) {
  Actions out;
  if (state_ != State::idle) return out;
  call_ = {clipped(call.dialed),        clipped(call.domain), clipped(call.caller_name),
           clipped(call.caller_number), clipped(call.source), clipped(call.call_id)};
  if (!cfg_.access_number.empty() && call_.dialed == cfg_.access_number) {
    out.push_back(make(Action::Type::answer));
    tries_ = 0;
    start_collect(out, {P(kWelcome), P(kEnterNumber)}, State::number, cfg_.digit_timeout_ms);
    return out;
  }
  conf_ = lookup_.find(call_.dialed, call_.domain);
  if (!conf_) {
    hangup(out, HangupReason::unknown_number);
    return out;
  }
  if (!conf_->language.empty()) language_ = conf_->language;
  out.push_back(make(Action::Type::answer));
  enter(out, conf_->play_welcome);
  return out;
}

// A conference is known (dialled, or collected at the access number).
void Ivr::enter(Actions& out, bool welcome) {
  std::vector<PromptItem> items;
  if (welcome) items.push_back(P(kWelcome));
  tries_ = 0;
  if (pin_needed()) {
    items.push_back(P(kEnterPin));
    return start_collect(out, std::move(items), State::pin, pin_timeout());
  }
  state_ = State::pin;  // no PIN to ask, but admission runs all the same
  if (items.empty()) return after_pin(out, {});
  play(out, std::move(items), Next::admit);
}

void Ivr::collected(Actions& out, std::string digits) {
  collecting_ = false;
  cancel_timer(out);
  if (state_ == State::number) return after_number(out, digits);
  after_pin(out, digits);
}

void Ivr::after_number(Actions& out, const std::string& digits) {
  std::optional<ConferenceInfo> c;
  if (!digits.empty()) c = lookup_.find(digits, call_.domain);
  if (!c) {
    if (++tries_ >= cfg_.tries)
      return end(out, {P(kBadConf), P(kTooMany)}, HangupReason::no_conference);
    return start_collect(out, {P(kBadConf), P(kEnterNumber)}, State::number, cfg_.digit_timeout_ms);
  }
  conf_ = std::move(c);
  if (!conf_->language.empty()) language_ = conf_->language;
  enter(out, false);  // conf-welcome was played before the number
}

void Ivr::after_pin(Actions& out, const std::string& pin) {
  auto a = lookup_.admit(*conf_, call_, pin);
  switch (a.verdict) {
    case Verdict::ok:
      role_ = a.role;
      pin_ = pin;
      return admitted(out);
    case Verdict::bad_pin:
      if (++tries_ >= cfg_.tries || a.attempts_left <= 0)
        return end(out, {P(kBadPin), P(kTooMany)}, HangupReason::bad_pin);
      return start_collect(out, {P(kBadPin), P(kEnterPin)}, State::pin, pin_timeout());
    default:
      return refused(out, a.verdict);
  }
}

// Kazoo checks the room before it records the name (conf_discovery_req handle_search_resp).
void Ivr::admitted(Actions& out) {
  if (auto v = lookup_.entry(*conf_); v != Verdict::ok) return refused(out, v);
  if (conf_->play_name) {
    state_ = State::name;
    return play(out, {P(kAnnounceName)}, Next::record);
  }
  ask_join(out);
}

void Ivr::ask_join(Actions& out) {
  state_ = State::joining;
  auto a = make(Action::Type::join);
  a.join = {conf_->account_id, conf_->conference_id, conf_->number, pin_, role_, call_};
  out.push_back(std::move(a));
}

std::vector<Action> Ivr::prompts_done(std::uint64_t token) {
  Actions out;
  if (!token || token != play_token_) return out;
  play_token_ = 0;
  auto next = std::exchange(next_, Next::none);
  switch (next) {
    case Next::none:
      break;
    case Next::arm_collect:
      if (collecting_) timer(out, collect_timeout_ms_);
      break;
    case Next::admit:
      after_pin(out, {});
      break;
    case Next::record: {
      auto a = make(Action::Type::record_name);
      a.token = record_token_ = next_token_++;
      a.timeout_ms = cfg_.name_max_ms;
      a.tone = kNameBeep;
      record_stopped_ = false;
      out.push_back(std::move(a));
      break;
    }
    case Next::hangup:
      hangup(out, ending_reason_);
      break;
    case Next::hold:
      update_hold(out);
      break;
  }
  return out;
}

std::vector<Action> Ivr::name_recorded(std::uint64_t token, bool have_audio) {
  Actions out;
  if (state_ != State::name || !token || token != record_token_) return out;
  record_token_ = 0;
  have_name_ = have_audio;
  ask_join(out);
  return out;
}

std::vector<Action> Ivr::joined(const JoinOutcome& o) {
  Actions out;
  if (state_ != State::joining) return out;
  if (o.verdict != Verdict::ok) {
    refused(out, o.verdict);
    return out;
  }
  state_ = State::in_conference;
  joined_ = true;
  role_ = o.role;
  participant_id_ = o.participant_id;
  room_ = o.room;
  if (have_name_) {  // Kazoo's entry announcement: [entry tone, name, conf-has_joined]
    auto a = make(Action::Type::announce);
    a.prompts = {{PromptItem::Kind::name, {}}, P(kHasJoined)};
    out.push_back(std::move(a));
  }
  std::vector<PromptItem> items = {P(kJoining)};
  if (!room_.speak) items.push_back(P(kMuted));
  if (!room_.hear) items.push_back(P(kDeaf));
  if (room_.held)
    items.push_back(P(kWaitModerator));
  else if (room_.participants <= 1)
    items.push_back(P(kAlone));
  play(out, std::move(items), Next::hold);
  return out;
}

std::vector<Action> Ivr::room_changed(const RoomView& room) {
  Actions out;
  if (state_ != State::in_conference) return out;
  auto before = room_;
  room_ = room;
  // Changes made by others (a moderator, REST) are told as FreeSWITCH tells them; the caller's
  // own keypad changes were already applied to room_ and confirmed.
  std::vector<PromptItem> items;
  if (before.speak != room.speak) items.push_back(P(room.speak ? kUnmuted : kMuted));
  if (before.hear != room.hear) items.push_back(P(room.hear ? kUndeaf : kDeaf));
  if (before.participants > 1 && room.participants == 1 && !room.held) items.push_back(P(kAlone));
  bool playing = play_token_ != 0 && next_ == Next::hold;
  if (!items.empty()) {
    stop_hold(out);  // the prompt first; hold music resumes after it
    play(out, std::move(items), Next::hold);
  } else if (!playing) {
    update_hold(out);
  }
  return out;
}

std::vector<Action> Ivr::removed(bool kicked) {
  Actions out;
  if (state_ != State::in_conference) return out;
  if (kicked) {
    end(out, {P(kKicked)}, HangupReason::kicked);
  } else {
    joined_ = false;  // the room is gone: nobody to announce to
    hangup(out, HangupReason::conference_ended);
  }
  return out;
}

std::vector<Action> Ivr::caller_gone() {
  Actions out;
  if (state_ == State::done) return out;
  leave_announcement(out, HangupReason::keypad);
  state_ = State::done;
  play_token_ = timer_token_ = record_token_ = 0;
  hold_music_ = false;
  return out;
}

// ---- keys -------------------------------------------------------------------------------

std::vector<Action> Ivr::digit(char d) {
  Actions out;
  if (!valid_key(d)) return out;
  switch (state_) {
    case State::number:
    case State::pin:
      if (!collecting_) break;
      if (play_token_) {  // a key cuts the prompt (FreeSWITCH's play_and_get_digits)
        play_token_ = 0;
        next_ = Next::none;
        out.push_back(make(Action::Type::stop_play));
      }
      if (d == '#') {
        collected(out, digits_);
        break;
      }
      digits_ += d;
      if (static_cast<int>(digits_.size()) >= kMaxDigits) {
        collected(out, digits_);
        break;
      }
      timer(out, collect_timeout_ms_);
      break;
    case State::name:  // any key ends the recording (Kazoo: b_record with any digit)
      if (record_token_ && !record_stopped_) {
        record_stopped_ = true;
        out.push_back(make(Action::Type::stop_record));
      }
      break;
    case State::in_conference:
      control_digit(out, d);
      break;
    default:
      break;
  }
  return out;
}

std::vector<Action> Ivr::timeout(std::uint64_t token) {
  Actions out;
  if (!token || token != timer_token_) return out;
  timer_token_ = 0;
  if (collecting_ && (state_ == State::number || state_ == State::pin)) {
    collected(out, digits_);
  } else if (state_ == State::in_conference && !keys_.empty()) {
    auto m = match_keys(keys(), keys_);
    keys_.clear();
    if (m.result == KeyMatch::Result::exact) run_control(out, m.kind);
  }
  return out;
}

const ControlMap& Ivr::keys() const {
  return control_map(role_ == Role::moderator ? conf_->moderator_controls : conf_->caller_controls,
                     role_);
}

void Ivr::control_digit(Actions& out, char d) {
  keys_ += d;
  auto m = match_keys(keys(), keys_);
  if (m.result == KeyMatch::Result::none && keys_.size() > 1) {
    // A key that does not continue the sequence starts a new one ("*" then "#": hangup).
    keys_.assign(1, d);
    m = match_keys(keys(), keys_);
  }
  if (m.result == KeyMatch::Result::none) {
    keys_.clear();
    cancel_timer(out);
  } else if (m.result == KeyMatch::Result::exact && !m.longer) {
    keys_.clear();
    cancel_timer(out);
    run_control(out, m.kind);
  } else {
    timer(out, cfg_.control_digit_timeout_ms);
  }
}

void Ivr::control(Actions& out, ControlOp op, int level, std::vector<PromptItem> confirm) {
  auto a = make(Action::Type::control);
  a.op = op;
  a.level = level;
  a.prompts = std::move(confirm);
  out.push_back(std::move(a));
}

std::vector<PromptItem> Ivr::level_prompts(int level) {
  std::vector<PromptItem> items;
  if (level < 0) items.push_back(P(kNegative));
  items.push_back({PromptItem::Kind::prompt, digit_prompt(level < 0 ? -level : level)});
  return items;
}

void Ivr::run_control(Actions& out, ControlKind k) {
  auto set_speak = [&](bool speak) {
    room_.speak = speak;
    control(out, speak ? ControlOp::unmute : ControlOp::mute, 0, {P(speak ? kUnmuted : kMuted)});
  };
  auto set_hear = [&](bool hear) {
    room_.hear = hear;
    control(out, hear ? ControlOp::undeaf : ControlOp::deaf, 0, {P(hear ? kUndeaf : kDeaf)});
  };
  auto step = [](int level, int by) {
    return by == 0 ? 0 : std::clamp(level + by, -kMaxVolumeLevel, kMaxVolumeLevel);
  };
  switch (k) {
    case ControlKind::mute_toggle:
      return set_speak(!room_.speak);
    case ControlKind::mute_on:
      return set_speak(false);
    case ControlKind::mute_off:
      return set_speak(true);
    case ControlKind::deaf_toggle:
      return set_hear(!room_.hear);
    case ControlKind::deaf_on:
      return set_hear(false);
    case ControlKind::deaf_off:
      return set_hear(true);
    case ControlKind::deaf_mute_toggle: {  // FreeSWITCH: both follow whether the caller speaks
      bool on = room_.speak;
      set_speak(!on);
      set_hear(!on);
      return;
    }
    case ControlKind::lock_toggle:
      room_.locked = !room_.locked;
      return control(out, room_.locked ? ControlOp::lock : ControlOp::unlock, 0,
                     {P(room_.locked ? kIsLocked : kIsUnlocked)});
    case ControlKind::mute_all:
      return control(out, ControlOp::mute_all, 0, {P(kAllMuted)});
    case ControlKind::unmute_all:
      return control(out, ControlOp::unmute_all, 0, {P(kAllUnmuted)});
    case ControlKind::talk_down:
    case ControlKind::talk_zero:
    case ControlKind::talk_up: {
      int by = k == ControlKind::talk_up ? 1 : k == ControlKind::talk_down ? -1 : 0;
      talk_ = step(talk_, by);
      return control(out, ControlOp::talk_volume, talk_, level_prompts(talk_));
    }
    case ControlKind::listen_down:
    case ControlKind::listen_zero:
    case ControlKind::listen_up: {
      int by = k == ControlKind::listen_up ? 1 : k == ControlKind::listen_down ? -1 : 0;
      listen_ = step(listen_, by);
      return control(out, ControlOp::listen_volume, listen_, level_prompts(listen_));
    }
    case ControlKind::hangup:
      return hangup(out, HangupReason::keypad);
  }
}

}  // namespace confab::core::ivr
