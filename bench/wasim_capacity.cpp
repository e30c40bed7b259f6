// SPDX-License-Identifier: MIT
// wa_bench_wasim: wasim's capacity (issue 4): how many companion connections it holds and how many messages
// a second it routes between them on this machine. A load program of our own, because stock clients spend
// their CPU on Signal: these devices log in with real Noise handshakes and ClientPayloads, then exchange
// <message><enc type="msg"> stanzas with opaque ciphertext (wasim routes 1:1 ciphertext without reading it),
// acknowledging what they receive as WhatsApp Web does.
//
//   wa_bench_wasim --port P [--n 2000] [--seconds 10] [--window 8] [--handshakes 256] [--pid WASIM_PID]
//
// Devices are linked through wasim's benchmark-only control route POST /accounts/{phone}/devices (no QR
// pairing). Half the devices send to the other half, each keeping `window` messages awaiting the server's
// ack. Prints one JSON line: connections, connect_s, routed, seconds, routed_per_s, and with --pid wasim's
// CPU ms per routed message and RSS. bench/wasim_capacity.mjs starts wasim and runs this; docs/benchmarks.md.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "wa/core/bytes.hpp"
#include "wa/core/jid.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/crypto/curve.hpp"
#include "wa/noise/handshake.hpp"
#include "wa/noise/transport.hpp"
#include "wa/protocol/auth.hpp"
#include "wa/store/store.hpp"
#include "wa/wire/codec.hpp"
#include "wa/wire/frame.hpp"
#include "wa/wire/node.hpp"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using net::ip::tcp;
using namespace wa;
using wire::Node;
using wire::NodeList;

namespace {

constexpr auto kDict = wire::Dict::v3;

struct Options {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  std::size_t n = 2000;
  double seconds = 10;
  std::size_t window = 8;
  std::size_t handshakes = 256;
  long pid = 0;
};

std::uint64_t now_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

// wasim's process: CPU ms (user + system) and resident bytes, from /proc.
double cpu_ms(long pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto close = s.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(s.substr(close + 2));
  std::string field;
  double ut = 0, st = 0;
  for (int i = 0; i < 13 && in >> field; ++i) {
    if (i == 11) ut = std::strtod(field.c_str(), nullptr);
    if (i == 12) st = std::strtod(field.c_str(), nullptr);
  }
  return (ut + st) * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
}
std::uint64_t rss_bytes(long pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

// The control API over one keep-alive connection (set-up only).
class Control {
 public:
  Control(net::io_context& io, const Options& o) : stream_(io) {
    tcp::resolver r(io);
    stream_.connect(r.resolve(o.host, std::to_string(o.port)));
    host_ = o.host + ":" + std::to_string(o.port);
  }
  std::string call(http::verb verb, const std::string& target, const std::string& body) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, host_);
    req.set(http::field::content_type, "application/json");
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();
    http::write(stream_, req);
    http::response<http::string_body> res;
    http::read(stream_, buf_, res);
    if (res.result_int() >= 300) throw std::runtime_error(target + ": HTTP " + std::to_string(res.result_int()) + " " + res.body());
    return res.body();
  }

 private:
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  std::string host_;
};

struct Stats {
  std::size_t live = 0, failed = 0;
  std::uint64_t sent = 0, acked = 0, routed = 0;
  bool sending = false;
  std::uint64_t window_start = 0, window_end = 0;
  std::uint64_t routed_in_window = 0;
};

class Device : public std::enable_shared_from_this<Device> {
 public:
  Device(net::io_context& io, const Options& o, crypto::PublicKey root, std::string phone, std::uint16_t dev, crypto::KeyPair noise,
         Stats& stats)
      : io_(io), opt_(o), root_(root), phone_(std::move(phone)), dev_(dev), noise_(std::move(noise)), stats_(stats), ws_(io) {}

  std::string jid() const { return phone_ + ":" + std::to_string(dev_) + "@s.whatsapp.net"; }
  void set_peer(std::string peer_jid) { peer_ = std::move(peer_jid); }
  bool live() const { return live_; }

  /// Called once: logged in and live (true) or failed (false).
  std::function<void(bool)> on_ready;

