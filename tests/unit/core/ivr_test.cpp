// The dial-in IVR driven event by event. A fake lookup covers the flow's branches; the last
// tests run it on the real ConferenceService (ServiceLookup) to show it decides as REST does.
#include "core/ivr.hpp"
#include "core/ivr_service.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <map>
#include <set>
#include "../support.hpp"

namespace json = boost::json;
using namespace confab::core;
using namespace confab::core::ivr;
using T = Action::Type;

namespace {

struct FakeLookup : IvrLookup {
  std::map<std::string, ConferenceInfo> numbers;
  std::function<AdmitResult(std::string_view pin)> on_admit = [](std::string_view) {
    return AdmitResult{};
  };
  Verdict entry_verdict = Verdict::ok;
  std::vector<std::string> pins;  // every PIN admission was asked about

  std::optional<ConferenceInfo> find(std::string_view n, std::string_view) override {
    auto it = numbers.find(std::string(n));
    if (it == numbers.end()) return std::nullopt;
    return it->second;
  }
  AdmitResult admit(const ConferenceInfo&, const CallInfo&, std::string_view pin) override {
    pins.emplace_back(pin);
    return on_admit(pin);
  }
  Verdict entry(const ConferenceInfo&) override { return entry_verdict; }
};

ConferenceInfo conf(std::string number, std::optional<Role> by = std::nullopt) {
  ConferenceInfo c;
  c.account_id = "acct";
  c.conference_id = "conf1";
  c.number = std::move(number);
  c.by_number = by;
  return c;
}

// Plays the bridge: remembers the tokens the IVR handed out and checks every prompt id.
struct Call {
  Ivr& ivr;
  std::vector<Action> last;
  std::uint64_t play = 0, timer = 0, record = 0;

  std::vector<Action>& take(std::vector<Action> a) {
    static const auto known = [] {
      auto ids = prompt_ids();
      return std::set<std::string>(ids.begin(), ids.end());
    }();
    for (auto& x : a) {
      if (x.type == T::play) play = x.token;
      if (x.type == T::start_timer) timer = x.token;
      if (x.type == T::record_name) record = x.token;
      for (auto& p : x.prompts) {
        if (p.kind == PromptItem::Kind::prompt) {
          EXPECT_TRUE(known.contains(p.ref)) << p.ref << " is not in prompt_ids()";
        }
      }
    }
    last = std::move(a);
    return last;
  }
  std::vector<Action>& arrive(std::string dialed) {
    return take(ivr.arrived({dialed, "", "Alice", "5551234", "sip:192.0.2.1", "call-1"}));
  }
  std::vector<Action>& done() { return take(ivr.prompts_done(play)); }
  std::vector<Action>& fire() { return take(ivr.timeout(timer)); }
  std::vector<Action>& press(std::string_view keys) {
    std::vector<Action> all;
    for (char k : keys) {
      auto a = take(ivr.digit(k));
      all.insert(all.end(), a.begin(), a.end());
    }
    last = std::move(all);
    return last;
  }
};

std::vector<T> types(const std::vector<Action>& a) {
  std::vector<T> out;
  for (auto& x : a) out.push_back(x.type);
  return out;
}

const Action* find(const std::vector<Action>& a, T t) {
  for (auto& x : a)
    if (x.type == t) return &x;
  return nullptr;
}

std::vector<std::string> played(const std::vector<Action>& a, T t = T::play) {
  std::vector<std::string> out;
  for (auto& x : a)
    if (x.type == t)
      for (auto& p : x.prompts) out.push_back(p.kind == PromptItem::Kind::name ? "<name>" : p.ref);
  return out;
}

using S = std::vector<std::string>;

struct IvrTest : ::testing::Test {
  FakeLookup lookup;
  Ivr ivr{lookup};
  Call call{ivr};
  JoinOutcome joined_alone() {
    JoinOutcome o;
    o.participant_id = 7;
    o.room.participants = 1;
    return o;
  }
};

}  // namespace

TEST_F(IvrTest, AnUnknownNumberIsRefusedBeforeAnswer) {
  auto& a = call.arrive("999");
  ASSERT_EQ(types(a), (std::vector<T>{T::hangup}));
  EXPECT_EQ(a[0].reason, HangupReason::unknown_number);
  EXPECT_EQ(ivr.state(), Ivr::State::done);
  EXPECT_TRUE(call.press("1#").empty());
}

