#pragma once
// The one validation helper of confab: every document validator of core and every face checks
// strings, numbers, lists and client-made JSON with these functions, against the maxima of
// core/limits.hpp. Two ways to fail:
// - a document collects every failing field at once, Kazoo style, in a Report:
//   {"<path>": {"<rule>": {"message": ..., "value": <the limit>}}};
// - a single parameter (a Drumee service argument, a CTI command field) throws at once an
//   Error{invalid_data} with the same details, whose message names the field and its limit
//   ("limit must be an integer in 1..200"), for the faces whose error formats carry one sentence.
// Every check is linear in the size of what it checks, and looks at nothing past a limit.
#include "core/error.hpp"
#include "core/limits.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace confab::core {

// What a string may hold besides valid UTF-8. `line`: names, numbers, ids, display strings: no C0
// control (U+0000-U+001F) and no DEL (U+007F). `text`: subjects, descriptions, messages: the same,
// except tab, line feed and carriage return.
enum class TextKind { line, text };

struct Violation {
  std::string rule;     // type, encoding, pattern, minLength, maxLength, minimum, maximum...
  std::string message;  // Kazoo's wording: "String must not be more than 128 characters"
  boost::json::value limit = nullptr;  // the bound broken, when there is one
};

bool valid_utf8(std::string_view s);
// The longest prefix of `s` within `max` bytes that does not cut a UTF-8 sequence (names the
// server makes from others: a hub room's, a callee's caller ID).
std::string utf8_prefix(std::string s, std::size_t max);
std::optional<Violation> text_violation(std::string_view s, std::size_t min_len,
                                        std::size_t max_len, TextKind kind = TextKind::line);
// A JSON integer (never a fraction, a boolean or a string) within [min, max].
std::optional<Violation> int_violation(const boost::json::value& v, std::int64_t min,
                                       std::int64_t max);

class Report {
 public:
  void fail(const std::string& path, std::string_view rule, std::string msg,
            boost::json::value extra = nullptr);
  void fail(const std::string& path, const Violation& v) { fail(path, v.rule, v.message, v.limit); }
  bool failed(std::string_view path) const { return errors_.contains(path); }
  bool any() const { return !errors_.empty(); }
  // Throws Error{invalid_data} carrying every failure, if there is any.
  void throw_if_any();
  // Past this many failing fields the rest are not listed (a document of a thousand bad items
  // is answered with a bounded report).
  static constexpr std::size_t kMaxFields = 50;

 private:
  boost::json::object errors_;
};

// A client's document: `data` must be an object; its read-only and private keys are dropped.
boost::json::object require_object(const boost::json::value& input);
// The same, not copied: for checking a document before anything of it is copied.
const boost::json::object& object_of(const boost::json::value& input);

// A string field, when present; lengths in bytes.
void check_string(Report& r, const boost::json::object& o, std::string_view key,
                  const std::string& path, std::size_t min_len = 0,
                  std::size_t max_len = limits::kDisplayBytes, TextKind kind = TextKind::line);
void check_bool(Report& r, const boost::json::object& o, std::string_view key,
                const std::string& path);
// An integer field, when present.
void check_int(Report& r, const boost::json::object& o, std::string_view key,
               const std::string& path, std::int64_t min, std::int64_t max);

// A list of strings, when present: at most `max_items`, each a line of `item_min`..`item_max`
// bytes (only ASCII digits when `digits`), no two alike when `unique`. Items are reported as
// "<path>.<index>"; a list over its size is reported once, and its items are not looked at.
struct ListRule {
  std::size_t max_items = limits::kListItems;
  std::size_t item_min = 1;
  std::size_t item_max = limits::kDisplayBytes;
  bool digits = false;
  bool unique = true;
};
void check_string_list(Report& r, const boost::json::object& o, std::string_view key,
                       const std::string& path, const ListRule& rule);

// Everything anywhere in a client-made value (unknown keys of a document, metadata): strings up
// to kStringBytes of `text`, arrays up to kListItems, objects up to kObjectKeys keys of a line up
// to kKeyBytes, nesting up to kDepth. Reported at `path` (and the key path of what broke).
// `skip`: top-level keys of a document not to look at (those it drops: id, _read_only...).
using KeyFilter = bool (*)(std::string_view key);
void check_tree(Report& r, const boost::json::value& v, const std::string& path,
                KeyFilter skip = nullptr);
// A document as it will be stored, serialized, within `max` bytes; reported as "data".
void check_stored_size(Report& r, const boost::json::object& doc,
                       std::size_t max = limits::kDocumentBytes);

// --- single parameters: throw Error{invalid_data} naming `field` and its limit -----------------
void require_text(std::string_view field, std::string_view s, std::size_t min_len,
                  std::size_t max_len, TextKind kind = TextKind::line);
// A number parameter: a JSON integer, or (query strings and forms send text) a string of decimal
// digits with an optional leading '-'; absent (or null, or "") gives `dflt`. Anything else, and
// any value outside [min, max], is refused with "<field> must be an integer in <min>..<max>".
std::int64_t require_int(std::string_view field, const boost::json::value* v, std::int64_t min,
                         std::int64_t max, std::int64_t dflt);
// A client-made JSON value (metadata, payload): check_tree, and at most `max_bytes` as JSON.
void require_tree(std::string_view field, const boost::json::value& v, std::size_t max_bytes);

// "<field>: <message>" of a validation error's first field, else its message: the sentence the
// faces with one-line errors (XiVO, Drumee, Userplane) show.
std::string describe(const Error& e);

}  // namespace confab::core