  net::awaitable<void> run() {
    auto self = shared_from_this();
    try {
      tcp::resolver r(io_);
      auto eps = co_await r.async_resolve(opt_.host, std::to_string(opt_.port), net::use_awaitable);
      co_await beast::get_lowest_layer(ws_).async_connect(eps, net::use_awaitable);
      beast::get_lowest_layer(ws_).expires_never();
      ws_.binary(true);
      ws_.set_option(websocket::stream_base::decorator(
          [](websocket::request_type& req) { req.set(beast::http::field::origin, "https://web.whatsapp.com"); }));
      const std::string host = opt_.host + ":" + std::to_string(opt_.port);
      co_await ws_.async_handshake(host, "/ws/chat", net::use_awaitable);
      noise::Initiator init(noise::InitiatorConfig{kDict, noise_, root_, {}, std::nullopt});
      {
        const auto header = wire::connection_header(kDict);
        Bytes first(header.begin(), header.end());
        (void)wire::append_frame(first, init.client_hello());
        co_await ws_.async_write(net::buffer(first), net::use_awaitable);
      }
      auto hello = co_await read_frame();
      store::Credentials c;
      c.jid = jid();
      auto payload = protocol::login_payload(c, protocol::ClientVersion{});
      if (!payload) throw std::runtime_error("login payload");
      auto finish = init.on_server_hello(hello, *payload);
      if (!finish) throw std::runtime_error("server hello: " + finish.error().context());
      {
        Bytes out;
        (void)wire::append_frame(out, *finish);
        co_await ws_.async_write(net::buffer(out), net::use_awaitable);
      }
      auto ciphers = init.finish();
      if (!ciphers) throw std::runtime_error("noise finish");
      ciphers_.emplace(std::move(*ciphers));
      for (;;) {
        Bytes frame = co_await read_frame();
        auto plain = ciphers_->recv.decrypt(frame);
        if (!plain) throw std::runtime_error("transport decrypt");
        auto node = wire::decode_payload(*plain, kDict);
        if (!node) continue;
        on_node(*node);
      }
    } catch (const std::exception& e) {
      if (!live_) {
        ++stats_.failed;
        if (stats_.failed <= 3) std::cerr << "wa_bench_wasim: " << jid() << ": " << e.what() << '\n';
      }
      tell(false);
      if (live_) --stats_.live;
      live_ = false;
    }
  }

  // Sends until the window is full (senders only, while the measurement runs).
  void pump() {
    while (stats_.sending && !peer_.empty() && inflight_ < opt_.window && live_) {
      const std::string id = "B" + std::to_string(dev_) + "x" + phone_ + "x" + std::to_string(next_id_++);
      Bytes ct = crypto::random_bytes(64);
      send(Node{"message", {{"to", *Jid::parse(peer_)}, {"id", id}, {"type", "text"}},
                NodeList{Node{"enc", {{"v", "2"}, {"type", "msg"}}, std::move(ct)}}});
      ++inflight_;
      ++stats_.sent;
    }
  }
  std::size_t inflight() const { return inflight_; }

 private:
  net::awaitable<Bytes> read_frame() {
    for (;;) {
      auto f = reader_.next();
      if (!f) throw std::runtime_error("frame: " + f.error().context());
      if (*f) co_return std::move(**f);
      buf_.clear();
      co_await ws_.async_read(buf_, net::use_awaitable);
      const auto data = buf_.data();
      if (!reader_.feed(ByteView(static_cast<const std::uint8_t*>(data.data()), data.size()))) throw std::runtime_error("feed");
    }
  }

  void tell(bool ok) {
    if (told_ || !on_ready) return;
    told_ = true;
    on_ready(ok);
  }

