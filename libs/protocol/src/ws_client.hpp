// SPDX-License-Identifier: MIT
// The engine's connection to the server: TCP, TLS driven on the socket directly, and the websocket client
// (wire/websocket.hpp). Internal to wa_protocol; only engine.cpp and its test include it.
//
// Why not Beast's websocket over Asio's ssl::stream: an idle linked number is most of what a gateway holds,
// and those two keep about 75 KB per connection whether it is idle or not (Asio's TLS stream has a BIO
// pair and two stream buffers of 17 KB each; Beast's stream 2.5 KB and a 2 KB masking buffer). Here an idle
// connection holds no buffer: it waits for readability with none, OpenSSL returns its own record buffers
// when idle (SSL_MODE_RELEASE_BUFFERS on the engine's context), and a frame is masked into the one
// allocation that is written. docs/architecture.md, "The websocket client".
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "wa/core/bytes.hpp"
#include "wa/core/result.hpp"
#include "wa/wire/websocket.hpp"

namespace wa::protocol {

struct WsUrl {
  bool tls = false;
  std::string host, port, target;
};

/// ws://host[:port][/target] or wss://...; the target defaults to /ws/chat, the port to 80 or 443.
[[nodiscard]] Result<WsUrl> parse_ws_url(std::string_view s);

/// One connection. All calls run on one strand (the owner's); at most one write and one read are in
/// flight at a time (a read may answer a ping meanwhile: its pong waits for the write in flight). close()
/// may be called at any time: every pending operation then completes with an error, and no call touches
/// the socket again (its descriptor number may already belong to another connection).
class WsClient final {
 public:
  /// tls: the client context for wss:// (peer verification on); may be null for ws:// only.
  WsClient(boost::asio::any_io_executor ex, SSL_CTX* tls);
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  /// Resolves, connects, does the TLS handshake (SNI and host name verification) and the upgrade.
  boost::asio::awaitable<Status> connect(const WsUrl& u, std::string origin);
  /// Sends one binary message.
  boost::asio::awaitable<Status> write(ByteView message);
  /// The next bytes of the server's binary messages, in any split; the view lives until the next read or
  /// close. Answers pings; a close frame from the server is an error. With would_block: does not wait for
  /// the socket; when nothing more can be read now, sets *would_block, leaves data empty and holds no buffer.
  boost::asio::awaitable<Status> read(ByteView& data, bool* would_block = nullptr);
  /// Calls h(error_code) once the socket is readable, or with an error once closed: how an idle connection
  /// waits without a coroutine frame. After a read that would block, OpenSSL holds nothing decrypted.
  template <class Handler>
  void async_wait_readable(Handler&& h) {
    sock_.async_wait(boost::asio::ip::tcp::socket::wait_read, std::forward<Handler>(h));
  }
  void close() noexcept;

  /// Buffer memory this connection holds now (the read buffer and pending control frames). OpenSSL's
  /// own buffers are not counted (released while idle).
  std::size_t held_bytes() const noexcept { return in_.capacity() + control_.capacity(); }
  bool tls() const noexcept { return ssl_ != nullptr; }
  /// getaddrinfo lookups made by every WsClient of the process (IP literals and cached names make none).
  static std::uint64_t resolver_lookups() noexcept;

 private:
  enum class Want { read, write };
  boost::asio::awaitable<Status> wait(Want w);
  boost::asio::awaitable<Status> tls_handshake(const std::string& host, const std::string& port);
  boost::asio::awaitable<Status> send_all(ByteView b);  // plain or TLS
  boost::asio::awaitable<Status> fill();                // reads more bytes into in_
  void compact();                                       // drops what was handed out
  Result<std::optional<Want>> read_now();               // one non-blocking read; nullopt: bytes came
  boost::asio::awaitable<Status> flush_control();       // writes control_ (writing_ held by the caller)
  Status tls_error(int ret, const char* what);
  // An SSL call's result: nullopt when it succeeded, what to wait for before calling again, or the error.
  Result<std::optional<Want>> ssl_outcome(int ret, const char* what);

  boost::asio::ip::tcp::socket sock_;
  // Wakes a writer that waits for a pong being written by the reader; made the first time that happens.
  std::unique_ptr<boost::asio::steady_timer> gate_;
  SSL_CTX* ctx_;
  SSL* ssl_ = nullptr;
  Bytes in_;                 // received, not yet handed out
  std::size_t in_pos_ = 0;
  wire::ws::ClientReader reader_;
  Bytes control_;            // pong frames waiting for the socket
  bool writing_ = false;
  bool closed_ = false;
};

}  // namespace wa::protocol
