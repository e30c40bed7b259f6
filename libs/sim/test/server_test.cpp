// SPDX-License-Identifier: MIT
// wasim's socket shell, run in this process: the accepted side of a connection is found among this
// process's own descriptors, so its socket options can be read back.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "wa/sim/network.hpp"
#include "wa/sim/server.hpp"

namespace {
using namespace wa;

std::uint16_t local_port(int fd, bool peer) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
                : getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  if (rc != 0 || a.sin_family != AF_INET) return 0;
  return ntohs(a.sin_port);
}

int nodelay_of(int fd) {
  int v = -1;
  socklen_t len = sizeof v;
  if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) != 0) return -1;
  return v;
}

// The descriptor of this process whose local port is `server_port` and whose peer is `client_port`.
int accepted_fd(std::uint16_t server_port, std::uint16_t client_port) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int found = -1;
  while (dirent* e = readdir(d)) {
    int fd = std::atoi(e->d_name);
    if (fd <= 2 || fd == dirfd(d)) continue;
    if (local_port(fd, false) == server_port && local_port(fd, true) == client_port) found = fd;
  }
  closedir(d);
  return found;
}

// A socket connected to 127.0.0.1:port, reads timing out after 5 s; -1 when it cannot connect.
int connect_loopback(std::uint16_t port) {
  int c = socket(AF_INET, SOCK_STREAM, 0);
  if (c < 0) return -1;
  timeval tv{5, 0};
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    close(c);
    return -1;
  }
  return c;
}

TEST(SimServer, AcceptedSocketsSendSmallWritesAtOnce) {
  sim::Network net;
  sim::Server srv(net, sim::ServerConfig{});
  srv.start();
  std::thread loop([&] { srv.run(); });

  int c = connect_loopback(srv.port());
  ASSERT_GE(c, 0);
  // One answered request: by then the server has accepted and set up the socket (kept alive after).
  const std::string req = "GET /tls-cert HTTP/1.1\r\nHost: wasim\r\n\r\n";
  ASSERT_EQ(write(c, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[4096];
  while (got.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = read(c, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200")) << got.substr(0, 80);

  int s = accepted_fd(srv.port(), local_port(c, false));
  ASSERT_GE(s, 0) << "the accepted socket is not among this process's descriptors";
  EXPECT_EQ(nodelay_of(c), 0) << "the client side keeps the default, so the check can tell them apart";
  EXPECT_EQ(nodelay_of(s), 1) << "wasim's accepted socket still delays small writes (Nagle)";

  close(c);
  srv.stop();
  loop.join();
}

// One HTTP/1.1 request on a new connection; the whole answer (headers and body), "" on failure.
std::string http_request(std::uint16_t port, const std::string& method, const std::string& path, const std::string& body) {
  int c = connect_loopback(port);
  if (c < 0) return "";
  std::string got;
  {
    const std::string req = method + " " + path + " HTTP/1.1\r\nHost: wasim\r\nConnection: close\r\nContent-Type: application/json\r\n" +
                            "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    if (write(c, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      for (;;) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  close(c);
  return got;
}

TEST(SimServer, FirstStanzaDelayCanBeChangedWhileRunning) {
  sim::Network net;
  sim::Server srv(net, sim::ServerConfig{});
  srv.start();
  std::thread loop([&] { srv.run(); });
  ASSERT_EQ(net.config().first_stanza_delay, std::chrono::milliseconds(150));

  std::string r = http_request(srv.port(), "POST", "/first-stanza-delay", R"({"ms":12})");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 200")) << r.substr(0, 80);
  EXPECT_NE(r.find(R"("ms":12)"), std::string::npos) << r;
  EXPECT_EQ(net.config().first_stanza_delay, std::chrono::milliseconds(12));

  // Not an integer: refused with a stable code, the pause unchanged.
  r = http_request(srv.port(), "POST", "/first-stanza-delay", R"({"ms":"soon"})");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 400")) << r.substr(0, 80);
  EXPECT_NE(r.find("INVALID_DELAY"), std::string::npos) << r;
  EXPECT_EQ(net.config().first_stanza_delay, std::chrono::milliseconds(12));

  // Bounded: at most a minute.
  r = http_request(srv.port(), "POST", "/first-stanza-delay", R"({"ms":99999999})");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 200")) << r.substr(0, 80);
  EXPECT_EQ(net.config().first_stanza_delay, std::chrono::milliseconds(60000));

  srv.stop();
  loop.join();
}

}  // namespace
