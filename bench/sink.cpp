// SPDX-License-Identifier: MIT
// wa_bench_sink: the system benchmark's webhook receiver in C++ (bench/system_vs_baileys.mjs --sink,
// docs/benchmarks.md). zapd POSTs two status webhooks per message; received by the script's own Node HTTP
// server they cost about 0.05 ms of CPU per message on the two cores the measurement shares with zapd, more than
// wasim. This one answers every POST with 200 {} over keep-alive connections and reports, per line on stdout,
// the ids of the RECEIVED statuses with the time they arrived, which is where the end-to-end latency ends.
// One thread, non-blocking sockets and epoll, like wa_bench_load.
//
// stdout: "port P" once listening on 127.0.0.1:P, then "R <messageId> <unix ms>" per id of a RECEIVED status.
// It exits when its stdin closes (the script ended, whatever way) or on SIGTERM.
// usage: wa_bench_sink
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& what) {
  std::cerr << "wa_bench_sink: " << what << ": " << std::strerror(errno) << '\n';
  std::exit(2);
}

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Conn {
  std::string in;
  std::string out;
  bool closing = false;  // asked for (Connection: close) or refused: closes once out is written
};

// The value of a header in a block of lowercased header lines ("" when absent).
std::string_view header(std::string_view lower, std::string_view name) {
  std::size_t at = 0;
  while ((at = lower.find(name, at)) != std::string_view::npos) {
    if ((at == 0 || lower[at - 1] == '\n') && lower.size() > at + name.size() && lower[at + name.size()] == ':') {
      std::size_t v = at + name.size() + 1;
      while (v < lower.size() && lower[v] == ' ') ++v;
      const std::size_t end = lower.find('\r', v);
      return lower.substr(v, (end == std::string_view::npos ? lower.size() : end) - v);
    }
    at += name.size();
  }
  return {};
}

constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
constexpr std::string_view kNotFound = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
constexpr std::string_view kUnsupported = "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

}  // namespace

int main() {
  const int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  if (listen(lfd, 1024) != 0) die("listen");
  socklen_t alen = sizeof addr;
  if (getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) die("getsockname");

  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0) die("epoll_ctl listen");
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = 0;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) != 0) die("epoll_ctl stdin");

  std::string report = "port " + std::to_string(ntohs(addr.sin_port)) + "\n";
  std::unordered_map<int, Conn> conns;
  std::uint64_t unsupported = 0;

  auto drop = [&](int fd) {
    ::close(fd);
    conns.erase(fd);
  };
  auto flush = [&](int fd, Conn& c) -> bool {  // false: the connection failed
    while (!c.out.empty()) {
      const ssize_t n = ::send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c.out.erase(0, static_cast<std::size_t>(n));
        continue;
      }
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    return true;
  };
  // Answers every complete request in c.in; false when the connection is to close.
  auto serve = [&](Conn& c) -> bool {
    std::size_t pos = 0;
    bool keep = true;
    while (keep) {
      const std::size_t hdr_end = c.in.find("\r\n\r\n", pos);
      if (hdr_end == std::string::npos) break;
      std::string lower = c.in.substr(pos, hdr_end - pos + 2);
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      if (!header(lower, "transfer-encoding").empty()) {  // zapd always sends a Content-Length
        ++unsupported;
        c.out.append(kUnsupported);
        return false;
      }
      const std::size_t length = std::strtoull(std::string(header(lower, "content-length")).c_str(), nullptr, 10);
      if (c.in.size() < hdr_end + 4 + length) break;
      const std::string_view body(c.in.data() + hdr_end + 4, length);
      if (lower.starts_with("post ")) {
        if (body.find("\"RECEIVED\"") != std::string_view::npos) {
          const auto j = nlohmann::json::parse(body, nullptr, false);
          if (j.is_object() && j.value("status", "") == "RECEIVED" && j.contains("ids") && j["ids"].is_array()) {
            const std::string at = std::to_string(unix_ms());
            for (const auto& id : j["ids"]) {
              if (id.is_string()) report.append("R ").append(id.get<std::string>()).append(" ").append(at).append("\n");
            }
          }
        }
        c.out.append(kOk);
      } else {
        c.out.append(kNotFound);
      }
      keep = header(lower, "connection") != "close";
      pos = hdr_end + 4 + length;
    }
    c.in.erase(0, pos);
    return keep;
  };

  std::vector<epoll_event> events(256);
  char buf[65536];
  for (;;) {
    if (!report.empty()) {
      std::cout << report << std::flush;
      report.clear();
    }
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int e = 0; e < n; ++e) {
      const int fd = events[static_cast<std::size_t>(e)].data.fd;
      if (fd == 0) {  // stdin: the script is gone
        if (unsupported != 0) std::cerr << "wa_bench_sink: " << unsupported << " requests without a Content-Length\n";
        return 0;
      }
      if (fd == lfd) {
        for (;;) {
          const int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{};
          cev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
          cev.data.fd = c;
          if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) != 0) {
            ::close(c);
            continue;
          }
          conns.emplace(c, Conn{});
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      bool closed = false;
      for (;;) {
        const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
        if (r > 0) {
          c.in.append(buf, static_cast<std::size_t>(r));
          continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) closed = true;
        break;
      }
      if (!c.closing && !serve(c)) c.closing = true;
      if (!flush(fd, c) || closed || (c.closing && c.out.empty())) drop(fd);
    }
  }
}
