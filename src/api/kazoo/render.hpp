#pragma once
// Kazoo's JSON renderings of core state: documents with _read_only, participants, events.
#include "core/directory.hpp"
#include "core/events.hpp"
#include "core/room.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <string>

namespace confab::api::kazoo {

// Kazoo times are Gregorian seconds (seconds since year 0), e.g. join_time 63635217275.
constexpr std::int64_t kGregorianOffset = 62167219200;
inline std::int64_t gregorian(std::int64_t unix_seconds) {
  return unix_seconds + kGregorianOffset;
}

boost::json::object public_doc(const core::Doc& d);  // without pvt_*, with id
std::string revision_tag(const core::Doc& d);        // "N-<md5>" like CouchDB's _rev

boost::json::object participant_json(const core::ParticipantView& p, const core::Room& room,
                                     std::string_view node, std::int64_t now);
boost::json::object read_only(const core::Room* room, std::string_view node, std::int64_t now,
                              int bad_pins);
boost::json::object conference_json(const core::Doc& d, const core::Room* room,
                                    std::string_view node, std::int64_t now, int bad_pins);
boost::json::object conference_summary(const core::Doc& d, const core::Room* room,
                                       std::int64_t now);

// The event's payload, the routing key it is published under, and the key's parts.
boost::json::object event_data(const core::Event& e, std::string_view node, std::uint64_t msg_id);
std::string routing_key(const core::Event& e);

}  // namespace confab::api::kazoo
