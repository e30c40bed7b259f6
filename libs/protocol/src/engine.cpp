// SPDX-License-Identifier: MIT
// The engine's I/O shell: websocket (plain or TLS) + Noise + framed transport per client, as C++20
// coroutines on one strand per client. The only translation unit of wa_protocol that includes Asio/Beast.
// Pure protocol decisions live in auth.cpp; this file moves bytes, keeps time and talks to the store.
#include "wa/protocol/engine.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio.hpp>

#include <atomic>
#include <deque>
#include <map>
#include <set>
#include <mutex>
#include <thread>
#include <utility>
#include <unordered_map>

#include "wa/core/errc.hpp"
#include "wa/core/fifo.hpp"
#include "wa/core/jid.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/crypto/trust.hpp"
#include "bytes_util.hpp"
#include "connect_gate.hpp"
#include "signal_store.hpp"
#include "tls_client.hpp"
#include "ws_client.hpp"
#include "wa/noise/handshake.hpp"
#include "wa/protocol/message.hpp"
#include "wa/signal/protocol.hpp"
#include "wa/wire/codec.hpp"
#include "wa/wire/frame.hpp"

namespace wa::protocol {
namespace net = boost::asio;
using error_code = boost::system::error_code;
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
    case EventKind::message: return "message";
    case EventKind::sent: return "sent";
    case EventKind::send_failed: return "send_failed";
    case EventKind::receipt: return "receipt";
    case EventKind::presence: return "presence";
    case EventKind::chatstate: return "chatstate";
    case EventKind::group: return "group";
    case EventKind::offline_drained: return "offline_drained";
  }
  return "unknown";
}

namespace {

constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);
constexpr wire::Dict kDict = wire::Dict::v3;

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

// Inbox records: the fields of a message event, length-prefixed.
void put_field(Bytes& b, std::string_view v) {
  const auto n = static_cast<std::uint32_t>(v.size());
  for (int i = 3; i >= 0; --i) b.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
  append(b, as_bytes(v));
}
Bytes encode_inbound(const Event& e) {
  Bytes b;
  for (std::string_view v : {std::string_view(e.id), std::string_view(e.from), std::string_view(e.chat), std::string_view(e.type),
                             std::string_view(e.text), std::string_view(e.push_name)}) {
    put_field(b, v);
  }
  put_field(b, std::to_string(e.timestamp));
  put_field(b, e.from_me ? "1" : "0");
  for (const auto& [k, v] : e.fields) {
    put_field(b, k);
    put_field(b, v);
  }
  return b;
}
Result<Event> decode_inbound(ByteView b) {
  std::vector<std::string> f;
  std::size_t at = 0;
  while (at < b.size()) {
    if (b.size() - at < 4) return fail(store::errc::corrupt, "inbox record truncated");
    const std::size_t n = (std::size_t{b[at]} << 24) | (std::size_t{b[at + 1]} << 16) | (std::size_t{b[at + 2]} << 8) | b[at + 3];
    at += 4;
    if (b.size() - at < n) return fail(store::errc::corrupt, "inbox record truncated");
    f.emplace_back(as_chars(b.subspan(at, n)));
    at += n;
  }
  if (f.size() < 8 || (f.size() - 8) % 2 != 0) {
    return fail(store::errc::corrupt, "inbox record has " + std::to_string(f.size()) + " fields");
  }
  Event e;
  for (std::size_t i = 8; i + 1 < f.size(); i += 2) e.fields.emplace_back(f[i], f[i + 1]);
  e.kind = EventKind::message;
  e.id = f[0];
  e.from = f[1];
  e.chat = f[2];
  e.type = f[3];
  e.text = f[4];
  e.push_name = f[5];
  e.timestamp = std::strtoull(f[6].c_str(), nullptr, 10);
  e.from_me = f[7] == "1";
  return e;
}

signal::Address address_of(const Jid& j) { return signal::Address{j.user(), j.device()}; }

// A queued send: the Message bytes are built once and kept (in memory only) to answer retry receipts.
struct OutText {
  std::string to, id;
  Bytes content;
  std::string type = "text";  // the <message type> attribute
  std::string edit;           // the <message edit> attribute, when any
  std::string mediatype;      // the <enc mediatype> attribute, for media
};

// What decrypting one <message> did, computed on the database executor.
struct DecryptOutcome {
  Event ev;
  bool stored = false;      // a new message was persisted (inbox + seen hashes + Signal state)
  bool protocol = false;    // a protocol message (key share, ...): persisted state only
  std::optional<Error> decrypt_error;  // Signal could not decrypt: nothing changed, ask for a retry
  std::optional<Error> store_error;    // the store failed: nothing changed, do not ack
};

// Why a session ended, and what the run loop does next.
enum class End { lost, restart, logged_out, replaced, qr_exhausted, stopped };

}  // namespace

class Client;

struct Engine::Impl {
  Impl(store::Store& s, unsigned n, std::size_t slots) : store(s), io_threads(n == 0 ? 1 : n), gate(slots, std::min(slots, Engine::kConnectFloor)) {}

  store::Store& store;
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  net::thread_pool db{1};
  unsigned io_threads;
  std::vector<std::thread> threads;
  mutable std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<Client>> clients;

  // Clients with equal configurations share one copy (a gateway's numbers nearly always have the same: the
  // URL, the origin, the version, an extra CA of a few hundred bytes). Under mu.
  std::vector<std::weak_ptr<const ClientConfig>> configs;
  std::atomic<int> qr_loops{0};  // QR loops running (a registration in progress each)
  detail::ConnectGate gate;      // clients connecting at once (connect_gate.hpp)
  std::atomic<int> parked{0};    // connected clients waiting for their socket without a coroutine
  std::shared_ptr<const ClientConfig> intern(ClientConfig c) {
    if (std::all_of(c.trusted_root.begin(), c.trusted_root.end(), [](auto b) { return b == 0; })) {
      c.trusted_root = noise::kWhatsAppRootKey;
    }
    std::erase_if(configs, [](const auto& w) { return w.expired(); });
    for (const auto& w : configs) {
      auto p = w.lock();
      if (p && *p == c) return p;
    }
    auto p = std::make_shared<const ClientConfig>(std::move(c));
    configs.push_back(p);
    return p;
  }
  std::size_t config_copies() {
    std::lock_guard lock(mu);
    std::erase_if(configs, [](const auto& w) { return w.expired(); });
    return configs.size();
  }

  // One TLS client context per set of extra CAs (in practice one per process), shared by every client's
  // wss:// connection. A context holds the system trust store (read lazily where the system has a hashed CA
  // directory, crypto/trust.hpp; else about 100 ms and hundreds of KB up front), so a context per client made
  // restarting 1,000 numbers cost minutes and most of their memory. It also holds the pool of TLS session
  // tickets. A context may be shared by connections on several threads once it is set up.
  std::mutex tls_mu;
  std::map<std::string, std::shared_ptr<SSL_CTX>> tls;

  std::shared_ptr<SSL_CTX> tls_context(const std::string& extra_ca_pem) {
    std::lock_guard lock(tls_mu);
    auto& slot = tls[extra_ca_pem];
    if (!slot) {
      std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
      if (!ctx) return nullptr;
      SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
      crypto::trust_system_cas(SSL_CTX_get_cert_store(ctx.get()));  // read as handshakes need it
      crypto::trust_pem(SSL_CTX_get_cert_store(ctx.get()), extra_ca_pem);
      SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
      // OpenSSL's read and write buffers (about 33 KB per connection) are returned while a connection is
      // idle, which a linked number mostly is.
      SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
      detail::keep_tls_tickets(ctx.get());  // reconnections resume their TLS sessions (tls_client.hpp)
      slot = std::move(ctx);
    }
    return slot;
  }

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
  Client(Engine::Impl& eng, std::string id, std::shared_ptr<const ClientConfig> cfg, EventSink sink)
      : eng_(eng),
        id_(std::move(id)),
        cfg_(std::move(cfg)),
        sink_(std::move(sink)),
        strand_(net::make_strand(eng.ioc)),
        backoff_(strand_),
        keepalive_(strand_) {}

  void start() {
    net::post(strand_, [self = shared_from_this()] { self->take_turn(); });
  }

