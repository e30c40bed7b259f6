// SPDX-License-Identifier: MIT
// Media crypto (protocol/README.md §9): HKDF expansion of a 32-byte media key per media type,
// AES-256-CBC with a 10-byte truncated HMAC-SHA256, and the fileSha256/fileEncSha256 digests.
#pragma once

#include <optional>
#include <string_view>

#include "wa/core/bytes.hpp"
#include "wa/core/result.hpp"

namespace wa::crypto {

enum class MediaType {
  image, video, audio, document, sticker, gif, ptt, ptv, history, app_state,
  image_thumbnail, video_thumbnail, document_thumbnail, link_thumbnail, product, payment_background, sticker_pack,
};

/// The HKDF info string, e.g. "WhatsApp Image Keys".
std::string_view media_hkdf_info(MediaType t) noexcept;
std::optional<MediaType> media_type_from_name(std::string_view name) noexcept;

inline constexpr std::size_t kMediaMacSize = 10;

struct MediaKeys {
  ByteArray<16> iv;
  SecretArray<32> cipher_key;
  SecretArray<32> mac_key;
  SecretArray<32> ref_key;
};

/// HKDF-SHA256(media_key, no salt, info, 112) split into iv, cipher key, MAC key, ref key.
MediaKeys expand_media_key(ByteView media_key32, MediaType type);

struct EncryptedMedia {
  Bytes body;                   ///< ciphertext || 10-byte MAC: what is uploaded
  ByteArray<32> file_sha256;    ///< SHA-256 of the plaintext
  ByteArray<32> file_enc_sha256;  ///< SHA-256 of body
  std::size_t file_length = 0;  ///< plaintext length
};

[[nodiscard]] Result<EncryptedMedia> encrypt_media(ByteView plaintext, ByteView media_key32, MediaType type);

struct MediaDigests {
  std::optional<ByteArray<32>> file_sha256;
  std::optional<ByteArray<32>> file_enc_sha256;
};
/// Verifies fileEncSha256 (when given), the MAC, the padding and fileSha256 (when given); returns the plaintext.
[[nodiscard]] Result<Bytes> decrypt_media(ByteView body, ByteView media_key32, MediaType type,
                                          const MediaDigests& expect = {});

}  // namespace wa::crypto
