// SPDX-License-Identifier: MIT
// zapd's startup configuration: layering (defaults < file < environment < flags), validation and printing.
#include "config.hpp"

#include "wa/core/bytes.hpp"

#include <arpa/inet.h>
#include <sys/random.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

namespace wa::zapd {
namespace {

constexpr std::string_view kDefaultListen = "127.0.0.1:8080";
constexpr std::string_view kDefaultDataDir = "./data";
constexpr std::string_view kDefaultWaUrl = "wss://web.whatsapp.com/ws/chat";
// Public key of WhatsApp's server certificate root (the Noise handshake checks the chain against it).
constexpr std::string_view kDefaultWaRootKey = "142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b";
constexpr std::size_t kRootKeyBytes = 32;
constexpr std::size_t kGeneratedTokenBytes = 32;  // 256 bits, printed as 64 hex digits

// One row per setting: its config-file key, environment variable and flag. The order is the print order.
enum class Key : std::size_t {
  Listen, DataDir, Database, WaUrl, WaRootKey, AdminToken, ClientToken, WaTlsCa, SendSpacing, WebhookAllowHttp,
  WebhookSecret, WebhookMaxAttempts, WebhookBackoffMs, Sandbox, PublicUrl, MediaMaxMb, MediaRetentionDays,
  ConnectSlots
};

struct SettingInfo {
  std::string_view file_key;
  std::string_view env_var;
  std::string_view flag;
};

constexpr std::array<SettingInfo, 18> kSettings{{
    {"listen", "ZAPD_LISTEN", "--listen"},
    {"data_dir", "ZAPD_DATA_DIR", "--data-dir"},
    {"database", "ZAPD_DATABASE", "--database"},
    {"wa_url", "ZAPD_WA_URL", "--wa-url"},
    {"wa_root_key", "ZAPD_WA_ROOT_KEY", "--wa-root-key"},
    {"admin_token", "ZAPD_ADMIN_TOKEN", "--admin-token"},
    {"client_token", "ZAPD_CLIENT_TOKEN", "--client-token"},
    {"wa_tls_ca", "ZAPD_WA_TLS_CA", "--wa-tls-ca"},
    {"send_spacing", "ZAPD_SEND_SPACING", "--send-spacing"},
    {"webhook_allow_http", "ZAPD_WEBHOOK_ALLOW_HTTP", "--webhook-allow-http"},
    {"webhook_secret", "ZAPD_WEBHOOK_SECRET", "--webhook-secret"},
    {"webhook_max_attempts", "ZAPD_WEBHOOK_MAX_ATTEMPTS", "--webhook-max-attempts"},
    {"webhook_backoff_ms", "ZAPD_WEBHOOK_BACKOFF_MS", "--webhook-backoff-ms"},
    {"sandbox", "ZAPD_SANDBOX", "--sandbox"},
    {"public_url", "ZAPD_PUBLIC_URL", "--public-url"},
    {"media_max_mb", "ZAPD_MEDIA_MAX_MB", "--media-max-mb"},
    {"media_retention_days", "ZAPD_MEDIA_RETENTION_DAYS", "--media-retention-days"},
    {"connect_slots", "ZAPD_CONNECT_SLOTS", "--connect-slots"},
}};

// A raw value plus where it came from ("--listen", "ZAPD_LISTEN", "zapd.conf:3"), for error messages.
struct Sourced {
  std::string text;
  std::string origin;
};
using Layer = std::array<std::optional<Sourced>, kSettings.size()>;

struct CommandLine {
  Command command = Command::Serve;
  std::optional<std::string> config_file;
  Layer flags;
};

constexpr std::size_t index_of(Key k) noexcept { return static_cast<std::size_t>(k); }

std::string_view trim(std::string_view s) noexcept {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const auto first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(kSpace);
  return s.substr(first, last - first + 1);
}

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

std::optional<std::size_t> find_flag(std::string_view flag) noexcept {
  for (std::size_t i = 0; i < kSettings.size(); ++i) {
    if (kSettings[i].flag == flag) return i;
  }
  return std::nullopt;
}

std::optional<std::size_t> find_file_key(std::string_view key) noexcept {
  for (std::size_t i = 0; i < kSettings.size(); ++i) {
    if (kSettings[i].file_key == key) return i;
  }
  return std::nullopt;
}

std::string known_file_keys() {
  std::string out;
  for (const auto& s : kSettings) {
    if (!out.empty()) out += ", ";
    out += s.file_key;
  }
  return out;
}

CommandLine parse_args(std::span<const char* const> args) {
  CommandLine cl;
  std::size_t i = 0;
  if (!args.empty() && std::string_view(args[0]) == "serve") i = 1;
  for (; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      cl.command = Command::Help;
      return cl;
    }
    if (arg == "--version") {
      cl.command = Command::Version;
      return cl;
    }
    if (!arg.starts_with("--")) {
      throw ConfigError("unexpected argument " + in_quotes(arg) + " (the only command is 'serve'; see zapd --help)");
    }
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (const auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    const auto setting = find_flag(name);
    if (!setting && name != "--config") throw ConfigError("unknown option " + in_quotes(name) + " (see zapd --help)");
    if (!value && name == "--sandbox" && (i + 1 >= args.size() || std::string_view(args[i + 1]).starts_with("--"))) {
      value = "on";  // a bare --sandbox
    }
    if (!value) {
      if (i + 1 >= args.size() || std::string_view(args[i + 1]).starts_with("--")) {
        throw ConfigError("option " + std::string(name) + " needs a value");
      }
      value = args[++i];
    }
    if (setting) {
      cl.flags[*setting] = Sourced{std::string(*value), std::string(name)};
    } else {
      cl.config_file = std::string(*value);
    }
  }
  return cl;
}

// A '#' at the start of a line or after whitespace starts a comment; elsewhere it is part of the value.
std::string_view strip_comment(std::string_view line) noexcept {
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) return line.substr(0, i);
  }
  return line;
}

