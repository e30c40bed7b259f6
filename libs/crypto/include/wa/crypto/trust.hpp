// SPDX-License-Identifier: MIT
// The system's certificate authorities for a TLS client's trust store (the engine's wss:// connections and
// the webhook poster's https:// ones).
#pragma once

#include <openssl/types.h>

#include <string_view>

namespace wa::crypto {

/// Makes store trust the system's CAs. A hashed CA directory (c_rehash, update-ca-certificates) is read
/// lazily: a verification loads the one CA its chain names. The bundle file holds every CA (about 140 on
/// Debian), all parsed up front: 30 ms and about 0.5 MB in each process that reads it. The directory is used
/// instead of the file only when the file is the system's default one, which holds the same CAs; an
/// SSL_CERT_FILE of the user's own, or a system without a hashed directory, gets OpenSSL's default paths.
void trust_system_cas(X509_STORE* store);

/// Adds every certificate of pem (PEM text, one or more certificates, e.g. wasim's CA given by --wa-tls-ca) to
/// store; returns how many. Text that is not a certificate ends the reading and leaves no error queued.
int trust_pem(X509_STORE* store, std::string_view pem);

/// The certificates store holds in memory now (0 after a lazy trust_system_cas, until a verification).
int certificates_in_memory(X509_STORE* store);

}  // namespace wa::crypto
