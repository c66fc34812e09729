#pragma once
// xuc's token API over HTTP: POST /xuc/api/2.0/auth/login and GET /xuc/api/2.0/auth/check.
#include "core/service.hpp"
#include "net/http.hpp"

#include <boost/json/object.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace confab::api::xivo {

inline constexpr std::string_view kLogin = "/xuc/api/2.0/auth/login";
inline constexpr std::string_view kCheck = "/xuc/api/2.0/auth/check";

net::Response login(core::ConferenceService& svc, const net::Request& req);
net::Response check(core::ConferenceService& svc, const net::Request& req);

net::Response json_response(int status, const boost::json::object& body,
                            std::vector<std::pair<std::string, std::string>> headers = {});
// xuc's error shape: {"error": code, "message": message}.
net::Response http_error(int status, std::string_view code, std::string_view message);

}  // namespace confab::api::xivo