Layer read_config_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw ConfigError("config file " + in_quotes(path) + " is a directory");
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot open config file " + in_quotes(path) + ": " + std::strerror(errno));
  Layer layer;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string where = path + ":" + std::to_string(line_no);
    const std::string_view text = trim(strip_comment(line));
    if (text.empty()) continue;
    const auto eq = text.find('=');
    if (eq == std::string_view::npos) throw ConfigError(where + ": expected 'key = value', got " + in_quotes(text));
    const std::string_view key = trim(text.substr(0, eq));
    const auto setting = find_file_key(key);
    if (!setting) {
      throw ConfigError(where + ": unknown key " + in_quotes(key) + " (known keys: " + known_file_keys() + ")");
    }
    layer[*setting] = Sourced{std::string(trim(text.substr(eq + 1))), where};
  }
  if (in.bad()) throw ConfigError("cannot read config file " + in_quotes(path));
  return layer;
}

Layer read_environment(const EnvLookup& env) {
  Layer layer;
  for (std::size_t i = 0; i < kSettings.size(); ++i) {
    const std::string name(kSettings[i].env_var);
    if (auto v = env(name)) layer[i] = Sourced{std::move(*v), name};
  }
  return layer;
}

std::string invalid(const Sourced& v, std::string_view what, std::string_view expected) {
  return "invalid " + std::string(what) + " " + in_quotes(v.text) + " from " + v.origin + " (expected " +
         std::string(expected) + ")";
}

bool is_visible_ascii(std::string_view s) noexcept {
  for (const char c : s) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

bool has_url_scheme(std::string_view url, std::string_view scheme) noexcept {
  return url.starts_with(scheme) && url.size() > scheme.size();
}

// postgresql://user:secret@host/db?password=x -> postgresql://user:<redacted>@host/db?password=<redacted>
std::string redact_database_url(std::string url) {
  constexpr std::string_view kRedacted = "<redacted>";
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  const auto authority = scheme_end + 3;
  const auto at = url.find('@', authority);
  const auto slash = url.find('/', authority);
  if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
    const auto colon = url.find(':', authority);
    if (colon != std::string::npos && colon < at) url.replace(colon + 1, at - colon - 1, kRedacted);
  }
  for (auto pos = url.find("password="); pos != std::string::npos; pos = url.find("password=", pos + 1)) {
    const auto start = pos + std::string_view("password=").size();
    const auto end = url.find('&', start);
    url.replace(start, (end == std::string::npos ? url.size() : end) - start, kRedacted);
  }
  return url;
}

