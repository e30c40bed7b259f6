// SPDX-License-Identifier: MIT
// The engine's I/O shell: websocket (plain or TLS) + Noise + framed transport per client, as C++20
// coroutines on one strand per client. The only translation unit of wa_protocol that includes Asio/Beast.
// Pure protocol decisions live in auth.cpp; this file moves bytes, keeps time and talks to the store.
#include "wa/protocol/engine.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <openssl/err.h>

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "wa/core/errc.hpp"
#include "wa/core/jid.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/noise/handshake.hpp"
#include "wa/wire/codec.hpp"
#include "wa/wire/frame.hpp"

namespace wa::protocol {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using wire::Node;
using wire::NodeList;
using namespace std::chrono_literals;

std::string_view to_string(EventKind k) noexcept {
  switch (k) {
    case EventKind::qr: return "qr";
    case EventKind::pair_code: return "pair_code";
    case EventKind::paired: return "paired";
    case EventKind::connected: return "connected";
    case EventKind::disconnected: return "disconnected";
    case EventKind::logged_out: return "logged_out";
    case EventKind::replaced: return "replaced";
    case EventKind::prekeys_uploaded: return "prekeys_uploaded";
    case EventKind::signed_prekey_rotated: return "signed_prekey_rotated";
    case EventKind::error: return "error";
  }
  return "unknown";
}

namespace {

constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);
constexpr std::size_t kMaxWsMessage = 1 << 25;
constexpr wire::Dict kDict = wire::Dict::v3;

struct Url {
  bool tls = false;
  std::string host, port, target;
};

Result<Url> parse_url(std::string_view s) {
  Url u;
  if (s.starts_with("wss://")) {
    u.tls = true;
    s.remove_prefix(6);
  } else if (s.starts_with("ws://")) {
    s.remove_prefix(5);
  } else {
    return fail(core::errc::invalid_argument, "URL must start with ws:// or wss://");
  }
  const auto slash = s.find('/');
  std::string_view hostport = s.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/ws/chat" : std::string(s.substr(slash));
  const auto colon = hostport.rfind(':');
  if (colon != std::string_view::npos && hostport.find(']') == std::string_view::npos) {
    u.host = std::string(hostport.substr(0, colon));
    u.port = std::string(hostport.substr(colon + 1));
  } else {
    u.host = std::string(hostport);
    u.port = u.tls ? "443" : "80";
  }
  if (u.host.empty() || u.port.empty()) return fail(core::errc::invalid_argument, "URL without host or port");
  return u;
}

// A websocket over TCP or TLS. close() is abrupt and may be called at any time on the strand: it makes
// every pending operation complete with an error.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual net::awaitable<beast::error_code> connect(const Url& u, const std::string& origin) = 0;
  virtual net::awaitable<beast::error_code> write(ByteView data) = 0;
  virtual net::awaitable<beast::error_code> read(beast::flat_buffer& buf) = 0;
  virtual void close() = 0;
};

template <class Stream>
class WsTransport final : public Transport {
 public:
  template <class... A>
  explicit WsTransport(A&&... args) : ws_(std::forward<A>(args)...) {}

  net::awaitable<beast::error_code> connect(const Url& u, const std::string& origin) override {
    tcp::resolver resolver(ws_.get_executor());
    auto [rec, results] = co_await resolver.async_resolve(u.host, u.port, use_nothrow);
    if (rec) co_return rec;
    auto [cec, ep] = co_await beast::get_lowest_layer(ws_).async_connect(results, use_nothrow);
    if (cec) co_return cec;
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true));
    if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
      if (!SSL_set_tlsext_host_name(ws_.next_layer().native_handle(), u.host.c_str())) {
        co_return beast::error_code(static_cast<int>(::ERR_get_error()), net::error::get_ssl_category());
      }
      ws_.next_layer().set_verify_callback(net::ssl::host_name_verification(u.host));
      auto [hec] = co_await ws_.next_layer().async_handshake(net::ssl::stream_base::client, use_nothrow);
      if (hec) co_return hec;
    }
    ws_.binary(true);
    ws_.read_message_max(kMaxWsMessage);
    ws_.set_option(websocket::stream_base::decorator([origin](websocket::request_type& req) {
      req.set(beast::http::field::origin, origin);
      req.set(beast::http::field::user_agent, "zapd");
    }));
    auto [wec] = co_await ws_.async_handshake(u.host + ":" + u.port, u.target, use_nothrow);
    co_return wec;
  }
  net::awaitable<beast::error_code> write(ByteView data) override {
    auto [ec, n] = co_await ws_.async_write(net::buffer(data.data(), data.size()), use_nothrow);
    co_return ec;
  }
  net::awaitable<beast::error_code> read(beast::flat_buffer& buf) override {
    auto [ec, n] = co_await ws_.async_read(buf, use_nothrow);
    co_return ec;
  }
  void close() override {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(ws_).socket().close(ec);
  }

 private:
  websocket::stream<Stream> ws_;
};

