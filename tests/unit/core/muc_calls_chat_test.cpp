// Core rules behind the XiVO, Drumee and Userplane faces: MUC admission and voice, organizer
// commands, chat posting rules and call flows.
#include "core/calls.hpp"
#include "core/chat.hpp"
#include "core/error.hpp"
#include "core/identity.hpp"
#include "core/service.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include "../support.hpp"

namespace json = boost::json;
using namespace confab::core;
using confab::Errc;
using confab::Error;
using confab::test::code_of;

namespace {

struct World : confab::test::CoreWorld {
  Chat chat{svc, sink, [this] { return clock * 1000; }};
  Calls calls{svc, sink};
  std::string account;

  void SetUp() override { account = new_account("acme"); }
  std::string user(std::string name, std::string ext = {}) {
    json::object d{
        {"first_name", name}, {"last_name", "X"}, {"username", name}, {"password", "pw"}};
    if (!ext.empty()) d["extension"] = ext;
    auto w = svc.prepare("user", account, {}, WriteMode::create, d);
    svc.commit(w);
    return w.doc.id;
  }
  std::string conference(json::object d) {
    auto w = svc.prepare("conference", account, {}, WriteMode::create, d);
    svc.commit(w);
    return w.doc.id;
  }
  ParticipantView join_user(const std::string& conf, const std::string& u,
                            std::string socket = {}) {
    JoinRequest j;
    j.user_id = u;
    j.socket_id = std::move(socket);
    return svc.join(account, conf, j);
  }
};

}  // namespace

TEST_F(World, OutcastsAreRefusedAndMembersOnlyRoomsAdmitMembersAndPinHolders) {
  auto alice = user("alice"), bob = user("bob"), carol = user("carol");
  auto conf = conference(json::parse(
                             R"({"name":"c","member":{"pins":["11"]},"muc":{"members_only":true,
          "affiliations":{")" +
                             bob + R"(":"outcast",")" + alice + R"(":"member"}}})")
                             .as_object());
  EXPECT_EQ(code_of([&] { join_user(conf, bob); }), Errc::forbidden);
  EXPECT_EQ(code_of([&] { join_user(conf, carol); }), Errc::forbidden);  // no affiliation
  EXPECT_NO_THROW(join_user(conf, alice));                               // a member needs no PIN
  JoinRequest by_pin;
  by_pin.pin = "11";
  EXPECT_NO_THROW(svc.join(account, conf, by_pin));
}

TEST_F(World, VisitorsOfModeratedRoomsHaveNoVoiceUntilGranted) {
  auto alice = user("alice"), owner = user("olga");
  auto conf = conference(json::parse(R"({"name":"c","member":{"join_muted":false},
      "muc":{"moderated":true,"affiliations":{")" +
                                     owner + R"(":"owner"}}})")
                             .as_object());
  auto o = join_user(conf, owner);
  auto v = join_user(conf, alice);
  EXPECT_TRUE(o.is_moderator);  // owners are moderators without a PIN
  EXPECT_EQ(v.role(), MucRole::visitor);
  EXPECT_FALSE(v.speak);
  EXPECT_EQ(code_of([&] { svc.act_as(account, conf, alice, "unmute_me"); }), Errc::forbidden);
  EXPECT_EQ(code_of([&] { svc.participant_action(account, conf, v.participant_id, "unmute"); }),
            Errc::forbidden);
  svc.act_as(account, conf, owner, "voice", v.participant_id);
  svc.act_as(account, conf, alice, "unmute_me");
  EXPECT_TRUE(svc.room(conf)->find(v.participant_id)->speak);
  svc.act_as(account, conf, owner, "devoice", v.participant_id);
  EXPECT_FALSE(svc.room(conf)->find(v.participant_id)->speak);
  EXPECT_EQ(sink.of(EventType::role_change).size(), 2u);
}

