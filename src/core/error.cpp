#include "core/error.hpp"

namespace confab {

std::string_view errc_name(Errc c) {
  switch (c) {
    case Errc::invalid_data:
      return "invalid_data";
    case Errc::parse_error:
      return "parse_error";
    case Errc::not_found:
      return "not_found";
    case Errc::forbidden:
      return "forbidden";
    case Errc::unauthorized:
      return "unauthorized";
    case Errc::conflict:
      return "conflict";
    case Errc::invalid_method:
      return "invalid_method";
    case Errc::unknown_action:
      return "unknown_action";
    case Errc::room_locked:
      return "conference_locked";
    case Errc::room_full:
      return "conference_full";
    case Errc::bad_pin:
      return "invalid_pin";
    case Errc::too_many_attempts:
      return "too_many_pin_attempts";
    case Errc::too_many_logins:
      return "too_many_requests";
    case Errc::too_large:
      return "request_too_large";
    case Errc::unavailable:
      return "datastore_fault";
    case Errc::not_a_member:
      return "NotAMember";
    case Errc::not_organizer:
      return "NotOrganizer";
    case Errc::cannot_kick_organizer:
      return "CannotKickOrganizer";
    case Errc::not_acceptable:
      return "not_acceptable_here";
    case Errc::unsupported_media_type:
      return "unsupported_media_type";
  }
  return "error";
}

Error field_error(std::string_view field, std::string_view rule, std::string_view msg) {
  boost::json::object r;
  r[rule] = boost::json::object{{"message", msg}};
  boost::json::object d;
  d[field] = std::move(r);
  return Error(Errc::invalid_data, "invalid data", std::move(d));
}

}  // namespace confab
