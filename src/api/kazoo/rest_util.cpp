#include "api/kazoo/rest_util.hpp"

#include "core/error.hpp"

#include <boost/json.hpp>

#include <string>

namespace confab::api::kazoo {
namespace json = boost::json;

namespace {

Error method_not_allowed(std::string allow) {
  return Error(Errc::invalid_method, "method not allowed", json::object{{"allow", allow}});
}

}  // namespace

void allow(const net::Request& r, std::initializer_list<std::string_view> methods) {
  std::string list;
  for (auto m : methods) {
    if (r.method == m) return;
    if (!list.empty()) list += ", ";
    list += m;
  }
  throw method_not_allowed(list);
}

// Kazoo bodies are {"data": {...}, ...}; an empty body is an empty envelope.
json::object parse_envelope(const net::Request& r) {
  if (r.body.empty()) return {};
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec)
    throw Error(
        Errc::parse_error, "parse_error",
        json::object{{"json", json::object{{"invalid", json::object{{"message", ec.message()},
                                                                    {"target", "body"}}}}}});
  if (!v.is_object())
    throw Error(
        Errc::parse_error, "parse_error",
        json::object{{"json", json::object{{"type", json::object{{"message",
                                                                  "the body must be a JSON object"},
                                                                 {"target", "body"}}}}}});
  return std::move(v.as_object());
}

const json::value& data_of(const json::object& env) {
  static const json::value empty = json::object{};
  auto* d = env.if_contains("data");
  return d ? *d : empty;
}

}  // namespace confab::api::kazoo
