// SPDX-License-Identifier: MIT
// zapd's composition root. At this stage: configuration, the data directory and an HTTP/1.1 server on one
// io_context (Asio C++20 coroutines, Boost.Beast) that answers GET /health. This is the only zapd file that
// includes Beast; the gateway library will take the routing over later.
#include "config.hpp"

#include "wa/core/result.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <utility>

namespace wa::zapd {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

inline constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

constexpr int kExitRuntime = 1;
constexpr std::uint32_t kHeaderLimit = 8 * 1024;          // bytes of request line + header fields
constexpr std::uint64_t kBodyLimit = 1024 * 1024;         // bytes of request body
constexpr auto kReadTimeout = std::chrono::seconds(30);   // one whole request, including keep-alive idle time
constexpr auto kWriteTimeout = std::chrono::seconds(30);  // one whole response
constexpr auto kLingerTimeout = std::chrono::seconds(2);  // draining unread input before closing after an error
constexpr std::size_t kLingerMaxBytes = 4 * kBodyLimit;
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);  // after EMFILE and friends

// ---- responses -------------------------------------------------------------------------------------------------

std::string server_name() { return "zapd/" + std::string(kVersion); }

Response json_response(http::status status, std::string body, unsigned version, bool keep_alive) {
  Response res{status, version};
  res.set(http::field::server, server_name());
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

// code and message are constants of this file, so they need no JSON escaping.
std::string error_body(std::string_view code, std::string_view message) {
  std::string body = R"({"error":")";
  body += code;
  body += R"(","message":")";
  body += message;
  body += R"("})";
  return body;
}

Response handle_health(const Request& req) {
  return json_response(http::status::ok, R"({"status":"ok","version":")" + std::string(kVersion) + R"("})",
                       req.version(), req.keep_alive());
}

struct Route {
  std::string_view path;
  http::verb method;
  Response (*handle)(const Request&);
};

const std::array<Route, 1> kRoutes{{
    {"/health", http::verb::get, &handle_health},
}};

Response route(const Request& req) {
  std::string_view path = req.target();
  path = path.substr(0, path.find('?'));
  std::string allow;
  for (const auto& r : kRoutes) {
    if (r.path != path) continue;
    if (r.method == req.method()) return r.handle(req);
    if (!allow.empty()) allow += ", ";
    allow += http::to_string(r.method);
  }
  if (allow.empty()) {
    return json_response(http::status::not_found, error_body("NOT_FOUND", "no such endpoint"), req.version(),
                         req.keep_alive());
  }
  Response res = json_response(http::status::method_not_allowed,
                               error_body("METHOD_NOT_ALLOWED", "this endpoint does not accept that method"),
                               req.version(), req.keep_alive());
  res.set(http::field::allow, allow);
  return res;
}

// The answer to a request that could not be read, or nothing when the connection should just be dropped
// (timeout, reset, peer gone mid-message).
std::optional<Response> response_for_read_error(const beast::error_code& ec) {
  if (ec == http::error::body_limit) {
    return json_response(http::status::payload_too_large,
                         error_body("PAYLOAD_TOO_LARGE", "the request body exceeds 1 MiB"), 11, false);
  }
  if (ec == http::error::header_limit) {
    return json_response(http::status::request_header_fields_too_large,
                         error_body("HEADERS_TOO_LARGE", "the request header exceeds 8 KiB"), 11, false);
  }
  if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
      ec != http::error::partial_message) {
    return json_response(http::status::bad_request, error_body("BAD_REQUEST", "malformed HTTP request"), 11,
                         false);
  }
  return std::nullopt;
}

// ---- connections -----------------------------------------------------------------------------------------------

// The live connections, so that stop() can close them. Shared with the session coroutines so that it outlives
// them whatever the destruction order. Touched only on the io_context's single thread.
struct SessionRegistry {
  std::unordered_set<beast::tcp_stream*> streams;
  bool stopping = false;
};

class SessionRegistration final {
 public:
  SessionRegistration(std::shared_ptr<SessionRegistry> registry, beast::tcp_stream& stream)
      : registry_(std::move(registry)), stream_(&stream) {
    registry_->streams.insert(stream_);
  }
  SessionRegistration(const SessionRegistration&) = delete;
  SessionRegistration& operator=(const SessionRegistration&) = delete;
  ~SessionRegistration() { registry_->streams.erase(stream_); }

 private:
  std::shared_ptr<SessionRegistry> registry_;
  beast::tcp_stream* stream_;
};

// After an error response: stop sending, then read and discard what the client is still sending for a moment,
// so that closing with unread input does not turn into a TCP reset that destroys the response in flight.
asio::awaitable<void> linger_close(beast::tcp_stream& stream) {
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.expires_after(kLingerTimeout);
  std::array<char, 4096> sink{};
  std::size_t drained = 0;
  while (drained < kLingerMaxBytes) {
    auto [read_ec, n] = co_await stream.async_read_some(asio::buffer(sink), kUseTuple);
    if (read_ec) break;
    drained += n;
  }
}

asio::awaitable<void> run_session(tcp::socket socket, std::shared_ptr<SessionRegistry> registry) {
  if (registry->stopping) co_return;
  beast::tcp_stream stream(std::move(socket));
  const SessionRegistration registration(registry, stream);
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(kBodyLimit);
    stream.expires_after(kReadTimeout);
    auto [read_ec, read_n] = co_await http::async_read(stream, buffer, parser, kUseTuple);
    if (read_ec == http::error::end_of_stream) break;
    if (read_ec) {
      if (auto res = response_for_read_error(read_ec)) {
        stream.expires_after(kWriteTimeout);
        auto [write_ec, write_n] = co_await http::async_write(stream, *res, kUseTuple);
        if (!write_ec) co_await linger_close(stream);
      }
      co_return;
    }
    Response res = route(parser.get());
    stream.expires_after(kWriteTimeout);
    auto [write_ec, write_n] = co_await http::async_write(stream, res, kUseTuple);
    if (write_ec) co_return;
    if (!res.keep_alive() || registry->stopping) break;
  }
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

