#include "core/pin_guard.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace confab::core;

namespace {

PinCaller from(std::string number, std::string addr) {
  return {std::move(number), {"addr:" + std::move(addr)}};
}

}  // namespace

TEST(PinGuard, ACallerIsLockedOutOfOneConferenceAfterThreeWrongPins) {
  PinGuard g;
  std::int64_t t = 1000;
  auto who = from("555", "10.0.0.1");
  EXPECT_EQ(g.failed("c1", who, t), 2);
  EXPECT_EQ(g.failed("c1", who, t), 1);
  EXPECT_FALSE(g.check("c1", who, t));
  EXPECT_EQ(g.failed("c1", who, t), 0);
  auto r = g.check("c1", who, t + 1);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->scope, "caller");
  EXPECT_EQ(r->retry_after, 59);
  EXPECT_FALSE(g.check("c2", who, t + 1));  // another conference
  EXPECT_FALSE(g.check("c1", from("556", "10.0.0.1"), t + 1));
  EXPECT_FALSE(g.check("c1", who, t + 60));   // served
  EXPECT_EQ(g.failed("c1", who, t + 60), 2);  // and counting starts over
}

TEST(PinGuard, ASourceThatGuessesUnderManyNumbersBacksOffExponentially) {
  PinGuardConfig cfg;
  cfg.source_attempts = 4;
  cfg.source_backoff_s = 2;
  cfg.source_backoff_max_s = 16;
  cfg.conference_attempts = 1000;
  PinGuard g(cfg);
  std::int64_t t = 1000;
  for (int i = 0; i < 3; ++i)
    g.failed("c" + std::to_string(i), from(std::to_string(i), "6.6.6.6"), t);
  EXPECT_FALSE(g.check("c9", from("x", "6.6.6.6"), t));
  std::vector<std::int64_t> waits;
  for (int i = 3; i < 8; ++i) {
    auto who = from(std::to_string(i), "6.6.6.6");
    ASSERT_FALSE(g.check("c" + std::to_string(i), who, t));
    g.failed("c" + std::to_string(i), who, t);
    auto r = g.check("c-any", from("new", "6.6.6.6"), t);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->scope, "source");
    waits.push_back(r->retry_after);
    t += r->retry_after;  // the guesser waits exactly as told
  }
  EXPECT_EQ(waits, (std::vector<std::int64_t>{2, 4, 8, 16, 16}));  // doubling, capped
  // Another address is not affected.
  EXPECT_FALSE(g.check("c1", from("1", "7.7.7.7"), t));
  // Quiet for forget_s: the source starts afresh.
  t += cfg.forget_s + 20;
  EXPECT_FALSE(g.check("c1", from("1", "6.6.6.6"), t));
  g.failed("c1", from("1", "6.6.6.6"), t);
  EXPECT_FALSE(g.check("c1", from("2", "6.6.6.6"), t));
}

TEST(PinGuard, AConferenceUnderADistributedGuessSlowsNewCallersButNotItsMembers) {
  PinGuardConfig cfg;
  cfg.conference_attempts = 5;
  cfg.conference_refill_s = 3;
  cfg.conference_refill_max_s = 12;
  PinGuard g(cfg);
  std::int64_t t = 1000;
  auto member = from("100", "192.0.2.10");
  g.succeeded("room", member, t);  // a member proved the PIN earlier
  // Thirty wrong PINs, each from its own number and address: no caller or source lockout.
  int refused = 0;
  for (int i = 0; i < 30; ++i) {
    auto who = from("9" + std::to_string(i), "198.51.100." + std::to_string(i));
    if (auto r = g.check("room", who, t)) {
      EXPECT_EQ(r->scope, "conference");
      EXPECT_GE(r->retry_after, 1);
      EXPECT_LE(r->retry_after, cfg.conference_refill_max_s);
      ++refused;
      continue;
    }
    g.failed("room", who, t);
  }
  EXPECT_EQ(refused, 25);                    // only the bucket's five got through
  EXPECT_FALSE(g.check("room", member, t));  // the known member is let through at once
  EXPECT_FALSE(g.check("other-room", from("1", "198.51.100.1"), t));
  // A new caller waits one refill interval at most, never long.
  auto newcomer = from("200", "192.0.2.20");
  auto r = g.check("room", newcomer, t);
  ASSERT_TRUE(r);
  EXPECT_LE(r->retry_after, cfg.conference_refill_max_s);
  t += r->retry_after;
  EXPECT_FALSE(g.check("room", newcomer, t));
  // Each time the bucket runs dry the refill slows (6 s, then 12 s, the cap).
  g.failed("room", from("300", "198.51.100.200"), t);
  r = g.check("room", newcomer, t);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->retry_after, 12);
  // Once the attack stops, the bucket fills up and the normal pace returns.
  t += 12 * 5;
  EXPECT_FALSE(g.check("room", newcomer, t));
}

