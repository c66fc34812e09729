#include "core/identity.hpp"

#include "core/conference_doc.hpp"
#include "core/crypto.hpp"
#include "core/error.hpp"
#include "core/field_errors.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace confab::core {
namespace json = boost::json;

namespace {

void required(Report& r, const json::object& o, std::string_view key) {
  if (!o.contains(key)) r.fail(std::string(key), "required", "Field is required but missing");
}

}  // namespace

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

json::object validate_account(const json::value& input) {
  // Checked as it came; copied only once it passed (as every validator of a client's document).
  const auto& in = object_of(input);
  Report r;
  check_tree(r, in, "", is_private_key);
  required(r, in, "name");
  check_string(r, in, "name", "name", 1, limits::kNameBytes);
  check_string(r, in, "realm", "realm", 1, 253);
  r.throw_if_any();
  return strip_private(in);
}

ValidatedUser validate_user(const json::value& input) {
  const auto& in = object_of(input);
  Report r;
  check_tree(r, in, "", is_private_key);
  required(r, in, "first_name");
  required(r, in, "last_name");
  check_string(r, in, "first_name", "first_name", 1, limits::kNameBytes);
  check_string(r, in, "last_name", "last_name", 1, limits::kNameBytes);
  check_string(r, in, "username", "username", 1, limits::kDisplayBytes);
  // A password may hold any character a keyboard types: control characters are refused too.
  check_string(r, in, "password", "password", 1, limits::kSecretBytes);
  check_string(r, in, "email", "email", 3, 254);
  check_string(r, in, "extension", "extension", 1, limits::kExtensionBytes);
  if (auto* e = in.if_contains("extension"); e && e->is_string() && !r.failed("extension")) {
    std::string_view s = e->as_string();
    if (!std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
      r.fail("extension", "pattern", "Failed to match pattern '^[0-9]+$'");
  }
  if (auto* p = in.if_contains("priv_level")) {
    if (!p->is_string() || (p->as_string() != "admin" && p->as_string() != "user"))
      r.fail("priv_level", "enum", "Value not found in enumerated list of values",
             json::array{"admin", "user"});
  }
  r.throw_if_any();
  auto doc = strip_private(in);
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