TEST_F(World, OrganizerCommandsFollowXivoRules) {
  auto org = user("org", "1001"), usr = user("usr", "1002"), org2 = user("org2", "1003");
  auto conf = conference(json::parse(R"({"name":"c","conference_numbers":["4000"],
      "member":{"join_muted":false},"moderator":{"pins":["9"]}})")
                             .as_object());
  EXPECT_EQ(svc.conference_by_number(account, "4000")->id, conf);
  // Nobody is in it, so neither is org.
  EXPECT_EQ(code_of([&] { svc.act_as(account, conf, org, "mute_all"); }), Errc::not_a_member);
  JoinRequest j;
  j.number = "1001";  // the caller's number is org's extension: it is org
  j.pin = "9";
  auto o = svc.join(account, conf, j);
  EXPECT_EQ(o.user_id, org);
  EXPECT_EQ(code_of([&] { svc.act_as(account, conf, usr, "mute_all"); }), Errc::not_a_member);
  auto u = join_user(conf, usr);
  j.number = "1003";
  auto o2 = svc.join(account, conf, j);
  EXPECT_EQ(code_of([&] { svc.act_as(account, conf, usr, "mute", o.participant_id); }),
            Errc::not_organizer);
  EXPECT_EQ(code_of([&] { svc.act_as(account, conf, org, "kick", o2.participant_id); }),
            Errc::cannot_kick_organizer);
  EXPECT_EQ(code_of([&] { svc.act_as(account, conf, org, "mute", 99); }), Errc::not_found);
  svc.act_as(account, conf, org, "mute_all");
  auto* room = svc.room(conf);
  EXPECT_TRUE(room->find(o.participant_id)->speak);    // the caller keeps its voice
  EXPECT_FALSE(room->find(o2.participant_id)->speak);  // other organizers are muted too
  EXPECT_FALSE(room->find(u.participant_id)->speak);
  svc.act_as(account, conf, usr, "unmute_me");
  EXPECT_TRUE(room->find(u.participant_id)->speak);
  svc.act_as(account, conf, org, "close");
  EXPECT_EQ(svc.room(conf), nullptr);
}

TEST_F(World, AModeratorCannotActOnAHigherAffiliation) {
  auto admin = user("adam"), owner = user("olga");
  auto conf = conference(json::parse(R"({"name":"c","muc":{"affiliations":{")" + admin +
                                     R"(":"admin",")" + owner + R"(":"owner"}}})")
                             .as_object());
  join_user(conf, admin);
  auto o = join_user(conf, owner);
  EXPECT_EQ(code_of([&] { svc.act_as(account, conf, admin, "mute", o.participant_id); }),
            Errc::forbidden);
}

TEST_F(World, ChatPostingFollowsRoomRoles) {
  auto alice = user("alice"), bob = user("bob");
  auto conf = conference(json::parse(R"({"name":"c","muc":{"moderated":true}})").as_object());
  EXPECT_EQ(code_of([&] { chat.prepare_room(account, conf, alice, "hi"); }), Errc::not_a_member);
  join_user(conf, alice);  // a visitor in a moderated room
  EXPECT_EQ(code_of([&] { chat.prepare_room(account, conf, alice, "hi"); }), Errc::forbidden);
  auto open = conference(json::parse(R"({"name":"o"})").as_object());
  join_user(open, bob);
  auto m1 = chat.prepare_room(account, open, bob, "hello");
  auto m2 = chat.prepare_room(account, open, bob, "again");
  EXPECT_EQ(m1.seq, 1);
  EXPECT_EQ(m2.seq, 2);
  EXPECT_EQ(m1.author_name, "bob X");
  EXPECT_EQ(code_of([&] { chat.prepare_room(account, open, bob, ""); }), Errc::invalid_data);
  chat.commit(m1);
  ASSERT_EQ(sink.of(EventType::chat_message).size(), 1u);
  EXPECT_EQ(sink.of(EventType::chat_message)[0].conference_id, open);
}