TEST_F(IvrTest, ANumberWithoutPinsWelcomesThenJoins) {
  lookup.numbers["100"] = conf("100");
  auto& a = call.arrive("100");
  EXPECT_EQ(types(a), (std::vector<T>{T::answer, T::play}));
  EXPECT_EQ(played(a), (S{"conf-welcome"}));
  EXPECT_TRUE(lookup.pins.empty()) << "admission waits for the welcome to end";
  auto& b = call.done();
  ASSERT_EQ(types(b), (std::vector<T>{T::join}));
  EXPECT_EQ(lookup.pins, (S{""})) << "no PIN asked, but admission still runs (lockouts)";
  auto& j = b[0].join;
  EXPECT_EQ(j.conference_id, "conf1");
  EXPECT_EQ(j.dialed, "100");
  EXPECT_EQ(j.pin, "");
  EXPECT_EQ(j.call.caller_number, "5551234");
  EXPECT_EQ(j.call.call_id, "call-1");
  EXPECT_EQ(ivr.state(), Ivr::State::joining);
}

TEST_F(IvrTest, PlayWelcomeFalseJoinsAtOnce) {
  auto c = conf("100");
  c.play_welcome = false;
  lookup.numbers["100"] = c;
  EXPECT_EQ(types(call.arrive("100")), (std::vector<T>{T::answer, T::join}));
}

TEST_F(IvrTest, TheAccessNumberAsksForTheConferenceNumber) {
  lookup.numbers["4242"] = conf("4242");
  auto& a = call.arrive("conference");
  ASSERT_EQ(types(a), (std::vector<T>{T::answer, T::collect, T::play}));
  EXPECT_EQ(a[1].max_digits, 16);
  EXPECT_EQ(a[1].terminator, '#');
  EXPECT_EQ(a[1].first_digit_ms, 5000);
  EXPECT_EQ(a[1].inter_digit_ms, 5000);
  EXPECT_EQ(played(a), (S{"conf-welcome", "conf-enter_conf_number"}));
  auto& b = call.done();  // the first-digit timer starts when the prompts end
  ASSERT_EQ(types(b), (std::vector<T>{T::start_timer}));
  EXPECT_EQ(b[0].timeout_ms, 5000);
  auto& c = call.press("4242#");
  // Each digit re-arms the inter-digit timer; '#' ends; no second welcome; no PIN: admission.
  EXPECT_EQ(std::count_if(c.begin(), c.end(), [](auto& x) { return x.type == T::start_timer; }), 4);
  EXPECT_NE(find(c, T::cancel_timer), nullptr);
  ASSERT_NE(find(c, T::join), nullptr);
  EXPECT_EQ(find(c, T::join)->join.dialed, "4242");
  EXPECT_TRUE(played(c).empty());
}

TEST_F(IvrTest, ThreeWrongConferenceNumbersEndTheCall) {
  call.arrive("conference");
  call.done();
  EXPECT_EQ(played(call.press("1#")), (S{"conf-bad_conf", "conf-enter_conf_number"}));
  call.done();
  EXPECT_EQ(played(call.fire()), (S{"conf-bad_conf", "conf-enter_conf_number"}))
      << "silence counts as a try";
  call.done();
  EXPECT_EQ(played(call.press("#")), (S{"conf-bad_conf", "conf-too_many_attempts"}));
  auto& end = call.done();
  ASSERT_EQ(types(end), (std::vector<T>{T::hangup}));
  EXPECT_EQ(end[0].reason, HangupReason::no_conference);
}

TEST_F(IvrTest, AKeyCutsThePromptAndStartsTheInterDigitTimer) {
  call.arrive("conference");
  auto& a = call.press("4");
  EXPECT_EQ(types(a), (std::vector<T>{T::stop_play, T::start_timer}));
  EXPECT_TRUE(call.done().empty()) << "the cut play's end means nothing";
  lookup.numbers["42"] = conf("42");
  EXPECT_TRUE(call.press("2").size() == 1);
  auto& b = call.fire();  // 5 s of silence ends the number as '#' would
  EXPECT_NE(find(b, T::join), nullptr);
}

TEST_F(IvrTest, SixteenDigitsEndTheCollection) {
  call.arrive("conference");
  call.done();
  auto& a = call.press("1234567890123456");
  EXPECT_EQ(played(a), (S{"conf-bad_conf", "conf-enter_conf_number"}));
  EXPECT_TRUE(call.press("7").size() == 2) << "a new collection, cut by the key";
}

TEST_F(IvrTest, ThePinIsAskedWhenTheDialledRoleHasPins) {
  auto c = conf("100", Role::member);
  c.member_pins = true;
  lookup.numbers["100"] = c;
  lookup.on_admit = [](std::string_view pin) {
    return pin == "1111" ? AdmitResult{Verdict::ok, Role::member, 0}
                         : AdmitResult{Verdict::bad_pin, Role::member, 2};
  };
  auto& a = call.arrive("100");
  EXPECT_EQ(played(a), (S{"conf-welcome", "conf-enter_conf_pin"}));
  EXPECT_EQ(find(a, T::collect)->max_digits, 16);
  call.done();
  auto& b = call.press("1111#");
  EXPECT_EQ(lookup.pins, (S{"1111"}));
  ASSERT_NE(find(b, T::join), nullptr);
  EXPECT_EQ(find(b, T::join)->join.pin, "1111");
}

