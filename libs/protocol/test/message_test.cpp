// SPDX-License-Identifier: MIT
// Pure send/receive helpers. Byte-level agreement with Baileys is proven by tests/interop/engine_messaging.mjs.
#include "wa/protocol/message.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "wa.pb.h"
#include "wa/crypto/crypto.hpp"

namespace {
using namespace wa;
using wire::Node;
using wire::NodeList;

TEST(Message, IdsHaveTheWebForm) {
  const auto a = protocol::new_message_id();
  const auto b = protocol::new_message_id();
  EXPECT_EQ(a.size(), 22u);
  EXPECT_EQ(a.substr(0, 4), "3EB0");
  EXPECT_EQ(a.find_first_not_of("0123456789ABCDEF"), std::string::npos);
  EXPECT_NE(a, b);
}

// The gateway's message index is ordered by these ids: ids in creation order put a burst's entries on its last
// pages.
TEST(Message, IdsGrowInCreationOrderAndCarryTheTime) {
  const auto ms = [] {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  };
  const std::uint64_t before = ms();
  std::string prev = protocol::new_message_id();
  std::set<std::string> seen{prev};
  for (int i = 0; i < 20000; ++i) {
    std::string id = protocol::new_message_id();
    ASSERT_GT(id, prev) << "after " << i << " ids";
    ASSERT_EQ(id.size(), 22u);
    seen.insert(id);
    prev = std::move(id);
  }
  EXPECT_EQ(seen.size(), 20001u);
  const std::uint64_t stamped = std::stoull(prev.substr(4, 11), nullptr, 16);
  EXPECT_GE(stamped, before);
  EXPECT_LE(stamped, ms() + 1000);  // 20,000 ids within one millisecond would carry into the next ones
}

TEST(Message, RecipientsAreDigitsOrJidsAndBecomeUserJids) {
  EXPECT_EQ(protocol::parse_recipient("15550001111")->to_string(), "15550001111@s.whatsapp.net");
  EXPECT_EQ(protocol::parse_recipient("15550001111:3@s.whatsapp.net")->to_string(), "15550001111@s.whatsapp.net");
  EXPECT_FALSE(protocol::parse_recipient("not-a-number"));
}

TEST(Message, PaddingIsOneToFifteenBytesOfItsLength) {
  const Bytes plain{1, 2, 3};
  for (int i = 0; i < 200; ++i) {
    const Bytes p = protocol::pad(plain);
    const auto n = p.back();
    ASSERT_GE(n, 1);
    ASSERT_LE(n, 15);
    ASSERT_EQ(p.size(), plain.size() + n);
    for (std::size_t k = plain.size(); k < p.size(); ++k) ASSERT_EQ(p[k], n);
    auto u = protocol::unpad(p);
    ASSERT_TRUE(u);
    EXPECT_TRUE(std::equal(u->begin(), u->end(), plain.begin(), plain.end()));
  }
  EXPECT_FALSE(protocol::unpad(Bytes{}));
  EXPECT_FALSE(protocol::unpad(Bytes{1, 0}));
  EXPECT_FALSE(protocol::unpad(Bytes{5, 5}));
}

TEST(Message, TextAndDeviceSentCopyParseBack) {
  const Bytes m = protocol::text_message("olá 👋");
  auto in = protocol::parse_message(m);
  EXPECT_EQ(in.kind, "text");
  EXPECT_EQ(in.text, "olá 👋");
  EXPECT_FALSE(in.device_sent);
  const Bytes dsm = protocol::device_sent_message("15550001111@s.whatsapp.net", m);
  auto d = protocol::parse_message(dsm);
  EXPECT_TRUE(d.device_sent);
  EXPECT_EQ(d.destination, "15550001111@s.whatsapp.net");
  EXPECT_EQ(d.text, "olá 👋");
  pb::Message conv;
  conv.set_conversation("plain");
  const std::string cs = conv.SerializeAsString();
  EXPECT_EQ(protocol::parse_message(as_bytes(cs)).text, "plain");
}

TEST(Message, OtherKindsAreNamedNotDropped) {
  pb::Message m;
  m.mutable_locationmessage()->set_degreeslatitude(1.5);
  const std::string s = m.SerializeAsString();
  auto in = protocol::parse_message(as_bytes(s));
  EXPECT_EQ(in.kind, "location");
  ASSERT_GE(in.fields.size(), 2u);
  EXPECT_EQ(in.fields[0], (std::pair<std::string, std::string>{"latitude", "1.5000000"}));
  pb::Message poll;
  poll.mutable_pollcreationmessage();
  const std::string pb = poll.SerializeAsString();
  EXPECT_EQ(protocol::parse_message(as_bytes(pb)).kind, "pollCreationMessage");
  EXPECT_FALSE(in.protocol);
  pb::Message p;
  p.mutable_protocolmessage()->set_type(pb::Message::ProtocolMessage::APP_STATE_SYNC_KEY_SHARE);
  const std::string ps = p.SerializeAsString();
  EXPECT_TRUE(protocol::parse_message(as_bytes(ps)).protocol);
  pb::Message revoke;
  revoke.mutable_protocolmessage()->set_type(pb::Message::ProtocolMessage::REVOKE);
  revoke.mutable_protocolmessage()->mutable_key()->set_id("3EB0AA");
  const std::string rs = revoke.SerializeAsString();
  auto r = protocol::parse_message(as_bytes(rs));
  EXPECT_EQ(r.kind, "revoke");
  EXPECT_FALSE(r.protocol);
  EXPECT_EQ(r.fields.at(0), (std::pair<std::string, std::string>{"target_id", "3EB0AA"}));
  const Bytes junk{0xff, 0xff, 0xff};
  EXPECT_EQ(protocol::parse_message(junk).kind, "unknown");
}

// The lite runtime has no field names: message.cpp keeps its own list of Message's fields. Every field
// wa.proto declares in Message, sent alone, must come out as its own name or as one of the kinds parsed
// explicitly; a field missing from the list comes out as "empty".
TEST(Message, EveryMessageFieldOfTheSchemaHasItsNameAsKind) {
  std::ifstream f(WA_PROTO_FILE);
  ASSERT_TRUE(f) << WA_PROTO_FILE;
  std::stringstream all;
  all << f.rdbuf();
  const std::string text = all.str();
  const auto start = text.find("\nmessage Message {\n");
  ASSERT_NE(start, std::string::npos);
  const auto end = text.find("\n}\n", start);
  const std::string block = text.substr(start, end - start);
  const std::regex field(R"(\n  (?:optional|repeated) \S+ (\w+) = (\d+);)");
  const std::set<std::string> parsed = {"text", "image", "video", "audio", "document", "sticker", "location",
                                        "contact", "contacts", "reaction", "revoke", "edit"};
  int count = 0;
  for (std::sregex_iterator i(block.begin(), block.end(), field), e; i != e; ++i, ++count) {
    const std::string name = (*i)[1];
    const auto number = static_cast<std::uint32_t>(std::stoul((*i)[2]));
    Bytes wire;  // the field, length-delimited and empty
    for (std::uint32_t tag = number << 3 | 2; ; tag >>= 7) {
      if (tag < 0x80) { wire.push_back(static_cast<std::uint8_t>(tag)); break; }
      wire.push_back(static_cast<std::uint8_t>(tag | 0x80));
    }
    wire.push_back(0);
    const auto kind = protocol::parse_message(wire).kind;
    if (name == "deviceSentMessage") {
      EXPECT_EQ(kind, "empty");  // unwrapped: nothing inside
    } else {
      EXPECT_TRUE(kind == name || parsed.contains(kind)) << name << " = " << number << " came out as " << kind;
    }
  }
  EXPECT_GE(count, 40);
  // And the ones past the explicit parsers, by name.
  EXPECT_EQ(protocol::parse_message(Bytes{0xea, 0x05, 0x00}).kind, "pollCreationMessageV4");  // field 93
  EXPECT_EQ(protocol::parse_message(Bytes{0xfa, 0x06, 0x00}).kind, "pollCreationMessageV5");  // field 111
}

namespace {
std::string field_of(const protocol::Inbound& in, std::string_view name) {
  for (const auto& [k, v] : in.fields) {
    if (k == name) return v;
  }
  return "<absent>";
}
}  // namespace

TEST(Message, MediaOfEveryKindBuildsAndParsesBack) {
  for (const std::string type : {"image", "video", "audio", "document", "sticker"}) {
    protocol::Outbound o;
    o.kind = protocol::Outbound::Kind::media;
    o.text = type == "audio" || type == "sticker" ? "" : "caption of " + type;
    o.quoted_id = "3EB0QUOTED";
    o.quoted_participant = "15550001111@s.whatsapp.net";
    auto& md = o.media;
    md.type = type;
    md.url = "https://127.0.0.1:1/v/t62.7118-24/x?ccb=11-4";
    md.direct_path = "/v/t62.7118-24/x?ccb=11-4";
    md.mimetype = type == "document" ? "application/pdf" : "x/" + type;
    md.file_name = "report.pdf";
    md.media_key = Bytes(32, 1);
    md.file_sha256 = Bytes(32, 2);
    md.file_enc_sha256 = Bytes(32, 3);
    md.file_length = 12345;
    md.width = 640;
    md.height = 480;
    md.seconds = 7;
    md.ptt = true;
    md.key_timestamp = 1700000000;
    const Bytes bytes = protocol::build_message(o);
    auto in = protocol::parse_message(bytes);
    EXPECT_EQ(in.kind, type);
    EXPECT_EQ(in.text, o.text) << type;
    EXPECT_EQ(field_of(in, "url"), md.url) << type;
    EXPECT_EQ(field_of(in, "direct_path"), md.direct_path) << type;
    EXPECT_EQ(field_of(in, "mimetype"), md.mimetype) << type;
    EXPECT_EQ(field_of(in, "media_key"), to_base64(Bytes(32, 1))) << type;
    EXPECT_EQ(field_of(in, "file_sha256"), to_base64(Bytes(32, 2))) << type;
    EXPECT_EQ(field_of(in, "file_enc_sha256"), to_base64(Bytes(32, 3))) << type;
    EXPECT_EQ(field_of(in, "file_length"), "12345") << type;
    EXPECT_EQ(field_of(in, "quoted_id"), "3EB0QUOTED") << type;
    if (type == "image" || type == "video" || type == "sticker") {
      EXPECT_EQ(field_of(in, "width"), "640") << type;
    }
    if (type == "audio") {
      EXPECT_EQ(field_of(in, "ptt"), "true");
      EXPECT_EQ(field_of(in, "seconds"), "7");
    }
    if (type == "document") {
      EXPECT_EQ(field_of(in, "file_name"), "report.pdf");
    }
    EXPECT_EQ(protocol::stanza_type(o), "media");
  }
  protocol::Outbound a;
  a.kind = protocol::Outbound::Kind::media;
  a.media.type = "audio";
  a.media.ptt = true;
  EXPECT_EQ(protocol::enc_media_type(a), "ptt");
  a.media.ptt = false;
  EXPECT_EQ(protocol::enc_media_type(a), "audio");
  a.kind = protocol::Outbound::Kind::text;
  EXPECT_EQ(protocol::enc_media_type(a), "");
}

TEST(Message, MediaConnNamesHostsAndAuthAndRefusesOddHosts) {
  const Node ok{"iq", {{"type", "result"}},
                NodeList{Node{"media_conn", {{"auth", "AUTH+/="}, {"ttl", "300"}},
                              NodeList{Node{"host", {{"hostname", "mmg.whatsapp.net"}}, {}},
                                       Node{"host", {{"hostname", "127.0.0.1:8443"}}, {}},
                                       Node{"host", {{"hostname", "evil.com/path?"}}, {}},
                                       Node{"host", {{"hostname", "a@b"}}, {}}}}}};
  auto mc = protocol::parse_media_conn(ok);
  ASSERT_TRUE(mc);
  EXPECT_EQ(mc->auth, "AUTH+/=");
  EXPECT_EQ(mc->ttl_seconds, 300u);
  EXPECT_EQ(mc->hosts, (std::vector<std::string>{"mmg.whatsapp.net", "127.0.0.1:8443"}));
  EXPECT_FALSE(protocol::parse_media_conn(Node{"iq", {}, {}}));
  EXPECT_FALSE(protocol::parse_media_conn(Node{"iq", {}, NodeList{Node{"media_conn", {{"auth", "x"}}, {}}}}));  // no host
  const Node iq = protocol::media_conn_iq();
  EXPECT_EQ(iq.attr_string("xmlns"), "w:m");
  ASSERT_NE(iq.child("media_conn"), nullptr);
}

TEST(Message, UsyncDropsCompanionsWithoutKeyIndex) {
  const Jid a = *Jid::make("15550001111", Server::user);
  Node result{"iq", {{"type", "result"}},
              NodeList{Node{"usync", {},
                            NodeList{Node{"list", {},
                                          NodeList{Node{"user", {{"jid", a}},
                                                        NodeList{Node{"devices", {},
                                                                      NodeList{Node{"device-list", {},
                                                                                    NodeList{Node{"device", {{"id", "0"}}, {}},
                                                                                             Node{"device", {{"id", "3"}, {"key-index", "1"}}, {}},
                                                                                             Node{"device", {{"id", "4"}}, {}}}}}}}}}}}}}};
  auto d = protocol::parse_usync_devices(result);
  ASSERT_TRUE(d);
  EXPECT_EQ((*d)["15550001111"], (std::vector<std::uint16_t>{0, 3}));
  EXPECT_FALSE(protocol::parse_usync_devices(Node{"iq", {}, {}}));
  const Node q = protocol::usync_devices_iq({a});
  EXPECT_EQ(q.attr_string("xmlns"), "usync");
  EXPECT_EQ(q.child("usync")->child("list")->children()[0].attr_jid("jid")->to_string(), "15550001111@s.whatsapp.net");
}

TEST(Message, BundlesParseAndIncompleteOnesAreErrors) {
  const Jid d = *Jid::make_device("15550001111", Server::user, 2);
  auto bundle = [&](bool with_key, bool good_identity) {
    NodeList c{Node{"registration", {}, Bytes{0, 0, 1, 2}}, Node{"type", {}, Bytes{5}},
               Node{"identity", {}, Bytes(good_identity ? 32 : 31, 7)},
               Node{"skey", {}, NodeList{Node{"id", {}, Bytes{0, 0, 9}}, Node{"value", {}, Bytes(32, 8)}, Node{"signature", {}, Bytes(64, 9)}}}};
    if (with_key) c.push_back(Node{"key", {}, NodeList{Node{"id", {}, Bytes{0, 1, 0}}, Node{"value", {}, Bytes(32, 6)}}});
    return Node{"iq", {}, NodeList{Node{"list", {}, NodeList{Node{"user", {{"jid", d}}, std::move(c)}}}}};
  };
  auto ok = protocol::parse_bundles(bundle(true, true));
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->size(), 1u);
  const auto& b = (*ok)[0].second;
  EXPECT_EQ(b.registration_id, 258u);
  EXPECT_EQ(b.device, 2u);
  EXPECT_EQ(b.signed_prekey_id, 9u);
  ASSERT_TRUE(b.prekey_id);
  EXPECT_EQ(*b.prekey_id, 256u);
  auto no_key = protocol::parse_bundles(bundle(false, true));
  ASSERT_TRUE(no_key);
  EXPECT_FALSE((*no_key)[0].second.prekey_id);
  EXPECT_FALSE(protocol::parse_bundles(bundle(true, false)));
  EXPECT_FALSE(protocol::parse_bundles(Node{"iq", {}, {}}));
}

}  // namespace
