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
  std::string body;   ///< the answer's body (at most RequestOptions::max_answer bytes are read)
  std::string content_type;  ///< the answer's Content-Type
  bool too_large = false;    ///< the answer's body exceeded max_answer (body is then empty)
  std::string location;      ///< a redirect's Location
  bool ok() const { return status >= 200 && status < 300; }
};

/// How one request goes: what it sends and how much of the answer it takes.
struct RequestOptions {
  std::size_t max_answer = 64 * 1024;
  std::string content_type = "application/json";  ///< of the request body
  int max_redirects = 0;                           ///< GETs follow up to this many 301/302/303/307/308
  std::chrono::milliseconds timeout{0};            ///< 0: the poster's
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
  void request(std::string method, const std::string& url, std::string body, Headers headers, RequestOptions options,
               std::function<void(PostResult)> done);
  /// Whether the TLS context (the system trust store and extra_ca_pem) has been loaded: at the first https
  /// URL, not before (diagnostics and tests).
  [[nodiscard]] bool tls_context_loaded() const noexcept;
  /// Certificates the TLS context's trust store holds in memory (0 without a context): the extra CAs and the
  /// system CAs that verifications needed so far, not the whole system bundle.
  [[nodiscard]] int trusted_certificates_in_memory() const noexcept;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace wa::webhook
