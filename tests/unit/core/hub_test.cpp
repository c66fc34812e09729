// Core rules behind the Drumee face: hub rooms (finding, creating, never twice at once), who a
// hub's news reaches, socket ownership, idempotent joins and leaves, participant metadata, and
// sockets leaving their rooms in each room's own account.
#include "core/calls.hpp"
#include "core/error.hpp"
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

struct Hubs : confab::test::CoreWorld {
  Calls calls{svc, sink};
  std::string account, other_account, owner, reader, nobody, hub;

  std::string user(const std::string& acct, std::string name) {
    auto w =
        svc.prepare("user", acct, {}, WriteMode::create,
                    json::object{{"first_name", name}, {"last_name", "X"}, {"username", name}});
    svc.commit(w);
    return w.doc.id;
  }
  std::string new_hub(const std::string& acct, json::object body) {
    auto w = svc.prepare("hub", acct, {}, WriteMode::create, body);
    svc.commit(w);
    return w.doc.id;
  }
  std::string hub_room(const std::string& h, std::string type, const std::string& acct = {}) {
    auto w = svc.prepare_hub_room(acct.empty() ? account : acct, h, type, nullptr);
    svc.commit(w);
    return w.doc.id;
  }
  ParticipantView join(const std::string& conf, std::string user_id, std::string socket,
                       const std::string& acct = {}) {
    JoinRequest j;
    j.user_id = std::move(user_id);
    j.socket_id = std::move(socket);
    j.first_is_host = true;
    return svc.join(acct.empty() ? account : acct, conf, j);
  }
  void SetUp() override {
    account = new_account("acme");
    other_account = new_account("other");
    owner = user(account, "owner");
    reader = user(account, "reader");
    nobody = user(account, "nobody");
    hub = new_hub(account, json::object{{"name", "Team"},
                                        {"owner_id", owner},
                                        {"privileges", json::object{{reader, 3}, {nobody, 0}}}});
  }
};

}  // namespace

TEST_F(Hubs, AHubRoomIsNamedAfterItsHubAndTypeAndItsMembersSpeak) {
  auto w = svc.prepare_hub_room(account, hub, "standup", nullptr);
  EXPECT_EQ(w.doc.body.at("name"), "Team standup");
  EXPECT_EQ(w.doc.body.at("hub_id").as_string(), hub);
  EXPECT_EQ(w.doc.body.at("type"), "standup");
  EXPECT_EQ(w.doc.body.at("member").at("join_muted"), false);
  svc.abort(w);
  // A type is an id: at most 64 bytes (docs/api/limits.md).
  auto w2 = svc.prepare_hub_room(account, hub, std::string(64, 'x'), nullptr);
  EXPECT_EQ(w2.doc.body.at("name").as_string(), "Team " + std::string(64, 'x'));
  svc.abort(w2);
  EXPECT_EQ(code_of([&] { svc.prepare_hub_room(account, hub, std::string(65, 'x'), nullptr); }),
            Errc::invalid_data);
  // A long hub name is cut to the conference name's limit, never inside a UTF-8 sequence.
  std::string e_acute = "\xc3\xa9";
  std::string long_name;
  for (int i = 0; i < 64; ++i) long_name += e_acute;
  auto big = new_hub(account, json::object{{"name", long_name}});
  auto w3 = svc.prepare_hub_room(account, big, "standup", nullptr);
  EXPECT_EQ(w3.doc.body.at("name").as_string(), long_name);
  svc.abort(w3);
  EXPECT_EQ(code_of([&] { svc.prepare_hub_room(other_account, hub, "x", nullptr); }),
            Errc::not_found);
  EXPECT_EQ(code_of([&] { svc.prepare_hub_room(account, "nope", "x", nullptr); }), Errc::not_found);
}

TEST_F(Hubs, HubRoomIsTheNewestLiveRoomOfThatType) {
  EXPECT_EQ(svc.hub_room(hub, "meeting"), nullptr);
  auto first = hub_room(hub, "meeting");
  EXPECT_EQ(svc.hub_room(hub, "meeting"), nullptr);  // not live yet
  join(first, owner, "s1");
  ASSERT_NE(svc.hub_room(hub, "meeting"), nullptr);
  EXPECT_EQ(svc.hub_room(hub, "meeting")->id, first);
  clock += 10;
  auto second = hub_room(hub, "meeting");
  join(second, reader, "s2");
  EXPECT_EQ(svc.hub_room(hub, "meeting")->id, second);
  EXPECT_EQ(svc.hub_room(hub, "webinar"), nullptr);
  auto other_hub = new_hub(account, json::object{{"name", "Other"}});
  EXPECT_EQ(svc.hub_room(other_hub, "meeting"), nullptr);
  // A room named by id must be of the hub.
  EXPECT_EQ(svc.hub_conference(hub, first).id, first);
  EXPECT_EQ(code_of([&] { svc.hub_conference(other_hub, first); }), Errc::not_found);
  EXPECT_EQ(code_of([&] { svc.hub_conference(hub, "nope"); }), Errc::not_found);
}

