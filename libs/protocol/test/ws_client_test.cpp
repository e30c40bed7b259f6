// The engine's websocket client against Beast's websocket server (an implementation that is not ours), over
// TCP and TLS: masking, fragmented and 64-bit-length messages, pings answered, the server's close, upgrade
// answers that must be refused, certificate and host name checks, and no buffer held while idle.
#include "../src/ws_client.hpp"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "wa/protocol/auth.hpp"

namespace wa::protocol {
namespace {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
constexpr auto nothrow = net::as_tuple(net::use_awaitable);

// A self-signed P-256 certificate for 127.0.0.1 (or whatever subjectAltName says), PEM.
struct Pem {
  std::string cert, key;
};
Pem self_signed(const char* alt_names) {
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, pkey);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("ws test"), -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, alt_names);
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  X509_sign(x, pkey, EVP_sha256());
  auto pem = [](auto write) {
    BIO* b = BIO_new(BIO_s_mem());
    write(b);
    char* p = nullptr;
    const long n = BIO_get_mem_data(b, &p);
    std::string s(p, static_cast<std::size_t>(n));
    BIO_free(b);
    return s;
  };
  Pem out{pem([&](BIO* b) { PEM_write_bio_X509(b, x); }),
          pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, pkey, nullptr, nullptr, 0, nullptr, nullptr); })};
  X509_free(x);
  EVP_PKEY_free(pkey);
  return out;
}

// A client context as the engine makes it, trusting only `trusted` (PEM; empty: nothing).
std::shared_ptr<SSL_CTX> client_ctx(const std::string& trusted) {
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  if (!trusted.empty()) {
    BIO* b = BIO_new_mem_buf(trusted.data(), static_cast<int>(trusted.size()));
    X509* c = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), c);
    X509_free(c);
    BIO_free(b);
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

// What the Beast server saw.
struct Seen {
  std::string origin, user_agent, target;
  std::vector<Bytes> messages;  // from the client, each whole
  std::vector<std::string> pongs;
  bool done = false;
};

// Accepts one websocket (after a TLS handshake when tls is set), then: reads `expect` messages from the
// client; pings it; echoes every message back in fragments of 1000 bytes; reads once more (so the pong is
// processed); waits for `idle`; closes with 1000.
template <class Stream>
net::awaitable<void> serve(websocket::stream<Stream>& ws, Seen& seen, std::size_t expect, std::chrono::milliseconds idle) {
  beast::flat_buffer buf;
  beast::http::request<beast::http::string_body> req;
  auto [rec, rn] = co_await beast::http::async_read(ws.next_layer(), buf, req, nothrow);
  if (rec) co_return;
  seen.origin = std::string(req[beast::http::field::origin]);
  seen.user_agent = std::string(req[beast::http::field::user_agent]);
  seen.target = std::string(req.target());
  auto [aec] = co_await ws.async_accept(req, nothrow);
  if (aec) co_return;
  ws.control_callback([&seen](websocket::frame_type kind, beast::string_view payload) {
    if (kind == websocket::frame_type::pong) seen.pongs.emplace_back(payload);
  });
  for (std::size_t i = 0; i < expect; ++i) {
    beast::flat_buffer m;
    auto [ec, n] = co_await ws.async_read(m, nothrow);
    if (ec) co_return;
    const auto* p = static_cast<const std::uint8_t*>(m.cdata().data());
    seen.messages.emplace_back(p, p + m.size());
  }
  auto [pec] = co_await ws.async_ping(websocket::ping_data("are you there"), nothrow);
  if (pec) co_return;
  ws.auto_fragment(true);
  ws.write_buffer_bytes(1000);
  ws.binary(true);
  for (const auto& m : seen.messages) {
    auto [wec, wn] = co_await ws.async_write(net::buffer(m), nothrow);
    if (wec) co_return;
  }
  {
    beast::flat_buffer m;
    auto [ec, n] = co_await ws.async_read(m, nothrow);  // the client's "ack" (the pong comes before it)
    if (ec) co_return;
  }
  net::steady_timer t(ws.get_executor(), idle);
  co_await t.async_wait(nothrow);
  auto [cec] = co_await ws.async_close(websocket::close_code::normal, nothrow);
  seen.done = !cec;
}

