// SPDX-License-Identifier: MIT
// The pure pairing/login pieces. The test plays the primary phone with the raw primitives (as
// protocol/README.md §5 states them), so a wrong prefix, key order or field shows up here; the
// end-to-end proof against wasim is tests/interop/engine_*.mjs.
#include "wa/protocol/auth.hpp"

#include <gtest/gtest.h>

#include "wa.pb.h"
#include "wa/core/jid.hpp"
#include "wa/crypto/crypto.hpp"

namespace {
using namespace wa;
using wire::Node;
using wire::NodeList;

struct Phone {
  crypto::KeyPair identity = crypto::KeyPair::generate();

  // pair-success as the server sends it after this phone scanned the companion's QR.
  Node pair_success(const store::Credentials& c, std::uint32_t key_index, bool good_hmac = true, bool good_sig = true) {
    pb::ADVDeviceIdentity id;
    id.set_rawid(77);
    id.set_timestamp(1700000000);
    id.set_keyindex(key_index);
    const std::string details = id.SerializeAsString();
    Bytes msg{6, 0};
    append(msg, as_bytes(details));
    append(msg, c.identity_pub);
    auto sig = *crypto::sign(identity.priv, msg);
    if (!good_sig) sig[0] ^= 1;
    pb::ADVSignedDeviceIdentity s;
    s.set_details(details);
    s.set_accountsignaturekey(identity.pub.data(), 32);
    s.set_accountsignature(sig.data(), sig.size());
    const std::string sb = s.SerializeAsString();
    auto mac = crypto::hmac_sha256(c.adv_secret.view(), as_bytes(sb));
    if (!good_hmac) mac[3] ^= 1;
    pb::ADVSignedDeviceIdentityHMAC h;
    h.set_details(sb);
    h.set_hmac(mac.data(), mac.size());
    const std::string hb = h.SerializeAsString();
    return Node{"pair-success", {},
                NodeList{Node{"device-identity", {}, Bytes(hb.begin(), hb.end())},
                         Node{"platform", {{"name", "android"}}, {}},
                         Node{"device", {{"jid", *Jid::make_device("15550001111", Server::user, 4)},
                                         {"lid", *Jid::make_device("99887766", Server::lid, 4)}}, {}}}};
  }
};

TEST(Auth, NewDeviceHasValidSignedPreKeyAndDistinctKeys) {
  auto d = protocol::new_device("dev1", 1700000000);
  const auto& c = d.creds;
  EXPECT_EQ(c.device_id, "dev1");
  EXPECT_NE(c.noise_pub, c.identity_pub);
  EXPECT_GE(c.registration_id, 1u);
  EXPECT_LE(c.registration_id, 16384u);
  EXPECT_EQ(c.signed_prekey_id, 1u);
  EXPECT_TRUE(crypto::verify(c.identity_pub, crypto::signal_public(c.signed_prekey_pub), c.signed_prekey_sig));
  EXPECT_FALSE(d.signed_prekey_record.empty());
  EXPECT_FALSE(c.registered());
}

TEST(Auth, RegistrationPayloadCarriesTheDeviceKeys) {
  auto d = protocol::new_device("dev1", 1);
  protocol::ClientVersion v;
  const Bytes bytes = protocol::registration_payload(d.creds, v);
  pb::ClientPayload p;
  ASSERT_TRUE(p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
  EXPECT_FALSE(p.has_username());
  EXPECT_EQ(p.useragent().platform(), pb::ClientPayload::UserAgent::WEB);
  EXPECT_EQ(p.useragent().appversion().tertiary(), v.tertiary);
  EXPECT_EQ(p.connecttype(), pb::ClientPayload::WIFI_UNKNOWN);
  const auto& r = p.devicepairingdata();
  EXPECT_EQ(r.eregid().size(), 4u);
  EXPECT_EQ(r.ekeytype(), std::string(1, '\x05'));
  EXPECT_EQ(r.eident(), std::string(d.creds.identity_pub.begin(), d.creds.identity_pub.end()));
  EXPECT_EQ(r.eskeyid(), std::string("\0\0\1", 3));
  const auto md5 = crypto::md5(as_bytes(v.to_string()));
  EXPECT_EQ(r.buildhash(), std::string(md5.begin(), md5.end()));
  EXPECT_TRUE(crypto::verify(as_bytes(r.eident()), crypto::signal_public(d.creds.signed_prekey_pub), as_bytes(r.eskeysig())));
}

TEST(Auth, LoginPayloadNeedsAJidAndNamesUserAndDevice) {
  auto d = protocol::new_device("dev1", 1);
  EXPECT_FALSE(protocol::login_payload(d.creds, {}));
  d.creds.jid = "15550001111:4@s.whatsapp.net";
  auto bytes = protocol::login_payload(d.creds, {});
  ASSERT_TRUE(bytes);
  pb::ClientPayload p;
  ASSERT_TRUE(p.ParseFromArray(bytes->data(), static_cast<int>(bytes->size())));
  EXPECT_EQ(p.username(), 15550001111u);
  EXPECT_EQ(p.device(), 4u);
  EXPECT_FALSE(p.has_devicepairingdata());
  EXPECT_TRUE(p.pull());
}

TEST(Auth, QrStringHasRefAndThreeBase64Keys) {
  auto d = protocol::new_device("dev1", 1);
  const auto qr = protocol::qr_string("2@ref", d.creds);
  EXPECT_EQ(qr, "2@ref," + to_base64(d.creds.noise_pub) + "," + to_base64(d.creds.identity_pub) + "," +
                    to_base64(d.creds.adv_secret.view()));
}

TEST(Auth, PairSuccessIsVerifiedAndAnsweredWithADeviceSignature) {
  auto d = protocol::new_device("dev1", 1);
  Phone phone;
  auto r = protocol::handle_pair_success(phone.pair_success(d.creds, 3), d.creds);
  ASSERT_TRUE(r) << r.error().context();
  EXPECT_EQ(r->jid, "15550001111:4@s.whatsapp.net");
  EXPECT_EQ(r->lid, "99887766:4@lid");
  EXPECT_EQ(r->platform, "android");
  ASSERT_EQ(r->reply.tag, "pair-device-sign");
  const Node* di = r->reply.child("device-identity");
  ASSERT_NE(di, nullptr);
  EXPECT_EQ(di->attr_string("key-index"), "3");
  pb::ADVSignedDeviceIdentity answer;
  ASSERT_TRUE(answer.ParseFromArray(di->data()->data(), static_cast<int>(di->data()->size())));
  EXPECT_TRUE(answer.accountsignaturekey().empty());  // the server refuses the key in the answer
  Bytes msg{6, 1};
  append(msg, as_bytes(answer.details()));
  append(msg, d.creds.identity_pub);
  append(msg, phone.identity.pub);
  EXPECT_TRUE(crypto::verify(d.creds.identity_pub, msg, as_bytes(answer.devicesignature())));
  pb::ADVSignedDeviceIdentity kept;
  ASSERT_TRUE(kept.ParseFromArray(r->account.data(), static_cast<int>(r->account.size())));
  EXPECT_EQ(kept.accountsignaturekey(), std::string(phone.identity.pub.begin(), phone.identity.pub.end()));
}

TEST(Auth, PairSuccessWithBadHmacOrSignatureIsRejected) {
  auto d = protocol::new_device("dev1", 1);
  Phone phone;
  auto h = protocol::handle_pair_success(phone.pair_success(d.creds, 1, false, true), d.creds);
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code(), protocol::errc::hmac_mismatch);
  auto s = protocol::handle_pair_success(phone.pair_success(d.creds, 1, true, false), d.creds);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), protocol::errc::signature_mismatch);
  auto m = protocol::handle_pair_success(Node{"pair-success", {}, NodeList{}}, d.creds);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), protocol::errc::bad_stanza);
}

