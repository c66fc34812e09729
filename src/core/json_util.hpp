#pragma once
// Small reads of JSON documents used across core.
#include <boost/json/object.hpp>

#include <string>
#include <string_view>

namespace confab::core {

// The string at `key`, or "" when absent or not a string.
inline std::string str_field(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace confab::core