  void on_node(const Node& n) {
    if (n.tag == "success") {
      send(Node{"iq", {{"id", "act"}, {"xmlns", "passive"}, {"type", "set"}, {"to", Jid::server_jid()}}, NodeList{Node{"active", {}, {}}}});
    } else if (n.tag == "ib") {
      if (n.child("offline") != nullptr && !live_) {
        live_ = true;
        ++stats_.live;
        tell(true);
      }
    } else if (n.tag == "message") {
      const Jid* from = n.attr_jid("from");
      auto id = n.attr_string("id");
      if (from != nullptr && id) send(Node{"ack", {{"class", "message"}, {"id", std::string(*id)}, {"to", *from}}, {}});
      ++stats_.routed;
      const auto t = now_ms();
      if (t >= stats_.window_start && t < stats_.window_end) ++stats_.routed_in_window;
    } else if (n.tag == "ack" && n.attr_string("class") == "message") {
      if (inflight_ > 0) --inflight_;
      ++stats_.acked;
      pump();
    } else if (n.tag == "failure" || n.tag == "stream:error") {
      throw std::runtime_error("server said " + n.tag);
    }
  }

  void send(const Node& n) {
    auto payload = wire::encode_payload(n, kDict);
    if (!payload) return;
    auto enc = ciphers_->send.encrypt(*payload);
    if (!enc) return;
    Bytes out;
    (void)wire::append_frame(out, *enc);
    outq_.push_back(std::move(out));
    if (writing_) return;
    writing_ = true;  // one writer at a time on the websocket
    net::co_spawn(io_, write_loop(shared_from_this()), net::detached);
  }
  static net::awaitable<void> write_loop(std::shared_ptr<Device> self) {
    try {
      while (!self->outq_.empty()) {
        // Whatever is queued goes in one websocket message (frames are length-prefixed; servers read any
        // number from one message).
        Bytes b = std::move(self->outq_.front());
        self->outq_.pop_front();
        while (!self->outq_.empty() && b.size() < 64 * 1024) {
          b.insert(b.end(), self->outq_.front().begin(), self->outq_.front().end());
          self->outq_.pop_front();
        }
        co_await self->ws_.async_write(net::buffer(b), net::use_awaitable);
      }
    } catch (const std::exception&) {
      self->outq_.clear();
    }
    self->writing_ = false;
  }

  net::io_context& io_;
  const Options& opt_;
  crypto::PublicKey root_;
  std::string phone_;
  std::uint16_t dev_;
  crypto::KeyPair noise_;
  Stats& stats_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buf_;
  wire::FrameReader reader_{wire::FrameReader::Role::client};
  std::optional<noise::CipherPair> ciphers_;
  std::deque<Bytes> outq_;
  bool writing_ = false;
  bool live_ = false;
  bool told_ = false;
  std::string peer_;
  std::size_t inflight_ = 0;
  std::uint64_t next_id_ = 0;
};

