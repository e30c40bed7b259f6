// SPDX-License-Identifier: MIT
// Beast shell of wasim: accepts TCP on loopback; an upgrade on /ws/chat becomes a websocket feeding a
// Connection; anything else is the control API. The only translation unit of wa_sim that includes Asio.
#include "wa/sim/server.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cctype>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <nlohmann/json.hpp>

#include <deque>
#include <iostream>

#include "qr_decode.hpp"
#include "tls_cert.hpp"
#include "wa/crypto/media.hpp"
#include "wa/sim/connection.hpp"

namespace wa::sim {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using nlohmann::json;

namespace {

constexpr std::size_t kMaxControlBody = 1 << 20;
constexpr std::size_t kMaxMediaBody = std::size_t{100} << 20;  // WhatsApp's own document limit is about this

// The value of name in a query string ("a=1&b=2"), percent-decoding left to the caller; "" when absent.
std::string query_value(std::string_view target, std::string_view name) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? std::string() : std::string(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return {};
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}
constexpr std::size_t kMaxWsMessage = 1 << 25;  // frames are bounded at 16 MiB; a message may hold several
constexpr std::size_t kCoalesceBytes = 256 * 1024;  // at most this much queued output in one websocket message

// Asio's SSL stream, not beast::ssl_stream: the latter's buffered async_handshake is mis-constrained in Boost 1.81.
using TlsStream = net::ssl::stream<beast::tcp_stream>;

// A websocket connection over Stream (plain TCP or TLS): owns the Connection logic and implements its Link.
// One writer at a time.
template <class Stream>
class WsSession final : public Link, public std::enable_shared_from_this<WsSession<Stream>> {
 public:
  using std::enable_shared_from_this<WsSession<Stream>>::shared_from_this;
  using std::enable_shared_from_this<WsSession<Stream>>::weak_from_this;
  WsSession(Network& net, websocket::stream<Stream> ws, std::uint64_t id)
      : net_(net), ws_(std::move(ws)), conn_(std::make_unique<Connection>(net, *this, id)) {}

  void start(http::request<http::string_body> req) {
    ws_.binary(true);
    ws_.read_message_max(kMaxWsMessage);
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->finish();
      self->read();
    });
  }

  void write(Bytes data) override {
    if (closed_ || stalled_) return;
    queue_.push_back(std::move(data));
    if (!writing_) write_next();
  }
  void close() override {
    if (close_requested_) return;
    close_requested_ = true;
    if (!writing_) do_close();
  }
  void drop() override {
    stalled_ = true;  // nothing more in or out; the socket closes on the next turn of the loop
    net::post(ws_.get_executor(), [self = shared_from_this()] { self->finish(); });
  }
  void stall() override { stalled_ = true; }
  void after(std::chrono::milliseconds d, std::function<void()> fn) override {
    auto t = std::make_shared<net::steady_timer>(ws_.get_executor(), d);
    t->async_wait([weak = weak_from_this(), t, fn = std::move(fn)](beast::error_code ec) {
      auto self = weak.lock();
      if (!ec && self && !self->closed_) fn();
    });
  }

 private:
  void read() {
    ws_.async_read(buf_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->finish();
      const auto data = self->buf_.cdata();
      if (!self->stalled_) self->conn_->on_message(ByteView(static_cast<const std::uint8_t*>(data.data()), data.size()));
      self->buf_.consume(self->buf_.size());
      if (!self->closed_) self->read();
    });
  }
  void write_next() {
    writing_ = true;
    // Frames queued meanwhile go in one websocket message (clients read any number of frames from one,
    // as the real server's do): one syscall instead of one per frame when a device is busy.
    if (queue_.size() > 1) {
      Bytes merged = std::move(queue_.front());
      queue_.pop_front();
      while (!queue_.empty() && merged.size() + queue_.front().size() <= kCoalesceBytes) {
        merged.insert(merged.end(), queue_.front().begin(), queue_.front().end());
        queue_.pop_front();
      }
      queue_.push_front(std::move(merged));
    }
    ws_.async_write(net::buffer(queue_.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->queue_.pop_front();
      self->writing_ = false;
      if (ec) return self->finish();
      if (!self->queue_.empty()) return self->write_next();
      if (self->close_requested_) self->do_close();
    });
  }
  void do_close() {
    if (closed_) return;
    ws_.async_close(websocket::close_code::normal, [self = shared_from_this()](beast::error_code) { self->finish(); });
  }
  void finish() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
    conn_.reset();  // detaches from the network now, not when the last handler lets go
  }

  Network& net_;
  websocket::stream<Stream> ws_;
  std::unique_ptr<Connection> conn_;
  beast::flat_buffer buf_;
  std::deque<Bytes> queue_;
  bool writing_ = false;
  bool close_requested_ = false;
  bool closed_ = false;
  bool stalled_ = false;  // fault: reads are discarded, writes dropped, the socket stays open
};

