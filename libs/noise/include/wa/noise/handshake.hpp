// SPDX-License-Identifier: MIT
// Noise_XX_25519_AESGCM_SHA256 as WhatsApp uses it (protocol/README.md §2, docs/protocol/noise.md):
// initiator (our client) and responder (wasim) as state machines that take and return bytes. No I/O.
// The messages in and out are HandshakeMessage protobuf bytes, without the 3-byte frame length.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <system_error>

#include "wa/core/bytes.hpp"
#include "wa/core/result.hpp"
#include "wa/crypto/curve.hpp"
#include "wa/noise/cert.hpp"
#include "wa/noise/transport.hpp"
#include "wa/wire/dictionary.hpp"

namespace wa::noise {

enum class errc {
  bad_message = 1,   ///< a HandshakeMessage that does not parse or lacks a required part
  bad_key,           ///< a key of the wrong size or a low-order point
  decrypt_failed,    ///< AES-GCM authentication failed during the handshake
  wrong_state,       ///< a call out of order (e.g. finish before the last message)
  untrusted_cert,    ///< the intermediate is not signed by the trusted root
  bad_cert,          ///< a certificate that does not parse, a missing part or a bad leaf signature
  wrong_issuer,      ///< intermediate issuer serial != 0, or leaf issuer != intermediate serial
  cert_expired,      ///< outside notBefore..notAfter
  key_mismatch,      ///< the leaf key is not the server's static key
  counter_exhausted, ///< 2^32 frames on one key
};
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

/// The running hash, chaining key and cipher key of a handshake (Noise "SymmetricState").
class SymmetricState final {
 public:
  explicit SymmetricState(wire::Dict dict);
  void mix_hash(ByteView data);
  void mix_key(ByteView input_key_material);
  [[nodiscard]] Result<Bytes> encrypt(ByteView plaintext);
  [[nodiscard]] Result<Bytes> decrypt(ByteView ciphertext);
  /// (first, second) halves of HKDF(ck, empty): the initiator writes with first, the responder with second.
  std::pair<SecretArray<32>, SecretArray<32>> split() const;
  const ByteArray<32>& hash() const noexcept { return h_; }

 private:
  ByteArray<32> h_;
  SecretArray<32> ck_;
  SecretArray<32> k_;
  std::uint32_t n_ = 0;
};

struct InitiatorConfig {
  wire::Dict dict = wire::Dict::v3;
  crypto::KeyPair noise_key;                 ///< the device's long-lived static key
  crypto::PublicKey trusted_root = kWhatsAppRootKey;
  std::function<std::uint64_t()> now;        ///< unix seconds; defaults to the system clock
  std::optional<crypto::KeyPair> ephemeral;  ///< tests only: a fixed ephemeral key
};

/// Client side. Call order: client_hello, on_server_hello, finish.
class Initiator final {
 public:
  explicit Initiator(InitiatorConfig cfg);
  /// HandshakeMessage{clientHello{ephemeral}}.
  Bytes client_hello();
  /// Verifies the server, then returns HandshakeMessage{clientFinish{static, payload}} carrying client_payload.
  [[nodiscard]] Result<Bytes> on_server_hello(ByteView handshake_message, ByteView client_payload);
  /// The transport ciphers; valid once, after on_server_hello succeeded.
  [[nodiscard]] Result<CipherPair> finish();
  /// What the verified certificate chain said (after on_server_hello).
  const CertInfo& server_cert() const noexcept { return cert_; }
  const crypto::PublicKey& server_static() const noexcept { return server_static_; }

 private:
  enum class State { start, sent_hello, sent_finish, done };
  InitiatorConfig cfg_;
  SymmetricState ss_;
  crypto::KeyPair ephemeral_;
  crypto::PublicKey server_static_{};
  CertInfo cert_;
  State state_ = State::start;
};

struct ResponderConfig {
  crypto::KeyPair static_key;  ///< the server's static key, named by the leaf certificate
  Bytes cert_chain;            ///< serialized CertChain (see build_cert_chain)
  std::optional<crypto::KeyPair> ephemeral;  ///< tests only
};

/// Server side (wasim). The dictionary is the one named by the client's connection header.
/// Call order: on_client_hello, on_client_finish, finish.
class Responder final {
 public:
  Responder(ResponderConfig cfg, wire::Dict dict);
  /// Returns HandshakeMessage{serverHello{ephemeral, static, payload}}.
  [[nodiscard]] Result<Bytes> on_client_hello(ByteView handshake_message);
  /// Returns the decrypted ClientPayload bytes.
  [[nodiscard]] Result<Bytes> on_client_finish(ByteView handshake_message);
  [[nodiscard]] Result<CipherPair> finish();
  /// The client's static (noise) public key, after on_client_finish.
  const crypto::PublicKey& client_static() const noexcept { return client_static_; }

 private:
  enum class State { start, sent_hello, got_finish, done };
  ResponderConfig cfg_;
  SymmetricState ss_;
  crypto::KeyPair ephemeral_;
  crypto::PublicKey client_ephemeral_{};
  crypto::PublicKey client_static_{};
  State state_ = State::start;
};

}  // namespace wa::noise

template <>
struct std::is_error_code_enum<wa::noise::errc> : std::true_type {};