struct Outcome {
  Status connected = fail(errc::connection_lost, "not run");
  Bytes received;
  std::size_t held_while_idle = 999;
  Status last_read = fail(errc::connection_lost, "not run");
};

// The client side of serve(): connects, sends `out`, reads every byte back, sends "ack", then reads on (idle)
// until the server closes.
net::awaitable<void> drive(WsClient& c, WsUrl url, std::vector<Bytes> out, Outcome& o) {
  const std::string origin = "https://web.whatsapp.com";
  o.connected = co_await c.connect(url, origin);
  if (!o.connected) co_return;
  std::size_t total = 0;
  for (const auto& m : out) {
    total += m.size();
    if (auto st = co_await c.write(m); !st) co_return;
  }
  while (o.received.size() < total) {
    ByteView d;
    if (auto st = co_await c.read(d); !st) {
      o.last_read = st;
      co_return;
    }
    o.received.insert(o.received.end(), d.begin(), d.end());
  }
  const Bytes ack{'a', 'c', 'k'};
  if (auto st = co_await c.write(ack); !st) co_return;
  // While the next read waits, the connection holds no buffer.
  auto ex = co_await net::this_coro::executor;
  net::steady_timer t(ex, 100ms);
  t.async_wait([&c, &o](boost::system::error_code) { o.held_while_idle = c.held_bytes(); });
  ByteView d;
  o.last_read = co_await c.read(d);
  c.close();  // as the engine does when a read fails; Beast's close waits for the TCP end
}

std::vector<Bytes> test_messages() {
  Bytes small{1, 2, 3}, medium(300, 0x5a), large(70000);
  for (std::size_t i = 0; i < large.size(); ++i) large[i] = static_cast<std::uint8_t>(i * 31);
  return {small, medium, large};
}

// A loopback Beast websocket server (plain TCP) that runs serve() on its first connection.
struct PlainServer {
  tcp::acceptor acc;
  Seen seen;
  std::unique_ptr<websocket::stream<tcp::socket>> ws;
  PlainServer(net::io_context& ioc, std::size_t expect, std::chrono::milliseconds idle)
      : acc(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    acc.async_accept([this, &ioc, expect, idle](boost::system::error_code ec, tcp::socket s) {
      ASSERT_FALSE(ec);
      ws = std::make_unique<websocket::stream<tcp::socket>>(std::move(s));
      net::co_spawn(ioc, serve(*ws, seen, expect, idle), net::detached);
    });
  }
  std::string port() const { return std::to_string(acc.local_endpoint().port()); }
};

TEST(WsClient, ExchangesWithBeastOverTcp) {
  net::io_context ioc;
  PlainServer server(ioc, 3, 300ms);
  Seen& seen = server.seen;
  WsClient c(ioc.get_executor(), nullptr);
  Outcome o;
  const auto msgs = test_messages();
  net::co_spawn(ioc, drive(c, WsUrl{false, "127.0.0.1", server.port(), "/ws/chat"}, msgs, o), net::detached);
  ioc.run_for(10s);
  ASSERT_TRUE(o.connected) << o.connected.error().message();
  EXPECT_FALSE(c.tls());
  EXPECT_EQ(seen.origin, "https://web.whatsapp.com");
  EXPECT_EQ(seen.user_agent, "zapd");
  EXPECT_EQ(seen.target, "/ws/chat");
  EXPECT_EQ(seen.messages, msgs);  // Beast unmasked them: the masking is right
  Bytes all;
  for (const auto& m : msgs) all.insert(all.end(), m.begin(), m.end());
  EXPECT_EQ(o.received, all);  // fragmented by the server, 64-bit length included
  EXPECT_EQ(seen.pongs, std::vector<std::string>{"are you there"});
  EXPECT_EQ(o.held_while_idle, 0u);
  EXPECT_TRUE(seen.done);
  ASSERT_FALSE(o.last_read);
  EXPECT_NE(o.last_read.error().context().find("code 1000"), std::string::npos) << o.last_read.error().context();
}

