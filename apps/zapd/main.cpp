// SPDX-License-Identifier: MIT
// zapd's composition root: configuration, the two stores (the gateway's and the engine's keys; SQLite or PostgreSQL),
// the service, the Z-API routes and the HTTP server, all on one io_context thread; the engine runs its
// own threads and posts its events onto this one.
#include "config.hpp"

#include "wa/core/bytes.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/gateway/api.hpp"
#include "wa/gateway/http_server.hpp"
#include "wa/service/service.hpp"
#include "wa/sim/network.hpp"
#include "wa/sim/server.hpp"
#include "wa/store_pg/pg_store.hpp"
#include "wa/store_sqlite/sqlite_store.hpp"
#include "wa/webhook/poster.hpp"

#include <nlohmann/json.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace wa::zapd {
namespace {

constexpr int kExitRuntime = 1;
constexpr std::uint64_t kBodyLimit = 1024 * 1024;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// --sandbox: a wasim network in this process (its own thread and loopback port) stands in for WhatsApp.
// Two routes (admin bearer) make it usable through zapd's port alone (docs/sandbox.md):
//   POST /sandbox/instances/{id}/link {"phone"?}  a sandbox phone scans the instance's current QR
//   ANY  /sandbox/wasim/<path>                    wasim's control API (accounts, phones that send, ...)
class Sandbox final {
 public:
  Sandbox() : server_(network_, sim::ServerConfig{"127.0.0.1", 0, {}, {}}) {
    server_.start();
    thread_ = std::thread([this] { server_.run(); });
  }
  ~Sandbox() {
    server_.stop();
    thread_.join();
  }
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;
  std::uint16_t port() const { return server_.port(); }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port()) + "/ws/chat"; }
  /// The simulator's self-signed certificate: its media server speaks HTTPS only.
  const std::string& tls_pem() const { return server_.tls_certificate_pem(); }
  std::string control() const { return "http://127.0.0.1:" + std::to_string(port()); }
  std::string root_hex() const { return to_hex(network_.root_public()); }

 private:
  sim::Network network_;
  sim::Server server_;
  std::thread thread_;
};

class SandboxRoutes final {
 public:
  SandboxRoutes(boost::asio::any_io_executor ex, service::Service& svc, const Sandbox& sb, std::string admin)
      : svc_(svc), control_(sb.control()), admin_("Bearer " + std::move(admin)), http_(ex, webhook::PosterConfig{}) {}

  /// True when the request was a sandbox route (answered through respond).
  bool handle(const gateway::HttpRequest& req, const gateway::Api::Respond& respond) {
    std::string_view path = req.target;
    if (!path.starts_with("/sandbox/")) return false;
    if (!crypto::equal(req.authorization, admin_)) {
      respond(gateway::error_response(401, "UNAUTHORIZED", "send Authorization: Bearer <admin token>"));
      return true;
    }
    if (path.starts_with("/sandbox/wasim/")) {
      http_.request(req.method, control_ + std::string(path.substr(14)), req.body, {}, [respond](webhook::PostResult r) {
        if (r.status == 0) return respond(gateway::error_response(502, "SANDBOX_UNAVAILABLE", r.error));
        respond(gateway::HttpResponse{r.status, r.body, {}, {}});
      });
      return true;
    }
    constexpr std::string_view kLink = "/sandbox/instances/";
    if (path.starts_with(kLink) && path.ends_with("/link") && req.method == "POST") {
      const std::string id(path.substr(kLink.size(), path.size() - kLink.size() - 5));
      auto body = nlohmann::json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
      std::string phone = body.is_object() && body.contains("phone") && body["phone"].is_string()
                              ? body["phone"].get<std::string>()
                              : "55119000" + std::to_string(10000 + ++linked_);
      link(id, phone, respond);
      return true;
    }
    respond(gateway::error_response(404, "NOT_FOUND", "sandbox routes: POST /sandbox/instances/{id}/link, /sandbox/wasim/..."));
    return true;
  }