TEST_F(IvrTest, ANumberThatPicksARoleWithoutPinsAsksNone) {
  auto c = conf("200", Role::moderator);
  c.member_pins = true;  // the member's PINs do not concern a moderator number
  lookup.numbers["200"] = c;
  auto& a = call.arrive("200");
  EXPECT_EQ(played(a), (S{"conf-welcome"}));
  EXPECT_EQ(find(a, T::collect), nullptr);
}

TEST_F(IvrTest, AnUndecidedRoleIsAskedWhenEitherRoleHasPins) {
  auto c = conf("300");
  c.moderator_pins = true;
  c.play_welcome = false;
  lookup.numbers["300"] = c;
  lookup.on_admit = [](std::string_view pin) {
    return AdmitResult{Verdict::ok, pin.empty() ? Role::member : Role::moderator, 0};
  };
  auto& a = call.arrive("300");
  EXPECT_EQ(played(a), (S{"conf-enter_conf_pin"}));
  call.done();
  auto& b = call.fire();  // Kazoo: an empty PIN with no member PINs joins as a member
  EXPECT_EQ(lookup.pins, (S{""}));
  EXPECT_EQ(find(b, T::join)->join.role, Role::member);
}

TEST_F(IvrTest, ThreeBadPinsWithTheBadPinPromptBetweenEndTheCall) {
  auto c = conf("100", Role::member);
  c.member_pins = true;
  lookup.numbers["100"] = c;
  int left = 3;
  lookup.on_admit = [&](std::string_view) { return AdmitResult{Verdict::bad_pin, {}, --left}; };
  call.arrive("100");
  call.done();
  EXPECT_EQ(played(call.press("1#")), (S{"conf-bad_pin", "conf-enter_conf_pin"}));
  call.done();
  EXPECT_EQ(played(call.press("2#")), (S{"conf-bad_pin", "conf-enter_conf_pin"}));
  call.done();
  EXPECT_EQ(played(call.press("3#")), (S{"conf-bad_pin", "conf-too_many_attempts"}));
  EXPECT_TRUE(call.press("4#").empty()) << "no key counts once the call is ending";
  auto& end = call.done();
  ASSERT_EQ(types(end), (std::vector<T>{T::hangup}));
  EXPECT_EQ(end[0].reason, HangupReason::bad_pin);
  EXPECT_EQ(lookup.pins, (S{"1", "2", "3"}));
}

TEST_F(IvrTest, TheSharedLockoutEndsTheTriesSooner) {
  auto c = conf("100", Role::member);
  c.member_pins = true;
  lookup.numbers["100"] = c;
  lookup.on_admit = [](std::string_view) { return AdmitResult{Verdict::bad_pin, {}, 0}; };
  call.arrive("100");
  call.done();
  EXPECT_EQ(played(call.press("1#")), (S{"conf-bad_pin", "conf-too_many_attempts"}));
  EXPECT_EQ(call.done()[0].reason, HangupReason::bad_pin);
}

TEST_F(IvrTest, ALockedOutCallerIsToldAndHungUp) {
  lookup.numbers["100"] = conf("100");
  lookup.on_admit = [](std::string_view) { return AdmitResult{Verdict::too_many_attempts}; };
  call.arrive("100");
  EXPECT_EQ(played(call.done()), (S{"conf-too_many_attempts"}));
  EXPECT_EQ(call.done()[0].reason, HangupReason::too_many_attempts);
}

TEST_F(IvrTest, LockedAndFullRoomsAreToldBeforeTheName) {
  auto c = conf("100");
  c.play_welcome = false;
  c.play_name = true;
  lookup.numbers["100"] = c;
  lookup.entry_verdict = Verdict::locked;
  EXPECT_EQ(played(call.arrive("100")), (S{"conf-locked"}));
  EXPECT_EQ(call.done()[0].reason, HangupReason::locked);

  FakeLookup l2 = lookup;
  l2.entry_verdict = Verdict::full;
  Ivr i2{l2};
  Call c2{i2};
  EXPECT_EQ(played(c2.arrive("100")), (S{"conf-max_participants"}));
  EXPECT_EQ(c2.done()[0].reason, HangupReason::full);

  FakeLookup l3 = l2;
  l3.numbers["100"].max_members_media = "media-full";
  Ivr i3{l3};
  Call c3{i3};
  auto& a = c3.arrive("100");
  ASSERT_EQ(find(a, T::play)->prompts.size(), 1u);
  EXPECT_EQ(find(a, T::play)->prompts[0], (PromptItem{PromptItem::Kind::media, "media-full"}));
}