TEST_F(Hubs, TwoSharedHubRoomsOfOneTypeAreNeverCreatedAtOnce) {
  std::vector<std::string> got;
  EXPECT_FALSE(
      svc.await_hub_room(hub, "meeting", [&](const std::string& id) { got.push_back(id); }));
  auto w = svc.prepare_hub_room(account, hub, "meeting", nullptr);
  // The second join finds the first being written: refused, and it waits instead.
  EXPECT_EQ(code_of([&] { svc.prepare_hub_room(account, hub, "meeting", nullptr); }),
            Errc::conflict);
  EXPECT_TRUE(
      svc.await_hub_room(hub, "meeting", [&](const std::string& id) { got.push_back(id); }));
  // Another type, or a private room (a call), is not held up.
  auto other = svc.prepare_hub_room(account, hub, "webinar", nullptr);
  auto call = svc.prepare_hub_room(account, hub, "meeting", nullptr, false);
  svc.commit(w);
  EXPECT_EQ(got, std::vector<std::string>{w.doc.id});
  // Once written, the next creation is allowed again (the room is not live yet).
  EXPECT_FALSE(svc.await_hub_room(hub, "meeting", [](const std::string&) {}));
  auto again = svc.prepare_hub_room(account, hub, "meeting", nullptr);
  EXPECT_TRUE(
      svc.await_hub_room(hub, "meeting", [&](const std::string& id) { got.push_back(id); }));
  svc.abort(again);  // the store failed: those waiting learn it (empty id)
  EXPECT_EQ(got, (std::vector<std::string>{w.doc.id, ""}));
  svc.abort(other);
  svc.abort(call);
  EXPECT_NO_THROW(svc.abort(svc.prepare_hub_room(account, hub, "meeting", nullptr)));
}

TEST_F(Hubs, AWaiterMayCreateTheNextRoomFromItsCallback) {
  auto w = svc.prepare_hub_room(account, hub, "meeting", nullptr);
  std::optional<PendingWrite> next;
  svc.await_hub_room(hub, "meeting", [&](const std::string& id) {
    EXPECT_EQ(id, "");
    next = svc.prepare_hub_room(account, hub, "meeting", nullptr);
  });
  svc.abort(w);
  ASSERT_TRUE(next.has_value());
  svc.commit(*next);
}

TEST_F(Hubs, JoiningTwiceFromOneSocketKeepsThePlace) {
  auto conf = hub_room(hub, "meeting");
  auto first = join(conf, owner, "s1");
  auto events = sink.events.size();
  auto again = join(conf, owner, "s1");
  EXPECT_EQ(again.participant_id, first.participant_id);
  EXPECT_EQ(svc.room(conf)->participants().size(), 1u);
  EXPECT_EQ(sink.events.size(), events);  // nothing announced again
  auto other = join(conf, owner, "s2");   // another socket of the same user is another place
  EXPECT_EQ(other.participant_id, 2);
  // Leaving by socket is harmless the second time.
  EXPECT_TRUE(svc.leave_socket(account, conf, "s2", "left"));
  EXPECT_FALSE(svc.leave_socket(account, conf, "s2", "left"));
  EXPECT_EQ(code_of([&] { svc.leave_socket(other_account, conf, "s1", "left"); }), Errc::not_found);
}

TEST_F(Hubs, AGuestSocketLeavesEachRoomInThatRoomsAccount) {
  auto theirs_owner = user(other_account, "olga");
  auto theirs =
      new_hub(other_account, json::object{{"name", "Theirs"}, {"owner_id", theirs_owner}});
  auto mine = hub_room(hub, "meeting");
  auto other = hub_room(theirs, "meeting", other_account);
  calls.connect({"guest", "", "", "drumee"});  // no token: no account
  join(mine, "", "guest");
  join(other, "", "guest", other_account);
  calls.disconnect("guest");
  EXPECT_EQ(svc.room(mine), nullptr);
  EXPECT_EQ(svc.room(other), nullptr);
  auto left = sink.of(EventType::del_member);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].detail, "disconnected");
  EXPECT_NE(left[0].account_id, left[1].account_id);
}

