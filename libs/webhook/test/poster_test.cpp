// SPDX-License-Identifier: MIT
// The poster's connection pool: many requests at once to one origin share a bounded set of kept-alive connections
// (a webhook receiver shared by thousands of instances is not opened a connection per event), over HTTP and over
// HTTPS (where each new connection is also a TLS handshake).
#include "wa/webhook/poster.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <istream>
#include <memory>
#include <string>
#include <thread>

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// A self-signed certificate for IP 127.0.0.1 and its key, PEM.
struct Identity {
  std::string cert_pem, key_pem;
};
Identity make_identity() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("poster test"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "IP:127.0.0.1");
  X509_add_ext(cert, san, -1);
  X509_EXTENSION_free(san);
  X509_sign(cert, key, EVP_sha256());
  auto pem = [](auto write) {
    BIO* b = BIO_new(BIO_s_mem());
    write(b);
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(b);
    return out;
  };
  Identity id{pem([&](BIO* b) { PEM_write_bio_X509(b, cert); }),
              pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); })};
  X509_free(cert);
  EVP_PKEY_free(key);
  return id;
}

// A keep-alive HTTP/1.1 server on its own thread, plain or TLS, that answers every request 200 and counts
// connections (accepted TCP connections) and requests.
class CountingServer {
 public:
  explicit CountingServer(const Identity* tls = nullptr)
      : ssl_(net::ssl::context::tls_server), acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    if (tls != nullptr) {
      ssl_.use_certificate_chain(net::buffer(tls->cert_pem));
      ssl_.use_private_key(net::buffer(tls->key_pem), net::ssl::context::pem);
      tls_ = true;
    }
    accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~CountingServer() {
    ioc_.stop();
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::atomic<int> connections{0}, requests{0};

 private:
  template <class Stream>
  struct Conn : std::enable_shared_from_this<Conn<Stream>> {
    Conn(Stream s, CountingServer& o) : sock(std::move(s)), owner(o) {}
    Stream sock;
    CountingServer& owner;
    net::streambuf buf;
    void read_head() {
      net::async_read_until(sock, buf, "\r\n\r\n", [self = this->shared_from_this()](boost::system::error_code ec, std::size_t n) {
        if (ec) return;
        std::string head(net::buffers_begin(self->buf.data()), net::buffers_begin(self->buf.data()) + static_cast<std::ptrdiff_t>(n));
        self->buf.consume(n);
        std::size_t length = 0;
        if (auto at = head.find("Content-Length: "); at != std::string::npos) length = std::stoul(head.substr(at + 16));
        self->read_body(length);
      });
    }
    void read_body(std::size_t length) {
      const std::size_t have = buf.size();
      net::async_read(sock, buf, net::transfer_exactly(length > have ? length - have : 0),
                      [self = this->shared_from_this(), length](boost::system::error_code ec, std::size_t) {
                        if (ec) return;
                        self->buf.consume(length);
                        ++self->owner.requests;
                        static const std::string kAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
                        net::async_write(self->sock, net::buffer(kAnswer), [self](boost::system::error_code wec, std::size_t) {
                          if (!wec) self->read_head();
                        });
                      });
    }
  };
  using TlsConn = Conn<net::ssl::stream<tcp::socket>>;
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;
      ++connections;
      if (!tls_) {
        std::make_shared<Conn<tcp::socket>>(std::move(s), *this)->read_head();
      } else {
        auto c = std::make_shared<TlsConn>(net::ssl::stream<tcp::socket>(std::move(s), ssl_), *this);
        c->sock.async_handshake(net::ssl::stream_base::server, [c](boost::system::error_code hec) {
          if (!hec) c->read_head();
        });
      }
      accept();
    });
  }
  net::io_context ioc_;
  net::ssl::context ssl_;
  bool tls_ = false;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

TEST(PosterPool, ManyRequestsAtOnceShareABoundedSetOfConnections) {
  CountingServer server;
  net::io_context ioc;
  wa::webhook::Poster poster(ioc.get_executor(), wa::webhook::PosterConfig{});
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/hook";
  constexpr int kRequests = 400;
  int ok = 0, done = 0;
  for (int i = 0; i < kRequests; ++i) {
    poster.post(url, "{\"n\":" + std::to_string(i) + "}", {}, [&](wa::webhook::PostResult r) {
      ++done;
      if (r.ok()) ++ok;
    });
  }
  ioc.run_for(std::chrono::seconds(30));
  EXPECT_EQ(done, kRequests);
  EXPECT_EQ(ok, kRequests);
  EXPECT_EQ(server.requests.load(), kRequests);
  // At most the per-origin bound (128), not one connection per request in flight.
  EXPECT_LE(server.connections.load(), 128);
  EXPECT_GE(server.connections.load(), 1);

  // Later requests reuse the kept-alive connections: no new ones.
  const int before = server.connections.load();
  done = 0;
  for (int i = 0; i < 50; ++i) poster.post(url, "{}", {}, [&](wa::webhook::PostResult) { ++done; });
  ioc.restart();
  ioc.run_for(std::chrono::seconds(30));
  EXPECT_EQ(done, 50);
  EXPECT_EQ(server.connections.load(), before);
  EXPECT_FALSE(poster.tls_context_loaded());  // plain HTTP never reads the trust store
}

// HTTPS too: before, every POST to an https:// webhook opened a connection and made a TLS handshake
// ("Connection: close"); now they share the pool like plain HTTP.
TEST(PosterPool, HttpsRequestsReuseTheirConnections) {
  const Identity id = make_identity();
  CountingServer server(&id);
  net::io_context ioc;
  wa::webhook::PosterConfig cfg;
  cfg.extra_ca_pem = id.cert_pem;
  wa::webhook::Poster poster(ioc.get_executor(), cfg);
  const std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/hook";
  // The trust store is read at the first https URL, not when the poster is made (a process start).
  EXPECT_FALSE(poster.tls_context_loaded());
  int ok = 0, done = 0;
  for (int i = 0; i < 20; ++i) {
    poster.post(url, "{}", {}, [&](wa::webhook::PostResult r) {
      ++done;
      if (r.ok()) ++ok;
      else ADD_FAILURE() << r.error << " " << r.status;
    });
  }
  ioc.run_for(std::chrono::seconds(30));
  EXPECT_EQ(done, 20);
  EXPECT_EQ(ok, 20);
  EXPECT_TRUE(poster.tls_context_loaded());
  // The extra CA and none of the system's ~140: the system CAs are read as a verification needs one.
  EXPECT_EQ(poster.trusted_certificates_in_memory(), 1);
  EXPECT_EQ(server.requests.load(), 20);
  const int before = server.connections.load();
  EXPECT_GE(before, 1);
  EXPECT_LE(before, 20);
  // One after another: every one on a kept-alive connection.
  for (int i = 0; i < 30; ++i) {
    bool answered = false;
    poster.post(url, "{}", {}, [&](wa::webhook::PostResult r) {
      answered = true;
      if (r.ok()) ++ok;
    });
    ioc.restart();
    while (!answered && ioc.run_one_for(std::chrono::seconds(10)) > 0) {
    }
  }
  EXPECT_EQ(ok, 50);
  EXPECT_EQ(server.requests.load(), 50);
  EXPECT_EQ(server.connections.load(), before);
}

}  // namespace
