// SPDX-License-Identifier: MIT
// Webhook URLs: parsing and the policy check (https only unless plain http is allowed). Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace wa::webhook {

struct Url {
  bool tls = true;
  std::string host;    ///< without brackets for IPv6
  std::string port;    ///< "443", "80" or explicit
  std::string target;  ///< path and query, "/" at least
};

/// http://host[:port][/path][?query] or https://...; nullopt for anything else (userinfo, fragments,
/// spaces, control characters, empty host, bad port, over 2,048 characters).
std::optional<Url> parse_url(std::string_view text);

}  // namespace wa::webhook
