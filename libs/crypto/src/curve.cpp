// SPDX-License-Identifier: MIT
// X25519 through OpenSSL; XEdDSA through libsignal-protocol-c, whose signatures every WhatsApp client
// verifies (protocol/README.md §12). A process-wide signal_context supplies its randomness.
#include "wa/crypto/curve.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

extern "C" {
#include <signal/curve.h>
}

#include <memory>
#include <algorithm>

#include "wa/crypto/crypto.hpp"
#include "wa/crypto/signal_provider.hpp"

namespace wa::crypto {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};

void clamp(std::uint8_t* k) noexcept {
  k[0] &= 248;
  k[31] &= 127;
  k[31] |= 64;
}

signal_context* signal_ctx() { return shared_signal_context(); }

template <class T>
struct SignalRef {
  T* p = nullptr;
  ~SignalRef() {
    if (p != nullptr) signal_type_unref(reinterpret_cast<signal_type_base*>(p));
  }
};

}  // namespace

KeyPair KeyPair::generate() {
  ByteArray<32> k;
  random_bytes(k.data(), k.size());
  KeyPair kp = from_private(k);
  secure_zero(k.data(), k.size());
  return kp;
}

KeyPair KeyPair::from_private(ByteView priv32) {
  WA_CHECK(priv32.size() == 32);
  KeyPair kp;
  kp.priv = PrivateKey(priv32);
  clamp(kp.priv.data());
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, kp.priv.data(), 32));
  WA_CHECK(key != nullptr);
  std::size_t len = 32;
  WA_CHECK(EVP_PKEY_get_raw_public_key(key.get(), kp.pub.data(), &len) == 1 && len == 32);
  return kp;
}

namespace {

Result<SecretArray<32>> derive(EVP_PKEY* mine, ByteView pub32) {
  Pkey peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, pub32.data(), 32));
  if (!peer) return fail(errc::openssl, "x25519 peer key");
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new(mine, nullptr));
  SecretArray<32> out;
  std::size_t len = 32;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1) {
    return fail(errc::openssl, "x25519 init");
  }
  if (EVP_PKEY_derive(ctx.get(), out.data(), &len) != 1 || len != 32) {
    return fail(errc::bad_point, "x25519 with a low-order point");
  }
  return out;
}

}  // namespace

Result<SecretArray<32>> shared_key(const PrivateKey& priv, ByteView pub32) {
  if (pub32.size() != 32) return fail(errc::bad_point, "public key of " + std::to_string(pub32.size()) + " bytes");
  // From the private half alone OpenSSL derives the public half first: a second scalar multiplication.
  Pkey mine(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv.data(), 32));
  if (!mine) return fail(errc::openssl, "x25519 key");
  return derive(mine.get(), pub32);
}

Result<SecretArray<32>> shared_key(const KeyPair& mine, ByteView pub32) {
  if (pub32.size() != 32) return fail(errc::bad_point, "public key of " + std::to_string(pub32.size()) + " bytes");
  // Both halves given: the key is built as is (3 us instead of 30; the agreement uses the private half only).
  OSSL_PARAM params[3];
  params[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, const_cast<std::uint8_t*>(mine.priv.data()), 32);
  params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<std::uint8_t*>(mine.pub.data()), 32);
  params[2] = OSSL_PARAM_construct_end();
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> from(EVP_PKEY_CTX_new_from_name(nullptr, "X25519", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!from || EVP_PKEY_fromdata_init(from.get()) != 1 || EVP_PKEY_fromdata(from.get(), &raw, EVP_PKEY_KEYPAIR, params) != 1) {
    return fail(errc::openssl, "x25519 key pair");
  }
  Pkey key(raw);
  return derive(key.get(), pub32);
}

ByteArray<33> signal_public(const PublicKey& pub) {
  ByteArray<33> out;
  out[0] = kDjbType;
  std::copy(pub.begin(), pub.end(), out.begin() + 1);
  return out;
}

Result<Signature> sign(const PrivateKey& priv, ByteView message) {
  SignalRef<ec_private_key> key;
  if (curve_decode_private_point(&key.p, priv.data(), 32, signal_ctx()) != 0) {
    return fail(errc::bad_point, "private key");
  }
  signal_buffer* sig = nullptr;
  if (curve_calculate_signature(signal_ctx(), &sig, key.p, message.data(), message.size()) != 0 || sig == nullptr) {
    return fail(errc::openssl, "xeddsa sign");
  }
  Signature out;
  const bool ok_len = signal_buffer_len(sig) == out.size();
  if (ok_len) std::copy_n(signal_buffer_data(sig), out.size(), out.begin());
  signal_buffer_free(sig);
  if (!ok_len) return fail(errc::openssl, "signature length");
  return out;
}

bool verify(ByteView pub32, ByteView message, ByteView sig) {
  if (pub32.size() != 32 || sig.size() != 64) return false;
  std::uint8_t point[33];
  point[0] = kDjbType;
  std::copy(pub32.begin(), pub32.end(), point + 1);
  SignalRef<ec_public_key> key;
  if (curve_decode_point(&key.p, point, sizeof point, signal_ctx()) != 0) return false;
  return curve_verify_signature(key.p, message.data(), message.size(), sig.data(), sig.size()) == 1;
}

}  // namespace wa::crypto
