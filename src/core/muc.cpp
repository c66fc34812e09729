#include "core/muc.hpp"

#include "core/error.hpp"

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

void validate_muc(const json::value& v, json::object& errors) {
  auto fail = [&](std::string path, std::string_view rule, std::string_view msg) {
    errors[path] = json::object{{rule, json::object{{"message", msg}}}};
  };
  if (!v.is_object()) return fail("muc", "type", "Value did not match type(s): object");
  auto& m = v.as_object();
  for (auto k : {"members_only", "moderated"})
    if (auto* f = m.if_contains(k); f && !f->is_bool())
      fail(std::string("muc.") + k, "type", "Value did not match type(s): boolean");
  for (auto k : {"subject", "description"})
    if (auto* f = m.if_contains(k); f && !f->is_string())
      fail(std::string("muc.") + k, "type", "Value did not match type(s): string");
  if (auto* s = m.if_contains("subject"); s && s->is_string() && s->as_string().size() > 1024)
    fail("muc.subject", "maxLength", "String must not be more than 1024 characters");
  if (auto* affs = m.if_contains("affiliations")) {
    if (!affs->is_object())
      return fail("muc.affiliations", "type", "Value did not match type(s): object");
    for (auto& [user, a] : affs->as_object())
      if (!a.is_string() || !parse_affiliation(a.as_string()))
        errors["muc.affiliations." + std::string(user)] = json::object{
            {"enum",
             json::object{{"message", "Value not found in enumerated list of values"},
                          {"value", json::array{"owner", "admin", "member", "none", "outcast"}}}}};
  }
}

}  // namespace confab::core