std::string generate_token() {
  std::array<std::uint8_t, kGeneratedTokenBytes> bytes{};
  std::size_t filled = 0;
  while (filled < bytes.size()) {
    const auto n = ::getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    filled += static_cast<std::size_t>(n);
  }
  return to_hex(bytes);
}

Config resolve(const Layer& file, const Layer& env, const Layer& flags) {
  const auto pick = [&](Key k, std::string_view fallback) {
    const auto i = index_of(k);
    if (flags[i]) return *flags[i];
    if (env[i]) return *env[i];
    if (file[i]) return *file[i];
    return Sourced{std::string(fallback), "default"};
  };

  Config c;
  const Sourced listen = pick(Key::Listen, kDefaultListen);
  auto address = parse_listen_address(listen.text);
  if (!address) {
    throw ConfigError(
        invalid(listen, "listen address", "HOST:PORT with a numeric IPv4 host or [IPv6], port 0-65535"));
  }
  c.listen = std::move(*address);

  const Sourced data_dir = pick(Key::DataDir, kDefaultDataDir);
  if (data_dir.text.empty()) throw ConfigError(invalid(data_dir, "data directory", "a non-empty path"));
  c.data_dir = data_dir.text;

  const Sourced database = pick(Key::Database, "sqlite://" + (c.data_dir / "zapd.db").string());
  const bool postgres = has_url_scheme(database.text, "postgres://") || has_url_scheme(database.text, "postgresql://");
  if (!(has_url_scheme(database.text, "sqlite://") || (postgres && is_visible_ascii(database.text)))) {
    throw ConfigError(invalid(Sourced{redact_database_url(database.text), database.origin}, "database URL",
                              "sqlite://PATH or postgresql://..."));
  }
  c.database = database.text;

  const Sourced wa_url = pick(Key::WaUrl, kDefaultWaUrl);
  const bool websocket = has_url_scheme(wa_url.text, "wss://") || has_url_scheme(wa_url.text, "ws://");
  if (!websocket || !is_visible_ascii(wa_url.text)) {
    throw ConfigError(invalid(wa_url, "WhatsApp URL", "a wss:// or ws:// URL"));
  }
  c.wa_url = wa_url.text;

  const Sourced root_key = pick(Key::WaRootKey, kDefaultWaRootKey);
  auto key = from_hex(root_key.text);
  if (root_key.text.size() != 2 * kRootKeyBytes || !key || key->size() != kRootKeyBytes) {
    throw ConfigError(invalid(root_key, "WhatsApp root key", "64 hex digits"));
  }
  c.wa_root_key = to_hex(*key);

  const Sourced token = pick(Key::AdminToken, "");
  if (token.text.empty()) {
    c.admin_token = generate_token();
    c.admin_token_generated = true;
  } else if (!is_visible_ascii(token.text)) {
    throw ConfigError("invalid admin token from " + token.origin + " (expected printable ASCII without spaces)");
  } else {
    c.admin_token = token.text;
  }

  const Sourced client_token = pick(Key::ClientToken, "");
  if (!client_token.text.empty() && !is_visible_ascii(client_token.text)) {
    throw ConfigError("invalid client token from " + client_token.origin + " (expected printable ASCII without spaces)");
  }
  c.client_token = client_token.text;
  c.wa_tls_ca = pick(Key::WaTlsCa, "").text;

  const auto flag = [&](Key k, std::string_view fallback, std::string_view what) {
    const Sourced v = pick(k, fallback);
    if (v.text == "on" || v.text == "true" || v.text == "1") return true;
    if (v.text == "off" || v.text == "false" || v.text == "0") return false;
    throw ConfigError(invalid(v, what, "on or off"));
  };
  c.send_spacing = flag(Key::SendSpacing, "on", "send spacing");
  c.webhook_allow_http = flag(Key::WebhookAllowHttp, "off", "webhook-allow-http");
  c.sandbox = flag(Key::Sandbox, "off", "sandbox");
  c.webhook_secret = pick(Key::WebhookSecret, "").text;

  const auto number = [&](Key k, std::string_view fallback, std::string_view what, long lo, long hi) {
    const Sourced v = pick(k, fallback);
    long n = 0;
    const auto [end, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), n);
    if (ec != std::errc{} || end != v.text.data() + v.text.size() || n < lo || n > hi) {
      throw ConfigError(invalid(v, what, "a whole number from " + std::to_string(lo) + " to " + std::to_string(hi)));
    }
    return n;
  };
  c.webhook_max_attempts = static_cast<int>(number(Key::WebhookMaxAttempts, "15", "webhook max attempts", 1, 1000));
  c.webhook_backoff_ms = number(Key::WebhookBackoffMs, "1000", "webhook backoff", 1, 3600000);
  c.media_max_mb = static_cast<int>(number(Key::MediaMaxMb, "64", "media max MiB", 1, 1024));
  c.media_retention_days = static_cast<int>(number(Key::MediaRetentionDays, "30", "media retention days", 1, 3650));
  c.connect_slots = static_cast<std::size_t>(number(Key::ConnectSlots, "256", "connect slots", 1, 100000));
  const Sourced public_url = pick(Key::PublicUrl, "");
  std::string_view pu = public_url.text;
  while (pu.ends_with('/')) pu.remove_suffix(1);
  const bool url_ok = (pu.starts_with("http://") || pu.starts_with("https://")) && pu.find_first_of(" ?#") == std::string_view::npos &&
                      pu.size() > 8 && pu.size() < 1024;
  if (!pu.empty() && !url_ok) throw ConfigError(invalid(public_url, "public URL", "http(s)://host[:port][/path]"));
  c.public_url = std::string(pu);
  return c;
}

}  // namespace

