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

constexpr std::int64_t kMaxParticipants = 1'000'000;

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string join(std::string_view a, std::string_view b) {
  return a.empty() ? std::string(b) : std::string(a) + "." + std::string(b);
}

// Arrays of digit strings: numbers and pins. Duplicates inside one array are refused too.
void check_digit_array(Report& r, const json::object& o, std::string_view key,
                       const std::string& path, std::size_t max_len) {
  auto* v = o.if_contains(key);
  if (!v) return;
  if (!v->is_array()) {
    r.fail(path, "type", "Value did not match type(s): array");
    return;
  }
  auto& a = v->as_array();
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto item_path = path + "." + std::to_string(i);
    if (!a[i].is_string()) {
      r.fail(item_path, "type", "Value did not match type(s): string");
      continue;
    }
    std::string_view s = a[i].as_string();
    if (!all_digits(s)) r.fail(item_path, "pattern", "Failed to match pattern '^[0-9]+$'");
    if (max_len && s.size() > max_len)
      r.fail(item_path, "maxLength",
             "String must not be more than " + std::to_string(max_len) + " characters");
    for (std::size_t j = 0; j < i; ++j)
      if (a[j] == a[i]) r.fail(path, "uniqueItems", "Array items must be unique");
  }
}

void check_role(Report& r, json::object& doc, std::string_view role, bool default_muted) {
  auto* v = doc.if_contains(role);
  if (!v) v = &(doc[role] = json::object{});
  if (!v->is_object()) {
    r.fail(std::string(role), "type", "Value did not match type(s): object");
    return;
  }
  auto& o = v->as_object();
  std::string p(role);
  check_bool(r, o, "join_muted", join(p, "join_muted"));
  check_bool(r, o, "join_deaf", join(p, "join_deaf"));
  check_digit_array(r, o, "numbers", join(p, "numbers"), 0);
  check_digit_array(r, o, "pins", join(p, "pins"), 16);
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
    if (s.empty()) {
      r.fail(std::string(key), "minLength", "String must be at least 1 characters");
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

json::object strip_private(const json::object& doc) {
  json::object out;
  for (auto& [k, v] : doc) {
    if (k == "id" || k == "_read_only" || k == "focus" || k.starts_with("pvt_")) continue;
    out[k] = v;
  }
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
  auto doc = strip_private(input.as_object());
  Report r;

  if (!doc.contains("name"))
    r.fail("name", "required", "Field is required but missing");
  else
    check_string(r, doc, "name", "name", 1, 128);
  check_string(r, doc, "owner_id", "owner_id", 32, 32);
  for (auto key : {"bridge_password", "bridge_username", "caller_controls", "moderator_controls",
                   "max_members_media", "profile"})
    check_string(r, doc, key, key);
  check_digit_array(r, doc, "conference_numbers", "conference_numbers", 0);
  check_role(r, doc, "member", true);
  check_role(r, doc, "moderator", false);
  for (auto key : {"play_name", "play_welcome", "require_moderator", "wait_for_moderator"})
    check_bool(r, doc, key, key);
  check_tone(r, doc, "play_entry_tone");
  check_tone(r, doc, "play_exit_tone");
  if (auto* v = doc.if_contains("max_participants")) {
    if (!v->is_int64() && !v->is_uint64())
      r.fail("max_participants", "type", "Value did not match type(s): integer");
    else if (v->is_int64() && v->as_int64() < 0)
      r.fail("max_participants", "minimum", "Value must be at least 0");
    else if (v->is_uint64() || v->as_int64() > kMaxParticipants)
      r.fail("max_participants", "maximum",
             "Value must be at most " + std::to_string(kMaxParticipants));
  }
  if (auto* m = doc.if_contains("muc")) {
    json::object muc_errors;
    validate_muc(*m, muc_errors);
    for (auto& [path, rules] : muc_errors)
      for (auto& [rule, body] : rules.as_object())
        r.fail(std::string(path), rule, std::string(body.as_object().at("message").as_string()));
  }
  r.throw_if_any();

  if (!doc.contains("conference_numbers")) doc["conference_numbers"] = json::array{};
  if (!doc.contains("play_name")) doc["play_name"] = false;
  return doc;
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
