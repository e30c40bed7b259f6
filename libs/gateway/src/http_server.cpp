// SPDX-License-Identifier: MIT
// The gateway's only Beast translation unit. GCC 12 rule (docs/engine.md): no temporaries or lambdas
// inside co_await expressions.
#include "wa/gateway/http_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <chrono>
#include <iostream>
#include <optional>
#include <unordered_set>

namespace wa::gateway {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr auto kUseTuple = net::as_tuple(net::use_awaitable);
constexpr std::uint32_t kHeaderLimit = 8 * 1024;
constexpr auto kReadTimeout = std::chrono::seconds(30);
constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr std::uint64_t kLingerDrain = 4 << 20;  // bytes read and dropped before closing
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

using Response = http::response<http::string_body>;

Response to_beast(HttpResponse r, unsigned version, bool keep_alive, const std::string& server) {
  Response res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, server);
  if (r.status != 204) res.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : r.headers) res.set(k, v);
  res.keep_alive(keep_alive);
  res.body() = std::move(r.body);  // moved: a list of 10,000 instances is megabytes
  res.prepare_payload();
  return res;
}

std::optional<HttpResponse> response_for_read_error(const beast::error_code& ec, std::uint64_t body_limit) {
  if (ec == http::error::body_limit) {
    return error_response(413, "PAYLOAD_TOO_LARGE", "the request body exceeds " + std::to_string(body_limit / 1024) + " KiB");
  }
  if (ec == http::error::header_limit) return error_response(431, "HEADERS_TOO_LARGE", "the request header exceeds 8 KiB");
  if (ec.category() == http::make_error_code(http::error::bad_method).category() && ec != http::error::partial_message) {
    return error_response(400, "BAD_REQUEST", "malformed HTTP request");
  }
  return std::nullopt;
}

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(net::any_io_executor e, Handler h, BodyLimit limit, std::string name)
      : ex(std::move(e)), acceptor(ex), handler(std::move(h)), body_limit(limit), server_name(std::move(name)) {}

  net::any_io_executor ex;
  tcp::acceptor acceptor;
  Handler handler;
  BodyLimit body_limit;
  std::string server_name;
  std::unordered_set<beast::tcp_stream*> streams;
  bool stopping = false;

  // Closing with unread input turns into a TCP reset that can destroy the answer in flight: drain first.
  net::awaitable<void> linger_close(beast::tcp_stream& stream) {
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.expires_after(kLingerTimeout);
    std::array<char, 4096> sink{};
    std::uint64_t drained = 0;
    while (drained < kLingerDrain) {
      auto [read_ec, n] = co_await stream.async_read_some(net::buffer(sink), kUseTuple);
      if (read_ec) break;
      drained += n;
    }
  }

  // Runs the handler and waits for its answer (it may come later, e.g. a QR code).
  net::awaitable<HttpResponse> call(const HttpRequest& req) {
    auto done = std::make_shared<std::optional<HttpResponse>>();
    auto timer = std::make_shared<net::steady_timer>(ex, std::chrono::steady_clock::time_point::max());
    auto respond = [done, timer](HttpResponse r) {
      if (*done) return;
      *done = std::move(r);
      timer->cancel();
    };
    handler(req, respond);
    if (!*done) {
      auto [ec] = co_await timer->async_wait(kUseTuple);
      (void)ec;
    }
    if (!*done) co_return error_response(503, "STOPPING", "the server is stopping");
    co_return std::move(**done);
  }

  // A file body (received media, up to the media size limit) is read from disk as it is written, a few KB at
  // a time, instead of into memory first. A file that cannot be opened is answered 404.
  net::awaitable<bool> write_file(beast::tcp_stream& stream, HttpResponse& answer, unsigned version, bool keep_alive) {
    http::file_body::value_type body;
    beast::error_code ec;
    body.open(answer.file.c_str(), beast::file_mode::scan, ec);
    if (ec) {
      Response res = to_beast(error_response(404, "NOT_FOUND", "no such file"), version, keep_alive, server_name);
      stream.expires_after(kWriteTimeout);
      auto [wec, wn] = co_await http::async_write(stream, res, kUseTuple);
      co_return !wec;
    }
    const std::uint64_t size = body.size();
    http::response<http::file_body> res{http::status::ok, version};
    res.set(http::field::server, server_name);
    for (const auto& [k, v] : answer.headers) res.set(k, v);
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.content_length(size);
    // Time in proportion to the size, as for request bodies: 30 s plus a second per MiB.
    stream.expires_after(kWriteTimeout + std::chrono::seconds(size >> 20));
    auto [wec, wn] = co_await http::async_write(stream, res, kUseTuple);
    co_return !wec;
  }

  net::awaitable<void> session(tcp::socket socket) {
    auto self = shared_from_this();
    if (stopping) co_return;
    // An answer goes out at once, whatever is still unacknowledged on the connection (no Nagle delay).
    beast::error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    beast::tcp_stream stream(std::move(socket));
    streams.insert(&stream);
    struct Unregister {
      Impl* impl;
      beast::tcp_stream* s;
      ~Unregister() { impl->streams.erase(s); }
    } unregister{this, &stream};
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kHeaderLimit);
      stream.expires_after(kReadTimeout);
      // The limit depends on the target, so it is applied once the header is in: Beast would otherwise refuse
      // a Content-Length over its default while reading the header.
      parser.body_limit(boost::none);
      auto [header_ec, header_n] = co_await http::async_read_header(stream, buffer, parser, kUseTuple);
      std::uint64_t limit = 0;
      beast::error_code read_ec = header_ec;
      if (!header_ec) {
        limit = body_limit(parser.get().target());
        parser.body_limit(limit);  // checked as a chunked body arrives
        if (parser.content_length() && *parser.content_length() > limit) read_ec = http::error::body_limit;
        // A large body gets time in proportion: 30 s plus a second per MiB of the limit.
        stream.expires_after(kReadTimeout + std::chrono::seconds(limit >> 20));
      }
      if (!read_ec) {
        auto [body_ec, body_n] = co_await http::async_read(stream, buffer, parser, kUseTuple);
        read_ec = body_ec;
      }
      if (read_ec == http::error::end_of_stream) break;
      if (read_ec) {
        if (auto r = response_for_read_error(read_ec, limit)) {
          Response res = to_beast(*r, 11, false, server_name);
          stream.expires_after(kWriteTimeout);
          auto [wec, wn] = co_await http::async_write(stream, res, kUseTuple);
          if (!wec) co_await linger_close(stream);
        }
        co_return;
      }
      auto& msg = parser.get();
      HttpRequest req;
      req.method = std::string(msg.method_string());
      req.target = std::string(msg.target());
      req.content_type = std::string(msg[http::field::content_type]);
      req.authorization = std::string(msg[http::field::authorization]);
      if (auto it = msg.find("Client-Token"); it != msg.end()) {
        req.has_client_token = true;
        req.client_token = std::string(it->value());
      }
      req.body = std::move(msg.body());
      const unsigned version = msg.version();
      const bool keep_alive = msg.keep_alive();
      HttpResponse answer = co_await call(req);
      const bool keep = keep_alive && !stopping;
      if (!answer.file.empty()) {
        if (!co_await write_file(stream, answer, version, keep) || !keep) break;
        continue;
      }
      Response res = to_beast(std::move(answer), version, keep, server_name);
      stream.expires_after(kWriteTimeout);
      auto [write_ec, write_n] = co_await http::async_write(stream, res, kUseTuple);
      if (write_ec) co_return;
      if (!res.keep_alive()) break;
    }
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  net::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopping) {
      auto [ec, socket] = co_await acceptor.async_accept(kUseTuple);
      if (stopping || ec == net::error::operation_aborted) co_return;
      if (ec) {
        std::cerr << "zapd: accept failed: " << ec.message() << '\n';
        net::steady_timer delay(ex, kAcceptRetryDelay);
        co_await delay.async_wait(kUseTuple);
        continue;
      }
      auto work = session(std::move(socket));
      net::co_spawn(ex, std::move(work), [](const std::exception_ptr& e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          std::cerr << "zapd: HTTP session failed: " << x.what() << '\n';
        }
      });
    }
  }
};

