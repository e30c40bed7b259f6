// SPDX-License-Identifier: MIT
#include "wa/webhook/url.hpp"

#include <charconv>

namespace wa::webhook {

std::optional<Url> parse_url(std::string_view s) {
  if (s.size() > 2048) return std::nullopt;
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return std::nullopt;
  }
  Url u;
  if (s.starts_with("https://")) {
    s.remove_prefix(8);
    u.port = "443";
  } else if (s.starts_with("http://")) {
    s.remove_prefix(7);
    u.tls = false;
    u.port = "80";
  } else {
    return std::nullopt;
  }
  if (s.find('#') != std::string_view::npos) return std::nullopt;
  const auto path_at = s.find_first_of("/?");
  std::string_view authority = s.substr(0, path_at);
  u.target = path_at == std::string_view::npos ? "/" : std::string(s.substr(path_at));
  if (u.target.front() == '?') u.target.insert(0, "/");
  if (authority.find('@') != std::string_view::npos || authority.empty()) return std::nullopt;
  std::string_view port;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    u.host = std::string(authority.substr(1, close - 1));
    const auto rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else {
    const auto colon = authority.find(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
    if (u.host.empty()) return std::nullopt;
  }
  if (!port.empty()) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc{} || end != port.data() + port.size() || v == 0 || v > 65535) return std::nullopt;
    u.port = std::to_string(v);
  }
  return u;
}

}  // namespace wa::webhook
