// SPDX-License-Identifier: MIT
// wa_bench_load: the system benchmark's load process in C++ (bench/system_vs_baileys.mjs, docs/benchmarks.md).
// Same contract as bench/load.mjs: POSTs COUNT send-text requests over CONC keep-alive connections, one request
// in flight on each, spread round-robin over the instance paths and recipients; prints one JSON line with
// accepted, failed, secs, rps, p50/p99 (ms), its own CPU (cpuMs) and each accepted request's send time (unix ms) by messageId.
// One thread, non-blocking sockets and epoll: it costs a fraction of the Node process per request, so that on a
// two-core machine the measurement is less of the load generator and more of zapd.
// usage: wa_bench_load BASE COUNT CONC PATHS_JSON|@FILE RECIPIENTS_JSON
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Conn {
  int fd = -1;
  std::string out;       // the request being written
  std::size_t written = 0;
  std::string in;        // what has been read of the answer
  std::size_t index = 0; // which request (for path, recipient and body)
  Clock::time_point started;
  bool busy = false;
  int retries = 0;
};

[[noreturn]] void die(const std::string& what) {
  std::cerr << "wa_bench_load: " << what << ": " << std::strerror(errno) << '\n';
  std::exit(2);
}

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::cerr << "usage: wa_bench_load BASE COUNT CONC PATHS_JSON|@FILE RECIPIENTS_JSON\n";
    return 2;
  }
  const std::string base = argv[1];
  const std::size_t count = std::strtoull(argv[2], nullptr, 10);
  const std::size_t conc = std::max<std::size_t>(1, std::strtoull(argv[3], nullptr, 10));
  std::string paths_text = argv[4];
  if (paths_text.starts_with("@")) {
    std::ifstream f(paths_text.substr(1));
    std::stringstream ss;
    ss << f.rdbuf();
    paths_text = ss.str();
  }
  const auto paths = nlohmann::json::parse(paths_text).get<std::vector<std::string>>();
  const auto recipients = nlohmann::json::parse(argv[5]).get<std::vector<std::string>>();
  if (paths.empty() || recipients.empty()) {
    std::cerr << "wa_bench_load: no paths or no recipients\n";
    return 2;
  }
  // BASE is http://127.0.0.1:PORT (the benchmark only runs on loopback).
  const auto colon = base.rfind(':');
  const auto host_start = base.find("//");
  if (colon == std::string::npos || host_start == std::string::npos) {
    std::cerr << "wa_bench_load: BASE must be http://IP:PORT\n";
    return 2;
  }
  const std::string host = base.substr(host_start + 2, colon - host_start - 2);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::atoi(base.c_str() + colon + 1)));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    std::cerr << "wa_bench_load: BASE host must be an IPv4 address\n";
    return 2;
  }

  const int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  std::vector<Conn> conns(std::min(conc, std::max<std::size_t>(1, count)));
  std::size_t next = 0, done = 0, failed = 0;
  std::vector<double> lat;
  lat.reserve(count);
  std::vector<std::pair<std::string, std::int64_t>> sent_at;
  sent_at.reserve(count);

  auto open = [&](std::size_t ci) {
    Conn& c = conns[ci];
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) die("socket");
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) die("connect");
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
    ev.data.u64 = ci;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev) != 0) die("epoll_ctl");
  };
  auto start = [&](std::size_t ci) {
    Conn& c = conns[ci];
    if (next >= count) {
      c.busy = false;
      return;
    }
    c.index = next++;
    const std::size_t i = c.index;
    std::string message = "load " + std::to_string(i) + " ";
    if (message.size() < 100) message.append(100 - message.size(), '.');
    const std::string body =
        R"({"phone":")" + recipients[i % recipients.size()] + R"(","message":")" + message + "\"}";
    c.out = "POST " + paths[i % paths.size()] + "send-text HTTP/1.1\r\nHost: " + host +
            "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    c.written = 0;
    c.in.clear();
    c.busy = true;
    c.started = Clock::now();
  };
  auto flush = [&](Conn& c) -> bool {  // false: the connection failed
    while (c.written < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.written, c.out.size() - c.written, MSG_NOSIGNAL);
      if (n > 0) {
        c.written += static_cast<std::size_t>(n);
        continue;
      }
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    return true;
  };
  // Reconnects and resends the same request (a keep-alive connection the server closed); a request that fails
  // three times in a row counts as failed.
  auto reset = [&](std::size_t ci) {
    Conn& c = conns[ci];
    ::close(c.fd);
    if (++c.retries > 3) {
      ++failed;
      ++done;
      c.retries = 0;
      start(ci);
    } else {
      c.written = 0;
      c.in.clear();
    }
    open(ci);
    if (c.busy) (void)flush(c);
  };

  const auto t0 = Clock::now();
  for (std::size_t ci = 0; ci < conns.size(); ++ci) {
    open(ci);
    start(ci);
  }
  std::vector<epoll_event> events(conns.size());
  char buf[16384];
  const auto deadline = t0 + std::chrono::minutes(20);
  while (done < count && Clock::now() < deadline) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 1000);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int e = 0; e < n; ++e) {
      const std::size_t ci = events[static_cast<std::size_t>(e)].data.u64;
      Conn& c = conns[ci];
      if (!c.busy) continue;
      if (!flush(c)) {
        reset(ci);
        continue;
      }
      bool broken = false;
      for (;;) {
        const ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
        if (r > 0) {
          c.in.append(buf, static_cast<std::size_t>(r));
          continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) broken = true;
        break;
      }
      // A complete answer: headers, then Content-Length bytes (zapd always sends one).
      const auto hdr_end = c.in.find("\r\n\r\n");
      if (hdr_end != std::string::npos) {
        std::size_t length = 0;
        std::string lower = c.in.substr(0, hdr_end);
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
        if (const auto cl = lower.find("content-length:"); cl != std::string::npos) {
          length = std::strtoull(lower.c_str() + cl + 15, nullptr, 10);
        }
        if (c.in.size() >= hdr_end + 4 + length) {
          const double ms = std::chrono::duration<double, std::milli>(Clock::now() - c.started).count();
          const int status = std::atoi(c.in.c_str() + 9);
          const std::string body = c.in.substr(hdr_end + 4, length);
          const auto k = body.find("\"messageId\":\"");
          if (status == 200 && k != std::string::npos) {
            const auto v = k + 13;
            lat.push_back(ms);
            sent_at.emplace_back(body.substr(v, body.find('"', v) - v), unix_ms() - static_cast<std::int64_t>(ms));
          } else {
            ++failed;
          }
          ++done;
          c.retries = 0;
          const bool close_after = lower.find("connection: close") != std::string::npos;
          start(ci);
          if (close_after) {
            broken = true;
            c.retries = -1;  // a server-side close is not a failure of the next request
          } else if (c.busy && !flush(c)) {
            broken = true;
          }
        }
      }
      if (broken && c.busy) reset(ci);
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  failed += count - done;
  std::sort(lat.begin(), lat.end());
  auto q = [&](double p) {
    return lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * static_cast<double>(lat.size())))];
  };
  nlohmann::json out;
  out["accepted"] = lat.size();
  out["failed"] = failed;
  out["secs"] = secs;
  out["rps"] = static_cast<double>(lat.size()) / secs;
  out["p50"] = q(0.5);
  out["p99"] = q(0.99);
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  out["cpuMs"] = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
                 static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
  nlohmann::json s = nlohmann::json::object();
  for (auto& [id, at] : sent_at) s[id] = at;
  out["sentAt"] = std::move(s);
  std::cout << out.dump() << '\n';
  for (auto& c : conns) ::close(c.fd);
  ::close(ep);
  return 0;
}