std::string ListenAddress::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
  std::string_view host;
  std::string_view port;
  int family = AF_INET;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    family = AF_INET6;
  } else {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos || text.find(':', colon + 1) != std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5) return std::nullopt;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || end != port.data() + port.size() || value > 65535) return std::nullopt;

  const std::string host_str(host);
  std::array<unsigned char, 16> buf{};
  if (host_str.empty() || ::inet_pton(family, host_str.c_str(), buf.data()) != 1) return std::nullopt;
  return ListenAddress{host_str, static_cast<std::uint16_t>(value)};
}

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): read once at startup
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
}

Invocation parse_invocation(std::span<const char* const> args, const EnvLookup& env) {
  CommandLine cl = parse_args(args);
  Invocation inv;
  inv.command = cl.command;
  if (cl.command != Command::Serve) return inv;
  const Layer file = cl.config_file ? read_config_file(*cl.config_file) : Layer{};
  inv.config = resolve(file, read_environment(env), cl.flags);
  inv.config.config_file = cl.config_file.value_or("");
  return inv;
}

std::string usage() {
  std::ostringstream out;
  out << "zapd " << kVersion << ": a self-hosted, Z-API-compatible WhatsApp gateway\n"
      << "\n"
      << "usage: zapd [serve] [options]\n"
      << "\n"
      << "options (each overrides its environment variable, which overrides the config file):\n"
      << "  --config FILE          read 'key = value' lines ('#' starts a comment); keys:\n"
      << "                         " << known_file_keys() << "\n"
      << "  --listen HOST:PORT     ZAPD_LISTEN       (default " << kDefaultListen << "; port 0 = any free port)\n"
      << "  --data-dir DIR         ZAPD_DATA_DIR     (default " << kDefaultDataDir << ")\n"
      << "  --database URL         ZAPD_DATABASE     (default sqlite://DATA_DIR/zapd.db)\n"
      << "  --wa-url URL           ZAPD_WA_URL       (default " << kDefaultWaUrl << ")\n"
      << "  --wa-root-key HEX      ZAPD_WA_ROOT_KEY  (default: WhatsApp's server root key)\n"
      << "  --admin-token TOKEN    ZAPD_ADMIN_TOKEN  (default: a random token, printed once at start)\n"
      << "  --client-token TOKEN   ZAPD_CLIENT_TOKEN (Z-API's account Client-Token header; off when unset)\n"
      << "  --wa-tls-ca FILE       ZAPD_WA_TLS_CA    (a PEM CA also trusted for wss://; e.g. wasim's)\n"
      << "  --send-spacing on|off  ZAPD_SEND_SPACING (default on: Z-API's 1-3 s between sends, delayMessage, delayTyping)\n"
      << "  --webhook-allow-http on|off  ZAPD_WEBHOOK_ALLOW_HTTP (default off: webhook URLs must be https)\n"
      << "  --webhook-secret KEY   ZAPD_WEBHOOK_SECRET (signs each webhook: X-Zapd-Signature: sha256=HMAC)\n"
      << "  --webhook-max-attempts N   ZAPD_WEBHOOK_MAX_ATTEMPTS (default 15; then the event is dead-lettered)\n"
      << "  --webhook-backoff-ms N     ZAPD_WEBHOOK_BACKOFF_MS (default 1000; doubles per attempt, capped at 10 min)\n"
      << "  --public-url URL       ZAPD_PUBLIC_URL (default http://LISTEN): the base of received media URLs in webhooks\n"
      << "  --media-max-mb N       ZAPD_MEDIA_MAX_MB (default 64): the largest file sent or received\n"
      << "  --media-retention-days N  ZAPD_MEDIA_RETENTION_DAYS (default 30): received files are deleted after this\n"
      << "  --connect-slots N      ZAPD_CONNECT_SLOTS (default 256): the most numbers connecting at once (adapts from 16)\n"
      << "  --sandbox [on|off]     ZAPD_SANDBOX (default off): an embedded simulated WhatsApp network (wasim)\n"
      << "                         instead of WhatsApp; link instances with POST /sandbox/instances/ID/link\n"
      << "  --version              print the version and exit\n"
      << "  --help, -h             print this help and exit\n"
      << "\n"
      << "exit codes: 0 clean stop (SIGINT/SIGTERM), 1 runtime failure, 2 invalid configuration\n";
  return out.str();
}

