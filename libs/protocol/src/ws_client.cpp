// SPDX-License-Identifier: MIT
// The engine's websocket connection over TCP or TLS (see ws_client.hpp).
#include "ws_client.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "wa/core/errc.hpp"
#include "wa/crypto/crypto.hpp"
#include "tls_client.hpp"
#include "wa/protocol/auth.hpp"

namespace wa::protocol {
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {
constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);
constexpr std::size_t kTlsReadChunk = 16 * 1024 + 512;  // one TLS record
constexpr std::size_t kReadScratch = 64 * 1024;  // the most one plain read takes

Status lost(std::string what) { return fail(errc::connection_lost, std::move(what)); }

// A client frame's masking key (RFC 6455 §5.3: fresh and unpredictable for every frame).
std::array<std::uint8_t, 4> new_mask() {
  std::array<std::uint8_t, 4> mask{};
  crypto::random_bytes(mask.data(), mask.size());
  return mask;
}

std::string openssl_errors() {
  std::string s;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!s.empty()) s += "; ";
    s += buf;
  }
  return s;
}
}  // namespace

Result<WsUrl> parse_ws_url(std::string_view s) {
  WsUrl u;
  if (s.starts_with("wss://")) {
    u.tls = true;
    s.remove_prefix(6);
  } else if (s.starts_with("ws://")) {
    s.remove_prefix(5);
  } else {
    return fail(core::errc::invalid_argument, "URL must start with ws:// or wss://");
  }
  const auto slash = s.find('/');
  std::string_view hostport = s.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/ws/chat" : std::string(s.substr(slash));
  const auto colon = hostport.rfind(':');
  if (colon != std::string_view::npos && hostport.find(']') == std::string_view::npos) {
    u.host = std::string(hostport.substr(0, colon));
    u.port = std::string(hostport.substr(colon + 1));
  } else {
    u.host = std::string(hostport);
    u.port = u.tls ? "443" : "80";
  }
  if (u.host.empty() || u.port.empty()) return fail(core::errc::invalid_argument, "URL without host or port");
  return u;
}

WsClient::WsClient(net::any_io_executor ex, SSL_CTX* tls) : sock_(std::move(ex)), ctx_(tls) {}

WsClient::~WsClient() {
  if (ssl_) SSL_free(ssl_);  // no I/O: the socket is closed with the object
}

void WsClient::close() noexcept {
  closed_ = true;
  boost::system::error_code ec;
  sock_.shutdown(tcp::socket::shutdown_both, ec);
  sock_.close(ec);
  if (gate_) gate_->cancel();
}

net::awaitable<Status> WsClient::wait(Want w) {
  if (closed_) co_return lost("closed");
  auto [ec] = co_await sock_.async_wait(w == Want::read ? tcp::socket::wait_read : tcp::socket::wait_write, use_nothrow);
  if (closed_) co_return lost("closed");
  if (ec) co_return lost(ec.message());
  co_return ok();
}

Status WsClient::tls_error(int ret, const char* what) {
  const int e = SSL_get_error(ssl_, ret);
  std::string text = std::string("TLS ") + what + ": ";
  if (e == SSL_ERROR_ZERO_RETURN) return lost(text + "closed by the server");
  if (e == SSL_ERROR_SYSCALL) {
    const auto more = openssl_errors();
    return lost(text + (errno != 0 && ret < 0 ? std::strerror(errno) : "connection closed") + (more.empty() ? "" : " " + more));
  }
  if (const long v = SSL_get_verify_result(ssl_); v != X509_V_OK) {
    ERR_clear_error();
    return lost(text + "certificate verification failed: " + X509_verify_cert_error_string(v));
  }
  return lost(text + openssl_errors());
}

Result<std::optional<WsClient::Want>> WsClient::ssl_outcome(int ret, const char* what) {
  if (ret == 1) return std::optional<Want>();
  const int e = SSL_get_error(ssl_, ret);
  if (e == SSL_ERROR_WANT_READ) return Want::read;
  if (e == SSL_ERROR_WANT_WRITE) return Want::write;
  auto st = tls_error(ret, what);
  return fail(st.error());
}