HttpServer::HttpServer(net::any_io_executor ex, Handler handler, BodyLimit body_limit, std::string server_name)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(handler), body_limit, std::move(server_name))) {}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::listen(const std::string& host, std::uint16_t port) {
  beast::error_code ec;
  const auto address = net::ip::make_address(host, ec);
  if (ec) return fail(std::error_code(ec), "invalid listen address " + host);
  const tcp::endpoint endpoint(address, port);
  const auto where = host + " port " + std::to_string(port);
  auto& a = impl_->acceptor;
  if (a.open(endpoint.protocol(), ec); ec) return fail(std::error_code(ec), "open socket for " + where);
  if (a.set_option(net::socket_base::reuse_address(true), ec); ec) return fail(std::error_code(ec), "SO_REUSEADDR for " + where);
  if (a.bind(endpoint, ec); ec) return fail(std::error_code(ec), "bind " + where);
  if (a.listen(net::socket_base::max_listen_connections, ec); ec) return fail(std::error_code(ec), "listen on " + where);
  return ok();
}

std::uint16_t HttpServer::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

void HttpServer::start(std::function<void(std::string)> on_end) {
  auto work = impl_->accept_loop();
  net::co_spawn(impl_->ex, std::move(work), [on_end = std::move(on_end)](const std::exception_ptr& e) {
    std::string why;
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        why = x.what();
      } catch (...) {
        why = "unknown exception";
      }
    }
    on_end(why);
  });
}

void HttpServer::stop() {
  if (impl_->stopping) return;
  impl_->stopping = true;
  beast::error_code ec;
  impl_->acceptor.close(ec);
  for (beast::tcp_stream* s : impl_->streams) s->close();
}

}  // namespace wa::gateway
