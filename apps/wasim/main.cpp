// SPDX-License-Identifier: MIT
// wasim: a local WhatsApp network for tests and the sandbox (docs/wasim.md).
//   wasim [--listen 127.0.0.1:PORT] [--root-key-file FILE] [--tls-cert-file FILE] [--tls-dir DIR]
//         [--first-stanza-delay-ms N]
//   wasim --write-tls DIR   writes a new self-signed identity to DIR/cert.pem and DIR/key.pem, and exits
// Prints "wasim listening on PORT" and "root HEX" once ready. --tls-dir serves the identity of DIR (so a test
// can trust its certificate before wasim starts, e.g. with NODE_EXTRA_CA_CERTS).
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>
#include <string>
#include <thread>

#include "wa/sim/network.hpp"
#include "wa/sim/server.hpp"

namespace {
wa::sim::Server* g_server = nullptr;
void on_signal(int) {
  if (g_server != nullptr) g_server->stop();
}
}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0";
  std::string root_file;
  std::string cert_file;
  std::string tls_dir;
  wa::sim::NetworkConfig cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "wasim: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--listen") {
      listen = value();
    } else if (a == "--root-key-file") {
      root_file = value();
    } else if (a == "--tls-cert-file") {
      cert_file = value();
    } else if (a == "--tls-dir") {
      tls_dir = value();
    } else if (a == "--write-tls") {
      const std::filesystem::path dir = value();
      std::filesystem::create_directories(dir);
      const auto [cert, key] = wa::sim::make_tls_identity();
      std::ofstream(dir / "cert.pem") << cert;
      std::ofstream(dir / "key.pem") << key;
      return 0;
    } else if (a == "--first-stanza-delay-ms") {
      cfg.first_stanza_delay = std::chrono::milliseconds(std::stoi(value()));
    } else {
      std::cerr << "wasim: unknown option " << a << "\nusage: wasim [--listen HOST:PORT] [--root-key-file FILE] "
                                                   "[--first-stanza-delay-ms N]\n";
      return 2;
    }
  }
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "wasim: --listen needs HOST:PORT\n";
    return 2;
  }
  wa::sim::ServerConfig scfg{listen.substr(0, colon), static_cast<std::uint16_t>(std::stoi(listen.substr(colon + 1))), {}, {}};
  if (!tls_dir.empty()) {
    auto slurp = [](const std::filesystem::path& p) {
      std::ifstream f(p);
      std::stringstream ss;
      ss << f.rdbuf();
      return ss.str();
    };
    scfg.cert_pem = slurp(std::filesystem::path(tls_dir) / "cert.pem");
    scfg.key_pem = slurp(std::filesystem::path(tls_dir) / "key.pem");
    if (scfg.cert_pem.empty() || scfg.key_pem.empty()) {
      std::cerr << "wasim: --tls-dir " << tls_dir << " needs cert.pem and key.pem (wasim --write-tls DIR makes them)\n";
      return 2;
    }
  }
  wa::sim::Network network(cfg);
  wa::sim::Server server(network, scfg);
  try {
    server.start();
  } catch (const std::exception& e) {
    std::cerr << "wasim: cannot listen on " << listen << ": " << e.what() << "\n";
    return 1;
  }
  const std::string root = wa::to_hex(network.root_public());
  if (!root_file.empty()) std::ofstream(root_file) << root << "\n";
  if (!cert_file.empty()) std::ofstream(cert_file) << server.tls_certificate_pem();
  g_server = &server;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::cout << "root " << root << "\nwasim listening on " << server.port() << std::endl;
  server.run();
  return 0;
}