json account_json(const Account& a) {
  json devices = json::array();
  for (const auto& [dev, c] : a.companions) {
    devices.push_back({{"device", dev},
                       {"unacked", c.unacked.size()},
                       {"jid", a.phone + ":" + std::to_string(dev) + "@s.whatsapp.net"},
                       {"platform", c.platform},
                       {"prekeys", c.prekeys.size()},
                       {"identity", to_hex(c.identity)},
                       {"signed_prekey_id", c.signed_prekey.id},
                       {"paired_at", c.paired_at}});
  }
  return {{"phone", a.phone},
          {"lid", a.lid},
          {"name", a.name},
          {"jid", a.phone + "@s.whatsapp.net"},
          {"lid_jid", a.lid + "@lid"},
          {"identity", to_hex(a.identity.pub)},
          {"phone_online", a.handset->online},
          {"phone_received", a.handset->received.size()},
          {"devices", std::move(devices)}};
}

// The control API: a pure function from request to (status, JSON body). docs/wasim.md lists the routes.
std::pair<http::status, json> control(Network& net, const http::request<http::string_body>& req) {
  const std::string target(req.target());
  const std::string path = target.substr(0, target.find('?'));
  std::vector<std::string> seg;
  for (std::size_t i = 1; i <= path.size();) {
    const auto slash = path.find('/', i);
    seg.push_back(path.substr(i, slash == std::string::npos ? std::string::npos : slash - i));
    if (slash == std::string::npos) break;
    i = slash + 1;
  }
  auto error = [](http::status s, std::string code, std::string msg) {
    return std::pair{s, json{{"error", std::move(code)}, {"message", std::move(msg)}}};
  };
  json body;
  if (req.method() == http::verb::post && !req.body().empty()) {
    body = json::parse(req.body(), nullptr, false);
    if (body.is_discarded() || !body.is_object()) return error(http::status::bad_request, "INVALID_JSON", "body is not a JSON object");
  }
  auto str = [&](const char* k) { return body.contains(k) && body[k].is_string() ? body[k].get<std::string>() : std::string(); };
  const auto m = req.method();
  if (seg.size() == 1 && seg[0] == "health" && m == http::verb::get) {
    return {http::status::ok, {{"status", "ok"}, {"connections", net.connection_count()}}};
  }
  if (seg.size() == 1 && seg[0] == "root" && m == http::verb::get) {
    return {http::status::ok, {{"root", to_hex(net.root_public())}}};
  }
  if (seg.size() == 1 && seg[0] == "log" && m == http::verb::get) {
    json out = json::array();
    for (const auto& e : net.log_entries()) out.push_back({{"seq", e.seq}, {"connection", e.connection}, {"text", e.text}});
    return {http::status::ok, {{"entries", std::move(out)}}};
  }
  if (seg.size() == 1 && seg[0] == "accounts") {
    if (m == http::verb::post) {
      auto a = net.create_account(str("phone"), str("name"));
      if (!a) return error(http::status::bad_request, "INVALID_ACCOUNT", a.error().context());
      return {http::status::created, account_json(**a)};
    }
    if (m == http::verb::get) {
      json out = json::array();
      for (const auto& [phone, a] : net.accounts()) out.push_back(account_json(*a));
      return {http::status::ok, {{"accounts", std::move(out)}}};
    }
  }
  if (seg.size() >= 2 && seg[0] == "accounts") {
    Account* a = net.account(seg[1]);
    if (a == nullptr) return error(http::status::not_found, "NO_ACCOUNT", "no account " + seg[1]);
    if (seg.size() == 2 && m == http::verb::get) return {http::status::ok, account_json(*a)};
    if (seg.size() == 3 && (seg[2] == "offline" || seg[2] == "online") && m == http::verb::post) {
      auto st = net.set_phone_online(seg[1], seg[2] == "online");
      if (!st) return error(http::status::bad_request, "INVALID_ACCOUNT", st.error().context());
      return {http::status::ok, {{"ok", true}}};
    }
    if (seg.size() == 3 && seg[2] == "scan" && m == http::verb::post) {
      std::string qr = str("qr");
      if (qr.empty() && !str("png").empty()) {
        // A phone camera: decode the QR from a PNG picture of it.
        auto png = from_base64(str("png"));
        auto decoded = png ? detail::decode_qr_png(*png) : Result<std::string>(fail(png.error()));
        if (!decoded) return error(http::status::bad_request, "SCAN_FAILED", "no QR code in the picture: " + decoded.error().context());
        qr = *decoded;
      }
      auto st = net.scan(seg[1], qr);
      if (!st) return error(http::status::bad_request, "SCAN_FAILED", st.error().context());
      return {http::status::ok, {{"ok", true}}};
    }
    if (seg.size() == 3 && seg[2] == "messages" && m == http::verb::get) {
      json out = json::array();
      for (const auto& pm : a->handset->received) {
        out.push_back({{"id", pm.id}, {"from", pm.from}, {"kind", pm.kind}, {"text", pm.text}, {"chat", pm.chat}});
      }
      return {http::status::ok, {{"messages", std::move(out)}}};
    }
    if (seg.size() == 3 && seg[2] == "send" && m == http::verb::post) {
      // {"to", "text"} or {"to", "kind": image|video|audio|document|sticker, "file": base64, "caption",
      //  "mimetype", "fileName", "ptt"} or location {latitude, longitude, name, address}, contact {name, vcard},
      //  reaction {targetId, targetFromMe, targetParticipant, text}, revoke {targetId}, edit {targetId, text};
      //  "to" is digits or a group JID.
      Network::PhoneContent content;
      content.kind = body.contains("kind") ? str("kind") : "text";
      const bool media = crypto::media_type_from_name(content.kind).has_value();
      content.text = media ? str("caption") : str("text");
      content.mimetype = str("mimetype");
      content.file_name = str("fileName");
      content.ptt = body.contains("ptt") && body["ptt"].is_boolean() && body["ptt"].get<bool>();
      auto number = [&](const char* k) { return body.contains(k) && body[k].is_number() ? body[k].get<double>() : 0.0; };
      content.latitude = number("latitude");
      content.longitude = number("longitude");
      content.name = str("name");
      content.address = str("address");
      content.vcard = str("vcard");
      content.target_id = str("targetId");
      content.target_from_me = body.contains("targetFromMe") && body["targetFromMe"].is_boolean() && body["targetFromMe"].get<bool>();
      content.target_participant = str("targetParticipant");
      if (media) {
        auto file = from_base64(str("file"));
        if (!file) return error(http::status::bad_request, "BAD_FILE", "'file' must be base64");
        content.file.assign(file->begin(), file->end());
      }
      auto id = net.phone_send(seg[1], str("to"), content);
      if (!id) return error(http::status::bad_request, "SEND_FAILED", id.error().context());
      return {http::status::ok, {{"id", *id}}};
    }
    if (seg.size() == 3 && seg[2] == "groups" && m == http::verb::post) {
      // {"subject", "participants": [digits]}: the phone creates a group, as with w:g2 create.
      std::vector<std::string> members;
      if (body.contains("participants") && body["participants"].is_array()) {
        for (const auto& p : body["participants"]) {
          if (p.is_string()) members.push_back(p.get<std::string>());
        }
      }
      auto id = net.phone_create_group(seg[1], str("subject"), members);
      if (!id) return error(http::status::bad_request, "GROUP_FAILED", id.error().context());
      return {http::status::ok, {{"id", *id}, {"jid", *id + "@g.us"}}};
    }
    if (seg.size() == 3 && seg[2] == "devices" && m == http::verb::post) {
      // Benchmarks only: links a companion without the pairing dance ({"noise": hex, "identity": hex}), so a
      // load program can log in thousands of devices quickly. The device has had its key share.
      auto noise = from_hex(str("noise"));
      auto identity = from_hex(str("identity"));
      if (!noise || noise->size() != 32 || !identity || identity->size() != 32) {
        return error(http::status::bad_request, "INVALID_DEVICE", "'noise' and 'identity' must be 32-byte hex keys");
      }
      Companion c;
      c.device = a->next_device++;
      c.key_index = a->next_key_index++;
      std::copy(noise->begin(), noise->end(), c.noise_key.begin());
      std::copy(identity->begin(), identity->end(), c.identity.begin());
      c.platform = "bench";
      c.paired_at = net.now();
      c.got_key_share = true;
      const std::uint16_t dev = c.device;
      net.add_companion(*a, std::move(c));
      return {http::status::ok, {{"device", dev}, {"jid", a->phone + ":" + std::to_string(dev) + "@s.whatsapp.net"}}};
    }
    if (seg.size() == 3 && (seg[2] == "read" || seg[2] == "played") && m == http::verb::post) {
      std::vector<std::string> ids;
      if (body.contains("ids") && body["ids"].is_array()) {
        for (const auto& i : body["ids"]) {
          if (i.is_string()) ids.push_back(i.get<std::string>());
        }
      }
      auto st = net.phone_receipt(seg[1], str("from"), ids, seg[2]);
      if (!st) return error(http::status::bad_request, "RECEIPT_FAILED", st.error().context());
      return {http::status::ok, {{"ok", true}}};
    }
    if (seg.size() == 3 && seg[2] == "presence" && m == http::verb::post) {
      auto st = net.phone_presence(seg[1], str("type"));
      if (!st) return error(http::status::bad_request, "PRESENCE_FAILED", st.error().context());
      return {http::status::ok, {{"ok", true}}};
    }
    if (seg.size() == 3 && seg[2] == "chatstate" && m == http::verb::post) {
      auto st = net.phone_chatstate(seg[1], str("to"), str("state"));
      if (!st) return error(http::status::bad_request, "CHATSTATE_FAILED", st.error().context());
      return {http::status::ok, {{"ok", true}}};
    }
    if (seg.size() == 3 && seg[2] == "chatstates" && m == http::verb::get) {
      json out = json::array();
      for (const auto& [from, state] : a->handset->chatstates) out.push_back({{"from", from}, {"state", state}});
      return {http::status::ok, {{"chatstates", std::move(out)}}};
    }
    if (seg.size() == 3 && seg[2] == "link-code" && m == http::verb::post) {
      auto st = net.enter_link_code(seg[1], str("code"));
      if (!st) return error(http::status::bad_request, "LINK_CODE_FAILED", st.error().context());
      return {http::status::ok, {{"ok", true}}};
    }
    if (seg.size() == 5 && seg[2] == "devices" && seg[4] == "received" && m == http::verb::get) {
      auto it = a->companions.find(static_cast<std::uint16_t>(std::strtoul(seg[3].c_str(), nullptr, 10)));
      if (it == a->companions.end()) return error(http::status::not_found, "NO_DEVICE", "no device " + seg[3]);
      return {http::status::ok, {{"received", json(std::vector<std::string>(it->second.received.begin(), it->second.received.end()))}}};
    }
    if (seg.size() == 5 && seg[2] == "devices" && seg[4] == "fault" && m == http::verb::post) {
      const int code = body.contains("code") && body["code"].is_number_integer() ? body["code"].get<int>() : 0;
      const std::size_t count = body.contains("count") && body["count"].is_number_unsigned() ? body["count"].get<std::size_t>() : 0;
      const std::uint32_t ms = body.contains("ms") && body["ms"].is_number_unsigned() && body["ms"].get<std::uint64_t>() <= 600000
                                   ? static_cast<std::uint32_t>(body["ms"].get<std::uint64_t>()) : 0;
      auto st = net.fault(seg[1], static_cast<std::uint16_t>(std::strtoul(seg[3].c_str(), nullptr, 10)), str("kind"),
                          str("arg"), code, count, ms);
      if (!st) return error(http::status::bad_request, "FAULT_FAILED", st.error().context());
      return {http::status::ok, {{"ok", true}}};
    }
    if (seg.size() == 5 && seg[2] == "devices" && seg[4] == "logout" && m == http::verb::post) {
      auto st = net.logout(seg[1], static_cast<std::uint16_t>(std::strtoul(seg[3].c_str(), nullptr, 10)));
      if (!st) return error(http::status::not_found, "NO_DEVICE", st.error().context());
      return {http::status::ok, {{"ok", true}}};
    }
  }
  return error(http::status::not_found, "NOT_FOUND", "no route " + std::string(req.method_string()) + " " + path);
}

}  // namespace

