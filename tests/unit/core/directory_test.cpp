#include "core/directory.hpp"
#include "core/error.hpp"

#include <gtest/gtest.h>

using namespace confab::core;
using confab::Errc;
using confab::Error;

namespace {
Doc conf(std::string id, std::string account = "a") {
  return Doc{"conference", std::move(id), std::move(account), 1, {}};
}
}  // namespace

TEST(Directory, ConcurrentWritesClaimingTheSameNumberCannotBothWin) {
  Directory d;
  auto w1 = d.begin(conf("c1"), false, {{"numbers", "100", {}}});
  try {
    d.begin(conf("c2"), false, {{"numbers", "100", {}}});
    FAIL() << "second claim of a reserved number must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code, Errc::invalid_data);
    EXPECT_EQ(e.details.at("numbers").at("unique").at("message"), "Numbers already in use");
  }
  d.commit(w1);
  EXPECT_THROW(d.begin(conf("c2"), false, {{"numbers", "100", {}}}), Error);
  // Another account may use the same number.
  auto w3 = d.begin(conf("c3", "b"), false, {{"numbers", "100", {}}});
  d.commit(w3);
}

TEST(Directory, AbortReleasesReservationsAndRemovalFreesKeys) {
  Directory d;
  auto w1 = d.begin(conf("c1"), false, {{"numbers", "100", {}}});
  d.abort(w1);
  auto w2 = d.begin(conf("c2"), false, {{"numbers", "100", {}}});
  d.commit(w2);
  auto rm = d.begin(*d.find("conference", "c2"), true, {{"numbers", "100", {}}});
  d.commit(rm);
  EXPECT_EQ(d.find("conference", "c2"), nullptr);
  EXPECT_NO_THROW(d.commit(d.begin(conf("c4"), false, {{"numbers", "100", {}}})));
}

TEST(Directory, ADocumentKeepsItsOwnKeysOnUpdateAndOneWriteAtATime) {
  Directory d;
  d.commit(d.begin(conf("c1"), false, {{"numbers", "100", {}}}));
  auto w = d.begin(conf("c1"), false, {{"numbers", "100", {}}});
  try {
    d.begin(conf("c1"), false, {});
    FAIL() << "a second in-flight write to one document must conflict";
  } catch (const Error& e) {
    EXPECT_EQ(e.code, Errc::conflict);
  }
  d.commit(w);
  EXPECT_EQ(d.list("conference", "a").size(), 1u);
}

// Keys that are not unique index documents (a hub's rooms, API key hashes) without claiming.
TEST(Directory, TaggedKeysIndexWithoutClaiming) {
  Directory d;
  UniqueKey hub{"hub_id", "h1", {}, false};
  d.commit(d.begin(conf("c1"), false, {hub}));
  d.commit(d.begin(conf("c2"), false, {hub}));  // no conflict
  d.commit(d.begin(conf("c3", "b"), false, {hub}));
  auto in_a = d.tagged("conference", "a", hub);
  ASSERT_EQ(in_a.size(), 2u);
  EXPECT_EQ(in_a[0]->id, "c1");
  EXPECT_EQ(in_a[1]->id, "c2");
  // A replacement without the key, and a removal, take the document out of the index.
  d.commit(d.begin(conf("c1"), false, {}));
  d.commit(d.begin(*d.find("conference", "c2"), true, {hub}));
  EXPECT_TRUE(d.tagged("conference", "a", hub).empty());
  EXPECT_EQ(d.tagged("conference", "b", hub).size(), 1u);
  EXPECT_EQ(d.all("conference").size(), 2u);
}

TEST(Directory, ManyTakenNumbersAreOneCause) {
  Directory d;
  std::vector<UniqueKey> keys;
  for (int i = 0; i < 300; ++i) keys.push_back({"numbers", std::to_string(1000 + i), {}, true});
  d.commit(d.begin(conf("c1"), false, keys));
  try {
    d.begin(conf("c2"), false, keys);
    FAIL();
  } catch (const Error& e) {
    auto cause = std::string(e.details.at("numbers").at("unique").at("cause").as_string());
    EXPECT_TRUE(cause.starts_with("1000, 1001, ")) << cause;
    EXPECT_TRUE(cause.ends_with(", 1299")) << cause;
  }
}
