#include "core/room.hpp"
#include "core/error.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include "../support.hpp"

namespace json = boost::json;
using namespace confab::core;
using confab::Errc;
using confab::Error;
using confab::test::code_of;

namespace {

json::object doc(std::string_view text) {
  return json::parse(text).as_object();
}

std::vector<std::string> names(const std::vector<Event>& ev) {
  std::vector<std::string> out;
  for (auto& e : ev) out.emplace_back(event_name(e.type));
  return out;
}

const auto kPins =
    doc(R"({"name":"c","member":{"pins":["1111"],"numbers":["200"],"join_muted":true},
  "moderator":{"pins":["9999"],"numbers":["300"],"join_muted":false},"conference_numbers":["100"]})");

}  // namespace

TEST(ResolveRole, PinDecidesTheRole) {
  EXPECT_EQ(resolve_role(kPins, {.pin = "9999"}), Role::moderator);
  EXPECT_EQ(resolve_role(kPins, {.pin = "1111"}), Role::member);
  EXPECT_EQ(code_of([&] { resolve_role(kPins, {.pin = "0000"}); }), Errc::bad_pin);
  EXPECT_EQ(code_of([&] { resolve_role(kPins, {}); }), Errc::bad_pin);
}

TEST(ResolveRole, DialledNumberFixesTheRoleAndItsPins) {
  EXPECT_EQ(resolve_role(kPins, {.pin = "9999", .dialed = "300"}), Role::moderator);
  // A member number does not accept the moderator PIN.
  EXPECT_EQ(code_of([&] { resolve_role(kPins, {.pin = "9999", .dialed = "200"}); }), Errc::bad_pin);
  EXPECT_EQ(resolve_role(kPins, {.pin = "9999", .dialed = "100"}), Role::moderator);
  EXPECT_EQ(code_of([&] { resolve_role(kPins, {.pin = "9999", .dialed = "555"}); }),
            Errc::invalid_data);
}

TEST(ResolveRole, EmptyPinListsMeanMembersWithoutPrompt) {
  auto open = doc(R"({"name":"c"})");
  EXPECT_EQ(resolve_role(open, {}), Role::member);
  auto mod_only = doc(R"({"name":"c","moderator":{"pins":["9"]}})");
  EXPECT_EQ(resolve_role(mod_only, {}), Role::member);
  EXPECT_EQ(resolve_role(mod_only, {.pin = "9"}), Role::moderator);
}

TEST(Room, JoinAppliesRoleFlagsAndNumbersFromOne) {
  Room r("a", "c", "name", "inst", 100);
  std::vector<Event> ev;
  auto m = r.join(kPins, {.role = Role::member}, {.name = "m"}, "call1", 100, ev);
  auto mod = r.join(kPins, {.role = Role::moderator}, {.name = "mod"}, "call2", 101, ev);
  EXPECT_EQ(m.participant_id, 1);
  EXPECT_EQ(mod.participant_id, 2);
  EXPECT_FALSE(m.speak);  // member.join_muted
  EXPECT_TRUE(mod.speak);
  EXPECT_TRUE(m.hear);
  EXPECT_EQ(names(ev), (std::vector<std::string>{"conference-create", "add-member", "add-member"}));
  EXPECT_EQ(r.count(Role::member), 1);
  EXPECT_EQ(r.count(Role::moderator), 1);
}

TEST(Room, LockedAndFullRoomsRefuseWithDistinctErrors) {
  auto limited = doc(R"({"name":"c","max_participants":1})");
  Room r("a", "c", "name", "inst", 0);
  std::vector<Event> ev;
  r.join(limited, {.role = Role::member}, {}, "x", 0, ev);
  EXPECT_EQ(code_of([&] { r.join(limited, {.role = Role::member}, {}, "y", 0, ev); }),
            Errc::room_full);
  r.set_locked(true, 0, ev);
  EXPECT_EQ(code_of([&] { r.join(limited, {.role = Role::moderator}, {}, "z", 0, ev); }),
            Errc::room_locked);
  r.set_locked(false, 0, ev);
  EXPECT_EQ(r.participants().size(), 1u);
}