TEST_F(Hubs, ASocketIsItsUsersOnly) {
  calls.connect({"s-owner", account, owner, "drumee"});
  calls.connect({"s-guest", "", "", "drumee"});
  EXPECT_NO_THROW(calls.check_socket("s-owner", owner));
  EXPECT_NO_THROW(calls.check_socket("s-guest", ""));
  EXPECT_EQ(code_of([&] { calls.check_socket("s-owner", reader); }), Errc::forbidden);
  EXPECT_EQ(code_of([&] { calls.check_socket("s-owner", ""); }), Errc::forbidden);
  EXPECT_EQ(code_of([&] { calls.check_socket("s-guest", owner); }), Errc::forbidden);
  EXPECT_EQ(code_of([&] { calls.check_socket("nope", owner); }), Errc::not_found);
}

TEST_F(Hubs, HubNewsReachesPrivilegedUsersAndTheGuestsInItsRooms) {
  auto stranger = user(other_account, "stranger");
  calls.connect({"s-owner", account, owner, "drumee"});
  calls.connect({"s-owner-2", account, owner, "xivo"});
  calls.connect({"s-reader", account, reader, "drumee"});
  calls.connect({"s-nobody", account, nobody, "drumee"});  // privilege 0
  calls.connect({"s-stranger", other_account, stranger, "drumee"});
  calls.connect({"s-guest-in", "", "", "drumee"});
  calls.connect({"s-guest-out", "", "", "drumee"});
  auto conf = hub_room(hub, "meeting");
  join(conf, "", "s-guest-in");
  EXPECT_EQ(calls.hub_sockets(hub),
            (std::vector<std::string>{"s-guest-in", "s-owner", "s-owner-2", "s-reader"}));
  EXPECT_EQ(code_of([&] { calls.hub_sockets("nope"); }), Errc::not_found);

  calls.broadcast(hub, "s-reader", "hand-up", json::object{{"hand", true}});
  auto b = sink.of(EventType::broadcast).back();
  EXPECT_EQ(b.account_id, account);
  EXPECT_EQ(b.detail, "hand-up");
  EXPECT_EQ(b.except_socket, "s-reader");
  EXPECT_EQ(b.to_sockets, (std::vector<std::string>{"s-guest-in", "s-owner", "s-owner-2"}));
  EXPECT_EQ(b.payload,
            (json::object{
                {"event", "hand-up"}, {"payload", json::object{{"hand", true}}}, {"hub_id", hub}}));
  EXPECT_EQ(code_of([&] { calls.broadcast("nope", "s-reader", "e", 1); }), Errc::not_found);
}

TEST_F(Hubs, AnUpdateIsStoredOnTheParticipantAndToldToTheHub) {
  calls.connect({"s-owner", account, owner, "drumee"});
  calls.connect({"s-reader", account, reader, "drumee"});
  auto conf = hub_room(hub, "meeting");
  auto me = join(conf, reader, "s-reader");
  // Not the caller's socket, or not in the room: nothing happens.
  EXPECT_FALSE(calls.update(conf, "s-reader", owner, json::object{{"x", 1}}, "").has_value());
  EXPECT_FALSE(calls.update(conf, "s-owner", owner, json::object{{"x", 1}}, "").has_value());
  EXPECT_TRUE(sink.of(EventType::room_update).empty());

  auto data = calls.update(conf, "s-reader", reader, json::object{{"audio", false}}, "mic");
  ASSERT_TRUE(data.has_value());
  json::object want_meta{{"audio", false}, {"uid", reader}};
  EXPECT_EQ(*data, (json::object{{"room_id", conf},
                                 {"socket_id", "s-reader"},
                                 {"metadata", want_meta},
                                 {"timestamp", clock * 1000},
                                 {"event", "mic"}}));
  EXPECT_EQ(svc.room(conf)->find(me.participant_id)->metadata, want_meta);
  auto e = sink.of(EventType::room_update).back();
  EXPECT_EQ(e.conference_id, conf);
  EXPECT_EQ(e.detail, "mic");
  EXPECT_EQ(e.to_sockets, std::vector<std::string>{"s-owner"});
  EXPECT_EQ(e.except_socket, "s-reader");
  EXPECT_EQ(e.payload, *data);
  ASSERT_TRUE(e.participant.has_value());
  EXPECT_EQ(e.participant->metadata, want_meta);

  svc.set_participant_metadata(conf, me.participant_id, json::object{{"v", 2}});
  EXPECT_EQ(svc.room(conf)->find(me.participant_id)->metadata, (json::object{{"v", 2}}));
  EXPECT_EQ(code_of([&] { svc.set_participant_metadata(conf, 99, {}); }), Errc::not_found);
  EXPECT_EQ(code_of([&] { svc.set_participant_metadata("nope", 1, {}); }), Errc::not_found);
}