struct Server::Impl {
  Impl(Network& n, ServerConfig c) : net(n), cfg(std::move(c)), acceptor(ioc) {}

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket s) {
      if (ec) return;
      // Small writes leave at once. With Nagle on, the upgrade answer waited behind TLS 1.3's unacknowledged
      // session tickets for the client's delayed ACK: about 40 ms on every wss:// connection.
      beast::error_code nodelay_ec;
      s.set_option(tcp::no_delay(true), nodelay_ec);
      detect(std::make_shared<beast::tcp_stream>(std::move(s)));
      accept();
    });
  }

  // TLS and plain connections share the port: a TLS ClientHello starts with 0x16.
  void detect(std::shared_ptr<beast::tcp_stream> st) {
    auto buf = std::make_shared<beast::flat_buffer>();
    st->expires_after(std::chrono::seconds(30));
    beast::async_detect_ssl(*st, *buf, [this, st, buf](beast::error_code ec, bool is_tls) {
      if (ec) return;
      if (!is_tls) return read_request(st, buf);
      auto ts = std::make_shared<TlsStream>(std::move(*st), ssl);
      ts->async_handshake(net::ssl::stream_base::server, buf->cdata(),
                          [this, ts, buf](beast::error_code hec, std::size_t used) {
                            if (hec) return;
                            ++tls_handshakes;
                            if (SSL_session_reused(ts->native_handle()) == 1) ++tls_resumed;
                            buf->consume(used);
                            read_request(ts, buf);
                          });
    });
  }

  // One HTTP exchange at a time per socket; an upgrade to /ws/chat hands the socket to a WsSession.
  template <class Stream>
  void read_request(std::shared_ptr<Stream> st, std::shared_ptr<beast::flat_buffer> buf) {
    auto parser = std::make_shared<http::request_parser<http::string_body>>();
    parser->header_limit(8192);
    parser->body_limit(kMaxControlBody);
    beast::get_lowest_layer(*st).expires_after(std::chrono::seconds(30));
    // The header first: a media upload may carry a larger body than the control API.
    http::async_read_header(*st, *buf, *parser, [this, st, buf, parser](beast::error_code hec, std::size_t) {
      if (hec) return;
      if (parser->get().target().starts_with("/mms/")) {
        parser->body_limit(kMaxMediaBody);
        beast::get_lowest_layer(*st).expires_after(std::chrono::seconds(120));
      }
      http::async_read(*st, *buf, *parser, [this, st, buf, parser](beast::error_code ec, std::size_t) {
        if (ec) return;
        handle(st, buf, parser->release());
      });
    });
  }

  template <class Stream>
  void handle(std::shared_ptr<Stream> st, std::shared_ptr<beast::flat_buffer> buf, http::request<http::string_body> req) {
    {
      if (websocket::is_upgrade(req)) {
        if (std::chrono::steady_clock::now() < down_until) {
          // A restarting server: the connection is refused.
          beast::error_code ignored;
          beast::get_lowest_layer(*st).socket().close(ignored);
          return;
        }
        if (req.target() != "/ws/chat" || req[http::field::origin].empty()) {
          net.log("ws", "upgrade refused: target " + std::string(req.target()) + ", Origin \"" +
                            std::string(req[http::field::origin]) + "\"");
          return respond(st, buf, req, http::status::forbidden,
                         json{{"error", "FORBIDDEN"}, {"message", "websocket upgrade needs /ws/chat and an Origin"}});
        }
        beast::get_lowest_layer(*st).expires_never();
        auto ws = std::make_shared<WsSession<Stream>>(net, websocket::stream<Stream>(std::move(*st)), ++ids);
        ws->start(std::move(req));
        return;
      }
      if (req.method() == http::verb::post && req.target() == "/restart") {
        // A simulated server restart: every connection drops and none is accepted for down_ms.
        auto body = nlohmann::json::parse(req.body(), nullptr, false);
        const long long down = body.is_object() && body.contains("down_ms") && body["down_ms"].is_number_integer()
                                    ? body["down_ms"].get<long long>() : 1000;
        down_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::clamp(down, 0LL, 600000LL));
        net.drop_all();
        return respond(st, buf, req, http::status::ok, json{{"ok", true}, {"down_ms", down}});
      }
      if (req.method() == http::verb::get && req.target() == "/tls-stats") {
        return respond(st, buf, req, http::status::ok, json{{"handshakes", tls_handshakes}, {"resumed", tls_resumed}});
      }
      if (req.method() == http::verb::get && req.target() == "/tls-cert") {
        return respond(st, buf, req, http::status::ok, json{{"pem", tls.cert_pem}});
      }
      if (req.method() == http::verb::post && req.target().starts_with("/mms/")) return upload(st, buf, req);
      if (req.method() == http::verb::post && req.target() == "/media-delay") {
        // A slow media host: every download answers this many milliseconds late (0: at once).
        auto body = nlohmann::json::parse(req.body(), nullptr, false);
        const long long ms = body.is_object() && body.contains("ms") && body["ms"].is_number_integer() ? body["ms"].get<long long>() : 0;
        media_delay = std::chrono::milliseconds(std::clamp(ms, 0LL, 600000LL));
        return respond(st, buf, req, http::status::ok, json{{"ok", true}, {"ms", media_delay.count()}});
      }
      if (req.method() == http::verb::post && req.target() == "/first-stanza-delay") {
        // The pause after a handshake before the first stanza, for the connections that log in from now on.
        auto body = nlohmann::json::parse(req.body(), nullptr, false);
        if (!body.is_object() || !body.contains("ms") || !body["ms"].is_number_integer())
          return respond(st, buf, req, http::status::bad_request, json{{"error", "INVALID_DELAY"}, {"message", "ms: an integer (milliseconds) is required"}});
        const long long ms = std::clamp(body["ms"].get<long long>(), 0LL, 60000LL);
        net.set_first_stanza_delay(std::chrono::milliseconds(ms));
        return respond(st, buf, req, http::status::ok, json{{"ok", true}, {"ms", ms}});
      }
      if (req.method() == http::verb::get && req.target().starts_with("/v/")) {
        const std::string* blob = net.media_get(req.target());
        if (blob == nullptr) return respond(st, buf, req, http::status::not_found, json{{"error", "NOT_FOUND"}});
        if (media_delay.count() == 0) return respond_bytes(st, buf, req, *blob);
        auto timer = std::make_shared<net::steady_timer>(ioc, media_delay);
        auto held = std::make_shared<http::request<http::string_body>>(std::move(req));
        timer->async_wait([this, st, buf, held, blob, timer](beast::error_code) { respond_bytes(st, buf, *held, *blob); });
        return;
      }
      auto [status, body] = control(net, req);
      respond(st, buf, req, status, body);
    }
  }

  // POST /mms/<type>/<token>?auth=...&token=...: the body is stored under its hash; the answer names where
  // to download it (both forms: Baileys 6 needs url, whatsmeow reads direct_path).
  template <class Stream>
  void upload(std::shared_ptr<Stream> st, std::shared_ptr<beast::flat_buffer> buf, const http::request<http::string_body>& req) {
    const std::string_view target = req.target();
    const std::string_view path = target.substr(0, target.find('?'));
    const auto slash = path.rfind('/');
    if (percent_decode(query_value(target, "auth")) != net.media_auth()) {
      net.log("media", "upload refused: wrong auth");
      return respond(st, buf, req, http::status::unauthorized, json{{"error", "UNAUTHORIZED"}});
    }
    auto direct = net.media_put(percent_decode(path.substr(slash + 1)), req.body());
    if (!direct) {
      net.log("media", "upload refused: " + direct.error().context());
      return respond(st, buf, req, http::status::bad_request, json{{"error", "BAD_HASH"}, {"message", direct.error().context()}});
    }
    respond(st, buf, req, http::status::ok,
            json{{"url", "https://" + net.media_host() + *direct}, {"direct_path", *direct}, {"handle", nullptr}});
  }

  template <class Stream>
  void respond(std::shared_ptr<Stream> st, std::shared_ptr<beast::flat_buffer> buf,
               const http::request<http::string_body>& req, http::status status, const json& body) {
    respond_raw(st, buf, req, status, "application/json", body.dump());
  }
  template <class Stream>
  void respond_bytes(std::shared_ptr<Stream> st, std::shared_ptr<beast::flat_buffer> buf,
                     const http::request<http::string_body>& req, const std::string& bytes) {
    respond_raw(st, buf, req, http::status::ok, "application/octet-stream", bytes);
  }

  // Writes one answer, then reads the next request on the socket (or closes it).
  template <class Stream>
  void respond_raw(std::shared_ptr<Stream> st, std::shared_ptr<beast::flat_buffer> buf,
                   const http::request<http::string_body>& req, http::status status, const char* type, std::string body) {
    auto res = std::make_shared<http::response<http::string_body>>(status, req.version());
    res->set(http::field::content_type, type);
    res->keep_alive(req.keep_alive());
    res->body() = std::move(body);
    res->prepare_payload();
    http::async_write(*st, *res, [this, st, buf, res](beast::error_code ec, std::size_t) {
      if (ec || !res->keep_alive()) {
        beast::error_code ignored;
        beast::get_lowest_layer(*st).socket().shutdown(tcp::socket::shutdown_send, ignored);
        return;
      }
      read_request(st, buf);
    });
  }

  Network& net;
  ServerConfig cfg;
  detail::TlsIdentity tls = detail::make_self_signed_identity();
  net::ssl::context ssl{net::ssl::context::tls_server};
  net::io_context ioc{1};
  tcp::acceptor acceptor;
  std::chrono::milliseconds media_delay{0};  // POST /media-delay
  std::uint64_t tls_handshakes = 0, tls_resumed = 0;  // completed TLS handshakes, and those that resumed a session
  std::uint64_t ids = 0;
  std::chrono::steady_clock::time_point down_until{};
};

