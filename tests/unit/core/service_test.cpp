#include "core/service.hpp"
#include "core/error.hpp"
#include "core/identity.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include "../support.hpp"

namespace json = boost::json;
using namespace confab::core;
using confab::Errc;
using confab::Error;
using confab::test::code_of;

namespace {

struct Fixture : ::testing::Test {
  confab::test::RecordingSink sink;
  std::int64_t clock = 1'000'000;
  ConferenceService svc{sink, [this] { return clock; }, "test-secret"};
  std::string account, api_key;

  void SetUp() override {
    auto w = svc.prepare_account(json::object{{"name", "Acme"}}, false, api_key);
    svc.commit(w);
    account = w.doc.id;
  }
  std::string create(json::value data) {
    auto w = svc.prepare("conference", account, {}, WriteMode::create, data);
    svc.commit(w);
    return w.doc.id;
  }
  // alice (password s3cret) in Acme, and user_auth of Acme from `source`, throttled.
  void add_alice() {
    svc.commit(svc.prepare("user", account, {}, WriteMode::create,
                           json::parse(R"({"first_name":"A","last_name":"B","username":"alice",
                                          "password":"s3cret"})")));
  }
  std::string user_auth(std::string_view creds, std::string_view source) {
    return svc.login("account:acme", source, [&] { return svc.auth_user(creds, "acme"); });
  }
};

}  // namespace

TEST_F(Fixture, ApiKeyAndUserCredentialsIssueTokensForTheirAccount) {
  TokenClaims c;
  auto token = svc.auth_api_key(api_key, &c);
  EXPECT_EQ(svc.verify(token).account_id, account);
  EXPECT_EQ(code_of([&] { svc.auth_api_key("nope"); }), Errc::unauthorized);

  auto w = svc.prepare("user", account, {}, WriteMode::create,
                       json::parse(R"({"first_name":"A","last_name":"B","username":"Alice",
                                      "password":"s3cret"})"));
  svc.commit(w);
  EXPECT_FALSE(w.doc.body.contains("password"));
  EXPECT_EQ(w.doc.body.at("username"), "alice");
  auto creds = user_credentials("alice", "s3cret");
  auto user_token = svc.auth_user(creds, "acme", &c);  // account names are case-insensitive
  EXPECT_EQ(c.user_id, w.doc.id);
  EXPECT_EQ(svc.verify(user_token).user_id, w.doc.id);
  EXPECT_EQ(code_of([&] { svc.auth_user(user_credentials("alice", "wrong"), "Acme"); }),
            Errc::unauthorized);
}

// Failed logins are throttled per source address and per target; a refusal comes before the
// credentials are looked at; another address with the right password still gets in.
TEST_F(Fixture, FailedLoginsAreThrottledPerSourceWithBackoff) {
  add_alice();
  auto creds = user_credentials("alice", "s3cret");
  auto wrong = user_credentials("alice", "guess");
  auto attempts = svc.config().logins.source_attempts;
  for (int i = 0; i < attempts; ++i)
    EXPECT_EQ(code_of([&] { user_auth(wrong, "6.6.6.6"); }), Errc::unauthorized);
  // The source waits now, even with the right credentials...
  try {
    user_auth(creds, "6.6.6.6");
    ADD_FAILURE() << "not throttled";
  } catch (const Error& e) {
    EXPECT_EQ(e.code, Errc::too_many_logins);
    EXPECT_EQ(e.details.at("scope"), "source");
    EXPECT_EQ(e.details.at("retry_after").as_int64(), svc.config().logins.source_backoff_s);
  }
  // ...and an API key from it too (a source is throttled whatever it names).
  EXPECT_EQ(code_of([&] { svc.check_login({}, "6.6.6.6"); }), Errc::too_many_logins);
  // The real user from elsewhere is not locked out.
  EXPECT_NO_THROW(user_auth(creds, "10.0.0.7"));
  clock += svc.config().logins.source_backoff_s;
  EXPECT_NO_THROW(user_auth(creds, "6.6.6.6"));  // served
  EXPECT_EQ(code_of([&] { user_auth(wrong, "6.6.6.6"); }), Errc::unauthorized);
  EXPECT_EQ(code_of([&] { user_auth(wrong, "6.6.6.6"); }), Errc::too_many_logins);  // 2 s now
  auto st = svc.login_guard().stats();
  EXPECT_EQ(st.failures, static_cast<std::uint64_t>(attempts + 1));
  EXPECT_EQ(st.refused_source, 3u);
  EXPECT_GE(st.lockouts, 2u);
}

TEST_F(Fixture, ALoginTargetGuessedFromManySourcesIsThrottledButKnownSourcesPass) {
  add_alice();
  auto creds = user_credentials("alice", "s3cret");
  EXPECT_NO_THROW(user_auth(creds, "10.0.0.7"));  // alice's usual address becomes known
  auto& cfg = svc.config().logins;
  int i = 0;
  for (; i < cfg.conference_attempts; ++i)  // a botnet: one guess per address
    EXPECT_EQ(
        code_of([&] { user_auth(user_credentials("alice", "g"), "6.6." + std::to_string(i)); }),
        Errc::unauthorized);
  try {
    user_auth(creds, "192.0.2.1");  // a new address waits for the next refill...
    ADD_FAILURE() << "not throttled";
  } catch (const Error& e) {
    EXPECT_EQ(e.code, Errc::too_many_logins);
    EXPECT_EQ(e.details.at("scope"), "target");
    EXPECT_LE(e.details.at("retry_after").as_int64(), cfg.conference_refill_max_s);
  }
  EXPECT_NO_THROW(user_auth(creds, "10.0.0.7"));  // ...a known one does not
  // Another account's logins are not affected.
  EXPECT_EQ(code_of([&] {
              svc.login("account:other", "192.0.2.1",
                        [&] { return svc.auth_user(creds, "other"); });
            }),
            Errc::unauthorized);
}

TEST_F(Fixture, TokensExpire) {
  auto token = svc.auth_api_key(api_key);
  clock += svc.config().token_ttl_seconds;
  EXPECT_EQ(code_of([&] { svc.verify(token); }), Errc::unauthorized);
}

TEST_F(Fixture, AccountIsolationAndAdminReach) {
  std::string other_key;
  auto w = svc.prepare_account(json::object{{"name", "Other"}}, false, other_key);
  svc.commit(w);
  TokenClaims mine{account, {}, clock + 10, "api_key"};
  EXPECT_EQ(code_of([&] { svc.authorize(mine, w.doc.id, Access::read); }), Errc::forbidden);
  EXPECT_NO_THROW(svc.authorize(mine, account, Access::write));
  EXPECT_EQ(code_of([&] { svc.authorize(mine, account, Access::manage_accounts); }),
            Errc::forbidden);
  std::string admin_key;
  auto admin = svc.prepare_account(json::object{{"name", "root"}}, true, admin_key);
  svc.commit(admin);
  TokenClaims root{admin.doc.id, {}, clock + 10, "api_key"};
  EXPECT_NO_THROW(svc.authorize(root, w.doc.id, Access::write));
  EXPECT_NO_THROW(svc.authorize(root, admin.doc.id, Access::manage_accounts));
}

TEST_F(Fixture, UsersWithUserPrivilegeChangeOnlyWhatTheyOwn) {
  auto w = svc.prepare("user", account, {}, WriteMode::create,
                       json::parse(R"({"first_name":"A","last_name":"B"})"));
  svc.commit(w);
  TokenClaims u{account, w.doc.id, clock + 10, "user_auth"};
  EXPECT_NO_THROW(svc.authorize(u, account, Access::read));
  EXPECT_NO_THROW(svc.authorize(u, account, Access::join));
  EXPECT_NO_THROW(svc.authorize(u, account, Access::write, w.doc.id));
  EXPECT_EQ(code_of([&] { svc.authorize(u, account, Access::write, "someone"); }), Errc::forbidden);
}

TEST_F(Fixture, PatchMergesAndBumpsRevisionReplaceDropsKeys) {
  auto id = create(json::parse(R"({"name":"a","extra":1,"member":{"pins":["1"]}})"));
  auto p = svc.prepare("conference", account, id, WriteMode::patch,
                       json::parse(R"({"member":{"join_deaf":true}})"));
  svc.commit(p);
  auto& d = svc.get("conference", account, id);
  EXPECT_EQ(d.revision, 2);
  EXPECT_EQ(d.body.at("member").at("pins"), json::array{"1"});
  EXPECT_EQ(d.body.at("member").at("join_deaf"), true);
  EXPECT_EQ(d.body.at("extra"), 1);
  auto r =
      svc.prepare("conference", account, id, WriteMode::replace, json::parse(R"({"name":"b"})"));
  svc.commit(r);
  EXPECT_FALSE(svc.get("conference", account, id).body.contains("extra"));
  EXPECT_EQ(svc.get("conference", account, id).revision, 3);
}

TEST_F(Fixture, NumbersAreUniqueAcrossAllListsOfAnAccount) {
  create(json::parse(R"({"name":"a","member":{"numbers":["500"]}})"));
  EXPECT_EQ(code_of([&] {
              svc.prepare("conference", account, {}, WriteMode::create,
                          json::parse(R"({"name":"b","conference_numbers":["500"]})"));
            }),
            Errc::invalid_data);
}

TEST_F(Fixture, WrongPinsAreCountedAndLockTheCallerOut) {
  auto id = create(json::parse(R"({"name":"a","member":{"pins":["1234"]}})"));
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(code_of([&] { svc.join(account, id, {.number = "555", .pin = "0"}); }),
              Errc::bad_pin);
  EXPECT_EQ(svc.bad_pin_attempts(id), 3);
  EXPECT_EQ(code_of([&] { svc.join(account, id, {.number = "555", .pin = "1234"}); }),
            Errc::too_many_attempts);
  EXPECT_NO_THROW(svc.join(account, id, {.number = "777", .pin = "1234"}));  // another caller
  clock += svc.config().pin_lockout_seconds;
  EXPECT_NO_THROW(svc.join(account, id, {.number = "555", .pin = "1234"}));
  EXPECT_EQ(svc.room(id)->participants().size(), 2u);
}

TEST_F(Fixture, RoomLivesWhileItHasParticipantsAndIdsRestart) {
  auto id = create(json::parse(R"({"name":"a"})"));
  EXPECT_EQ(code_of([&] { svc.conference_action(account, id, "lock"); }), Errc::not_found);
  auto p1 = svc.join(account, id, {.name = "a"});
  auto p2 = svc.join(account, id, {.name = "b"});
  EXPECT_EQ(p2.participant_id, 2);
  svc.leave(account, id, p1.participant_id, "left");
  svc.leave(account, id, p2.participant_id, "left");
  EXPECT_EQ(svc.room(id), nullptr);
  EXPECT_EQ(sink.events.back().type, EventType::conference_destroy);
  EXPECT_EQ(svc.join(account, id, {}).participant_id, 1);
}

TEST_F(Fixture, DeletingAConferenceEndsItsRoom) {
  auto id = create(json::parse(R"({"name":"a"})"));
  svc.join(account, id, {});
  auto rm = svc.prepare("conference", account, id, WriteMode::remove, nullptr);
  EXPECT_NE(svc.room(id), nullptr);  // nothing happens before the store has it
  svc.commit(rm);
  EXPECT_EQ(svc.room(id), nullptr);
  EXPECT_EQ(sink.events.back().type, EventType::conference_destroy);
}

TEST_F(Fixture, FailedJoinOfANewRoomLeavesNoRoomBehind) {
  auto id = create(json::parse(R"({"name":"a","member":{"pins":["1"]}})"));
  sink.events.clear();  // the document's own conference-update
  EXPECT_THROW(svc.join(account, id, {.pin = "2"}), Error);
  EXPECT_EQ(svc.room(id), nullptr);
  EXPECT_TRUE(sink.events.empty());
}

TEST_F(Fixture, OtherAccountsConferencesAreNotFound) {
  auto id = create(json::parse(R"({"name":"a"})"));
  EXPECT_EQ(code_of([&] { svc.join("other", id, {}); }), Errc::not_found);
  EXPECT_EQ(code_of([&] { svc.get("conference", "other", id); }), Errc::not_found);
}
