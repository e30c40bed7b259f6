// SPDX-License-Identifier: MIT
// wasim's groups (protocol/README.md §7.5, §10, docs/wasim.md "Groups"): the w:g2 iqs, w:gp2 notifications
// to the members, and group messages fanned out to every member device with its own <enc> (a sender-key
// distribution) before the shared skmsg.
#include <algorithm>
#include <string>

#include "wa.pb.h"
#include "wa/core/errc.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/crypto/media.hpp"
#include "wa/sim/connection.hpp"
#include "wa/sim/network.hpp"
#include "phone_session.hpp"

namespace wa::sim {
namespace {

using wire::Node;
using wire::NodeList;

constexpr std::size_t kMaxPhoneMessages = 1000;
constexpr std::size_t kMaxGroupSize = 1024;

Jid user_jid(const std::string& phone) { return *Jid::make(phone, Server::user); }
Jid group_jid(const std::string& id) { return *Jid::make(id, Server::group); }

std::optional<ByteView> unpad(ByteView b) {
  if (b.empty() || b.back() == 0 || b.back() > b.size()) return std::nullopt;
  return b.first(b.size() - b.back());
}

}  // namespace

// ---- the network's group state ---------------------------------------------------------------------------

Group* Network::group(std::string_view id) {
  auto it = groups_.find(std::string(id));
  return it == groups_.end() ? nullptr : &it->second;
}

Group& Network::create_group(std::string subject, const std::string& creator) {
  std::string id;
  do {
    // 1203630 + 11 digits, the form of WhatsApp's group ids.
    const Bytes r = crypto::random_bytes(8);
    std::uint64_t n = 0;
    for (auto b : r) n = (n << 8) | b;
    id = "1203630" + std::to_string(10000000000ULL + n % 89999999999ULL);
  } while (groups_.count(id) != 0);
  Group& g = groups_[id];
  g.id = id;
  g.subject = std::move(subject);
  g.subject_owner = creator;
  g.creator = creator;
  g.creation = g.subject_time = now();
  g.invite_code = to_base64(crypto::random_bytes(16), true).substr(0, 22);
  g.members[creator] = "superadmin";
  return g;
}

Result<std::string> Network::phone_create_group(std::string_view phone, std::string subject, const std::vector<std::string>& participants) {
  Account* a = account(phone);
  if (a == nullptr) return fail(core::errc::invalid_argument, "unknown account");
  if (subject.empty()) return fail(core::errc::invalid_argument, "a group needs a subject");
  if (participants.size() + 1 > kMaxGroupSize) return fail(core::errc::invalid_argument, "too many participants");
  Group& g = create_group(std::move(subject), a->phone);
  for (const auto& m : participants) {
    if (m != a->phone && account(m) != nullptr) g.members.emplace(m, "");
  }
  log(a->phone + ":0", "phone created group " + g.id + " with " + std::to_string(g.members.size()) + " members");
  notify_group(g, a->phone, Node{"create", {}, NodeList{group_node(g)}});
  return g.id;
}

Node Network::group_node(const Group& g) const {
  NodeList kids;
  for (const auto& [phone, role] : g.members) {
    Node p{"participant", {{"jid", user_jid(phone)}}, {}};
    if (!role.empty()) p.set_attr("type", role);
    kids.push_back(std::move(p));
  }
  if (!g.description.empty()) {
    kids.push_back(Node{"description", {{"id", g.description_id}}, NodeList{Node{"body", {}, g.description}}});
  }
  if (g.announce) kids.push_back(Node{"announcement", {}, {}});
  if (g.locked) kids.push_back(Node{"locked", {}, {}});
  return Node{"group",
              {{"id", g.id}, {"subject", g.subject}, {"s_o", user_jid(g.subject_owner)}, {"s_t", std::to_string(g.subject_time)},
               {"creator", user_jid(g.creator)}, {"creation", std::to_string(g.creation)}, {"size", std::to_string(g.members.size())}},
              std::move(kids)};
}

void Network::notify_group(const Group& g, const std::string& actor, Node child, const std::vector<std::string>& extra) {
  std::vector<std::string> to;
  for (const auto& [phone, _] : g.members) to.push_back(phone);
  for (const auto& p : extra) {
    if (std::find(to.begin(), to.end(), p) == to.end()) to.push_back(p);
  }
  Node n{"notification",
         {{"from", group_jid(g.id)}, {"type", "w:gp2"}, {"id", next_id("gn")}, {"participant", user_jid(actor)},
          {"t", std::to_string(now())}},
         NodeList{std::move(child)}};
  for (const auto& phone : to) {
    Account* a = account(phone);
    if (a == nullptr) continue;
    for (const auto& [dev, _] : a->companions) deliver(*a, dev, n);
  }
}

void Network::phone_group_incoming(Account& owner, const Jid& group, const Jid& from, const Node* own, const Node* skmsg,
                                   const std::string& id) {
  Phone& p = *owner.handset;
  if (!p.online) {  // kept, as the 1:1 ones, until the phone is back online
    PhoneInbound in{from, std::nullopt, id, group, std::nullopt};
    if (own != nullptr) in.enc = *own;
    if (skmsg != nullptr) in.skmsg = *skmsg;
    p.inbox.push_back(std::move(in));
    return;
  }
  const signal::Address sender{from.user(), from.device()};
  const std::string gid = group.to_string();
  PhoneMessage pm{id, from.to_string(), "", "", gid};
  if (own != nullptr) {
    const auto type = own->attr_string("type");
    const auto data = own->data();
    if (type && data && (*type == "pkmsg" || *type == "msg")) {
      auto plain = p.signal->decrypt(sender, *type == "pkmsg" ? signal::MessageType::pkmsg : signal::MessageType::msg, *data);
      pb::Message msg;
      const auto unpadded = plain ? unpad(*plain) : std::nullopt;
      if (unpadded && msg.ParseFromArray(unpadded->data(), static_cast<int>(unpadded->size())) && msg.has_senderkeydistributionmessage()) {
        const std::string& skdm = msg.senderkeydistributionmessage().axolotlsenderkeydistributionmessage();
        if (auto st = p.signal->process_sender_key_distribution(gid, sender, ByteView(reinterpret_cast<const std::uint8_t*>(skdm.data()), skdm.size())); !st) {
          log(owner.phone + ":0", "sender key distribution from " + from.to_string() + " refused: " + st.error().context());
        }
      }
    }
  }
  if (skmsg == nullptr || !skmsg->data()) return;
  auto plain = p.signal->group_decrypt(gid, sender, *skmsg->data());
  describe_plaintext(plain, pm);
  const bool decrypted = plain.has_value();
  p.received.push_back(std::move(pm));
  if (p.received.size() > kMaxPhoneMessages) p.received.pop_front();
  Account* sender_account = account_by_jid(from);
  if (decrypted && sender_account != nullptr && from.device() != 0) {
    deliver(*sender_account, from.device(),
            Node{"receipt", {{"from", group}, {"participant", user_jid(owner.phone)}, {"id", id}, {"t", std::to_string(now())}}, {}});
  }
}

// ---- w:g2 ------------------------------------------------------------------------------------------------

void Connection::on_group_iq(const Node& iq) {
  const Jid* to = iq.attr_jid("to");
  const std::string type(iq.attr_string("type").value_or(""));
  const Node* first = iq.children().empty() ? nullptr : &iq.children().front();
  if (to == nullptr || first == nullptr) return iq_error(iq, 400, "bad-request");
  const std::string me = account_->phone;
  auto participants_of = [&](const Node& n) {
    std::vector<std::string> out;
    for (const Node& p : n.children()) {
      const Jid* j = p.attr_jid("jid");
      if (p.tag == "participant" && j != nullptr && j->server() == Server::user) out.push_back(j->user());
    }
    return out;
  };
  // Requests to g.us itself: create, participating, leave, join by invite code.
  if (to->server() == Server::group && to->user().empty()) {
    if (first->tag == "create" && type == "set") {
      std::vector<std::string> members = participants_of(*first);
      if (members.size() + 1 > kMaxGroupSize) return iq_error(iq, 406, "too-many");
      Group& g = net_.create_group(std::string(first->attr_string("subject").value_or("")), me);
      for (const auto& m : members) {
        if (m != me && net_.account(m) != nullptr) g.members.emplace(m, "");
      }
      net_.log(name(), "group " + g.id + " created with " + std::to_string(g.members.size()) + " members");
      iq_result(iq, NodeList{net_.group_node(g)});
      Node create{"create", {}, NodeList{net_.group_node(g)}};
      net_.notify_group(g, me, std::move(create));
      return;
    }
    if (first->tag == "participating" && type == "get") {
      NodeList groups;
      for (const auto& [id, g] : net_.groups()) {
        if (g.members.count(me) != 0) groups.push_back(net_.group_node(g));
      }
      return iq_result(iq, NodeList{Node{"groups", {}, std::move(groups)}});
    }
    if (first->tag == "leave" && type == "set") {
      NodeList left;
      for (const Node& gn : first->children()) {
        const Jid* gj = gn.attr_jid("id");
        Group* g = gj == nullptr ? nullptr : net_.group(gj->user());
        if (g == nullptr || g->members.erase(me) == 0) continue;
        net_.notify_group(*g, me, Node{"leave", {}, NodeList{Node{"participant", {{"jid", user_jid(me)}}, {}}}}, {me});
        left.push_back(Node{"group", {{"id", *gj}}, {}});
      }
      return iq_result(iq, NodeList{Node{"leave", {}, std::move(left)}});
    }
    if (first->tag == "invite" && type == "set") {
      const std::string code(first->attr_string("code").value_or(""));
      for (auto& [id, g] : net_.groups_mut()) {
        if (g.invite_code != code || code.empty()) continue;
        if (g.members.emplace(me, "").second) {
          net_.notify_group(g, me, Node{"add", {{"reason", "invite"}}, NodeList{Node{"participant", {{"jid", user_jid(me)}}, {}}}});
        }
        return iq_result(iq, NodeList{Node{"group", {{"jid", group_jid(g.id)}}, {}}});
      }
      return iq_error(iq, 406, "not-acceptable");
    }
    if (first->tag == "invite" && type == "get") {
      const std::string code(first->attr_string("code").value_or(""));
      for (const auto& [id, g] : net_.groups()) {
        if (g.invite_code == code && !code.empty()) return iq_result(iq, NodeList{net_.group_node(g)});
      }
      return iq_error(iq, 406, "not-acceptable");
    }
    return iq_error(iq, 501, "feature-not-implemented");
  }
  if (to->server() != Server::group) return iq_error(iq, 400, "bad-request");
  Group* g = net_.group(to->user());
  if (g == nullptr) return iq_error(iq, 404, "item-not-found");
  const bool member = g->members.count(me) != 0;
  if (!member) return iq_error(iq, 403, "forbidden");
  const std::string role = g->members.at(me);
  const bool admin = !role.empty();
  if (first->tag == "query" && type == "get") return iq_result(iq, NodeList{net_.group_node(*g)});
  if (first->tag == "invite" && type == "get") {
    if (!admin) return iq_error(iq, 401, "not-authorized");
    return iq_result(iq, NodeList{Node{"invite", {{"code", g->invite_code}}, {}}});
  }
  if (type != "set") return iq_error(iq, 400, "bad-request");
  const bool changes_info = first->tag == "subject" || first->tag == "description";
  if (!admin && (!changes_info || g->locked)) return iq_error(iq, 401, "not-authorized");
  if (first->tag == "add" || first->tag == "remove" || first->tag == "promote" || first->tag == "demote") {
    NodeList answer, changed;
    std::vector<std::string> removed;
    for (const auto& p : participants_of(*first)) {
      Node pn{"participant", {{"jid", user_jid(p)}}, {}};
      const bool known = net_.account(p) != nullptr;
      const bool in = g->members.count(p) != 0;
      if (first->tag == "add" && (!known || in)) {
        pn.set_attr("error", !known ? "403" : "409");
      } else if (first->tag != "add" && !in) {
        pn.set_attr("error", "404");
      } else if (first->tag != "add" && g->members.at(p) == "superadmin" && p != me) {
        pn.set_attr("error", "403");  // the creator stays
      } else {
        if (first->tag == "add") g->members.emplace(p, "");
        if (first->tag == "remove") {
          g->members.erase(p);
          removed.push_back(p);
        }
        if (first->tag == "promote") g->members[p] = g->members[p] == "superadmin" ? "superadmin" : "admin";
        if (first->tag == "demote" && g->members[p] == "admin") g->members[p] = "";
        changed.push_back(Node{"participant", {{"jid", user_jid(p)}}, {}});
      }
      answer.push_back(std::move(pn));
    }
    iq_result(iq, NodeList{Node{first->tag, {}, std::move(answer)}});
    if (!changed.empty()) net_.notify_group(*g, me, Node{first->tag, {}, std::move(changed)}, removed);
    return;
  }
  if (first->tag == "subject") {
    const auto text = first->data();
    g->subject = text ? std::string(text->begin(), text->end()) : std::string(first->attr_string("subject").value_or(""));
    g->subject_owner = me;
    g->subject_time = net_.now();
    iq_result(iq);
    net_.notify_group(*g, me, Node{"subject", {{"subject", g->subject}, {"s_o", user_jid(me)}, {"s_t", std::to_string(g->subject_time)}}, {}});
    return;
  }
  if (first->tag == "description") {
    const Node* body = first->child("body");
    const auto text = body == nullptr ? std::nullopt : body->data();
    g->description = text ? std::string(text->begin(), text->end()) : std::string();
    g->description_id = std::string(first->attr_string("id").value_or(net_.next_id("d")));
    iq_result(iq);
    NodeList d;
    if (!g->description.empty()) d.push_back(Node{"body", {}, g->description});
    net_.notify_group(*g, me, Node{"description", {{"id", g->description_id}}, std::move(d)});
    return;
  }
  if (first->tag == "announcement" || first->tag == "not_announcement" || first->tag == "locked" || first->tag == "unlocked") {
    if (first->tag == "announcement" || first->tag == "not_announcement") g->announce = first->tag == "announcement";
    if (first->tag == "locked" || first->tag == "unlocked") g->locked = first->tag == "locked";
    iq_result(iq);
    net_.notify_group(*g, me, Node{first->tag, {}, {}});
    return;
  }
  if (first->tag == "invite") {  // revoke: a new code
    g->invite_code = to_base64(crypto::random_bytes(16), true).substr(0, 22);
    return iq_result(iq, NodeList{Node{"invite", {{"code", g->invite_code}}, {}}});
  }
  iq_error(iq, 501, "feature-not-implemented");
}

// ---- group messages --------------------------------------------------------------------------------------

// Every device of every member but the sending device gets <message from=GROUP participant=SENDER> with its
// own <enc> (the sender-key distribution, when the sender included one) first and the shared skmsg after.
void Connection::route_group_message(const Node& m, const Jid& gjid, const std::string& id, const std::string& type) {
  Group* g = net_.group(gjid.user());
  if (g == nullptr || g->members.count(account_->phone) == 0) {
    net_.log(name(), "message " + id + " to a group it is not in: " + gjid.to_string());
    return;
  }
  if (g->announce && g->members.at(account_->phone).empty()) {
    net_.log(name(), "message " + id + " to an announcement group by a non-admin: dropped");
    return;
  }
  const Node* skmsg = nullptr;
  for (const Node& c : m.children()) {
    if (c.tag == "enc" && c.attr_string("type") == "skmsg") skmsg = &c;
  }
  std::map<std::pair<std::string, std::uint16_t>, const Node*> own;
  if (const Node* parts = m.child("participants")) {
    for (const Node& t : parts->children()) {
      const Jid* jid = t.attr_jid("jid");
      const Node* enc = t.child("enc");
      if (t.tag != "to" || jid == nullptr || enc == nullptr) return reject("malformed <participants> entry");
      own.emplace(std::pair{jid->user(), jid->device()}, enc);
    }
  }
  const Node* identity = m.child("device-identity");
  const Jid from = device_jid();
  for (const auto& [phone, _] : g->members) {
    Account* a = net_.account(phone);
    if (a == nullptr) continue;
    auto own_of = [&](std::uint16_t dev) -> const Node* {
      auto it = own.find({phone, dev});
      return it == own.end() ? nullptr : it->second;
    };
    // The member's phone (device 0), unless it is the sender.
    if (!(a == account_ && from.device() == 0)) net_.phone_group_incoming(*a, gjid, from, own_of(0), skmsg, id);
    for (const auto& [dev, c] : a->companions) {
      if (a == account_ && dev == from.device()) continue;
      const Node* mine = own_of(dev);
      if (mine == nullptr && skmsg == nullptr) continue;
      NodeList content;
      if (mine != nullptr) content.push_back(*mine);
      if (skmsg != nullptr) content.push_back(*skmsg);
      if (identity != nullptr && mine != nullptr && mine->attr_string("type") == "pkmsg") content.push_back(*identity);
      Node out{"message",
               {{"from", gjid}, {"participant", from}, {"id", id}, {"t", std::to_string(net_.now())}, {"type", type},
                {"notify", account_->name}},
               std::move(content)};
      add_lid_attrs(out, *account_, nullptr, true);
      net_.deliver(*a, dev, std::move(out));
    }
  }
}

// ---- what a phone sends (control API) -----------------------------------------------------------------

namespace {

Bytes pad_message(const pb::Message& m) {
  const std::string s = m.SerializeAsString();
  Bytes out(s.begin(), s.end());
  std::uint8_t n = crypto::random_bytes(1)[0] & 0x0f;
  if (n == 0) n = 15;
  out.insert(out.end(), n, n);
  return out;
}

template <class M>
void set_media(M* x, const Network::PhoneContent& c, const crypto::EncryptedMedia& enc, ByteView key, const std::string& url,
               const std::string& direct, std::uint64_t now) {
  x->set_url(url);
  x->set_directpath(direct);
  x->set_mimetype(c.mimetype);
  x->set_mediakey(std::string(key.begin(), key.end()));
  x->set_filesha256(std::string(enc.file_sha256.begin(), enc.file_sha256.end()));
  x->set_fileencsha256(std::string(enc.file_enc_sha256.begin(), enc.file_enc_sha256.end()));
  x->set_filelength(enc.file_length);
  x->set_mediakeytimestamp(static_cast<std::int64_t>(now));
}

}  // namespace

Result<std::string> Network::phone_send(std::string_view phone, std::string_view to, const PhoneContent& c) {
  Account* from = account(phone);
  if (from == nullptr) return fail(core::errc::invalid_argument, "unknown account");
  const bool to_group = to.ends_with("@g.us");
  Group* g = to_group ? group(to.substr(0, to.size() - 5)) : nullptr;
  Account* dest = to_group ? nullptr : account(to);
  if (to_group ? (g == nullptr || g->members.count(from->phone) == 0) : dest == nullptr) {
    return fail(core::errc::invalid_argument, to_group ? "not a member of that group" : "unknown account");
  }
  Phone& p = *from->handset;
  std::string id = "3EB0" + to_hex(crypto::random_bytes(9));
  for (char& ch : id) ch = static_cast<char>(ch >= 'a' && ch <= 'f' ? ch - 32 : ch);
  pb::Message m;
  const bool about_target = c.kind == "reaction" || c.kind == "revoke" || c.kind == "edit";
  if (about_target && c.target_id.empty()) return fail(core::errc::invalid_argument, c.kind + " needs targetId");
  auto set_key = [&](pb::MessageKey* k, bool from_me) {
    k->set_remotejid(to_group ? std::string(to) : dest->phone + "@s.whatsapp.net");
    k->set_fromme(from_me);
    k->set_id(c.target_id);
    if (to_group && !from_me && !c.target_participant.empty()) k->set_participant(c.target_participant + "@s.whatsapp.net");
  };
  if (c.kind == "text") {
    m.mutable_extendedtextmessage()->set_text(c.text);
  } else if (c.kind == "location") {
    auto* l = m.mutable_locationmessage();
    l->set_degreeslatitude(c.latitude);
    l->set_degreeslongitude(c.longitude);
    if (!c.name.empty()) l->set_name(c.name);
    if (!c.address.empty()) l->set_address(c.address);
  } else if (c.kind == "contact") {
    if (c.vcard.empty()) return fail(core::errc::invalid_argument, "contact needs a vcard");
    m.mutable_contactmessage()->set_displayname(c.name);
    m.mutable_contactmessage()->set_vcard(c.vcard);
  } else if (c.kind == "reaction") {
    auto* r = m.mutable_reactionmessage();
    set_key(r->mutable_key(), c.target_from_me);
    r->set_text(c.text);
    r->set_sendertimestampms(static_cast<std::int64_t>(now()) * 1000);
  } else if (c.kind == "revoke") {
    auto* pm = m.mutable_protocolmessage();
    set_key(pm->mutable_key(), true);
    pm->set_type(pb::Message::ProtocolMessage::REVOKE);
  } else if (c.kind == "edit") {
    auto* pm = m.mutable_protocolmessage();
    set_key(pm->mutable_key(), true);
    pm->set_type(pb::Message::ProtocolMessage::MESSAGE_EDIT);
    pm->mutable_editedmessage()->mutable_extendedtextmessage()->set_text(c.text);
    pm->set_timestampms(static_cast<std::int64_t>(now()) * 1000);
  } else {
    const auto type = crypto::media_type_from_name(c.kind);
    if (!type || c.file.empty()) return fail(core::errc::invalid_argument, "media needs a known kind and a file");
    const Bytes key = crypto::random_bytes(32);
    WA_TRY(auto enc, crypto::encrypt_media(ByteView(reinterpret_cast<const std::uint8_t*>(c.file.data()), c.file.size()), key, *type));
    WA_TRY(auto direct, media_put(to_base64(enc.file_enc_sha256, true), std::string(enc.body.begin(), enc.body.end())));
    const std::string url = "https://" + media_host() + direct;
    if (c.kind == "image") {
      auto* x = m.mutable_imagemessage();
      set_media(x, c, enc, key, url, direct, now());
      if (!c.text.empty()) x->set_caption(c.text);
    } else if (c.kind == "video") {
      auto* x = m.mutable_videomessage();
      set_media(x, c, enc, key, url, direct, now());
      if (!c.text.empty()) x->set_caption(c.text);
    } else if (c.kind == "audio") {
      auto* x = m.mutable_audiomessage();
      set_media(x, c, enc, key, url, direct, now());
      x->set_ptt(c.ptt);
    } else if (c.kind == "document") {
      auto* x = m.mutable_documentmessage();
      set_media(x, c, enc, key, url, direct, now());
      x->set_filename(c.file_name);
      if (!c.text.empty()) x->set_caption(c.text);
    } else if (c.kind == "sticker") {
      set_media(m.mutable_stickermessage(), c, enc, key, url, direct, now());
    } else {
      return fail(core::errc::invalid_argument, "unknown kind");
    }
  }
  const Jid sender = user_jid(from->phone);
  const bool is_media = crypto::media_type_from_name(c.kind).has_value();
  const std::string stanza_type = c.kind == "reaction" ? "reaction" : is_media ? "media" : "text";
  const std::string edit = c.kind == "edit" ? "1" : c.kind == "revoke" ? "7" : "";
  auto enc_node = [](const signal::Ciphertext& e) {
    return Node{"enc", {{"v", "2"}, {"type", e.type == signal::MessageType::pkmsg ? "pkmsg" : "msg"}}, e.data};
  };
  if (!to_group) {
    pb::Message dsm;
    dsm.mutable_devicesentmessage()->set_destinationjid(dest->phone + "@s.whatsapp.net");
    *dsm.mutable_devicesentmessage()->mutable_message() = m;
    const Jid chat = user_jid(dest->phone);
    auto send_to = [&](Account& a, const pb::Message& content, bool own) -> Status {
      for (auto& [dev, comp] : a.companions) {
        const signal::Address addr{a.phone, dev};
        WA_TRY_STATUS(phone_session(p, addr, comp));
        WA_TRY(auto enc, p.signal->encrypt(addr, pad_message(content)));
        Node stanza{"message", {{"from", sender}, {"id", id}, {"t", std::to_string(now())}, {"type", stanza_type},
                                {"notify", from->name}},
                    NodeList{enc_node(enc)}};
        if (!edit.empty()) stanza.set_attr("edit", edit);
        if (own) stanza.set_attr("recipient", chat);
        add_lid_attrs(stanza, *from, dest, false);
        deliver(a, dev, std::move(stanza));
      }
      return ok();
    };
    WA_TRY_STATUS(send_to(*dest, m, false));
    if (dest != from) WA_TRY_STATUS(send_to(*from, dsm, true));
    log(from->phone + ":0", "phone sent " + id + " (" + c.kind + ") to " + dest->phone);
    return id;
  }
  // A group: every companion of every member (its own included) gets the distribution, then the skmsg.
  const Jid gjid = group_jid(g->id);
  const std::string gid = gjid.to_string();
  const signal::Address self{from->phone, 0};
  WA_TRY(auto skdm, p.signal->sender_key_distribution(gid, self));
  pb::Message dist;
  dist.mutable_senderkeydistributionmessage()->set_groupid(gid);
  dist.mutable_senderkeydistributionmessage()->set_axolotlsenderkeydistributionmessage(std::string(skdm.begin(), skdm.end()));
  WA_TRY(auto sk, p.signal->group_encrypt(gid, self, pad_message(m)));
  const Node skmsg{"enc", {{"v", "2"}, {"type", "skmsg"}}, sk};
  for (const auto& [member, _] : g->members) {
    Account* a = account(member);
    if (a == nullptr) continue;
    if (a != from) {
      // The member's phone: the distribution 1:1 (a session from its bundle), then the skmsg.
      WA_TRY_STATUS(phone_session(p, *a));
      WA_TRY(auto enc, p.signal->encrypt(signal::Address{a->phone, 0}, pad_message(dist)));
      const Node own = enc_node(enc);
      phone_group_incoming(*a, gjid, sender, &own, &skmsg, id);
    }
    for (auto& [dev, comp] : a->companions) {
      const signal::Address addr{a->phone, dev};
      WA_TRY_STATUS(phone_session(p, addr, comp));
      WA_TRY(auto enc, p.signal->encrypt(addr, pad_message(dist)));
      Node stanza{"message",
                  {{"from", gjid}, {"participant", sender}, {"id", id}, {"t", std::to_string(now())},
                   {"type", stanza_type}, {"notify", from->name}},
                  NodeList{enc_node(enc), skmsg}};
      if (!edit.empty()) stanza.set_attr("edit", edit);
      add_lid_attrs(stanza, *from, nullptr, true);
      deliver(*a, dev, std::move(stanza));
    }
  }
  log(from->phone + ":0", "phone sent " + id + " (" + c.kind + ") to group " + g->id);
  return id;
}

}  // namespace wa::sim
