#pragma once
// The one error type of the control path. Core throws it; every face maps `code` to its own wire
// shape (Kazoo envelope, XiVO ConferenceCommandError, ...). `details` carries per-field reasons in
// the form {"<field path>": {"<rule>": {"message": "..."}}} so that faces need not re-derive them.
#include <boost/json/object.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace confab {

enum class Errc {
  invalid_data,       // a document or command failed validation
  parse_error,        // the body is not the JSON it should be
  not_found,          // unknown account, conference, participant, user
  forbidden,          // authenticated, but not allowed to do this
  unauthorized,       // no or bad credentials / token
  conflict,           // concurrent change to the same document
  invalid_method,     // the path exists, the method does not
  unknown_action,     // an action name that is not one of the documented ones
  room_locked,        // join refused: the room is locked
  room_full,          // join refused: max_participants reached
  bad_pin,            // join refused: PIN does not match
  too_many_attempts,  // join refused: too many bad PINs from this caller
  too_many_logins,    // login refused: too many failed logins from this source or for this name
  too_large,          // request body over the configured limit
  unavailable,        // the store failed; nothing was written
  not_a_member,
  not_organizer,
  cannot_kick_organizer,
  not_acceptable,          // an SDP offer confab cannot take (SIP's 488 Not Acceptable Here)
  unsupported_media_type,  // a body in a type or an encoding we do not take (an upload)
};

std::string_view errc_name(Errc c);

struct Error : std::runtime_error {
  Error(Errc c, std::string msg, boost::json::object d = {})
      : std::runtime_error(msg), code(c), message(std::move(msg)), details(std::move(d)) {}
  Errc code;
  std::string message;
  boost::json::object details;
};

// Validation error for one field and one rule: {"<field>": {"<rule>": {"message": msg}}}.
Error field_error(std::string_view field, std::string_view rule, std::string_view msg);

}  // namespace confab
