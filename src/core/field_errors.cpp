#include "core/field_errors.hpp"

#include "core/conference_doc.hpp"
#include "core/error.hpp"

namespace confab::core {
namespace json = boost::json;

json::object require_object(const json::value& input) {
  if (!input.is_object()) throw field_error("data", "type", "Value did not match type(s): object");
  return strip_private(input.as_object());
}

void Report::fail(const std::string& path, std::string_view rule, std::string msg,
                  json::value extra) {
  json::object r{{"message", msg}};
  if (!extra.is_null()) r["value"] = std::move(extra);
  auto& field = errors_[path];
  if (!field.is_object()) field = json::object{};
  field.as_object()[rule] = std::move(r);
}

void Report::throw_if_any() {
  if (!errors_.empty()) throw Error(Errc::invalid_data, "invalid data", std::move(errors_));
}

void check_string(Report& r, const json::object& o, std::string_view key, const std::string& path,
                  std::size_t min_len, std::size_t max_len) {
  auto* v = o.if_contains(key);
  if (!v) return;
  if (!v->is_string()) {
    r.fail(path, "type", "Value did not match type(s): string");
    return;
  }
  auto n = v->as_string().size();
  if (min_len && n < min_len)
    r.fail(path, "minLength", "String must be at least " + std::to_string(min_len) + " characters");
  if (max_len && n > max_len)
    r.fail(path, "maxLength",
           "String must not be more than " + std::to_string(max_len) + " characters");
}

void check_bool(Report& r, const json::object& o, std::string_view key, const std::string& path) {
  auto* v = o.if_contains(key);
  if (v && !v->is_bool()) r.fail(path, "type", "Value did not match type(s): boolean");
}

}  // namespace confab::core
