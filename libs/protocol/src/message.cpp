// SPDX-License-Identifier: MIT
#include "wa/protocol/message.hpp"

#include <chrono>
#include <cstdint>
#include <mutex>

#include "bytes_util.hpp"
#include "wa.pb.h"
#include "wa/crypto/crypto.hpp"
#include "wa/protocol/auth.hpp"

namespace wa::protocol {
namespace {

using wire::Node;
using wire::NodeList;
using detail::be_uint;
using detail::child_bytes;

template <std::size_t N>
bool copy_exact(std::optional<ByteView> b, ByteArray<N>& out) {
  if (!b || b->size() != N) return false;
  std::copy(b->begin(), b->end(), out.begin());
  return true;
}

wa::detail::Unexpected bad(std::string why) { return fail(errc::bad_stanza, std::move(why)); }

}  // namespace

std::string new_message_id() {
  // 44 bits of milliseconds (enough until the year 2527), then 28 bits that start at a random value in each new
  // millisecond and count up within it. A process never makes the same id twice, nor a smaller one than the last
  // (a clock that steps back only stops the time part until it catches up).
  static std::mutex mu;
  static std::uint64_t last_ms = 0;
  static std::uint32_t last_low = 0;
  constexpr std::uint64_t kMsMask = (std::uint64_t{1} << 44) - 1;
  constexpr std::uint32_t kLowLimit = std::uint32_t{1} << 28;
  const auto now = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  const Bytes r = crypto::random_bytes(4);
  const std::uint32_t fresh = static_cast<std::uint32_t>(be_uint(r)) % kLowLimit;
  std::uint64_t ms;
  std::uint32_t low;
  {
    std::lock_guard lock(mu);
    if ((now & kMsMask) > last_ms) {
      last_ms = now & kMsMask;
      last_low = fresh;
    } else if (++last_low == kLowLimit) {
      last_low = 0;
      last_ms = (last_ms + 1) & kMsMask;
    }
    ms = last_ms;
    low = last_low;
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string id = "3EB0";
  for (int shift = 40; shift >= 0; shift -= 4) id += kHex[(ms >> shift) & 15];
  for (int shift = 24; shift >= 0; shift -= 4) id += kHex[(low >> shift) & 15];
  return id;
}

Result<Jid> parse_recipient(std::string_view to) {
  WA_TRY(auto j, to.find('@') == std::string_view::npos ? Jid::make(to, Server::user) : Jid::parse(to));
  return j.to_user();
}

Bytes pad(ByteView plain) {
  std::uint8_t n = crypto::random_bytes(1)[0] & 0x0f;
  if (n == 0) n = 15;
  Bytes out(plain.begin(), plain.end());
  out.insert(out.end(), n, n);
  return out;
}

std::optional<ByteView> unpad(ByteView b) {
  if (b.empty() || b.back() == 0 || b.back() > b.size()) return std::nullopt;
  return b.first(b.size() - b.back());
}

Bytes text_message(std::string_view text) {
  pb::Message m;
  m.mutable_extendedtextmessage()->set_text(std::string(text));
  const std::string s = m.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

namespace {
Bytes serialize(const pb::Message& m) {
  const std::string s = m.SerializeAsString();
  return Bytes(s.begin(), s.end());
}
void set_key(pb::MessageKey* k, const Outbound::Target& t) {
  k->set_remotejid(t.chat);
  k->set_fromme(t.from_me);
  k->set_id(t.id);
  if (!t.participant.empty()) k->set_participant(t.participant);
}
template <class M>
void set_media_common(M* x, const Outbound::Media& md) {
  auto str = [](const Bytes& b) { return std::string(b.begin(), b.end()); };
  x->set_url(md.url);
  x->set_directpath(md.direct_path);
  x->set_mimetype(md.mimetype);
  x->set_mediakey(str(md.media_key));
  x->set_filesha256(str(md.file_sha256));
  x->set_fileencsha256(str(md.file_enc_sha256));
  x->set_filelength(md.file_length);
  x->set_mediakeytimestamp(md.key_timestamp);
}
void set_context(pb::ContextInfo* ci, const Outbound& o) {
  if (!o.quoted_id.empty()) {
    ci->set_stanzaid(o.quoted_id);
    if (!o.quoted_participant.empty()) ci->set_participant(o.quoted_participant);
  }
  for (const auto& j : o.mentions) ci->add_mentionedjid(j);
}
std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

Bytes build_message(const Outbound& o) {
  pb::Message m;
  switch (o.kind) {
    case Outbound::Kind::text: {
      auto* t = m.mutable_extendedtextmessage();
      t->set_text(o.text);
      if (!o.link_url.empty()) {
        t->set_matchedtext(o.link_url);
        t->set_canonicalurl(o.link_url);
        if (!o.link_title.empty()) t->set_title(o.link_title);
        if (!o.link_description.empty()) t->set_description(o.link_description);
        if (!o.link_thumbnail.empty()) t->set_jpegthumbnail(std::string(o.link_thumbnail.begin(), o.link_thumbnail.end()));
      }
      if (!o.quoted_id.empty() || !o.mentions.empty()) {
        auto* ci = t->mutable_contextinfo();
        if (!o.quoted_id.empty()) {
          ci->set_stanzaid(o.quoted_id);
          if (!o.quoted_participant.empty()) ci->set_participant(o.quoted_participant);
        }
        for (const auto& j : o.mentions) ci->add_mentionedjid(j);
      }
      break;
    }
    case Outbound::Kind::location: {
      auto* l = m.mutable_locationmessage();
      l->set_degreeslatitude(o.latitude);
      l->set_degreeslongitude(o.longitude);
      if (!o.name.empty()) l->set_name(o.name);
      if (!o.address.empty()) l->set_address(o.address);
      break;
    }
    case Outbound::Kind::contact: {
      auto* c = m.mutable_contactmessage();
      c->set_displayname(o.display_name);
      c->set_vcard(o.vcard);
      break;
    }
    case Outbound::Kind::reaction: {
      auto* r = m.mutable_reactionmessage();
      set_key(r->mutable_key(), o.target);
      r->set_text(o.text);
      r->set_sendertimestampms(now_ms());
      break;
    }
    case Outbound::Kind::edit: {
      auto* p = m.mutable_protocolmessage();
      set_key(p->mutable_key(), o.target);
      p->set_type(pb::Message::ProtocolMessage::MESSAGE_EDIT);
      p->mutable_editedmessage()->mutable_extendedtextmessage()->set_text(o.text);
      p->set_timestampms(now_ms());
      break;
    }
    case Outbound::Kind::revoke: {
      auto* p = m.mutable_protocolmessage();
      set_key(p->mutable_key(), o.target);
      p->set_type(pb::Message::ProtocolMessage::REVOKE);
      break;
    }
    case Outbound::Kind::media: {
      const auto& md = o.media;
      const bool context = !o.quoted_id.empty() || !o.mentions.empty();
      const std::string thumb(md.jpeg_thumbnail.begin(), md.jpeg_thumbnail.end());
      if (md.type == "video") {
        auto* x = m.mutable_videomessage();
        set_media_common(x, md);
        if (!o.text.empty()) x->set_caption(o.text);
        if (md.width != 0) x->set_width(md.width);
        if (md.height != 0) x->set_height(md.height);
        if (md.seconds != 0) x->set_seconds(md.seconds);
        if (!thumb.empty()) x->set_jpegthumbnail(thumb);
        if (md.view_once) x->set_viewonce(true);
        if (context) set_context(x->mutable_contextinfo(), o);
      } else if (md.type == "audio") {
        auto* x = m.mutable_audiomessage();
        set_media_common(x, md);
        x->set_ptt(md.ptt);
        if (md.seconds != 0) x->set_seconds(md.seconds);
        if (md.view_once) x->set_viewonce(true);
        if (context) set_context(x->mutable_contextinfo(), o);
      } else if (md.type == "document") {
        auto* x = m.mutable_documentmessage();
        set_media_common(x, md);
        x->set_filename(md.file_name);
        x->set_title(md.file_name);
        if (!o.text.empty()) x->set_caption(o.text);
        if (!thumb.empty()) x->set_jpegthumbnail(thumb);
        if (context) set_context(x->mutable_contextinfo(), o);
      } else if (md.type == "sticker") {
        auto* x = m.mutable_stickermessage();
        set_media_common(x, md);
        if (md.width != 0) x->set_width(md.width);
        if (md.height != 0) x->set_height(md.height);
        if (context) set_context(x->mutable_contextinfo(), o);
      } else {
        auto* x = m.mutable_imagemessage();
        set_media_common(x, md);
        if (!o.text.empty()) x->set_caption(o.text);
        if (md.width != 0) x->set_width(md.width);
        if (md.height != 0) x->set_height(md.height);
        if (!thumb.empty()) x->set_jpegthumbnail(thumb);
        if (md.view_once) x->set_viewonce(true);
        if (context) set_context(x->mutable_contextinfo(), o);
      }
      break;
    }
  }
  return serialize(m);
}

std::string_view stanza_type(const Outbound& o) {
  if (o.kind == Outbound::Kind::reaction) return "reaction";
  if (o.kind == Outbound::Kind::media) return "media";
  return "text";
}

std::string_view enc_media_type(const Outbound& o) {
  if (o.kind != Outbound::Kind::media) return "";
  const auto& t = o.media.type;
  if (t == "audio") return o.media.ptt ? "ptt" : "audio";
  if (t == "video") return "video";
  if (t == "document") return "document";
  if (t == "sticker") return "sticker";
  return "image";
}

std::string_view edit_attribute(const Outbound& o) {
  if (o.kind == Outbound::Kind::edit) return "1";
  if (o.kind == Outbound::Kind::revoke) return "7";
  return "";
}

Bytes device_sent_message(std::string_view destination_jid, ByteView message) {
  pb::Message inner;
  inner.ParseFromArray(message.data(), static_cast<int>(message.size()));
  pb::Message m;
  m.mutable_devicesentmessage()->set_destinationjid(std::string(destination_jid));
  *m.mutable_devicesentmessage()->mutable_message() = inner;
  const std::string s = m.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

namespace {

// Message's fields in field-number order, as wa.proto declares them: the name of content this file does not
// model is its field's name, and the lite runtime keeps no descriptors to look it up. message_test checks
// that every field of wa.proto's Message is here.
#define WA_MESSAGE_FIELDS(X) \
  X(conversation, "conversation") X(senderkeydistributionmessage, "senderKeyDistributionMessage") \
  X(imagemessage, "imageMessage") X(contactmessage, "contactMessage") X(locationmessage, "locationMessage") \
  X(extendedtextmessage, "extendedTextMessage") X(documentmessage, "documentMessage") \
  X(audiomessage, "audioMessage") X(videomessage, "videoMessage") X(protocolmessage, "protocolMessage") \
  X(contactsarraymessage, "contactsArrayMessage") \
  X(fastratchetkeysenderkeydistributionmessage, "fastRatchetKeySenderKeyDistributionMessage") \
  X(livelocationmessage, "liveLocationMessage") X(stickermessage, "stickerMessage") \
  X(devicesentmessage, "deviceSentMessage") X(messagecontextinfo, "messageContextInfo") \
  X(viewoncemessage, "viewOnceMessage") X(ephemeralmessage, "ephemeralMessage") \
  X(reactionmessage, "reactionMessage") X(pollcreationmessage, "pollCreationMessage") \
  X(pollupdatemessage, "pollUpdateMessage") X(documentwithcaptionmessage, "documentWithCaptionMessage") \
  X(viewoncemessagev2, "viewOnceMessageV2") X(editedmessage, "editedMessage") \
  X(viewoncemessagev2extension, "viewOnceMessageV2Extension") X(pollcreationmessagev2, "pollCreationMessageV2") \
  X(groupmentionedmessage, "groupMentionedMessage") X(pollcreationmessagev3, "pollCreationMessageV3") \
  X(ptvmessage, "ptvMessage") X(botinvokemessage, "botInvokeMessage") \
  X(lottiestickermessage, "lottieStickerMessage") X(eventcoverimage, "eventCoverImage") \
  X(statusmentionmessage, "statusMentionMessage") \
  X(pollcreationoptionimagemessage, "pollCreationOptionImageMessage") \
  X(associatedchildmessage, "associatedChildMessage") X(groupstatusmentionmessage, "groupStatusMentionMessage") \
  X(pollcreationmessagev4, "pollCreationMessageV4") X(statusaddyours, "statusAddYours") \
  X(groupstatusmessage, "groupStatusMessage") X(limitsharingmessage, "limitSharingMessage") \
  X(bottaskmessage, "botTaskMessage") X(questionmessage, "questionMessage") \
  X(groupstatusmessagev2, "groupStatusMessageV2") X(botforwardedmessage, "botForwardedMessage") \
  X(questionreplymessage, "questionReplyMessage") X(pollcreationmessagev5, "pollCreationMessageV5")

struct MessageField {
  const char* name;
  bool (pb::Message::*has)() const;
};
constexpr MessageField kMessageFields[] = {
#define WA_MESSAGE_FIELD(accessor, name) MessageField{name, &pb::Message::has_##accessor},
    WA_MESSAGE_FIELDS(WA_MESSAGE_FIELD)
#undef WA_MESSAGE_FIELD
};
#undef WA_MESSAGE_FIELDS

}  // namespace

Inbound parse_message(ByteView bytes) {
  Inbound in;
  pb::Message m;
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    in.kind = "unknown";
    in.message.assign(bytes.begin(), bytes.end());
    return in;
  }
  if (m.has_devicesentmessage()) {
    in.device_sent = true;
    in.destination = m.devicesentmessage().destinationjid();
    pb::Message inner = m.devicesentmessage().message();
    m = std::move(inner);
  }
  const std::string s = m.SerializeAsString();
  in.message.assign(s.begin(), s.end());
  auto field = [&](std::string k, std::string v) {
    if (!v.empty()) in.fields.emplace_back(std::move(k), std::move(v));
  };
  auto context = [&](const pb::ContextInfo& c) {
    field("quoted_id", c.stanzaid());
    field("quoted_participant", c.participant());
    std::string mentions;
    for (const auto& j : c.mentionedjid()) mentions += (mentions.empty() ? "" : ",") + j;
    field("mentions", mentions);
  };
  auto b64 = [](const std::string& b) {
    return b.empty() ? std::string() : to_base64(ByteView(reinterpret_cast<const std::uint8_t*>(b.data()), b.size()));
  };
  auto media = [&](const auto& x) {
    field("mimetype", x.mimetype());
    field("url", x.url());
    field("direct_path", x.directpath());
    field("media_key", b64(x.mediakey()));
    field("file_sha256", b64(x.filesha256()));
    field("file_enc_sha256", b64(x.fileencsha256()));
    if (x.filelength() != 0) field("file_length", std::to_string(x.filelength()));
  };
  auto dims = [&](std::uint32_t w, std::uint32_t h) {
    if (w != 0) field("width", std::to_string(w));
    if (h != 0) field("height", std::to_string(h));
  };
  auto number = [](double d) {
    char b[32];
    std::snprintf(b, sizeof b, "%.7f", d);
    return std::string(b);
  };
  auto text_of = [](const pb::Message& x) {
    return x.has_conversation() ? x.conversation() : x.has_extendedtextmessage() ? x.extendedtextmessage().text() : std::string();
  };
  if (m.has_senderkeydistributionmessage()) {
    const auto& d = m.senderkeydistributionmessage();
    in.sender_key_distribution.assign(d.axolotlsenderkeydistributionmessage().begin(), d.axolotlsenderkeydistributionmessage().end());
    in.sender_key_group = d.groupid();
  }
  if (m.has_conversation()) {
    in.kind = "text";
    in.text = m.conversation();
  } else if (m.has_extendedtextmessage()) {
    in.kind = "text";
    in.text = m.extendedtextmessage().text();
    if (m.extendedtextmessage().has_contextinfo()) context(m.extendedtextmessage().contextinfo());
  } else if (m.has_imagemessage()) {
    const auto& x = m.imagemessage();
    in.kind = "image";
    in.text = x.caption();
    media(x);
    dims(x.width(), x.height());
    field("view_once", x.viewonce() ? "true" : "");
    if (x.has_contextinfo()) context(x.contextinfo());
  } else if (m.has_videomessage()) {
    const auto& x = m.videomessage();
    in.kind = "video";
    in.text = x.caption();
    media(x);
    dims(x.width(), x.height());
    if (x.seconds() != 0) field("seconds", std::to_string(x.seconds()));
    field("view_once", x.viewonce() ? "true" : "");
    if (x.has_contextinfo()) context(x.contextinfo());
  } else if (m.has_audiomessage()) {
    const auto& x = m.audiomessage();
    in.kind = "audio";
    media(x);
    field("ptt", x.ptt() ? "true" : "");
    if (x.seconds() != 0) field("seconds", std::to_string(x.seconds()));
    field("view_once", x.viewonce() ? "true" : "");
    if (x.has_contextinfo()) context(x.contextinfo());
  } else if (m.has_documentmessage()) {
    const auto& x = m.documentmessage();
    in.kind = "document";
    in.text = x.caption();
    media(x);
    field("file_name", x.filename());
    field("title", x.title());
    if (x.pagecount() != 0) field("page_count", std::to_string(x.pagecount()));
    if (x.has_contextinfo()) context(x.contextinfo());
  } else if (m.has_stickermessage()) {
    const auto& x = m.stickermessage();
    in.kind = "sticker";
    media(x);
    dims(x.width(), x.height());
    if (x.has_contextinfo()) context(x.contextinfo());
  } else if (m.has_locationmessage()) {
    const auto& l = m.locationmessage();
    in.kind = "location";
    field("latitude", number(l.degreeslatitude()));
    field("longitude", number(l.degreeslongitude()));
    field("name", l.name());
    field("address", l.address());
  } else if (m.has_contactmessage()) {
    in.kind = "contact";
    field("display_name", m.contactmessage().displayname());
    field("vcard", m.contactmessage().vcard());
  } else if (m.has_contactsarraymessage()) {
    in.kind = "contacts";
    field("display_name", m.contactsarraymessage().displayname());
    field("count", std::to_string(m.contactsarraymessage().contacts_size()));
  } else if (m.has_reactionmessage()) {
    in.kind = "reaction";
    field("target_id", m.reactionmessage().key().id());
    field("target_from_me", m.reactionmessage().key().fromme() ? "true" : "false");
    field("emoji", m.reactionmessage().text());  // empty: the reaction was removed
  } else if (m.has_protocolmessage() && m.protocolmessage().has_type() &&
             m.protocolmessage().type() == pb::Message::ProtocolMessage::REVOKE) {
    in.kind = "revoke";
    field("target_id", m.protocolmessage().key().id());
  } else if (m.has_protocolmessage() && m.protocolmessage().type() == pb::Message::ProtocolMessage::MESSAGE_EDIT) {
    in.kind = "edit";
    field("target_id", m.protocolmessage().key().id());
    in.text = text_of(m.protocolmessage().editedmessage());
  } else {
    // A SenderKeyDistributionMessage or messageContextInfo rides along with content: skip to the content.
    const char* first = nullptr;
    for (const auto& f : kMessageFields) {
      if (!(m.*f.has)()) continue;
      if (first == nullptr) first = f.name;
      if (std::string_view(f.name) == "senderKeyDistributionMessage" || std::string_view(f.name) == "messageContextInfo") continue;
      in.kind = f.name;
      break;
    }
    if (in.kind.empty() && !in.sender_key_distribution.empty()) return in;  // nothing but the key (and context)
    if (in.kind.empty()) in.kind = first == nullptr ? "empty" : first;
  }
  in.protocol = in.kind == "protocolMessage";
  return in;
}

Bytes sender_key_distribution_message(std::string_view group_jid, ByteView skdm) {
  pb::Message m;
  auto* d = m.mutable_senderkeydistributionmessage();
  d->set_groupid(std::string(group_jid));
  d->set_axolotlsenderkeydistributionmessage(std::string(skdm.begin(), skdm.end()));
  return serialize(m);
}

Result<GroupInfo> parse_group(const Node& g) {
  if (g.tag != "group") return bad("not a <group>");
  GroupInfo out;
  const std::string id(g.attr_string("id").value_or(""));
  if (id.empty()) return bad("<group> without id");
  out.jid = id.find('@') == std::string::npos ? id + "@g.us" : id;
  auto num = [&](const char* name) {
    return std::strtoull(std::string(g.attr_string(name).value_or("0")).c_str(), nullptr, 10);
  };
  auto jid_attr = [&](const char* name) {
    const Jid* j = g.attr_jid(name);
    return j != nullptr ? j->to_string() : std::string(g.attr_string(name).value_or(""));
  };
  out.subject = std::string(g.attr_string("subject").value_or(""));
  out.subject_owner = jid_attr("s_o");
  out.subject_time = num("s_t");
  out.creator = jid_attr("creator");
  out.creation = num("creation");
  for (const Node& c : g.children()) {
    if (c.tag == "participant") {
      const Jid* j = c.attr_jid("jid");
      if (j == nullptr) continue;
      out.members.push_back(GroupInfo::Member{j->to_string(), std::string(c.attr_string("type").value_or(""))});
    } else if (c.tag == "description") {
      if (const Node* body = c.child("body")) {
        if (auto d = body->data()) out.description.assign(d->begin(), d->end());
      }
    } else if (c.tag == "announcement") {
      out.announce = true;
    } else if (c.tag == "locked") {
      out.locked = true;
    }
  }
  return out;
}

Node group_iq(const GroupAction& a) {
  using K = GroupAction::Kind;
  auto participants = [&] {
    NodeList l;
    for (const auto& p : a.participants) {
      if (auto j = Jid::parse(p)) l.push_back(Node{"participant", {{"jid", *j}}, {}});
    }
    return l;
  };
  const Jid gus = *Jid::make("", Server::group);
  Jid to = gus;
  if (auto g = Jid::parse(a.group); g && a.kind != K::create && a.kind != K::join && a.kind != K::leave) to = *g;
  std::string type = "set";
  Node child{"query", {{"request", "interactive"}}, {}};
  switch (a.kind) {
    case K::create: child = Node{"create", {{"subject", a.text}, {"key", new_message_id()}}, participants()}; break;
    case K::info: type = "get"; break;
    case K::add: child = Node{"add", {}, participants()}; break;
    case K::remove: child = Node{"remove", {}, participants()}; break;
    case K::promote: child = Node{"promote", {}, participants()}; break;
    case K::demote: child = Node{"demote", {}, participants()}; break;
    case K::subject: child = Node{"subject", {}, a.text}; break;
    case K::description: {
      NodeList body;
      if (!a.text.empty()) body.push_back(Node{"body", {}, a.text});
      child = Node{"description", {{"id", new_message_id()}}, std::move(body)};
      if (a.text.empty()) child.set_attr("delete", "true");
      break;
    }
    case K::settings: child = Node{a.setting, {}, {}}; break;
    case K::invite_code: type = "get"; child = Node{"invite", {}, {}}; break;
    case K::revoke_invite: child = Node{"invite", {}, {}}; break;
    case K::leave: {
      NodeList groups;
      if (auto g = Jid::parse(a.group)) groups.push_back(Node{"group", {{"id", *g}}, {}});
      child = Node{"leave", {}, std::move(groups)};
      break;
    }
    case K::join: child = Node{"invite", {{"code", a.text}}, {}}; break;
  }
  return Node{"iq", {{"xmlns", "w:g2"}, {"type", type}, {"to", to}}, NodeList{std::move(child)}};
}

Result<GroupOutcome> parse_group_outcome(const GroupAction& a, const Node& iq) {
  using K = GroupAction::Kind;
  GroupOutcome out;
  switch (a.kind) {
    case K::create:
    case K::info: {
      const Node* g = iq.child("group");
      if (g == nullptr) return bad("w:g2 answer without <group>");
      WA_TRY(out.info, parse_group(*g));
      break;
    }
    case K::add:
    case K::remove:
    case K::promote:
    case K::demote: {
      const char* tag = a.kind == K::add ? "add" : a.kind == K::remove ? "remove" : a.kind == K::promote ? "promote" : "demote";
      const Node* n = iq.child(tag);
      if (n == nullptr) return bad(std::string("w:g2 answer without <") + tag + ">");
      for (const Node& p : n->children()) {
        const Jid* j = p.attr_jid("jid");
        if (p.tag != "participant" || j == nullptr) continue;
        out.results.emplace_back(j->to_string(), std::string(p.attr_string("error").value_or("200")));
      }
      break;
    }
    case K::invite_code:
    case K::revoke_invite: {
      const Node* n = iq.child("invite");
      if (n == nullptr || !n->attr_string("code")) return bad("w:g2 answer without an invite code");
      out.code = std::string(*n->attr_string("code"));
      break;
    }
    case K::join: {
      const Node* n = iq.child("group");
      const Jid* j = n == nullptr ? nullptr : n->attr_jid("jid");
      if (j == nullptr) return bad("join answer without the group");
      out.code = j->to_string();
      break;
    }
    default: break;
  }
  return out;
}

Node media_conn_iq() {
  return Node{"iq", {{"xmlns", "w:m"}, {"type", "set"}}, NodeList{Node{"media_conn", {}, {}}}};
}

Result<MediaConn> parse_media_conn(const Node& iq) {
  const Node* mc = iq.child("media_conn");
  if (mc == nullptr) return bad("media_conn result without media_conn");
  MediaConn out;
  out.auth = std::string(mc->attr_string("auth").value_or(""));
  out.ttl_seconds = static_cast<std::uint32_t>(std::strtoul(std::string(mc->attr_string("ttl").value_or("0")).c_str(), nullptr, 10));
  for (const Node& h : mc->children()) {
    if (h.tag != "host") continue;
    const std::string name(h.attr_string("hostname").value_or(""));
    // A hostname with an optional port; nothing that could change the URL's meaning.
    if (name.empty() || name.size() > 253 || name.find_first_of("/?#@ \\") != std::string::npos) continue;
    out.hosts.push_back(name);
  }
  if (out.auth.empty() || out.hosts.empty()) return bad("media_conn without auth or hosts");
  return out;
}

Node usync_devices_iq(const std::vector<Jid>& users) {
  NodeList list;
  for (const auto& u : users) list.push_back(Node{"user", {{"jid", u}}, {}});
  return Node{"iq",
              {{"xmlns", "usync"}, {"type", "get"}},
              NodeList{Node{"usync",
                            {{"context", "message"}, {"mode", "query"}, {"sid", new_message_id()}, {"last", "true"}, {"index", "0"}},
                            NodeList{Node{"query", {}, NodeList{Node{"devices", {{"version", "2"}}, {}}}},
                                     Node{"list", {}, std::move(list)}}}}};
}

Result<std::map<std::string, std::vector<std::uint16_t>>> parse_usync_devices(const Node& iq) {
  const Node* usync = iq.child("usync");
  const Node* list = usync == nullptr ? nullptr : usync->child("list");
  if (list == nullptr) return bad("usync result without usync/list");
  std::map<std::string, std::vector<std::uint16_t>> out;
  for (const Node& user : list->children()) {
    const Jid* jid = user.attr_jid("jid");
    if (user.tag != "user" || jid == nullptr) continue;
    auto& devs = out[jid->user()];
    const Node* devices = user.child("devices");
    const Node* dl = devices == nullptr ? nullptr : devices->child("device-list");
    if (dl == nullptr) continue;
    for (const Node& d : dl->children()) {
      const auto id = d.attr_string("id");
      if (d.tag != "device" || !id) continue;
      const auto n = std::strtoul(std::string(*id).c_str(), nullptr, 10);
      if (n > 0xffff) continue;
      if (n != 0 && !d.attr_string("key-index")) continue;  // unsigned companion: not addressed
      devs.push_back(static_cast<std::uint16_t>(n));
    }
  }
  return out;
}

Node prekey_fetch_iq(const std::vector<Jid>& devices) {
  NodeList users;
  for (const auto& d : devices) users.push_back(Node{"user", {{"jid", d}}, {}});
  return Node{"iq", {{"xmlns", "encrypt"}, {"type", "get"}}, NodeList{Node{"key", {}, std::move(users)}}};
}

Result<std::vector<std::pair<Jid, signal::PreKeyBundle>>> parse_bundles(const Node& iq) {
  const Node* list = iq.child("list");
  if (list == nullptr) return bad("prekey result without list");
  std::vector<std::pair<Jid, signal::PreKeyBundle>> out;
  for (const Node& user : list->children()) {
    const Jid* jid = user.attr_jid("jid");
    if (user.tag != "user" || jid == nullptr) return bad("prekey result: user without jid");
    if (user.child("error") != nullptr) return bad("prekey result: error for " + jid->to_string());
    signal::PreKeyBundle b;
    const auto reg = child_bytes(user, "registration");
    const Node* skey = user.child("skey");
    if (!reg || reg->size() != 4 || !copy_exact(child_bytes(user, "identity"), b.identity) || skey == nullptr) {
      return bad("prekey result: incomplete bundle for " + jid->to_string());
    }
    b.registration_id = be_uint(*reg);
    b.device = jid->device();
    const auto sid = child_bytes(*skey, "id");
    if (!sid || sid->size() != 3 || !copy_exact(child_bytes(*skey, "value"), b.signed_prekey) ||
        !copy_exact(child_bytes(*skey, "signature"), b.signed_prekey_signature)) {
      return bad("prekey result: bad signed prekey for " + jid->to_string());
    }
    b.signed_prekey_id = be_uint(*sid);
    if (const Node* key = user.child("key")) {
      const auto kid = child_bytes(*key, "id");
      if (!kid || kid->size() != 3 || !copy_exact(child_bytes(*key, "value"), b.prekey)) {
        return bad("prekey result: bad one-time prekey for " + jid->to_string());
      }
      b.prekey_id = be_uint(*kid);
    }
    out.emplace_back(*jid, b);
  }
  return out;
}

}  // namespace wa::protocol
