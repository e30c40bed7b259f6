// SPDX-License-Identifier: MIT
// The only Beast translation unit of wa_webhook. GCC 12 rule of this project (docs/engine.md): no temporaries
// or lambdas inside co_await expressions; name them first.
#include "wa/webhook/poster.hpp"

#include "wa/webhook/url.hpp"
#include "wa/crypto/trust.hpp"

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

#include <charconv>
#include <deque>
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

PostResult failed(std::string why) {
  PostResult r;
  r.error = std::move(why);
  return r;
}

// An answer, and whether the connection may carry another request.
struct Exchanged {
  PostResult result;
  bool reusable = false;
};

template <class Stream>
net::awaitable<Exchanged> exchange(Stream& stream, http::request<http::string_body>& req, std::size_t limit) {
  auto [wec, wn] = co_await http::async_write(stream, req, use_nothrow);
  if (wec) co_return Exchanged{failed("write: " + wec.message()), false};
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(limit);
  auto [rec, rn] = co_await http::async_read(stream, buf, parser, use_nothrow);
  // An answer whose body is too large still has a status worth reporting.
  const bool too_large = rec == http::error::body_limit && parser.is_header_done();
  if (rec && !too_large) co_return Exchanged{failed("read: " + rec.message()), false};
  const bool reusable = !rec && parser.get().keep_alive() && buf.size() == 0;
  PostResult r;
  r.status = static_cast<int>(parser.get().result_int());
  r.content_type = std::string(parser.get()[http::field::content_type]);
  r.too_large = too_large;
  if (!too_large) r.body = std::move(parser.get().body());
  if (r.status >= 300 && r.status < 400) r.location = std::string(parser.get()[http::field::location]);
  co_return Exchanged{std::move(r), reusable};
}

// At most this many connections per scheme, host and port, kept alive and reused, HTTPS as well as HTTP; more
// requests at once wait for one (a webhook receiver shared by thousands of instances sees a bounded pool, not a
// connect, and for HTTPS a TLS handshake, per event).
constexpr std::size_t kPerOrigin = 128;

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One pooled connection: plain or TLS.
struct Conn {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<TlsStream> tls;
  explicit operator bool() const noexcept { return plain || tls; }
  beast::tcp_stream& lowest() { return plain ? *plain : beast::get_lowest_layer(*tls); }
};

net::awaitable<Exchanged> exchange(Conn& c, http::request<http::string_body>& req, std::size_t limit) {
  Exchanged x;
  if (c.tls) {
    x = co_await exchange(*c.tls, req, limit);
  } else {
    x = co_await exchange(*c.plain, req, limit);
  }
  co_return x;
}

}  // namespace

struct Poster::Impl : std::enable_shared_from_this<Poster::Impl> {
  Impl(net::any_io_executor e, PosterConfig c) : ex(std::move(e)), cfg(std::move(c)) {}

  // Made at the first https URL, and the system's CAs read as verifications need them (crypto/trust.hpp):
  // parsing the whole bundle took about 30-100 ms and 0.5 MB, and a gateway whose webhooks are all plain
  // HTTP on a private network never needs it.
  net::ssl::context& tls_context() {
    if (!ssl) {
      ssl.emplace(net::ssl::context::tls_client);
      crypto::trust_system_cas(SSL_CTX_get_cert_store(ssl->native_handle()));
      crypto::trust_pem(SSL_CTX_get_cert_store(ssl->native_handle()), cfg.extra_ca_pem);
      ssl->set_verify_mode(net::ssl::verify_peer);
    }
    return *ssl;
  }

  // Follows GET redirects up to the options' count (absolute http(s) targets only).
  net::awaitable<PostResult> run(std::string method, std::string url_text, std::string body, Headers headers,
                                 RequestOptions o) {
    auto self = shared_from_this();
    for (int hop = 0;; ++hop) {
      PostResult r = co_await run_once(method, url_text, body, headers, o);
      const bool redirect = r.status == 301 || r.status == 302 || r.status == 303 || r.status == 307 || r.status == 308;
      if (!redirect || method != "GET" || o.max_redirects <= 0) co_return r;
      if (hop >= o.max_redirects) co_return failed("too many redirects");
      if (!parse_url(r.location)) co_return failed("redirect to an unusable location");
      url_text = r.location;
    }
  }