TEST_F(World, CallLogsGoIntoBothSidesWithTheirRole) {
  auto a = user("a"), b = user("b");
  EXPECT_TRUE(chat.prepare_call_log(account, a, b, "accept", 10).empty());
  auto msgs = chat.prepare_call_log(account, a, b, "leave", 42);
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].room_id, direct_room(a, b));
  EXPECT_EQ(msgs[0].metadata.at("role"), "caller");
  EXPECT_EQ(msgs[1].room_id, direct_room(b, a));
  EXPECT_EQ(msgs[1].metadata.at("role"), "callee");
  EXPECT_EQ(msgs[1].metadata.at("duration"), 42);
  EXPECT_EQ(code_of([&] { chat.check_read(account, direct_room(a, b), b); }), Errc::forbidden);
  EXPECT_NO_THROW(chat.check_read(account, direct_room(b, a), b));
}

TEST_F(World, InviteRingsOnlineUsersAndAcceptJoinsWithTheRole) {
  auto caller = user("caller"), callee = user("callee"), away = user("away");
  auto conf = conference(json::parse(R"({"name":"c"})").as_object());
  calls.connect({"s-caller", account, caller, "drumee"});
  calls.connect({"s-callee-1", account, callee, "drumee"});
  calls.connect({"s-callee-2", account, callee, "xivo"});
  EXPECT_EQ(
      code_of([&] { calls.invite(account, conf, caller, "s-caller", callee, Role::member, {}); }),
      Errc::not_a_member);
  join_user(conf, caller, "s-caller");
  EXPECT_TRUE(calls.invite(account, conf, caller, "s-caller", away, Role::member, {}).offline);
  auto rung = calls.invite(account, conf, caller, "s-caller", callee, Role::moderator, {});
  EXPECT_FALSE(rung.offline);
  EXPECT_EQ(rung.sockets.size(), 2u);
  EXPECT_EQ(calls.caller_of(callee, caller)->conference_id, conf);
  auto p = calls.accept(account, callee, "s-callee-1", "s-caller");
  EXPECT_TRUE(p.is_moderator);
  auto accepts = sink.of(EventType::call);
  auto& acc = accepts.back();
  EXPECT_EQ(acc.detail, "accept");
  EXPECT_EQ(acc.to_sockets, (std::vector<std::string>{"s-caller", "s-callee-2"}));
  // The socket that goes away leaves the room.
  calls.disconnect("s-callee-1");
  EXPECT_EQ(svc.room(conf)->find_user(callee), nullptr);
}

TEST_F(World, CrossedCallsWithinFiveSecondsAreDetected) {
  auto a = user("a"), b = user("b");
  auto conf = conference(json::parse(R"({"name":"c"})").as_object());
  calls.connect({"sa", account, a, "drumee"});
  calls.connect({"sb", account, b, "drumee"});
  join_user(conf, a, "sa");
  calls.invite(account, conf, a, "sa", b, Role::member, {});
  ASSERT_NE(calls.crossed(b, a), nullptr);
  EXPECT_EQ(calls.crossed(b, a)->conference_id, conf);
  EXPECT_EQ(calls.crossed(a, b), nullptr);
  clock += Calls::kCrossedCallWindow;
  EXPECT_EQ(calls.crossed(b, a), nullptr);
}

TEST_F(World, DeclineCancelAndRevokeTellTheRightSockets) {
  auto a = user("a"), b = user("b"), c = user("c");
  auto conf = conference(json::parse(R"({"name":"c"})").as_object());
  calls.connect({"sa", account, a, "drumee"});
  calls.connect({"sb", account, b, "drumee"});
  calls.connect({"sc", account, c, "drumee"});
  join_user(conf, a, "sa");
  calls.invite(account, conf, a, "sa", b, Role::member, {});
  calls.decline(account, b, "sb", "sa");
  EXPECT_EQ(sink.of(EventType::call).back().to_sockets, std::vector<std::string>{"sa"});
  EXPECT_EQ(code_of([&] { calls.accept(account, b, "sb", ""); }), Errc::not_found);
  calls.invite(account, conf, a, "sa", c, Role::member, {});
  calls.accept(account, c, "sc", "");
  calls.revoke(account, conf, c, "sa");
  EXPECT_EQ(sink.of(EventType::call).back().detail, "revoke");
  EXPECT_EQ(svc.room(conf)->find_user(c), nullptr);
  calls.invite(account, conf, a, "sa", b, Role::member, {});
  calls.cancel(account, conf, "sa");
  auto cancel = sink.of(EventType::call).back();
  EXPECT_EQ(cancel.detail, "cancel");
  EXPECT_EQ(cancel.to_sockets, std::vector<std::string>{"sb"});
  EXPECT_EQ(svc.room(conf), nullptr);
  EXPECT_FALSE(calls.caller_of(b, a).has_value());
}