using PlainWs = WsTransport<beast::tcp_stream>;
using TlsWs = WsTransport<net::ssl::stream<beast::tcp_stream>>;

// An <iq xmlns type> to the server, built outside coroutine frames (GCC 12 mishandles braced string
// literals inside co_await expressions).
Node iq_node(std::string_view xmlns, std::string_view type, wire::Content content) {
  return Node{"iq", {{"xmlns", std::string(xmlns)}, {"type", std::string(type)}}, std::move(content)};
}

Node leaf(std::string_view tag) { return Node{std::string(tag), {}, {}}; }
Node rotate_node(const store::Credentials& c) { return Node{"rotate", {}, NodeList{signed_prekey_node(c)}}; }

std::uint64_t unix_now() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// Why a session ended, and what the run loop does next.
enum class End { lost, restart, logged_out, replaced, qr_exhausted, stopped };

}  // namespace

class Client;

struct Engine::Impl {
  explicit Impl(store::Store& s, unsigned n) : store(s), io_threads(n == 0 ? 1 : n) {}

  store::Store& store;
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  net::thread_pool db{1};
  unsigned io_threads;
  std::vector<std::thread> threads;
  mutable std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<Client>> clients;

  // Runs fn on the database executor; the awaiting coroutine resumes on its own executor with
  // std::optional<decltype(fn())> (always engaged). Not a coroutine itself: GCC 12 mishandles lambdas
  // passed by value into coroutines.
  template <class F>
  auto on_db(F fn) {
    using R = decltype(fn());
    return net::async_initiate<const net::use_awaitable_t<>&, void(std::optional<R>)>(
        [this](auto handler, F f) {
          auto ex = net::get_associated_executor(handler);
          net::post(db, [handler = std::move(handler), f = std::move(f), ex]() mutable {
            std::optional<R> r(f());
            net::post(ex, [handler = std::move(handler), r = std::move(r)]() mutable { std::move(handler)(std::move(r)); });
          });
        },
        net::use_awaitable, std::move(fn));
  }
};

class Client final : public std::enable_shared_from_this<Client> {
 public:
  Client(Engine::Impl& eng, std::string id, ClientConfig cfg, EventSink sink)
      : eng_(eng),
        id_(std::move(id)),
        cfg_(std::move(cfg)),
        sink_(std::move(sink)),
        strand_(net::make_strand(eng.ioc)),
        backoff_(strand_),
        rng_(std::random_device{}()) {
    if (std::all_of(cfg_.trusted_root.begin(), cfg_.trusted_root.end(), [](auto b) { return b == 0; })) {
      cfg_.trusted_root = noise::kWhatsAppRootKey;
    }
  }

  void start() {
    net::co_spawn(strand_, [self = shared_from_this()]() -> net::awaitable<void> { co_await self->run(); },
                  [self = shared_from_this()](std::exception_ptr e) {
                    if (!e) return;
                    try {
                      std::rethrow_exception(e);
                    } catch (const std::exception& ex) {
                      self->emit(EventKind::error, std::string("client stopped by an exception: ") + ex.what());
                    }
                    self->done_ = true;
                  });
  }

  void stop() {
    net::post(strand_, [self = shared_from_this()] {
      self->stopped_ = true;
      self->end_session(End::stopped);
      self->backoff_.cancel();
    });
  }

  void pair_phone(std::string phone) {
    net::post(strand_, [self = shared_from_this(), phone = std::move(phone)]() mutable {
      self->wanted_phone_ = std::move(phone);
      if (self->registering_) {
        net::co_spawn(self->strand_, self->send_link_code(self->gen_), net::detached);
      }
    });
  }

  bool done() const { return done_; }

 private:
  // ---------------------------------------------------------------------------------------------
  // Run loop: sessions separated by backoff.
  net::awaitable<void> run() {
    while (!stopped_) {
      const End end = co_await session();
      fail_pending();
      if (logged_in_) {
        logged_in_ = false;
        emit(EventKind::disconnected, end_text_, {}, end_code_);
      }
      registering_ = false;
      if (stopped_ || end == End::stopped) break;
      if (end == End::logged_out) {
        const std::string id = id_;
        auto st_job = [this, id] { return eng_.store.delete_device(id); };
        auto st = *co_await eng_.on_db(std::move(st_job));
        if (!st) emit(EventKind::error, "wiping credentials failed: " + st.error().context());
        creds_.reset();
        emit(EventKind::logged_out, end_text_, {}, end_code_);
        break;
      }
      if (end == End::replaced) {
        emit(EventKind::replaced, end_text_);
        break;
      }
      if (end == End::restart || end == End::qr_exhausted) {
        attempt_ = 0;
        continue;
      }
      // Capped exponential backoff with jitter: a uniform delay in [d/2, d], d = min(cap, base * 2^attempt).
      const auto base = cfg_.backoff_base.count();
      const auto cap = cfg_.backoff_cap.count();
      long long d = base;
      for (int i = 0; i < attempt_ && d < cap; ++i) d *= 2;
      d = std::min<long long>(d, cap);
      ++attempt_;
      std::uniform_int_distribution<long long> dist(d / 2, d);
      backoff_.expires_after(std::chrono::milliseconds(dist(rng_)));
      co_await backoff_.async_wait(use_nothrow);
    }
    done_ = true;
  }