TEST_F(IvrTest, ARecordedNameIsAnnouncedOnEntryAndExit) {
  auto c = conf("100");
  c.play_welcome = false;
  c.play_name = true;
  lookup.numbers["100"] = c;
  EXPECT_EQ(played(call.arrive("100")), (S{"conf-announce_your_name"}));
  auto& r = call.done();
  ASSERT_EQ(types(r), (std::vector<T>{T::record_name}));
  EXPECT_EQ(r[0].timeout_ms, 60000);
  EXPECT_EQ(r[0].tone, "tone_stream://%(500,100,440)");
  EXPECT_EQ(types(call.press("5")), (std::vector<T>{T::stop_record}));
  EXPECT_TRUE(call.press("6").empty()) << "stopped once";
  EXPECT_TRUE(ivr.name_recorded(call.record + 1, true).empty()) << "a stale token";
  EXPECT_EQ(types(ivr.name_recorded(call.record, true)), (std::vector<T>{T::join}));
  auto& j = call.take(ivr.joined(joined_alone()));
  EXPECT_EQ(played(j, T::announce), (S{"<name>", "conf-has_joined"}));
  EXPECT_EQ(played(ivr.caller_gone(), T::announce), (S{"<name>", "conf-has_left"}));
  EXPECT_TRUE(ivr.caller_gone().empty());
}

TEST_F(IvrTest, NoAudioMeansNoAnnouncement) {
  auto c = conf("100");
  c.play_welcome = false;
  c.play_name = true;
  lookup.numbers["100"] = c;
  call.arrive("100");
  call.done();
  ivr.name_recorded(call.record, false);
  EXPECT_EQ(find(call.take(ivr.joined(joined_alone())), T::announce), nullptr);
}

TEST_F(IvrTest, AloneTheCallerHearsSoThenHoldMusicUntilSomeoneComes) {
  lookup.numbers["100"] = conf("100");
  call.arrive("100");
  call.done();
  auto& a = call.take(ivr.joined(joined_alone()));
  EXPECT_EQ(played(a), (S{"conf-joining_conference", "conf-alone"}));
  EXPECT_EQ(ivr.state(), Ivr::State::in_conference);
  EXPECT_EQ(ivr.participant_id(), 7);
  EXPECT_TRUE(ivr.room_changed({2, false, false, true, true}).empty())
      << "while the prompts play, a change waits for their end";
  auto& b = call.done();
  EXPECT_TRUE(b.empty()) << "someone came during the prompts: no hold music";
  EXPECT_EQ(played(call.take(ivr.room_changed({1, false, false, true, true}))), (S{"conf-alone"}))
      << "left alone again (FreeSWITCH plays alone-sound)";
  EXPECT_EQ(types(call.done()), (std::vector<T>{T::start_hold_music}));
  EXPECT_EQ(types(ivr.room_changed({2, false, false, true, true})),
            (std::vector<T>{T::stop_hold_music}));
}

TEST_F(IvrTest, JoinedMutedOrDeafTheCallerIsTold) {
  lookup.numbers["100"] = conf("100");
  call.arrive("100");
  call.done();
  auto o = joined_alone();
  o.room = {3, false, false, false, false};
  EXPECT_EQ(played(call.take(ivr.joined(o))),
            (S{"conf-joining_conference", "conf-muted", "conf-deaf"}));
  EXPECT_TRUE(call.done().empty()) << "not alone: no hold music";
}

TEST_F(IvrTest, WaitingForTheModeratorPlaysHoldMusicUntilOneComes) {
  lookup.numbers["100"] = conf("100");
  call.arrive("100");
  call.done();
  auto o = joined_alone();
  o.room = {2, false, true, true, true};
  EXPECT_EQ(played(call.take(ivr.joined(o))),
            (S{"conf-joining_conference", "conf-conference_will_start_shortly"}));
  EXPECT_EQ(types(call.done()), (std::vector<T>{T::start_hold_music}));
  EXPECT_TRUE(ivr.room_changed({3, false, true, true, true}).empty());
  EXPECT_EQ(types(ivr.room_changed({3, false, false, true, true})),
            (std::vector<T>{T::stop_hold_music}));
}

TEST_F(IvrTest, AJoinRefusedAtTheLastMomentIsTold) {
  lookup.numbers["100"] = conf("100");
  call.arrive("100");
  call.done();
  JoinOutcome o;
  o.verdict = Verdict::full;
  EXPECT_EQ(played(call.take(ivr.joined(o))), (S{"conf-max_participants"}));
  EXPECT_EQ(call.done()[0].reason, HangupReason::full);
}