  // Runs a coroutine of this client on its strand; the handler keeps the client alive until it ends. An
  // exception (none is expected: errors are results) stops the client.
  void spawn(net::awaitable<void> a) {
    net::co_spawn(strand_, std::move(a), [self = shared_from_this()](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        self->emit(EventKind::error, std::string("client stopped by an exception: ") + ex.what());
      }
      self->stopped_ = true;
      if (self->tx_) self->tx_->close();
      self->done_ = true;
    });
  }

  void stop() {
    net::post(strand_, [self = shared_from_this()] {
      self->stopped_ = true;
      self->end_session(End::stopped);
      self->backoff_.cancel();
      self->give_up_turn();
    });
  }

  // Unlinks this device: tells the server when connected, then wipes the credentials like a 401 does.
  // Unlinks this device: when connected, tells the server and waits (up to 5 s) for its answer, so that the
  // request is not cut off by the close; then wipes the credentials like a 401 does.
  void logout() {
    net::post(strand_, [self = shared_from_this()] {
      self->logout_ = true;
      if (self->logged_in_ && self->creds_) {
        net::co_spawn(self->strand_, self->unlink(), net::detached);
        return;
      }
      self->end_session(End::logged_out, "logged out by request", 0);
      self->backoff_.cancel();
      self->give_up_turn();
    });
  }

  net::awaitable<void> unlink() {
    auto self = shared_from_this();
    Node device{"remove-companion-device", {{"reason", "user_initiated"}}, {}};
    if (auto me = Jid::parse(creds_->jid)) device.set_attr("jid", *me);
    Node req{"iq", {{"type", "set"}, {"xmlns", "md"}}, NodeList{std::move(device)}};
    auto r = co_await iq(std::move(req), std::chrono::milliseconds(5000));
    if (!r) emit(EventKind::error, "remove-companion-device: " + r.error().context());
    end_session(End::logged_out, "logged out by request", 0);
    backoff_.cancel();
  }

  void pair_phone(std::string phone) {
    net::post(strand_, [self = shared_from_this(), phone = std::move(phone)]() mutable {
      self->pairing().wanted_phone = std::move(phone);
      if (self->registering_) {
        net::co_spawn(self->strand_, self->send_link_code(self->gen_), net::detached);
      }
    });
  }

  bool done() const { return done_; }

  // The media hosts and upload auth, cached for the ttl the server gave (at most 5 minutes).
  void media_conn(std::function<void(Result<MediaConn>)> done) {
    net::post(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
      if (!self->logged_in_) return done(fail(errc::connection_lost, "not connected"));
      if (const Caches* c = self->caches_.get(); c && c->media_conn && std::chrono::steady_clock::now() < c->media_conn_until) {
        return done(*c->media_conn);
      }
      net::co_spawn(self->strand_, self->query_media_conn(std::move(done)), net::detached);
    });
  }

  net::awaitable<void> query_media_conn(std::function<void(Result<MediaConn>)> done) {
    auto self = shared_from_this();
    Node req = media_conn_iq();
    auto r = co_await iq(std::move(req), cfg_->iq_timeout);
    if (!r) co_return done(fail(r.error()));
    auto mc = parse_media_conn(*r);
    if (mc) {
      caches().media_conn = *mc;
      const auto ttl = std::clamp<std::uint32_t>(mc->ttl_seconds, 0, 300);
      caches().media_conn_until = std::chrono::steady_clock::now() + std::chrono::seconds(ttl);
    }
    done(std::move(mc));
  }

  void send_text(OutText m) {
    net::post(strand_, [self = shared_from_this(), m = std::move(m)]() mutable {
      self->sendq_.push_back(std::move(m));
      if (self->logged_in_) net::co_spawn(self->strand_, self->send_loop(self->gen_), net::detached);
    });
  }

  void send_receipt(std::string chat, std::string from, std::vector<std::string> ids, std::string type) {
    net::post(strand_, [self = shared_from_this(), chat = std::move(chat), from = std::move(from), ids = std::move(ids),
                        type = std::move(type)] {
      auto to = Jid::parse(chat);
      if (!to || ids.empty() || !self->logged_in_) return;
      Node r{"receipt", {{"id", ids[0]}, {"to", to->to_user()}, {"type", type}, {"t", std::to_string(unix_now())}}, {}};
      if (auto p = Jid::parse(from); p && p->user() != to->user()) r.set_attr("participant", *p);
      if (ids.size() > 1) {
        NodeList items;
        for (std::size_t i = 1; i < ids.size(); ++i) items.push_back(Node{"item", {{"id", ids[i]}}, {}});
        r.content = NodeList{Node{"list", {}, std::move(items)}};
      }
      self->send(r);
    });
  }

  void send_presence(std::string type) {
    net::post(strand_, [self = shared_from_this(), type = std::move(type)] {
      if (!self->logged_in_ || (type != "available" && type != "unavailable")) return;
      Node p{"presence", {{"type", type}}, {}};
      if (!self->creds_->push_name.empty()) p.set_attr("name", self->creds_->push_name);
      self->send(p);
    });
  }

  void subscribe_presence(std::string jid) {
    net::post(strand_, [self = shared_from_this(), jid = std::move(jid)] {
      auto j = parse_recipient(jid);
      if (!self->logged_in_ || !j) return;
      self->send(Node{"presence", {{"type", "subscribe"}, {"to", *j}}, {}});
    });
  }

  void send_chatstate(std::string to, std::string state) {
    net::post(strand_, [self = shared_from_this(), to = std::move(to), state = std::move(state)] {
      auto j = parse_recipient(to);
      if (!self->logged_in_ || !j) return;
      if (state != "composing" && state != "recording" && state != "paused") return;
      Node inner{state == "recording" ? "composing" : state, {}, {}};
      if (state == "recording") inner.set_attr("media", "audio");
      auto me = Jid::parse(self->creds_->jid);
      Node c{"chatstate", {{"to", *j}}, NodeList{std::move(inner)}};
      if (me) c.set_attr("from", *me);
      self->send(c);
    });
  }

  void inbox_done(std::string key) {
    net::post(eng_.db, [self = shared_from_this(), key = std::move(key)] {
      if (auto st = self->eng_.store.remove(self->id_, store::Table::inbox, key); !st) {
        net::post(self->strand_, [self, e = st.error().context()] { self->emit(EventKind::error, "inbox_done: " + e); });
      }
    });
  }

 private:
  // ---------------------------------------------------------------------------------------------
  // Sessions separated by backoff. A connected session holds no coroutine: its socket's wait (arm_read)
  // spawns drain() for what arrived, and drain() arms the wait again when the socket has nothing more (an
  // idle number held a chain of eight coroutine frames, about 3 KB, before). When a session ends,
  // finish_session() spawns cycle() with why: what follows it (events, the wipe of a logged-out device,
  // backoff) and the next session.
  // holding: the next session's connect slot is held (take_turn()); without it, the cycle queues for one and
  // ends, and the turn starts a new cycle holding it.
  net::awaitable<void> cycle(std::optional<End> ended, bool holding = false) {
    for (;;) {
      if (ended) {
        const End end = *ended;
        ended.reset();
        fail_pending();
        if (logged_in_) {
          logged_in_ = false;
          emit(EventKind::disconnected, end_text_, {}, end_code_);
        }
        registering_ = false;
        if (stopped_ || (end == End::stopped && !logout_)) break;
        if (end == End::logged_out || logout_) {
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
        } else {
          // Capped exponential backoff with jitter: a uniform delay in [d/2, d], d = min(cap, base * 2^attempt).
          const auto base = cfg_->backoff_base.count();
          const auto cap = cfg_->backoff_cap.count();
          long long d = base;
          for (int i = 0; i < attempt_ && d < cap; ++i) d *= 2;
          d = std::min<long long>(d, cap);
          ++attempt_;
          std::uint64_t r = 0;  // from the per-thread random block: no generator state kept per client
          crypto::random_bytes(reinterpret_cast<std::uint8_t*>(&r), sizeof r);
          backoff_.expires_after(std::chrono::milliseconds(d / 2 + static_cast<long long>(r % static_cast<std::uint64_t>(d / 2 + 1))));
          co_await backoff_.async_wait(use_nothrow);
        }
      }
      if ((stopped_ || logout_) && std::exchange(holding, false)) eng_.gate.leave();
      if (stopped_) break;
      if (logout_) {
        ended = End::logged_out;
        continue;
      }
      if (!std::exchange(holding, false)) {
        take_turn();
        co_return;
      }
      ended = co_await open_session();
      if (!ended) co_return;  // connected: the socket's wait carries the session from here
    }
    done_ = true;
  }

  // One connection up to its read loop: TCP connect, TLS, websocket, Noise. nullopt: connected, and drain()
  // runs; else why it ended before that. What comes before the read loop runs in coroutines of its own: GCC
  // gives every local of a coroutine a slot in its frame.
  // Called holding a connect slot, which it leaves: it is taken before the credentials are loaded, so that a
  // restart's loads wait in the gate's queue, not as 1,000 suspended coroutines in the database's.
  net::awaitable<std::optional<End>> open_session() {
    const std::uint64_t gen = ++gen_;
    end_ = End::lost;
    end_text_ = "connection lost";
    end_code_ = 0;
    ended_ = false;
    std::optional<End> unconnected = co_await prepare();
    if (!unconnected) unconnected = co_await connect_and_handshake();
    eng_.gate.leave(detail::ConnectGate::Clock::now());  // an attempt completed: the gate adapts to their rate
    if (unconnected) co_return *unconnected;
    schedule_keepalive(gen);
    spawn(drain(gen));  // what came with the handshake's last packet, then the wait
    co_return std::nullopt;
  }

  // Every stanza that can be read without waiting, handled in order; then the socket's wait is armed again.
  // A frame that does not decrypt, a framing or socket error, or end_session() ends the session.
  net::awaitable<void> drain(std::uint64_t gen) {
    if (gen != gen_) co_return;
    for (;;) {
      auto frame = co_await next_frame(true);
      if (!frame) {
        if (!ended_) end_text_ = frame.error().context();
        break;
      }
      if (!*frame) {
        arm_read(gen);
        co_return;
      }
      auto plain = ciphers_.recv.decrypt(**frame);
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
    finish_session();
  }

  // The idle wait: a plain handler on the socket (about 150 B) instead of a suspended coroutine chain.
  void arm_read(std::uint64_t gen) {
    ++eng_.parked;
    tx_->async_wait_readable([self = shared_from_this(), gen](error_code) {
      --self->eng_.parked;
      if (gen != self->gen_) return;  // an old session's socket
      self->spawn(self->drain(gen));  // data, or the error the read reports
    });
  }

  // The end of a connected session: the socket closed, background work of the session stopped, and the
  // cycle goes on with why it ended.
  void finish_session() {
    if (tx_) tx_->close();
    keepalive_.cancel();
    ++gen_;  // background coroutines of this session stop
    stop_qr();
    spawn(cycle(end_));
  }

  // Every session waits for its turn to connect (connect_gate.hpp) without a coroutine: a restart, or a
  // reconnection storm after an outage, queues every number at once, and each waiting chain (cycle,
  // open_session, the wait for the slot) held about 1.5 KB, the credentials' load another 1.5 KB when it came
  // first (docs/benchmarks.md, session 11). With the slot, a cycle starts holding it.
  void take_turn() {
    turn_ = eng_.gate.enter(turn_waker());
    if (!turn_) spawn(cycle(std::nullopt, true));
  }
  // What the gate calls (on the leaving client's thread) when the slot passes to this client.
  std::function<void()> turn_waker() {
    return [w = weak_from_this()] {
      if (auto self = w.lock()) net::post(self->strand_, [self] { self->on_turn(); });
    };
  }
  void on_turn() {
    auto ticket = std::move(turn_);
    if (!ticket) return;  // given up (stop, logout) before the wake-up ran
    if (!eng_.gate.granted_or_withdraw(ticket)) {
      take_turn();  // woken without the slot: queue again (at the back)
      return;
    }
    spawn(cycle(std::nullopt, true));
  }
  // stop() or logout() while queued: out of the queue (leaving the slot if it had just passed here), and the
  // cycle runs to wind the client down as it would after any session.
  void give_up_turn() {
    auto ticket = std::move(turn_);
    if (!ticket) return;
    if (eng_.gate.granted_or_withdraw(ticket)) eng_.gate.leave();
    spawn(cycle(std::nullopt));
  }

  // The credentials (loaded, or made for a new device) and, once per client, the inbox replayed. nullopt:
  // go on; else the session ends so.
  net::awaitable<std::optional<End>> prepare() {
    if (creds_ && inbox_replayed_) co_return std::nullopt;
    // One trip to the database thread for both: the credentials (unless loaded before) and the messages
    // persisted but not yet taken by the consumer (a crash between the two), emitted again.
    struct Loaded {
      std::optional<Result<store::Credentials>> creds;
      std::optional<Result<std::vector<std::pair<std::string, Bytes>>>> pending;
    };
    auto job = [this, id = id_, need_creds = !creds_, need_inbox = !inbox_replayed_]() -> Loaded {
      Loaded out;
      if (need_creds) out.creds = load_or_create(id);
      if (need_inbox) {
        out.pending = [&]() -> Result<std::vector<std::pair<std::string, Bytes>>> {
          std::vector<std::pair<std::string, Bytes>> found;
          WA_TRY(auto keys, eng_.store.keys(id, store::Table::inbox, ""));
          for (auto& k : keys) {
            WA_TRY(auto v, eng_.store.get(id, store::Table::inbox, k));
            if (v) found.emplace_back(k, std::move(*v));
          }
          return found;
        }();
      }
      return out;
    };
    auto loaded = *co_await eng_.on_db(std::move(job));
    if (loaded.creds) {
      if (!*loaded.creds) {
        end_text_ = "store: " + loaded.creds->error().context();
        emit(EventKind::error, end_text_);
        co_return End::lost;
      }
      creds_ = std::make_shared<store::Credentials>(std::move(**loaded.creds));
    }
    if (loaded.pending) {
      inbox_replayed_ = true;
      if (*loaded.pending) {
        for (auto& [k, v] : **loaded.pending) {
          auto ev = decode_inbound(v);
          if (!ev) {
            emit(EventKind::error, "inbox record " + k + ": " + ev.error().context());
            continue;
          }
          ev->inbox_key = k;
          emit(std::move(*ev));
        }
      }
    }
    co_return std::nullopt;
  }

  // On the database thread: the device's credentials, or a new device's, created once and kept before anything
  // is sent.
  Result<store::Credentials> load_or_create(const std::string& id) {
    WA_TRY(auto c, eng_.store.load_credentials(id));
    if (c) return std::move(*c);
    NewDevice d = new_device(id, unix_now());
    WA_TRY_STATUS(eng_.store.transaction([&]() -> Status {
      WA_TRY_STATUS(eng_.store.put(id, store::Table::signed_prekey, std::to_string(d.creds.signed_prekey_id),
                                   d.signed_prekey_record));
      return eng_.store.save_credentials(d.creds);
    }));
    return std::move(d.creds);
  }

  // TCP (and TLS), the websocket upgrade and the Noise handshake under one deadline; on success tx_ and
  // ciphers_ are this connection's. nullopt: connected; else the session ends so (end_text_ says why).
  net::awaitable<std::optional<End>> connect_and_handshake() {
    auto url = parse_ws_url(cfg_->url);
    if (!url) {
      end_text_ = url.error().context();
      emit(EventKind::error, end_text_);
      co_return End::stopped;
    }
    if (url->tls) {
      ssl_ = eng_.tls_context(cfg_->extra_ca_pem);
      if (!ssl_) {
        end_text_ = std::string("TLS context: ") + ERR_error_string(ERR_get_error(), nullptr);
        emit(EventKind::error, end_text_);
        co_return End::stopped;
      }
    }
    tx_ = std::make_shared<WsClient>(strand_, ssl_.get());
    auto tx = tx_;
    // Everything up to the end of the Noise handshake runs under one deadline.
    net::steady_timer watchdog(strand_, cfg_->connect_timeout);
    watchdog.async_wait([tx](error_code ec) {
      if (!ec) tx->close();
    });
    if (auto st = co_await tx->connect(*url, cfg_->origin); !st) {
      end_text_ = "connect: " + st.error().context();
      co_return end_;
    }
    if (ended_) co_return end_;
    // Noise XX: header + ClientHello in one message, ServerHello, ClientFinish with our ClientPayload.
    noise::Initiator init(noise::InitiatorConfig{kDict, crypto::KeyPair{creds_->noise_priv, creds_->noise_pub},
                                                 cfg_->trusted_root, {}, std::nullopt});
    reader_ = wire::FrameReader(wire::FrameReader::Role::client);
    {
      const auto header = wire::connection_header(kDict);
      Bytes first(header.begin(), header.end());
      (void)wire::append_frame(first, init.client_hello());
      if (auto st = co_await tx->write(first); !st) {
        end_text_ = "write: " + st.error().context();
        co_return end_;
      }
    }
    auto hello = co_await next_frame(false);
    if (!hello) {
      end_text_ = "handshake: " + hello.error().context();
      co_return end_;
    }
    const bool registered = creds_->registered();
    Bytes payload;
    if (registered) {
      auto p = login_payload(*creds_, cfg_->version);
      if (!p) co_return End::stopped;
      payload = std::move(*p);
    } else {
      payload = registration_payload(*creds_, cfg_->version);
    }
    auto finish = init.on_server_hello(**hello, payload);
    if (!finish) {
      // An untrusted server is not retried quickly: backoff as for any lost connection.
      end_text_ = "server handshake: " + finish.error().message() + " " + finish.error().context();
      emit(EventKind::error, end_text_);
      co_return end_;
    }
    {
      Bytes out;
      (void)wire::append_frame(out, *finish);
      if (auto st = co_await tx->write(out); !st) {
        end_text_ = "write: " + st.error().context();
        co_return end_;
      }
    }
    auto ciphers = init.finish();
    if (!ciphers) co_return end_;
    ciphers_ = std::move(*ciphers);
    // Frames of the previous session (encrypted with its keys) must never reach this socket.
    outq_.clear();
    writing_ = false;
    watchdog.cancel();
    registering_ = !registered;
    co_return std::nullopt;
  }


  // The next frame from the socket (handshake or transport), reading websocket messages as needed. With
  // may_park, nullopt when the socket has nothing more now and the session is idle; never while logging in
  // or while an iq awaits its answer: more is expected at once, so it waits in this coroutine (parking and
  // waking for each of a login's bursts made a restart of 1,000 numbers about 10 % slower).
  net::awaitable<Result<std::optional<Bytes>>> next_frame(bool may_park) {
    for (;;) {
      auto f = reader_.next();
      if (!f) co_return fail(errc::connection_lost, "framing: " + f.error().message());
      if (*f) co_return std::optional<Bytes>(std::move(**f));
      if (ended_) co_return fail(errc::connection_lost, end_text_);
      ByteView data;
      bool blocked = false;
      const bool expecting = !may_park || !logged_in_ || awaiting_answer();
      if (auto st = co_await tx_->read(data, expecting ? nullptr : &blocked); !st) {
        co_return fail(errc::connection_lost, "read: " + st.error().context());
      }
      if (blocked) co_return std::optional<Bytes>();
      auto fed = reader_.feed(data);
      if (!fed) co_return fail(errc::connection_lost, "framing: " + fed.error().message());
    }
  }

  // Ends the current session (drain() sees it: the socket's wait fails once closed); the first reason wins.
  void end_session(End why, std::string text = {}, int code = 0) {
    if (!ended_) {
      ended_ = true;
      end_ = why;
      if (!text.empty()) end_text_ = std::move(text);
      end_code_ = code;
    }
    keepalive_.cancel();
    stop_qr();
    if (tx_) tx_->close();
  }

  // The QR refs and the loop that shows them are only for a registration in progress: once it ends (paired,
  // or the session ended) they go at once instead of when the QR timer (up to a minute) fires.
  void stop_qr() {
    std::vector<std::string>().swap(refs_);
    if (qr_wait_) qr_wait_->cancel();
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

  net::awaitable<void> write_loop(std::shared_ptr<WsClient> tx, std::uint64_t gen) {
    auto self = shared_from_this();
    while (!outq_.empty() && gen == gen_) {
      Bytes b = std::move(outq_.front());
      outq_.pop_front();
      if (auto st = co_await tx->write(b); !st) {
        if (gen == gen_) end_session(End::lost, "write: " + st.error().context());
        break;
      }
    }
    // A writer of an ended session leaves the queue alone: it belongs to the next session now.
    if (gen == gen_) writing_ = false;
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
    unpend(id);
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

  // An iq or a message ack whose answer has not come (one that has, but whose waiter has not run yet, does
  // not count: the keepalive's pong would otherwise keep the reader in its coroutine until the next stanza).
  bool awaiting_answer() const {
    return std::any_of(pending_.begin(), pending_.end(), [](const auto& kv) { return !kv.second->answer; });
  }

  // An idle client holds no bucket array (104 B once the first iq had made one).
  void unpend(const std::string& key) {
    pending_.erase(key);
    if (pending_.empty()) decltype(pending_)().swap(pending_);
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
    if (n.tag == "message" && logged_in_) co_return co_await on_message(n, gen);
    if (n.tag == "receipt" && logged_in_) co_return on_receipt(n);
    if (n.tag == "ack") co_return on_ack(n);
    if (n.tag == "presence" || n.tag == "chatstate") co_return on_presence(n);
    if (n.tag == "ib" && logged_in_) co_return on_ib(n);
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
      if (wants_phone()) {
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
      if (reg != nullptr && reg->attr_string("stage") == "primary_hello" && pairing_ && pairing_->link_code) {
        co_await finish_link_code(*reg, gen);
      }
      co_return;
    }
    send(ack);
    if (type == "devices") {
      if (const Jid* from = n.attr_jid("from"); from != nullptr && caches_) caches_->devices.erase(from->user());
    }
    if (type == "w:gp2") on_group_notification(n);
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
    qr_wait_ = &t;
    ++eng_.qr_loops;
    bool shown_all = true;
    for (std::size_t i = 0;; ++i) {
      if (gen != gen_ || ended_ || !registering_ || wants_phone()) {
        shown_all = false;
        break;
      }
      if (i >= refs_.size()) break;
      emit(EventKind::qr, qr_string(refs_[i], *creds_));
      t.expires_after(i == 0 ? cfg_->qr_first : cfg_->qr_next);
      co_await t.async_wait(use_nothrow);
    }
    if (qr_wait_ == &t) qr_wait_ = nullptr;
    --eng_.qr_loops;
    if (shown_all) end_session(End::qr_exhausted, "QR codes expired");
  }

  net::awaitable<void> send_link_code(std::uint64_t gen) {
    auto self = shared_from_this();
    if (gen != gen_ || !registering_ || !wants_phone()) co_return;
    const std::string phone = *pairing_->wanted_phone;
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
    pairing().link_code = std::move(made->first);
    Node req = iq_node("md", "set", NodeList{std::move(made->second)});
    auto r = co_await iq(std::move(req), cfg_->iq_timeout);
    if (gen != gen_) co_return;
    if (!r) {
      emit(EventKind::error, "pairing code refused: " + r.error().context());
      co_return;
    }
    emit(EventKind::pair_code, pairing().link_code->code);
  }

  net::awaitable<void> finish_link_code(const Node& hello, std::uint64_t gen) {
    const LinkCode lc = *pairing_->link_code;
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
    edit_creds().adv_secret = fin->adv_secret;
    net::co_spawn(strand_, [self = shared_from_this(), reg = std::move(fin->reg), gen]() -> net::awaitable<void> {
      Node req = iq_node("md", "set", NodeList{reg});
      auto r = co_await self->iq(std::move(req), self->cfg_->iq_timeout);
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
    creds_ = std::make_shared<store::Credentials>(std::move(updated));
    pairing_.reset();
    registering_ = false;
    stop_qr();
    send_iq_result(iq_node, NodeList{std::move(r->reply)});
    emit(EventKind::paired, creds_->jid, creds_->lid);
  }

  // ---------------------------------------------------------------------------------------------
  // Receiving: decrypt, persist (Signal state + inbox + ciphertext hash in one transaction), then
  // emit, receipt and ack. A store failure leaves the message unacknowledged for redelivery.
  net::awaitable<void> on_message(const Node& n, std::uint64_t gen) {
    const Jid* from = n.attr_jid("from");
    const std::string id(n.attr_string("id").value_or(""));
    if (from == nullptr || id.empty()) co_return;
    // Broadcasts and newsletters are not handled yet: left queued on the server, not lost.
    const bool in_group = from->server() == Server::group;
    if (from->server() != Server::user && !in_group) co_return;
    const Jid* participant = n.attr_jid("participant");
    if (in_group && (participant == nullptr || participant->server() != Server::user)) co_return;
    const Jid author = in_group ? *participant : *from;  // the sending device
    auto me = Jid::parse(creds_->jid);
    if (!me) co_return;
    // type, ciphertext, padded; skmsg (sender-key) ciphertexts are marked by nullopt type.
    std::vector<std::tuple<std::optional<signal::MessageType>, Bytes, bool>> encs;
    for (const Node& c : n.children()) {
      if (c.tag != "enc") continue;
      const auto t = c.attr_string("type").value_or("");
      const auto d = c.data();
      if (!d || (t != "msg" && t != "pkmsg" && !(t == "skmsg" && in_group))) continue;
      std::optional<signal::MessageType> type;
      if (t != "skmsg") type = t == "pkmsg" ? signal::MessageType::pkmsg : signal::MessageType::msg;
      encs.emplace_back(type, Bytes(d->begin(), d->end()), c.attr_string("v") != "3");
    }
    const std::string category(n.attr_string("category").value_or(""));
    Node ack{"ack", {{"id", id}, {"to", *from}, {"class", "message"}}, {}};
    if (in_group) ack.set_attr("participant", author);
    if (encs.empty()) {
      send(ack);
      co_return;
    }
    Event ev;
    ev.kind = EventKind::message;
    ev.id = id;
    ev.from = author.to_string();
    ev.chat = in_group ? from->to_string() : from->to_user().to_string();
    ev.push_name = std::string(n.attr_string("notify").value_or(""));
    ev.timestamp = std::strtoull(std::string(n.attr_string("t").value_or("0")).c_str(), nullptr, 10);
    ev.from_me = author.user() == me->user();
    if (const Jid* recipient = n.attr_jid("recipient"); recipient != nullptr && ev.from_me && !in_group) {
      ev.chat = recipient->to_user().to_string();
    }
    // The LIDs the server names on a PN-addressed stanza (sender_lid, participant_lid, recipient_lid): kept
    // with the message as "sender_lid" (the author) and "chat_lid" (the peer of a 1:1 chat).
    std::vector<std::pair<std::string, std::string>> lids;
    {
      auto lid_of = [&n](std::string_view attr) -> std::string {
        const Jid* j = n.attr_jid(attr);
        return j != nullptr && j->server() == Server::lid ? j->to_user().to_string() : std::string();
      };
      std::string sender_lid = lid_of(in_group ? "participant_lid" : "sender_lid");
      if (sender_lid.empty() && ev.from_me && !creds_->lid.empty()) {
        if (auto own = Jid::parse(creds_->lid)) sender_lid = own->to_user().to_string();
      }
      std::string chat_lid;
      if (!in_group) chat_lid = ev.from_me ? lid_of("recipient_lid") : lid_of("sender_lid");
      if (!sender_lid.empty()) lids.emplace_back("sender_lid", std::move(sender_lid));
      if (!chat_lid.empty()) lids.emplace_back("chat_lid", std::move(chat_lid));
    }
    const auto creds = creds_snapshot();  // shared, not copied per job
    const signal::Address sender = address_of(author);
    const std::string group = in_group ? from->to_string() : std::string();
    auto job = [this, creds, sender, encs, ev, group, lids]() -> DecryptOutcome {
      DecryptOutcome out;
      out.ev = ev;
      bool fresh = false;
      auto st = eng_.store.transaction([&]() -> Status {
        detail::DeviceSignalStore ss(eng_.store, *creds);
        signal::SignalProtocol sp(ss);
        for (const auto& [type, data, padded] : encs) {
          const std::string hash = to_hex(crypto::sha256(data));
          WA_TRY(auto seen, eng_.store.get(creds->device_id, store::Table::seen_ciphertext, hash));
          if (seen) continue;  // decrypted before (a redelivery): never again
          auto plain = type ? sp.decrypt(sender, *type, data) : sp.group_decrypt(group, sender, data);
          if (ss.failed()) return fail(*ss.failed());
          if (!plain) {
            out.decrypt_error = plain.error();
            return plain.error();
          }
          const auto body = padded ? unpad(*plain) : std::optional<ByteView>(*plain);
          const Inbound in = parse_message(body ? *body : ByteView(*plain));
          WA_TRY_STATUS(eng_.store.put(creds->device_id, store::Table::seen_ciphertext, hash, as_bytes(out.ev.id)));
          // A sender-key distribution (1:1 encrypted) lets us read the author's skmsg in that group.
          if (!group.empty() && !in.sender_key_distribution.empty()) {
            WA_TRY_STATUS(sp.process_sender_key_distribution(group, sender, in.sender_key_distribution));
          }
          if (in.kind.empty()) continue;  // nothing but the key
          fresh = true;
          if (in.protocol) {
            out.protocol = true;
            continue;
          }
          out.ev.type = in.kind;
          out.ev.text = in.text;
          out.ev.fields = in.fields;
          out.ev.fields.insert(out.ev.fields.end(), lids.begin(), lids.end());
          if (in.device_sent) {
            out.ev.from_me = true;
            if (!in.destination.empty()) out.ev.chat = in.destination;
          }
        }
        if (fresh && !out.protocol) {
          char ts[24];
          std::snprintf(ts, sizeof ts, "%020llu", static_cast<unsigned long long>(out.ev.timestamp));
          out.ev.inbox_key = std::string(ts) + "-" + out.ev.id;
          WA_TRY_STATUS(eng_.store.put(creds->device_id, store::Table::inbox, out.ev.inbox_key, encode_inbound(out.ev)));
        }
        return ok();
      });
      if (!st && !out.decrypt_error) out.store_error = st.error();
      out.stored = st.has_value() && fresh && !out.protocol;
      return out;
    };
    auto outcome = *co_await eng_.on_db(std::move(job));
    if (gen != gen_) co_return;
    if (outcome.store_error) {
      // Not acknowledged: the server redelivers it on the next connection.
      emit(EventKind::error, "storing message " + id + " failed: " + outcome.store_error->context());
      end_session(End::lost, "store failure");
      co_return;
    }
    if (outcome.decrypt_error) {
      emit(EventKind::error, "cannot decrypt " + id + " from " + from->to_string() + ": " + outcome.decrypt_error->message());
      Bytes reg = detail::be(creds_->registration_id, 4);
      Node retry{"receipt", {{"id", id}, {"type", "retry"}, {"to", *from}},
                 NodeList{Node{"retry", {{"count", "1"}, {"id", id}, {"t", std::to_string(ev.timestamp)}, {"v", "1"}}, {}},
                          Node{"registration", {}, std::move(reg)}}};
      if (in_group) retry.set_attr("participant", author);
      send(retry);
      send(ack);
      co_return;
    }
    if (outcome.stored) emit(outcome.ev);
    // Delivery receipt (for our own other devices: "sender"; for the phone's peer messages: "peer_msg"), then the ack.
    Node receipt{"receipt", {{"id", id}, {"to", *from}}, {}};
    if (in_group) receipt.set_attr("participant", author);
    if (category == "peer") {
      receipt.set_attr("type", "peer_msg");
    } else if (ev.from_me) {
      receipt.set_attr("type", "sender");
      if (auto chat = Jid::parse(outcome.ev.chat); chat && !outcome.ev.chat.empty() && !in_group) receipt.set_attr("recipient", *chat);
    }
    send(receipt);
    send(ack);
  }

  void on_receipt(const Node& n) {
    const Jid* from = n.attr_jid("from");
    const std::string id(n.attr_string("id").value_or(""));
    if (from == nullptr || id.empty()) return;
    const std::string type(n.attr_string("type").value_or(""));
    Node ack{"ack", {{"id", id}, {"to", *from}, {"class", "receipt"}}, {}};
    if (!type.empty()) ack.set_attr("type", type);
    if (type == "retry") {
      send(ack);
      const Node* retry = n.child("retry");
      const int count = retry == nullptr ? 1 : std::atoi(std::string(retry->attr_string("count").value_or("1")).c_str());
      auto it = recent_sent_.find(id);
      if (it == recent_sent_.end()) {
        emit(EventKind::error, "retry receipt for " + id + " from " + from->to_string() + ": content no longer kept");
      } else if (count <= 5) {
        net::co_spawn(strand_, resend(it->second, *from, count, gen_), net::detached);
      }
      return;
    }
    Event ev;
    ev.kind = EventKind::receipt;
    ev.id = id;
    ev.ids.push_back(id);
    if (const Node* list = n.child("list")) {
      for (const Node& item : list->children()) {
        if (auto i = item.attr_string("id")) ev.ids.emplace_back(*i);
      }
    }
    // In a group the reader is the participant and the chat is the group.
    const Jid* participant = n.attr_jid("participant");
    const bool in_group = from->server() == Server::group && participant != nullptr;
    const Jid reader = in_group ? *participant : *from;
    ev.from = reader.to_string();
    ev.chat = in_group ? from->to_string() : from->to_user().to_string();
    if (const Jid* recipient = n.attr_jid("recipient"); recipient != nullptr && !in_group) ev.chat = recipient->to_user().to_string();
    ev.type = type.empty() || type == "inactive" ? "delivery" : type;
    ev.timestamp = std::strtoull(std::string(n.attr_string("t").value_or("0")).c_str(), nullptr, 10);
    if (auto me = Jid::parse(creds_->jid)) ev.from_me = reader.user() == me->user();
    if (in_group) ack.set_attr("participant", reader);
    emit(std::move(ev));
    send(ack);
  }

  // <ib>: the server's informational stanzas. <offline count="N"/> closes the queue of what came while this
  // device was away; stanzas are handled one at a time, in order, so all of it has been (messages persisted,
  // receipts reported) when the event goes out.
  void on_ib(const Node& n) {
    const Node* offline = n.child("offline");
    if (offline == nullptr) return;
    Event ev;
    ev.kind = EventKind::offline_drained;
    ev.count = static_cast<std::size_t>(std::strtoull(std::string(offline->attr_string("count").value_or("0")).c_str(), nullptr, 10));
    emit(std::move(ev));
  }

  void on_presence(const Node& n) {
    const Jid* from = n.attr_jid("from");
    if (from == nullptr) return;
    Event ev;
    ev.from = from->to_user().to_string();
    ev.chat = ev.from;
    if (const Jid* participant = n.attr_jid("participant")) ev.from = participant->to_user().to_string();
    if (n.tag == "presence") {
      ev.kind = EventKind::presence;
      ev.type = n.attr_string("type") == "unavailable" ? "unavailable" : "available";
      ev.timestamp = std::strtoull(std::string(n.attr_string("last").value_or("0")).c_str(), nullptr, 10);
    } else {
      if (n.children().empty()) return;
      const Node& s = n.children()[0];
      ev.kind = EventKind::chatstate;
      ev.type = s.tag == "composing" && s.attr_string("media") == "audio" ? "recording" : s.tag;
    }
    emit(std::move(ev));
  }

  void on_ack(const Node& n) {
    if (n.attr_string("class") != "message") return;
    auto it = pending_.find("ack:" + std::string(n.attr_string("id").value_or("")));
    if (it != pending_.end()) {
      it->second->answer = n;
      it->second->timer.cancel();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Sending: one message at a time, in order, each keeping its id through retries and reconnects.
  net::awaitable<void> send_loop(std::uint64_t gen) {
    auto self = shared_from_this();
    if (send_running_) co_return;
    send_running_ = true;
    int transient = 0;
    while (gen == gen_ && logged_in_ && !sendq_.empty()) {
      const OutText m = sendq_.front();
      auto r = co_await send_one(m, gen);
      if (gen != gen_) break;  // the connection went away: the message stays first in line
      if (r) {
        sendq_.pop_front();
        transient = 0;
        // Kept in memory (the last 1000) to answer retry receipts; never written to disk.
        recent_sent_[m.id] = m;
        recent_order_.push_back(m.id);
        if (recent_order_.size() > 1000) {
          recent_sent_.erase(recent_order_.front());
          recent_order_.pop_front();
        }
        Event ev;
        ev.kind = EventKind::sent;
        ev.id = m.id;
        ev.chat = m.to;
        emit(std::move(ev));
        continue;
      }
      const bool permanent = r.error().code() == core::errc::invalid_argument || r.error().code() == errc::iq_error;
      if (permanent || ++transient >= 3) {
        sendq_.pop_front();
        transient = 0;
        Event ev;
        ev.kind = EventKind::send_failed;
        ev.id = m.id;
        ev.chat = m.to;
        ev.text = r.error().message() + ": " + r.error().context();
        emit(std::move(ev));
      }
    }
    send_running_ = false;
  }

  // Device lists of users (digits -> devices), from the cache (5 minutes) or usync.
  net::awaitable<Result<std::map<std::string, std::vector<std::uint16_t>>>> devices_of(std::vector<Jid> users) {
    std::map<std::string, std::vector<std::uint16_t>> out;
    std::vector<Jid> ask;
    const auto now = std::chrono::steady_clock::now();
    for (const auto& u : users) {
      auto it = caches().devices.find(u.user());
      if (it != caches().devices.end() && now - it->second.second < std::chrono::minutes(5)) {
        out[u.user()] = it->second.first;
      } else {
        ask.push_back(u);
      }
    }
    if (!ask.empty()) {
      Node req = usync_devices_iq(ask);
      auto r = co_await iq(std::move(req), cfg_->iq_timeout);
      if (!r) co_return fail(r.error());
      auto parsed = parse_usync_devices(*r);
      if (!parsed) co_return fail(parsed.error());
      for (auto& [user, devs] : *parsed) {
        caches().devices[user] = {devs, now};
        out[user] = devs;
      }
    }
    co_return out;
  }

  // Answers a retry receipt: a fresh session with that one device (new bundle), the same content
  // re-encrypted under the same id, sent to that device only (device_fanout="false").
  net::awaitable<void> resend(OutText m, Jid target, int count, std::uint64_t gen) {
    auto self = shared_from_this();
    auto me = Jid::parse(creds_->jid);
    auto to = parse_recipient(m.to);
    if (!me || !to) co_return;
    const Jid to_user = *to;
    const bool own = target.user() == me->user();
    Node req = prekey_fetch_iq({target});
    auto r = co_await iq(std::move(req), cfg_->iq_timeout);
    if (gen != gen_) co_return;
    auto bundles = r ? parse_bundles(*r) : Result<std::vector<std::pair<Jid, signal::PreKeyBundle>>>(fail(r.error()));
    if (!bundles || bundles->empty()) {
      emit(EventKind::error, "retry for " + m.id + ": no bundle for " + target.to_string());
      co_return;
    }
    const auto creds = creds_snapshot();  // shared, not copied per job
    const Bytes& content = m.content;
    const Bytes plain = own ? device_sent_message(to_user.to_string(), content) : content;
    auto job = [this, creds, bundles = *bundles, target, plain]() -> Result<signal::Ciphertext> {
      Result<signal::Ciphertext> out = fail(errc::bad_stanza, "not encrypted");
      WA_TRY_STATUS(eng_.store.transaction([&]() -> Status {
        detail::DeviceSignalStore ss(eng_.store, *creds);
        signal::SignalProtocol sp(ss);
        WA_TRY_STATUS(sp.process_bundle(address_of(target), bundles[0].second));
        WA_TRY(auto c, sp.encrypt(address_of(target), pad(plain)));
        if (ss.failed()) return fail(*ss.failed());
        out = std::move(c);
        return ok();
      }));
      return out;
    };
    auto enc = *co_await eng_.on_db(std::move(job));
    if (gen != gen_) co_return;
    if (!enc) {
      emit(EventKind::error, "retry for " + m.id + ": " + enc.error().context());
      co_return;
    }
    NodeList children{Node{"participants", {},
                           NodeList{Node{"to", {{"jid", target}},
                                         NodeList{Node{"enc",
                                                       {{"v", "2"},
                                                        {"type", enc->type == signal::MessageType::pkmsg ? "pkmsg" : "msg"},
                                                        {"count", std::to_string(count)}},
                                                       std::move(enc->data)}}}}}};
    if (enc->type == signal::MessageType::pkmsg) children.push_back(Node{"device-identity", {}, creds->account});
    Node stanza{"message", {{"id", m.id}, {"to", to_user}, {"type", m.type}, {"device_fanout", "false"}}, std::move(children)};
    if (!m.edit.empty()) stanza.set_attr("edit", m.edit);
    send(stanza);
  }

  // ---------------------------------------------------------------------------------------------
  // Groups.
  // Members of a group (user JIDs), from the cache (5 minutes, dropped on a w:gp2 notification) or a w:g2 query.
  net::awaitable<Result<std::vector<Jid>>> group_members(const Jid& group) {
    auto self = shared_from_this();
    const std::string gid = group.to_string();
    const auto now = std::chrono::steady_clock::now();
    if (auto it = caches().groups.find(gid); it != caches().groups.end() && now - it->second.second < std::chrono::minutes(5)) {
      co_return it->second.first;
    }
    GroupAction a;
    a.group = gid;
    Node req = group_iq(a);
    auto r = co_await iq(std::move(req), cfg_->iq_timeout);
    if (!r) co_return fail(r.error());
    auto outcome = parse_group_outcome(a, *r);
    if (!outcome) co_return fail(outcome.error());
    std::vector<Jid> members;
    for (const auto& mem : outcome->info.members) {
      if (auto j = Jid::parse(mem.jid)) members.push_back(j->to_user());
    }
    caches().groups[gid] = {members, now};
    co_return members;
  }

  // Sends the head message to a group: the sender-key distribution (1:1, to every member device that has not
  // had ours since the key was made) and the content once, encrypted with our sender key (skmsg).
  net::awaitable<Status> send_group(const OutText& m, const Jid& group, std::uint64_t gen) {
    auto self = shared_from_this();
    auto me = Jid::parse(creds_->jid);
    if (!me) co_return fail(errc::not_registered, "no JID");
    auto members = co_await group_members(group);
    if (!members) co_return fail(members.error());
    if (gen != gen_) co_return fail(errc::connection_lost, "disconnected");
    std::vector<Jid> users = *members;
    const bool member = std::any_of(users.begin(), users.end(), [&](const Jid& u) { return u.user() == me->user(); });
    if (!member) co_return fail(core::errc::invalid_argument, "we are not a member of " + group.to_string());
    auto devs = co_await devices_of(users);
    if (!devs) co_return fail(devs.error());
    if (gen != gen_) co_return fail(errc::connection_lost, "disconnected");
    const std::string gid = group.to_string();
    auto& had = caches().skdm_sent[gid];
    std::vector<Jid> need;  // member devices without our sender key
    for (const auto& [user, list] : *devs) {
      for (auto d : list) {
        if (user == me->user() && d == me->device()) continue;
        auto j = d == 0 ? Jid::make(user, Server::user) : Jid::make_device(user, Server::user, d);
        if (j && had.count(j->to_string()) == 0) need.push_back(*j);
      }
    }
    const auto creds = creds_snapshot();  // shared, not copied per job
    auto fetched = co_await bundles_for(need);
    if (!fetched) co_return fail(fetched.error());
    const std::vector<std::pair<Jid, signal::PreKeyBundle>> bundles = std::move(*fetched);
    if (gen != gen_) co_return fail(errc::connection_lost, "disconnected");
    struct GroupEnc {
      std::vector<std::tuple<Jid, signal::MessageType, Bytes>> keys;
      Bytes skmsg;
    };
    const Bytes content = m.content;
    const signal::Address self_address = address_of(*me);
    auto enc_job = [this, creds, need, bundles, content, gid, self_address]() -> Result<GroupEnc> {
      GroupEnc out;
      WA_TRY_STATUS(eng_.store.transaction([&]() -> Status {
        detail::DeviceSignalStore ss(eng_.store, *creds);
        signal::SignalProtocol sp(ss);
        for (const auto& [j, b] : bundles) WA_TRY_STATUS(sp.process_bundle(address_of(j), b));
        if (!need.empty()) {
          WA_TRY(auto skdm, sp.sender_key_distribution(gid, self_address));
          const Bytes wrapped = sender_key_distribution_message(gid, skdm);
          for (const auto& j : need) {
            // A device whose bundle could not be had is skipped: it cannot read this message (as on WhatsApp).
            if (!sp.has_session(address_of(j))) continue;
            WA_TRY(auto c, sp.encrypt(address_of(j), pad(wrapped)));
            out.keys.emplace_back(j, c.type, std::move(c.data));
          }
        }
        WA_TRY(out.skmsg, sp.group_encrypt(gid, self_address, pad(content)));
        if (ss.failed()) return fail(*ss.failed());
        return ok();
      }));
      return out;
    };
    auto encrypted = *co_await eng_.on_db(std::move(enc_job));
    if (!encrypted) co_return fail(encrypted.error());
    if (gen != gen_) co_return fail(errc::connection_lost, "disconnected");
    NodeList children;
    NodeList participants;
    bool prekey_message = false;
    std::vector<std::string> delivered;
    for (auto& [j, type, data] : encrypted->keys) {
      prekey_message = prekey_message || type == signal::MessageType::pkmsg;
      delivered.push_back(j.to_string());
      participants.push_back(Node{"to", {{"jid", j}},
                                  NodeList{Node{"enc", {{"v", "2"}, {"type", type == signal::MessageType::pkmsg ? "pkmsg" : "msg"}},
                                                std::move(data)}}});
    }
    if (!participants.empty()) children.push_back(Node{"participants", {}, std::move(participants)});
    Node sk{"enc", {{"v", "2"}, {"type", "skmsg"}}, std::move(encrypted->skmsg)};
    if (!m.mediatype.empty()) sk.set_attr("mediatype", m.mediatype);
    children.push_back(std::move(sk));
    if (prekey_message) children.push_back(Node{"device-identity", {}, creds->account});
    Node stanza{"message", {{"id", m.id}, {"to", group}, {"type", m.type}}, std::move(children)};
    if (!m.edit.empty()) stanza.set_attr("edit", m.edit);
    auto st = co_await send_awaiting_ack(std::move(stanza), m.id, gen);
    if (st) {
      auto& now_had = caches().skdm_sent[gid];
      for (auto& d : delivered) now_had.insert(std::move(d));
    }
    co_return st;
  }

  // Prekey bundles for those of the devices we have no Signal session with yet (one encrypt/key iq).
  net::awaitable<Result<std::vector<std::pair<Jid, signal::PreKeyBundle>>>> bundles_for(std::vector<Jid> devices) {
    auto self = shared_from_this();
    const auto creds = creds_snapshot();  // shared, not copied per job
    auto missing_job = [this, creds, devices]() -> std::vector<Jid> {
      std::vector<Jid> missing;
      detail::DeviceSignalStore ss(eng_.store, *creds);
      signal::SignalProtocol sp(ss);
      for (const auto& j : devices) {
        if (!sp.has_session(address_of(j))) missing.push_back(j);
      }
      return missing;
    };
    auto missing = *co_await eng_.on_db(std::move(missing_job));
    co_return co_await fetch_bundles(missing);
  }

  // The server's prekey bundles of these devices (none asked for when the list is empty).
  net::awaitable<Result<std::vector<std::pair<Jid, signal::PreKeyBundle>>>> fetch_bundles(std::vector<Jid> devices) {
    auto self = shared_from_this();
    std::vector<std::pair<Jid, signal::PreKeyBundle>> bundles;
    if (devices.empty()) co_return bundles;
    Node req = prekey_fetch_iq(devices);
    auto r = co_await iq(std::move(req), cfg_->iq_timeout);
    if (!r) co_return fail(r.error());
    auto parsed = parse_bundles(*r);
    if (!parsed) co_return fail(parsed.error());
    co_return std::move(*parsed);
  }

  // Sends a <message> and waits for the server's ack.
  net::awaitable<Status> send_awaiting_ack(Node stanza, std::string id, std::uint64_t gen) {
    auto self = shared_from_this();
    auto p = std::make_shared<PendingIq>(strand_);
    p->timer.expires_after(cfg_->iq_timeout);
    const std::string key = "ack:" + id;
    pending_[key] = p;
    send(stanza);
    co_await p->timer.async_wait(use_nothrow);
    unpend(key);
    if (!p->answer) co_return fail(ended_ || gen != gen_ ? errc::connection_lost : errc::timeout, "no server ack for " + id);
    if (auto e = p->answer->attr_string("error")) co_return fail(errc::iq_error, "server refused " + id + ": " + std::string(*e));
    co_return ok();
  }

  // A group change (w:gp2): the member cache goes; when someone left or was removed, so does our sender key,
  // so that what we write next is readable only by who is still in.
  void on_group_notification(const Node& n) {
    const Jid* from = n.attr_jid("from");
    if (from == nullptr || from->server() != Server::group) return;
    const std::string gid = from->to_string();
    if (caches_) caches_->groups.erase(gid);
    if (n.children().empty()) return;
    const Node& change = n.children().front();
    if (change.tag == "remove" || change.tag == "leave") {
      if (caches_) caches_->skdm_sent.erase(gid);
      const auto creds = creds_snapshot();  // shared, not copied per job
      if (auto me = Jid::parse(creds->jid)) {
        net::post(eng_.db, [this, creds, gid, self = address_of(*me)] {
          detail::DeviceSignalStore ss(eng_.store, *creds);
          ss.remove_sender_key(gid, self);
        });
      }
    } else if (change.tag == "add") {
      // New members' devices need our key: the next send distributes it to whoever lacks it.
    }
    Event ev;
    ev.kind = EventKind::group;
    ev.chat = gid;
    ev.type = change.tag;
    if (const Jid* actor = n.attr_jid("participant")) ev.from = actor->to_string();
    ev.timestamp = std::strtoull(std::string(n.attr_string("t").value_or("0")).c_str(), nullptr, 10);
    ev.id = std::string(n.attr_string("id").value_or(""));
    for (const Node& p : change.children()) {
      if (const Jid* j = p.attr_jid("jid"); j != nullptr && p.tag == "participant") ev.ids.push_back(j->to_string());
    }
    if (change.tag == "subject") ev.text = std::string(change.attr_string("subject").value_or(""));
    if (change.tag == "create") {
      if (const Node* g = change.child("group")) {
        if (auto info = parse_group(*g)) ev.text = info->subject;
      }
    }
    emit(std::move(ev));
  }


 public:
  void group(GroupAction a, std::function<void(Result<GroupOutcome>)> done) {
    net::post(strand_, [self = shared_from_this(), a = std::move(a), done = std::move(done)]() mutable {
      if (!self->logged_in_) return done(fail(errc::connection_lost, "not connected"));
      net::co_spawn(self->strand_, self->run_group(std::move(a), std::move(done)), net::detached);
    });
  }

 private:
  net::awaitable<void> run_group(GroupAction a, std::function<void(Result<GroupOutcome>)> done) {
    auto self = shared_from_this();
    Node req = group_iq(a);
    auto r = co_await iq(std::move(req), cfg_->iq_timeout);
    if (!r) co_return done(fail(r.error()));
    if (!a.group.empty() && caches_) caches_->groups.erase(a.group);
    done(parse_group_outcome(a, *r));
  }

  net::awaitable<Status> send_one(const OutText& m, std::uint64_t gen) {
    auto self = shared_from_this();
    auto to = parse_recipient(m.to);
    if (to && to->server() == Server::group) {
      const Jid group = *to;
      co_return co_await send_group(m, group, gen);
    }
    if (!to || to->server() != Server::user) co_return fail(core::errc::invalid_argument, "recipient must be a phone number or a user JID");
    auto me = Jid::parse(creds_->jid);
    if (!me) co_return fail(errc::not_registered, "no JID");
    const Jid to_user = *to;
    std::vector<Jid> users{to_user};
    if (to_user.user() != me->user()) users.push_back(me->to_user());
    auto devs = co_await devices_of(users);
    if (!devs) co_return fail(devs.error());
    if (gen != gen_) co_return fail(errc::connection_lost, "disconnected");
    // Targets: every device of the recipient, and our own other devices (they get a deviceSentMessage).
    std::vector<std::pair<Jid, bool>> targets;  // jid, own device
    for (const auto& [user, list] : *devs) {
      const bool own = user == me->user();
      for (auto d : list) {
        if (own && d == me->device()) continue;
        auto j = d == 0 ? Jid::make(user, Server::user) : Jid::make_device(user, Server::user, d);
        if (j) targets.emplace_back(*j, own);
      }
    }
    if (targets.empty()) co_return fail(core::errc::invalid_argument, "the recipient has no devices");
    const auto creds = creds_snapshot();  // shared, not copied per job
    const Bytes& content = m.content;
    const Bytes dsm = device_sent_message(to_user.to_string(), content);
    // One job on the database executor finds the devices without a session and, when there are none (every
    // message after a chat's first), encrypts at once: a message costs one trip to that thread, not two. With
    // devices to fetch bundles for, it returns them instead, and runs again with the bundles (then without the
    // check: a device the server had no bundle for fails in encrypt, as it did before the jobs were one).
    using EncOut = std::vector<std::tuple<Jid, signal::MessageType, Bytes>>;
    struct Encrypted {
      std::vector<Jid> missing;  // devices without a session or a bundle: nothing was encrypted
      EncOut out;
    };
    std::vector<std::pair<Jid, signal::PreKeyBundle>> bundles;
    Encrypted encrypted;
    for (int round = 0; round < 2; ++round) {
      auto enc_job = [this, creds, targets, bundles, content, dsm, check = round == 0]() -> Result<Encrypted> {
        Encrypted r;
        detail::DeviceSignalStore ss(eng_.store, *creds);
        signal::SignalProtocol sp(ss);
        for (const auto& [j, own] : targets) {
          if (check && !sp.has_session(address_of(j))) r.missing.push_back(j);
        }
        if (ss.failed()) return fail(*ss.failed());
        if (!r.missing.empty()) return r;
        WA_TRY_STATUS(eng_.store.transaction([&]() -> Status {
          for (const auto& [j, b] : bundles) WA_TRY_STATUS(sp.process_bundle(address_of(j), b));
          for (const auto& [j, own] : targets) {
            WA_TRY(auto c, sp.encrypt(address_of(j), pad(own ? dsm : content)));
            r.out.emplace_back(j, c.type, std::move(c.data));
          }
          if (ss.failed()) return fail(*ss.failed());
          return ok();
        }));
        return r;
      };
      auto done = *co_await eng_.on_db(std::move(enc_job));
      if (!done) co_return fail(done.error());
      if (gen != gen_) co_return fail(errc::connection_lost, "disconnected");
      if (done->missing.empty()) {
        encrypted = std::move(*done);
        break;
      }
      // The job has just found them without a session: no second check.
      const std::vector<Jid> missing = std::move(done->missing);
      auto fetched = co_await fetch_bundles(missing);
      if (!fetched) co_return fail(fetched.error());
      if (gen != gen_) co_return fail(errc::connection_lost, "disconnected");
      bundles = std::move(*fetched);
    }
    NodeList participants;
    bool prekey_message = false;
    for (auto& [j, type, data] : encrypted.out) {
      prekey_message = prekey_message || type == signal::MessageType::pkmsg;
      Node enc{"enc", {{"v", "2"}, {"type", type == signal::MessageType::pkmsg ? "pkmsg" : "msg"}}, std::move(data)};
      if (!m.mediatype.empty()) enc.set_attr("mediatype", m.mediatype);
      participants.push_back(Node{"to", {{"jid", j}}, NodeList{std::move(enc)}});
    }
    NodeList children{Node{"participants", {}, std::move(participants)}};
    if (prekey_message) children.push_back(Node{"device-identity", {}, creds->account});
    Node stanza{"message", {{"id", m.id}, {"to", to_user}, {"type", m.type}}, std::move(children)};
    if (!m.edit.empty()) stanza.set_attr("edit", m.edit);
    co_return co_await send_awaiting_ack(std::move(stanza), m.id, gen);
  }

  // ---------------------------------------------------------------------------------------------
  // Logged in.
  void on_success(const Node& n, std::uint64_t gen) {
    if (registering_) return;
    logged_in_ = true;
    attempt_ = 0;
    if (const Jid* lid = n.attr_jid("lid")) {
      if (lid->to_string() != creds_->lid) {
        edit_creds().lid = lid->to_string();
        net::co_spawn(strand_, save_creds(), net::detached);
      }
    }
    emit(EventKind::connected, creds_->jid, creds_->lid);
    net::co_spawn(strand_, after_login(gen), net::detached);
    if (!sendq_.empty()) net::co_spawn(strand_, send_loop(gen), net::detached);
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
    auto count = co_await iq(std::move(count_req), cfg_->iq_timeout);
    if (gen != gen_) co_return;
    if (count) {
      const Node* c = count->child("count");
      const int have = c == nullptr ? 0 : std::atoi(std::string(c->attr_string("value").value_or("0")).c_str());
      if (have < static_cast<int>(kMinPreKeys)) co_await upload_prekeys(gen, kPreKeyUploadCount);
    } else {
      emit(EventKind::error, "prekey count: " + count.error().context());
    }
    if (gen != gen_) co_return;
    if (unix_now() - creds_->signed_prekey_created >= static_cast<std::uint64_t>(cfg_->signed_prekey_lifetime.count())) {
      co_await rotate_signed(gen);
    }
    if (gen != gen_) co_return;
    Node active_req = iq_node("passive", "set", NodeList{leaf("active")});
    auto active = co_await iq(std::move(active_req), cfg_->iq_timeout);
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
    edit_creds().next_prekey_id = (batch->last_id % 0xffffff) + 1;
    Node req = iq_node("encrypt", "set", std::move(batch->iq_content));
    auto r = co_await iq(std::move(req), cfg_->iq_timeout);
    uploading_ = false;
    if (!r) {
      if (gen == gen_) emit(EventKind::error, "prekey upload: " + r.error().context());
      co_return;
    }
    edit_creds().uploaded_prekey_id = batch->last_id;
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
    auto r = co_await iq(std::move(req), cfg_->iq_timeout);
    if (!r) {
      if (gen == gen_) emit(EventKind::error, "signed prekey rotation: " + r.error().context());
      co_return;
    }
    edit_creds().signed_prekey_id = next.signed_prekey_id;
    edit_creds().signed_prekey_pub = next.signed_prekey_pub;
    edit_creds().signed_prekey_sig = next.signed_prekey_sig;
    edit_creds().signed_prekey_created = next.signed_prekey_created;
    co_await save_creds();
    emit(EventKind::signed_prekey_rotated);
  }

  // Pings at keepalive_interval; an unanswered ping within keepalive_timeout means the socket is dead. A
  // timer and a short coroutine per ping, not a coroutine that lives as long as the connection (its frame).
  void schedule_keepalive(std::uint64_t gen) {
    keepalive_.expires_after(cfg_->keepalive_interval);
    keepalive_.async_wait([self = shared_from_this(), gen](error_code ec) {
      if (ec || gen != self->gen_ || self->ended_) return;
      net::co_spawn(self->strand_, self->ping(gen), net::detached);
    });
  }

  net::awaitable<void> ping(std::uint64_t gen) {
    auto self = shared_from_this();
    Node req = iq_node("w:p", "get", NodeList{leaf("ping")});
    auto r = co_await iq(std::move(req), cfg_->keepalive_timeout);
    if (gen != gen_ || ended_) co_return;
    if (!r && r.error().code() == errc::timeout) {
      end_session(End::lost, "keepalive: no answer within " + std::to_string(cfg_->keepalive_timeout.count()) + " ms");
      co_return;
    }
    schedule_keepalive(gen);
  }

  void emit(Event e) {
    if (sink_) sink_(id_, e);
  }
  void emit(EventKind kind, std::string text = {}, std::string lid = {}, int code = 0, std::size_t count = 0) {
    Event e;
    e.kind = kind;
    e.text = std::move(text);
    e.lid = std::move(lid);
    e.code = code;
    e.count = count;
    if (sink_) sink_(id_, e);
  }

  Engine::Impl& eng_;
  const std::string id_;
  std::shared_ptr<const ClientConfig> cfg_;  // shared by every client with an equal configuration
  EventSink sink_;
  net::strand<net::io_context::executor_type> strand_;
  net::steady_timer backoff_;  // reconnect backoff
  std::shared_ptr<detail::ConnectGate::Ticket> turn_;  // queued for the next session's connect slot (take_turn())
  net::steady_timer keepalive_;
  std::shared_ptr<SSL_CTX> ssl_;  // the engine's, kept while a connection may use it
  std::shared_ptr<WsClient> tx_;
  noise::CipherPair ciphers_;
  wire::FrameReader reader_{wire::FrameReader::Role::client};
  Fifo<Bytes> outq_;
  bool writing_ = false;
  std::unordered_map<std::string, std::shared_ptr<PendingIq>> pending_;
  std::string id_prefix_ = to_hex(crypto::random_bytes(4)) + "-";
  std::uint64_t iq_seq_ = 0;
  // The credentials, shared with the database jobs that need them (a send used to copy the whole record
  // four times, and a second copy for those jobs was kept per number). Changed by copy-on-write: a job
  // that holds the record keeps the version it was given.
  std::shared_ptr<store::Credentials> creds_;
  store::Credentials& edit_creds() {
    if (creds_.use_count() > 1) creds_ = std::make_shared<store::Credentials>(*creds_);
    return *creds_;
  }
  std::shared_ptr<const store::Credentials> creds_snapshot() const { return creds_; }
  // Pairing by phone code: only while one is asked for (176 B inline in every client before).
  struct Pairing {
    std::optional<LinkCode> link_code;
    std::optional<std::string> wanted_phone;
  };
  std::unique_ptr<Pairing> pairing_;
  Pairing& pairing() {
    if (!pairing_) pairing_ = std::make_unique<Pairing>();
    return *pairing_;
  }
  bool wants_phone() const { return pairing_ && pairing_->wanted_phone; }
  std::vector<std::string> refs_;
  net::steady_timer* qr_wait_ = nullptr;  // the running qr_loop's timer (a local of its frame)
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
  bool inbox_replayed_ = false;
  Fifo<OutText> sendq_;
  bool logout_ = false;
  std::unordered_map<std::string, OutText> recent_sent_;
  Fifo<std::string> recent_order_;
  bool send_running_ = false;
  // What sending learns and reuses: made at the first send that needs it (224 B inline in every client
  // before, most of which never send media or to a group).
  struct Caches {
    std::optional<MediaConn> media_conn;
    std::chrono::steady_clock::time_point media_conn_until{};
    std::map<std::string, std::pair<std::vector<Jid>, std::chrono::steady_clock::time_point>> groups;  // members
    std::map<std::string, std::set<std::string>> skdm_sent;  // group -> member devices that have our sender key
    std::map<std::string, std::pair<std::vector<std::uint16_t>, std::chrono::steady_clock::time_point>> devices;
  };
  std::unique_ptr<Caches> caches_;
  Caches& caches() {
    if (!caches_) caches_ = std::make_unique<Caches>();
    return *caches_;
  }
};

Engine::Engine(store::Store& store, unsigned io_threads, std::size_t connect_slots)
    : impl_(std::make_unique<Impl>(store, io_threads, connect_slots)) {
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
  slot = std::make_shared<Client>(*impl_, device_id, impl_->intern(std::move(cfg)), std::move(sink));
  slot->start();
}

void Engine::pair_phone(const std::string& device_id, std::string phone) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->clients.find(device_id);
  if (it != impl_->clients.end()) it->second->pair_phone(std::move(phone));
}

namespace {
template <class F>
void with_client(Engine::Impl& impl, const std::string& id, F f) {
  std::lock_guard lock(impl.mu);
  auto it = impl.clients.find(id);
  if (it != impl.clients.end()) f(*it->second);
}
}  // namespace

void Engine::send_text(const std::string& device_id, std::string to, std::string text, std::string message_id) {
  with_client(*impl_, device_id,
              [&](Client& c) { c.send_text(OutText{std::move(to), std::move(message_id), text_message(text), "text", "", ""}); });
}

void Engine::send_message(const std::string& device_id, std::string to, const Outbound& content, std::string message_id) {
  with_client(*impl_, device_id, [&](Client& c) {
    c.send_text(OutText{std::move(to), std::move(message_id), build_message(content), std::string(stanza_type(content)),
                        std::string(edit_attribute(content)), std::string(enc_media_type(content))});
  });
}

void Engine::group(const std::string& device_id, GroupAction action, std::function<void(Result<GroupOutcome>)> done) {
  bool found = false;
  with_client(*impl_, device_id, [&](Client& c) {
    found = true;
    c.group(std::move(action), std::move(done));
  });
  if (!found) done(fail(errc::connection_lost, "no such client"));
}

void Engine::media_conn(const std::string& device_id, std::function<void(Result<MediaConn>)> done) {
  bool found = false;
  with_client(*impl_, device_id, [&](Client& c) {
    found = true;
    c.media_conn(std::move(done));
  });
  if (!found) done(fail(errc::connection_lost, "no such client"));
}

void Engine::send_receipt(const std::string& device_id, std::string chat, std::string from, std::vector<std::string> ids,
                          std::string type) {
  with_client(*impl_, device_id, [&](Client& c) { c.send_receipt(std::move(chat), std::move(from), std::move(ids), std::move(type)); });
}

void Engine::send_presence(const std::string& device_id, std::string type) {
  with_client(*impl_, device_id, [&](Client& c) { c.send_presence(std::move(type)); });
}

void Engine::subscribe_presence(const std::string& device_id, std::string jid) {
  with_client(*impl_, device_id, [&](Client& c) { c.subscribe_presence(std::move(jid)); });
}

void Engine::send_chatstate(const std::string& device_id, std::string to, std::string state) {
  with_client(*impl_, device_id, [&](Client& c) { c.send_chatstate(std::move(to), std::move(state)); });
}

void Engine::inbox_done(const std::string& device_id, std::string inbox_key) {
  with_client(*impl_, device_id, [&](Client& c) { c.inbox_done(std::move(inbox_key)); });
}

void Engine::logout(const std::string& device_id) {
  with_client(*impl_, device_id, [&](Client& c) { c.logout(); });
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

std::size_t Engine::shutdown() {
  std::vector<std::shared_ptr<Client>> all;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [_, c] : impl_->clients) all.push_back(c);
    impl_->clients.clear();
  }
  for (auto& c : all) c->stop();
  // Bounded wait for the run loops to notice.
  const auto unfinished = [&] { return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [](const auto& c) { return !c->done(); })); };
  for (int i = 0; i < 500 && unfinished() > 0; ++i) std::this_thread::sleep_for(10ms);
  return unfinished();
}

std::size_t Engine::client_count() const {
  std::lock_guard lock(impl_->mu);
  return impl_->clients.size();
}

std::size_t Engine::config_copies() const { return impl_->config_copies(); }
int Engine::qr_loops() const { return impl_->qr_loops.load(); }
std::size_t Engine::connect_peak() const { return impl_->gate.peak(); }
int Engine::parked_connections() const { return impl_->parked.load(); }

std::size_t Engine::tls_contexts() const {
  std::lock_guard lock(impl_->tls_mu);
  return impl_->tls.size();
}

}  // namespace wa::protocol
