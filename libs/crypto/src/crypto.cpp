// SPDX-License-Identifier: MIT
// OpenSSL 3 primitives. Every EVP context is owned by a unique_ptr; every failure is an error value.
#include "wa/crypto/crypto.hpp"
#include "hmac_method.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <pthread.h>

#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>

namespace wa::crypto {
namespace {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
struct KdfCtxFree {
  void operator()(EVP_KDF_CTX* c) const noexcept { EVP_KDF_CTX_free(c); }
};
struct KdfFree {
  void operator()(EVP_KDF* c) const noexcept { EVP_KDF_free(c); }
};

int ilen(std::size_t n) { return static_cast<int>(n); }

detail::Unexpected openssl_fail(const char* what) { return fail(errc::openssl, what); }

template <std::size_t N>
ByteArray<N> digest(const EVP_MD* md, std::initializer_list<ByteView> parts) {
  ByteArray<N> out{};
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  unsigned len = 0;
  WA_CHECK(ctx && EVP_DigestInit_ex(ctx.get(), md, nullptr) == 1);
  for (auto p : parts) WA_CHECK(EVP_DigestUpdate(ctx.get(), p.data(), p.size()) == 1);
  WA_CHECK(EVP_DigestFinal_ex(ctx.get(), out.data(), &len) == 1 && len == N);
  return out;
}

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "crypto"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::bad_key_size: return "bad key, IV or nonce size";
      case errc::auth_failed: return "authentication failed";
      case errc::bad_padding: return "bad padding";
      case errc::bad_signature: return "bad signature";
      case errc::bad_point: return "bad public key";
      case errc::hash_mismatch: return "hash mismatch";
      case errc::openssl: return "OpenSSL failure";
    }
    return "unknown crypto error";
  }
};

}  // namespace

EVP_MAC_CTX* internal::new_hmac_sha256() {
  // Every new context is a copy of one made once with its digest set: creating one from the method and
  // naming the digest costs two name lookups under locks (a fetch of HMAC, one of SHA256 in EVP_MAC_init),
  // which were most of the cost of an HMAC of a short message. The prototype is only read (copied), never freed.
  static EVP_MAC_CTX* const proto = [] {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    WA_CHECK(mac != nullptr);
    EVP_MAC_CTX* c = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);  // the context keeps its own reference
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", const_cast<char*>("SHA256"), 0),
                           OSSL_PARAM_construct_end()};
    WA_CHECK(c != nullptr && EVP_MAC_CTX_set_params(c, params) == 1);
    return c;
  }();
  return EVP_MAC_CTX_dup(proto);
}

const std::error_category& category() noexcept {
  static const Category c;
  return c;
}

namespace {
// RAND_bytes costs a few microseconds a call whatever the size (the DRBG's lock and bookkeeping), and the hot
// paths ask for a few bytes at a time: message ids, webhook ids, Signal padding. Requests of up to
// kBufferedMax bytes are served from a per-thread block of DRBG output; each byte is handed out once and
// wiped from the block as it goes. A forked child must not hand out its parent's bytes: pthread_atfork
// empties the forking thread's block (the only thread a child has).
constexpr std::size_t kBufferedMax = 64;
struct RandomBlock {
  std::array<std::uint8_t, 1024> bytes{};
  std::size_t next = bytes.size();  // bytes before next were handed out (and wiped)
  void drop() noexcept {
    OPENSSL_cleanse(bytes.data(), bytes.size());
    next = bytes.size();
  }
  ~RandomBlock() { drop(); }
};
thread_local RandomBlock t_random;
void drop_random_in_child() noexcept { t_random.drop(); }
}  // namespace

std::string openssl_version() { return OpenSSL_version(OPENSSL_VERSION); }