  // One connection, from TCP connect to close. Returns why it ended.
  net::awaitable<End> session() {
    const std::uint64_t gen = ++gen_;
    end_ = End::lost;
    end_text_ = "connection lost";
    end_code_ = 0;
    ended_ = false;
    if (!creds_) {
      const std::string id = id_;
      auto loaded_job = [this, id]() -> Result<store::Credentials> {
        WA_TRY(auto c, eng_.store.load_credentials(id));
        if (c) return std::move(*c);
        // A new device: its keys are created once, and kept before anything is sent.
        NewDevice d = new_device(id, unix_now());
        WA_TRY_STATUS(eng_.store.transaction([&]() -> Status {
          WA_TRY_STATUS(eng_.store.put(id, store::Table::signed_prekey, std::to_string(d.creds.signed_prekey_id),
                                       d.signed_prekey_record));
          return eng_.store.save_credentials(d.creds);
        }));
        return std::move(d.creds);
      };
      auto loaded = *co_await eng_.on_db(std::move(loaded_job));
      if (!loaded) {
        end_text_ = "store: " + loaded.error().context();
        emit(EventKind::error, end_text_);
        co_return End::lost;
      }
      creds_ = std::move(*loaded);
    }
    auto url = parse_url(cfg_.url);
    if (!url) {
      end_text_ = url.error().context();
      emit(EventKind::error, end_text_);
      co_return End::stopped;
    }
    if (url->tls) {
      ssl_.emplace(net::ssl::context::tls_client);
      ssl_->set_default_verify_paths();
      if (!cfg_.extra_ca_pem.empty()) {
        beast::error_code ec;
        ssl_->add_certificate_authority(net::buffer(cfg_.extra_ca_pem), ec);
      }
      ssl_->set_verify_mode(net::ssl::verify_peer);
      tx_ = std::make_shared<TlsWs>(strand_, *ssl_);
    } else {
      tx_ = std::make_shared<PlainWs>(strand_);
    }
    auto tx = tx_;
    // Everything up to the end of the Noise handshake runs under one deadline.
    net::steady_timer watchdog(strand_, cfg_.connect_timeout);
    watchdog.async_wait([tx](beast::error_code ec) {
      if (!ec) tx->close();
    });
    if (auto ec = co_await tx->connect(*url, cfg_.origin)) {
      end_text_ = "connect: " + ec.message();
      co_return end_;
    }
    if (ended_) co_return end_;
    // Noise XX: header + ClientHello in one message, ServerHello, ClientFinish with our ClientPayload.
    noise::Initiator init(noise::InitiatorConfig{kDict, crypto::KeyPair{creds_->noise_priv, creds_->noise_pub},
                                                 cfg_.trusted_root, {}, std::nullopt});
    reader_ = wire::FrameReader(wire::FrameReader::Role::client);
    {
      const auto header = wire::connection_header(kDict);
      Bytes first(header.begin(), header.end());
      (void)wire::append_frame(first, init.client_hello());
      if (auto ec = co_await tx->write(first)) {
        end_text_ = "write: " + ec.message();
        co_return end_;
      }
    }
    auto hello = co_await read_frame();
    if (!hello) {
      end_text_ = "handshake: " + hello.error().context();
      co_return end_;
    }
    const bool registered = creds_->registered();
    Bytes payload;
    if (registered) {
      auto p = login_payload(*creds_, cfg_.version);
      if (!p) co_return End::stopped;
      payload = std::move(*p);
    } else {
      payload = registration_payload(*creds_, cfg_.version);
    }
    auto finish = init.on_server_hello(*hello, payload);
    if (!finish) {
      // An untrusted server is not retried quickly: backoff as for any lost connection.
      end_text_ = "server handshake: " + finish.error().message() + " " + finish.error().context();
      emit(EventKind::error, end_text_);
      co_return end_;
    }
    {
      Bytes out;
      (void)wire::append_frame(out, *finish);
      if (auto ec = co_await tx->write(out)) {
        end_text_ = "write: " + ec.message();
        co_return end_;
      }
    }
    auto ciphers = init.finish();
    if (!ciphers) co_return end_;
    ciphers_ = std::move(*ciphers);
    watchdog.cancel();
    registering_ = !registered;
    last_recv_ = std::chrono::steady_clock::now();
    net::co_spawn(strand_, keepalive(gen), net::detached);

    // Read loop: every stanza is handled in order.
    for (;;) {
      auto frame = co_await read_frame();
      if (!frame) {
        if (!ended_) end_text_ = frame.error().context();
        break;
      }
      auto plain = ciphers_.recv.decrypt(*frame);
      if (!plain) {
        end_text_ = "transport decrypt failed";
        break;
      }
      auto node = wire::decode_payload(*plain, kDict);
      if (!node) {
        emit(EventKind::error, "undecodable stanza: " + node.error().message());
        continue;  // one bad stanza does not end the connection
      }
      co_await on_node(*node, gen);
      if (ended_) break;
    }
    tx->close();
    ++gen_;  // background coroutines of this session stop
    co_return end_;
  }

