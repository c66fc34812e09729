#include "core/token.hpp"
#include "core/error.hpp"

#include <gtest/gtest.h>

using namespace confab::core;
using confab::Errc;
using confab::Error;

TEST(Token, RoundTripsItsClaims) {
  auto t = issue_token("secret", {"acct", "user", 1000, "user_auth"});
  auto c = verify_token("secret", t, 999);
  EXPECT_EQ(c.account_id, "acct");
  EXPECT_EQ(c.user_id, "user");
  EXPECT_EQ(c.expires, 1000);
  EXPECT_EQ(c.method, "user_auth");
}

TEST(Token, RejectsExpiredForgedAndMalformed) {
  auto t = issue_token("secret", {"acct", "", 1000, "api_key"});
  auto rejects = [](std::string_view secret, std::string_view token, std::int64_t now) {
    try {
      verify_token(secret, token, now);
    } catch (const Error& e) {
      return e.code == Errc::unauthorized;
    }
    return false;
  };
  EXPECT_TRUE(rejects("secret", t, 1000));  // expired at its expiry second
  EXPECT_TRUE(rejects("other", t, 10));     // signed with another secret
  auto forged = t;
  forged[2] = forged[2] == 'A' ? 'B' : 'A';  // payload changed, signature kept
  EXPECT_TRUE(rejects("secret", forged, 10));
  EXPECT_TRUE(rejects("secret", "", 10));
  EXPECT_TRUE(rejects("secret", "no-dot", 10));
  EXPECT_TRUE(rejects("secret", std::string(600, 'a') + ".b", 10));
}