int run(const Options& o) {
  net::io_context io(1);
  Control control(io, o);
  crypto::PublicKey root{};
  {
    const auto hex = nlohmann::json::parse(control.call(http::verb::get, "/root", "")).value("root", "");
    auto b = from_hex(hex);
    if (!b || b->size() != root.size()) throw std::runtime_error("GET /root");
    std::copy(b->begin(), b->end(), root.begin());
  }
  Stats stats;
  std::vector<std::shared_ptr<Device>> devices;
  const auto t_link = now_ms();
  for (std::size_t i = 0; i < o.n; ++i) {
    char phone[32];
    std::snprintf(phone, sizeof phone, "1888%07zu", i);
    control.call(http::verb::post, "/accounts", std::string("{\"phone\":\"") + phone + "\",\"name\":\"b\"}");
    auto noise = crypto::KeyPair::generate();
    const Bytes identity = crypto::random_bytes(32);
    const std::string body = control.call(http::verb::post, std::string("/accounts/") + phone + "/devices",
                                          "{\"noise\":\"" + to_hex(noise.pub) + "\",\"identity\":\"" + to_hex(identity) + "\"}");
    const auto dev = nlohmann::json::parse(body).at("device").get<std::uint16_t>();
    devices.push_back(std::make_shared<Device>(io, o, root, phone, dev, std::move(noise), stats));
  }
  for (std::size_t i = 0; i + 1 < devices.size(); i += 2) devices[i]->set_peer(devices[i + 1]->jid());
  const double link_s = static_cast<double>(now_ms() - t_link) / 1000.0;

  // Connect, at most `handshakes` at once.
  const auto t_connect = now_ms();
  std::size_t next = 0, pending = 0, done = 0;
  std::function<void()> start_more = [&] {
    while (pending < o.handshakes && next < devices.size()) {
      auto d = devices[next++];
      ++pending;
      d->on_ready = [&](bool) {
        --pending;
        ++done;
        start_more();
      };
      net::co_spawn(io, d->run(), net::detached);
    }
  };
  start_more();
  const auto connect_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120 + o.n / 50);
  while (done < devices.size() && std::chrono::steady_clock::now() < connect_deadline) io.run_for(std::chrono::milliseconds(50));
  const double connect_s = static_cast<double>(now_ms() - t_connect) / 1000.0;
  const std::size_t connected = stats.live;
  const std::uint64_t rss_connected = o.pid != 0 ? rss_bytes(o.pid) : 0;

  // Route for `seconds`.
  const double cpu0 = o.pid != 0 ? cpu_ms(o.pid) : 0;
  stats.sending = true;
  stats.window_start = now_ms();
  stats.window_end = stats.window_start + static_cast<std::uint64_t>(o.seconds * 1000);
  for (auto& d : devices) d->pump();
  while (now_ms() < stats.window_end) io.run_for(std::chrono::milliseconds(20));
  stats.sending = false;
  const double cpu1 = o.pid != 0 ? cpu_ms(o.pid) : 0;
  const std::uint64_t routed_window = stats.routed_in_window;
  // Let what is in flight drain (bounded), so the totals add up.
  const auto drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto inflight = [&] {
    std::size_t n = 0;
    for (auto& d : devices) n += d->inflight();
    return n;
  };
  while (inflight() > 0 && std::chrono::steady_clock::now() < drain_deadline) io.run_for(std::chrono::milliseconds(20));
  io.run_for(std::chrono::milliseconds(300));
  const std::uint64_t rss_end = o.pid != 0 ? rss_bytes(o.pid) : 0;

  std::printf(
      "{\"devices\":%zu,\"connected\":%zu,\"failed\":%zu,\"link_s\":%.2f,\"connect_s\":%.2f,\"seconds\":%.2f,\"window\":%zu,"
      "\"sent\":%llu,\"acked\":%llu,\"routed\":%llu,\"routed_in_window\":%llu,\"routed_per_s\":%.0f,"
      "\"wasim_cpu_ms_per_msg\":%.4f,\"wasim_cpu_share\":%.2f,\"wasim_rss_connected\":%llu,\"wasim_rss_end\":%llu}\n",
      devices.size(), connected, stats.failed, link_s, connect_s, o.seconds, o.window, static_cast<unsigned long long>(stats.sent),
      static_cast<unsigned long long>(stats.acked), static_cast<unsigned long long>(stats.routed),
      static_cast<unsigned long long>(routed_window), static_cast<double>(routed_window) / o.seconds,
      routed_window ? (cpu1 - cpu0) / static_cast<double>(routed_window) : 0.0, (cpu1 - cpu0) / (o.seconds * 1000.0),
      static_cast<unsigned long long>(rss_connected), static_cast<unsigned long long>(rss_end));
  return connected == devices.size() && stats.sent == stats.acked ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--port") o.port = static_cast<unsigned short>(std::stoi(v));
    else if (k == "--host") o.host = v;
    else if (k == "--n") o.n = std::stoul(v);
    else if (k == "--seconds") o.seconds = std::stod(v);
    else if (k == "--window") o.window = std::stoul(v);
    else if (k == "--handshakes") o.handshakes = std::stoul(v);
    else if (k == "--pid") o.pid = std::stol(v);
    else {
      std::cerr << "unknown option " << k << '\n';
      return 2;
    }
  }
  if (o.port == 0 || o.n < 2 || o.seconds <= 0) {
    std::cerr << "usage: wa_bench_wasim --port P [--n 2000] [--seconds 10] [--window 8] [--handshakes 256] [--pid PID]\n";
    return 2;
  }
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "wa_bench_wasim: " << e.what() << '\n';
    return 1;
  }
}