TEST(PinGuard, MemoryStaysBoundedWhenEveryGuessComesFromANewSource) {
  PinGuardConfig cfg;
  cfg.max_entries = 1000;
  cfg.conference_attempts = 1'000'000;
  PinGuard g(cfg);
  for (int i = 0; i < 20'000; ++i)
    g.failed("c" + std::to_string(i % 7), from(std::to_string(i), std::to_string(i)), 1000 + i);
  EXPECT_LE(g.stats().tracked, 3 * cfg.max_entries + 7);
  EXPECT_EQ(g.stats().failures, 20'000u);
  // The freshest entries are the ones kept: the latest guesser is still counted.
  auto last = from("19999", "19999");
  g.failed("c0", last, 21'000);  // its first try was in c0 (19999 % 7 == 0)
  g.failed("c0", last, 21'000);
  auto r = g.check("c0", last, 21'001);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->scope, "caller");
}

TEST(PinGuard, LockoutsAreReportedOnceWhenTheyStart) {
  PinGuard g;
  std::vector<std::string> seen;
  g.on_lockout([&](std::string_view scope, std::string_view key, std::string_view, std::int64_t) {
    seen.push_back(std::string(scope) + ":" + std::string(key));
  });
  auto who = from("555", "10.0.0.1");
  for (int i = 0; i < 3; ++i) g.failed("c1", who, 1000);
  EXPECT_EQ(seen, std::vector<std::string>{"caller:555"});
  EXPECT_EQ(g.stats().lockouts, 1u);
}

// The login throttle is this guard with no caller and the login's target as the "conference".
TEST(PinGuard, WithoutACallerOrAConferenceThoseScopesAreSkipped) {
  auto cfg = login_guard_defaults();
  PinGuard g(cfg);
  PinCaller who{"", {"addr:6.6.6.6"}};
  std::vector<std::string> seen;
  g.on_lockout([&](std::string_view scope, std::string_view key, std::string_view, std::int64_t) {
    seen.push_back(std::string(scope) + ":" + std::string(key));
  });
  // No target (an API key alone): only the source counts, and no bucket is kept.
  for (int i = 0; i < cfg.source_attempts; ++i) {
    ASSERT_FALSE(g.check("", who, 1000));
    g.failed("", who, 1000);
  }
  EXPECT_EQ(seen, std::vector<std::string>{"source:addr:6.6.6.6"});
  EXPECT_EQ(g.stats().tracked, 1u);
  auto r = g.check("", who, 1000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->scope, "source");
  // A target scope is named "target", and one source alone never empties it: its backoff holds
  // it to fewer failures than the bucket refills.
  PinGuard t(cfg);
  PinCaller one{"", {"addr:7.7.7.7"}};
  std::int64_t now = 1000;
  for (int i = 0; i < 200; ++i) {
    if (auto r = t.check("user:alice", one, now)) {
      EXPECT_EQ(r->scope, "source");
      now += r->retry_after;
      continue;
    }
    t.failed("user:alice", one, now);
  }
  EXPECT_FALSE(t.check("user:alice", PinCaller{"", {"addr:10.0.0.1"}}, now));
  // Three sources do empty it; then it is refused as "target", a known source excepted.
  PinGuard b(cfg);
  b.succeeded("user:bob", PinCaller{"", {"addr:10.0.0.1"}}, 1000);
  for (int s = 0; s < 3; ++s)
    for (int i = 0; i < cfg.source_attempts; ++i)
      b.failed("user:bob", PinCaller{"", {"addr:6.0.0." + std::to_string(s)}}, 1000);
  auto rt = b.check("user:bob", PinCaller{"", {"addr:192.0.2.1"}}, 1000);
  ASSERT_TRUE(rt);
  EXPECT_EQ(rt->scope, "target");
  b.count_refusal(*rt);
  EXPECT_EQ(b.stats().refused_conference, 1u);
  EXPECT_FALSE(b.check("user:bob", PinCaller{"", {"addr:10.0.0.1"}}, 1000));
}
