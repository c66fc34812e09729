#include "core/media_doc.hpp"

#include "core/conference_doc.hpp"
#include "core/error.hpp"
#include "core/field_errors.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <string>

namespace confab::core {
namespace json = boost::json;

namespace {

void require(Report& r, const json::object& o, std::string_view key) {
  if (!o.contains(key)) r.fail(std::string(key), "required", "Field is required but missing");
}

// A field that, when present, must hold one value; absent, it gets that value.
void fixed_string(Report& r, json::object& o, std::string_view key, std::string_view value) {
  auto* v = o.if_contains(key);
  if (!v) {
    o[key] = value;
  } else if (!v->is_string() || v->as_string() != value) {
    r.fail(std::string(key), "enum", "Value not found in enumerated list of values",
           json::array{json::string(value)});
  }
}

void check_fact_types(Report& r, const json::object& doc) {
  check_string(r, doc, "content_type", "content_type", 1);
  check_string(r, doc, "media_type", "media_type", 1);
  constexpr std::int64_t kMax = INT64_MAX;
  check_int(r, doc, "content_length", "content_length", 0, kMax);
  check_int(r, doc, "sample_rate", "sample_rate", 1, kMax);
  check_int(r, doc, "channels", "channels", 1, kMax);
  check_int(r, doc, "duration_ms", "duration_ms", 0, kMax);
}

}  // namespace

json::object validate_media(const json::value& input, const json::object* old, bool server) {
  auto doc = require_object(input);
  if (!server)
    for (auto key : kMediaFileFacts) doc.erase(key);
  if (old)
    for (auto key : kMediaFileFacts)
      if (auto* v = old->if_contains(key); v && !doc.contains(key)) doc[key] = *v;

  Report r;
  check_tree(r, doc, "", is_private_key);
  require(r, doc, "name");
  check_string(r, doc, "name", "name", 1, limits::kNameBytes);
  check_string(r, doc, "description", "description", 1, limits::kNameBytes, TextKind::text);
  check_string(r, doc, "language", "language", 1, 32);
  check_string(r, doc, "owner_id", "owner_id", 32, 32);
  check_string(r, doc, "source_id", "source_id", 32, 32);
  check_string(r, doc, "prompt_id", "prompt_id", 1, limits::kIdBytes);
  check_string(r, doc, "source_type", "source_type", 1, limits::kIdBytes);
  check_bool(r, doc, "streamable", "streamable");
  if (auto* s = doc.if_contains("media_source")) {
    if (!s->is_string()) {
      r.fail("media_source", "type", "Value did not match type(s): string");
    } else if (s->as_string() == "recording" || s->as_string() == "tts") {
      r.fail("media_source", "enum",
             "media_source \"" + std::string(s->as_string()) +
                 "\" is not supported: only uploaded WAV files (\"upload\")",
             json::array{"upload"});
    } else if (s->as_string() != "upload") {
      r.fail("media_source", "enum", "Value not found in enumerated list of values",
             json::array{"upload"});
    }
  }
  if (auto* t = doc.if_contains("tts"); t && t->is_object() && t->as_object().contains("text"))
    r.fail("tts.text", "unsupported", "text-to-speech is not supported: upload a WAV file instead");
  check_fact_types(r, doc);
  r.throw_if_any();

  if (!doc.contains("media_source")) doc["media_source"] = "upload";
  if (!doc.contains("streamable")) doc["streamable"] = true;
  if (!doc.contains("language")) doc["language"] = "en-us";
  return doc;
}

json::object validate_recording(const json::value& input) {
  auto doc = require_object(input);
  Report r;
  check_tree(r, doc, "", is_private_key);
  for (auto key : {"conference_id", "name", "start", "duration_ms", "content_length", "sample_rate",
                   "channels"})
    require(r, doc, key);
  check_string(r, doc, "conference_id", "conference_id", 1, limits::kIdBytes);
  check_string(r, doc, "name", "name", 1, limits::kNameBytes);
  check_string(r, doc, "description", "description", 1, limits::kNameBytes, TextKind::text);
  check_int(r, doc, "start", "start", 0, INT64_MAX);
  check_fact_types(r, doc);
  fixed_string(r, doc, "media_source", "recorded");
  fixed_string(r, doc, "source_type", "conference");
  fixed_string(r, doc, "content_type", "audio/wav");
  fixed_string(r, doc, "media_type", "wav");
  r.throw_if_any();
  return doc;
}

}  // namespace confab::core