struct InConference : IvrTest {
  void join(Role role, std::string caller_controls = "default",
            std::string moderator_controls = "default") {
    auto c = conf("100");
    c.play_welcome = false;
    c.caller_controls = std::move(caller_controls);
    c.moderator_controls = std::move(moderator_controls);
    lookup.numbers["100"] = c;
    lookup.on_admit = [role](std::string_view) { return AdmitResult{Verdict::ok, role, 0}; };
    call.arrive("100");
    JoinOutcome o;
    o.role = role;
    o.participant_id = 3;
    o.room = {2, false, false, true, true};
    call.take(ivr.joined(o));
    call.done();
  }
  static const Action& control(const std::vector<Action>& a) {
    static const Action none{};
    auto* c = find(a, T::control);
    EXPECT_NE(c, nullptr);
    return c ? *c : none;
  }
};

TEST_F(InConference, KazooDefaultKeysToggleMuteAndDeafAndHangUp) {
  join(Role::member);
  auto& a = call.press("*1");
  EXPECT_EQ(control(a).op, ControlOp::mute);
  EXPECT_EQ(played(a, T::control), (S{"conf-muted"}));
  EXPECT_EQ(control(call.press("*1")).op, ControlOp::unmute);
  EXPECT_EQ(control(call.press("*2")).op, ControlOp::mute);
  EXPECT_EQ(control(call.press("*3")).op, ControlOp::unmute);
  auto& d = call.press("*4");
  EXPECT_EQ(control(d).op, ControlOp::deaf);
  EXPECT_EQ(played(d, T::control), (S{"conf-deaf"}));
  EXPECT_EQ(control(call.press("*4")).op, ControlOp::undeaf);
  EXPECT_EQ(control(call.press("*5")).op, ControlOp::deaf);
  EXPECT_EQ(control(call.press("*6")).op, ControlOp::undeaf);
  EXPECT_EQ(find(call.press("*7"), T::control), nullptr) << "a moderator's key";
  auto& h = call.press("#");
  ASSERT_EQ(types(h), (std::vector<T>{T::hangup}));
  EXPECT_EQ(h[0].reason, HangupReason::keypad);
}

TEST_F(InConference, ModeratorsAlsoLockAndMuteEveryone) {
  join(Role::moderator);
  auto& a = call.press("*7");
  EXPECT_EQ(control(a).op, ControlOp::lock);
  EXPECT_EQ(played(a, T::control), (S{"conf-is-locked"}));
  auto& b = call.press("*7");
  EXPECT_EQ(control(b).op, ControlOp::unlock);
  EXPECT_EQ(played(b, T::control), (S{"conf-is-unlocked"}));
  EXPECT_EQ(control(call.press("*8")).op, ControlOp::mute_all);
  EXPECT_EQ(control(call.press("*9")).op, ControlOp::unmute_all);
  // The toggle follows the room as reported (someone else locked it meanwhile).
  ivr.room_changed({2, true, false, true, true});
  EXPECT_EQ(control(call.press("*7")).op, ControlOp::unlock);
}

TEST_F(InConference, APartialSequenceIsForgottenAfterItsTimeout) {
  join(Role::member);
  auto& a = call.press("*");
  ASSERT_EQ(types(a), (std::vector<T>{T::start_timer}));
  EXPECT_EQ(a[0].timeout_ms, 2000);
  EXPECT_TRUE(call.fire().empty());
  EXPECT_TRUE(call.press("1").empty()) << "'1' alone binds nothing in Kazoo's map";
  EXPECT_EQ(types(call.press("*#")).back(), T::hangup) << "'#' after '*' starts anew";
}

TEST_F(InConference, FreeswitchKeysStepTheVolumesWithinFourSteps) {
  join(Role::member, "freeswitch");
  auto& a = call.press("3");
  EXPECT_EQ(control(a).op, ControlOp::talk_volume);
  EXPECT_EQ(control(a).level, 1);
  EXPECT_EQ(played(a, T::control), (S{"digits/1"}));
  auto& b = call.press("111111");
  EXPECT_EQ(b.back().level, -4);
  EXPECT_EQ(played({b.back()}, T::control), (S{"currency/negative", "digits/4"}));
  EXPECT_EQ(control(call.press("2")).level, 0);
  EXPECT_EQ(ivr.talk_level(), 0);
  auto& l = call.press("6");
  EXPECT_EQ(control(l).op, ControlOp::listen_volume);
  EXPECT_EQ(ivr.listen_level(), 1);
  call.press("66666");
  EXPECT_EQ(ivr.listen_level(), 4);
  EXPECT_EQ(control(call.press("5")).level, 0);
  EXPECT_EQ(control(call.press("4")).level, -1);
  EXPECT_EQ(control(call.press("0")).op, ControlOp::mute);
  auto& dm = call.press("*");  // FreeSWITCH's deaf+mute: both follow whether the caller speaks
  std::vector<ControlOp> ops;
  for (auto& x : dm) ops.push_back(x.op);
  EXPECT_EQ(ops, (std::vector<ControlOp>{ControlOp::unmute, ControlOp::undeaf}));
  EXPECT_EQ(types(call.press("#")), (std::vector<T>{T::hangup}));
}

