// SPDX-License-Identifier: MIT
// TLS session tickets, kept per server so that a reconnection resumes (RFC 8446 §2.2) instead of making a
// full handshake. A resumption has no certificate to parse and verify (OpenSSL 3 decodes the certificate's
// key through its provider decoders: about a third of a full client handshake's CPU) and costs the server
// no signature. Each ticket is offered once (RFC 8446 Appendix C.4). OpenSSL servers issue two tickets
// after a full handshake and one after a resumption, so a stream of connections keeps the pool stocked.
// Connections that find the pool empty (a burst) make full handshakes and refill it.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <string>

namespace wa::protocol::detail {

/// At most this many tickets are kept per server; the oldest goes first.
inline constexpr std::size_t kTlsTicketsPerServer = 64;

/// Makes ctx keep the tickets its client connections receive. The pool belongs to ctx and goes with it.
void keep_tls_tickets(SSL_CTX* ctx);
/// Before SSL_connect on ssl: offers a ticket saved for server (host or IP, ':', port), if any, and files
/// the tickets this connection receives under server.
void offer_tls_ticket(SSL* ssl, const std::string& server);
/// After a completed handshake: a resumed TLS 1.2 session may be resumed again (no new ticket comes).
void tls_handshake_done(SSL* ssl);

}  // namespace wa::protocol::detail