Server::Server(Network& net, ServerConfig cfg) : impl_(std::make_unique<Impl>(net, std::move(cfg))) {}
Server::~Server() = default;

std::pair<std::string, std::string> make_tls_identity() {
  auto id = detail::make_self_signed_identity();
  return {std::move(id.cert_pem), std::move(id.key_pem)};
}

void Server::start() {
  if (!impl_->cfg.cert_pem.empty() && !impl_->cfg.key_pem.empty()) impl_->tls = {impl_->cfg.cert_pem, impl_->cfg.key_pem};
  impl_->ssl.use_certificate_chain(net::buffer(impl_->tls.cert_pem));
  impl_->ssl.use_private_key(net::buffer(impl_->tls.key_pem), net::ssl::context::pem);
  const tcp::endpoint ep(net::ip::make_address(impl_->cfg.address), impl_->cfg.port);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(net::socket_base::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  impl_->net.set_media_host(impl_->cfg.address + ":" + std::to_string(port()));
  impl_->accept();
}

std::uint16_t Server::port() const { return impl_->acceptor.local_endpoint().port(); }
const std::string& Server::tls_certificate_pem() const { return impl_->tls.cert_pem; }
void Server::run() { impl_->ioc.run(); }
void Server::stop() { net::post(impl_->ioc, [this] { impl_->ioc.stop(); }); }

}  // namespace wa::sim
