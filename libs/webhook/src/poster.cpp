// SPDX-License-Identifier: MIT
// The only Beast translation unit of wa_webhook. GCC 12 rule of this project (docs/engine.md): no temporaries
// or lambdas inside co_await expressions; name them first.
#include "wa/webhook/poster.hpp"

#include "wa/webhook/url.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/ssl.h>

#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace wa::webhook {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);
constexpr std::uint64_t kAnswerLimit = 64 * 1024;

// An answer, and whether the connection may carry another request.
struct Exchanged {
  PostResult result;
  bool reusable = false;
};

template <class Stream>
net::awaitable<Exchanged> exchange(Stream& stream, http::request<http::string_body>& req) {
  auto [wec, wn] = co_await http::async_write(stream, req, use_nothrow);
  if (wec) co_return Exchanged{PostResult{0, "write: " + wec.message(), {}}, false};
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kAnswerLimit);
  auto [rec, rn] = co_await http::async_read(stream, buf, parser, use_nothrow);
  // An answer whose body is too large still has a status worth reporting.
  if (rec && !(rec == http::error::body_limit && parser.is_header_done())) {
    co_return Exchanged{PostResult{0, "read: " + rec.message(), {}}, false};
  }
  const bool reusable = !rec && parser.get().keep_alive() && buf.size() == 0;
  co_return Exchanged{PostResult{static_cast<int>(parser.get().result_int()), {}, std::move(parser.get().body())}, reusable};
}

constexpr std::size_t kIdlePerOrigin = 8;  // kept-alive plain-HTTP connections per host:port

}  // namespace

struct Poster::Impl : std::enable_shared_from_this<Poster::Impl> {
  Impl(net::any_io_executor e, PosterConfig c) : ex(std::move(e)), cfg(std::move(c)), ssl(net::ssl::context::tls_client) {
    ssl.set_default_verify_paths();
    if (!cfg.extra_ca_pem.empty()) {
      beast::error_code ec;
      ssl.add_certificate_authority(net::buffer(cfg.extra_ca_pem), ec);
    }
    ssl.set_verify_mode(net::ssl::verify_peer);
  }

  net::awaitable<PostResult> run(std::string method, std::string url_text, std::string body, Headers headers) {
    auto self = shared_from_this();
    auto url = parse_url(url_text);
    if (!url) co_return PostResult{0, "invalid URL", {}};
    const http::verb verb = http::string_to_verb(method);
    if (verb == http::verb::unknown) co_return PostResult{0, "unknown method", {}};
    http::request<http::string_body> req{verb, url->target, 11};
    const bool default_port = url->port == (url->tls ? "443" : "80");
    const bool v6 = url->host.find(':') != std::string::npos;
    req.set(http::field::host, (v6 ? "[" + url->host + "]" : url->host) + (default_port ? "" : ":" + url->port));
    req.set(http::field::user_agent, "zapd-webhook");
    if (!body.empty() || verb == http::verb::post || verb == http::verb::put) req.set(http::field::content_type, "application/json");
    if (url->tls) req.set(http::field::connection, "close");
    for (auto& [k, v] : headers) req.set(k, v);
    req.body() = std::move(body);
    req.prepare_payload();

    // Plain HTTP reuses an idle kept-alive connection to the same origin when there is one (a webhook sink
    // gets many events in a row); a reused connection the server has closed meanwhile fails at once, and the
    // request goes again on a new one.
    const std::string origin = url->host + ":" + url->port;
    if (!url->tls) {
      auto& pool = idle[origin];
      while (!pool.empty()) {
        std::unique_ptr<beast::tcp_stream> reused = std::move(pool.back());
        pool.pop_back();
        reused->expires_after(cfg.timeout);
        Exchanged x = co_await exchange(*reused, req);
        if (x.result.status == 0) continue;  // stale: try the next, then a new connection
        if (x.reusable) keep(origin, std::move(reused));
        co_return std::move(x.result);
      }
    }
    tcp::resolver resolver(ex);
    auto [rec, results] = co_await resolver.async_resolve(url->host, url->port, use_nothrow);
    if (rec) co_return PostResult{0, "resolve: " + rec.message(), {}};
    if (!url->tls) {
      auto stream = std::make_unique<beast::tcp_stream>(ex);
      stream->expires_after(cfg.timeout);
      auto [cec, ep] = co_await stream->async_connect(results, use_nothrow);
      if (cec) co_return PostResult{0, "connect: " + cec.message(), {}};
      Exchanged x = co_await exchange(*stream, req);
      if (x.reusable) {
        keep(origin, std::move(stream));
      } else {
        beast::error_code ec;
        stream->socket().shutdown(tcp::socket::shutdown_both, ec);
      }
      co_return std::move(x.result);
    }
    beast::ssl_stream<beast::tcp_stream> stream(ex, ssl);
    beast::get_lowest_layer(stream).expires_after(cfg.timeout);
    if (!SSL_set_tlsext_host_name(stream.native_handle(), url->host.c_str())) co_return PostResult{0, "TLS: SNI", {}};
    stream.set_verify_callback(net::ssl::host_name_verification(url->host));
    auto [cec, ep] = co_await beast::get_lowest_layer(stream).async_connect(results, use_nothrow);
    if (cec) co_return PostResult{0, "connect: " + cec.message(), {}};
    auto [hec] = co_await stream.async_handshake(net::ssl::stream_base::client, use_nothrow);
    if (hec) co_return PostResult{0, "TLS: " + hec.message(), {}};
    Exchanged x = co_await exchange(stream, req);
    beast::get_lowest_layer(stream).close();
    co_return std::move(x.result);
  }

  void keep(const std::string& origin, std::unique_ptr<beast::tcp_stream> s) {
    auto& pool = idle[origin];
    if (pool.size() >= kIdlePerOrigin) return;  // closed by its destructor
    s->expires_never();
    pool.push_back(std::move(s));
  }

  std::map<std::string, std::vector<std::unique_ptr<beast::tcp_stream>>> idle;
  net::any_io_executor ex;
  PosterConfig cfg;
  net::ssl::context ssl;
};

Poster::Poster(net::any_io_executor ex, PosterConfig cfg) : impl_(std::make_shared<Impl>(std::move(ex), std::move(cfg))) {}
Poster::~Poster() = default;

void Poster::post(const std::string& url, std::string body, Headers headers, std::function<void(PostResult)> done) {
  request("POST", url, std::move(body), std::move(headers), std::move(done));
}

void Poster::request(std::string method, const std::string& url, std::string body, Headers headers,
                     std::function<void(PostResult)> done) {
  auto impl = impl_;
  auto work = impl->run(std::move(method), url, std::move(body), std::move(headers));
  net::co_spawn(impl->ex, std::move(work), [impl, done = std::move(done)](std::exception_ptr e, PostResult r) {
    if (e) r = PostResult{0, "internal error", {}};
    done(std::move(r));
  });
}

}  // namespace wa::webhook
