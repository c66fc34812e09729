#pragma once
// Multi-user chat roles and affiliations (XEP-0045), which govern both the chat and the audio of a
// conference room: a visitor listens but has no voice; outcasts are refused; members-only rooms
// admit only members; a moderator cannot act on someone of higher affiliation.
#include <boost/json/object.hpp>

#include <optional>
#include <string_view>

namespace confab::core {

enum class Affiliation { outcast = 0, none = 1, member = 2, admin = 3, owner = 4 };
enum class MucRole { visitor = 0, participant = 1, moderator = 2 };

std::string_view affiliation_name(Affiliation a);
std::optional<Affiliation> parse_affiliation(std::string_view s);
std::string_view muc_role_name(MucRole r);

struct MucConfig {
  bool members_only = false;  // only affiliated members (or PIN holders) may enter
  bool moderated = false;     // occupants without affiliation enter as visitors
};

// The "muc" object of a conference document: {members_only, moderated, affiliations:{user: a},
// subject, description}. Missing parts mean an open, unmoderated room.
MucConfig muc_config(const boost::json::object& conf_doc);
Affiliation affiliation_of(const boost::json::object& conf_doc, std::string_view user_id);

// Throws Error{forbidden} naming why (outcast, members-only) when this caller may not enter.
// `has_pin` is true when the caller proved membership with a PIN of the room.
void check_admission(const boost::json::object& conf_doc, Affiliation a, bool has_pin);

// The role an occupant starts with.
MucRole initial_role(const MucConfig& cfg, Affiliation a, bool pin_moderator);

// A moderator may kick, silence or demote only someone of equal or lower affiliation.
inline bool may_act_on(Affiliation actor, Affiliation target) {
  return actor >= target;
}

class Report;
// Validates the "muc" object; reports its fields as "muc.<key>".
void validate_muc(const boost::json::value& muc, Report& r);

}  // namespace confab::core
