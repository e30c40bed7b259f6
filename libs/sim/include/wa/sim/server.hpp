// SPDX-License-Identifier: MIT
// The socket shell of wasim: one loopback listener serving the chat websocket at /ws/chat and the
// control API (HTTP+JSON, docs/wasim.md) on every other path, each over plain TCP or TLS (detected per
// connection; the certificate is self-signed). One thread runs everything.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "wa/sim/network.hpp"

namespace wa::sim {

struct ServerConfig {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;  ///< 0: any free port (see Server::port())
  std::string cert_pem, key_pem;  ///< the TLS identity; both empty: a self-signed one is made at start-up
};

/// A fresh self-signed identity (certificate and key, PEM) of the kind the server makes for itself.
std::pair<std::string, std::string> make_tls_identity();

class Server final {
 public:
  Server(Network& net, ServerConfig cfg);
  ~Server();
  /// Binds; throws std::runtime_error when the address cannot be bound (a startup error).
  void start();
  std::uint16_t port() const;
  /// The self-signed certificate (PEM) served to TLS clients; also at GET /tls-cert.
  const std::string& tls_certificate_pem() const;
  /// Runs the event loop on the calling thread until stop().
  void run();
  /// Thread-safe.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wa::sim
