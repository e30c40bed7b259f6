// SPDX-License-Identifier: MIT
// The poster's plain-HTTP connection pool: many requests at once to one origin share a bounded set of kept-alive
// connections (a webhook receiver shared by thousands of instances is not opened a connection per event).
#include "wa/webhook/poster.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <istream>
#include <memory>
#include <string>
#include <thread>

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// A keep-alive HTTP/1.1 server on its own thread that answers every request 200 and counts connections.
class CountingServer {
 public:
  CountingServer() : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
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
  struct Conn : std::enable_shared_from_this<Conn> {
    Conn(tcp::socket s, CountingServer& o) : sock(std::move(s)), owner(o) {}
    tcp::socket sock;
    CountingServer& owner;
    net::streambuf buf;
    void read_head() {
      net::async_read_until(sock, buf, "\r\n\r\n", [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
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
                      [self = shared_from_this(), length](boost::system::error_code ec, std::size_t) {
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
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;
      ++connections;
      std::make_shared<Conn>(std::move(s), *this)->read_head();
      accept();
    });
  }
  net::io_context ioc_;
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
}

}  // namespace
