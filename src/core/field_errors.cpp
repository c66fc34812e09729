#include "core/field_errors.hpp"

#include "core/conference_doc.hpp"

#include <boost/json.hpp>

#include <unordered_set>

namespace confab::core {
namespace json = boost::json;

namespace {

std::string n(std::int64_t v) {
  return std::to_string(v);
}

bool is_control(unsigned char c, TextKind kind) {
  if (c == 0x7F) return true;
  if (c >= 0x20) return false;
  return kind == TextKind::line || (c != '\t' && c != '\n' && c != '\r');
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

// One pass over a client-made value at `depth` (a document field is at depth 1). Nesting and
// key problems are reported at `top`, the field the client wrote, where it can find them.
void walk(Report& r, const json::value& v, const std::string& path, const std::string& top,
          std::size_t depth, KeyFilter skip = nullptr) {
  if (v.is_string()) {
    if (auto bad = text_violation(v.as_string(), 0, limits::kStringBytes, TextKind::text))
      r.fail(path, *bad);
    return;
  }
  if (!v.is_array() && !v.is_object()) return;
  if (depth > limits::kDepth) {
    r.fail(top, "maxDepth",
           "Value must not nest objects or arrays more than " + n(limits::kDepth) + " deep",
           static_cast<std::int64_t>(limits::kDepth));
    return;
  }
  if (v.is_array()) {
    auto& a = v.as_array();
    if (a.size() > limits::kListItems) {
      r.fail(path, "maxItems",
             "The array must not have more than " + n(limits::kListItems) + " items",
             static_cast<std::int64_t>(limits::kListItems));
      return;
    }
    for (std::size_t i = 0; i < a.size(); ++i)
      walk(r, a[i], join(path, std::to_string(i)), top, depth + 1);
    return;
  }
  auto& o = v.as_object();
  if (o.size() > limits::kObjectKeys) {
    r.fail(path.empty() ? std::string("data") : path, "maxProperties",
           "The object must not have more than " + n(limits::kObjectKeys) + " keys",
           static_cast<std::int64_t>(limits::kObjectKeys));
    return;
  }
  for (auto& [k, child] : o) {
    if (depth == 0 && skip && skip(k)) continue;
    if (text_violation(k, 1, limits::kKeyBytes, TextKind::line)) {
      r.fail(path.empty() ? std::string("data") : top, "propertyNames",
             "Keys must be 1 to " + n(limits::kKeyBytes) +
                 " bytes of UTF-8 without control characters",
             static_cast<std::int64_t>(limits::kKeyBytes));
      return;
    }
    auto child_path = join(path, k);
    walk(r, child, child_path, path.empty() ? child_path : top, depth + 1);
  }
}

Error param_error(std::string_view field, const Violation& v, std::string sentence) {
  json::object rule{{"message", v.message}};
  if (!v.limit.is_null()) rule["value"] = v.limit;
  json::object f;
  f[v.rule] = std::move(rule);
  json::object d;
  d[field] = std::move(f);
  return Error(Errc::invalid_data, std::move(sentence), std::move(d));
}

}  // namespace

bool valid_utf8(std::string_view s) {
  auto* p = reinterpret_cast<const unsigned char*>(s.data());
  auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF)
      len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
      len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
      len = 4, cp = c & 0x07;
    else
      return false;  // a continuation byte first, an overlong lead (C0, C1) or past U+10FFFF
    if (static_cast<std::size_t>(end - p) < len) return false;
    for (std::size_t i = 1; i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and code points past Unicode are not UTF-8.
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    p += len;
  }
  return true;
}

std::string utf8_prefix(std::string s, std::size_t max) {
  if (s.size() <= max) return s;
  s.resize(max);
  // The last sequence starts at its lead byte; it stays when it is whole.
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  std::size_t lead = s.size();
  while (lead > 0 && (byte(lead - 1) & 0xC0) == 0x80) --lead;
  if (lead == 0) return {};
  unsigned char c = byte(--lead);
  std::size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
  if (s.size() - lead < need) s.resize(lead);
  return s;
}

std::optional<Violation> text_violation(std::string_view s, std::size_t min_len,
                                        std::size_t max_len, TextKind kind) {
  // Length first: nothing past the limit is looked at.
  if (s.size() > max_len)
    return Violation{"maxLength", "String must not be more than " + n(max_len) + " characters",
                     static_cast<std::int64_t>(max_len)};
  if (s.size() < min_len)
    return Violation{"minLength", "String must be at least " + n(min_len) + " characters",
                     static_cast<std::int64_t>(min_len)};
  for (unsigned char c : s)
    if (is_control(c, kind))
      return Violation{"pattern",
                       kind == TextKind::line
                           ? "String must not contain control characters (U+0000 to U+001F, "
                             "U+007F)"
                           : "String must not contain control characters (U+0000 to U+001F "
                             "but tab, line feed and carriage return; U+007F)",
                       nullptr};
  if (!valid_utf8(s)) return Violation{"encoding", "String must be valid UTF-8", nullptr};
  return std::nullopt;
}

std::optional<Violation> int_violation(const json::value& v, std::int64_t min, std::int64_t max) {
  std::int64_t x = 0;
  if (v.is_int64()) {
    x = v.as_int64();
  } else if (v.is_uint64()) {
    if (v.as_uint64() > static_cast<std::uint64_t>(max))  // past INT64_MAX too
      return Violation{"maximum", "Value must be at most " + n(max), max};
    x = static_cast<std::int64_t>(v.as_uint64());
  } else {
    return Violation{"type", "Value did not match type(s): integer", nullptr};
  }
  if (x < min) return Violation{"minimum", "Value must be at least " + n(min), min};
  if (x > max) return Violation{"maximum", "Value must be at most " + n(max), max};
  return std::nullopt;
}

const json::object& object_of(const json::value& input) {
  if (!input.is_object()) throw field_error("data", "type", "Value did not match type(s): object");
  return input.as_object();
}

json::object require_object(const json::value& input) {
  return strip_private(object_of(input));
}

void Report::fail(const std::string& path, std::string_view rule, std::string msg,
                  json::value extra) {
  auto* field = errors_.if_contains(path);
  if (!field) {
    if (errors_.size() >= kMaxFields) return;
    field = &(errors_[path] = json::object{});
  }
  json::object r{{"message", msg}};
  if (!extra.is_null()) r["value"] = std::move(extra);
  field->as_object()[rule] = std::move(r);
}

void Report::throw_if_any() {
  if (!errors_.empty()) throw Error(Errc::invalid_data, "invalid data", std::move(errors_));
}

void check_string(Report& r, const json::object& o, std::string_view key, const std::string& path,
                  std::size_t min_len, std::size_t max_len, TextKind kind) {
  auto* v = o.if_contains(key);
  if (!v) return;
  if (!v->is_string()) {
    r.fail(path, "type", "Value did not match type(s): string");
    return;
  }
  if (auto bad = text_violation(v->as_string(), min_len, max_len, kind)) r.fail(path, *bad);
}

void check_bool(Report& r, const json::object& o, std::string_view key, const std::string& path) {
  auto* v = o.if_contains(key);
  if (v && !v->is_bool()) r.fail(path, "type", "Value did not match type(s): boolean");
}

void check_int(Report& r, const json::object& o, std::string_view key, const std::string& path,
               std::int64_t min, std::int64_t max) {
  auto* v = o.if_contains(key);
  if (!v) return;
  if (auto bad = int_violation(*v, min, max)) r.fail(path, *bad);
}

void check_string_list(Report& r, const json::object& o, std::string_view key,
                       const std::string& path, const ListRule& rule) {
  auto* v = o.if_contains(key);
  if (!v) return;
  if (!v->is_array()) {
    r.fail(path, "type", "Value did not match type(s): array");
    return;
  }
  auto& a = v->as_array();
  if (a.size() > rule.max_items) {
    r.fail(path, "maxItems",
           "The array must not have more than " + n(static_cast<std::int64_t>(rule.max_items)) +
               " items",
           static_cast<std::int64_t>(rule.max_items));
    return;
  }
  std::unordered_set<std::string_view> seen;
  seen.reserve(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto item_path = path + "." + std::to_string(i);
    if (!a[i].is_string()) {
      r.fail(item_path, "type", "Value did not match type(s): string");
      continue;
    }
    std::string_view s = a[i].as_string();
    if (auto bad = text_violation(s, rule.item_min, rule.item_max, TextKind::line)) {
      r.fail(item_path, *bad);
    } else if (rule.digits) {
      for (char c : s)
        if (c < '0' || c > '9') {
          r.fail(item_path, "pattern", "Failed to match pattern '^[0-9]+$'");
          break;
        }
    }
    if (rule.unique && !seen.insert(s).second)
      r.fail(path, "uniqueItems", "Array items must be unique");
  }
}

void check_tree(Report& r, const json::value& v, const std::string& path, KeyFilter skip) {
  // A whole document (no path) is depth 0: its fields are at depth 1, as a field given by name.
  walk(r, v, path, path, path.empty() ? 0 : 1, skip);
}

void check_stored_size(Report& r, const json::object& doc, std::size_t max) {
  // Serializing is linear; the body was already held to the HTTP body limit.
  if (json::serialize(doc).size() > max)
    r.fail("data", "maxLength",
           "The document must not be more than " + n(static_cast<std::int64_t>(max)) +
               " bytes as stored",
           static_cast<std::int64_t>(max));
}

void require_text(std::string_view field, std::string_view s, std::size_t min_len,
                  std::size_t max_len, TextKind kind) {
  auto bad = text_violation(s, min_len, max_len, kind);
  if (!bad) return;
  std::string f(field);
  std::string sentence = bad->rule == "maxLength" ? f + " must be at most " + n(max_len) + " bytes"
                         : bad->rule == "minLength"
                             ? f + " must be at least " + n(min_len) + " bytes"
                         : bad->rule == "pattern" ? f + " must not contain control characters"
                                                  : f + " must be valid UTF-8";
  throw param_error(field, *bad, std::move(sentence));
}

std::int64_t require_int(std::string_view field, const json::value* v, std::int64_t min,
                         std::int64_t max, std::int64_t dflt) {
  if (!v || v->is_null() || (v->is_string() && v->as_string().empty())) return dflt;
  auto sentence = std::string(field) + " must be an integer in " + n(min) + ".." + n(max);
  json::value number = *v;
  if (v->is_string()) {
    std::string_view s = v->as_string();
    bool neg = s.front() == '-';
    auto digits = s.substr(neg ? 1 : 0);
    bool ok = !digits.empty() && digits.size() <= 18;
    for (char c : digits) ok = ok && c >= '0' && c <= '9';
    if (!ok)
      throw param_error(field, {"type", "Value did not match type(s): integer", nullptr}, sentence);
    std::int64_t x = 0;
    for (char c : digits) x = x * 10 + (c - '0');
    number = neg ? -x : x;
  }
  if (auto bad = int_violation(number, min, max)) throw param_error(field, *bad, sentence);
  return number.to_number<std::int64_t>();
}

void require_tree(std::string_view field, const json::value& v, std::size_t max_bytes) {
  Report r;
  std::string f(field);
  check_tree(r, v, f);
  if (!r.any() && json::serialize(v).size() > max_bytes)
    throw param_error(
        field,
        {"maxLength",
         "Value must not be more than " + n(static_cast<std::int64_t>(max_bytes)) +
             " bytes as JSON",
         static_cast<std::int64_t>(max_bytes)},
        f + " must be at most " + n(static_cast<std::int64_t>(max_bytes)) + " bytes as JSON");
  try {
    r.throw_if_any();
  } catch (Error& e) {
    e.message = describe(e);
    throw;
  }
}

std::string describe(const Error& e) {
  for (auto& [field, rules] : e.details) {
    if (!rules.is_object()) break;
    for (auto& [rule, info] : rules.as_object())
      if (info.is_object())
        if (auto* m = info.as_object().if_contains("message"); m && m->is_string())
          return std::string(field) + ": " + std::string(m->as_string());
    break;
  }
  return e.message;
}

}  // namespace confab::core
