// SPDX-License-Identifier: MIT
#include "wa/crypto/trust.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace wa::crypto {
namespace {

// A CA file name as OpenSSL looks them up in a hashed directory: the subject hash, '.', a number.
bool hashed_name(const std::string& n) {
  if (n.size() < 10 || n[8] != '.') return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    if (i == 8) continue;
    const bool ok = i < 8 ? ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) : (c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool hashed_ca_dir(const std::string& dir) {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (hashed_name(it->path().filename().string())) return true;
  }
  return false;
}

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : std::string(fallback);
}

}  // namespace

void trust_system_cas(X509_STORE* store) {
  const std::string dir = env_or(X509_get_default_cert_dir_env(), X509_get_default_cert_dir());
  const std::string file = env_or(X509_get_default_cert_file_env(), X509_get_default_cert_file());
  std::error_code ec;
  const bool default_file = std::filesystem::equivalent(file, X509_get_default_cert_file(), ec) && !ec;
  if (default_file && dir.find(':') == std::string::npos && hashed_ca_dir(dir) && X509_STORE_load_path(store, dir.c_str()) == 1) {
    return;
  }
  X509_STORE_set_default_paths(store);
}

int trust_pem(X509_STORE* store, std::string_view pem) {
  if (store == nullptr || pem.empty() || pem.size() > static_cast<std::size_t>(INT32_MAX)) return 0;
  int added = 0;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* cert = bio != nullptr ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr) {
    if (X509_STORE_add_cert(store, cert) == 1) ++added;
    X509_free(cert);
  }
  BIO_free(bio);
  ERR_clear_error();  // the end of the text (or text that is no certificate) is reported as an error
  return added;
}

int certificates_in_memory(X509_STORE* store) {
  return store == nullptr ? 0 : sk_X509_OBJECT_num(X509_STORE_get0_objects(store));
}

}  // namespace wa::crypto
