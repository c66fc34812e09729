#include "core/conference_doc.hpp"

#include "core/error.hpp"
#include "core/field_errors.hpp"
#include "core/muc.hpp"
#include "media/tone.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <string_view>

namespace confab::core {
namespace json = boost::json;

namespace {

std::string join(std::string_view a, std::string_view b) {
  return a.empty() ? std::string(b) : std::string(a) + "." + std::string(b);
}

// Dial-in numbers and PINs: lists of digit strings, bounded, without duplicates (a hash set:
// linear in the list).
constexpr ListRule kNumbers{limits::kListItems, 1, limits::kNumberBytes, true, true};
constexpr ListRule kPins{limits::kListItems, 1, limits::kPinDigits, true, true};

void check_role(Report& r, const json::object& doc, std::string_view role) {
  auto* v = doc.if_contains(role);
  if (!v) return;
  if (!v->is_object()) {
    r.fail(std::string(role), "type", "Value did not match type(s): object");
    return;
  }
  auto& o = v->as_object();
  std::string p(role);
  check_bool(r, o, "join_muted", join(p, "join_muted"));
  check_bool(r, o, "join_deaf", join(p, "join_deaf"));
  check_string_list(r, o, "numbers", join(p, "numbers"), kNumbers);
  check_string_list(r, o, "pins", join(p, "pins"), kPins);
}

void role_defaults(json::object& doc, std::string_view role, bool default_muted) {
  auto* v = doc.if_contains(role);
  if (!v) v = &(doc[role] = json::object{});
  auto& o = v->as_object();
  if (!o.contains("join_muted")) o["join_muted"] = default_muted;
  if (!o.contains("join_deaf")) o["join_deaf"] = false;
  if (!o.contains("numbers")) o["numbers"] = json::array{};
  if (!o.contains("pins")) o["pins"] = json::array{};
}

void check_tone(Report& r, const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return;
  if (v->is_bool()) return;
  if (v->is_string()) {
    std::string_view s = v->as_string();
    if (auto bad = text_violation(s, 1, limits::kTextBytes)) {
      r.fail(std::string(key), *bad);
    } else if (s.starts_with(media::kToneScheme)) {
      try {
        media::parse_tone(s);
      } catch (const std::invalid_argument& e) {
        r.fail(std::string(key), "pattern", e.what());
      }
    }
    return;
  }
  r.fail(std::string(key), "type", "Value did not match type(s): boolean, string");
}

}  // namespace

bool is_private_key(std::string_view k) {
  return k == "id" || k == "_read_only" || k == "focus" || k.starts_with("pvt_");
}

json::object strip_private(const json::object& doc) {
  json::object out;
  for (auto& [k, v] : doc)
    if (!is_private_key(k)) out[k] = v;
  return out;
}

json::object validate_conference(const json::value& input) {
  if (!input.is_object())
    throw Error(
        Errc::invalid_data, "invalid data",
        json::object{
            {"data",
             json::object{
                 {"type", json::object{{"message", "Value did not match type(s): object"}}}}}});
  // Checked as it came, before anything is copied (a refused body of a megabyte is never
  // copied): everything first at the general limits, then the known fields' own rules, which
  // replace what the general pass said of them.
  const auto& doc = input.as_object();
  Report r;
  check_tree(r, doc, "", is_private_key);

  if (!doc.contains("name"))
    r.fail("name", "required", "Field is required but missing");
  else
    check_string(r, doc, "name", "name", 1, limits::kNameBytes);
  check_string(r, doc, "owner_id", "owner_id", 32, 32);
  for (auto key : {"bridge_password", "bridge_username", "caller_controls", "moderator_controls",
                   "max_members_media", "profile"})
    check_string(r, doc, key, key);
  // Drumee's hub rooms.
  check_string(r, doc, "hub_id", "hub_id", 1, limits::kIdBytes);
  check_string(r, doc, "type", "type", 1, limits::kIdBytes);
  check_string_list(r, doc, "conference_numbers", "conference_numbers", kNumbers);
  check_role(r, doc, "member");
  check_role(r, doc, "moderator");
  for (auto key : {"play_name", "play_welcome", "require_moderator", "wait_for_moderator"})
    check_bool(r, doc, key, key);
  check_tone(r, doc, "play_entry_tone");
  check_tone(r, doc, "play_exit_tone");
  check_int(r, doc, "max_participants", "max_participants", 0, limits::kMaxParticipants);
  if (auto* m = doc.if_contains("muc")) validate_muc(*m, r);
  r.throw_if_any();

  auto out = strip_private(doc);
  role_defaults(out, "member", true);
  role_defaults(out, "moderator", false);
  if (!out.contains("conference_numbers")) out["conference_numbers"] = json::array{};
  if (!out.contains("play_name")) out["play_name"] = false;
  return out;
}

std::vector<std::string> conference_numbers(const json::object& doc) {
  std::vector<std::string> out;
  auto add = [&](const json::value* v) {
    if (!v || !v->is_array()) return;
    for (auto& n : v->as_array())
      if (n.is_string()) out.emplace_back(n.as_string());
  };
  add(doc.if_contains("conference_numbers"));
  for (auto role : {"member", "moderator"})
    if (auto* o = doc.if_contains(role); o && o->is_object())
      add(o->as_object().if_contains("numbers"));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

json::object merge_patch(const json::object& base, const json::object& patch) {
  json::object out = base;
  for (auto& [k, v] : patch) {
    auto* cur = out.if_contains(k);
    if (cur && cur->is_object() && v.is_object())
      *cur = merge_patch(cur->as_object(), v.as_object());
    else
      out[k] = v;
  }
  return out;
}

}  // namespace confab::core
