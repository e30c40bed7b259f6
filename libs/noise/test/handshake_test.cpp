#include "wa/noise/handshake.hpp"

#include <gtest/gtest.h>

#include "wa/crypto/crypto.hpp"

namespace wa::noise {
namespace {

constexpr std::uint64_t kNow = 1'800'000'000;

struct Server {
  crypto::KeyPair root = crypto::KeyPair::generate();
  crypto::KeyPair intermediate = crypto::KeyPair::generate();
  crypto::KeyPair static_key = crypto::KeyPair::generate();
  CertSpec inter_spec{1, 0, intermediate.pub, kNow - 86400, kNow + 86400 * 365};
  CertSpec leaf_spec{2, 1, static_key.pub, kNow - 86400, kNow + 86400 * 30};

  Bytes chain(const crypto::PrivateKey* signing_root = nullptr) {
    inter_spec.key = intermediate.pub;
    auto c = build_cert_chain(signing_root ? *signing_root : root.priv, inter_spec, intermediate.priv, leaf_spec);
    EXPECT_TRUE(c);
    return *c;
  }
};

struct Outcome {
  Result<Bytes> finish_msg = fail(errc::wrong_state);
  std::optional<CipherPair> client, server;
  Bytes payload_seen;
};

Outcome run(Server& s, Bytes chain, wire::Dict dict = wire::Dict::v3) {
  InitiatorConfig ic;
  ic.dict = dict;
  ic.noise_key = crypto::KeyPair::generate();
  ic.trusted_root = s.root.pub;
  ic.now = [] { return kNow; };
  Initiator init(ic);
  Responder resp(ResponderConfig{s.static_key, std::move(chain), std::nullopt}, dict);
  Outcome o;
  auto hello = init.client_hello();
  auto server_hello = resp.on_client_hello(hello);
  EXPECT_TRUE(server_hello);
  o.finish_msg = init.on_server_hello(*server_hello, as_bytes("client payload"));
  if (!o.finish_msg) return o;
  auto payload = resp.on_client_finish(*o.finish_msg);
  EXPECT_TRUE(payload);
  o.payload_seen = *payload;
  EXPECT_EQ(resp.client_static(), ic.noise_key.pub);
  o.client = *init.finish();
  o.server = *resp.finish();
  return o;
}

TEST(Noise, InitiatorAndResponderAgree) {
  for (auto dict : {wire::Dict::v2, wire::Dict::v3}) {
    Server s;
    auto o = run(s, s.chain(), dict);
    ASSERT_TRUE(o.finish_msg) << o.finish_msg.error().message();
    EXPECT_EQ(as_chars(o.payload_seen), "client payload");
    for (int i = 0; i < 3; ++i) {
      auto c = o.client->send.encrypt(as_bytes("up"));
      EXPECT_EQ(as_chars(*o.server->recv.decrypt(*c)), "up");
      auto d = o.server->send.encrypt(as_bytes("down"));
      EXPECT_EQ(as_chars(*o.client->recv.decrypt(*d)), "down");
    }
    EXPECT_EQ(o.client->send.counter(), 3u);
    // A replayed or reordered frame fails authentication.
    auto c1 = *o.client->send.encrypt(as_bytes("a"));
    auto c2 = *o.client->send.encrypt(as_bytes("b"));
    EXPECT_FALSE(o.server->recv.decrypt(c2));
    EXPECT_TRUE(o.server->recv.decrypt(c1));
  }
}

TEST(Noise, RejectsChainFromAnotherRoot) {
  Server s;
  auto other = crypto::KeyPair::generate();
  auto o = run(s, s.chain(&other.priv));
  ASSERT_FALSE(o.finish_msg);
  EXPECT_EQ(o.finish_msg.error().code(), errc::untrusted_cert);
}

TEST(Noise, RejectsWrongIssuerSerials) {
  Server s;
  s.inter_spec.issuer_serial = 5;
  auto o = run(s, s.chain());
  ASSERT_FALSE(o.finish_msg);
  EXPECT_EQ(o.finish_msg.error().code(), errc::wrong_issuer);
  Server t;
  t.leaf_spec.issuer_serial = 9;
  auto p = run(t, t.chain());
  ASSERT_FALSE(p.finish_msg);
  EXPECT_EQ(p.finish_msg.error().code(), errc::wrong_issuer);
}

TEST(Noise, RejectsTamperedSignatures) {
  Server s;
  Bytes chain = s.chain();
  // Flip one byte in each region of the chain in turn: every flip must make the handshake fail.
  int rejected = 0;
  for (std::size_t i = 0; i < chain.size(); ++i) {
    Bytes t = chain;
    t[i] ^= 0x01;
    auto o = run(s, t);
    if (!o.finish_msg) ++rejected;
  }
  EXPECT_EQ(rejected, static_cast<int>(chain.size()));
}

TEST(Noise, RejectsLeafForAnotherKeyAndExpiredCerts) {
  Server s;
  s.leaf_spec.key = crypto::KeyPair::generate().pub;
  auto o = run(s, s.chain());
  ASSERT_FALSE(o.finish_msg);
  EXPECT_EQ(o.finish_msg.error().code(), errc::key_mismatch);
  Server e;
  e.leaf_spec.not_after = kNow - 1;
  auto p = run(e, e.chain());
  ASSERT_FALSE(p.finish_msg);
  EXPECT_EQ(p.finish_msg.error().code(), errc::cert_expired);
}

TEST(Noise, ChainSignaturesAreCheckedOncePerChainAndTheOtherChecksEveryTime) {
  Server s;
  const Bytes chain = s.chain();
  const auto before = cert_signature_checks();
  ASSERT_TRUE(verify_cert_chain(chain, s.root.pub, s.static_key.pub, kNow));
  EXPECT_EQ(cert_signature_checks(), before + 2);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(verify_cert_chain(chain, s.root.pub, s.static_key.pub, kNow));
  EXPECT_EQ(cert_signature_checks(), before + 2);  // the same bytes again: no signature checked
  // What is remembered is the bytes under that root; everything else is checked as before.
  auto other_root = verify_cert_chain(chain, crypto::KeyPair::generate().pub, s.static_key.pub, kNow);
  ASSERT_FALSE(other_root);
  EXPECT_EQ(other_root.error().code(), errc::untrusted_cert);
  auto other_key = verify_cert_chain(chain, s.root.pub, crypto::KeyPair::generate().pub, kNow);
  ASSERT_FALSE(other_key);
  EXPECT_EQ(other_key.error().code(), errc::key_mismatch);
  auto late = verify_cert_chain(chain, s.root.pub, s.static_key.pub, kNow + 86400 * 31);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code(), errc::cert_expired);
  for (std::size_t i = 0; i < chain.size(); ++i) {  // a near copy of a remembered chain is not remembered
    Bytes t = chain;
    t[i] ^= 0x01;
    EXPECT_FALSE(verify_cert_chain(t, s.root.pub, s.static_key.pub, kNow)) << "byte " << i;
  }
  // Handshakes over it still complete.
  auto o = run(s, chain);
  ASSERT_TRUE(o.finish_msg) << o.finish_msg.error().message();
}

TEST(Noise, DictionaryMismatchFails) {
  Server s;
  InitiatorConfig ic;
  ic.dict = wire::Dict::v2;
  ic.noise_key = crypto::KeyPair::generate();
  ic.trusted_root = s.root.pub;
  ic.now = [] { return kNow; };
  Initiator init(ic);
  Responder resp(ResponderConfig{s.static_key, s.chain(), std::nullopt}, wire::Dict::v3);
  auto sh = resp.on_client_hello(init.client_hello());
  ASSERT_TRUE(sh);
  auto r = init.on_server_hello(*sh, as_bytes("x"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), errc::decrypt_failed);  // different prologue, different AAD
}

TEST(Noise, GarbageAndOrder) {
  Server s;
  Responder resp(ResponderConfig{s.static_key, s.chain(), std::nullopt}, wire::Dict::v3);
  EXPECT_EQ(resp.on_client_finish(Bytes{}).error().code(), errc::wrong_state);
  Responder r2(ResponderConfig{s.static_key, s.chain(), std::nullopt}, wire::Dict::v3);
  EXPECT_EQ(r2.on_client_hello(Bytes{0xff, 0xff, 0xff}).error().code(), errc::bad_message);
  Responder r3(ResponderConfig{s.static_key, s.chain(), std::nullopt}, wire::Dict::v3);
  EXPECT_EQ(r3.on_client_hello(Bytes{0x12, 0x02, 0x0a, 0x00}).error().code(), errc::bad_key);  // empty ephemeral
  InitiatorConfig ic;
  ic.noise_key = crypto::KeyPair::generate();
  Initiator init(ic);
  EXPECT_EQ(init.finish().error().code(), errc::wrong_state);
  (void)init.client_hello();
  EXPECT_FALSE(init.on_server_hello(Bytes{0x1a, 0x00}, {}));
}

TEST(Noise, RealWhatsAppRootIsDefault) {
  InitiatorConfig ic;
  EXPECT_EQ(to_hex(ic.trusted_root), "142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b");
}

}  // namespace
}  // namespace wa::noise