TEST_F(InConference, TheNoneMapBindsNothingAndUnknownNamesAreTheDefault) {
  join(Role::member, "none");
  EXPECT_TRUE(call.press("*1#0").empty());
  FakeLookup l2;
  Ivr i2{l2};
  Call c2{i2};
  auto c = conf("100");
  c.play_welcome = false;
  c.caller_controls = "my_kazoo_map";
  l2.numbers["100"] = c;
  c2.arrive("100");
  JoinOutcome o;
  o.room = {2, false, false, true, true};
  c2.take(i2.joined(o));
  EXPECT_EQ(control(c2.press("*1")).op, ControlOp::mute);
}

TEST_F(InConference, ChangesByOthersAreToldOwnChangesOnce) {
  join(Role::member);
  EXPECT_EQ(played(ivr.room_changed({2, false, false, false, true})), (S{"conf-muted"}));
  EXPECT_EQ(control(call.press("*1")).op, ControlOp::unmute) << "the toggle knows";
  EXPECT_TRUE(ivr.room_changed({2, false, false, true, true}).empty())
      << "the caller's own unmute, reported back, is not told twice";
  EXPECT_EQ(played(ivr.room_changed({2, false, false, true, false})), (S{"conf-deaf"}));
}

TEST_F(InConference, AKickIsToldAndARoomsEndHangsUpAtOnce) {
  join(Role::member);
  EXPECT_EQ(played(call.take(ivr.removed(true))), (S{"conf-kicked"}));
  auto& k = call.done();
  EXPECT_EQ(types(k).back(), T::hangup);
  EXPECT_EQ(k.back().reason, HangupReason::kicked);

  FakeLookup l2 = lookup;
  Ivr i2{l2};
  Call c2{i2};
  c2.arrive("100");
  c2.take(i2.joined(JoinOutcome{}));
  auto e = i2.removed(false);
  ASSERT_EQ(types(e), (std::vector<T>{T::hangup}));
  EXPECT_EQ(e[0].reason, HangupReason::conference_ended);
}

TEST_F(IvrTest, StaleTokensAndStrangeKeysChangeNothing) {
  lookup.numbers["100"] = conf("100");
  call.arrive("100");
  EXPECT_TRUE(ivr.prompts_done(call.play + 1).empty());
  EXPECT_TRUE(ivr.prompts_done(0).empty());
  EXPECT_TRUE(ivr.timeout(12345).empty());
  EXPECT_TRUE(ivr.digit('A').empty());
  EXPECT_TRUE(ivr.joined({}).empty()) << "no join was asked yet";
  EXPECT_TRUE(ivr.arrived({"100"}).empty()) << "a call arrives once";
}

TEST_F(IvrTest, OutsideFieldsAreCappedAndTheLanguageFollowsTheDocument) {
  auto c = conf("100");
  c.language = "fr-fr";
  lookup.numbers["100"] = c;
  auto& a = call.take(ivr.arrived({"100", "", std::string(5000, 'x'), "1", "", ""}));
  EXPECT_EQ(find(a, T::play)->language, "fr-fr");
  auto& j = call.done();
  EXPECT_EQ(find(j, T::join)->join.call.caller_name.size(), kMaxField);
}

// ---- on the real service ------------------------------------------------------------------

namespace {

struct OnService : ::testing::Test {
  confab::test::RecordingSink sink;
  std::int64_t clock = 1'000'000;
  ConferenceService svc{sink, [this] { return clock; }, "test-secret"};
  ServiceLookup lookup{svc};
  std::string account, conf_id;

  std::string make_account(std::string name, std::string realm = {}) {
    std::string key;
    json::object body{{"name", name}};
    if (!realm.empty()) body["realm"] = realm;
    auto w = svc.prepare_account(body, false, key);
    svc.commit(w);
    return w.doc.id;
  }
  std::string create(const std::string& acct, json::value data) {
    auto w = svc.prepare("conference", acct, {}, WriteMode::create, data);
    svc.commit(w);
    return w.doc.id;
  }
  void SetUp() override {
    account = make_account("Acme");
    conf_id = create(account, json::parse(R"({"name":"Board",
        "conference_numbers":["300"],
        "member":{"numbers":["100"],"pins":["1111"],"join_muted":false},
        "moderator":{"numbers":["200"],"pins":["9999"]}})"));
  }