  // The next frame from the socket (handshake or transport), reading websocket messages as needed.
  net::awaitable<Result<Bytes>> read_frame() {
    for (;;) {
      auto f = reader_.next();
      if (!f) co_return fail(errc::connection_lost, "framing: " + f.error().message());
      if (*f) {
        last_recv_ = std::chrono::steady_clock::now();
        co_return std::move(**f);
      }
      rbuf_.consume(rbuf_.size());
      if (ended_) co_return fail(errc::connection_lost, end_text_);
      if (auto ec = co_await tx_->read(rbuf_)) co_return fail(errc::connection_lost, "read: " + ec.message());
      const auto data = rbuf_.cdata();
      if (auto st = reader_.feed(ByteView(static_cast<const std::uint8_t*>(data.data()), data.size())); !st) {
        co_return fail(errc::connection_lost, "framing: " + st.error().message());
      }
    }
  }

  // Ends the current session (the read loop sees it); the first reason wins.
  void end_session(End why, std::string text = {}, int code = 0) {
    if (!ended_) {
      ended_ = true;
      end_ = why;
      if (!text.empty()) end_text_ = std::move(text);
      end_code_ = code;
    }
    if (tx_) tx_->close();
  }

  // ---------------------------------------------------------------------------------------------
  // Sending: encrypt in call order on the strand, one writer drains the queue.
  void send(const Node& node) {
    if (ended_ || !tx_) return;
    auto payload = wire::encode_payload(node, kDict);
    if (!payload) {
      emit(EventKind::error, "cannot encode <" + node.tag + ">: " + payload.error().message());
      return;
    }
    auto enc = ciphers_.send.encrypt(*payload);
    if (!enc) return end_session(End::lost, "transport counter exhausted");
    Bytes out;
    if (!wire::append_frame(out, *enc)) return;
    outq_.push_back(std::move(out));
    if (!writing_) {
      writing_ = true;
      net::co_spawn(strand_, write_loop(tx_, gen_), net::detached);
    }
  }

  net::awaitable<void> write_loop(std::shared_ptr<Transport> tx, std::uint64_t gen) {
    auto self = shared_from_this();
    while (!outq_.empty() && gen == gen_) {
      Bytes b = std::move(outq_.front());
      outq_.pop_front();
      if (auto ec = co_await tx->write(b)) {
        if (gen == gen_) end_session(End::lost, "write: " + ec.message());
        break;
      }
    }
    if (gen != gen_) outq_.clear();
    writing_ = false;
  }

  struct PendingIq {
    explicit PendingIq(net::strand<net::io_context::executor_type>& s) : timer(s) {}
    net::steady_timer timer;
    std::optional<Node> answer;
  };

  // Sends an iq and waits for its answer. Errors: timeout, connection_lost, iq_error (with code and text).
  net::awaitable<Result<Node>> iq(Node&& node_in, std::chrono::milliseconds timeout) {
    Node node = std::move(node_in);
    auto self = shared_from_this();
    const std::string id = id_prefix_ + std::to_string(++iq_seq_);
    node.set_attr("id", id);
    if (node.attr("to") == nullptr) node.set_attr("to", Jid::server_jid());
    auto p = std::make_shared<PendingIq>(strand_);
    p->timer.expires_after(timeout);
    pending_[id] = p;
    send(node);
    co_await p->timer.async_wait(use_nothrow);
    pending_.erase(id);
    if (!p->answer) {
      co_return fail(ended_ ? errc::connection_lost : errc::timeout, "iq " + std::string(node.attr_string("xmlns").value_or("")) + " " + id);
    }
    if (p->answer->attr_string("type") == "error") {
      const Node* e = p->answer->child("error");
      co_return fail(errc::iq_error, e == nullptr ? std::string("error")
                                                  : std::string(e->attr_string("code").value_or("")) + " " +
                                                        std::string(e->attr_string("text").value_or("")));
    }
    co_return std::move(*p->answer);
  }

