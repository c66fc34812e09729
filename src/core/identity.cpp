#include "core/identity.hpp"

#include "core/crypto.hpp"
#include "core/error.hpp"
#include "core/field_errors.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace confab::core {
namespace json = boost::json;

namespace {

void check_str(json::object& errors, const json::object& o, std::string_view key, bool required,
               std::size_t min_len, std::size_t max_len) {
  auto fail = [&](std::string_view rule, std::string msg) {
    errors[key] = json::object{{rule, json::object{{"message", msg}}}};
  };
  auto* v = o.if_contains(key);
  if (!v) {
    if (required) fail("required", "Field is required but missing");
    return;
  }
  if (!v->is_string()) return fail("type", "Value did not match type(s): string");
  auto n = v->as_string().size();
  if (n < min_len)
    return fail("minLength", "String must be at least " + std::to_string(min_len) + " characters");
  if (max_len && n > max_len)
    fail("maxLength", "String must not be more than " + std::to_string(max_len) + " characters");
}

void throw_if(json::object& errors) {
  if (!errors.empty()) throw Error(Errc::invalid_data, "invalid data", std::move(errors));
}

}  // namespace

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

json::object validate_account(const json::value& input) {
  auto doc = require_object(input);
  json::object errors;
  check_str(errors, doc, "name", true, 1, 128);
  check_str(errors, doc, "realm", false, 1, 253);
  throw_if(errors);
  return doc;
}

ValidatedUser validate_user(const json::value& input) {
  auto doc = require_object(input);
  json::object errors;
  check_str(errors, doc, "first_name", true, 1, 128);
  check_str(errors, doc, "last_name", true, 1, 128);
  check_str(errors, doc, "username", false, 1, 256);
  check_str(errors, doc, "password", false, 1, 1024);
  check_str(errors, doc, "email", false, 3, 254);
  check_str(errors, doc, "extension", false, 1, 16);
  if (auto* e = doc.if_contains("extension");
      e && e->is_string() && !errors.contains("extension")) {
    std::string_view s = e->as_string();
    if (!std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
      errors["extension"] = json::object{
          {"pattern", json::object{{"message", "Failed to match pattern '^[0-9]+$'"}}}};
  }
  if (auto* p = doc.if_contains("priv_level")) {
    if (!p->is_string() || (p->as_string() != "admin" && p->as_string() != "user"))
      errors["priv_level"] = json::object{
          {"enum", json::object{{"message", "Value not found in enumerated list of values"},
                                {"value", json::array{"admin", "user"}}}}};
  }
  throw_if(errors);
  if (!doc.contains("priv_level")) doc["priv_level"] = "user";
  if (auto* u = doc.if_contains("username")) *u = lower(u->as_string());
  ValidatedUser out;
  if (auto* p = doc.if_contains("password")) {
    out.password = std::string(p->as_string());
    doc.erase("password");
  }
  out.doc = std::move(doc);
  return out;
}

std::string user_credentials(std::string_view username, std::string_view password) {
  return md5_hex(lower(username) + ":" + std::string(password));
}

}  // namespace confab::core
