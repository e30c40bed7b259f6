// SPDX-License-Identifier: MIT
// JID parsing and formatting. Strict: every accepted string formats back to itself (docs/protocol/binary-node.md).
#include "wa/core/jid.hpp"

#include <array>
#include <charconv>

#include "wa/core/errc.hpp"

namespace wa {
namespace {

struct ServerEntry {
  Server server;
  std::string_view name;
};
constexpr std::array<ServerEntry, 12> kServers{{
    {Server::user, "s.whatsapp.net"},
    {Server::legacy_user, "c.us"},
    {Server::group, "g.us"},
    {Server::broadcast, "broadcast"},
    {Server::lid, "lid"},
    {Server::newsletter, "newsletter"},
    {Server::hosted, "hosted"},
    {Server::hosted_lid, "hosted.lid"},
    {Server::messenger, "msgr"},
    {Server::interop, "interop"},
    {Server::bot, "bot"},
    {Server::call, "call"},
}};

constexpr std::size_t kMaxUserLength = 64;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Device servers carry phone numbers or LIDs: digits only. Others allow [0-9A-Za-z-] (old group ids are
// "creator-timestamp", "status@broadcast", "server@c.us").
bool valid_user(std::string_view user, Server server) {
  if (user.size() > kMaxUserLength) return false;
  const bool digits_only = is_device_server(server) || server == Server::messenger || server == Server::interop;
  for (char c : user) {
    if (digits_only ? !is_digit(c) : !(is_alnum(c) || c == '-')) return false;
  }
  return true;
}

template <class Int>
bool parse_uint(std::string_view s, Int& out) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v > static_cast<unsigned>(static_cast<Int>(~Int{0}))) {
    return false;
  }
  out = static_cast<Int>(v);
  return true;
}

Error bad(std::string_view text, std::string_view why) {
  std::string ctx(why);
  ctx += ": \"";
  ctx += text.substr(0, 80);
  ctx += '"';
  return Error{core::errc::invalid_jid, std::move(ctx)};
}

}  // namespace

std::string_view server_name(Server s) noexcept {
  for (const auto& e : kServers) {
    if (e.server == s) return e.name;
  }
  return {};
}

std::optional<Server> server_from_name(std::string_view name) noexcept {
  for (const auto& e : kServers) {
    if (e.name == name) return e.server;
  }
  return std::nullopt;
}

bool is_device_server(Server s) noexcept {
  return s == Server::user || s == Server::lid || s == Server::hosted || s == Server::hosted_lid;
}

Result<Jid> Jid::make(std::string_view user, Server server) {
  if (!valid_user(user, server)) return fail(bad(user, "user not valid for " + std::string(server_name(server))));
  Jid j;
  j.user_ = std::string(user);
  j.server_ = server;
  j.valid_ = true;
  return j;
}

Result<Jid> Jid::make_device(std::string_view user, Server server, std::uint16_t device, std::uint8_t agent,
                             std::uint16_t integrator) {
  if (user.empty()) return fail(bad(user, "a device JID needs a user"));
  if (!is_device_server(server) && server != Server::messenger && server != Server::interop) {
    return fail(bad(user, "server takes no device: " + std::string(server_name(server))));
  }
  if (agent != 0 && server != Server::user) return fail(bad(user, "agent only on s.whatsapp.net"));
  if (integrator != 0 && server != Server::interop) return fail(bad(user, "integrator only on interop"));
  WA_TRY(Jid j, make(user, server));
  j.device_ = device;
  j.agent_ = agent;
  j.integrator_ = integrator;
  j.has_device_ = true;
  return j;
}

Jid Jid::server_jid() {
  Jid j;
  j.server_ = Server::user;
  j.valid_ = true;
  return j;
}

Result<Jid> Jid::parse(std::string_view text) {
  const auto at = text.find('@');
  if (at == std::string_view::npos) {
    // A bare server name is that server's own address ("s.whatsapp.net", "g.us").
    auto server = server_from_name(text);
    if (!server) return fail(bad(text, "no '@' and not a server name"));
    return make("", *server);
  }
  if (text.find('@', at + 1) != std::string_view::npos) return fail(bad(text, "more than one '@'"));
  auto server = server_from_name(text.substr(at + 1));
  if (!server) return fail(bad(text, "unknown server"));
  std::string_view local = text.substr(0, at);
  if (local.empty()) return make("", *server);

  std::uint16_t device = 0;
  bool has_device = false;
  if (auto colon = local.find(':'); colon != std::string_view::npos) {
    if (!parse_uint(local.substr(colon + 1), device)) return fail(bad(text, "bad device"));
    has_device = true;
    local = local.substr(0, colon);
  }
  std::uint16_t integrator = 0;
  if (*server == Server::interop) {
    auto dash = local.find('-');
    if (dash == std::string_view::npos || !parse_uint(local.substr(0, dash), integrator) || integrator == 0) {
      return fail(bad(text, "interop JID needs integrator-user"));
    }
    local = local.substr(dash + 1);
  }
  std::uint8_t agent = 0;
  if (auto underscore = local.find('_'); underscore != std::string_view::npos) {
    if (!parse_uint(local.substr(underscore + 1), agent) || agent == 0) return fail(bad(text, "bad agent"));
    local = local.substr(0, underscore);
  }
  if (local.empty()) return fail(bad(text, "empty user"));
  if (!has_device) {
    if (agent != 0 || integrator != 0) return fail(bad(text, "agent or integrator without device"));
    return make(local, *server);
  }
  return make_device(local, *server, device, agent, integrator);
}

Jid Jid::to_user() const {
  Jid j = *this;
  j.device_ = 0;
  j.agent_ = 0;
  j.integrator_ = 0;
  j.has_device_ = false;
  return j;
}

std::string Jid::to_string() const {
  if (!valid_) return {};
  std::string s;
  s.reserve(user_.size() + 24);
  if (integrator_ != 0) {
    s += std::to_string(integrator_);
    s += '-';
  }
  s += user_;
  if (agent_ != 0) {
    s += '_';
    s += std::to_string(agent_);
  }
  if (has_device_) {
    s += ':';
    s += std::to_string(device_);
  }
  s += '@';
  s += server_name(server_);
  return s;
}

std::ostream& operator<<(std::ostream& os, const Jid& jid) { return os << jid.to_string(); }

}  // namespace wa
