// SPDX-License-Identifier: MIT
// libFuzzer: Noise handshake messages from a hostile peer, at every step: a ClientHello to the responder,
// a ServerHello to the initiator, and a ClientFinish after a genuine hello. Nothing may crash or succeed
// on garbage where authentication is required.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "wa/noise/handshake.hpp"

namespace {
struct Fixture {
  wa::crypto::KeyPair root = wa::crypto::KeyPair::generate();
  wa::crypto::KeyPair inter = wa::crypto::KeyPair::generate();
  wa::crypto::KeyPair server = wa::crypto::KeyPair::generate();
  wa::Bytes chain;
  Fixture() {
    wa::noise::CertSpec i{1, 0, inter.pub, 0, 0};
    wa::noise::CertSpec l{2, 1, server.pub, 0, 0};
    chain = *wa::noise::build_cert_chain(root.priv, i, inter.priv, l);
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fx;
  const wa::ByteView in(data, size);
  {
    wa::noise::Responder r(wa::noise::ResponderConfig{fx.server, fx.chain, std::nullopt}, wa::wire::Dict::v3);
    (void)r.on_client_hello(in);
  }
  {
    wa::noise::InitiatorConfig ic;
    ic.noise_key = fx.inter;
    ic.trusted_root = fx.root.pub;
    wa::noise::Initiator init(ic);
    (void)init.client_hello();
    if (init.on_server_hello(in, {})) std::abort();  // garbage cannot authenticate
  }
  {
    wa::noise::InitiatorConfig ic;
    ic.noise_key = fx.inter;
    wa::noise::Initiator init(ic);
    wa::noise::Responder r(wa::noise::ResponderConfig{fx.server, fx.chain, std::nullopt}, wa::wire::Dict::v3);
    if (!r.on_client_hello(init.client_hello())) std::abort();
    if (r.on_client_finish(in)) std::abort();  // garbage cannot authenticate
  }
  return 0;
}
