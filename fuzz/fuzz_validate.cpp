// The shared validation helper (core/field_errors): every face's strings, numbers, lists and
// client-made JSON go through it. The first byte picks what the rest is fed to; the UTF-8 check
// is also compared with Boost.JSON's own (a string is valid UTF-8 exactly when the parser takes
// it as a JSON string), and every refusal must name its field and stay within the report bound.
#include "core/error.hpp"
#include "core/field_errors.hpp"
#include "core/limits.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

namespace json = boost::json;
namespace core = confab::core;

void check(bool ok) {
  if (!ok) std::abort();
}

// Boost.JSON as the oracle for UTF-8: quote the bytes (none that JSON would need escaped).
void compare_utf8(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == '"' || c == '\\') return;
  boost::system::error_code ec;
  json::parse("\"" + std::string(s) + "\"", ec);
  check(core::valid_utf8(s) == !ec);
}

void text(std::string_view s, std::uint8_t mode) {
  compare_utf8(s);
  auto kind = mode & 1 ? core::TextKind::text : core::TextKind::line;
  std::size_t max = 1 + (mode >> 1) * 7;
  auto v = core::text_violation(s, mode & 2 ? 1 : 0, max, kind);
  if (s.size() > max) check(v && v->rule == "maxLength");
  if (!v) check(core::valid_utf8(s) && s.size() <= max);
  try {
    core::require_text("field", s, 0, max, kind);
    check(!core::text_violation(s, 0, max, kind));
  } catch (const confab::Error& e) {
    check(e.code == confab::Errc::invalid_data && e.details.contains("field"));
    check(e.message.starts_with("field "));
  }
}

void value(const json::value& v, std::uint8_t mode) {
  core::Report r;
  core::check_tree(r, v, mode & 1 ? "" : "data");
  if (v.is_object()) {
    auto& o = v.as_object();
    for (auto& [k, child] : o) {
      core::check_string_list(r, o, k, std::string(k),
                              {core::limits::kListItems, 1, 16, (mode & 2) != 0, true});
      core::check_int(r, o, k, std::string(k), -5, 200);
      core::check_string(r, o, k, std::string(k), 1, 32);
      break;
    }
    core::check_stored_size(r, o, 512);
  }
  try {
    r.throw_if_any();
  } catch (const confab::Error& e) {
    check(!e.details.empty() && e.details.size() <= core::Report::kMaxFields);
    check(!core::describe(e).empty());
  }
  try {
    auto n = core::require_int("limit", &v, 1, 200, 50);
    check(n >= 1 && n <= 200);
  } catch (const confab::Error& e) {
    check(e.message == "limit must be an integer in 1..200");
  }
  try {
    core::require_tree("metadata", v, 256);
    check(json::serialize(v).size() <= 256);
  } catch (const confab::Error& e) {
    check(e.code == confab::Errc::invalid_data && !e.details.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::uint8_t mode = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode & 0x80) {
    text(rest, mode);
    return 0;
  }
  boost::system::error_code ec;
  auto v = json::parse(rest, ec);
  if (ec) {
    text(rest, mode);  // not JSON: still text from a form or a query string
    return 0;
  }
  value(v, mode);
  return 0;
}
