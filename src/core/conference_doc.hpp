#pragma once
// The conference document: Kazoo's conferences schema (seeds 001/003 + COMPAT.md), validated the
// way Kazoo's crossbar does, with defaults applied and unknown keys kept.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace confab::core {

// Returns the normalized document: defaults applied, read-only (`id`, `_read_only`, `focus`) and
// private (`pvt_*`) keys dropped, every other key kept. Throws Error{invalid_data} listing every
// failing field as {"<path>": {"<rule>": {"message", ...}}}.
boost::json::object validate_conference(const boost::json::value& input);

// Every dial-in number of a document: conference_numbers, member.numbers, moderator.numbers.
std::vector<std::string> conference_numbers(const boost::json::object& doc);

// Kazoo PATCH semantics: objects merge key by key, recursively; anything else replaces.
boost::json::object merge_patch(const boost::json::object& base, const boost::json::object& patch);

// Strips the keys a client may not set (id, _read_only, focus, pvt_*), recursively at top level.
boost::json::object strip_private(const boost::json::object& doc);
bool is_private_key(std::string_view key);

}  // namespace confab::core