 private:
  void link(const std::string& id, const std::string& phone, const gateway::Api::Respond& respond) {
    svc_.qr(id, [this, phone, respond](Result<service::Service::Pairing> p) {
      if (!p) return respond(gateway::error_response(p.error().code() == service::errc::not_found ? 404 : 504,
                                                     p.error().code() == service::errc::not_found ? "NOT_FOUND" : "WHATSAPP_TIMEOUT",
                                                     p.error().context()));
      if (p->connected) return respond(gateway::error_response(409, "ALREADY_CONNECTED", "You are already connected."));
      const std::string qr = p->value;
      const std::string account = nlohmann::json{{"phone", phone}, {"name", "Sandbox phone " + phone}}.dump();
      http_.post(control_ + "/accounts", account, {}, [this, phone, qr, respond](webhook::PostResult) {
        const std::string scan = nlohmann::json{{"qr", qr}}.dump();
        http_.post(control_ + "/accounts/" + phone + "/scan", scan, {}, [phone, respond](webhook::PostResult r) {
          if (!r.ok()) return respond(gateway::error_response(502, "SANDBOX_FAILED", "the sandbox phone could not scan: " + r.body + r.error));
          respond(gateway::HttpResponse{200, nlohmann::json{{"value", true}, {"phone", phone}}.dump(), {}, {}});
        });
      });
    });
  }

  service::Service& svc_;
  std::string control_;
  std::string admin_;
  webhook::Poster http_;
  int linked_ = 0;
};

// What an operator needs after a security advisory: which OpenSSL and SQLite this binary runs, and whether they
// are inside it (a static build, the default: rebuild zapd to update them) or the system's shared libraries.
std::string libraries_line() {
#ifdef WA_STATIC_DEPS
  const char* how = "linked in: rebuild zapd after their security updates";
#else
  const char* how = "the system's shared libraries";
#endif
  return "libraries: " + crypto::openssl_version() + ", SQLite " + store_sqlite::SqliteStore::library_version() + " (" +
         how + ")";
}

