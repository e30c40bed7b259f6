// SPDX-License-Identifier: MIT
// zapd's startup configuration: defaults < config file (--config) < ZAPD_* environment < command-line flags.
// Plain C++ (no Asio); errors are ConfigError exceptions, which main() turns into exit code 2.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace wa::zapd {

inline constexpr std::string_view kVersion = "0.1.0";

/// Exit code for a bad command line, environment or config file.
inline constexpr int kExitUsage = 2;

/// A numeric IPv4 or IPv6 address and a TCP port. Port 0 means "any free port" (the kernel picks one).
struct ListenAddress final {
  std::string host;  ///< an IP literal without brackets: "127.0.0.1", "::1"
  std::uint16_t port = 0;

  /// "127.0.0.1:8080" or "[::1]:8080".
  [[nodiscard]] std::string to_string() const;
};

/// The effective configuration after all layers were merged and validated.
struct Config final {
  ListenAddress listen;
  std::filesystem::path data_dir;
  std::string database;     ///< sqlite://PATH, postgres://… or postgresql://…
  std::string wa_url;       ///< ws:// or wss:// URL of the WhatsApp (or wasim) chat socket
  std::string wa_root_key;  ///< 64 lowercase hex digits: the server certificate root public key
  std::string admin_token;
  bool admin_token_generated = false;  ///< true when no token was configured and one was drawn at start
  std::string config_file;             ///< the --config path, empty when none
  std::string client_token;            ///< Z-API's account-level Client-Token; not enforced when empty
  std::string wa_tls_ca;               ///< PEM file also trusted for wss:// (wasim's certificate)
  bool send_spacing = true;            ///< Z-API's spacing between queued sends
  bool webhook_allow_http = false;
  std::string webhook_secret;
  int webhook_max_attempts = 15;
  long webhook_backoff_ms = 1000;
  bool sandbox = false;                ///< an embedded wasim network instead of WhatsApp
  std::string public_url;              ///< base of received media URLs; "" = http://<listen address>
  int media_max_mb = 64;
  int media_retention_days = 30;
  std::size_t connect_slots = 256;     ///< numbers connecting (TCP, TLS, Noise) at once; the rest wait their turn
};

enum class Command { Serve, Version, Help };

struct Invocation final {
  Command command = Command::Serve;
  Config config;  ///< filled only for Command::Serve
};

/// A configuration mistake by the operator: message for stderr, exit code kExitUsage.
class ConfigError final : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Looks up an environment variable; nullopt when unset. Injected so tests need not touch the real environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

/// The process environment (std::getenv). Empty variables count as unset.
[[nodiscard]] EnvLookup process_environment();

/// Parses argv[1..] (without the program name), reads the config file and the environment, validates and merges.
/// Generates a random admin token when none is configured.
/// Throws ConfigError on any invalid input, std::system_error if no randomness is available.
[[nodiscard]] Invocation parse_invocation(std::span<const char* const> args, const EnvLookup& env);

/// "HOST:PORT" or "[V6]:PORT" with a numeric host; nullopt if malformed.
[[nodiscard]] std::optional<ListenAddress> parse_listen_address(std::string_view text);

/// The --help text.
[[nodiscard]] std::string usage();

/// Prints one "key: value" line per setting. The admin token shows as <set> unless it was generated.
/// Passwords inside the database URL are replaced with <redacted>.
void print_config(std::ostream& out, const Config& config);

}  // namespace wa::zapd
