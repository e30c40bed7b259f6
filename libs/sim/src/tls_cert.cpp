// SPDX-License-Identifier: MIT
#include "tls_cert.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "wa/core/result.hpp"

namespace wa::sim::detail {
namespace {

std::string bio_string(BIO* b) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

}  // namespace

TlsIdentity make_self_signed_identity() {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  WA_CHECK(key != nullptr);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
  WA_CHECK(cert != nullptr);
  WA_CHECK(X509_set_version(cert.get(), 2) == 1);
  std::uint8_t serial[8];
  WA_CHECK(RAND_bytes(serial, sizeof serial) == 1);
  serial[0] &= 0x7F;
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_bin2bn(serial, sizeof serial, nullptr), &BN_free);
  WA_CHECK(BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) != nullptr);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -86400L);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * 3650);
  WA_CHECK(X509_set_pubkey(cert.get(), key.get()) == 1);
  X509_NAME* name = X509_get_subject_name(cert.get());
  WA_CHECK(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("wasim"), -1, -1, 0) == 1);
  WA_CHECK(X509_set_issuer_name(cert.get(), name) == 1);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  WA_CHECK(san != nullptr && X509_add_ext(cert.get(), san, -1) == 1);
  X509_EXTENSION_free(san);
  WA_CHECK(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0);
  std::unique_ptr<BIO, decltype(&BIO_free)> cb(BIO_new(BIO_s_mem()), &BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> kb(BIO_new(BIO_s_mem()), &BIO_free);
  WA_CHECK(PEM_write_bio_X509(cb.get(), cert.get()) == 1);
  WA_CHECK(PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1);
  return TlsIdentity{bio_string(cb.get()), bio_string(kb.get())};
}

}  // namespace wa::sim::detail
