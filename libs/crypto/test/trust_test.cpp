// SPDX-License-Identifier: MIT
// The system trust store: the hashed CA directory is read as verifications need it, not parsed up front; a
// bundle file of the user's own (SSL_CERT_FILE) is still loaded as before.
#include "wa/crypto/trust.hpp"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace wa::crypto {
namespace {

struct StoreFree {
  void operator()(X509_STORE* c) const noexcept { X509_STORE_free(c); }
};
struct X509Free {
  void operator()(X509* c) const noexcept { X509_free(c); }
};
using Store = std::unique_ptr<X509_STORE, StoreFree>;
using Cert = std::unique_ptr<X509, X509Free>;

std::string system_dir() {
  const char* v = std::getenv(X509_get_default_cert_dir_env());
  return v != nullptr && *v != '\0' ? v : X509_get_default_cert_dir();
}

// Up to n different CAs of the system's, from its hashed directory (valid today, when asked).
std::vector<Cert> system_cas(std::size_t n, bool valid_today) {
  std::vector<Cert> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(system_dir(), ec), end; !ec && it != end && out.size() < n; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() < 10 || name[8] != '.') continue;
    FILE* f = std::fopen(it->path().c_str(), "r");
    if (f == nullptr) continue;
    Cert c(PEM_read_X509(f, nullptr, nullptr, nullptr));
    std::fclose(f);
    if (!c) continue;
    if (valid_today && !(X509_cmp_current_time(X509_get0_notAfter(c.get())) > 0 && X509_cmp_current_time(X509_get0_notBefore(c.get())) < 0)) continue;
    if (std::any_of(out.begin(), out.end(), [&](const Cert& o) { return X509_cmp(o.get(), c.get()) == 0; })) continue;
    out.push_back(std::move(c));
  }
  return out;
}

Cert some_system_ca() {
  auto cas = system_cas(1, true);
  return cas.empty() ? nullptr : std::move(cas.front());
}

int verify(X509_STORE* store, X509* cert) {
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> sc(X509_STORE_CTX_new(), &X509_STORE_CTX_free);
  if (!sc || X509_STORE_CTX_init(sc.get(), store, cert, nullptr) != 1) return -1;
  return X509_verify_cert(sc.get()) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(sc.get());
}

TEST(Trust, SystemCasAreReadWhenAVerificationNeedsThem) {
  // What this machine's OpenSSL uses by default: the hashed directory and its default bundle (Debian sets
  // up both; SSL_CERT_FILE, if set, names the same bundle).
  Cert ca = some_system_ca();
  ASSERT_TRUE(ca) << "no valid CA in " << system_dir() << " (the ca-certificates package)";
  Store store(X509_STORE_new());
  ASSERT_TRUE(store);
  trust_system_cas(store.get());
  EXPECT_EQ(certificates_in_memory(store.get()), 0) << "the CA bundle was parsed up front";
  EXPECT_EQ(verify(store.get(), ca.get()), X509_V_OK) << "a system CA is not trusted";
  EXPECT_GE(certificates_in_memory(store.get()), 1) << "the CA was not loaded on demand";
  EXPECT_LT(certificates_in_memory(store.get()), 10);
}

TEST(Trust, AUsersOwnBundleIsLoadedAsBefore) {
  Cert ca = some_system_ca();
  ASSERT_TRUE(ca);
  const auto path = std::filesystem::temp_directory_path() / ("zapd-bundle-" + std::to_string(std::time(nullptr)) + ".pem");
  {
    FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    PEM_write_X509(f, ca.get());
    std::fclose(f);
  }
  const char* was = std::getenv(X509_get_default_cert_file_env());
  const std::string saved = was != nullptr ? was : "";
  setenv(X509_get_default_cert_file_env(), path.c_str(), 1);
  Store store(X509_STORE_new());
  trust_system_cas(store.get());
  EXPECT_EQ(certificates_in_memory(store.get()), 1) << "SSL_CERT_FILE of the user's own was not loaded";
  if (was != nullptr) setenv(X509_get_default_cert_file_env(), saved.c_str(), 1);
  else unsetenv(X509_get_default_cert_file_env());
  std::filesystem::remove(path);
}

// PEM text of cert.
std::string pem_of(X509* cert) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return {};
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

TEST(Trust, PemTextAddsEveryCertificateItHolds) {
  // Two different CAs of the system's, as one PEM text (what --wa-tls-ca or a webhook CA file holds).
  std::vector<Cert> cas = system_cas(2, false);
  ASSERT_EQ(cas.size(), 2u) << "fewer than two CAs in " << system_dir();
  const std::string two = pem_of(cas[0].get()) + pem_of(cas[1].get());

  Store store(X509_STORE_new());
  EXPECT_EQ(trust_pem(store.get(), two), 2);
  EXPECT_EQ(certificates_in_memory(store.get()), 2);
  EXPECT_EQ(verify(store.get(), cas[1].get()), X509_V_OK) << "the second certificate is not trusted";
  EXPECT_EQ(ERR_peek_error(), 0u) << "the end of the text left an error queued";

  // Text that is no certificate ends the reading: what came before counts, nothing after, no error queued.
  Store partial(X509_STORE_new());
  EXPECT_EQ(trust_pem(partial.get(), pem_of(cas[0].get()) + "-----BEGIN CERTIFICATE-----\nnot base64\n"), 1);
  EXPECT_EQ(ERR_peek_error(), 0u);
  Store none(X509_STORE_new());
  EXPECT_EQ(trust_pem(none.get(), "no certificate here"), 0);
  EXPECT_EQ(trust_pem(none.get(), ""), 0);
  EXPECT_EQ(certificates_in_memory(none.get()), 0);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

}  // namespace
}  // namespace wa::crypto
