#pragma once
// Media and recording documents. A media document is Kazoo's (crossbar's media schema): metadata a
// client writes, plus the facts of its uploaded WAV that only the server sets. A recording is
// written by the server alone, when a conference recording stops.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <string_view>

namespace confab::core {

// What the server knows of a media document's file; a client's values for these are ignored.
inline constexpr std::array<std::string_view, 6> kMediaFileFacts = {
    "content_type", "content_length", "media_type", "sample_rate", "channels", "duration_ms"};

// kind "media". `old`: the document being replaced or patched, whose file facts carry over.
// `server`: the server writes (an upload), and the facts in `input` are the new file's.
// Defaults: media_source "upload", streamable true, language "en-us". Unknown keys are kept.
// Throws Error{invalid_data} listing every failing field; media_source "recording" or "tts" and
// tts.text are refused with a message saying that only uploaded WAV files are supported.
boost::json::object validate_media(const boost::json::value& input, const boost::json::object* old,
                                   bool server);

// kind "recording": {conference_id, name, start (unix seconds), duration_ms, content_length,
// sample_rate, channels} required; media_source "recorded", source_type "conference",
// content_type "audio/wav" and media_type "wav" are filled in when absent and must have those
// values when present. Unknown keys are kept.
boost::json::object validate_recording(const boost::json::value& input);

}  // namespace confab::core