void random_bytes(std::uint8_t* out, std::size_t n) {
  if (n > kBufferedMax) {
    WA_CHECK(n <= static_cast<std::size_t>(INT32_MAX) && RAND_bytes(out, ilen(n)) == 1);
    return;
  }
  static const int registered = pthread_atfork(nullptr, nullptr, &drop_random_in_child);
  WA_CHECK(registered == 0);
  RandomBlock& b = t_random;
  if (b.bytes.size() - b.next < n) {
    WA_CHECK(RAND_bytes(b.bytes.data(), ilen(b.bytes.size())) == 1);
    b.next = 0;
  }
  std::memcpy(out, b.bytes.data() + b.next, n);
  OPENSSL_cleanse(b.bytes.data() + b.next, n);
  b.next += n;
}

Bytes random_bytes(std::size_t n) {
  Bytes b(n);
  random_bytes(b.data(), n);
  return b;
}

ByteArray<32> sha256(ByteView data) { return digest<32>(EVP_sha256(), {data}); }
ByteArray<32> sha256(std::initializer_list<ByteView> parts) { return digest<32>(EVP_sha256(), parts); }
ByteArray<64> sha512(ByteView data) { return digest<64>(EVP_sha512(), {data}); }
ByteArray<16> md5(ByteView data) { return digest<16>(EVP_md5(), {data}); }
ByteArray<20> sha1(ByteView data) { return digest<20>(EVP_sha1(), {data}); }

ByteArray<32> hmac_sha256(ByteView key, ByteView data) { return hmac_sha256(key, {data}); }

ByteArray<32> hmac_sha256(ByteView key, std::initializer_list<ByteView> parts) {
  // HMAC over concatenated parts without copying them: one EVP_MAC context.
  ByteArray<32> out{};
  EVP_MAC_CTX* ctx = internal::new_hmac_sha256();
  static const std::uint8_t kEmpty = 0;
  WA_CHECK(ctx != nullptr && EVP_MAC_init(ctx, key.empty() ? &kEmpty : key.data(), key.size(), nullptr) == 1);
  for (auto p : parts) WA_CHECK(EVP_MAC_update(ctx, p.data(), p.size()) == 1);
  std::size_t len = 0;
  WA_CHECK(EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1 && len == 32);
  EVP_MAC_CTX_free(ctx);
  return out;
}

ByteArray<64> hmac_sha512(ByteView key, ByteView data) {
  ByteArray<64> out{};
  unsigned len = 0;
  static const std::uint8_t kEmpty = 0;
  WA_CHECK(HMAC(EVP_sha512(), key.empty() ? &kEmpty : key.data(), ilen(key.size()), data.data(), data.size(),
                out.data(), &len) != nullptr && len == 64);
  return out;
}

SecretBytes hkdf_sha256(ByteView ikm, ByteView salt, ByteView info, std::size_t length) {
  std::unique_ptr<EVP_KDF, KdfFree> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  WA_CHECK(kdf != nullptr);
  std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(EVP_KDF_CTX_new(kdf.get()));
  WA_CHECK(ctx != nullptr);
  static std::uint8_t kZeroSalt[32] = {};
  static std::uint8_t kEmpty[1] = {};
  OSSL_PARAM params[5];
  int i = 0;
  params[i++] = OSSL_PARAM_construct_utf8_string("digest", const_cast<char*>("SHA256"), 0);
  params[i++] = OSSL_PARAM_construct_octet_string(
      "key", ikm.empty() ? kEmpty : const_cast<std::uint8_t*>(ikm.data()), ikm.size());
  params[i++] = OSSL_PARAM_construct_octet_string(
      "salt", salt.empty() ? kZeroSalt : const_cast<std::uint8_t*>(salt.data()), salt.empty() ? 32 : salt.size());
  params[i++] = OSSL_PARAM_construct_octet_string(
      "info", info.empty() ? kEmpty : const_cast<std::uint8_t*>(info.data()), info.size());
  params[i] = OSSL_PARAM_construct_end();
  Bytes out(length);
  WA_CHECK(EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) == 1);
  return SecretBytes(std::move(out));
}

