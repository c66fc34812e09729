#pragma once
// Field-level validation shared by the document validators: every failing field is collected and
// reported at once, Kazoo style, as {"<path>": {"<rule>": {"message": ...}}}.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace confab::core {

class Report {
 public:
  void fail(const std::string& path, std::string_view rule, std::string msg,
            boost::json::value extra = nullptr);
  bool failed(std::string_view path) const { return errors_.contains(path); }
  // Throws Error{invalid_data} carrying every failure, if there is any.
  void throw_if_any();

 private:
  boost::json::object errors_;
};

// A client's document: `data` must be an object; its read-only and private keys are dropped.
boost::json::object require_object(const boost::json::value& input);

// A string field, when present; lengths in bytes (0: no bound).
void check_string(Report& r, const boost::json::object& o, std::string_view key,
                  const std::string& path, std::size_t min_len = 0, std::size_t max_len = 0);
void check_bool(Report& r, const boost::json::object& o, std::string_view key,
                const std::string& path);

}  // namespace confab::core
