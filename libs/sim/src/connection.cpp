// SPDX-License-Identifier: MIT
// Server side of one client connection (protocol/README.md §1-§6, §13). Every rejection is logged with
// its reason; see docs/wasim.md for the strictness rules.
#include "wa/sim/connection.hpp"

#include <algorithm>

#include "wa.pb.h"
#include "wa/core/errc.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/wire/codec.hpp"

namespace wa::sim {
namespace {

using wire::Node;
using wire::NodeList;

constexpr std::uint8_t kAdvAccountSigPrefix[2] = {6, 0};  // ADV account signature: 06 00 || details || companion
constexpr std::uint8_t kAdvDeviceSigPrefix[2] = {6, 1};   // ADV device signature: 06 01 || details || companion || account
constexpr std::size_t kMaxPreKeysStored = 2000;
// Phone-code pairing (protocol/README.md §5.2).
constexpr unsigned kLinkCodeIterations = 2u << 16;  // PBKDF2-HMAC-SHA256 rounds over the typed code
constexpr std::string_view kBundleInfo = "link_code_pairing_key_bundle_encryption_key";
constexpr std::string_view kAdvSecretInfo = "adv_secret";

detail::Unexpected bad(std::string why) { return fail(core::errc::invalid_argument, std::move(why)); }

std::uint32_t be_uint(ByteView b) {
  std::uint32_t v = 0;
  for (auto x : b) v = (v << 8) | x;
  return v;
}

template <std::size_t N>
bool copy_exact(const std::string& s, ByteArray<N>& out) {
  if (s.size() != N) return false;
  std::copy(s.begin(), s.end(), out.begin());
  return true;
}

std::optional<ByteView> child_bytes(const Node& n, std::string_view tag) {
  const Node* c = n.child(tag);
  return c == nullptr ? std::nullopt : c->data();
}

std::string random_ref() {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  Bytes r = crypto::random_bytes(40);
  std::string s = "2@";
  for (auto b : r) s += kAlphabet[b % 64];
  return s;
}

}  // namespace

Connection::Connection(Network& net, Link& link, std::uint64_t id) : net_(net), link_(link), id_(id) {
  net_.attach(this);
}

Connection::~Connection() { net_.detach(this); }

std::string Connection::name() const {
  if (account_ != nullptr) return account_->phone + ":" + std::to_string(device_);
  return "c" + std::to_string(id_);
}

void Connection::reject(std::string why) {
  net_.log(name(), "rejected: " + why);
  phase_ = Phase::closed;
  link_.close();
}

void Connection::on_message(ByteView data) {
  if (phase_ == Phase::closed) return;
  if (auto st = reader_.feed(data); !st) return reject("framing: " + st.error().message());
  if (phase_ == Phase::header) {
    if (!reader_.dict()) return;  // header not complete yet
    dict_ = *reader_.dict();
    phase_ = Phase::hello;
  }
  while (phase_ != Phase::closed) {
    auto frame = reader_.next();
    if (!frame) return reject("framing: " + frame.error().message());
    if (!*frame) return;
    on_frame(**frame);
  }
}

void Connection::on_frame(const Bytes& frame) {
  if (phase_ == Phase::hello) {
    responder_.emplace(noise::ResponderConfig{net_.server_static(), net_.cert_chain(), std::nullopt}, dict_);
    auto hello = responder_->on_client_hello(frame);
    if (!hello) return reject("client hello: " + hello.error().message());
    Bytes out;
    (void)wire::append_frame(out, *hello);
    link_.write(std::move(out));
    phase_ = Phase::finish;
    return;
  }
  if (phase_ == Phase::finish) {
    auto payload = responder_->on_client_finish(frame);
    if (!payload) return reject("client finish: " + payload.error().message());
    client_static_ = responder_->client_static();
    ciphers_ = *responder_->finish();
    responder_.reset();
    if (auto st = on_client_payload(*payload); !st) return reject("client payload: " + st.error().context());
    return;
  }
  auto plain = ciphers_->recv.decrypt(frame);
  if (!plain) return reject("transport: " + plain.error().message());
  auto node = wire::decode_payload(*plain, dict_);
  if (!node) return reject("malformed node: " + node.error().message());
  on_node(*node);
}

Status Connection::on_client_payload(const Bytes& bytes) {
  pb::ClientPayload p;
  if (!p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return bad("does not parse");
  if (!p.has_useragent() || !p.useragent().has_appversion() || !p.useragent().has_platform()) {
    return bad("userAgent with appVersion and platform is required");
  }
  if (!p.has_connecttype() || !p.has_connectreason()) return bad("connectType and connectReason are required");
  if (!p.has_username()) {
    // Registration of a new companion: DevicePairingRegistrationData must be complete and self-consistent.
    if (!p.has_devicepairingdata()) return bad("registration without devicePairingData");
    const auto& d = p.devicepairingdata();
    Registration r;
    if (d.eregid().size() != 4) return bad("eRegid must be 4 bytes");
    if (d.ekeytype() != std::string(1, '\x05')) return bad("eKeytype must be 05");
    if (!copy_exact(d.eident(), r.identity)) return bad("eIdent must be 32 bytes");
    if (d.eskeyid().size() != 3) return bad("eSkeyId must be 3 bytes");
    if (!copy_exact(d.eskeyval(), r.signed_prekey.key)) return bad("eSkeyVal must be 32 bytes");
    if (!copy_exact(d.eskeysig(), r.signed_prekey.signature)) return bad("eSkeySig must be 64 bytes");
    if (d.buildhash().size() != 16) return bad("buildHash must be 16 bytes (MD5 of the version)");
    const auto signed_key = crypto::signal_public(r.signed_prekey.key);
    if (!crypto::verify(r.identity, signed_key, r.signed_prekey.signature)) {
      return bad("signed prekey signature does not verify with eIdent");
    }
    r.registration_id = be_uint(as_bytes(d.eregid()));
    r.signed_prekey.id = be_uint(as_bytes(d.eskeyid()));
    pb::DeviceProps props;
    if (d.has_deviceprops() && props.ParseFromString(d.deviceprops())) r.platform = props.os();
    registration_ = r;
    phase_ = Phase::registration;
    net_.log(name(), "registration handshake (dictionary " + std::to_string(static_cast<int>(dict_)) + ")");
    link_.after(net_.config().first_stanza_delay, [this] { send_pair_device(); });
    return ok();
  }
  // Login of a linked companion: the account, the device and the Noise key must all match.
  Account* a = net_.account(std::to_string(p.username()));
  const auto* companion = a == nullptr ? nullptr : [&]() -> const Companion* {
    auto it = a->companions.find(static_cast<std::uint16_t>(p.device()));
    return it == a->companions.end() ? nullptr : &it->second;
  }();
  if (companion == nullptr || companion->noise_key != client_static_ || p.has_devicepairingdata()) {
    net_.log(name(), "login refused for " + std::to_string(p.username()) + ":" + std::to_string(p.device()) +
                         " (unknown device or wrong noise key)");
    link_.after(net_.config().first_stanza_delay, [this] {
      send_node(Node{"failure", {{"reason", "401"}, {"location", "wasim"}}, {}});
      phase_ = Phase::closed;
      link_.close();
    });
    return ok();
  }
  account_ = a;
  device_ = companion->device;
  phase_ = Phase::logged_in;
  net_.bind(this);
  net_.log(name(), "logged in (dictionary " + std::to_string(static_cast<int>(dict_)) + ")");
  link_.after(net_.config().first_stanza_delay, [this] { send_success(); });
  return ok();
}

void Connection::send_node(const Node& node) {
  if (!ciphers_ || phase_ == Phase::closed) return;
  auto payload = wire::encode_payload(node, dict_);
  WA_CHECK(payload.has_value());
  auto enc = ciphers_->send.encrypt(*payload);
  WA_CHECK(enc.has_value());
  Bytes out;
  WA_CHECK(wire::append_frame(out, *enc).has_value());
  link_.write(std::move(out));
}

void Connection::stream_error(std::string_view code) {
  send_node(Node{"stream:error", {{"code", std::string(code)}}, {}});
  phase_ = Phase::closed;
  link_.close();
}

void Connection::stream_conflict(std::string_view type, std::string_view code) {
  Node n{"stream:error", {}, NodeList{Node{"conflict", {{"type", std::string(type)}}, {}}}};
  if (!code.empty()) n.set_attr("code", std::string(code));
  send_node(n);
  phase_ = Phase::closed;
  link_.close();
}

void Connection::send_pair_device() {
  if (phase_ != Phase::registration) return;
  NodeList refs;
  for (std::size_t i = 0; i < net_.config().pair_refs; ++i) {
    refs_.push_back(random_ref());
    net_.register_ref(refs_.back(), this);
    refs.push_back(Node{"ref", {}, to_bytes(refs_.back())});
  }
  send_node(Node{"iq",
                 {{"from", Jid::server_jid()}, {"type", "set"}, {"id", net_.next_id("pd")}},
                 NodeList{Node{"pair-device", {}, std::move(refs)}}});
}

void Connection::send_success() {
  if (phase_ != Phase::logged_in) return;
  const std::string t = std::to_string(net_.now());
  send_node(Node{"success",
                 {{"t", t},
                  {"props", "1"},
                  {"creation", t},
                  {"location", "wasim"},
                  {"lid", *Jid::make_device(account_->lid, Server::lid, device_)}},
                 {}});
}

Status Connection::on_scanned(Account& account, ByteView qr_identity, ByteView adv_secret) {
  if (phase_ != Phase::registration || !registration_) return bad("connection is not waiting to be paired");
  if (pending_pair_) return bad("already scanned");
  if (!std::equal(qr_identity.begin(), qr_identity.end(), registration_->identity.begin(),
                  registration_->identity.end())) {
    return bad("QR identity key differs from the one this companion registered");
  }
  PendingPair pp;
  pp.account = &account;
  pp.device = account.next_device++;
  pp.key_index = account.next_key_index++;
  pb::ADVDeviceIdentity id;
  id.set_rawid(static_cast<std::uint32_t>(be_uint(crypto::random_bytes(4))));
  id.set_timestamp(net_.now());
  id.set_keyindex(pp.key_index);
  pp.details = id.SerializeAsString();
  // The phone signs 06 00 || details || companion identity with its account (identity) key.
  Bytes msg(kAdvAccountSigPrefix, kAdvAccountSigPrefix + 2);
  append(msg, as_bytes(pp.details));
  append(msg, registration_->identity);
  WA_TRY(auto account_sig, crypto::sign(account.identity.priv, msg));
  pb::ADVSignedDeviceIdentity signed_id;
  signed_id.set_details(pp.details);
  signed_id.set_accountsignaturekey(account.identity.pub.data(), account.identity.pub.size());
  signed_id.set_accountsignature(account_sig.data(), account_sig.size());
  const std::string signed_bytes = signed_id.SerializeAsString();
  const auto hmac = crypto::hmac_sha256(adv_secret, as_bytes(signed_bytes));
  pb::ADVSignedDeviceIdentityHMAC container;
  container.set_details(signed_bytes);
  container.set_hmac(hmac.data(), hmac.size());
  pp.iq_id = net_.next_id("ps");
  const Jid device_jid = *Jid::make_device(account.phone, Server::user, pp.device);
  const Jid lid_jid = *Jid::make_device(account.lid, Server::lid, pp.device);
  net_.log(name(), "QR scanned by " + account.phone + ", offering device " + std::to_string(pp.device));
  send_node(Node{"iq",
                 {{"from", Jid::server_jid()}, {"type", "set"}, {"id", pp.iq_id}, {"t", std::to_string(net_.now())}},
                 NodeList{Node{"pair-success",
                               {},
                               NodeList{Node{"device-identity", {}, to_bytes(container.SerializeAsString())},
                                        Node{"platform", {{"name", "android"}}, {}},
                                        Node{"device", {{"jid", device_jid}, {"lid", lid_jid}}, {}}}}}});
  pending_pair_ = std::move(pp);
  return ok();
}

std::optional<std::string> Connection::link_code_phone() const {
  if (!link_code_ || link_code_->primary_ephemeral) return std::nullopt;
  return link_code_->phone;
}

// companion_hello (the companion asks for a code for a phone number) and companion_finish.
void Connection::on_link_code_iq(const Node& iq) {
  const Node* reg = iq.child("link_code_companion_reg");
  const auto stage = reg == nullptr ? std::nullopt : reg->attr_string("stage");
  const Jid* jid = reg == nullptr ? nullptr : reg->attr_jid("jid");
  if (!stage || jid == nullptr || jid->server() != Server::user || jid->has_device()) {
    net_.log(name(), "link code iq refused: needs stage and a phone JID");
    return iq_error(iq, 400, "bad-request");
  }
  if (*stage == "companion_finish") return on_companion_finish(iq, *reg);
  if (*stage != "companion_hello") return iq_error(iq, 400, "bad-request");
  const auto wrapped = child_bytes(*reg, "link_code_pairing_wrapped_companion_ephemeral_pub");
  const auto auth = child_bytes(*reg, "companion_server_auth_key_pub");
  if (!wrapped || wrapped->size() != 80 || !auth || auth->size() != 32) {
    net_.log(name(), "companion_hello refused: wrapped ephemeral must be 80 bytes, auth key 32");
    return iq_error(iq, 400, "bad-request");
  }
  if (!std::equal(auth->begin(), auth->end(), client_static_.begin(), client_static_.end())) {
    net_.log(name(), "companion_hello refused: server auth key is not this connection's noise key");
    return iq_error(iq, 400, "bad-request");
  }
  if (net_.account(jid->user()) == nullptr) return iq_error(iq, 404, "item-not-found");
  LinkCode lc;
  lc.phone = jid->user();
  lc.wrapped_companion_ephemeral.assign(wrapped->begin(), wrapped->end());
  lc.ref = net_.next_id("lc");
  const std::string ref = lc.ref;
  link_code_ = std::move(lc);
  net_.log(name(), "companion asked a pairing code for " + jid->user());
  iq_result(iq, NodeList{Node{"link_code_companion_reg", {},
                              NodeList{Node{"link_code_pairing_ref", {}, to_bytes(ref)}}}});
}

Status Connection::on_link_code_entered(Account& account, std::string_view typed) {
  std::string code;
  for (char ch : typed) {
    if (ch == '-' || ch == ' ') continue;
    code += static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
  }
  if (code.size() != 8) return bad("a pairing code has 8 characters");
  LinkCode& lc = *link_code_;
  lc.account = &account;
  // Unwrap the companion's ephemeral key with the code (a wrong code yields a wrong key, found later).
  const ByteView w = lc.wrapped_companion_ephemeral;
  const SecretBytes key = crypto::pbkdf2_sha256(as_bytes(code), w.first(32), kLinkCodeIterations, 32);
  WA_TRY(Bytes companion_eph, crypto::aes_ctr(key.view(), w.subspan(32, 16), w.subspan(48, 32)));
  std::copy(companion_eph.begin(), companion_eph.end(), lc.companion_ephemeral.begin());
  lc.primary_ephemeral = crypto::KeyPair::generate();
  const Bytes salt = crypto::random_bytes(32);
  const Bytes iv = crypto::random_bytes(16);
  const SecretBytes key2 = crypto::pbkdf2_sha256(as_bytes(code), salt, kLinkCodeIterations, 32);
  WA_TRY(Bytes wrapped, crypto::aes_ctr(key2.view(), iv, lc.primary_ephemeral->pub));
  Bytes primary_wrapped = salt;
  append(primary_wrapped, iv);
  append(primary_wrapped, wrapped);
  net_.log(name(), "pairing code entered on " + account.phone);
  send_node(Node{"notification",
                 {{"from", Jid::server_jid()},
                  {"type", "link_code_companion_reg"},
                  {"id", net_.next_id("n")},
                  {"t", std::to_string(net_.now())}},
                 NodeList{Node{"link_code_companion_reg",
                               {{"stage", "primary_hello"}},
                               NodeList{Node{"link_code_pairing_ref", {}, to_bytes(lc.ref)},
                                        Node{"primary_identity_pub", {}, Bytes(account.identity.pub.begin(), account.identity.pub.end())},
                                        Node{"link_code_pairing_wrapped_primary_ephemeral_pub", {}, std::move(primary_wrapped)}}}}});
  return ok();
}

// The companion's key bundle: proves it derived the same shared secret (so the code was right) and
// names both identities; both sides then derive the ADV secret, and pairing continues as after a QR scan.
void Connection::on_companion_finish(const Node& iq, const Node& reg) {
  if (!link_code_ || !link_code_->primary_ephemeral) return iq_error(iq, 400, "bad-request");
  LinkCode& lc = *link_code_;
  const auto bundle = child_bytes(reg, "link_code_pairing_wrapped_key_bundle");
  const auto identity = child_bytes(reg, "companion_identity_public");
  const auto ref = child_bytes(reg, "link_code_pairing_ref");
  if (!bundle || bundle->size() != 32 + 12 + 96 + 16 || !identity || identity->size() != 32 || !ref ||
      as_chars(*ref) != lc.ref) {
    net_.log(name(), "companion_finish refused: malformed bundle, identity or ref");
    return iq_error(iq, 400, "bad-request");
  }
  auto shared = crypto::shared_key(lc.primary_ephemeral->priv, lc.companion_ephemeral);
  if (!shared) {
    net_.log(name(), "companion_finish refused: bad companion ephemeral (wrong code?)");
    return iq_error(iq, 401, "not-authorized");
  }
  const SecretBytes bundle_key = crypto::hkdf_sha256(shared->view(), bundle->first(32), as_bytes(kBundleInfo), 32);
  auto plain = crypto::aes_gcm_decrypt(bundle_key.view(), bundle->subspan(32, 12), {}, bundle->subspan(44));
  if (!plain || plain->size() != 96) {
    net_.log(name(), "companion_finish refused: key bundle does not decrypt (wrong code)");
    link_code_->primary_ephemeral.reset();  // the user may type the code again
    return iq_error(iq, 401, "not-authorized");
  }
  const ByteView p = *plain;
  Account& account = *lc.account;
  if (!std::equal(identity->begin(), identity->end(), p.begin()) ||
      !std::equal(account.identity.pub.begin(), account.identity.pub.end(), p.begin() + 32)) {
    net_.log(name(), "companion_finish refused: identities in the bundle do not match");
    return iq_error(iq, 401, "not-authorized");
  }
  auto identity_shared = crypto::shared_key(account.identity.priv, *identity);
  if (!identity_shared) return iq_error(iq, 400, "bad-request");
  Bytes ikm(shared->view().begin(), shared->view().end());
  append(ikm, identity_shared->view());
  append(ikm, p.subspan(64, 32));
  const SecretBytes adv_secret = crypto::hkdf_sha256(ikm, {}, as_bytes(kAdvSecretInfo), 32);
  iq_result(iq);
  link_code_.reset();
  if (auto st = on_scanned(account, *identity, adv_secret.view()); !st) reject("link code pairing: " + st.error().context());
}

void Connection::on_node(const Node& node) {
  if (node.tag == "iq") return on_iq(node);
  // During registration stock clients ack our notifications and, after phone-code pairing, announce
  // their push name with <presence name>: both tolerated, as the real server does.
  if (phase_ == Phase::registration && (node.tag == "ack" || node.tag == "presence")) return;
  if (phase_ != Phase::logged_in) return reject("<" + node.tag + "> before login");
  if (node.tag == "message") return on_message(node);
  if (node.tag == "receipt") return on_receipt(node);
  if (node.tag == "ack") return on_ack(node);
  if (node.tag == "presence") return on_presence(node);
  if (node.tag == "chatstate") return on_chatstate(node);
  // Accepted and not routed yet (docs/wasim.md).
  static const char* kKnown[] = {"notification", "call", "ib"};
  if (std::none_of(std::begin(kKnown), std::end(kKnown), [&](const char* t) { return node.tag == t; })) {
    return reject("unknown stanza <" + node.tag + ">");
  }
}

void Connection::on_iq(const Node& iq) {
  const auto id = iq.attr_string("id");
  const auto type = iq.attr_string("type");
  if (!id || id->empty() || !type) return reject("<iq> without id or type: " + wire::to_debug_string(iq).substr(0, 200));
  if (*type == "result" || *type == "error") return on_iq_result(iq);
  if (*type != "get" && *type != "set") return iq_error(iq, 400, "bad-request");
  if (phase_ == Phase::registration && iq.attr_string("xmlns") == "md") return on_link_code_iq(iq);
  const auto xmlns = iq.attr_string("xmlns").value_or("");
  const Node* first = iq.children().empty() ? nullptr : &iq.children()[0];
  // Keepalive pings are answered in any phase after the handshake, as the real server does.
  if (xmlns == "w:p" && first != nullptr && first->tag == "ping") return iq_result(iq);
  if (phase_ != Phase::logged_in) return reject("iq " + std::string(*type) + " before login");
  if (auto& fails = account_->companions.at(device_).failing_iqs; !fails.empty()) {
    auto it = std::find_if(fails.begin(), fails.end(), [&](const auto& f) { return f.first == xmlns; });
    if (it != fails.end()) {
      const int code = it->second;
      fails.erase(it);
      net_.log(name(), "fault: iq " + std::string(xmlns) + " answered with error " + std::to_string(code));
      return iq_error(iq, code, "wasim-fault");
    }
  }
  if (xmlns == "encrypt" && *type == "get" && first != nullptr && first->tag == "count") {
    const auto& c = account_->companions.at(device_);
    return iq_result(iq, NodeList{Node{"count", {{"value", std::to_string(c.prekeys.size())}}, {}}});
  }
  if (xmlns == "encrypt" && *type == "get" && first != nullptr && first->tag == "digest") return on_digest(iq);
  if (xmlns == "encrypt" && *type == "set" && first != nullptr && first->tag == "rotate") return on_rotate(iq, *first);
  if (xmlns == "encrypt" && *type == "set") return on_prekey_upload(iq);
  if (xmlns == "passive" && first != nullptr && (first->tag == "active" || first->tag == "passive")) {
    iq_result(iq);
    if (first->tag == "active") on_active();
    return;
  }
  if (xmlns == "md" && *type == "set" && first != nullptr && first->tag == "remove-companion-device") {
    // A companion unlinks itself (WhatsApp Web's "log out"): answered, then the device is gone from the account
    // and its connections get the 401 every logged-out device gets. Another device's jid is refused.
    std::optional<Jid> jid;
    if (const Jid* j = first->attr_jid("jid")) jid = *j;
    else if (auto t = first->attr_string("jid")) {
      if (auto parsed = Jid::parse(*t)) jid = *parsed;
    }
    if (!jid || jid->user() != account_->phone || jid->device() != device_) return iq_error(iq, 403, "forbidden");
    iq_result(iq);
    const std::string phone = account_->phone;
    const std::uint16_t device = device_;
    (void)net_.logout(phone, device);  // may close this connection: nothing of it is used after this line
    return;
  }
  if (xmlns == "usync") return on_usync(iq);
  if (xmlns == "encrypt" && *type == "get" && first != nullptr && first->tag == "key") return on_bundle_fetch(iq, *first);
  if (xmlns == "privacy") {
    NodeList cats;
    for (const char* n : {"last", "online", "profile", "status", "groupadd", "readreceipts", "calladd"}) {
      cats.push_back(Node{"category", {{"name", n}, {"value", std::string(n) == "readreceipts" ? "all" : "contacts"}}, {}});
    }
    return iq_result(iq, NodeList{Node{"privacy", {}, std::move(cats)}});
  }
  if (xmlns == "blocklist") return iq_result(iq, NodeList{Node{"list", {}, {}}});
  if (xmlns == "w" && first != nullptr && first->tag == "props") {
    return iq_result(iq, NodeList{Node{"props", {{"protocol", "2"}, {"hash", "wasim"}}, {}}});
  }
  if (xmlns == "w:g2") return on_group_iq(iq);
  if (xmlns == "w:m" && first != nullptr && first->tag == "media_conn") {
    return iq_result(iq, NodeList{Node{"media_conn",
                                       {{"auth", net_.media_auth()}, {"ttl", "300"}, {"auth_ttl", "21600"}, {"max_buckets", "12"}},
                                       NodeList{Node{"host", {{"hostname", net_.media_host()}}, {}}}}});
  }
  if (xmlns == "abt") return iq_result(iq, NodeList{Node{"props", {{"protocol", "1"}}, {}}});
  net_.log(name(), "iq not implemented: xmlns=" + std::string(xmlns) + " " + wire::to_debug_string(iq).substr(0, 200));
  iq_error(iq, 501, "feature-not-implemented");
}

void Connection::on_iq_result(const Node& iq) {
  const Node* first = iq.children().empty() ? nullptr : &iq.children()[0];
  if (first != nullptr && first->tag == "pair-device-sign") return on_pair_device_sign(iq, *first);
}

void Connection::on_pair_device_sign(const Node& iq, const Node& sign) {
  if (!pending_pair_ || iq.attr_string("id") != pending_pair_->iq_id) return reject("pair-device-sign without a pairing");
  const Node* di = sign.child("device-identity");
  const auto data = di == nullptr ? std::nullopt : di->data();
  if (!data) return reject("pair-device-sign without device-identity");
  pb::ADVSignedDeviceIdentity s;
  if (!s.ParseFromArray(data->data(), static_cast<int>(data->size()))) return reject("device-identity does not parse");
  if (s.details() != pending_pair_->details) return reject("device-identity details differ from what the phone signed");
  if (s.has_accountsignaturekey() && !s.accountsignaturekey().empty()) {
    return reject("pair-device-sign must omit accountSignatureKey");
  }
  if (di->attr_string("key-index") != std::to_string(pending_pair_->key_index)) return reject("wrong key-index");
  Account& account = *pending_pair_->account;
  Bytes msg(kAdvDeviceSigPrefix, kAdvDeviceSigPrefix + 2);
  append(msg, as_bytes(s.details()));
  append(msg, registration_->identity);
  append(msg, account.identity.pub);
  if (!crypto::verify(registration_->identity, msg, as_bytes(s.devicesignature()))) {
    return reject("device signature does not verify");
  }
  Companion c;
  c.device = pending_pair_->device;
  c.noise_key = client_static_;
  c.identity = registration_->identity;
  c.registration_id = registration_->registration_id;
  c.signed_prekey = registration_->signed_prekey;
  c.platform = registration_->platform;
  c.adv_details = pending_pair_->details;
  c.key_index = pending_pair_->key_index;
  c.paired_at = net_.now();
  net_.add_companion(account, std::move(c));
  // The real server ends a registration connection with 515: the client reconnects and logs in.
  stream_error("515");
}

void Connection::on_prekey_upload(const Node& iq) {
  auto& c = account_->companions.at(device_);
  const auto reg = child_bytes(iq, "registration");
  const auto type = child_bytes(iq, "type");
  const auto identity = child_bytes(iq, "identity");
  const Node* list = iq.child("list");
  const Node* skey = iq.child("skey");
  if (!reg || reg->size() != 4 || !type || type->size() != 1 || (*type)[0] != crypto::kDjbType || !identity ||
      list == nullptr || skey == nullptr) {
    net_.log(name(), "prekey upload refused: missing or malformed registration/type/identity/list/skey");
    return iq_error(iq, 400, "bad-request");
  }
  if (!std::equal(identity->begin(), identity->end(), c.identity.begin(), c.identity.end())) {
    net_.log(name(), "prekey upload refused: identity differs from the paired one");
    return iq_error(iq, 406, "not-acceptable");
  }
  const auto sid = child_bytes(*skey, "id");
  const auto sval = child_bytes(*skey, "value");
  const auto ssig = child_bytes(*skey, "signature");
  if (!sid || sid->size() != 3 || !sval || sval->size() != 32 || !ssig || ssig->size() != 64) {
    return iq_error(iq, 400, "bad-request");
  }
  crypto::PublicKey sv;
  std::copy(sval->begin(), sval->end(), sv.begin());
  if (!crypto::verify(c.identity, crypto::signal_public(sv), *ssig)) {
    net_.log(name(), "prekey upload refused: signed prekey signature does not verify");
    return iq_error(iq, 406, "not-acceptable");
  }
  std::vector<PreKey> keys;
  for (const Node& k : list->children()) {
    const auto kid = child_bytes(k, "id");
    const auto kval = child_bytes(k, "value");
    if (k.tag != "key" || !kid || kid->size() != 3 || !kval || kval->size() != 32) return iq_error(iq, 400, "bad-request");
    PreKey p;
    p.id = be_uint(*kid);
    std::copy(kval->begin(), kval->end(), p.key.begin());
    keys.push_back(p);
  }
  c.signed_prekey = SignedPreKey{be_uint(*sid), sv, {}};
  std::copy(ssig->begin(), ssig->end(), c.signed_prekey.signature.begin());
  c.registration_id = be_uint(*reg);
  for (auto& k : keys) {
    if (c.prekeys.size() < kMaxPreKeysStored) c.prekeys.push_back(k);
  }
  net_.log(name(), "uploaded " + std::to_string(keys.size()) + " prekeys");
  iq_result(iq);
}

// A new signed prekey, signed by the device's identity.
void Connection::on_rotate(const Node& iq, const Node& rotate) {
  auto& c = account_->companions.at(device_);
  const Node* skey = rotate.child("skey");
  const auto sid = skey == nullptr ? std::nullopt : child_bytes(*skey, "id");
  const auto sval = skey == nullptr ? std::nullopt : child_bytes(*skey, "value");
  const auto ssig = skey == nullptr ? std::nullopt : child_bytes(*skey, "signature");
  if (!sid || sid->size() != 3 || !sval || sval->size() != 32 || !ssig || ssig->size() != 64) {
    return iq_error(iq, 400, "bad-request");
  }
  SignedPreKey k;
  k.id = be_uint(*sid);
  std::copy(sval->begin(), sval->end(), k.key.begin());
  std::copy(ssig->begin(), ssig->end(), k.signature.begin());
  if (!crypto::verify(c.identity, crypto::signal_public(k.key), k.signature)) {
    net_.log(name(), "signed prekey rotation refused: bad signature");
    return iq_error(iq, 406, "not-acceptable");
  }
  c.signed_prekey = k;
  net_.log(name(), "rotated signed prekey to id " + std::to_string(k.id));
  iq_result(iq);
}

void Connection::on_presence(const Node& p) {
  const auto type = p.attr_string("type").value_or("available");
  if (type == "subscribe") {
    const Jid* to = p.attr_jid("to");
    Account* target = to == nullptr ? nullptr : net_.account_by_jid(*to);
    if (target == nullptr) return;
    net_.subscribe_presence(*target, account_->phone, device_);
    send_node(net_.presence_node(*target));
    return;
  }
  if (type == "available" || type == "unavailable") net_.set_presence(*account_, type);
}

void Connection::on_chatstate(const Node& c) {
  const Jid* to = c.attr_jid("to");
  if (to == nullptr || c.children().empty()) return;
  const Node& state = c.children()[0];
  std::string s = state.tag;
  if (s == "composing" && state.attr_string("media") == "audio") s = "recording";
  if (auto st = net_.chatstate(*account_, device_, *to, s); !st) net_.log(name(), "chatstate not routed: " + st.error().context());
}

void Connection::iq_result(const Node& req, wire::Content content) {
  send_node(Node{"iq",
                 {{"from", Jid::server_jid()}, {"type", "result"}, {"id", std::string(*req.attr_string("id"))}},
                 std::move(content)});
}

void Connection::iq_error(const Node& req, int code, std::string_view text) {
  send_node(Node{"iq",
                 {{"from", Jid::server_jid()}, {"type", "error"}, {"id", std::string(*req.attr_string("id"))}},
                 NodeList{Node{"error", {{"code", std::to_string(code)}, {"text", std::string(text)}}, {}}}});
}

}  // namespace wa::sim