  net::awaitable<PostResult> run_once(const std::string& method, const std::string& url_text, const std::string& body_in,
                                      const Headers& headers, const RequestOptions& o) {
    auto self = shared_from_this();
    std::string body = body_in;
    const auto timeout = o.timeout.count() > 0 ? o.timeout : cfg.timeout;
    const std::size_t limit = o.max_answer;
    auto url = parse_url(url_text);
    if (!url) co_return failed("invalid URL");
    const http::verb verb = http::string_to_verb(method);
    if (verb == http::verb::unknown) co_return failed("unknown method");
    http::request<http::string_body> req{verb, url->target, 11};
    const bool default_port = url->port == (url->tls ? "443" : "80");
    const bool v6 = url->host.find(':') != std::string::npos;
    req.set(http::field::host, (v6 ? "[" + url->host + "]" : url->host) + (default_port ? "" : ":" + url->port));
    req.set(http::field::user_agent, "zapd");
    if (!body.empty() || verb == http::verb::post || verb == http::verb::put) req.set(http::field::content_type, o.content_type);
    for (auto& [k, v] : headers) req.set(k, v);
    req.body() = std::move(body);
    req.prepare_payload();

    // A request reuses an idle kept-alive connection to the same origin when there is one (a webhook sink gets
    // many events in a row); a reused connection the server has closed meanwhile fails at once, and the request
    // goes again on the next one, or a new one.
    const std::string key = std::string(url->tls ? "https://" : "http://") + url->host + ":" + url->port;
    Origin& origin = origins[key];
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (origin.idle.empty() && origin.busy >= kPerOrigin) {
      auto turn = std::make_shared<net::steady_timer>(ex, deadline);
      origin.waiting.push_back(turn);
      auto [wec] = co_await turn->async_wait(use_nothrow);
      if (!wec) {  // the deadline, not a wake-up
        std::erase(origin.waiting, turn);
        co_return failed("timeout: every connection to " + key + " stayed busy");
      }
    }
    Slot slot(self, origin);
    while (!origin.idle.empty()) {
      Conn reused = std::move(origin.idle.back());
      origin.idle.pop_back();
      reused.lowest().expires_after(timeout);
      Exchanged x = co_await exchange(reused, req, limit);
      if (x.result.status == 0) continue;  // stale: try the next, then a new connection
      if (x.reusable) slot.keep = std::move(reused);
      co_return std::move(x.result);
    }
    tcp::resolver::results_type results;
    beast::error_code aec;
    const auto literal = net::ip::make_address(url->host, aec);
    std::uint16_t port = 0;
    std::from_chars(url->port.data(), url->port.data() + url->port.size(), port);
    if (!aec) {  // an IP address needs no resolver (whose lookups run on a thread of their own)
      results = tcp::resolver::results_type::create(tcp::endpoint(literal, port), url->host, url->port);
    } else {
      tcp::resolver resolver(ex);
      auto [rec, found] = co_await resolver.async_resolve(url->host, url->port, use_nothrow);
      if (rec) co_return failed("resolve: " + rec.message());
      results = std::move(found);
    }
    Conn fresh;
    if (url->tls) {
      fresh.tls = std::make_unique<TlsStream>(ex, tls_context());
      if (!SSL_set_tlsext_host_name(fresh.tls->native_handle(), url->host.c_str())) co_return failed("TLS: SNI");
      fresh.tls->set_verify_callback(net::ssl::host_name_verification(url->host));
    } else {
      fresh.plain = std::make_unique<beast::tcp_stream>(ex);
    }
    fresh.lowest().expires_after(timeout);
    auto [cec, ep] = co_await fresh.lowest().async_connect(results, use_nothrow);
    if (cec) co_return failed("connect: " + cec.message());
    beast::error_code nodelay_ec;
    fresh.lowest().socket().set_option(tcp::no_delay(true), nodelay_ec);
    if (fresh.tls) {
      auto [hec] = co_await fresh.tls->async_handshake(net::ssl::stream_base::client, use_nothrow);
      if (hec) co_return failed("TLS: " + hec.message());
    }
    Exchanged x = co_await exchange(fresh, req, limit);
    if (x.reusable) {
      slot.keep = std::move(fresh);
    } else {
      beast::error_code ec;
      fresh.lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    }
    co_return std::move(x.result);
  }

  // The connections to one scheme, host and port.
  struct Origin {
    std::vector<Conn> idle;                                   // kept alive, ready for a request
    std::size_t busy = 0;                                     // carrying a request (or connecting)
    std::deque<std::shared_ptr<net::steady_timer>> waiting;  // requests waiting for one: woken by cancel()
  };
  // A request's hold on one of its origin's connections; on release the connection (when it may carry another
  // request) goes back to the idle ones and the first waiting request is woken.
  // (Entries of `origins` are never erased, so the reference stays valid; impl keeps the map alive.)
  struct Slot {
    Slot(std::shared_ptr<Impl> i, Origin& o) : impl(std::move(i)), origin(o) { ++origin.busy; }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() {
      --origin.busy;
      if (keep) {
        keep.lowest().expires_never();
        origin.idle.push_back(std::move(keep));
      }
      if (!origin.waiting.empty()) {
        origin.waiting.front()->cancel();
        origin.waiting.pop_front();
      }
    }
    std::shared_ptr<Impl> impl;
    Origin& origin;
    Conn keep;
  };

  std::map<std::string, Origin> origins;
  net::any_io_executor ex;
  PosterConfig cfg;
  std::optional<net::ssl::context> ssl;
};

Poster::Poster(net::any_io_executor ex, PosterConfig cfg) : impl_(std::make_shared<Impl>(std::move(ex), std::move(cfg))) {}
Poster::~Poster() = default;

bool Poster::tls_context_loaded() const noexcept { return impl_->ssl.has_value(); }

int Poster::trusted_certificates_in_memory() const noexcept {
  return impl_->ssl ? crypto::certificates_in_memory(SSL_CTX_get_cert_store(impl_->ssl->native_handle())) : 0;
}

void Poster::post(const std::string& url, std::string body, Headers headers, std::function<void(PostResult)> done) {
  request("POST", url, std::move(body), std::move(headers), std::move(done));
}

void Poster::request(std::string method, const std::string& url, std::string body, Headers headers,
                     std::function<void(PostResult)> done) {
  request(std::move(method), url, std::move(body), std::move(headers), RequestOptions{}, std::move(done));
}

void Poster::request(std::string method, const std::string& url, std::string body, Headers headers, RequestOptions options,
                     std::function<void(PostResult)> done) {
  auto impl = impl_;
  auto work = impl->run(std::move(method), url, std::move(body), std::move(headers), std::move(options));
  net::co_spawn(impl->ex, std::move(work), [impl, done = std::move(done)](std::exception_ptr e, PostResult r) {
    if (e) r = failed("internal error");
    done(std::move(r));
  });
}

}  // namespace wa::webhook