  void fail_pending() {
    for (auto& [_, p] : pending_) p->timer.cancel();
  }

  void send_iq_result(const Node& req, NodeList content = {}) {
    Node n{"iq", {{"to", Jid::server_jid()}, {"type", "result"}, {"id", std::string(req.attr_string("id").value_or(""))}}, {}};
    if (!content.empty()) n.content = std::move(content);
    send(n);
  }

  // ---------------------------------------------------------------------------------------------
  // Stanzas from the server.
  net::awaitable<void> on_node(const Node& n, std::uint64_t gen) {
    if (n.tag == "iq") co_return co_await on_iq(n, gen);
    if (n.tag == "success") co_return on_success(n, gen);
    if (n.tag == "failure") {
      const std::string reason(n.attr_string("reason").value_or("0"));
      const int code = std::atoi(reason.c_str());
      if (code == 401 || code == 403 || code == 406) co_return end_session(End::logged_out, "login failure " + reason, code);
      co_return end_session(End::lost, "login failure " + reason, code);
    }
    if (n.tag == "stream:error") co_return on_stream_error(n);
    if (n.tag == "xmlstreamend") co_return end_session(End::lost, "server closed the stream");
    if (n.tag == "notification") co_return co_await on_notification(n, gen);
    // <message>, <receipt>, <call> and the rest are handled by later parts of the engine. They are not
    // acknowledged here, so the server keeps them queued and nothing is lost.
  }

  net::awaitable<void> on_iq(const Node& n, std::uint64_t gen) {
    const auto type = n.attr_string("type").value_or("");
    if (type == "result" || type == "error") {
      auto it = pending_.find(std::string(n.attr_string("id").value_or("")));
      if (it != pending_.end()) {
        it->second->answer = n;
        it->second->timer.cancel();
      }
      co_return;
    }
    const Node* first = n.children().empty() ? nullptr : &n.children()[0];
    if (first == nullptr) co_return;
    if (first->tag == "pair-device" && registering_) {
      send_iq_result(n);
      refs_.clear();
      for (const Node& r : first->children()) {
        if (auto d = r.data()) refs_.emplace_back(as_chars(*d));
      }
      if (wanted_phone_) {
        net::co_spawn(strand_, send_link_code(gen), net::detached);
      } else {
        net::co_spawn(strand_, qr_loop(gen), net::detached);
      }
      co_return;
    }
    if (first->tag == "pair-success" && registering_) co_return co_await on_pair_success(n, *first);
    if (first->tag == "ping" || n.attr_string("xmlns") == "urn:xmpp:ping") co_return send_iq_result(n);
  }

  void on_stream_error(const Node& n) {
    const std::string code(n.attr_string("code").value_or(""));
    const Node* conflict = n.child("conflict");
    const std::string ctype = conflict == nullptr ? "" : std::string(conflict->attr_string("type").value_or(""));
    const int icode = std::atoi(code.c_str());
    if (code == "515") return end_session(End::restart, "restart required (515)", 515);
    if (code == "401" || ctype == "device_removed") return end_session(End::logged_out, "logged out (stream error 401)", 401);
    if (conflict != nullptr) return end_session(End::replaced, "replaced by another connection (conflict " + ctype + ")", 440);
    end_session(End::lost, "stream error " + (code.empty() ? std::string("without code") : code), icode);
  }