TEST(Room, ActionsChangeStateAndEmitOnlyOnChange) {
  Room r("a", "c", "name", "inst", 0);
  std::vector<Event> ev;
  auto open = doc(R"({"name":"c","member":{"join_muted":false}})");
  r.join(open, {.role = Role::member}, {}, "x", 0, ev);
  ev.clear();
  r.act(nullptr, 1, "mute", 0, ev);
  r.act(nullptr, 1, "mute", 0, ev);  // already muted: a command, no second mute-member
  r.act(nullptr, 1, "deaf", 0, ev);
  EXPECT_FALSE(r.find(1)->speak);
  EXPECT_FALSE(r.find(1)->hear);
  EXPECT_EQ(names(ev), (std::vector<std::string>{"command", "mute-member", "command", "command",
                                                 "deaf-member"}));
  EXPECT_EQ(code_of([&] { r.act(nullptr, 1, "dance", 0, ev); }), Errc::unknown_action);
  EXPECT_EQ(code_of([&] { r.act(nullptr, 7, "mute", 0, ev); }), Errc::not_found);
}

TEST(Room, BulkMuteSkipsModeratorsAndKickEmptiesTheRoom) {
  Room r("a", "c", "name", "inst", 0);
  std::vector<Event> ev;
  auto open = doc(R"({"name":"c","member":{"join_muted":false}})");
  r.join(open, {.role = Role::member}, {}, "m1", 0, ev);
  r.join(open, {.role = Role::moderator}, {}, "mod", 0, ev);
  r.join(open, {.role = Role::member}, {}, "m2", 0, ev);
  ev.clear();
  r.act_all(nullptr, "mute", true, 0, 0, ev);
  EXPECT_FALSE(r.find(1)->speak);
  EXPECT_TRUE(r.find(2)->speak);
  EXPECT_FALSE(r.find(3)->speak);
  EXPECT_EQ(names(ev), (std::vector<std::string>{"command", "mute-member", "mute-member"}));
  ev.clear();
  r.act_all(nullptr, "kick", false, 0, 0, ev);
  EXPECT_TRUE(r.participants().empty());
  EXPECT_EQ(ev.back().type, EventType::conference_destroy);
  EXPECT_EQ(
      std::count_if(ev.begin(), ev.end(), [](auto& e) { return e.type == EventType::del_member; }),
      3);
}

TEST(Room, KickReportsReasonInDelMember) {
  Room r("a", "c", "name", "inst", 0);
  std::vector<Event> ev;
  r.join(doc(R"({"name":"c"})"), {.role = Role::member}, {}, "x", 0, ev);
  ev.clear();
  r.act(nullptr, 1, "kick", 5, ev);
  EXPECT_EQ(names(ev), (std::vector<std::string>{"command", "kick-member", "del-member",
                                                 "conference-destroy"}));
  EXPECT_EQ(ev[2].detail, "kicked");
}

// Lookups are indexed (no scan per media report or per join), and stay right as people leave.
TEST(Room, IndexesFollowJoinsAndLeaves) {
  Room r("a", "c", "name", "inst", 100);
  std::vector<Event> ev;
  auto open = doc(R"({"name":"c"})");
  for (int i = 0; i < 300; ++i)
    r.join(open, {.role = Role::member, .user_id = "u" + std::to_string(i % 100)},
           {.socket_id = "s" + std::to_string(i)}, "call" + std::to_string(i), 100, ev);
  EXPECT_EQ(r.find(150)->call_id, "call149");
  EXPECT_EQ(r.find_call("call7")->participant_id, 8);
  EXPECT_EQ(r.find_socket("s42")->participant_id, 43);
  EXPECT_EQ(r.find_user("u5")->participant_id, 6);  // the first of the user's three
  r.leave(6, "left", 101, ev);
  EXPECT_EQ(r.find(6), nullptr);
  EXPECT_EQ(r.find_call("call5"), nullptr);
  EXPECT_EQ(r.find_socket("s5"), nullptr);
  EXPECT_EQ(r.find_user("u5")->participant_id, 106);
  EXPECT_TRUE(r.set_energy(300, 7));
  EXPECT_EQ(r.find(300)->current_energy, 7);
  EXPECT_FALSE(r.set_energy(6, 7));
}

TEST(Room, KickingEveryoneKeepsTheOrderOfTheirEvents) {
  Room r("a", "c", "name", "inst", 100);
  std::vector<Event> ev;
  auto open = doc(R"({"name":"c"})");
  for (int i = 0; i < 3; ++i)
    r.join(open, {.role = Role::member}, {}, "call" + std::to_string(i), 100, ev);
  ev.clear();
  r.act_all(nullptr, "kick", false, 0, 101, ev);
  EXPECT_EQ(names(ev), (std::vector<std::string>{"command", "kick-member", "del-member",
                                                 "kick-member", "del-member", "kick-member",
                                                 "del-member", "conference-destroy"}));
  EXPECT_EQ(ev[2].participant->participant_id, 1);
  EXPECT_EQ(ev[6].participant->participant_id, 3);
  EXPECT_TRUE(r.participants().empty());
  EXPECT_EQ(r.find_call("call1"), nullptr);
}
