// The TLS client context's trust store: the system's hashed CA directory is read as verifications need it,
// not parsed up front; a bundle file of the user's own (SSL_CERT_FILE) is still loaded as before.
#include "../src/tls_client.hpp"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>

namespace wa::protocol {
namespace {

struct CtxFree {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct X509Free {
  void operator()(X509* c) const noexcept { X509_free(c); }
};
using Ctx = std::unique_ptr<SSL_CTX, CtxFree>;
using Cert = std::unique_ptr<X509, X509Free>;

std::string system_dir() {
  const char* v = std::getenv(X509_get_default_cert_dir_env());
  return v != nullptr && *v != '\0' ? v : X509_get_default_cert_dir();
}

// A CA of the system's, from its hashed directory, that is valid today.
Cert some_system_ca() {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(system_dir(), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() < 10 || name[8] != '.') continue;
    FILE* f = std::fopen(it->path().c_str(), "r");
    if (f == nullptr) continue;
    Cert c(PEM_read_X509(f, nullptr, nullptr, nullptr));
    std::fclose(f);
    if (c && X509_cmp_current_time(X509_get0_notAfter(c.get())) > 0 && X509_cmp_current_time(X509_get0_notBefore(c.get())) < 0) return c;
  }
  return nullptr;
}

int verify(SSL_CTX* ctx, X509* cert) {
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> sc(X509_STORE_CTX_new(), &X509_STORE_CTX_free);
  if (!sc || X509_STORE_CTX_init(sc.get(), SSL_CTX_get_cert_store(ctx), cert, nullptr) != 1) return -1;
  return X509_verify_cert(sc.get()) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(sc.get());
}

TEST(TlsClient, SystemCasAreReadWhenAVerificationNeedsThem) {
  // What this machine's OpenSSL uses by default: the hashed directory and its default bundle (Debian sets
  // up both; SSL_CERT_FILE, if set, names the same bundle).
  Cert ca = some_system_ca();
  ASSERT_TRUE(ca) << "no valid CA in " << system_dir() << " (the ca-certificates package)";
  Ctx ctx(SSL_CTX_new(TLS_client_method()));
  ASSERT_TRUE(ctx);
  detail::trust_system_cas(ctx.get());
  EXPECT_EQ(detail::tls_trusted_in_memory(ctx.get()), 0) << "the CA bundle was parsed up front";
  EXPECT_EQ(verify(ctx.get(), ca.get()), X509_V_OK) << "a system CA is not trusted";
  EXPECT_GE(detail::tls_trusted_in_memory(ctx.get()), 1) << "the CA was not loaded on demand";
  EXPECT_LT(detail::tls_trusted_in_memory(ctx.get()), 10);
}

TEST(TlsClient, AUsersOwnBundleIsLoadedAsBefore) {
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
  Ctx ctx(SSL_CTX_new(TLS_client_method()));
  detail::trust_system_cas(ctx.get());
  EXPECT_EQ(detail::tls_trusted_in_memory(ctx.get()), 1) << "SSL_CERT_FILE of the user's own was not loaded";
  if (was != nullptr) setenv(X509_get_default_cert_file_env(), saved.c_str(), 1);
  else unsetenv(X509_get_default_cert_file_env());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace wa::protocol
