// SPDX-License-Identifier: MIT
// wasim: a local WhatsApp network for tests and the sandbox (docs/wasim.md).
//   wasim [--listen 127.0.0.1:PORT] [--root-key-file FILE] [--tls-cert-file FILE] [--first-stanza-delay-ms N]
// Prints "wasim listening on PORT" and "root HEX" once ready.
#include <csignal>
#include <cstdlib>
#include <fstream>
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
  wa::sim::Network network(cfg);
  wa::sim::Server server(network, {listen.substr(0, colon), static_cast<std::uint16_t>(std::stoi(listen.substr(colon + 1)))});
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
