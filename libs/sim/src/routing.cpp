// SPDX-License-Identifier: MIT
// wasim after login: device lists (usync), prekey bundles, 1:1 message routing with per-device fan-out,
// receipts, the phone's app-state key share and offline queues (protocol/README.md §7, §8, §13).
#include <algorithm>

#include "wa.pb.h"
#include "wa/crypto/crypto.hpp"
#include "wa/core/errc.hpp"
#include "wa/sim/connection.hpp"
#include "phone_session.hpp"

namespace wa::sim {
namespace {

using wire::Node;
using wire::NodeList;

constexpr std::size_t kMaxPhoneMessages = 1000;
constexpr std::chrono::milliseconds kKeyShareAckTimeout{3000};

Bytes be(std::uint32_t v, std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[n - 1 - i] = static_cast<std::uint8_t>(v >> (8 * i));
  return b;
}
Bytes key_bytes(const crypto::PublicKey& k) { return Bytes(k.begin(), k.end()); }

// WhatsApp padding: 1..15 bytes, each equal to the count (protocol/README.md §7.3).
Bytes pad(std::string plain) {
  std::uint8_t n = crypto::random_bytes(1)[0] & 0x0F;
  if (n == 0) n = 15;
  Bytes b = to_bytes(plain);
  b.insert(b.end(), n, n);
  return b;
}
std::optional<ByteView> unpad(ByteView b) {
  if (b.empty() || b.back() == 0 || b.back() > b.size()) return std::nullopt;
  return b.first(b.size() - b.back());
}

Node skey_node(std::uint32_t id, const crypto::PublicKey& key, const crypto::Signature& sig) {
  return Node{"skey", {}, NodeList{Node{"id", {}, be(id, 3)}, Node{"value", {}, key_bytes(key)},
                                   Node{"signature", {}, Bytes(sig.begin(), sig.end())}}};
}

Node bundle_node(const Jid& jid, std::uint32_t reg, const crypto::PublicKey& identity, std::uint32_t skey_id,
                 const crypto::PublicKey& skey, const crypto::Signature& sig,
                 std::optional<std::pair<std::uint32_t, crypto::PublicKey>> prekey) {
  NodeList c{Node{"registration", {}, be(reg, 4)}, Node{"type", {}, Bytes{crypto::kDjbType}},
             Node{"identity", {}, key_bytes(identity)}, skey_node(skey_id, skey, sig)};
  if (prekey) {
    c.push_back(Node{"key", {}, NodeList{Node{"id", {}, be(prekey->first, 3)}, Node{"value", {}, key_bytes(prekey->second)}}});
  }
  return Node{"user", {{"jid", jid}}, std::move(c)};
}

}  // namespace

// The phone's Signal session with one of the companions, started from the bundle the companion uploaded
// (consuming one of its one-time prekeys) when there is none yet.
void describe_plaintext(const Result<Bytes>& plain, PhoneMessage& pm) {
  pb::Message msg;
  const auto unpadded = plain ? unpad(*plain) : std::nullopt;
  if (!plain) {
    pm.kind = "undecryptable: " + plain.error().message();
    return;
  }
  if (!unpadded || !msg.ParseFromArray(unpadded->data(), static_cast<int>(unpadded->size()))) {
    pm.kind = "unparseable";
    return;
  }
  const pb::Message& inner = msg.has_devicesentmessage() ? msg.devicesentmessage().message() : msg;
  if (inner.has_conversation()) {
    pm.kind = "conversation";
    pm.text = inner.conversation();
  } else if (inner.has_extendedtextmessage()) {
    pm.kind = "extendedTextMessage";
    pm.text = inner.extendedtextmessage().text();
  } else if (inner.has_protocolmessage()) {
    pm.kind = "protocolMessage";
  } else {
    pm.kind = "other";
  }
  if (msg.has_devicesentmessage()) pm.kind = "deviceSentMessage/" + pm.kind;
}

void add_lid_attrs(Node& stanza, const Account& author, const Account* peer, bool group) {
  if (author.lid.empty()) return;
  const Jid lid = *Jid::make(author.lid, Server::lid);
  if (group) {
    stanza.set_attr("addressing_mode", "pn");
    stanza.set_attr("participant_lid", lid);
    return;
  }
  stanza.set_attr("sender_lid", lid);
  if (peer != nullptr && !peer->lid.empty() && stanza.attr_jid("recipient") != nullptr) {
    stanza.set_attr("recipient_lid", *Jid::make(peer->lid, Server::lid));
  }
}

Status phone_session(Phone& p, const signal::Address& to, Companion& c) {
  if (p.signal->has_session(to)) return ok();
  signal::PreKeyBundle b;
  b.registration_id = c.registration_id;
  b.device = to.device;
  b.identity = c.identity;
  b.signed_prekey_id = c.signed_prekey.id;
  b.signed_prekey = c.signed_prekey.key;
  b.signed_prekey_signature = c.signed_prekey.signature;
  if (!c.prekeys.empty()) {
    b.prekey_id = c.prekeys.front().id;
    b.prekey = c.prekeys.front().key;
    c.prekeys.erase(c.prekeys.begin());
  }
  return p.signal->process_bundle(to, b);
}

std::optional<std::pair<std::uint32_t, crypto::PublicKey>> take_prekey(Phone& p) {
  if (p.unused_prekeys.empty()) return std::nullopt;
  auto pk = p.unused_prekeys.front();
  p.unused_prekeys.pop_front();
  return pk;
}

Status phone_session(Phone& p, Account& other) {
  const signal::Address to{other.phone, 0};
  if (p.signal->has_session(to)) return ok();
  const Phone& q = *other.handset;
  signal::PreKeyBundle b;
  b.registration_id = other.registration_id;
  b.device = 0;
  b.identity = other.identity.pub;
  b.signed_prekey_id = 1;
  b.signed_prekey = q.signed_prekey.pub;
  b.signed_prekey_signature = q.signed_prekey_signature;
  if (auto pk = take_prekey(*other.handset)) {
    b.prekey_id = pk->first;
    b.prekey = pk->second;
  }
  return p.signal->process_bundle(to, b);
}



Jid Connection::device_jid() const { return *Jid::make_device(account_->phone, Server::user, device_); }

// --- device lists and bundles -------------------------------------------------------------------------

void Connection::on_usync(const Node& iq) {
  const Node* usync = iq.child("usync");
  const Node* query = usync == nullptr ? nullptr : usync->child("query");
  const Node* list = usync == nullptr ? nullptr : usync->child("list");
  if (query == nullptr || list == nullptr) return iq_error(iq, 400, "bad-request");
  NodeList users;
  for (const Node& u : list->children()) {
    if (u.tag != "user") return iq_error(iq, 400, "bad-request");
    Account* a = nullptr;
    Jid jid;
    if (const Jid* j = u.attr_jid("jid")) {
      jid = *j;
      a = net_.account_by_jid(jid);
    } else if (const Node* contact = u.child("contact"); contact != nullptr && contact->data()) {
      // A phone-number lookup ("is this number on WhatsApp"): "+1 555-000 1111" → digits.
      std::string digits;
      for (char ch : as_chars(*contact->data())) {
        if (ch >= '0' && ch <= '9') digits += ch;
      }
      a = net_.account(digits);
      auto parsed = Jid::make(digits.empty() ? "0" : digits, Server::user);
      if (!parsed) continue;
      jid = *parsed;
    } else {
      continue;
    }
    NodeList protocols;
    for (const Node& q : query->children()) {
      if (q.tag == "devices") {
        NodeList devices;
        if (a != nullptr) {
          devices.push_back(Node{"device", {{"id", "0"}}, {}});
          for (const auto& [dev, c] : a->companions) {
            devices.push_back(Node{"device", {{"id", std::to_string(dev)}, {"key-index", std::to_string(c.key_index)}}, {}});
          }
        }
        protocols.push_back(Node{"devices", {}, NodeList{Node{"device-list", {}, std::move(devices)}}});
      } else if (q.tag == "contact") {
        protocols.push_back(Node{"contact", {{"type", a != nullptr ? "in" : "out"}}, {}});
      } else if (q.tag == "lid" && a != nullptr) {
        protocols.push_back(Node{"lid", {{"val", *Jid::make(a->lid, Server::lid)}}, {}});
      }
    }
    users.push_back(Node{"user", {{"jid", a != nullptr ? *Jid::make(a->phone, Server::user) : jid}}, std::move(protocols)});
  }
  Node result{"usync", usync->attrs, NodeList{Node{"result", {}, {}}, Node{"list", {}, std::move(users)}}};
  iq_result(iq, NodeList{std::move(result)});
}

void Connection::on_bundle_fetch(const Node& iq, const Node& key) {
  NodeList users;
  for (const Node& u : key.children()) {
    const Jid* jid = u.attr_jid("jid");
    if (u.tag != "user" || jid == nullptr) return iq_error(iq, 400, "bad-request");
    Account* a = net_.account_by_jid(*jid);
    const std::uint16_t dev = jid->device();
    if (a != nullptr && dev == 0) {
      Phone& p = *a->handset;
      const auto pk = take_prekey(p);
      users.push_back(bundle_node(*jid, a->registration_id, a->identity.pub, 1, p.signed_prekey.pub,
                                  p.signed_prekey_signature, pk));
      continue;
    }
    auto it = a == nullptr ? decltype(a->companions)::iterator{} : a->companions.find(dev);
    if (a == nullptr || it == a->companions.end()) {
      users.push_back(Node{"user", {{"jid", *jid}}, NodeList{Node{"error", {{"code", "404"}, {"text", "item-not-found"}}, {}}}});
      continue;
    }
    Companion& c = it->second;
    std::optional<std::pair<std::uint32_t, crypto::PublicKey>> pk;
    if (!c.prekeys.empty()) {
      pk = std::pair{c.prekeys.front().id, c.prekeys.front().key};
      c.prekeys.erase(c.prekeys.begin());
    }
    users.push_back(bundle_node(*jid, c.registration_id, c.identity, c.signed_prekey.id, c.signed_prekey.key,
                                c.signed_prekey.signature, pk));
  }
  iq_result(iq, NodeList{Node{"list", {}, std::move(users)}});
}

// The key bundle the server holds for this device (baileys 7 checks that one comes back after login).
void Connection::on_digest(const Node& iq) {
  const auto& c = account_->companions.at(device_);
  NodeList ids;
  for (const auto& k : c.prekeys) ids.push_back(Node{"id", {}, be(k.id, 3)});
  iq_result(iq, NodeList{Node{"digest",
                              {},
                              NodeList{Node{"registration", {}, be(c.registration_id, 4)},
                                       Node{"type", {}, Bytes{crypto::kDjbType}},
                                       Node{"identity", {}, key_bytes(c.identity)},
                                       skey_node(c.signed_prekey.id, c.signed_prekey.key, c.signed_prekey.signature),
                                       Node{"list", {}, std::move(ids)}}}});
}

// --- after login: the phone's key share, then the offline queue, then the end-of-offline marker -------

void Connection::on_active() {
  Companion& c = account_->companions.at(device_);
  if (c.got_key_share) return finish_offline();
  // The phone shares the account's app-state key with the new companion in a peer message; stock Baileys
  // surfaces no event until it has one (protocol/README.md §13 item 5).
  Phone& p = *account_->handset;
  const signal::Address to{account_->phone, device_};
  if (auto st = phone_session(p, to, c); !st) {
    net_.log(name(), "phone cannot start a session: " + st.error().message());
    return finish_offline();
  }
  pb::Message m;
  auto* proto = m.mutable_protocolmessage();
  proto->set_type(pb::Message::ProtocolMessage::APP_STATE_SYNC_KEY_SHARE);
  auto* key = proto->mutable_appstatesynckeyshare()->add_keys();
  key->mutable_keyid()->set_keyid(std::string(p.app_state_key_id.begin(), p.app_state_key_id.end()));
  key->mutable_keydata()->set_keydata(std::string(p.app_state_key_data.begin(), p.app_state_key_data.end()));
  key->mutable_keydata()->mutable_fingerprint()->set_rawid(1);
  key->mutable_keydata()->mutable_fingerprint()->set_currentindex(0);
  key->mutable_keydata()->mutable_fingerprint()->add_deviceindexes(0);
  key->mutable_keydata()->set_timestamp(static_cast<std::int64_t>(net_.now()) * 1000);
  auto enc = p.signal->encrypt(to, pad(m.SerializeAsString()));
  if (!enc) {
    net_.log(name(), "phone cannot encrypt the key share: " + enc.error().message());
    return finish_offline();
  }
  const std::string id = net_.next_id("KS");
  pending_key_share_ = id;
  send_node(Node{"message",
                 {{"from", *Jid::make(account_->phone, Server::user)},
                  {"id", id},
                  {"t", std::to_string(net_.now())},
                  {"type", "text"},
                  {"category", "peer"}},
                 NodeList{Node{"enc", {{"v", "2"}, {"type", enc->type == signal::MessageType::pkmsg ? "pkmsg" : "msg"}},
                               std::move(enc->data)}}});
  link_.after(kKeyShareAckTimeout, [this, id] {
    if (pending_key_share_ == id) {
      net_.log(name(), "key share not acknowledged in time; ending the offline queue anyway");
      finish_offline();
    }
  });
}

void Connection::finish_offline() {
  pending_key_share_.reset();
  const auto& q = account_->companions.at(device_).unacked;
  for (Node stanza : q) {
    stanza.set_attr("offline", "1");
    send_node(stanza);
  }
  send_node(Node{"ib", {}, NodeList{Node{"offline", {{"count", std::to_string(q.size())}}, {}}}});
  live_ = true;
}

void Connection::on_ack(const Node& a) {
  const auto id = a.attr_string("id");
  const auto cls = a.attr_string("class");
  if (id && cls) acknowledged(*cls, *id);
  if (id && cls == "message") key_share_done(*id);
}

// An ack, or a receipt for a message (Baileys 7 answers messages with the receipt alone, as WhatsApp Web
// does), ends the server's responsibility for that stanza: it leaves the device's queue.
void Connection::acknowledged(std::string_view cls, std::string_view id) {
  auto& q = account_->companions.at(device_).unacked;
  auto it = std::find_if(q.begin(), q.end(), [&](const Node& n) { return n.tag == cls && n.attr_string("id") == id; });
  if (it == q.end()) return;
  auto& recent = account_->companions.at(device_).recently_acked;
  if (it->tag == "message") recent.push_back(std::move(*it));
  if (recent.size() > 20) recent.pop_front();
  q.erase(it);
}

// The companion acknowledged the key share (baileys 6 with an ack, baileys 7 with a peer_msg receipt).
void Connection::key_share_done(std::string_view id) {
  if (pending_key_share_ && id == *pending_key_share_ && !account_->companions.at(device_).got_key_share) {
    account_->companions.at(device_).got_key_share = true;
    net_.log(name(), "got the app-state key share");
    link_.after(net_.config().key_share_settle, [this, ks = *pending_key_share_] {
      if (pending_key_share_ == ks) finish_offline();
    });
  }
}

// --- messages and receipts ---------------------------------------------------------------------------

void Connection::on_message(const Node& m) {
  const auto id = m.attr_string("id");
  const Jid* to = m.attr_jid("to");
  if (!id || id->empty() || to == nullptr) return reject("<message> without id or typed to");
  const std::string type(m.attr_string("type").value_or("text"));
  Node ack{"ack", {{"class", "message"}, {"id", std::string(*id)}, {"from", *to}, {"t", std::to_string(net_.now())}}, {}};
  if (const auto delay = net_.take_ack_delay(*account_, device_); delay.count() > 0) {
    // Fault: the message is routed now, its ack comes late (a loaded server).
    link_.after(delay, [this, ack] { send_node(ack); });
  } else {
    send_node(ack);
  }
  // A repeated id is not routed again, except a resend answering a retry receipt: it names the one
  // device that asked (device_fanout="false"), as Baileys and whatsmeow send it.
  const bool targeted_resend = m.attr_string("device_fanout") == "false";
  if (!net_.first_send(name(), std::string(*id)) && !targeted_resend) {
    net_.log(name(), "duplicate message id " + std::string(*id) + ": acked, not routed again");
    return;
  }
  if (to->server() == Server::group) return route_group_message(m, *to, std::string(*id), type);
  if (to->server() == Server::broadcast) {
    net_.log(name(), "broadcast messages are not routed yet (issue 4): " + to->to_string());
    return;
  }
  // Targets: <participants><to jid><enc/></to>...</participants>, or a bare <enc> for `to` itself.
  std::vector<std::pair<Jid, const Node*>> targets;
  if (const Node* parts = m.child("participants")) {
    for (const Node& t : parts->children()) {
      const Jid* jid = t.attr_jid("jid");
      const Node* enc = t.child("enc");
      if (t.tag != "to" || jid == nullptr || enc == nullptr) return reject("malformed <participants> entry");
      targets.emplace_back(*jid, enc);
    }
  } else if (const Node* enc = m.child("enc")) {
    targets.emplace_back(*to, enc);
  }
  const Node* identity = m.child("device-identity");
  const Jid from = device_jid();
  const Jid chat = to->to_user();
  const Account* peer = net_.account_by_jid(chat);
  std::vector<std::pair<std::string, std::uint16_t>> done;  // duplicate <to> entries are delivered once
  for (const auto& [jid, enc] : targets) {
    Account* a = net_.account_by_jid(jid);
    if (a == nullptr) {
      net_.log(name(), "message " + std::string(*id) + " to unknown " + jid.to_string());
      continue;
    }
    const std::uint16_t dev = jid.device();
    if (std::find(done.begin(), done.end(), std::pair{a->phone, dev}) != done.end()) continue;
    done.emplace_back(a->phone, dev);
    if (dev == 0) {
      phone_receive(*a, from, *enc, std::string(*id));
      continue;
    }
    NodeList content{*enc};
    if (identity != nullptr && enc->attr_string("type") == "pkmsg") content.push_back(*identity);
    Node out{"message",
             {{"from", from}, {"id", std::string(*id)}, {"t", std::to_string(net_.now())}, {"type", type},
              {"notify", account_->name}},
             std::move(content)};
    if (a == account_) out.set_attr("recipient", chat);  // a copy for the sender's own other device
    if (auto cat = m.attr_string("category")) out.set_attr("category", std::string(*cat));
    add_lid_attrs(out, *account_, peer, false);
    net_.deliver(*a, dev, std::move(out));
  }
}

void Connection::phone_receive(Account& owner, const Jid& from, const Node& enc, const std::string& id) {
  net_.phone_incoming(owner, from, enc, id);
}

void Network::phone_incoming(Account& owner, const Jid& from, const Node& enc, const std::string& id) {
  Phone& p = *owner.handset;
  if (!p.online) {
    p.inbox.push_back(PhoneInbound{from, enc, id, std::nullopt, std::nullopt});
    return;
  }
  const auto type = enc.attr_string("type");
  const auto data = enc.data();
  if (!type || !data || (*type != "pkmsg" && *type != "msg")) return;
  auto plain = p.signal->decrypt(signal::Address{from.user(), from.device()},
                                 *type == "pkmsg" ? signal::MessageType::pkmsg : signal::MessageType::msg, *data);
  PhoneMessage pm{id, from.to_string(), "", "", ""};
  describe_plaintext(plain, pm);
  const bool decrypted = plain.has_value();
  p.received.push_back(std::move(pm));
  if (p.received.size() > kMaxPhoneMessages) p.received.pop_front();
  // Like a real phone, it confirms delivery of what it could decrypt from another account's device.
  Account* sender = account_by_jid(from);
  if (decrypted && sender != nullptr && sender != &owner && from.device() != 0) {
    deliver(*sender, from.device(),
                 Node{"receipt", {{"from", *Jid::make(owner.phone, Server::user)}, {"id", id}, {"t", std::to_string(now())}}, {}});
  }
}

Status Network::set_phone_online(std::string_view phone, bool online) {
  Account* a = account(phone);
  if (a == nullptr) return fail(core::errc::invalid_argument, "unknown account");
  Phone& p = *a->handset;
  p.online = online;
  log(a->phone + ":0", online ? "phone online" : "phone offline");
  while (online && !p.inbox.empty()) {
    PhoneInbound in = std::move(p.inbox.front());
    p.inbox.pop_front();
    if (in.group) {
      phone_group_incoming(*a, *in.group, in.from, in.enc ? &*in.enc : nullptr, in.skmsg ? &*in.skmsg : nullptr, in.id);
    } else if (in.enc) {
      phone_incoming(*a, in.from, *in.enc, in.id);
    }
  }
  return ok();
}

Status Network::phone_receipt(std::string_view phone, std::string_view from_phone, const std::vector<std::string>& ids,
                              std::string_view type) {
  Account* me = account(phone);
  Account* sender = account(from_phone);
  if (me == nullptr || sender == nullptr || ids.empty()) return fail(core::errc::invalid_argument, "unknown account or no ids");
  if (type != "read" && type != "played") return fail(core::errc::invalid_argument, "type must be read or played");
  NodeList items;
  for (std::size_t i = 1; i < ids.size(); ++i) items.push_back(Node{"item", {{"id", ids[i]}}, {}});
  Node r{"receipt", {{"from", *Jid::make(me->phone, Server::user)}, {"id", ids[0]}, {"t", std::to_string(now())}, {"type", std::string(type)}}, {}};
  if (!items.empty()) r.content = NodeList{Node{"list", {}, std::move(items)}};
  for (const auto& [dev, c] : sender->companions) deliver(*sender, dev, r);
  log(me->phone + ":0", "phone sent " + std::string(type) + " receipt for " + ids[0] + (ids.size() > 1 ? " and more" : ""));
  return ok();
}

void Connection::on_receipt(const Node& r) {
  const auto id = r.attr_string("id");
  const Jid* to = r.attr_jid("to");
  const std::string type(r.attr_string("type").value_or(""));
  // A "sender" receipt (a companion confirming its own phone's message) may omit `to`: nothing to route.
  if (id && to == nullptr && type == "sender") return;
  if (!id || to == nullptr) return reject("<receipt> without id or typed to: " + wire::to_debug_string(r).substr(0, 300));
  net_.log(name(), "receipt " + (type.empty() ? std::string("delivery") : type) + " for " + std::string(*id) + " to " +
                       to->to_string());
  send_node(Node{"ack", {{"class", "receipt"}, {"id", std::string(*id)}, {"from", *to}}, {}});
  if (type != "retry") {
    acknowledged("message", *id);
    if (const Node* list = r.child("list")) {
      for (const Node& item : list->children()) {
        if (auto more = item.attr_string("id")) acknowledged("message", *more);
      }
    }
  }
  if (type == "peer_msg") key_share_done(*id);
  if (type == "peer_msg" || type == "hist_sync" || type == "sender") return;  // nothing for other devices
  if (to->server() == Server::group) {
    // In a group the receipt names the author as participant; the author's devices get it from the group,
    // with the reader as participant.
    const Jid* author = r.attr_jid("participant");
    Account* a = author == nullptr ? nullptr : net_.account_by_jid(*author);
    if (a == nullptr) return;
    Node out{"receipt", {{"from", *to}, {"participant", device_jid()}, {"id", std::string(*id)}, {"t", std::to_string(net_.now())}},
             r.content};
    if (!type.empty() && type != "inactive") out.set_attr("type", type);
    if (author->has_device() && author->device() != 0) return net_.deliver(*a, author->device(), std::move(out));
    for (const auto& [dev, c] : a->companions) {
      if (a == account_ && dev == device_) continue;
      net_.deliver(*a, dev, out);
    }
    return;
  }
  Account* a = net_.account_by_jid(*to);
  if (a == nullptr) return;
  Node out{"receipt", {{"from", device_jid()}, {"id", std::string(*id)}, {"t", std::to_string(net_.now())}}, r.content};
  if (!type.empty() && type != "inactive") out.set_attr("type", type);  // inactive = plain delivery
  if (to->has_device() && to->device() != 0) {
    net_.deliver(*a, to->device(), std::move(out));
    return;
  }
  for (const auto& [dev, c] : a->companions) {
    if (a == account_ && dev == device_) continue;
    net_.deliver(*a, dev, out);
  }
}

Result<std::string> Network::phone_send_text(std::string_view phone, std::string_view to, std::string_view text) {
  PhoneContent c;
  c.text = std::string(text);
  return phone_send(phone, to, c);
}

}  // namespace wa::sim

