#include "api/xivo/auth.hpp"

#include "api/xivo/render.hpp"
#include "core/error.hpp"
#include "core/field_errors.hpp"
#include "core/identity.hpp"

#include <boost/json.hpp>

#include <cctype>

namespace confab::api::xivo {
namespace json = boost::json;

net::Response json_response(int status, const json::object& body,
                            std::vector<std::pair<std::string, std::string>> headers) {
  return net::Response{status, json::serialize(body), "application/json", std::move(headers)};
}

net::Response http_error(int status, std::string_view code, std::string_view message) {
  return json_response(status, json::object{{"error", code}, {"message", message}});
}

net::Response login(core::ConferenceService& svc, const net::Request& req) {
  if (req.method != "POST")
    return json_response(405,
                         json::object{{"error", "MethodNotAllowed"},
                                      {"message", "use POST with {\"login\", \"password\"}"}},
                         {{"Allow", "POST"}});
  boost::system::error_code ec;
  auto v = json::parse(req.body, ec);
  if (ec || !v.is_object())
    return http_error(400, "InvalidJson",
                      "the body must be a JSON object {\"login\": ..., \"password\": ...}");
  auto& o = v.as_object();
  auto* login = o.if_contains("login");
  auto* password = o.if_contains("password");
  if (!login || !login->is_string() || login->as_string().empty())
    return http_error(400, "InvalidJson", "login is required (a string)");
  if (!password || !password->is_string())
    return http_error(400, "InvalidJson", "password is required (a string)");
  std::string_view name = login->as_string();
  try {
    core::require_text("login", name, 1, core::limits::kDisplayBytes);
    core::require_text("password", password->as_string(), 0, core::limits::kSecretBytes);
  } catch (const Error& e) {
    return http_error(400, "InvalidJson", e.message);
  }
  try {
    // Throttled per address and per username (core login()), with or without "@account".
    auto target = "user:" + core::lower(name.substr(0, name.rfind('@')));
    auto token = svc.login(target, req.remote_address(),
                           [&] { return svc.auth_login(name, password->as_string()); });
    return json_response(
        200,
        json::object{{"login", name}, {"token", token}, {"TTL", svc.config().token_ttl_seconds}});
  } catch (const Error& e) {
    if (e.code == Errc::too_many_logins) {
      auto wait = e.details.at("retry_after").as_int64();
      return json_response(
          429,
          json::object{{"error", "TooManyRequests"}, {"message", e.message}, {"retryAfter", wait}},
          {{"Retry-After", std::to_string(wait)}});
    }
    if (e.code != Errc::unauthorized) throw;
    return http_error(401, "InvalidCredentials", e.message);
  }
}

net::Response check(core::ConferenceService& svc, const net::Request& req) {
  if (req.method != "GET")
    return json_response(
        405,
        json::object{{"error", "MethodNotAllowed"},
                     {"message", "use GET with the header Authorization: Bearer <token>"}},
        {{"Allow", "GET"}});
  auto h = req.header("authorization");
  if (h.empty())
    return http_error(401, "AuthorizationHeaderNotFound",
                      "the header Authorization: Bearer <token> is required");
  std::string scheme(h.substr(0, 7));
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "bearer " || h.size() == 7)
    return http_error(401, "BearerNotFound", "the Authorization header must be: Bearer <token>");
  try {
    auto claims = svc.verify(h.substr(7));
    if (claims.user_id.empty()) throw Error(Errc::unauthorized, "not a user's token");
    auto& user = svc.get("user", claims.account_id, claims.user_id);
    return json_response(200, json::object{{"login", render::str_field(user.body, "username")},
                                           {"token", svc.refresh(claims)},
                                           {"TTL", svc.config().token_ttl_seconds}});
  } catch (const Error& e) {
    if (e.code != Errc::unauthorized && e.code != Errc::not_found) throw;
    return http_error(401, "InvalidToken", e.message);
  }
}

}  // namespace confab::api::xivo
