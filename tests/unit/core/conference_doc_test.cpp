#include "core/conference_doc.hpp"
#include "core/error.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace json = boost::json;
using confab::Errc;
using confab::Error;
using confab::core::validate_conference;

namespace {

json::object errors_of(const json::value& in) {
  try {
    validate_conference(in);
  } catch (const Error& e) {
    EXPECT_EQ(e.code, Errc::invalid_data);
    return e.details;
  }
  ADD_FAILURE() << "expected a validation error for " << json::serialize(in);
  return {};
}

}  // namespace

TEST(ConferenceDoc, AppliesKazooDefaults) {
  auto doc = validate_conference(json::parse(R"({"name":"Daily"})"));
  EXPECT_EQ(doc.at("member").at("join_muted"), true);
  EXPECT_EQ(doc.at("member").at("join_deaf"), false);
  EXPECT_EQ(doc.at("moderator").at("join_muted"), false);
  EXPECT_EQ(doc.at("moderator").at("pins"), json::array{});
  EXPECT_EQ(doc.at("play_name"), false);
  EXPECT_EQ(doc.at("conference_numbers"), json::array{});
}

TEST(ConferenceDoc, KeepsUnknownKeysDropsReadOnlyAndPrivate) {
  auto doc = validate_conference(json::parse(
      R"({"name":"x","ui_metadata":{"ui":"kazoo-ui"},"id":"abc","_read_only":{},"pvt_x":1,"focus":"f"})"));
  EXPECT_EQ(doc.at("ui_metadata").at("ui"), "kazoo-ui");
  EXPECT_FALSE(doc.contains("id"));
  EXPECT_FALSE(doc.contains("_read_only"));
  EXPECT_FALSE(doc.contains("pvt_x"));
  EXPECT_FALSE(doc.contains("focus"));
}

TEST(ConferenceDoc, ExplicitValuesWinOverDefaults) {
  auto doc = validate_conference(json::parse(R"({"name":"x","member":{"join_muted":false}})"));
  EXPECT_EQ(doc.at("member").at("join_muted"), false);
}

TEST(ConferenceDoc, ReportsEveryFailingFieldWithItsRule) {
  auto e = errors_of(json::parse(
      R"({"name":"","owner_id":"short","member":{"pins":["12a4",7]},"max_participants":-1,
          "play_entry_tone":"","moderator":{"join_muted":"yes"}})"));
  EXPECT_TRUE(e.at("name").as_object().contains("minLength"));
  EXPECT_TRUE(e.at("owner_id").as_object().contains("minLength"));
  EXPECT_TRUE(e.at("member.pins.0").as_object().contains("pattern"));
  EXPECT_TRUE(e.at("member.pins.1").as_object().contains("type"));
  EXPECT_TRUE(e.at("max_participants").as_object().contains("minimum"));
  EXPECT_TRUE(e.at("play_entry_tone").as_object().contains("minLength"));
  EXPECT_TRUE(e.at("moderator.join_muted").as_object().contains("type"));
  EXPECT_EQ(e.at("name").at("minLength").at("message"), "String must be at least 1 characters");
}

TEST(ConferenceDoc, NameIsRequiredAndBounded) {
  EXPECT_TRUE(errors_of(json::parse("{}")).at("name").as_object().contains("required"));
  json::object big{{"name", std::string(129, 'a')}};
  EXPECT_TRUE(errors_of(big).at("name").as_object().contains("maxLength"));
  EXPECT_NO_THROW(validate_conference(json::object{{"name", std::string(128, 'a')}}));
}

TEST(ConferenceDoc, RejectsNonObjectsAndWrongTypes) {
  EXPECT_THROW(validate_conference(json::parse("[]")), Error);
  EXPECT_TRUE(errors_of(json::parse(R"({"name":1})")).at("name").as_object().contains("type"));
  EXPECT_TRUE(errors_of(json::parse(R"({"name":"a","conference_numbers":"100"})"))
                  .at("conference_numbers")
                  .as_object()
                  .contains("type"));
  EXPECT_TRUE(errors_of(json::parse(R"({"name":"a","max_participants":2.5})"))
                  .at("max_participants")
                  .as_object()
                  .contains("type"));
}

TEST(ConferenceDoc, PinsAreOneToSixteenDigitsAndUnique) {
  EXPECT_TRUE(errors_of(json::parse(R"({"name":"a","member":{"pins":["12345678901234567"]}})"))
                  .at("member.pins.0")
                  .as_object()
                  .contains("maxLength"));
  EXPECT_TRUE(errors_of(json::parse(R"({"name":"a","member":{"pins":["1","1"]}})"))
                  .at("member.pins")
                  .as_object()
                  .contains("uniqueItems"));
}

TEST(ConferenceDoc, TonesAcceptBooleanOrNonEmptyString) {
  EXPECT_NO_THROW(validate_conference(json::parse(R"({"name":"a","play_entry_tone":true})")));
  EXPECT_NO_THROW(validate_conference(
      json::parse(R"j({"name":"a","play_exit_tone":"tone_stream://%(200,0,500)"})j")));
  EXPECT_TRUE(errors_of(json::parse(R"({"name":"a","play_exit_tone":3})"))
                  .at("play_exit_tone")
                  .as_object()
                  .contains("type"));
}

TEST(ConferenceDoc, NumbersGatherAllDialInLists) {
  auto doc = validate_conference(json::parse(
      R"({"name":"a","conference_numbers":["100"],"member":{"numbers":["200","100"]},
          "moderator":{"numbers":["300"]}})"));
  EXPECT_EQ(confab::core::conference_numbers(doc), (std::vector<std::string>{"100", "200", "300"}));
}

TEST(ConferenceDoc, MergePatchIsRecursive) {
  auto base = json::parse(R"({"name":"a","member":{"join_muted":true,"pins":["1"]}})").as_object();
  auto patch = json::parse(R"({"member":{"join_muted":false},"play_name":true})").as_object();
  auto m = confab::core::merge_patch(base, patch);
  EXPECT_EQ(m.at("member").at("join_muted"), false);
  EXPECT_EQ(m.at("member").at("pins"), json::array{"1"});
  EXPECT_EQ(m.at("play_name"), true);
  EXPECT_EQ(m.at("name"), "a");
}