// Logs the exception that ended a spawned coroutine; every expected failure is a value, so this is a bug report.
void log_exception(std::string_view what, const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    std::cerr << "zapd: " << what << " failed: " << ex.what() << '\n';
  } catch (...) {
    std::cerr << "zapd: " << what << " failed with an unknown exception\n";
  }
}

class HttpServer final {
 public:
  explicit HttpServer(asio::io_context& ioc) : acceptor_(ioc), registry_(std::make_shared<SessionRegistry>()) {}

  [[nodiscard]] Status listen(const tcp::endpoint& endpoint) {
    const auto where = endpoint.address().to_string() + " port " + std::to_string(endpoint.port());
    beast::error_code ec;
    if (acceptor_.open(endpoint.protocol(), ec); ec) return fail(std::error_code(ec), "open socket for " + where);
    if (acceptor_.set_option(asio::socket_base::reuse_address(true), ec); ec) {
      return fail(std::error_code(ec), "set SO_REUSEADDR for " + where);
    }
    if (acceptor_.bind(endpoint, ec); ec) return fail(std::error_code(ec), "bind " + where);
    if (acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec) {
      return fail(std::error_code(ec), "listen on " + where);
    }
    return ok();
  }

  [[nodiscard]] tcp::endpoint local_endpoint() const {
    beast::error_code ec;
    return acceptor_.local_endpoint(ec);
  }

  /// Runs until stop(); spawns one coroutine per connection.
  asio::awaitable<void> accept_loop() {
    auto executor = co_await asio::this_coro::executor;
    while (!registry_->stopping) {
      auto [ec, socket] = co_await acceptor_.async_accept(kUseTuple);
      if (registry_->stopping || ec == asio::error::operation_aborted) co_return;
      if (ec) {
        std::cerr << "zapd: accept failed: " << ec.message() << '\n';
        asio::steady_timer delay(executor, kAcceptRetryDelay);
        co_await delay.async_wait(kUseTuple);
        continue;
      }
      asio::co_spawn(executor, run_session(std::move(socket), registry_), [](const std::exception_ptr& e) {
        if (e) log_exception("HTTP session", e);
      });
    }
  }

  /// Stops accepting and closes every connection; their coroutines then end and io_context::run() returns.
  void stop() {
    registry_->stopping = true;
    beast::error_code ec;
    acceptor_.close(ec);
    for (beast::tcp_stream* stream : registry_->streams) stream->close();
  }

 private:
  tcp::acceptor acceptor_;
  std::shared_ptr<SessionRegistry> registry_;
};

// ---- startup ---------------------------------------------------------------------------------------------------

int serve(const Config& config) {
  std::error_code fs_ec;
  std::filesystem::create_directories(config.data_dir, fs_ec);
  if (fs_ec || !std::filesystem::is_directory(config.data_dir, fs_ec)) {
    std::cerr << "zapd: cannot create data directory '" << config.data_dir.string()
              << "': " << (fs_ec ? fs_ec.message() : "not a directory") << '\n';
    return kExitRuntime;
  }

  std::cout << "zapd " << kVersion << '\n';
  print_config(std::cout, config);
  std::cout.flush();

  asio::io_context ioc{1};
  beast::error_code addr_ec;
  const auto address = asio::ip::make_address(config.listen.host, addr_ec);  // validated by config already
  if (addr_ec) {
    std::cerr << "zapd: invalid listen address '" << config.listen.host << "': " << addr_ec.message() << '\n';
    return kExitUsage;
  }
  HttpServer server(ioc);
  if (auto listening = server.listen(tcp::endpoint(address, config.listen.port)); !listening) {
    std::cerr << "zapd: " << listening.error().message() << '\n';
    return kExitRuntime;
  }
  const auto local = server.local_endpoint();
  std::cout << "listening on http://" << ListenAddress{local.address().to_string(), local.port()}.to_string()
            << std::endl;

  bool failed = false;
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&server](const beast::error_code& ec, int signo) {
    if (ec) return;
    std::cout << "stopping on " << (signo == SIGINT ? "SIGINT" : "SIGTERM") << std::endl;
    server.stop();
  });
  asio::co_spawn(ioc, server.accept_loop(), [&](const std::exception_ptr& e) {
    if (e) {
      log_exception("HTTP accept loop", e);
      failed = true;
    }
    server.stop();
    signals.cancel();
  });
  ioc.run();
  std::cout << "stopped" << std::endl;
  return failed ? kExitRuntime : 0;
}

}  // namespace
}  // namespace wa::zapd

int main(int argc, char** argv) {
  using namespace wa::zapd;
  try {
    const char* const* first = argv + (argc > 0 ? 1 : 0);
    const auto count = static_cast<std::size_t>(argc > 1 ? argc - 1 : 0);
    const Invocation invocation = parse_invocation(std::span<const char* const>(first, count), process_environment());
    switch (invocation.command) {
      case Command::Help:
        std::cout << usage();
        return 0;
      case Command::Version:
        std::cout << "zapd " << kVersion << '\n';
        return 0;
      case Command::Serve:
        break;
    }
    return serve(invocation.config);
  } catch (const ConfigError& e) {
    std::cerr << "zapd: " << e.what() << '\n';
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "zapd: " << e.what() << '\n';
    return kExitRuntime;
  }
}
