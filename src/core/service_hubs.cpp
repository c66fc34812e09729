// Drumee hub rooms: finding a hub's live room, and making one without making two.
#include "core/service.hpp"

#include "core/calls.hpp"
#include "core/error.hpp"
#include "core/field_errors.hpp"
#include "core/json_util.hpp"

#include <boost/json.hpp>

namespace confab::core {
namespace json = boost::json;

namespace {

std::string hub_room_key(std::string_view hub_id, std::string_view type) {
  return std::string(hub_id) + "/" + std::string(type);
}

}  // namespace

// --- hub rooms ---------------------------------------------------------------------------

std::vector<const Doc*> ConferenceService::hub_conferences(std::string_view hub_id) const {
  auto* hub = dir_.find("hub", hub_id);
  if (!hub) return {};
  return dir_.tagged("conference", hub->account_id, {"hub_id", std::string(hub_id), {}, false});
}

const Doc* ConferenceService::hub_room(std::string_view hub_id, std::string_view type) const {
  const Doc* best = nullptr;
  std::int64_t best_t = -1;
  for (auto* d : hub_conferences(hub_id)) {
    if (str_field(d->body, "type") != type) continue;
    auto* r = room(d->id);
    if (!r) continue;
    if (!best || r->created() > best_t || (r->created() == best_t && d->id > best->id))
      best = d, best_t = r->created();
  }
  return best;
}

const Doc& ConferenceService::hub_conference(std::string_view hub_id,
                                             std::string_view conference_id) const {
  auto* d = dir_.find("conference", conference_id);
  auto* hub = dir_.find("hub", hub_id);
  if (!d) throw Error(Errc::not_found, "bad identifier", json::object{{"cause", conference_id}});
  if (!hub || str_field(d->body, "hub_id") != hub_id || d->account_id != hub->account_id)
    throw Error(Errc::not_found, "the room is not in this hub",
                json::object{{"cause", conference_id}});
  return *d;
}

PendingWrite ConferenceService::prepare_hub_room(std::string_view account_id,
                                                 std::string_view hub_id, std::string_view type,
                                                 const TokenClaims* actor, bool shared) {
  auto& hub = get("hub", account_id, hub_id);
  if (type.empty()) throw field_error("type", "required", "a room type is required");
  auto key = hub_room_key(hub_id, type);
  if (shared && hub_rooms_.contains(key))
    throw Error(Errc::conflict, "a room of this hub and type is being created",
                json::object{{"cause", hub_id}, {"type", type}});
  json::object doc{{"name", utf8_prefix(str_field(hub.body, "name") + " " + std::string(type),
                                        limits::kNameBytes)},
                   {"hub_id", hub_id},
                   {"type", type},
                   {"member", json::object{{"join_muted", false}}}};
  auto w = prepare("conference", account_id, {}, WriteMode::create, doc, actor);
  if (shared) hub_rooms_[key].ticket = w.ticket;
  return w;
}

bool ConferenceService::await_hub_room(std::string_view hub_id, std::string_view type,
                                       std::function<void(const std::string&)> then) {
  auto it = hub_rooms_.find(hub_room_key(hub_id, type));
  if (it == hub_rooms_.end()) return false;
  it->second.waiting.push_back(std::move(then));
  return true;
}

// The shared hub room a write created (or failed to): those waiting for it go on.
void ConferenceService::settle_hub_room(const PendingWrite& w, const std::string& conference_id) {
  if (w.remove || w.doc.kind != "conference" || hub_rooms_.empty()) return;
  auto it = std::find_if(hub_rooms_.begin(), hub_rooms_.end(),
                         [&](auto& kv) { return kv.second.ticket == w.ticket; });
  if (it == hub_rooms_.end()) return;
  auto waiting = std::move(it->second.waiting);
  hub_rooms_.erase(it);  // first: a waiter may create the next room
  for (auto& then : waiting) then(conference_id);
}

}  // namespace confab::core