TEST(Auth, LinkCodeUsesTheCrockfordAlphabetAndWrapsTheEphemeral) {
  auto d = protocol::new_device("dev1", 1);
  auto lc = protocol::new_link_code("15550001111");
  ASSERT_EQ(lc.code.size(), 8u);
  for (char ch : lc.code) EXPECT_NE(std::string_view("123456789ABCDEFGHJKLMNPQRSTVWXYZ").find(ch), std::string_view::npos);
  auto hello = protocol::link_code_hello(lc, d.creds);
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->attr_string("stage"), "companion_hello");
  const auto wrapped = *hello->child("link_code_pairing_wrapped_companion_ephemeral_pub")->data();
  ASSERT_EQ(wrapped.size(), 80u);
  // The primary unwraps it with the typed code (PBKDF2-SHA256, 2<<16 rounds, AES-CTR).
  const auto key = crypto::pbkdf2_sha256(as_bytes(lc.code), wrapped.first(32), 2u << 16, 32);
  auto eph = crypto::aes_ctr(key.view(), wrapped.subspan(32, 16), wrapped.subspan(48, 32));
  ASSERT_TRUE(eph);
  EXPECT_TRUE(std::equal(eph->begin(), eph->end(), lc.ephemeral.pub.begin()));
}

TEST(Auth, PreKeyBatchHasSequentialIdsAndTheUploadShape) {
  auto d = protocol::new_device("dev1", 1);
  auto b = protocol::make_prekeys(d.creds, 0xfffffe, 3);  // wraps past the 24-bit maximum, skipping 0
  ASSERT_EQ(b.records.size(), 3u);
  EXPECT_EQ(b.records[0].first, 0xfffffeu);
  EXPECT_EQ(b.records[1].first, 0xffffffu);
  EXPECT_EQ(b.records[2].first, 1u);
  EXPECT_EQ(b.last_id, 1u);
  ASSERT_EQ(b.iq_content.size(), 5u);
  EXPECT_EQ(b.iq_content[0].tag, "registration");
  EXPECT_EQ(b.iq_content[3].tag, "list");
  EXPECT_EQ(b.iq_content[3].children().size(), 3u);
  EXPECT_EQ(b.iq_content[4].tag, "skey");
  EXPECT_EQ(b.iq_content[3].children()[2].child("id")->data()->size(), 3u);
}

}  // namespace
