// Media requests on live rooms: playing a prompt or a tone, recording the mix. The core checks
// what is asked and records that it was (command events); the media bridge carries them out.
#include "core/error.hpp"
#include "core/field_errors.hpp"
#include "core/service.hpp"
#include "media/tone.hpp"

#include <stdexcept>

namespace confab::core {
namespace json = boost::json;

void ConferenceService::check_media_ref(std::string_view account_id, std::string_view ref,
                                        std::string_view field) const {
  if (ref.starts_with(media::kToneScheme)) {
    try {
      media::parse_tone(ref);
    } catch (const std::invalid_argument& e) {
      throw field_error(field, "pattern", e.what());
    }
    return;
  }
  auto* doc = dir_.find("media", ref);
  if (!doc || doc->account_id != account_id)  // Kazoo: bad_identifier, as for any unknown id
    throw Error(Errc::not_found, "bad identifier", json::object{{"cause", ref}});
  auto* len = doc->body.if_contains("content_length");
  if (!len || !len->is_int64() || len->as_int64() <= 0)
    throw field_error(field, "unavailable",
                      "media " + std::string(ref) + " has no audio uploaded yet");
}

json::object ConferenceService::media_payload(std::string_view account_id,
                                              const json::value& data) const {
  if (!data.is_object())
    throw field_error("data", "required", "action 'play' requires a data object");
  const json::value* v = data.as_object().if_contains("media_id");
  if (!v || (v->is_string() && v->as_string().empty()))
    throw field_error("data.media_id", "required", "action 'play' requires a media ID or URL");
  if (!v->is_string())
    throw field_error("data.media_id", "type", "Value did not match type(s): string");
  std::string ref(v->as_string());
  require_text("data.media_id", ref, 1, limits::kTextBytes);  // an id or a tone string
  check_media_ref(account_id, ref, "data.media_id");
  return json::object{{"media_id", ref}};
}

bool ConferenceService::record_switch(const json::value& data) {
  const json::value* v = data.is_object() ? data.as_object().if_contains("action") : nullptr;
  // The record action itself may sit in data.action ("record"); the switch is then in
  // data.record_action.
  if (v && v->is_string() && v->as_string() == "record") v = nullptr;
  if (!v && data.is_object()) v = data.as_object().if_contains("record_action");
  if (!v) throw field_error("action", "required", "start or stop is required");
  if (v->is_string() && v->as_string() == "start") return true;
  if (v->is_string() && v->as_string() == "stop") return false;
  throw field_error("action", "enum", "Value not found in enumerated list of values: start, stop");
}

}  // namespace confab::core
