// SPDX-License-Identifier: MIT
// Media encryption (protocol/README.md §9).
#include "wa/crypto/media.hpp"

#include <algorithm>
#include <array>

#include "wa/crypto/crypto.hpp"

namespace wa::crypto {
namespace {

struct MediaEntry {
  MediaType type;
  std::string_view name;  // the media type names used by WhatsApp clients
  std::string_view info;
};
constexpr std::array<MediaEntry, 17> kMedia{{
    {MediaType::image, "image", "WhatsApp Image Keys"},
    {MediaType::video, "video", "WhatsApp Video Keys"},
    {MediaType::audio, "audio", "WhatsApp Audio Keys"},
    {MediaType::document, "document", "WhatsApp Document Keys"},
    {MediaType::sticker, "sticker", "WhatsApp Image Keys"},
    {MediaType::gif, "gif", "WhatsApp Video Keys"},
    {MediaType::ptt, "ptt", "WhatsApp Audio Keys"},
    {MediaType::ptv, "ptv", "WhatsApp Video Keys"},
    {MediaType::history, "md-msg-hist", "WhatsApp History Keys"},
    {MediaType::app_state, "md-app-state", "WhatsApp App State Keys"},
    {MediaType::image_thumbnail, "thumbnail-image", "WhatsApp Image Thumbnail Keys"},
    {MediaType::video_thumbnail, "thumbnail-video", "WhatsApp Video Thumbnail Keys"},
    {MediaType::document_thumbnail, "thumbnail-document", "WhatsApp Document Thumbnail Keys"},
    {MediaType::link_thumbnail, "thumbnail-link", "WhatsApp Link Thumbnail Keys"},
    {MediaType::product, "product", "WhatsApp Image Keys"},
    {MediaType::payment_background, "payment-bg-image", "WhatsApp Payment Background Keys"},
    {MediaType::sticker_pack, "sticker-pack", "WhatsApp Sticker Pack Keys"},
}};

constexpr std::size_t kExpandedSize = 112;  // iv 16 + cipher key 32 + mac key 32 + ref key 32

}  // namespace

std::string_view media_hkdf_info(MediaType t) noexcept {
  for (const auto& e : kMedia) {
    if (e.type == t) return e.info;
  }
  return {};
}

std::optional<MediaType> media_type_from_name(std::string_view name) noexcept {
  for (const auto& e : kMedia) {
    if (e.name == name) return e.type;
  }
  return std::nullopt;
}

MediaKeys expand_media_key(ByteView media_key32, MediaType type) {
  const SecretBytes x = hkdf_sha256(media_key32, {}, as_bytes(media_hkdf_info(type)), kExpandedSize);
  const ByteView v = x.view();
  MediaKeys k;
  std::copy_n(v.begin(), 16, k.iv.begin());
  k.cipher_key = SecretArray<32>(v.subspan(16, 32));
  k.mac_key = SecretArray<32>(v.subspan(48, 32));
  k.ref_key = SecretArray<32>(v.subspan(80, 32));
  return k;
}

Result<EncryptedMedia> encrypt_media(ByteView plaintext, ByteView media_key32, MediaType type) {
  if (media_key32.size() != 32) return fail(errc::bad_key_size, "media key");
  const MediaKeys k = expand_media_key(media_key32, type);
  WA_TRY(Bytes enc, aes_cbc_encrypt(k.cipher_key.view(), k.iv, plaintext));
  const auto mac = hmac_sha256(k.mac_key.view(), {ByteView(k.iv), ByteView(enc)});
  EncryptedMedia m;
  m.body = std::move(enc);
  m.body.insert(m.body.end(), mac.begin(), mac.begin() + kMediaMacSize);
  m.file_sha256 = sha256(plaintext);
  m.file_enc_sha256 = sha256(m.body);
  m.file_length = plaintext.size();
  return m;
}

Result<Bytes> decrypt_media(ByteView body, ByteView media_key32, MediaType type, const MediaDigests& expect) {
  if (media_key32.size() != 32) return fail(errc::bad_key_size, "media key");
  if (body.size() < kMediaMacSize + 16) return fail(errc::auth_failed, "media body too short");
  if (expect.file_enc_sha256 && !equal(sha256(body), *expect.file_enc_sha256)) {
    return fail(errc::hash_mismatch, "fileEncSha256");
  }
  const MediaKeys k = expand_media_key(media_key32, type);
  const ByteView enc = body.first(body.size() - kMediaMacSize);
  const auto mac = hmac_sha256(k.mac_key.view(), {ByteView(k.iv), enc});
  if (!equal(ByteView(mac).first(kMediaMacSize), body.last(kMediaMacSize))) return fail(errc::auth_failed, "media MAC");
  WA_TRY(Bytes plain, aes_cbc_decrypt(k.cipher_key.view(), k.iv, enc));
  if (expect.file_sha256 && !equal(sha256(plain), *expect.file_sha256)) return fail(errc::hash_mismatch, "fileSha256");
  return plain;
}

}  // namespace wa::crypto
