// Authentication and authorization: API keys, user credentials, tokens, reach.
#include "core/service.hpp"

#include "core/calls.hpp"
#include "core/crypto.hpp"
#include "core/error.hpp"
#include "core/identity.hpp"
#include "core/json_util.hpp"
#include "core/limits.hpp"

#include <boost/json.hpp>

namespace confab::core {
namespace json = boost::json;

std::string ConferenceService::auth_api_key(std::string_view api_key, TokenClaims* out) const {
  if (api_key.empty() || api_key.size() > limits::kSecretBytes)
    throw Error(Errc::unauthorized, "invalid credentials");
  auto found = dir_.tagged("account", kAccounts,
                           {"pvt_api_key_hash", keyed_hash(api_key), kAccounts, false});
  if (found.empty()) throw Error(Errc::unauthorized, "invalid credentials");
  auto* acct = found.front();
  TokenClaims c{acct->id, {}, now() + cfg_.token_ttl_seconds, "api_key"};
  if (out) *out = c;
  return issue_token(secret_, c);
}

std::string ConferenceService::auth_user(std::string_view credentials,
                                         std::string_view account_name, TokenClaims* out) const {
  // Kazoo account names match case-insensitively: the directory keys them in lower case.
  auto* acct = dir_.owner("account", kAccounts, {"name", lower(account_name), kAccounts, true});
  if (!acct || credentials.empty() || credentials.size() > limits::kSecretBytes)
    throw Error(Errc::unauthorized, "invalid credentials");
  auto users =
      dir_.tagged("user", acct->id, {"pvt_credentials", keyed_hash(lower(credentials)), {}, false});
  if (users.empty()) throw Error(Errc::unauthorized, "invalid credentials");
  auto* user = users.front();
  TokenClaims c{acct->id, user->id, now() + cfg_.token_ttl_seconds, "user_auth"};
  if (out) *out = c;
  return issue_token(secret_, c);
}

std::string ConferenceService::auth_login(std::string_view login, std::string_view password,
                                          TokenClaims* out) const {
  auto at = login.rfind('@');
  auto username = lower(login.substr(0, at));
  auto account_name = at == std::string_view::npos ? std::string() : lower(login.substr(at + 1));
  auto creds = keyed_hash(user_credentials(username, password));
  // The password is checked against every account that has the username before anything is
  // said: "ambiguous" only when it opens more than one, so that a client without the password
  // cannot learn that a username exists in several accounts.
  const Doc* found = nullptr;
  int opened = 0;
  for (auto* u : dir_.tagged("user", kLogins, {"username", username, kLogins, false})) {
    if (!account_name.empty()) {
      auto* a = dir_.find("account", u->account_id);
      if (!a || lower(str_field(a->body, "name")) != account_name) continue;
    }
    if (str_field(u->body, "pvt_credentials") != creds) continue;
    ++opened;
    found = u;
  }
  if (!found || password.empty()) throw Error(Errc::unauthorized, "invalid credentials");
  // The same username and password in two accounts needs "user@account" to say which.
  if (opened > 1) throw Error(Errc::unauthorized, "ambiguous login: use user@account");
  TokenClaims c{found->account_id, found->id, now() + cfg_.token_ttl_seconds, "login"};
  if (out) *out = c;
  return issue_token(secret_, c);
}

namespace {
PinCaller login_caller(std::string_view source) {
  PinCaller c;  // no caller scope: a login's source and target say all
  if (!source.empty()) c.sources.push_back("addr:" + std::string(source));
  return c;
}
}  // namespace

void ConferenceService::check_login(std::string_view target, std::string_view source) {
  auto r = logins_.check(target, login_caller(source), now());
  if (!r) return;
  logins_.count_refusal(*r);
  throw Error(Errc::too_many_logins,
              r->scope == "source" ? "too many failed logins from this address"
                                   : "too many failed logins for this account or user",
              json::object{{"retry_after", r->retry_after}, {"scope", r->scope}});
}

std::string ConferenceService::login(std::string_view target, std::string_view source,
                                     const std::function<std::string()>& verify) {
  check_login(target, source);
  auto who = login_caller(source);
  try {
    auto token = verify();
    logins_.succeeded(target, who, now());
    return token;
  } catch (const Error& e) {
    if (e.code == Errc::unauthorized) logins_.failed(target, who, now());
    throw;
  }
}

std::string ConferenceService::refresh(const TokenClaims& c) const {
  TokenClaims fresh = c;
  fresh.expires = now() + cfg_.token_ttl_seconds;
  return issue_token(secret_, fresh);
}

std::int64_t ConferenceService::empty_since(std::string_view conference_id) const {
  if (room(conference_id)) return 0;
  if (auto it = emptied_.find(std::string(conference_id)); it != emptied_.end()) return it->second;
  auto* d = dir_.find("conference", conference_id);
  if (!d) return 0;
  auto* c = d->body.if_contains("pvt_created");
  return c && c->is_int64() ? c->as_int64() : 0;
}

TokenClaims ConferenceService::verify(std::string_view token) const {
  auto c = verify_token(secret_, token, now());
  if (!dir_.find("account", c.account_id)) throw Error(Errc::unauthorized, "invalid credentials");
  if (!c.user_id.empty() && !dir_.find("user", c.user_id))
    throw Error(Errc::unauthorized, "invalid credentials");
  return c;
}

bool ConferenceService::is_admin_account(std::string_view account_id) const {
  auto* a = dir_.find("account", account_id);
  if (!a) return false;
  auto* v = a->body.if_contains("pvt_superduper_admin");
  return v && v->is_bool() && v->as_bool();
}

bool ConferenceService::is_admin_user(const TokenClaims& c) const {
  if (c.user_id.empty()) return true;  // an API-key token acts for the whole account
  auto* u = dir_.find("user", c.user_id);
  return u && str_field(u->body, "priv_level") == "admin";
}

void ConferenceService::authorize(const TokenClaims& c, std::string_view account_id, Access a,
                                  std::string_view owner) const {
  auto forbidden = [] { return Error(Errc::forbidden, "forbidden"); };
  bool admin_account = is_admin_account(c.account_id);
  bool user_admin = is_admin_user(c);
  if (a == Access::manage_accounts) {
    if (!admin_account || !user_admin) throw forbidden();
    return;
  }
  if (c.account_id != account_id && !admin_account) throw forbidden();
  if (a == Access::write && !user_admin && (owner.empty() || owner != c.user_id)) throw forbidden();
}

}  // namespace confab::core