TEST_F(Hubs, TheHubOfAServiceAndThePrivilegeItNeeds) {
  auto conf = hub_room(hub, "meeting");
  TokenClaims reader_claims{account, reader, clock + 60, "login"};
  TokenClaims stranger_claims{other_account, user(other_account, "eve"), clock + 60, "login"};
  EXPECT_EQ(calls.hub_scope("join", &reader_claims, conf, "").id, hub);
  EXPECT_EQ(calls.hub_scope("accept", &reader_claims, "", hub).id, hub);
  EXPECT_EQ(code_of([&] { calls.hub_scope("invite", &reader_claims, conf, ""); }), Errc::forbidden);
  EXPECT_EQ(code_of([&] { calls.hub_scope("join", &stranger_claims, "", hub); }), Errc::forbidden);
  EXPECT_NO_THROW(calls.hub_scope("join", nullptr, "", hub));  // a guest is anonymous
  EXPECT_EQ(code_of([&] { calls.hub_scope("accept", nullptr, "", hub); }), Errc::forbidden);
  // A conference made by another face is in no hub; unknown ids are not found.
  auto w = svc.prepare("conference", account, {}, WriteMode::create,
                       json::object{{"name", "Phone bridge"}});
  svc.commit(w);
  EXPECT_EQ(code_of([&] { calls.hub_scope("join", nullptr, w.doc.id, hub); }), Errc::not_found);
  EXPECT_EQ(code_of([&] { calls.hub_scope("join", nullptr, "nope", ""); }), Errc::not_found);
  EXPECT_EQ(code_of([&] { calls.hub_scope("join", nullptr, "", "nope"); }), Errc::not_found);
}

TEST_F(Hubs, ParticipantsAreFoundBySocketOrByTheirNumberInOneRoom) {
  auto a = hub_room(hub, "meeting"), b = hub_room(hub, "webinar");
  join(a, owner, "s1");
  join(a, reader, "s2");
  join(b, reader, "s3");
  auto by_socket = calls.find_participant("s2", 0, "", "");
  ASSERT_TRUE(by_socket.has_value());
  EXPECT_EQ(by_socket->first, a);
  EXPECT_EQ(by_socket->second.participant_id, 2);
  EXPECT_EQ(calls.find_participant("x", 2, "", hub)->first, a);       // only room a has a 2
  EXPECT_FALSE(calls.find_participant("x", 1, "", hub).has_value());  // both rooms have a 1
  EXPECT_EQ(calls.find_participant("x", 1, b, "")->second.user_id, reader);
  EXPECT_FALSE(calls.find_participant("x", 0, a, "").has_value());
  EXPECT_EQ(calls.hub_room_of("s3"), b);
  EXPECT_EQ(calls.hub_room_of("nope"), "");
}

TEST_F(Hubs, TheRoomOfACallAndTheCallRingingForSomeone) {
  calls.connect({"s-owner", account, owner, "drumee"});
  calls.connect({"s-reader", account, reader, "drumee"});
  auto conf = hub_room(hub, "connect");
  join(conf, owner, "s-owner");
  EXPECT_EQ(calls.call_room(hub, "s-owner", reader), "");
  EXPECT_EQ(calls.ringing(reader, ""), nullptr);
  calls.invite(account, conf, owner, "s-owner", reader, Role::member, {});
  EXPECT_EQ(calls.call_room(hub, "s-owner", reader), conf);
  ASSERT_NE(calls.ringing(reader, "s-owner"), nullptr);
  EXPECT_EQ(calls.ringing(reader, "")->conference_id, conf);
  EXPECT_EQ(calls.ringing(reader, "s-other"), nullptr);
  calls.accept(account, reader, "s-reader", "s-owner");
  EXPECT_EQ(calls.ringing(reader, ""), nullptr);
  EXPECT_EQ(calls.call_room(hub, "s-owner", reader), conf);  // in the room now
  auto other_hub = new_hub(account, json::object{{"name", "Other"}});
  EXPECT_EQ(calls.call_room(other_hub, "s-owner", reader), "");
}

TEST_F(Hubs, AttendeesSeeARoomWithoutItsSecrets) {
  auto w = svc.prepare("conference", account, {}, WriteMode::create,
                       json::parse(R"({"name":"c","hub_id":")" + hub + R"(",
                         "moderator":{"pins":["9999"],"join_muted":false},
                         "member":{"pins":["1234"]},"bridge_password":"s3cret"})"));
  svc.commit(w);
  auto seen = attendee_view(*svc.directory().find("conference", w.doc.id));
  EXPECT_EQ(seen.at("name"), "c");
  EXPECT_FALSE(seen.at("moderator").as_object().contains("pins"));
  EXPECT_EQ(seen.at("moderator").at("join_muted"), false);
  EXPECT_FALSE(seen.at("member").as_object().contains("pins"));
  EXPECT_FALSE(seen.contains("bridge_password"));
  for (auto& [k, v] : seen) EXPECT_FALSE(k.starts_with("pvt_")) << k;
}