int serve(const Config& config) {
  std::error_code fs_ec;
  std::filesystem::create_directories(config.data_dir, fs_ec);
  if (fs_ec || !std::filesystem::is_directory(config.data_dir, fs_ec)) {
    std::cerr << "zapd: cannot create data directory '" << config.data_dir.string()
              << "': " << (fs_ec ? fs_ec.message() : "not a directory") << '\n';
    return kExitRuntime;
  }
  std::cout << "zapd " << kVersion << '\n' << libraries_line() << '\n';
  print_config(std::cout, config);
  std::cout.flush();

  // Two stores: the gateway's (instances, queues, outbox) and the engine's keys, so that wiping a device's
  // keys never touches its queue. SQLite: two files; PostgreSQL: two schemas of one database.
  std::unique_ptr<store::Store> gw;
  std::unique_ptr<store::Store> keys;
  if (config.database.starts_with("sqlite://")) {
    const std::string db_path = config.database.substr(9);
    std::string keys_path = db_path;
    if (keys_path.ends_with(".db")) keys_path.resize(keys_path.size() - 3);
    keys_path += "-keys.db";
    auto g = store_sqlite::SqliteStore::open(db_path);
    if (!g) {
      std::cerr << "zapd: cannot open " << db_path << ": " << g.error().message() << '\n';
      return kExitRuntime;
    }
    // The keys database's page cache is bounded at 256 KB (SQLite's default is 2 MB): a restart reads every
    // number's credentials once and those pages stayed resident, about 1 MB at 1,000 numbers, while what a
    // send reads there (Signal sessions, one per peer device) does not fit a cache either way. The gateway
    // database keeps the default: the queues' and outbox's last pages are rewritten on every accept (a 256 KB
    // cache cost about 10 % more CPU per accept; docs/benchmarks.md).
    auto k = store_sqlite::SqliteStore::open(keys_path, 256);
    if (!k) {
      std::cerr << "zapd: cannot open " << keys_path << ": " << k.error().message() << '\n';
      return kExitRuntime;
    }
    gw = std::move(*g);
    keys = std::move(*k);
  } else {
    auto g = store_pg::PgStore::open(config.database, "zapd");
    if (!g) {
      std::cerr << "zapd: cannot open the PostgreSQL database: " << g.error().message() << '\n';
      return kExitRuntime;
    }
    auto k = store_pg::PgStore::open(config.database, "zapd_keys");
    if (!k) {
      std::cerr << "zapd: cannot open the PostgreSQL database: " << k.error().message() << '\n';
      return kExitRuntime;
    }
    gw = std::move(*g);
    keys = std::move(*k);
  }

  std::unique_ptr<Sandbox> sandbox;
  if (config.sandbox) {
    sandbox = std::make_unique<Sandbox>();
    std::cout << "sandbox: a simulated WhatsApp network (wasim) at " << sandbox->control()
              << "; link an instance with POST /sandbox/instances/ID/link (docs/sandbox.md)" << std::endl;
  }
  boost::asio::io_context ioc{1};
  service::Options opt;
  opt.wa_url = sandbox ? sandbox->url() : config.wa_url;
  auto root = from_hex(sandbox ? sandbox->root_hex() : config.wa_root_key);
  std::copy(root->begin(), root->end(), opt.wa_root.begin());
  if (!config.wa_tls_ca.empty()) opt.wa_extra_ca_pem = read_file(config.wa_tls_ca);
  if (sandbox) opt.wa_extra_ca_pem += sandbox->tls_pem();
  opt.media_dir = (config.data_dir / "media").string();
  opt.media_max_bytes = static_cast<std::size_t>(config.media_max_mb) << 20;
  opt.media_retention = std::chrono::hours(24 * config.media_retention_days);
  opt.connect_slots = config.connect_slots;
  opt.spacing = config.send_spacing;
  opt.webhook_allow_http = config.webhook_allow_http;
  opt.webhook_secret = config.webhook_secret;
  opt.webhook_max_attempts = config.webhook_max_attempts;
  opt.webhook_backoff_base = std::chrono::milliseconds(config.webhook_backoff_ms);
  service::Service svc(ioc.get_executor(), *gw, *keys, opt);
  if (auto st = svc.start(); !st) {
    std::cerr << "zapd: cannot load instances: " << st.error().message() << '\n';
    return kExitRuntime;
  }
  gateway::Api api(svc, gateway::ApiConfig{config.admin_token, config.client_token, std::string(kVersion)});
  std::unique_ptr<SandboxRoutes> sandbox_routes;
  if (sandbox) sandbox_routes = std::make_unique<SandboxRoutes>(ioc.get_executor(), svc, *sandbox, config.admin_token);
  gateway::HttpServer server(
      ioc.get_executor(),
      [&api, &sandbox_routes](const gateway::HttpRequest& req, gateway::Api::Respond r) {
        if (sandbox_routes && sandbox_routes->handle(req, r)) return;
        api.handle(req, std::move(r));
      },
      [media_limit = (static_cast<std::uint64_t>(config.media_max_mb) << 20) * 4 / 3 + 65536](std::string_view target) {
        // A media send may carry its file as a data: URI (base64: 4/3 of the file).
        return gateway::is_media_send(target) ? media_limit : kBodyLimit;
      },
      "zapd/" + std::string(kVersion));
  if (auto st = server.listen(config.listen.host, config.listen.port); !st) {
    std::cerr << "zapd: " << st.error().context() << ": " << st.error().code().message() << '\n';
    return kExitRuntime;
  }
  const std::string base = "http://" + ListenAddress{config.listen.host, server.port()}.to_string();
  svc.set_public_url(config.public_url.empty() ? base : config.public_url);
  std::cout << "listening on " << base << std::endl;
  std::cout << "next: create an instance with\n  curl -s -X POST " << base
            << "/instances/integrator/on-demand -H 'Authorization: Bearer <admin token>' -H 'Content-Type: "
               "application/json' -d '{\"name\":\"my number\"}'\n  then GET /instances/ID/token/TOKEN/qr-code/image and "
               "scan it (README.md, docs/api.md)"
            << std::endl;

  bool failed = false;
  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    std::cout << "stopping on " << (signo == SIGINT ? "SIGINT" : "SIGTERM") << std::endl;
    server.stop();
    svc.shutdown();
  });
  server.start([&](const std::string& why) {
    if (!why.empty()) {
      std::cerr << "zapd: HTTP accept loop failed: " << why << '\n';
      failed = true;
    }
    server.stop();
    svc.shutdown();
    signals.cancel();
  });
  ioc.run();
  std::cout << "stopped (heap given back to the OS " << svc.heap_trims() << " times)" << std::endl;
  return failed ? kExitRuntime : 0;
}

}  // namespace
}  // namespace wa::zapd

int main(int argc, char** argv) {
  using namespace wa::zapd;
  std::signal(SIGPIPE, SIG_IGN);
  try {
    const char* const* first = argv + (argc > 0 ? 1 : 0);
    const auto count = static_cast<std::size_t>(argc > 1 ? argc - 1 : 0);
    const Invocation invocation = parse_invocation(std::span<const char* const>(first, count), process_environment());
    switch (invocation.command) {
      case Command::Help:
        std::cout << usage();
        return 0;
      case Command::Version:
        std::cout << "zapd " << kVersion << '\n' << libraries_line() << '\n';
        return 0;
      case Command::Serve:
        break;
    }
    return serve(invocation.config);
  } catch (const ConfigError& e) {
    std::cerr << "zapd: " << e.what() << '\n';
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "zapd: " << e.what() << '\n';
    return kExitRuntime;
  }
}