SecretBytes pbkdf2_sha256(ByteView password, ByteView salt, unsigned iterations, std::size_t length) {
  Bytes out(length);
  WA_CHECK(PKCS5_PBKDF2_HMAC(reinterpret_cast<const char*>(password.data()), ilen(password.size()), salt.data(),
                             ilen(salt.size()), static_cast<int>(iterations), EVP_sha256(), ilen(length),
                             out.data()) == 1);
  return SecretBytes(std::move(out));
}

bool equal(ByteView a, ByteView b) noexcept {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool equal(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<Bytes> aes_gcm_encrypt(ByteView key, ByteView iv, ByteView aad, ByteView plaintext) {
  if (key.size() != 32 || iv.size() != 12) return fail(errc::bad_key_size, "AES-256-GCM");
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), iv.data()) != 1) {
    return openssl_fail("gcm init");
  }
  int len = 0;
  if (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), ilen(aad.size())) != 1) {
    return openssl_fail("gcm aad");
  }
  Bytes out(plaintext.size() + 16);
  if (EVP_EncryptUpdate(ctx.get(), out.data(), &len, plaintext.data(), ilen(plaintext.size())) != 1) {
    return openssl_fail("gcm update");
  }
  int fin = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), out.data() + len, &fin) != 1) return openssl_fail("gcm final");
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, out.data() + plaintext.size()) != 1) {
    return openssl_fail("gcm tag");
  }
  return out;
}

Result<Bytes> aes_gcm_decrypt(ByteView key, ByteView iv, ByteView aad, ByteView in) {
  if (key.size() != 32 || iv.size() != 12) return fail(errc::bad_key_size, "AES-256-GCM");
  if (in.size() < 16) return fail(errc::auth_failed, "shorter than the tag");
  const std::size_t n = in.size() - 16;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), iv.data()) != 1) {
    return openssl_fail("gcm init");
  }
  int len = 0;
  if (!aad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data(), ilen(aad.size())) != 1) {
    return openssl_fail("gcm aad");
  }
  Bytes out(n);
  if (EVP_DecryptUpdate(ctx.get(), out.data(), &len, in.data(), ilen(n)) != 1) return openssl_fail("gcm update");
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, const_cast<std::uint8_t*>(in.data() + n)) != 1) {
    return openssl_fail("gcm tag");
  }
  int fin = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), out.data() + len, &fin) != 1) return fail(errc::auth_failed, "AES-GCM tag");
  return out;
}

namespace {

std::atomic<std::uint64_t> g_gcm_keys{0};

// One context per thread, with the id of the key it is set up for.
struct ThreadGcm {
  CipherCtx ctx{EVP_CIPHER_CTX_new()};
  std::uint64_t keyed = 0;
};

const EVP_CIPHER* aes256_gcm() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);  // fetched once, kept
  return cipher;
}

// The thread's context ready for a message with this key and IV; nullptr on failure.
EVP_CIPHER_CTX* gcm_for(std::uint64_t id, const SecretArray<32>& key, bool encrypt, ByteView iv) {
  thread_local ThreadGcm t;
  if (!t.ctx || aes256_gcm() == nullptr) return nullptr;
  const bool same = t.keyed == id;
  // A new IV restarts the message; the key schedule stays when the key does.
  if (EVP_CipherInit_ex2(t.ctx.get(), same ? nullptr : aes256_gcm(), same ? nullptr : key.data(), iv.data(), encrypt ? 1 : 0,
                         nullptr) != 1) {
    t.keyed = 0;
    return nullptr;
  }
  t.keyed = id;
  return t.ctx.get();
}

}  // namespace

AesGcmKey::AesGcmKey(ByteView key32, bool encrypt) : encrypt_(encrypt) {
  if (key32.size() != 32) return;
  key_ = SecretArray<32>(key32);
  id_ = g_gcm_keys.fetch_add(1, std::memory_order_relaxed) + 1;
}

