// SPDX-License-Identifier: MIT
// The HTTP/1.1 server (Boost.Beast, C++20 coroutines) that carries requests to a handler such as Api:
// limits (8 KiB of headers, a body limit), timeouts, keep-alive, the 413/431/400 answers to requests
// that cannot be read, and a clean stop. Runs on one executor; the handler runs there too.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "wa/core/result.hpp"
#include "wa/gateway/api.hpp"

namespace wa::gateway {

using Handler = std::function<void(const HttpRequest&, Api::Respond)>;
/// The body limit for a request target, decided once its header is read (media sends take more).
using BodyLimit = std::function<std::uint64_t(std::string_view target)>;

class HttpServer final {
 public:
  HttpServer(boost::asio::any_io_executor ex, Handler handler, BodyLimit body_limit, std::string server_name);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds and listens; host is an IP literal, port 0 picks a free one.
  [[nodiscard]] Status listen(const std::string& host, std::uint16_t port);
  std::uint16_t port() const;
  /// Accepts until stop(); on_end runs when the accept loop ended (with an error text when it failed).
  void start(std::function<void(std::string)> on_end);
  /// Stops accepting and closes every connection.
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace wa::gateway