  // Runs a call through the IVR, carrying out its joins on the service, until it asks for a
  // digit, a prompt's end, or hangs up. Returns the last actions.
  struct Driver {
    OnService& t;
    Ivr ivr;
    Call call{ivr};
    ParticipantView participant;
    explicit Driver(OnService& s) : t(s), ivr(s.lookup) {}
    std::vector<Action>& step(std::vector<Action> a) {
      auto& got = call.take(std::move(a));
      if (auto* j = find(got, T::join)) {
        auto o = ivr::join(t.svc, j->join, &participant);
        call.take(ivr.joined(o));
      }
      return call.last;
    }
    std::vector<Action>& arrive(std::string dialed, std::string number = "5551234") {
      return step(ivr.arrived({dialed, "", "Alice", number, "sip:192.0.2.1", "sip-call-1"}));
    }
    std::vector<Action>& done() { return step(ivr.prompts_done(call.play)); }
    std::vector<Action>& press(std::string_view keys) {
      std::vector<Action> all;
      for (char k : keys) {
        auto& a = step(ivr.digit(k));
        all.insert(all.end(), a.begin(), a.end());
      }
      call.last = all;
      return call.last;
    }
  };
};

}  // namespace

TEST_F(OnService, TheMemberNumberAndPinJoinAMemberWithTheCallersIdentity) {
  Driver d(*this);
  EXPECT_EQ(played(d.arrive("100")), (S{"conf-welcome", "conf-enter_conf_pin"}));
  d.done();
  d.press("1111#");
  EXPECT_EQ(d.ivr.state(), Ivr::State::in_conference);
  EXPECT_EQ(d.ivr.role(), Role::member);
  auto* room = svc.room(conf_id);
  ASSERT_NE(room, nullptr);
  auto* p = room->find(d.ivr.participant_id());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->call_id, "sip-call-1");
  EXPECT_EQ(p->caller_id_number, "5551234");
  EXPECT_EQ(p->caller_id_name, "Alice");
  EXPECT_TRUE(p->speak) << "member.join_muted false";
  EXPECT_EQ(sink.of(EventType::add_member).size(), 1u);
}

TEST_F(OnService, TheConferenceNumberLetsThePinPickTheModerator) {
  Driver d(*this);
  d.arrive("300");
  d.done();
  d.press("9999#");
  EXPECT_EQ(d.ivr.role(), Role::moderator);
  EXPECT_TRUE(svc.room(conf_id)->find(d.ivr.participant_id())->is_moderator);
}

TEST_F(OnService, TheModeratorPinOnTheMemberNumberIsWrong) {
  Driver d(*this);
  d.arrive("100");
  d.done();
  EXPECT_EQ(played(d.press("9999#")), (S{"conf-bad_pin", "conf-enter_conf_pin"}));
}

TEST_F(OnService, ThreeWrongPinsLockTheCallerOutOfRestToo) {
  Driver d(*this);
  d.arrive("100");
  for (auto pin : {"1#", "2#", "3#"}) {
    d.done();
    d.press(pin);
  }
  EXPECT_EQ(played(d.call.last), (S{"conf-bad_pin", "conf-too_many_attempts"}));
  EXPECT_EQ(d.done()[0].reason, HangupReason::bad_pin);
  EXPECT_EQ(svc.bad_pin_attempts(conf_id), 3);
  // The REST join from the same caller number is refused even with the right PIN.
  EXPECT_EQ(confab::test::code_of(
                [&] { svc.join(account, conf_id, {.number = "5551234", .pin = "1111"}); }),
            confab::Errc::too_many_attempts);
  // So is the next SIP call, even with the right PIN.
  Driver again(*this);
  again.arrive("100");
  again.done();
  EXPECT_EQ(played(again.press("1111#")), (S{"conf-too_many_attempts"}));
}

TEST_F(OnService, WrongPinsOnRestLeaveFewerTriesOnSip) {
  for (auto pin : {"1", "2"})
    EXPECT_EQ(confab::test::code_of([&] {
                svc.join(account, conf_id, {.number = "5551234", .pin = pin, .dialed = "100"});
              }),
              confab::Errc::bad_pin);
  Driver d(*this);
  d.arrive("100");
  d.done();
  EXPECT_EQ(played(d.press("3#")), (S{"conf-bad_pin", "conf-too_many_attempts"}));
}

TEST_F(OnService, LockedAndFullRoomsAreRefusedAsRestRefusesThem) {
  svc.join(account, conf_id, {.number = "1", .pin = "9999"});
  svc.conference_action(account, conf_id, "lock");
  Driver d(*this);
  d.arrive("100");
  d.done();
  EXPECT_EQ(played(d.press("1111#")), (S{"conf-locked"}));

  auto small = create(account, json::parse(R"({"name":"Small","max_participants":1,
      "conference_numbers":["500"]})"));
  svc.join(account, small, {.number = "2"});
  Driver f(*this);
  f.arrive("500");
  EXPECT_EQ(played(f.done()), (S{"conf-max_participants"}));
}

