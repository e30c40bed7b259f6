// SPDX-License-Identifier: MIT
#include "wa/sim/network.hpp"

#include <algorithm>
#include <chrono>

#include "wa/core/errc.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/sim/connection.hpp"

namespace wa::sim {
namespace {

constexpr std::size_t kMaxLog = 2000;
constexpr std::uint32_t kPhonePreKeys = 200;
constexpr std::size_t kMaxOfflinePerDevice = 10000;
constexpr std::size_t kMaxReceivedLog = 1000;
constexpr std::size_t kRememberedIds = 100000;  // message ids remembered for duplicate detection

std::uint64_t system_now() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

std::uint32_t random_u32() {
  std::uint8_t b[4];
  crypto::random_bytes(b, 4);
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

detail::Unexpected bad(std::string why) { return fail(core::errc::invalid_argument, std::move(why)); }

}  // namespace

Network::Network(NetworkConfig cfg)
    : cfg_(std::move(cfg)),
      root_(crypto::KeyPair::generate()),
      intermediate_(crypto::KeyPair::generate()),
      static_key_(crypto::KeyPair::generate()) {
  if (!cfg_.now) cfg_.now = &system_now;
  media_auth_ = to_base64(crypto::random_bytes(24), true);
  const std::uint64_t t = now();
  // The chain every client accepts (protocol/README.md §2.1): intermediate serial 1 issued by the root
  // (issuer serial 0), leaf serial 2 issued by the intermediate, naming our static key.
  noise::CertSpec inter{1, noise::kRootIssuerSerial, intermediate_.pub, t - 86400, t + 86400 * 3650};
  noise::CertSpec leaf{2, 1, static_key_.pub, t - 86400, t + 86400 * 3650};
  auto chain = noise::build_cert_chain(root_.priv, inter, intermediate_.priv, leaf);
  WA_CHECK(chain.has_value());
  chain_ = std::move(*chain);
}

Network::~Network() = default;

Result<Account*> Network::create_account(std::string_view phone, std::string_view name) {
  if (phone.size() < 8 || phone.size() > 15 || phone[0] == '0' ||
      !std::all_of(phone.begin(), phone.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return bad("phone must be 8 to 15 digits, not starting with 0");
  }
  if (accounts_.count(std::string(phone)) != 0) return bad("account exists");
  auto a = std::make_unique<Account>();
  a->phone = std::string(phone);
  a->name = name.empty() ? "wasim " + a->phone : std::string(name);
  a->identity = crypto::KeyPair::generate();
  a->registration_id = random_u32() & 0x3FFF;
  // The phone's Signal state: signed prekey 1 and 200 one-time prekeys, as a phone publishes them.
  auto handset = std::make_unique<Phone>();
  handset->store = std::make_unique<signal::MemoryStore>(a->identity, a->registration_id);
  handset->signed_prekey = crypto::KeyPair::generate();
  handset->signed_prekey_signature = *crypto::sign(a->identity.priv, crypto::signal_public(handset->signed_prekey.pub));
  handset->store->store_signed_prekey(1, signal::signed_prekey_record(1, handset->signed_prekey,
                                                                   handset->signed_prekey_signature, now() * 1000));
  for (std::uint32_t id = 1; id <= kPhonePreKeys; ++id) {
    const auto k = crypto::KeyPair::generate();
    handset->store->store_prekey(id, signal::prekey_record(id, k));
    handset->unused_prekeys.emplace_back(id, k.pub);
  }
  handset->signal = std::make_unique<signal::SignalProtocol>(*handset->store);
  handset->app_state_key_id = Bytes{0, 0, 0, 0, 0, 1};
  handset->app_state_key_data = crypto::random_bytes(32);
  a->handset = std::move(handset);
  do {
    a->lid = std::to_string(100000000000000ull + (std::uint64_t{random_u32()} << 16) % 800000000000000ull);
  } while (by_lid_.count(a->lid) != 0);
  Account* raw = a.get();
  by_lid_.emplace(raw->lid, raw);
  accounts_.emplace(raw->phone, std::move(a));
  log("control", "account " + raw->phone + " created (lid " + raw->lid + ")");
  return raw;
}

Account* Network::account(std::string_view phone) {
  auto it = accounts_.find(std::string(phone));
  return it == accounts_.end() ? nullptr : it->second.get();
}

Status Network::scan(std::string_view phone, std::string_view qr) {
  Account* a = account(phone);
  if (a == nullptr) return bad("no account " + std::string(phone));
  // whatsmeow form: https://wa.me/settings/linked_devices#REF,NOISE,IDENTITY,ADV,CLIENTTYPE
  if (auto hash = qr.find('#'); hash != std::string_view::npos) qr = qr.substr(hash + 1);
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const auto comma = qr.find(',', start);
    parts.push_back(qr.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (parts.size() != 4 && parts.size() != 5) return bad("QR is not REF,NOISE,IDENTITY,ADV[,TYPE]");
  auto noise_key = from_base64(parts[1]);
  auto identity = from_base64(parts[2]);
  auto adv = from_base64(parts[3]);
  if (!noise_key || !identity || !adv || noise_key->size() != 32 || identity->size() != 32 || adv->size() != 32) {
    return bad("QR keys are not three base64 32-byte values");
  }
  auto it = refs_.find(std::string(parts[0]));
  if (it == refs_.end()) return bad("QR ref is not shown by any connected companion (expired or unknown)");
  Connection* c = it->second;
  if (!std::equal(noise_key->begin(), noise_key->end(), c->client_static().begin())) {
    return bad("QR noise key is not the key of the connection that shows this ref");
  }
  return c->on_scanned(*a, *identity, *adv);
}

Status Network::enter_link_code(std::string_view phone, std::string_view code) {
  Account* a = account(phone);
  if (a == nullptr) return bad("no account " + std::string(phone));
  for (Connection* c : connections_) {
    if (c->link_code_phone() == phone) return c->on_link_code_entered(*a, code);
  }
  return bad("no companion is waiting for a code for " + std::string(phone));
}

Companion& Network::add_companion(Account& account, Companion c) {
  const std::uint16_t dev = c.device;
  log("c", "device " + account.phone + ":" + std::to_string(dev) + " linked (" + c.platform + ")");
  return account.companions[dev] = std::move(c);
}

Status Network::logout(std::string_view phone, std::uint16_t device) {
  Account* a = account(phone);
  if (a == nullptr || a->companions.erase(device) == 0) return bad("no such device");
  for (Connection* c : connections_of(phone, device)) c->stream_error("401");
  log("control", "device " + std::string(phone) + ":" + std::to_string(device) + " logged out");
  return ok();
}

Status Network::fault(std::string_view phone, std::uint16_t device, std::string_view kind, std::string_view arg,
                      int code, std::size_t count, std::uint32_t ms) {
  Account* a = account(phone);
  if (a == nullptr) return bad("no such account");
  auto it = a->companions.find(device);
  if (it == a->companions.end()) return bad("no such device");
  const auto conns = connections_of(phone, device);
  const std::string who = std::string(phone) + ":" + std::to_string(device);
  log("control", "fault " + std::string(kind) + " on " + who + " (" + std::to_string(conns.size()) + " connections)");
  if (kind == "drop") {
    for (Connection* c : conns) c->drop();
  } else if (kind == "stall") {
    for (Connection* c : conns) c->stall();
  } else if (kind == "stream-error") {
    const std::string c = code == 0 ? std::string(arg) : std::to_string(code);
    if (c == "401") return logout(phone, device);
    for (Connection* conn : conns) {
      if (c == "conflict") {
        conn->stream_conflict("replaced");
      } else {
        conn->stream_error(c);
      }
    }
  } else if (kind == "prekeys-low") {
    auto& keys = it->second.prekeys;
    if (keys.size() > count) keys.resize(count);
    for (Connection* c : conns) {
      c->send_node(wire::Node{"notification",
                              {{"from", Jid::server_jid()}, {"type", "encrypt"}, {"id", next_id("n")}, {"t", std::to_string(now())}},
                              wire::NodeList{wire::Node{"count", {{"value", std::to_string(keys.size())}}, {}}}});
    }
  } else if (kind == "redeliver") {
    // The newest message the device acknowledged comes again, as a server does after losing an ack.
    if (it->second.recently_acked.empty()) return bad("nothing acknowledged to redeliver");
    wire::Node again = it->second.recently_acked.back();
    it->second.recently_acked.pop_back();
    deliver(*a, device, std::move(again));
  } else if (kind == "fail-iq") {
    if (arg.empty() || code < 400 || code > 599) return bad("fail-iq needs an xmlns and a code 400..599");
    for (std::size_t i = 0; i < std::max<std::size_t>(count, 1); ++i) it->second.failing_iqs.emplace_back(std::string(arg), code);
  } else if (kind == "delay-acks") {
    if (ms == 0 || ms > 600000) return bad("delay-acks needs ms 1..600000");
    it->second.delayed_acks = std::max<std::size_t>(count, 1);
    it->second.ack_delay = std::chrono::milliseconds(ms);
  } else {
    return bad("unknown fault kind " + std::string(kind));
  }
  return ok();
}

std::chrono::milliseconds Network::take_ack_delay(Account& a, std::uint16_t device) {
  auto it = a.companions.find(device);
  if (it == a.companions.end() || it->second.delayed_acks == 0) return std::chrono::milliseconds(0);
  --it->second.delayed_acks;
  return it->second.ack_delay;
}

void Network::drop_all() {
  const auto all = connections_;
  for (Connection* c : all) c->drop();
  log("control", "all connections dropped (" + std::to_string(all.size()) + ")");
}

void Network::deliver(Account& to, std::uint16_t device, wire::Node stanza) {
  auto it = to.companions.find(device);
  if (it == to.companions.end()) return;
  std::string summary = stanza.tag + " " + std::string(stanza.attr_string("id").value_or("")) + " from " +
                        (stanza.attr_jid("from") != nullptr ? stanza.attr_jid("from")->to_string() : std::string("?"));
  if (auto type = stanza.attr_string("type")) summary += " " + std::string(*type);
  it->second.received.push_back(std::move(summary));
  if (it->second.received.size() > kMaxReceivedLog) it->second.received.pop_front();
  for (Connection* c : connections_of(to.phone, device)) {
    if (c->live()) c->send_node(stanza);
  }
  auto& q = it->second.unacked;
  if (q.size() >= kMaxOfflinePerDevice) {
    log(to.phone + ":" + std::to_string(device), "offline queue full, dropping the oldest stanza");
    q.pop_front();
  }
  q.push_back(std::move(stanza));
}

bool Network::first_send(const std::string& sender, const std::string& id) {
  std::string key = sender + "/" + id;
  if (sent_ids_.count(key) != 0) return false;
  sent_ids_.emplace(key, 0);
  sent_order_.push_back(std::move(key));
  if (sent_order_.size() > kRememberedIds) {
    sent_ids_.erase(sent_order_.front());
    sent_order_.pop_front();
  }
  return true;
}

Account* Network::account_by_jid(const Jid& jid) {
  if (jid.server() == Server::user) return account(jid.user());
  if (jid.server() == Server::lid) {
    auto it = by_lid_.find(jid.user());
    return it == by_lid_.end() ? nullptr : it->second;
  }
  return nullptr;
}

void Network::attach(Connection* c) { connections_.push_back(c); }

namespace {
std::string device_key(std::string_view phone, std::uint16_t device) { return std::string(phone) + ":" + std::to_string(device); }
}  // namespace

void Network::bind(Connection* c) {
  if (c->account() != nullptr) bound_[device_key(c->account()->phone, c->device())].push_back(c);
}

void Network::detach(Connection* c) {
  // From the back: at shutdown connections go in reverse order of arrival.
  if (auto it = std::find(connections_.rbegin(), connections_.rend(), c); it != connections_.rend()) {
    connections_.erase(std::next(it).base());
  }
  if (c->account() != nullptr) {
    if (auto it = bound_.find(device_key(c->account()->phone, c->device())); it != bound_.end()) {
      std::erase(it->second, c);
      if (it->second.empty()) bound_.erase(it);
    }
  }
  for (auto it = refs_.begin(); it != refs_.end();) {
    it = it->second == c ? refs_.erase(it) : std::next(it);
  }
}

void Network::register_ref(const std::string& ref, Connection* c) { refs_[ref] = c; }

std::vector<Connection*> Network::connections_of(std::string_view phone, std::uint16_t device) const {
  std::vector<Connection*> out;
  auto it = bound_.find(device_key(phone, device));
  if (it == bound_.end()) return out;
  for (Connection* c : it->second) {
    if (c->logged_in()) out.push_back(c);
  }
  return out;
}

void Network::log(std::string connection, std::string text) {
  log_.push_back(LogEntry{++log_seq_, std::move(connection), std::move(text)});
  if (log_.size() > kMaxLog) log_.pop_front();
}

Result<std::string> Network::media_put(std::string_view token_in, std::string body) {
  std::string token(token_in);
  while (!token.empty() && token.back() == '=') token.pop_back();
  const auto digest = crypto::sha256(ByteView(reinterpret_cast<const std::uint8_t*>(body.data()), body.size()));
  if (token.empty() || to_base64(digest, true) != token) {
    return fail(core::errc::invalid_argument, "the token is not base64url(SHA-256(body))");
  }
  if (body.size() > kMediaCapacity) return fail(core::errc::invalid_argument, "too large");
  if (!media_.count(token)) {
    media_bytes_ += body.size();
    media_order_.push_back(token);
    media_[token] = std::move(body);
    while (media_bytes_ > kMediaCapacity && !media_order_.empty()) {
      auto it = media_.find(media_order_.front());
      media_bytes_ -= it->second.size();
      media_.erase(it);
      media_order_.pop_front();
    }
  }
  // A query as the real server's direct paths have: whatsmeow-style clients append "&hash=..." to it.
  return "/v/t62.7118-24/" + token + "?ccb=11-4&oh=sim&oe=0";
}

const std::string* Network::media_get(std::string_view path) const {
  path = path.substr(0, path.find('?'));
  const auto slash = path.rfind('/');
  if (!path.starts_with("/v/") || slash == std::string_view::npos) return nullptr;
  auto it = media_.find(std::string(path.substr(slash + 1)));
  return it == media_.end() ? nullptr : &it->second;
}

std::string Network::next_id(std::string_view prefix) { return std::string(prefix) + std::to_string(++ids_); }

}  // namespace wa::sim
