// SPDX-License-Identifier: MIT
// Jid: a parsed, validated WhatsApp address (protocol/README.md §3, docs/protocol/binary-node.md).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "wa/core/result.hpp"

namespace wa {

/// The server part of a JID. Persisted and put on the wire by name only, so the numbering is free.
enum class Server : std::uint8_t {
  user,         ///< s.whatsapp.net: phone-number accounts, and the server itself (empty user)
  legacy_user,  ///< c.us: legacy form of s.whatsapp.net
  group,        ///< g.us
  broadcast,    ///< broadcast: status@broadcast and broadcast lists
  lid,          ///< lid: hidden-user ids
  newsletter,   ///< newsletter: channels
  hosted,       ///< hosted: hosted (Cloud API) phone numbers
  hosted_lid,   ///< hosted.lid
  messenger,    ///< msgr: Messenger interop users (FB_JID on the wire)
  interop,      ///< interop: third-party interop users (INTEROP_JID on the wire)
  bot,          ///< bot: Meta AI bots
  call,         ///< call: call links
};

std::string_view server_name(Server s) noexcept;
std::optional<Server> server_from_name(std::string_view name) noexcept;
/// True for servers whose JIDs name a person's device (may carry :device): s.whatsapp.net, lid, hosted, hosted.lid.
bool is_device_server(Server s) noexcept;

/// A WhatsApp address. Forms (see docs/protocol/binary-node.md):
///   `user@server`, `user:device@server`, `user_agent:device@s.whatsapp.net`, `integrator-user:device@interop`,
///   `@s.whatsapp.net` or `s.whatsapp.net` (a server JID: empty user).
/// Invariants hold for every constructed Jid; a default-constructed one is !is_valid().
class Jid final {
 public:
  Jid() = default;

  /// `user@server` without a device. Returns an error when user is not valid for server.
  [[nodiscard]] static Result<Jid> make(std::string_view user, Server server);
  /// `user[_agent]:device@server` (or `integrator-user:device@interop`).
  [[nodiscard]] static Result<Jid> make_device(std::string_view user, Server server, std::uint16_t device,
                                               std::uint8_t agent = 0, std::uint16_t integrator = 0);
  [[nodiscard]] static Result<Jid> parse(std::string_view text);
  /// The server's own address, `@s.whatsapp.net` (JID_PAIR with an empty user on the wire).
  static Jid server_jid();

  bool is_valid() const noexcept { return valid_; }
  const std::string& user() const noexcept { return user_; }
  Server server() const noexcept { return server_; }
  bool has_device() const noexcept { return has_device_; }
  std::uint16_t device() const noexcept { return device_; }
  std::uint8_t agent() const noexcept { return agent_; }
  std::uint16_t integrator() const noexcept { return integrator_; }
  bool is_server_jid() const noexcept { return valid_ && user_.empty(); }

  /// The account this device belongs to: the same JID without device and agent.
  Jid to_user() const;
  std::string to_string() const;

  friend bool operator==(const Jid&, const Jid&) = default;

 private:
  std::string user_;
  std::uint16_t device_ = 0;
  std::uint16_t integrator_ = 0;
  std::uint8_t agent_ = 0;
  Server server_ = Server::user;
  bool has_device_ = false;
  bool valid_ = false;
};

std::ostream& operator<<(std::ostream& os, const Jid& jid);

}  // namespace wa

template <>
struct std::hash<wa::Jid> {
  std::size_t operator()(const wa::Jid& j) const noexcept {
    return std::hash<std::string>{}(j.user()) ^ (static_cast<std::size_t>(j.device()) << 8) ^
           static_cast<std::size_t>(j.server());
  }
};