TEST_F(OnService, TheRealmPicksTheAccountOfANumberTwoAccountsUse) {
  auto other = make_account("Other", "sip.other.example");
  auto theirs = create(other, json::parse(R"({"name":"Theirs","conference_numbers":["300"]})"));
  EXPECT_FALSE(lookup.find("300", "")) << "ambiguous without a realm";
  auto c = lookup.find("300", "SIP.other.example");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->conference_id, theirs);
  EXPECT_FALSE(lookup.find("100", "sip.other.example")) << "not that account's number";
  auto mine = lookup.find("100", "unknown.example");
  ASSERT_TRUE(mine) << "no account has that realm; 100 is Acme's alone";
  EXPECT_EQ(mine->conference_id, conf_id);
}

TEST_F(OnService, ANumberOnlyOneAccountHasIsFoundWithoutARealm) {
  auto c = lookup.find("200", "");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->conference_id, conf_id);
  EXPECT_EQ(c->by_number, Role::moderator);
  EXPECT_TRUE(c->member_pins);
  EXPECT_TRUE(c->moderator_pins);
  EXPECT_FALSE(lookup.find("300", "")->by_number);
  EXPECT_FALSE(lookup.find("999", ""));
}

TEST_F(OnService, KeypadOpsAreTheRestActionsWithTheirEvents) {
  Driver d(*this);
  d.arrive("200");
  d.done();
  d.press("9999#");
  int me = d.ivr.participant_id();
  auto& a = d.press("*1");
  ASSERT_NE(find(a, T::control), nullptr);
  EXPECT_TRUE(apply_control(svc, account, conf_id, me, find(a, T::control)->op));
  EXPECT_EQ(sink.of(EventType::mute_member).size(), 1u);
  EXPECT_FALSE(room_view(svc, conf_id, me).speak);
  EXPECT_FALSE(apply_control(svc, account, conf_id, me, ControlOp::talk_volume));
  auto member = svc.join(account, conf_id, {.number = "7", .pin = "1111"});
  ASSERT_TRUE(member.speak);
  EXPECT_TRUE(apply_control(svc, account, conf_id, me, ControlOp::mute_all));
  EXPECT_FALSE(svc.room(conf_id)->find(member.participant_id)->speak);
  EXPECT_TRUE(apply_control(svc, account, conf_id, me, ControlOp::lock));
  EXPECT_TRUE(room_view(svc, conf_id, me).locked);
  EXPECT_EQ(sink.of(EventType::lock).size(), 1u);
}

TEST_F(OnService, AHeldMemberIsReleasedWhenAModeratorComes) {
  auto waiting = create(account, json::parse(R"({"name":"Wait","wait_for_moderator":true,
      "conference_numbers":["600"],"moderator":{"pins":["4321"]}})"));
  Driver d(*this);
  d.arrive("600");
  d.done();
  d.press("#");  // no member PIN: an empty entry joins as a member
  ASSERT_EQ(d.ivr.state(), Ivr::State::in_conference);
  EXPECT_EQ(played(d.call.last),
            (S{"conf-joining_conference", "conf-muted", "conf-conference_will_start_shortly"}))
      << "member.join_muted defaults to true";
  EXPECT_TRUE(room_view(svc, waiting, d.ivr.participant_id()).held);
  EXPECT_EQ(types(d.done()), (std::vector<T>{T::start_hold_music}));
  svc.join(account, waiting, {.number = "8", .pin = "4321"});
  auto v = room_view(svc, waiting, d.ivr.participant_id());
  EXPECT_FALSE(v.held);
  EXPECT_EQ(types(d.ivr.room_changed(v)), (std::vector<T>{T::stop_hold_music}));
}

TEST_F(OnService, WrongPinsFromOneSourceAreThrottledWhateverNumbersItClaims) {
  // PinGuard's source scope: 10 wrong PINs from one address (any caller numbers), then a backoff.
  int failures = 0;
  for (int caller = 0; failures < 10; ++caller) {
    Driver d(*this);
    d.arrive("100", "555000" + std::to_string(caller));
    for (int i = 0; i < 3 && failures < 10; ++i, ++failures) {
      d.done();
      d.press("0#");
    }
  }
  Driver next(*this);
  next.arrive("100", "5559999");
  next.done();
  EXPECT_EQ(played(next.press("1111#")), (S{"conf-too_many_attempts"}))
      << "a new number from the same source, even with the right PIN";
  EXPECT_EQ(next.done()[0].reason, HangupReason::too_many_attempts);
  clock += 3;  // the first backoff is 2 s
  Driver later(*this);
  later.arrive("100", "5559999");
  later.done();
  later.press("1111#");
  EXPECT_EQ(later.ivr.state(), Ivr::State::in_conference);
}
