// SPDX-License-Identifier: MIT
// Primitives over OpenSSL 3: hashes, HMAC, HKDF, PBKDF2, AES-GCM/CBC/CTR, randomness.
// Pure functions, thread-safe, no I/O. Key material in SecretArray/SecretBytes.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "wa/core/bytes.hpp"
#include "wa/core/result.hpp"

namespace wa::crypto {

enum class errc {
  bad_key_size = 1,   ///< a key, IV or nonce of the wrong length
  auth_failed,        ///< an AEAD tag or MAC that does not verify
  bad_padding,        ///< CBC plaintext whose PKCS#7 padding is wrong
  bad_signature,      ///< a signature that does not verify, or of the wrong length
  bad_point,          ///< a public key that is not a usable curve point
  hash_mismatch,      ///< a digest that differs from the expected one
  openssl,            ///< OpenSSL reported an internal failure
};
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

/// The OpenSSL this process runs ("OpenSSL 3.0.17 1 Jul 2025"): with a static build, the one it was linked with.
std::string openssl_version();
void random_bytes(std::uint8_t* out, std::size_t n);
Bytes random_bytes(std::size_t n);

ByteArray<32> sha256(ByteView data);
ByteArray<32> sha256(std::initializer_list<ByteView> parts);
ByteArray<64> sha512(ByteView data);
ByteArray<16> md5(ByteView data);
/// Only for the websocket handshake's accept key (RFC 6455 §4.2.2), never for security.
ByteArray<20> sha1(ByteView data);
ByteArray<32> hmac_sha256(ByteView key, ByteView data);
ByteArray<32> hmac_sha256(ByteView key, std::initializer_list<ByteView> parts);
ByteArray<64> hmac_sha512(ByteView key, ByteView data);
/// HKDF-SHA256 (RFC 5869). An empty salt means 32 zero bytes, as the RFC says.
SecretBytes hkdf_sha256(ByteView ikm, ByteView salt, ByteView info, std::size_t length);
SecretBytes pbkdf2_sha256(ByteView password, ByteView salt, unsigned iterations, std::size_t length);
/// Constant-time equality.
bool equal(ByteView a, ByteView b) noexcept;
/// The same for text (tokens, secrets): constant-time in the length of the inputs.
bool equal(std::string_view a, std::string_view b) noexcept;

/// AES-256-GCM with a 12-byte IV; returns ciphertext || 16-byte tag.
[[nodiscard]] Result<Bytes> aes_gcm_encrypt(ByteView key, ByteView iv, ByteView aad, ByteView plaintext);
/// Fails with auth_failed on any change to the ciphertext, tag or AAD.
[[nodiscard]] Result<Bytes> aes_gcm_decrypt(ByteView key, ByteView iv, ByteView aad, ByteView ciphertext_and_tag);

/// AES-256-GCM for many messages under one key, one direction (the Noise transport: every frame, a counter
/// IV): the key schedule and GHASH tables are computed once instead of per message. No AAD.
class AesGcmKey final {
 public:
  AesGcmKey() = default;
  AesGcmKey(ByteView key32, bool encrypt);
  bool valid() const noexcept { return id_ != 0; }
  bool encrypting() const noexcept { return encrypt_; }
  /// ciphertext || tag (encrypting keys only).
  [[nodiscard]] Result<Bytes> seal(ByteView iv12, ByteView plaintext);
  /// The plaintext, or auth_failed on a bad tag (decrypting keys only).
  [[nodiscard]] Result<Bytes> open(ByteView iv12, ByteView ciphertext_and_tag);

 private:
  // The key only: the cipher context (key schedule and GHASH tables, about 1.1 KB) is one per thread, set
  // up again when a thread changes keys (0.2-0.5 us) and kept while it uses the same one. Two per connected
  // number made 2.3 KB of an idle number's footprint.
  SecretArray<32> key_;
  std::uint64_t id_ = 0;  ///< unique per key made, 0: invalid; what a thread's context was last keyed with
  bool encrypt_ = true;
};
/// AES-256-CBC with PKCS#7 padding and a 16-byte IV.
[[nodiscard]] Result<Bytes> aes_cbc_encrypt(ByteView key, ByteView iv, ByteView plaintext);
[[nodiscard]] Result<Bytes> aes_cbc_decrypt(ByteView key, ByteView iv, ByteView ciphertext);
/// AES-256-CTR (the phone-code pairing wraps keys with it); encrypt and decrypt are the same.
[[nodiscard]] Result<Bytes> aes_ctr(ByteView key, ByteView iv, ByteView data);

}  // namespace wa::crypto

template <>
struct std::is_error_code_enum<wa::crypto::errc> : std::true_type {};
