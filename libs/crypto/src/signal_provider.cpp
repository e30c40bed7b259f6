// SPDX-License-Identifier: MIT
// OpenSSL-backed signal_crypto_provider (protocol/README.md §12, point 4).
#include "wa/crypto/signal_provider.hpp"

#include <openssl/evp.h>

#include "wa/crypto/crypto.hpp"
#include "hmac_method.hpp"

namespace wa::crypto {
namespace {

constexpr int kFail = SG_ERR_UNKNOWN;

int random_cb(std::uint8_t* data, std::size_t len, void*) {
  random_bytes(data, len);
  return 0;
}

struct Hmac {
  EVP_MAC_CTX* ctx = nullptr;
};

int hmac_init(void** out, const std::uint8_t* key, std::size_t key_len, void*) {
  auto* h = new Hmac;
  h->ctx = internal::new_hmac_sha256();
  static const std::uint8_t kEmpty = 0;
  if (h->ctx == nullptr || EVP_MAC_init(h->ctx, key_len == 0 ? &kEmpty : key, key_len, nullptr) != 1) {
    EVP_MAC_CTX_free(h->ctx);
    delete h;
    return kFail;
  }
  *out = h;
  return 0;
}
int hmac_update(void* c, const std::uint8_t* data, std::size_t len, void*) {
  return EVP_MAC_update(static_cast<Hmac*>(c)->ctx, data, len) == 1 ? 0 : kFail;
}
int hmac_final(void* c, signal_buffer** output, void*) {
  std::uint8_t md[32];
  std::size_t len = 0;
  if (EVP_MAC_final(static_cast<Hmac*>(c)->ctx, md, &len, sizeof md) != 1) return kFail;
  *output = signal_buffer_create(md, len);
  return *output != nullptr ? 0 : SG_ERR_NOMEM;
}
void hmac_cleanup(void* c, void*) {
  auto* h = static_cast<Hmac*>(c);
  if (h == nullptr) return;
  EVP_MAC_CTX_free(h->ctx);
  delete h;
}

int sha512_init(void** out, void*) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha512(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx);
    return kFail;
  }
  *out = ctx;
  return 0;
}
int sha512_update(void* c, const std::uint8_t* data, std::size_t len, void*) {
  return EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(c), data, len) == 1 ? 0 : kFail;
}
int sha512_final(void* c, signal_buffer** output, void*) {
  auto* ctx = static_cast<EVP_MD_CTX*>(c);
  std::uint8_t md[64];
  unsigned len = 0;
  if (EVP_DigestFinal_ex(ctx, md, &len) != 1 || EVP_DigestInit_ex(ctx, EVP_sha512(), nullptr) != 1) return kFail;
  *output = signal_buffer_create(md, len);
  return *output != nullptr ? 0 : SG_ERR_NOMEM;
}
void sha512_cleanup(void* c, void*) { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(c)); }

int cipher_cb(bool encrypt, signal_buffer** output, int cipher, const std::uint8_t* key, std::size_t key_len,
              const std::uint8_t* iv, std::size_t iv_len, const std::uint8_t* in, std::size_t in_len) {
  const ByteView k(key, key_len), v(iv, iv_len), d(in, in_len);
  Result<Bytes> r = fail(errc::openssl, "cipher");
  if (cipher == SG_CIPHER_AES_CBC_PKCS5) {
    r = encrypt ? aes_cbc_encrypt(k, v, d) : aes_cbc_decrypt(k, v, d);
  } else if (cipher == SG_CIPHER_AES_CTR_NOPADDING) {
    r = aes_ctr(k, v, d);
  } else {
    return SG_ERR_UNKNOWN;
  }
  if (!r) return kFail;
  *output = signal_buffer_create(r->data(), r->size());
  return *output != nullptr ? 0 : SG_ERR_NOMEM;
}
int encrypt_cb(signal_buffer** output, int cipher, const std::uint8_t* key, std::size_t key_len,
               const std::uint8_t* iv, std::size_t iv_len, const std::uint8_t* in, std::size_t in_len, void*) {
  return cipher_cb(true, output, cipher, key, key_len, iv, iv_len, in, in_len);
}
int decrypt_cb(signal_buffer** output, int cipher, const std::uint8_t* key, std::size_t key_len,
               const std::uint8_t* iv, std::size_t iv_len, const std::uint8_t* in, std::size_t in_len, void*) {
  return cipher_cb(false, output, cipher, key, key_len, iv, iv_len, in, in_len);
}

}  // namespace

signal_crypto_provider openssl_signal_provider() noexcept {
  signal_crypto_provider p{};
  p.random_func = &random_cb;
  p.hmac_sha256_init_func = &hmac_init;
  p.hmac_sha256_update_func = &hmac_update;
  p.hmac_sha256_final_func = &hmac_final;
  p.hmac_sha256_cleanup_func = &hmac_cleanup;
  p.sha512_digest_init_func = &sha512_init;
  p.sha512_digest_update_func = &sha512_update;
  p.sha512_digest_final_func = &sha512_final;
  p.sha512_digest_cleanup_func = &sha512_cleanup;
  p.encrypt_func = &encrypt_cb;
  p.decrypt_func = &decrypt_cb;
  return p;
}

signal_context* shared_signal_context() {
  static signal_context* ctx = [] {
    signal_context* c = nullptr;
    WA_CHECK(signal_context_create(&c, nullptr) == 0);
    const signal_crypto_provider provider = openssl_signal_provider();
    WA_CHECK(signal_context_set_crypto_provider(c, &provider) == 0);
    return c;
  }();
  return ctx;
}

}  // namespace wa::crypto