  net::awaitable<void> on_notification(const Node& n, std::uint64_t gen) {
    const std::string type(n.attr_string("type").value_or(""));
    Node ack{"ack", {{"id", std::string(n.attr_string("id").value_or(""))}, {"class", "notification"}, {"type", type}}, {}};
    if (const Jid* from = n.attr_jid("from")) ack.set_attr("to", *from);
    if (type == "link_code_companion_reg") {
      const Node* reg = n.child("link_code_companion_reg");
      send(ack);
      if (reg != nullptr && reg->attr_string("stage") == "primary_hello" && link_code_) {
        co_await finish_link_code(*reg, gen);
      }
      co_return;
    }
    send(ack);
    if (type == "encrypt" && logged_in_) {
      if (const Node* c = n.child("count")) {
        const int left = std::atoi(std::string(c->attr_string("value").value_or("0")).c_str());
        if (left < static_cast<int>(kMinPreKeys)) net::co_spawn(strand_, upload_prekeys(gen, kPreKeyUploadCount), net::detached);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Pairing.
  net::awaitable<void> qr_loop(std::uint64_t gen) {
    auto self = shared_from_this();
    net::steady_timer t(strand_);
    for (std::size_t i = 0; i < refs_.size(); ++i) {
      if (gen != gen_ || !registering_ || wanted_phone_) co_return;
      emit(EventKind::qr, qr_string(refs_[i], *creds_));
      t.expires_after(i == 0 ? cfg_.qr_first : cfg_.qr_next);
      co_await t.async_wait(use_nothrow);
    }
    if (gen == gen_ && registering_ && !wanted_phone_) end_session(End::qr_exhausted, "QR codes expired");
  }

  net::awaitable<void> send_link_code(std::uint64_t gen) {
    auto self = shared_from_this();
    if (gen != gen_ || !registering_ || !wanted_phone_) co_return;
    const std::string phone = *wanted_phone_;
    const store::Credentials creds = *creds_;
    // PBKDF2 with 131,072 rounds: done off the I/O thread.
    auto made_job = [phone, creds]() -> Result<std::pair<LinkCode, Node>> {
      LinkCode lc = new_link_code(phone);
      WA_TRY(auto hello, link_code_hello(lc, creds));
      return std::pair{std::move(lc), std::move(hello)};
    };
    auto made = *co_await eng_.on_db(std::move(made_job));
    if (gen != gen_) co_return;
    if (!made) {
      emit(EventKind::error, "pairing code: " + made.error().context());
      co_return;
    }
    link_code_ = std::move(made->first);
    Node req = iq_node("md", "set", NodeList{std::move(made->second)});
    auto r = co_await iq(std::move(req), cfg_.iq_timeout);
    if (gen != gen_) co_return;
    if (!r) {
      emit(EventKind::error, "pairing code refused: " + r.error().context());
      co_return;
    }
    emit(EventKind::pair_code, link_code_->code);
  }

  net::awaitable<void> finish_link_code(const Node& hello, std::uint64_t gen) {
    const LinkCode lc = *link_code_;
    const store::Credentials creds = *creds_;
    const Node h = hello;
    auto fin_job = [lc, creds, h] { return link_code_finish(lc, h, creds); };
    auto fin = *co_await eng_.on_db(std::move(fin_job));
    if (gen != gen_) co_return;
    if (!fin) {
      emit(EventKind::error, "pairing code: " + fin.error().context());
      co_return;
    }
    // The ADV secret now comes from the code exchange; pair-success is checked with it.
    creds_->adv_secret = fin->adv_secret;
    net::co_spawn(strand_, [self = shared_from_this(), reg = std::move(fin->reg), gen]() -> net::awaitable<void> {
      Node req = iq_node("md", "set", NodeList{reg});
      auto r = co_await self->iq(std::move(req), self->cfg_.iq_timeout);
      if (!r && gen == self->gen_) self->emit(EventKind::error, "companion_finish: " + r.error().context());
    }, net::detached);
  }

  net::awaitable<void> on_pair_success(const Node& iq_node, const Node& ps) {
    auto r = handle_pair_success(ps, *creds_);
    if (!r) {
      // whatsmeow's answers; the server then drops the registration.
      const bool hmac = r.error().code() == errc::hmac_mismatch;
      send(Node{"iq",
                {{"to", Jid::server_jid()}, {"type", "error"}, {"id", std::string(iq_node.attr_string("id").value_or(""))}},
                NodeList{Node{"error", {{"code", hmac || r.error().code() == errc::signature_mismatch ? "401" : "500"},
                                        {"text", hmac ? "hmac-mismatch" : "signature-mismatch"}}, {}}}});
      emit(EventKind::error, "pair-success rejected: " + r.error().message());
      co_return;
    }
    store::Credentials updated = *creds_;
    updated.jid = r->jid;
    updated.lid = r->lid;
    updated.platform = r->platform;
    updated.account = r->account;
    // Persist before answering: a crash after the answer must not lose the pairing.
    const Bytes primary = r->primary_identity;
    auto st_job = [this, updated, primary]() -> Status {
      return eng_.store.transaction([&]() -> Status {
        WA_TRY(auto jid, Jid::parse(updated.jid));
        Bytes key{crypto::kDjbType};
        append(key, primary);
        WA_TRY_STATUS(eng_.store.put(updated.device_id, store::Table::identity, jid.user() + ".0", key));
        return eng_.store.save_credentials(updated);
      });
    };
    auto st = *co_await eng_.on_db(std::move(st_job));
    if (!st) {
      emit(EventKind::error, "saving the pairing failed: " + st.error().context());
      end_session(End::lost, "store failure while pairing");
      co_return;
    }
    creds_ = std::move(updated);
    link_code_.reset();
    wanted_phone_.reset();
    registering_ = false;
    send_iq_result(iq_node, NodeList{std::move(r->reply)});
    emit(EventKind::paired, creds_->jid, creds_->lid);
  }

  // ---------------------------------------------------------------------------------------------
  // Logged in.
  void on_success(const Node& n, std::uint64_t gen) {
    if (registering_) return;
    logged_in_ = true;
    attempt_ = 0;
    if (const Jid* lid = n.attr_jid("lid")) {
      if (lid->to_string() != creds_->lid) {
        creds_->lid = lid->to_string();
        net::co_spawn(strand_, save_creds(), net::detached);
      }
    }
    emit(EventKind::connected, creds_->jid, creds_->lid);
    net::co_spawn(strand_, after_login(gen), net::detached);
  }

  net::awaitable<void> save_creds() {
    auto self = shared_from_this();
    const store::Credentials c = *creds_;
    auto st_job = [this, c] { return eng_.store.save_credentials(c); };
    auto st = *co_await eng_.on_db(std::move(st_job));
    if (!st) emit(EventKind::error, "saving credentials failed: " + st.error().context());
  }

  net::awaitable<void> after_login(std::uint64_t gen) {
    auto self = shared_from_this();
    Node count_req = iq_node("encrypt", "get", NodeList{leaf("count")});
    auto count = co_await iq(std::move(count_req), cfg_.iq_timeout);
    if (gen != gen_) co_return;
    if (count) {
      const Node* c = count->child("count");
      const int have = c == nullptr ? 0 : std::atoi(std::string(c->attr_string("value").value_or("0")).c_str());
      if (have < static_cast<int>(kMinPreKeys)) co_await upload_prekeys(gen, kPreKeyUploadCount);
    } else {
      emit(EventKind::error, "prekey count: " + count.error().context());
    }
    if (gen != gen_) co_return;
    if (unix_now() - creds_->signed_prekey_created >= static_cast<std::uint64_t>(cfg_.signed_prekey_lifetime.count())) {
      co_await rotate_signed(gen);
    }
    if (gen != gen_) co_return;
    Node active_req = iq_node("passive", "set", NodeList{leaf("active")});
    auto active = co_await iq(std::move(active_req), cfg_.iq_timeout);
    if (!active && gen == gen_) emit(EventKind::error, "passive iq: " + active.error().context());
  }

  net::awaitable<void> upload_prekeys(std::uint64_t gen, std::size_t n) {
    auto self = shared_from_this();
    if (uploading_) co_return;
    uploading_ = true;
    // Keys are generated and stored before they are offered: the server may hand one out at once.
    const store::Credentials c = *creds_;
    auto batch_job = [this, c, n]() -> Result<PreKeyBatch> {
      PreKeyBatch b = make_prekeys(c, c.next_prekey_id, n);
      store::Credentials next = c;
      next.next_prekey_id = (b.last_id % 0xffffff) + 1;
      WA_TRY_STATUS(eng_.store.transaction([&]() -> Status {
        for (const auto& [id, rec] : b.records) WA_TRY_STATUS(eng_.store.put(c.device_id, store::Table::prekey, std::to_string(id), rec));
        return eng_.store.save_credentials(next);
      }));
      return b;
    };
    auto batch = *co_await eng_.on_db(std::move(batch_job));
    if (!batch) {
      uploading_ = false;
      emit(EventKind::error, "prekey generation: " + batch.error().context());
      co_return;
    }
    if (gen != gen_) {
      uploading_ = false;
      co_return;
    }
    creds_->next_prekey_id = (batch->last_id % 0xffffff) + 1;
    Node req = iq_node("encrypt", "set", std::move(batch->iq_content));
    auto r = co_await iq(std::move(req), cfg_.iq_timeout);
    uploading_ = false;
    if (!r) {
      if (gen == gen_) emit(EventKind::error, "prekey upload: " + r.error().context());
      co_return;
    }
    creds_->uploaded_prekey_id = batch->last_id;
    co_await save_creds();
    emit(EventKind::prekeys_uploaded, {}, {}, 0, batch->records.size());
  }

  net::awaitable<void> rotate_signed(std::uint64_t gen) {
    store::Credentials next = *creds_;
    auto st_job = [this, &next]() -> Status {
      const Bytes rec = rotate_signed_prekey(next, unix_now());
      // The old signed prekey stays: messages built on it may still be in flight.
      return eng_.store.put(next.device_id, store::Table::signed_prekey, std::to_string(next.signed_prekey_id), rec);
    };
    auto st = *co_await eng_.on_db(std::move(st_job));
    if (!st || gen != gen_) co_return;
    Node req = iq_node("encrypt", "set", NodeList{rotate_node(next)});
    auto r = co_await iq(std::move(req), cfg_.iq_timeout);
    if (!r) {
      if (gen == gen_) emit(EventKind::error, "signed prekey rotation: " + r.error().context());
      co_return;
    }
    creds_->signed_prekey_id = next.signed_prekey_id;
    creds_->signed_prekey_pub = next.signed_prekey_pub;
    creds_->signed_prekey_sig = next.signed_prekey_sig;
    creds_->signed_prekey_created = next.signed_prekey_created;
    co_await save_creds();
    emit(EventKind::signed_prekey_rotated);
  }

  // Pings at keepalive_interval; an unanswered ping within keepalive_timeout means the socket is dead.
  net::awaitable<void> keepalive(std::uint64_t gen) {
    auto self = shared_from_this();
    net::steady_timer t(strand_);
    while (gen == gen_ && !ended_) {
      t.expires_after(cfg_.keepalive_interval);
      co_await t.async_wait(use_nothrow);
      if (gen != gen_ || ended_) co_return;
      Node req = iq_node("w:p", "get", NodeList{leaf("ping")});
      auto r = co_await iq(std::move(req), cfg_.keepalive_timeout);
      if (gen != gen_ || ended_) co_return;
      if (!r && r.error().code() == errc::timeout) {
        end_session(End::lost, "keepalive: no answer within " + std::to_string(cfg_.keepalive_timeout.count()) + " ms");
        co_return;
      }
    }
  }

  void emit(EventKind kind, std::string text = {}, std::string lid = {}, int code = 0, std::size_t count = 0) {
    if (sink_) sink_(id_, Event{kind, std::move(text), std::move(lid), code, count});
  }

  Engine::Impl& eng_;
  const std::string id_;
  ClientConfig cfg_;
  EventSink sink_;
  net::strand<net::io_context::executor_type> strand_;
  net::steady_timer backoff_;
  std::mt19937_64 rng_;
  std::optional<net::ssl::context> ssl_;
  std::shared_ptr<Transport> tx_;
  noise::CipherPair ciphers_;
  wire::FrameReader reader_{wire::FrameReader::Role::client};
  beast::flat_buffer rbuf_;
  std::deque<Bytes> outq_;
  bool writing_ = false;
  std::unordered_map<std::string, std::shared_ptr<PendingIq>> pending_;
  std::string id_prefix_ = to_hex(crypto::random_bytes(4)) + "-";
  std::uint64_t iq_seq_ = 0;
  std::optional<store::Credentials> creds_;
  std::optional<LinkCode> link_code_;
  std::optional<std::string> wanted_phone_;
  std::vector<std::string> refs_;
  std::chrono::steady_clock::time_point last_recv_{};
  std::uint64_t gen_ = 0;
  End end_ = End::lost;
  std::string end_text_;
  int end_code_ = 0;
  bool ended_ = false;
  bool registering_ = false;
  bool logged_in_ = false;
  bool uploading_ = false;
  bool stopped_ = false;
  std::atomic<bool> done_{false};
  int attempt_ = 0;
};

Engine::Engine(store::Store& store, unsigned io_threads) : impl_(std::make_unique<Impl>(store, io_threads)) {
  for (unsigned i = 0; i < impl_->io_threads; ++i) impl_->threads.emplace_back([this] { impl_->ioc.run(); });
}

Engine::~Engine() {
  shutdown();
  impl_->work.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->db.join();
}

void Engine::start(const std::string& device_id, ClientConfig cfg, EventSink sink) {
  std::lock_guard lock(impl_->mu);
  auto& slot = impl_->clients[device_id];
  if (slot && !slot->done()) return;  // already running
  slot = std::make_shared<Client>(*impl_, device_id, std::move(cfg), std::move(sink));
  slot->start();
}

void Engine::pair_phone(const std::string& device_id, std::string phone) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->clients.find(device_id);
  if (it != impl_->clients.end()) it->second->pair_phone(std::move(phone));
}

void Engine::stop(const std::string& device_id) {
  std::shared_ptr<Client> c;
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->clients.find(device_id);
    if (it == impl_->clients.end()) return;
    c = it->second;
    impl_->clients.erase(it);
  }
  c->stop();
}

void Engine::shutdown() {
  std::vector<std::shared_ptr<Client>> all;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [_, c] : impl_->clients) all.push_back(c);
    impl_->clients.clear();
  }
  for (auto& c : all) c->stop();
  // Bounded wait for the run loops to notice.
  for (int i = 0; i < 500; ++i) {
    if (std::all_of(all.begin(), all.end(), [](const auto& c) { return c->done(); })) break;
    std::this_thread::sleep_for(10ms);
  }
}

std::size_t Engine::client_count() const {
  std::lock_guard lock(impl_->mu);
  return impl_->clients.size();
}

}  // namespace wa::protocol
