// SPDX-License-Identifier: MIT
#include "tls_client.hpp"

#include <ctime>
#include <deque>
#include <map>
#include <mutex>

namespace wa::protocol::detail {
namespace {

struct Pool {
  std::mutex mu;
  std::map<std::string, std::deque<SSL_SESSION*>, std::less<>> by_server;
  ~Pool() {
    for (auto& [_, q] : by_server)
      for (SSL_SESSION* s : q) SSL_SESSION_free(s);
  }
};

void free_pool(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<Pool*>(ptr); }

int pool_index() {
  static const int idx = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_pool);
  return idx;
}

Pool* pool_of(SSL_CTX* ctx) { return ctx == nullptr ? nullptr : static_cast<Pool*>(SSL_CTX_get_ex_data(ctx, pool_index())); }

// The server a connection talks to (host name or address, ':', port), as offer_tls_ticket() was told: it
// rides on the connection (freed with it), since OpenSSL reports new tickets with the connection only.
// Tickets never cross servers, so a resumed session's verified identity is always the one asked for.
void free_server(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<std::string*>(ptr); }

int server_index() {
  static const int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_server);
  return idx;
}

std::string server_of(SSL* ssl) {
  const auto* s = static_cast<const std::string*>(SSL_get_ex_data(ssl, server_index()));
  return s == nullptr ? std::string() : *s;
}

bool usable(SSL_SESSION* s) {
  return SSL_SESSION_is_resumable(s) == 1 &&
         static_cast<long long>(SSL_SESSION_get_time(s)) + SSL_SESSION_get_timeout(s) > static_cast<long long>(std::time(nullptr));
}

void keep(SSL* ssl, SSL_SESSION* s) {
  Pool* pool = pool_of(SSL_get_SSL_CTX(ssl));
  const std::string server = pool == nullptr ? std::string() : server_of(ssl);
  if (server.empty()) {
    SSL_SESSION_free(s);
    return;
  }
  std::lock_guard lock(pool->mu);
  auto& q = pool->by_server[server];
  q.push_back(s);
  while (q.size() > kTlsTicketsPerServer) {
    SSL_SESSION_free(q.front());
    q.pop_front();
  }
}

// OpenSSL's new-session callback. The session it hands over stays the connection's own, and a connection
// that ends without a close_notify (most do: the server drops them, the network fails) marks its session
// not resumable on SSL_free. The pool keeps a copy instead.
int on_new_session(SSL* ssl, SSL_SESSION* s) {
  if (SSL_SESSION_is_resumable(s) != 1) return 0;
  if (SSL_SESSION* copy = SSL_SESSION_dup(s); copy != nullptr) keep(ssl, copy);
  return 0;
}

}  // namespace

void keep_tls_tickets(SSL_CTX* ctx) {
  if (pool_of(ctx) != nullptr) return;
  SSL_CTX_set_ex_data(ctx, pool_index(), new Pool);
  // Client-side caching through the callback only: OpenSSL's internal cache is for servers.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
}

void offer_tls_ticket(SSL* ssl, const std::string& server) {
  Pool* pool = pool_of(SSL_get_SSL_CTX(ssl));
  if (pool == nullptr || server.empty()) return;
  auto* owned = new std::string(server);
  if (SSL_set_ex_data(ssl, server_index(), owned) != 1) {
    delete owned;
    return;
  }
  SSL_SESSION* chosen = nullptr;
  {
    std::lock_guard lock(pool->mu);
    auto it = pool->by_server.find(server);
    if (it == pool->by_server.end()) return;
    auto& q = it->second;
    while (!q.empty() && chosen == nullptr) {
      SSL_SESSION* s = q.back();  // the newest: the longest left to live
      q.pop_back();
      if (usable(s)) chosen = s;
      else SSL_SESSION_free(s);
    }
    if (q.empty()) pool->by_server.erase(it);
  }
  if (chosen == nullptr) return;
  SSL_set_session(ssl, chosen);  // takes its own reference
  SSL_SESSION_free(chosen);
}

void tls_handshake_done(SSL* ssl) {
  if (SSL_session_reused(ssl) != 1 || SSL_version(ssl) >= TLS1_3_VERSION) return;
  SSL_SESSION* s = SSL_get0_session(ssl);
  if (s != nullptr && usable(s) && (s = SSL_SESSION_dup(s)) != nullptr) keep(ssl, s);
}

}  // namespace wa::protocol::detail
