// SPDX-License-Identifier: MIT
// Pure send/receive helpers. Byte-level agreement with Baileys is proven by tests/interop/engine_messaging.mjs.
#include "wa/protocol/message.hpp"

#include <gtest/gtest.h>

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
