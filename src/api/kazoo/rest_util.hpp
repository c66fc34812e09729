#pragma once
// What the Kazoo REST handlers (rest.cpp, media_rest.cpp) share: the facts of one request, and
// the reading of its method and body.
#include "api/kazoo/rest.hpp"
#include "net/http.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <initializer_list>
#include <string_view>

namespace confab::api::kazoo {

struct Rest::Ctx {
  std::string request_id;
  std::string auth_token;
  core::TokenClaims claims;
};

// Throws invalid_method (405, with the allowed methods for the Allow header) unless the request's
// method is one of `methods`.
void allow(const net::Request& r, std::initializer_list<std::string_view> methods);

// Kazoo bodies are {"data": {...}, ...}; an empty body is an empty envelope. Throws parse_error.
boost::json::object parse_envelope(const net::Request& r);
// Not a copy: a body may be large, and is checked before anything of it is copied.
const boost::json::value& data_of(const boost::json::object& env);

}  // namespace confab::api::kazoo
