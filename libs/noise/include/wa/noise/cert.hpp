// SPDX-License-Identifier: MIT
// The server certificate chain sent in ServerHello.payload (protocol/README.md §2.1): building one
// (responder) and verifying one against a trusted root (initiator).
#pragma once

#include <cstdint>

#include "wa/core/bytes.hpp"
#include "wa/core/result.hpp"
#include "wa/crypto/curve.hpp"

namespace wa::noise {

/// WhatsApp's real root key; our client trusts it unless configured otherwise.
inline constexpr crypto::PublicKey kWhatsAppRootKey = {
    0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
    0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b};
inline constexpr std::uint32_t kRootIssuerSerial = 0;  // the intermediate's issuerSerial must be 0

struct CertSpec {
  std::uint32_t serial = 0;
  std::uint32_t issuer_serial = 0;
  crypto::PublicKey key{};
  std::uint64_t not_before = 0;
  std::uint64_t not_after = 0;
};

/// Serialized CertChain{leaf, intermediate}: the intermediate's details signed by root, the leaf's by
/// intermediate. Each details message is serialized once and signed as those exact bytes.
[[nodiscard]] Result<Bytes> build_cert_chain(const crypto::PrivateKey& root, const CertSpec& intermediate,
                                             const crypto::PrivateKey& intermediate_priv, const CertSpec& leaf);

struct CertInfo {
  CertSpec intermediate;
  CertSpec leaf;
};

/// Checks, in order: both certificates present with 64-byte signatures; intermediate signed by root;
/// intermediate issuer serial 0; leaf signed by the intermediate key; leaf issuer == intermediate serial;
/// leaf key == server_static; both validity windows contain now (a zero bound is not checked).
/// A server sends the same chain on every connection, so the two signature checks (most of a handshake's
/// CPU) are skipped for the exact bytes of a chain whose signatures already verified under the same root;
/// the other checks run every time. The memory is process-wide and small (the last 8 chains).
[[nodiscard]] Result<CertInfo> verify_cert_chain(ByteView chain, const crypto::PublicKey& root,
                                                 const crypto::PublicKey& server_static, std::uint64_t now);

/// How many signatures verify_cert_chain has checked in this process (diagnostics and tests).
[[nodiscard]] std::uint64_t cert_signature_checks() noexcept;

}  // namespace wa::noise
