#include "core/muc.hpp"

#include "core/error.hpp"
#include "core/field_errors.hpp"

#include <boost/json.hpp>

namespace confab::core {
namespace json = boost::json;

std::string_view affiliation_name(Affiliation a) {
  switch (a) {
    case Affiliation::outcast:
      return "outcast";
    case Affiliation::none:
      return "none";
    case Affiliation::member:
      return "member";
    case Affiliation::admin:
      return "admin";
    case Affiliation::owner:
      return "owner";
  }
  return "none";
}

std::optional<Affiliation> parse_affiliation(std::string_view s) {
  for (auto a : {Affiliation::outcast, Affiliation::none, Affiliation::member, Affiliation::admin,
                 Affiliation::owner})
    if (affiliation_name(a) == s) return a;
  return std::nullopt;
}

std::string_view muc_role_name(MucRole r) {
  switch (r) {
    case MucRole::visitor:
      return "visitor";
    case MucRole::participant:
      return "participant";
    case MucRole::moderator:
      return "moderator";
  }
  return "visitor";
}

namespace {
const json::object* muc_of(const json::object& doc) {
  auto* m = doc.if_contains("muc");
  return m && m->is_object() ? &m->as_object() : nullptr;
}
bool flag(const json::object* o, std::string_view k) {
  if (!o) return false;
  auto* v = o->if_contains(k);
  return v && v->is_bool() && v->as_bool();
}
}  // namespace

MucConfig muc_config(const json::object& doc) {
  auto* m = muc_of(doc);
  return {flag(m, "members_only"), flag(m, "moderated")};
}

Affiliation affiliation_of(const json::object& doc, std::string_view user_id) {
  if (user_id.empty()) return Affiliation::none;
  auto* m = muc_of(doc);
  if (!m) return Affiliation::none;
  auto* affs = m->if_contains("affiliations");
  if (!affs || !affs->is_object()) return Affiliation::none;
  auto* a = affs->as_object().if_contains(user_id);
  if (!a || !a->is_string()) return Affiliation::none;
  return parse_affiliation(a->as_string()).value_or(Affiliation::none);
}

void check_admission(const json::object& doc, Affiliation a, bool has_pin) {
  if (a == Affiliation::outcast)
    throw Error(Errc::forbidden, "banned from this conference",
                json::object{{"affiliation", "outcast"}, {"condition", "forbidden"}});
  if (muc_config(doc).members_only && a == Affiliation::none && !has_pin)
    throw Error(Errc::forbidden, "this conference is members-only",
                json::object{{"condition", "registration-required"}});
}

MucRole initial_role(const MucConfig& cfg, Affiliation a, bool pin_moderator) {
  if (pin_moderator || a >= Affiliation::admin) return MucRole::moderator;
  if (cfg.moderated && a == Affiliation::none) return MucRole::visitor;
  return MucRole::participant;
}

void validate_muc(const json::value& v, Report& r) {
  if (!v.is_object()) return r.fail("muc", "type", "Value did not match type(s): object");
  auto& m = v.as_object();
  for (auto k : {"members_only", "moderated"}) check_bool(r, m, k, std::string("muc.") + k);
  for (auto k : {"subject", "description"})
    check_string(r, m, k, std::string("muc.") + k, 0, limits::kTextBytes, TextKind::text);
  if (auto* affs = m.if_contains("affiliations")) {
    if (!affs->is_object())
      return r.fail("muc.affiliations", "type", "Value did not match type(s): object");
    if (affs->as_object().size() > limits::kObjectKeys)
      return r.fail(
          "muc.affiliations", "maxProperties",
          "The object must not have more than " + std::to_string(limits::kObjectKeys) + " keys",
          static_cast<std::int64_t>(limits::kObjectKeys));
    for (auto& [user, a] : affs->as_object()) {
      if (text_violation(user, 1, limits::kIdBytes)) {
        r.fail("muc.affiliations", "propertyNames",
               "Keys must be user ids of 1 to " + std::to_string(limits::kIdBytes) +
                   " bytes without control characters",
               static_cast<std::int64_t>(limits::kIdBytes));
        break;
      }
      if (!a.is_string() || !parse_affiliation(a.as_string()))
        r.fail("muc.affiliations." + std::string(user), "enum",
               "Value not found in enumerated list of values",
               json::array{"owner", "admin", "member", "none", "outcast"});
    }
  }
}

}  // namespace confab::core