Result<Bytes> AesGcmKey::seal(ByteView iv, ByteView plaintext) {
  if (id_ == 0 || !encrypt_ || iv.size() != 12) return fail(errc::bad_key_size, "AES-256-GCM key");
  EVP_CIPHER_CTX* ctx = gcm_for(id_, key_, true, iv);
  if (ctx == nullptr) return openssl_fail("gcm init");
  Bytes out(plaintext.size() + 16);
  int len = 0, fin = 0;
  if (EVP_EncryptUpdate(ctx, out.data(), &len, plaintext.data(), ilen(plaintext.size())) != 1) return openssl_fail("gcm update");
  if (EVP_EncryptFinal_ex(ctx, out.data() + len, &fin) != 1) return openssl_fail("gcm final");
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out.data() + plaintext.size()) != 1) return openssl_fail("gcm tag");
  return out;
}

Result<Bytes> AesGcmKey::open(ByteView iv, ByteView in) {
  if (id_ == 0 || encrypt_ || iv.size() != 12) return fail(errc::bad_key_size, "AES-256-GCM key");
  if (in.size() < 16) return fail(errc::auth_failed, "shorter than the tag");
  const std::size_t n = in.size() - 16;
  EVP_CIPHER_CTX* ctx = gcm_for(id_, key_, false, iv);
  if (ctx == nullptr) return openssl_fail("gcm init");
  Bytes out(n);
  int len = 0, fin = 0;
  if (EVP_DecryptUpdate(ctx, out.data(), &len, in.data(), ilen(n)) != 1) return openssl_fail("gcm update");
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, const_cast<std::uint8_t*>(in.data() + n)) != 1) {
    return openssl_fail("gcm tag");
  }
  if (EVP_DecryptFinal_ex(ctx, out.data() + len, &fin) != 1) return fail(errc::auth_failed, "AES-GCM tag");
  return out;
}

namespace {
Result<Bytes> cbc(bool encrypt, ByteView key, ByteView iv, ByteView in) {
  if (key.size() != 32 || iv.size() != 16) return fail(errc::bad_key_size, "AES-256-CBC");
  if (!encrypt && (in.empty() || in.size() % 16 != 0)) return fail(errc::bad_padding, "not whole blocks");
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_CipherInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, key.data(), iv.data(), encrypt ? 1 : 0) != 1) {
    return openssl_fail("cbc init");
  }
  Bytes out(in.size() + 16);
  int len = 0;
  if (EVP_CipherUpdate(ctx.get(), out.data(), &len, in.data(), ilen(in.size())) != 1) return openssl_fail("cbc");
  int fin = 0;
  if (EVP_CipherFinal_ex(ctx.get(), out.data() + len, &fin) != 1) {
    return encrypt ? openssl_fail("cbc final") : fail(errc::bad_padding, "PKCS#7");
  }
  out.resize(static_cast<std::size_t>(len + fin));
  return out;
}
}  // namespace

Result<Bytes> aes_cbc_encrypt(ByteView key, ByteView iv, ByteView plaintext) { return cbc(true, key, iv, plaintext); }
Result<Bytes> aes_cbc_decrypt(ByteView key, ByteView iv, ByteView ciphertext) { return cbc(false, key, iv, ciphertext); }

Result<Bytes> aes_ctr(ByteView key, ByteView iv, ByteView data) {
  if (key.size() != 32 || iv.size() != 16) return fail(errc::bad_key_size, "AES-256-CTR");
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_ctr(), nullptr, key.data(), iv.data()) != 1) {
    return openssl_fail("ctr init");
  }
  Bytes out(data.size() + 16);
  int len = 0;
  int fin = 0;
  if (EVP_EncryptUpdate(ctx.get(), out.data(), &len, data.data(), ilen(data.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + len, &fin) != 1) {
    return openssl_fail("ctr");
  }
  out.resize(static_cast<std::size_t>(len + fin));
  return out;
}

}  // namespace wa::crypto
