// SPDX-License-Identifier: MIT
// zapd's composition root: configuration, the two SQLite stores (the gateway's and the engine's keys),
// the service, the Z-API routes and the HTTP server, all on one io_context thread; the engine runs its
// own threads and posts its events onto this one.
#include "config.hpp"

#include "wa/core/bytes.hpp"
#include "wa/gateway/api.hpp"
#include "wa/gateway/http_server.hpp"
#include "wa/service/service.hpp"
#include "wa/store_sqlite/sqlite_store.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

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

int serve(const Config& config) {
  std::error_code fs_ec;
  std::filesystem::create_directories(config.data_dir, fs_ec);
  if (fs_ec || !std::filesystem::is_directory(config.data_dir, fs_ec)) {
    std::cerr << "zapd: cannot create data directory '" << config.data_dir.string()
              << "': " << (fs_ec ? fs_ec.message() : "not a directory") << '\n';
    return kExitRuntime;
  }
  if (!config.database.starts_with("sqlite://")) {
    std::cerr << "zapd: PostgreSQL is not supported by this version yet; use sqlite://PATH\n";
    return kExitUsage;
  }
  const std::string db_path = config.database.substr(9);
  std::string keys_path = db_path;
  if (keys_path.ends_with(".db")) keys_path.resize(keys_path.size() - 3);
  keys_path += "-keys.db";

  std::cout << "zapd " << kVersion << '\n';
  print_config(std::cout, config);
  std::cout.flush();

  auto gw = store_sqlite::SqliteStore::open(db_path);
  if (!gw) {
    std::cerr << "zapd: cannot open " << db_path << ": " << gw.error().message() << '\n';
    return kExitRuntime;
  }
  auto keys = store_sqlite::SqliteStore::open(keys_path);
  if (!keys) {
    std::cerr << "zapd: cannot open " << keys_path << ": " << keys.error().message() << '\n';
    return kExitRuntime;
  }

  boost::asio::io_context ioc{1};
  service::Options opt;
  opt.wa_url = config.wa_url;
  auto root = from_hex(config.wa_root_key);
  std::copy(root->begin(), root->end(), opt.wa_root.begin());
  if (!config.wa_tls_ca.empty()) opt.wa_extra_ca_pem = read_file(config.wa_tls_ca);
  opt.spacing = config.send_spacing;
  opt.webhook_allow_http = config.webhook_allow_http;
  opt.webhook_secret = config.webhook_secret;
  opt.webhook_max_attempts = config.webhook_max_attempts;
  opt.webhook_backoff_base = std::chrono::milliseconds(config.webhook_backoff_ms);
  service::Service svc(ioc.get_executor(), **gw, **keys, opt);
  if (auto st = svc.start(); !st) {
    std::cerr << "zapd: cannot load instances: " << st.error().message() << '\n';
    return kExitRuntime;
  }
  gateway::Api api(svc, gateway::ApiConfig{config.admin_token, config.client_token, std::string(kVersion)});
  gateway::HttpServer server(
      ioc.get_executor(), [&api](const gateway::HttpRequest& req, gateway::Api::Respond r) { api.handle(req, std::move(r)); },
      kBodyLimit, "zapd/" + std::string(kVersion));
  if (auto st = server.listen(config.listen.host, config.listen.port); !st) {
    std::cerr << "zapd: " << st.error().context() << ": " << st.error().code().message() << '\n';
    return kExitRuntime;
  }
  std::cout << "listening on http://" << ListenAddress{config.listen.host, server.port()}.to_string() << std::endl;

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
  std::cout << "stopped" << std::endl;
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
        std::cout << "zapd " << kVersion << '\n';
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