TEST_F(World, HubPrivilegesGateDrumeeServices) {
  auto owner = user("owner"), reader = user("reader");
  auto w = svc.prepare("hub", account, {}, WriteMode::create,
                       json::parse(R"({"name":"team","owner_id":")" + owner +
                                   R"(","privileges":{")" + reader + R"(":3}})"));
  svc.commit(w);
  auto hub = w.doc.id;
  EXPECT_NO_THROW(calls.check_service(hub, owner, "invite"));
  EXPECT_NO_THROW(calls.check_service(hub, reader, "accept"));
  EXPECT_EQ(code_of([&] { calls.check_service(hub, reader, "invite"); }), Errc::forbidden);
  EXPECT_NO_THROW(calls.check_service(hub, "", "join"));  // guests are anonymous
  EXPECT_EQ(code_of([&] { calls.check_service(hub, "", "accept"); }), Errc::forbidden);
  EXPECT_EQ(code_of([&] { calls.check_service(hub, owner, "dance"); }), Errc::not_found);
  EXPECT_EQ(code_of([&] {
              svc.prepare("hub", account, {}, WriteMode::create,
                          json::parse(R"({"name":"x","privileges":{"u":5}})"));
            }),
            Errc::invalid_data);
}

// Without @account, "ambiguous" is said only to a password that opens the username in more than
// one account: a wrong password gets the same answer whether the name is in one account or many.
TEST_F(World, LoginWithoutAccountRevealsNoAmbiguityToAWrongPassword) {
  auto message_of = [&](std::string_view login, std::string_view password) {
    try {
      svc.auth_login(login, password);
    } catch (const Error& e) {
      EXPECT_EQ(e.code, Errc::unauthorized);
      return e.message;
    }
    return std::string("ok");
  };
  auto add_user = [&](const std::string& acct, const std::string& password) {
    json::object d{
        {"first_name", "A"}, {"last_name", "X"}, {"username", "alice"}, {"password", password}};
    svc.commit(svc.prepare("user", acct, {}, WriteMode::create, d));
  };
  add_user(account, "pw");
  auto beta = new_account("beta");
  add_user(beta, "other");
  EXPECT_EQ(message_of("alice", "wrong"), "invalid credentials");
  EXPECT_EQ(message_of("nobody", "wrong"), "invalid credentials");
  TokenClaims c;
  svc.auth_login("alice", "other", &c);  // opens one account only: that one
  EXPECT_EQ(c.account_id, beta);
  EXPECT_EQ(message_of("alice", "pw"), "ok");
  auto gamma = new_account("gamma");
  add_user(gamma, "pw");  // the same password in two accounts: which one?
  EXPECT_EQ(message_of("alice", "pw"), "ambiguous login: use user@account");
  EXPECT_EQ(message_of("alice", "wrong"), "invalid credentials");
  svc.auth_login("alice@gamma", "pw", &c);
  EXPECT_EQ(c.account_id, gamma);
}

TEST_F(World, LoginByUsernameAndEmptySince) {
  user("alice");
  TokenClaims c;
  svc.auth_login("Alice", "pw", &c);
  EXPECT_EQ(c.method, "login");
  EXPECT_EQ(code_of([&] { svc.auth_login("alice", "nope"); }), Errc::unauthorized);
  EXPECT_NO_THROW(svc.auth_login("alice@ACME", "pw"));
  auto conf = conference(json::parse(R"({"name":"c"})").as_object());
  EXPECT_EQ(svc.empty_since(conf), clock);  // never used: since its creation
  auto p = svc.join(account, conf, {});
  EXPECT_EQ(svc.empty_since(conf), 0);
  clock += 30;
  svc.leave(account, conf, p.participant_id, "left");
  EXPECT_EQ(svc.empty_since(conf), clock);
}
