#include "wa/signal/protocol.hpp"

#include <gtest/gtest.h>

#include "wa/crypto/crypto.hpp"

namespace wa::signal {
namespace {

// A device with a signed prekey and a few one-time prekeys, as it would upload them.
struct Device {
  explicit Device(std::string n, std::uint32_t dev)
      : name(std::move(n)), device(dev), store(crypto::KeyPair::generate(), 1000 + dev) {
    signed_key = crypto::KeyPair::generate();
    signature = *crypto::sign(store.identity().priv, crypto::signal_public(signed_key.pub));
    store.store_signed_prekey(1, signed_prekey_record(1, signed_key, signature, 1700000000000));
    for (std::uint32_t id = 1; id <= 3; ++id) {
      prekeys.push_back(crypto::KeyPair::generate());
      store.store_prekey(id, prekey_record(id, prekeys.back()));
    }
  }
  PreKeyBundle bundle(std::optional<std::uint32_t> prekey = 1) {
    PreKeyBundle b;
    b.registration_id = store.registration_id();
    b.device = device;
    b.identity = store.identity().pub;
    b.signed_prekey_id = 1;
    b.signed_prekey = signed_key.pub;
    b.signed_prekey_signature = signature;
    if (prekey) {
      b.prekey_id = *prekey;
      b.prekey = prekeys[*prekey - 1].pub;
    }
    return b;
  }
  Address address() const { return {name, device}; }

  std::string name;
  std::uint32_t device;
  MemoryStore store;
  crypto::KeyPair signed_key;
  crypto::Signature signature{};
  std::vector<crypto::KeyPair> prekeys;
};

TEST(Signal, SessionBothWays) {
  Device alice("15550001111", 0), bob("15550002222", 3);
  SignalProtocol a(alice.store), b(bob.store);
  EXPECT_FALSE(a.has_session(bob.address()));
  EXPECT_EQ(a.encrypt(bob.address(), as_bytes("x")).error().code(), errc::no_session);
  ASSERT_TRUE(a.process_bundle(bob.address(), bob.bundle()));
  auto c1 = a.encrypt(bob.address(), as_bytes("hello bob"));
  ASSERT_TRUE(c1);
  EXPECT_EQ(c1->type, MessageType::pkmsg);
  EXPECT_EQ(c1->data[0], 0x33);  // version byte of libsignal v3 messages
  auto p1 = b.decrypt(alice.address(), MessageType::pkmsg, c1->data);
  ASSERT_TRUE(p1) << p1.error().message();
  EXPECT_EQ(as_chars(*p1), "hello bob");
  EXPECT_EQ(bob.store.prekey_count(), 2u);  // the one-time prekey is consumed
  // Redelivery of the same ciphertext is refused (decrypt exactly once).
  EXPECT_FALSE(b.decrypt(alice.address(), MessageType::pkmsg, c1->data));
  auto c2 = b.encrypt(alice.address(), as_bytes("hi alice"));
  ASSERT_TRUE(c2);
  EXPECT_EQ(c2->type, MessageType::msg);
  EXPECT_EQ(as_chars(*a.decrypt(bob.address(), MessageType::msg, c2->data)), "hi alice");
  auto c3 = a.encrypt(bob.address(), as_bytes("after the reply"));
  EXPECT_EQ(c3->type, MessageType::msg);
  auto t = c3->data;
  t[t.size() - 1] ^= 1;  // MAC
  EXPECT_EQ(b.decrypt(alice.address(), MessageType::msg, t).error().code(), errc::invalid_message);
  EXPECT_EQ(as_chars(*b.decrypt(alice.address(), MessageType::msg, c3->data)), "after the reply");
  EXPECT_EQ(b.decrypt(alice.address(), MessageType::msg, c3->data).error().code(), errc::duplicate_message);
}

TEST(Signal, BundleWithoutOneTimePrekeyAndBadSignature) {
  Device alice("1", 0), bob("2", 1);
  SignalProtocol a(alice.store), b(bob.store);
  auto bad = bob.bundle();
  bad.signed_prekey_signature[0] ^= 1;
  EXPECT_EQ(a.process_bundle(bob.address(), bad).error().code(), errc::invalid_key);
  ASSERT_TRUE(a.process_bundle(bob.address(), bob.bundle(std::nullopt)));
  auto c = a.encrypt(bob.address(), as_bytes("no one-time key"));
  EXPECT_EQ(as_chars(*b.decrypt(alice.address(), MessageType::pkmsg, c->data)), "no one-time key");
  EXPECT_EQ(b.decrypt(alice.address(), MessageType::pkmsg, Bytes{0x33, 1, 2}).error().code(), errc::invalid_message);
}

TEST(Signal, SenderKeys) {
  Device alice("1", 0), bob("2", 1);
  SignalProtocol a(alice.store), b(bob.store);
  const std::string group = "120363025246125486@g.us";
  auto skdm = a.sender_key_distribution(group, alice.address());
  ASSERT_TRUE(skdm);
  EXPECT_EQ(*a.sender_key_distribution(group, alice.address()), *skdm);  // same key until rotated
  ASSERT_TRUE(b.process_sender_key_distribution(group, alice.address(), *skdm));
  for (int i = 0; i < 5; ++i) {
    auto c = a.group_encrypt(group, alice.address(), as_bytes("to the group"));
    ASSERT_TRUE(c);
    auto p = b.group_decrypt(group, alice.address(), *c);
    ASSERT_TRUE(p) << p.error().message();
    EXPECT_EQ(as_chars(*p), "to the group");
  }
  EXPECT_FALSE(b.group_decrypt("other@g.us", alice.address(), *a.group_encrypt(group, alice.address(), as_bytes("x"))));
}

}  // namespace
}  // namespace wa::signal
