// SPDX-License-Identifier: MIT
// Transport ciphers after the Noise split: AES-256-GCM, empty AAD, IV = 8 zero bytes + u32 BE counter,
// one counter per direction (protocol/README.md §2 step 4).
#pragma once

#include <cstdint>

#include "wa/core/bytes.hpp"
#include "wa/core/result.hpp"
#include "wa/crypto/crypto.hpp"

namespace wa::noise {

class TransportCipher final {
 public:
  TransportCipher() = default;
  explicit TransportCipher(const SecretArray<32>& key) : key_(key) {}
  /// ciphertext || tag. Fails only when the counter is exhausted.
  [[nodiscard]] Result<Bytes> encrypt(ByteView plaintext);
  /// Fails on a bad tag; the counter advances only on success.
  [[nodiscard]] Result<Bytes> decrypt(ByteView ciphertext);
  std::uint32_t counter() const noexcept { return static_cast<std::uint32_t>(counter_); }

 private:
  SecretArray<32> key_;
  std::uint64_t counter_ = 0;
  crypto::AesGcmKey gcm_;  // keyed on first use, for the direction used (a cipher serves one)
};

/// One cipher per direction.
struct CipherPair {
  TransportCipher send;
  TransportCipher recv;
};

/// IV for counter n: 8 zero bytes then n big-endian.
ByteArray<12> noise_iv(std::uint32_t n) noexcept;

}  // namespace wa::noise
