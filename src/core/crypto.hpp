#pragma once
// Small crypto helpers over OpenSSL: the hashes Kazoo's credentials use, keyed hashes for what we
// store instead of secrets, and random identifiers.
#include <string>
#include <string_view>

namespace confab::core {

std::string md5_hex(std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
std::string random_hex(std::size_t bytes);  // cryptographically random, lower-case hex
bool constant_time_equal(std::string_view a, std::string_view b);
std::string base64url(std::string_view data);
bool base64url_decode(std::string_view in, std::string& out);

}  // namespace confab::core