void print_config(std::ostream& out, const Config& config) {
  if (!config.config_file.empty()) out << "config_file: " << config.config_file << '\n';
  out << "listen: " << config.listen.to_string() << '\n'
      << "data_dir: " << config.data_dir.string() << '\n'
      << "database: " << redact_database_url(config.database) << '\n'
      << "wa_url: " << config.wa_url << '\n'
      << "wa_root_key: " << config.wa_root_key << '\n';
  if (config.admin_token_generated) {
    out << "admin_token: " << config.admin_token << " (generated; shown only this once)\n";
  } else {
    out << "admin_token: <set>\n";
  }
  out << "client_token: " << (config.client_token.empty() ? "<off>" : "<set>") << '\n'
      << "send_spacing: " << (config.send_spacing ? "on" : "off") << '\n'
      << "webhook_allow_http: " << (config.webhook_allow_http ? "on" : "off") << '\n'
      << "webhook_secret: " << (config.webhook_secret.empty() ? "<off>" : "<set>") << '\n'
      << "webhook_max_attempts: " << config.webhook_max_attempts << '\n'
      << "public_url: " << (config.public_url.empty() ? "<listen address>" : config.public_url) << '\n'
      << "media_max_mb: " << config.media_max_mb << '\n'
      << "media_retention_days: " << config.media_retention_days << '\n'
      << "connect_slots: " << config.connect_slots << '\n'
      << "sandbox: " << (config.sandbox ? "on" : "off") << '\n';
}

}  // namespace wa::zapd
