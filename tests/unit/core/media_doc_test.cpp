#include "core/media_doc.hpp"
#include "../support.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace json = boost::json;
using confab::Errc;
using confab::Error;
using confab::core::validate_media;
using confab::core::validate_recording;
using confab::core::WriteMode;

namespace {

template <typename F>
json::object errors_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code, Errc::invalid_data);
    return e.details;
  }
  ADD_FAILURE() << "expected a validation error";
  return {};
}

const json::object kFacts{
    {"content_type", "audio/wav"}, {"media_type", "wav"}, {"content_length", 64078},
    {"sample_rate", 16000},        {"channels", 1},       {"duration_ms", 2000}};

json::object recording() {
  return json::object{{"conference_id", "c1"}, {"name", "Weekly"},     {"start", 1700000000},
                      {"duration_ms", 61000},  {"content_length", 44}, {"sample_rate", 16000},
                      {"channels", 1}};
}

using MediaWorld = confab::test::CoreWorld;

}  // namespace

TEST(MediaDoc, AppliesKazooDefaultsAndKeepsUnknownKeys) {
  auto doc = validate_media(json::parse(R"({"name":"hold","ui_metadata":{"x":1},"pvt_y":2})"),
                            nullptr, false);
  EXPECT_EQ(doc.at("media_source"), "upload");
  EXPECT_EQ(doc.at("streamable"), true);
  EXPECT_EQ(doc.at("language"), "en-us");
  EXPECT_EQ(doc.at("ui_metadata").at("x"), 1);
  EXPECT_FALSE(doc.contains("pvt_y"));
}

TEST(MediaDoc, ReportsEveryFailingField) {
  auto e = errors_of([] {
    validate_media(json::parse(R"({"description":"","streamable":"yes","owner_id":"short",
                                   "media_source":"somewhere"})"),
                   nullptr, false);
  });
  EXPECT_TRUE(e.at("name").as_object().contains("required"));
  EXPECT_TRUE(e.at("description").as_object().contains("minLength"));
  EXPECT_TRUE(e.at("streamable").as_object().contains("type"));
  EXPECT_TRUE(e.at("owner_id").as_object().contains("minLength"));
  EXPECT_TRUE(e.at("media_source").as_object().contains("enum"));
  auto long_name = errors_of([] {
    validate_media(json::object{{"name", std::string(129, 'n')}}, nullptr, false);
  });
  EXPECT_TRUE(long_name.at("name").as_object().contains("maxLength"));
}

TEST(MediaDoc, RecordingAndTtsSourcesAreRefusedClearly) {
  for (auto src : {"recording", "tts"}) {
    auto e = errors_of([&] {
      validate_media(json::object{{"name", "x"}, {"media_source", src}}, nullptr, false);
    });
    auto msg = std::string(e.at("media_source").at("enum").at("message").as_string());
    EXPECT_NE(msg.find("only uploaded WAV files"), std::string::npos) << msg;
  }
  auto e = errors_of([] {
    validate_media(json::parse(R"({"name":"x","tts":{"text":"hello"}})"), nullptr, false);
  });
  EXPECT_TRUE(e.at("tts.text").as_object().contains("unsupported"));
}

TEST(MediaDoc, FileFactsAreTheServersAlone) {
  auto input = kFacts;
  input["name"] = "x";
  input["content_length"] = 1;  // a client's claim
  auto doc = validate_media(input, nullptr, false);
  for (auto key : confab::core::kMediaFileFacts) EXPECT_FALSE(doc.contains(key)) << key;

  auto old = kFacts;  // what the server wrote after an upload
  old["name"] = "x";
  auto kept = validate_media(input, &old, false);
  EXPECT_EQ(kept.at("content_length"), 64078);
  EXPECT_EQ(kept.at("duration_ms"), 2000);

  auto uploaded = validate_media(input, &old, true);
  EXPECT_EQ(uploaded.at("content_length"), 1);
  auto bad = errors_of([&] {
    auto b = input;
    b["sample_rate"] = "fast";
    validate_media(b, nullptr, true);
  });
  EXPECT_TRUE(bad.at("sample_rate").as_object().contains("type"));
}

TEST(RecordingDoc, FillsTheConstantsAndRequiresTheFacts) {
  auto doc = validate_recording(recording());
  EXPECT_EQ(doc.at("media_source"), "recorded");
  EXPECT_EQ(doc.at("source_type"), "conference");
  EXPECT_EQ(doc.at("content_type"), "audio/wav");
  EXPECT_EQ(doc.at("media_type"), "wav");
  auto e = errors_of([] {
    validate_recording(json::object{{"name", "x"}, {"media_source", "x"}});
  });
  for (auto key :
       {"conference_id", "start", "duration_ms", "content_length", "sample_rate", "channels"})
    EXPECT_TRUE(e.at(key).as_object().contains("required")) << key;
  EXPECT_TRUE(e.at("media_source").as_object().contains("enum"));
  auto neg = errors_of([] {
    auto r = recording();
    r["duration_ms"] = -1;
    validate_recording(r);
  });
  EXPECT_TRUE(neg.at("duration_ms").as_object().contains("minimum"));
}

TEST_F(MediaWorld, ServicePreparesMediaAndRecordings) {
  auto account = new_account("a");
  confab::core::TokenClaims client{account, "", clock + 60, "api_key"};
  auto w =
      svc.prepare("media", account, {}, WriteMode::create, json::object{{"name", "hold"}}, &client);
  svc.commit(w);
  // An upload: the server (no actor) sets the facts; a client's patch cannot undo them.
  auto up = svc.prepare("media", account, w.doc.id, WriteMode::patch, kFacts);
  svc.commit(up);
  auto patch = svc.prepare("media", account, w.doc.id, WriteMode::patch,
                           json::object{{"name", "hold 2"}, {"content_length", 3}}, &client);
  svc.commit(patch);
  auto& d = svc.get("media", account, w.doc.id);
  EXPECT_EQ(d.body.at("name"), "hold 2");
  EXPECT_EQ(d.body.at("content_length"), 64078);
  EXPECT_EQ(d.revision, 3);

  auto r = svc.prepare("recording", account, {}, WriteMode::create, recording());
  svc.commit(r);
  EXPECT_EQ(svc.get("recording", account, r.doc.id).body.at("conference_id"), "c1");
  EXPECT_EQ(confab::test::code_of([&] {
              svc.prepare("recording", account, {}, WriteMode::create, recording(), &client);
            }),
            Errc::forbidden);
  auto rm = svc.prepare("recording", account, r.doc.id, WriteMode::remove, {}, &client);
  svc.commit(rm);
  EXPECT_EQ(svc.directory().list("recording", account).size(), 0u);
}
