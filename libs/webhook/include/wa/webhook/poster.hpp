// SPDX-License-Identifier: MIT
// Posts one JSON body to a URL and reports the HTTP status: the transport of webhook delivery. Plain HTTP
// keeps connections alive per origin and reuses them; HTTPS uses one connection per post (verified against
// the system roots plus an optional extra CA). Bounded in time and in the size of the answer it reads.
// Retry policy lives with the caller (the service's outbox).
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace wa::webhook {

struct PostResult {
  int status = 0;     ///< the HTTP status; 0 when there was no answer
  std::string error;  ///< why there was no answer (resolve, connect, TLS, timeout, ...)
  std::string body;   ///< the answer's body (at most 64 KiB are read)
  bool ok() const { return status >= 200 && status < 300; }
};

struct PosterConfig {
  std::chrono::milliseconds timeout{10000};  ///< the whole exchange
  std::string extra_ca_pem;                  ///< trusted besides the system roots (tests, private CAs)
};

class Poster final {
 public:
  Poster(boost::asio::any_io_executor ex, PosterConfig cfg);
  ~Poster();
  Poster(const Poster&) = delete;
  Poster& operator=(const Poster&) = delete;

  using Headers = std::vector<std::pair<std::string, std::string>>;
  /// Posts body (application/json) to url with extra headers; done runs on the executor, exactly once.
  void post(const std::string& url, std::string body, Headers headers, std::function<void(PostResult)> done);
  /// Any method; an empty body sends none.
  void request(std::string method, const std::string& url, std::string body, Headers headers,
               std::function<void(PostResult)> done);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace wa::webhook