net::awaitable<Status> WsClient::tls_handshake(const std::string& host, const std::string& port) {
  ssl_ = SSL_new(ctx_);
  if (!ssl_ || SSL_set_fd(ssl_, sock_.native_handle()) != 1) co_return lost("TLS: " + openssl_errors());
  SSL_set_read_ahead(ssl_, 1);  // one recv per arrival instead of a record header, then its body
  boost::system::error_code aec;
  (void)net::ip::make_address(host, aec);
  if (!aec) {
    // An IP literal: checked against the certificate's IP addresses; no SNI (RFC 6066 §3).
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str()) != 1) co_return lost("TLS: bad IP " + host);
  } else {
    if (SSL_set_tlsext_host_name(ssl_, host.c_str()) != 1 || SSL_set1_host(ssl_, host.c_str()) != 1) {
      co_return lost("TLS: host name " + host + ": " + openssl_errors());
    }
  }
  detail::offer_tls_ticket(ssl_, host + ":" + port);  // a reconnection resumes: no certificate to verify again
  for (;;) {
    ERR_clear_error();
    errno = 0;
    auto want = ssl_outcome(SSL_connect(ssl_), "handshake");
    if (!want) co_return fail(want.error());
    if (!*want) {
      detail::tls_handshake_done(ssl_);
      co_return ok();
    }
    if (auto st = co_await wait(**want); !st) co_return st;
  }
}

net::awaitable<Status> WsClient::send_all(ByteView b) {
  if (closed_) co_return lost("closed");
  if (!ssl_) {
    auto [ec, n] = co_await net::async_write(sock_, net::buffer(b.data(), b.size()), use_nothrow);
    if (closed_) co_return lost("closed");
    if (ec) co_return lost(ec.message());
    co_return ok();
  }
  // Retries after WANT_* pass the same buffer, as OpenSSL requires; without partial writes SSL_write_ex
  // reports success only when every byte is in records on the socket.
  for (;;) {
    ERR_clear_error();
    errno = 0;
    std::size_t written = 0;
    auto want = ssl_outcome(SSL_write_ex(ssl_, b.data(), b.size(), &written), "write");
    if (!want) co_return fail(want.error());
    if (!*want) co_return ok();
    if (auto st = co_await wait(**want); !st) co_return st;
  }
}

Result<std::optional<WsClient::Want>> WsClient::read_now() {
  if (closed_) return fail(errc::connection_lost, "closed");
  Result<std::optional<Want>> out = std::optional<Want>();
  if (!ssl_) {
    // Read into the thread's scratch buffer, then keep only what came: the read needs no FIONREAD ioctl to be
    // sized (that was a second system call per read, 7 per login), and no connection holds a large buffer.
    // On the heap, made at the first read: a thread_local array would be in the static TLS block that every
    // thread of the process gets, zeroed (64 KB resident per thread).
    thread_local std::unique_ptr<std::uint8_t[]> scratch;
    if (!scratch) scratch.reset(new std::uint8_t[kReadScratch]);  // not zeroed: only what reads fill is touched
    boost::system::error_code ec;
    const std::size_t n = sock_.read_some(net::buffer(scratch.get(), kReadScratch), ec);
    in_.insert(in_.end(), scratch.get(), scratch.get() + n);
    if (ec == net::error::would_block || ec == net::error::try_again || ec == net::error::interrupted) {
      out = Want::read;
    } else if (ec == net::error::eof) {
      out = fail(errc::connection_lost, "closed by the server");
    } else if (ec) {
      out = fail(errc::connection_lost, ec.message());
    }
  } else {
    const std::size_t old = in_.size();
    in_.resize(old + kTlsReadChunk);
    ERR_clear_error();
    errno = 0;
    std::size_t n = 0;
    const int r = SSL_read_ex(ssl_, in_.data() + old, kTlsReadChunk, &n);
    in_.resize(old + n);
    out = ssl_outcome(r, "read");
  }
  if (in_.empty()) Bytes().swap(in_);  // nothing came: the read's buffer is not kept while the socket is waited on
  return out;
}

void WsClient::compact() {
  if (in_pos_ > 0) {
    in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(in_pos_));
    in_pos_ = 0;
  }
  if (in_.empty()) Bytes().swap(in_);  // no buffer held while nothing is
}