TEST(WsClient, ExchangesOverTlsAndChecksTheCertificate) {
  const Pem good = self_signed("IP:127.0.0.1");
  const Pem other = self_signed("DNS:other.example");
  struct Case {
    const char* what;
    const Pem& server;
    std::string trusted;
    const char* error;  // nullptr: must work
  };
  const Case cases[] = {
      {"trusted", good, good.cert, nullptr},
      {"not trusted", good, "", "certificate verification failed"},
      {"trusted but for another name", other, other.cert, "certificate verification failed"},
  };
  for (const auto& k : cases) {
    net::io_context ioc;
    net::ssl::context sctx(net::ssl::context::tls_server);
    sctx.use_certificate_chain(net::buffer(k.server.cert));
    sctx.use_private_key(net::buffer(k.server.key), net::ssl::context::pem);
    tcp::acceptor acc(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    Seen seen;
    using Tls = net::ssl::stream<tcp::socket>;
    std::unique_ptr<websocket::stream<Tls>> server;
    acc.async_accept([&](boost::system::error_code ec, tcp::socket s) {
      ASSERT_FALSE(ec);
      server = std::make_unique<websocket::stream<Tls>>(std::move(s), sctx);
      server->next_layer().async_handshake(net::ssl::stream_base::server, [&](boost::system::error_code hec) {
        if (!hec) net::co_spawn(ioc, serve(*server, seen, 3, 100ms), net::detached);
      });
    });
    auto ctx = client_ctx(k.trusted);
    WsClient c(ioc.get_executor(), ctx.get());
    Outcome o;
    const auto msgs = test_messages();
    net::co_spawn(ioc, drive(c, WsUrl{true, "127.0.0.1", std::to_string(acc.local_endpoint().port()), "/ws/chat"}, msgs, o),
                  net::detached);
    ioc.run_for(10s);
    if (!k.error) {
      ASSERT_TRUE(o.connected) << k.what << ": " << o.connected.error().message();
      EXPECT_TRUE(c.tls());
      EXPECT_EQ(seen.messages, msgs) << k.what;
      EXPECT_EQ(seen.pongs, std::vector<std::string>{"are you there"}) << k.what;
      EXPECT_EQ(o.received.size(), 70303u) << k.what;
      EXPECT_EQ(o.held_while_idle, 0u) << k.what;
      // The server's close reached the client (Beast's TLS teardown then reports the abrupt TCP end that
      // the engine does on close(), so seen.done is not asked here).
      ASSERT_FALSE(o.last_read) << k.what;
      EXPECT_NE(o.last_read.error().context().find("code 1000"), std::string::npos) << o.last_read.error().context();
    } else {
      ASSERT_FALSE(o.connected) << k.what;
      EXPECT_NE(o.connected.error().context().find(k.error), std::string::npos)
          << k.what << ": " << o.connected.error().context();
      EXPECT_TRUE(seen.messages.empty()) << k.what;
    }
  }
}

// A raw server that answers the upgrade with `answer` (with {accept} replaced by the right accept key when
// right is set): the client must refuse what RFC 6455 refuses.
TEST(WsClient, RefusesBadUpgradeAnswers) {
  struct Case {
    const char* what;
    std::string answer;
    const char* error;
  };
  const Case cases[] = {
      {"refused", "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", "refused with HTTP 403"},
      {"wrong accept", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", "wrong Sec-WebSocket-Accept"},
      {"closed", "", "closed by the server"},
  };
  for (const auto& k : cases) {
    net::io_context ioc;
    tcp::acceptor acc(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    auto sock = std::make_shared<tcp::socket>(ioc);
    auto buf = std::make_shared<std::string>();
    acc.async_accept(*sock, [&, sock, buf](boost::system::error_code ec) {
      ASSERT_FALSE(ec);
      net::async_read_until(*sock, net::dynamic_buffer(*buf), "\r\n\r\n", [&, sock, buf](boost::system::error_code, std::size_t) {
        net::async_write(*sock, net::buffer(k.answer), [sock](boost::system::error_code, std::size_t) {
          boost::system::error_code ignored;
          sock->shutdown(tcp::socket::shutdown_send, ignored);
        });
      });
    });
    WsClient c(ioc.get_executor(), nullptr);
    Status st = fail(errc::connection_lost, "not run");
    const WsUrl url{false, "127.0.0.1", std::to_string(acc.local_endpoint().port()), "/ws/chat"};
    const std::string origin;
    net::co_spawn(ioc, [&]() -> net::awaitable<void> { st = co_await c.connect(url, origin); }, net::detached);
    ioc.run_for(5s);
    ASSERT_FALSE(st) << k.what;
    EXPECT_NE(st.error().context().find(k.error), std::string::npos) << k.what << ": " << st.error().context();
  }
}

// close() ends a pending read at once, and nothing touches the socket afterwards.
TEST(WsClient, CloseEndsAPendingRead) {
  net::io_context ioc;
  PlainServer server(ioc, 1, 5000ms);
  WsClient c(ioc.get_executor(), nullptr);
  Status connected = fail(errc::connection_lost, "not run"), read_st = ok(), write_st = ok();
  bool finished = false;
  const WsUrl url{false, "127.0.0.1", server.port(), "/x"};
  const std::string origin;
  net::co_spawn(ioc, [&]() -> net::awaitable<void> {
    connected = co_await c.connect(url, origin);
    if (!connected) co_return;
    ByteView d;
    read_st = co_await c.read(d);  // the server waits for a message that never comes
    finished = true;
    const Bytes b{1};
    write_st = co_await c.write(b);
  }, net::detached);
  net::steady_timer t(ioc, 200ms);
  t.async_wait([&](boost::system::error_code) { c.close(); });
  const auto start = std::chrono::steady_clock::now();
  ioc.run_for(3s);
  ASSERT_TRUE(connected) << connected.error().message();
  EXPECT_TRUE(finished);
  EXPECT_FALSE(read_st);
  EXPECT_FALSE(write_st);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

// An IP literal is not resolved; a name is resolved once and then served from the cache (a restart connects
// every number to the same host at once).
TEST(WsClient, ResolvesANameOnceAndAnIpLiteralNever) {
  net::io_context ioc;
  tcp::acceptor acc(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  std::vector<std::shared_ptr<tcp::socket>> accepted;
  std::function<void()> accept_next = [&] {
    acc.async_accept([&](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;
      accepted.push_back(std::make_shared<tcp::socket>(std::move(s)));  // no upgrade answer: connect waits
      accept_next();
    });
  };
  accept_next();
  const std::string port = std::to_string(acc.local_endpoint().port());
  const auto before = WsClient::resolver_lookups();
  std::vector<std::unique_ptr<WsClient>> clients;
  std::vector<WsUrl> urls = {WsUrl{false, "127.0.0.1", port, "/"}, WsUrl{false, "localhost", port, "/"},
                             WsUrl{false, "localhost", port, "/"}, WsUrl{false, "localhost", port, "/"}};
  const std::string origin;
  for (const auto& u : urls) {
    clients.push_back(std::make_unique<WsClient>(ioc.get_executor(), nullptr));
    auto* c = clients.back().get();
    net::co_spawn(ioc, [c, &u, &origin]() -> net::awaitable<void> { (void)co_await c->connect(u, origin); }, net::detached);
    ioc.run_for(300ms);  // one after the other: the first name lookup fills the cache
    ioc.restart();
  }
  EXPECT_EQ(accepted.size(), 4u);  // every one connected (localhost may be ::1 first; the acceptor is IPv4)
  EXPECT_EQ(WsClient::resolver_lookups() - before, 1u);
  for (auto& c : clients) c->close();
  acc.close();
  ioc.run_for(50ms);
}

TEST(WsClient, ParsesUrls) {
  auto u = parse_ws_url("wss://web.whatsapp.com/ws/chat");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "web.whatsapp.com");
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->target, "/ws/chat");
  u = parse_ws_url("ws://127.0.0.1:9000");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->port, "9000");
  EXPECT_EQ(u->target, "/ws/chat");
  EXPECT_FALSE(parse_ws_url("http://x/"));
  EXPECT_FALSE(parse_ws_url("ws:///x"));
}

}  // namespace
}  // namespace wa::protocol
