// SPDX-License-Identifier: MIT
// Curve25519: X25519 key agreement (OpenSSL) and XEdDSA signatures (libsignal-protocol-c's curve).
// Keys are raw 32 bytes, as on the WhatsApp wire; Signal's 33-byte form is 0x05 || key (protocol/README.md §12).
#pragma once

#include "wa/core/bytes.hpp"
#include "wa/core/result.hpp"

namespace wa::crypto {

using PublicKey = ByteArray<32>;
using PrivateKey = SecretArray<32>;
using Signature = ByteArray<64>;
inline constexpr std::uint8_t kDjbType = 0x05;  // Signal's key-type prefix for Curve25519 public keys

struct KeyPair {
  PrivateKey priv;  ///< clamped scalar
  PublicKey pub;

  static KeyPair generate();
  /// Derives the public key; clamps the scalar first, so any 32 bytes make a valid pair.
  static KeyPair from_private(ByteView priv32);
};

/// X25519(priv, pub). Fails for a low-order public key (all-zero shared secret).
[[nodiscard]] Result<SecretArray<32>> shared_key(const PrivateKey& priv, ByteView pub32);
/// The same from a key pair whose public half is known: half the cost (no public key derived on the way).
[[nodiscard]] Result<SecretArray<32>> shared_key(const KeyPair& mine, ByteView pub32);
/// XEdDSA signature as libsignal computes it (64 bytes, randomised).
[[nodiscard]] Result<Signature> sign(const PrivateKey& priv, ByteView message);
/// True when sig is a valid XEdDSA signature of message by pub32.
bool verify(ByteView pub32, ByteView message, ByteView sig);
/// 0x05 || pub.
ByteArray<33> signal_public(const PublicKey& pub);

}  // namespace wa::crypto