// Waits for the socket (when OpenSSL holds nothing already) and reads; holds no buffer while it waits.
net::awaitable<Status> WsClient::fill() {
  compact();
  // OpenSSL may hold decrypted bytes already (read-ahead): then the read comes before any wait.
  std::optional<Want> want;
  if (!ssl_ || SSL_has_pending(ssl_) == 0) want = Want::read;
  for (;;) {
    if (closed_) co_return lost("closed");
    if (want) {
      auto [ec] = co_await sock_.async_wait(*want == Want::read ? tcp::socket::wait_read : tcp::socket::wait_write, use_nothrow);
      if (closed_) co_return lost("closed");
      if (ec) co_return lost(ec.message());
    }
    auto got = read_now();
    if (!got) co_return fail(got.error());
    if (!*got) co_return ok();
    want = **got;
  }
}

namespace {
// Resolved addresses by "host:port" for a minute. A restart connects every number to the same host at once:
// without this, 1,000 numbers cost 1,000 getaddrinfo calls (each a hop to Asio's resolver thread and, for
// a name, a DNS query) within a second. A failed connection drops its host's entry.
struct ResolveCache {
  std::mutex mu;
  std::map<std::string, std::pair<std::vector<tcp::endpoint>, std::chrono::steady_clock::time_point>> entries;
  std::atomic<std::uint64_t> lookups{0};
};
ResolveCache& resolve_cache() {
  static ResolveCache c;
  return c;
}
constexpr auto kResolveTtl = std::chrono::seconds(60);

// The addresses to try without a lookup: the IP literal itself, or a cached name's; empty: resolve.
std::vector<tcp::endpoint> known_endpoints(const WsUrl& u) {
  boost::system::error_code aec;
  const auto addr = net::ip::make_address(u.host, aec);
  const auto port = std::strtoul(u.port.c_str(), nullptr, 10);
  if (!aec && port > 0 && port < 65536) return {tcp::endpoint(addr, static_cast<unsigned short>(port))};
  auto& cache = resolve_cache();
  std::lock_guard lock(cache.mu);
  auto it = cache.entries.find(u.host + ":" + u.port);
  if (it != cache.entries.end() && it->second.second > std::chrono::steady_clock::now()) return it->second.first;
  return {};
}
void remember_endpoints(const WsUrl& u, const tcp::resolver::results_type& results, std::vector<tcp::endpoint>& out) {
  for (const auto& r : results) out.push_back(r.endpoint());
  auto& cache = resolve_cache();
  std::lock_guard lock(cache.mu);
  cache.entries[u.host + ":" + u.port] = {out, std::chrono::steady_clock::now() + kResolveTtl};
}
void forget_endpoints(const WsUrl& u) {
  auto& cache = resolve_cache();
  std::lock_guard lock(cache.mu);
  cache.entries.erase(u.host + ":" + u.port);
}
}  // namespace

std::uint64_t WsClient::resolver_lookups() noexcept { return resolve_cache().lookups.load(); }

