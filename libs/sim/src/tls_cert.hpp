// SPDX-License-Identifier: MIT
// Private: wasim's self-signed TLS certificate for wss:// (and later HTTPS media), made at start-up.
#pragma once

#include <string>

namespace wa::sim::detail {

struct TlsIdentity {
  std::string cert_pem;
  std::string key_pem;
};

/// An EC P-256 key and a self-signed certificate for CN=wasim, SAN IP:127.0.0.1 and DNS:localhost,
/// valid from a day ago for ten years.
TlsIdentity make_self_signed_identity();

}  // namespace wa::sim::detail