// --- presence and chatstate -------------------------------------------------------------------------
// Ephemeral: sent to every logged-in connection now (no offline queue, no wait for the queue replay).

namespace wa::sim {

wire::Node Network::presence_node(const Account& a) const {
  wire::Node n{"presence", {{"from", *Jid::make(a.phone, Server::user)}, {"type", a.presence}}, {}};
  if (a.presence == "unavailable" && a.last_seen != 0) n.set_attr("last", std::to_string(a.last_seen));
  return n;
}

void Network::set_presence(Account& a, std::string_view type) {
  a.presence = std::string(type);
  if (type == "unavailable") a.last_seen = now();
  const wire::Node n = presence_node(a);
  for (const auto& [phone, device] : a.presence_subscribers) {
    for (Connection* c : connections_of(phone, device)) {
      if (c->logged_in()) c->send_node(n);
    }
  }
}

void Network::subscribe_presence(Account& target, const std::string& phone, std::uint16_t device) {
  target.presence_subscribers.emplace(phone, device);
}

Status Network::chatstate(Account& from, std::uint16_t from_device, const Jid& to, std::string_view state) {
  if (state != "composing" && state != "recording" && state != "paused") return fail(core::errc::invalid_argument, "unknown chatstate");
  Account* target = account_by_jid(to);
  if (target == nullptr) return fail(core::errc::invalid_argument, "no account " + to.to_string());
  wire::Node inner{state == "recording" ? "composing" : std::string(state), {}, {}};
  if (state == "recording") inner.set_attr("media", "audio");
  const wire::Node n{"chatstate", {{"from", *Jid::make(from.phone, Server::user)}}, wire::NodeList{inner}};
  std::size_t sent = 0;
  for (const auto& [dev, c] : target->companions) {
    for (Connection* conn : connections_of(target->phone, dev)) {
      if (conn->logged_in()) {
        conn->send_node(n);
        ++sent;
      }
    }
  }
  target->handset->chatstates.emplace_back(from.phone + "@s.whatsapp.net", std::string(state));
  if (target->handset->chatstates.size() > 100) target->handset->chatstates.pop_front();
  log(from.phone + ":" + std::to_string(from_device),
      "chatstate " + std::string(state) + " to " + target->phone + " (" + std::to_string(sent) + " devices)");
  return ok();
}

Status Network::phone_presence(std::string_view phone, std::string_view type) {
  Account* a = account(phone);
  if (a == nullptr) return fail(core::errc::invalid_argument, "no account");
  if (type != "available" && type != "unavailable") return fail(core::errc::invalid_argument, "type is available or unavailable");
  set_presence(*a, type);
  return ok();
}

Status Network::phone_chatstate(std::string_view phone, std::string_view to, std::string_view state) {
  Account* a = account(phone);
  if (a == nullptr) return fail(core::errc::invalid_argument, "no account");
  auto jid = to.find('@') == std::string_view::npos ? Jid::make(to, Server::user) : Jid::parse(to);
  if (!jid) return fail(core::errc::invalid_argument, "bad recipient");
  return chatstate(*a, 0, *jid, state);
}

}  // namespace wa::sim