net::awaitable<Status> WsClient::connect(const WsUrl& u, std::string origin) {
  std::vector<tcp::endpoint> eps = known_endpoints(u);
  if (eps.empty()) {
    tcp::resolver resolver(sock_.get_executor());
    ++resolve_cache().lookups;
    auto [rec, results] = co_await resolver.async_resolve(u.host, u.port, use_nothrow);
    if (rec) co_return lost("resolve " + u.host + ": " + rec.message());
    remember_endpoints(u, results, eps);
    if (eps.empty()) co_return lost("resolve " + u.host + ": no address");
  }
  if (closed_) co_return lost("closed");
  auto [cec, ep] = co_await net::async_connect(sock_, eps, use_nothrow);
  if (closed_) co_return lost("closed");
  if (cec) {
    forget_endpoints(u);
    co_return lost("connect: " + cec.message());
  }
  boost::system::error_code ec;
  sock_.set_option(tcp::no_delay(true), ec);
  sock_.non_blocking(true, ec);
  if (ec) co_return lost(ec.message());
  if (u.tls) {
    if (!ctx_) co_return fail(core::errc::invalid_argument, "wss:// without a TLS context");
    if (auto st = co_await tls_handshake(u.host, u.port); !st) co_return st;
  }
  const std::string key = to_base64(crypto::random_bytes(16));
  std::string accept_src = key;
  accept_src += wire::ws::kAcceptGuid;
  const std::string accept = to_base64(crypto::sha1(as_bytes(accept_src)));
  const bool default_port = u.port == (u.tls ? "443" : "80");
  auto req = wire::ws::upgrade_request(default_port ? u.host : u.host + ":" + u.port, u.target, origin, key);
  if (!req) co_return fail(req.error());
  if (auto st = co_await send_all(as_bytes(*req)); !st) co_return st;
  for (;;) {
    if (auto st = co_await fill(); !st) co_return st;
    const std::string_view got(reinterpret_cast<const char*>(in_.data()), in_.size());
    auto head = wire::ws::parse_upgrade_response(got, accept);
    if (!head) co_return fail(head.error());
    if (*head > 0) {
      in_pos_ = *head;  // what follows the head is already frames
      co_return ok();
    }
  }
}

net::awaitable<Status> WsClient::flush_control() {
  while (!control_.empty()) {
    Bytes out;
    out.swap(control_);
    if (auto st = co_await send_all(out); !st) co_return st;
  }
  co_return ok();
}

net::awaitable<Status> WsClient::write(ByteView message) {
  while (writing_) {  // the reader is writing a pong
    if (!gate_) gate_ = std::make_unique<net::steady_timer>(sock_.get_executor());
    gate_->expires_at(net::steady_timer::time_point::max());
    auto [ec] = co_await gate_->async_wait(use_nothrow);
    (void)ec;  // cancelled is the wake-up
    if (closed_) co_return lost("closed");
  }
  Bytes frame;
  frame.reserve(wire::ws::client_frame_size(message.size()));
  wire::ws::append_client_frame(frame, wire::ws::Opcode::binary, message, new_mask());
  writing_ = true;
  auto st = co_await send_all(frame);
  if (st) st = co_await flush_control();
  writing_ = false;
  co_return st;
}

net::awaitable<Status> WsClient::read(ByteView& data, bool* would_block) {
  for (;;) {
    if (closed_) co_return lost("closed");
    auto ev = reader_.next(ByteView(in_).subspan(in_pos_));
    if (!ev) co_return fail(ev.error());
    in_pos_ += ev->consumed;
    switch (ev->kind) {
      case wire::ws::Event::Kind::data:
        if (ev->payload.empty()) continue;
        data = ev->payload;
        co_return ok();
      case wire::ws::Event::Kind::ping:
      case wire::ws::Event::Kind::close: {
        // A ping is answered with its payload; a close is echoed with its code (RFC 6455 §5.5.1), which
        // lets the server finish its closing handshake, and ends the connection.
        const bool closing = ev->kind == wire::ws::Event::Kind::close;
        wire::ws::append_client_frame(control_, closing ? wire::ws::Opcode::close : wire::ws::Opcode::pong,
                                      closing ? ev->payload.first(ev->close_code ? 2 : 0) : ev->payload, new_mask());
        if (!writing_) {  // else the write in flight sends it after its frame
          writing_ = true;
          auto st = co_await flush_control();
          writing_ = false;
          if (gate_) gate_->cancel();
          if (!st) co_return st;
        }
        if (closing) {
          co_return lost("websocket closed by the server" +
                         (ev->close_code ? " (code " + std::to_string(*ev->close_code) + ")" : std::string()));
        }
        continue;
      }
      case wire::ws::Event::Kind::pong:
        continue;
      case wire::ws::Event::Kind::need_more:
        if (would_block != nullptr) {
          compact();
          auto got = read_now();
          if (!got) co_return fail(got.error());
          if (!*got) continue;  // bytes came
          if (**got == Want::read) {
            *would_block = true;
            co_return ok();
          }
          // OpenSSL wants to write first (rare): wait for that as a waiting read does.
        }
        if (auto st = co_await fill(); !st) co_return st;
        continue;
    }
  }
}

}  // namespace wa::protocol
