// wasim's connection logic without sockets: a fake Link, our own Noise initiator as the client.
// Checks the strictness rules (docs/wasim.md): a bad registration, a malformed node or an unknown stanza
// is rejected, logged and closed, while other connections keep being served.
#include "wa/sim/connection.hpp"

#include <gtest/gtest.h>

#include "wa.pb.h"
#include "wa/crypto/crypto.hpp"
#include "wa/wire/codec.hpp"

namespace wa::sim {
namespace {

struct FakeLink final : Link {
  std::vector<Bytes> written;
  std::vector<std::function<void()>> timers;
  std::vector<std::chrono::milliseconds> delays;  // of every timer set, in order
  bool closed = false;
  void write(Bytes d) override { written.push_back(std::move(d)); }
  void close() override { closed = true; }
  void after(std::chrono::milliseconds d, std::function<void()> fn) override {
    delays.push_back(d);
    timers.push_back(std::move(fn));
  }
  void drop() override { closed = true; }
  void stall() override { stalled = true; }
  bool stalled = false;
  void fire() {
    auto t = std::move(timers);
    timers.clear();
    for (auto& f : t) f();
  }
};

struct Client {
  crypto::KeyPair noise = crypto::KeyPair::generate();
  crypto::KeyPair identity = crypto::KeyPair::generate();
  crypto::KeyPair skey = crypto::KeyPair::generate();
  std::optional<noise::Initiator> init;
  std::optional<noise::CipherPair> ciphers;
  wire::FrameReader reader{wire::FrameReader::Role::client};

  Bytes registration_payload(bool good_signature) {
    pb::ClientPayload p;
    p.mutable_useragent()->set_platform(pb::ClientPayload::UserAgent::WEB);
    p.mutable_useragent()->mutable_appversion()->set_primary(2);
    p.set_connecttype(pb::ClientPayload::WIFI_UNKNOWN);
    p.set_connectreason(pb::ClientPayload::USER_ACTIVATED);
    auto* d = p.mutable_devicepairingdata();
    d->set_eregid(std::string("\x00\x00\x01\x02", 4));
    d->set_ekeytype("\x05");
    d->set_eident(std::string(identity.pub.begin(), identity.pub.end()));
    d->set_eskeyid(std::string("\x00\x00\x01", 3));
    d->set_eskeyval(std::string(skey.pub.begin(), skey.pub.end()));
    auto sig = *crypto::sign(identity.priv, crypto::signal_public(skey.pub));
    if (!good_signature) sig[5] ^= 1;
    d->set_eskeysig(std::string(sig.begin(), sig.end()));
    d->set_buildhash(std::string(16, 'h'));
    return to_bytes(p.SerializeAsString());
  }

  // Runs the handshake through conn; returns false if the server closed.
  bool handshake(Network& net, Connection& conn, FakeLink& link, const Bytes& payload) {
    noise::InitiatorConfig ic;
    ic.dict = wire::Dict::v3;
    ic.noise_key = noise;
    ic.trusted_root = net.root_public();
    init.emplace(ic);
    Bytes first;
    auto h = wire::connection_header(wire::Dict::v3);
    first.insert(first.end(), h.begin(), h.end());
    EXPECT_TRUE(wire::append_frame(first, init->client_hello()));
    conn.on_message(first);
    EXPECT_EQ(link.written.size(), 1u);
    EXPECT_TRUE(reader.feed(link.written[0]));
    auto server_hello = reader.next();
    EXPECT_TRUE(server_hello && *server_hello);
    auto finish = init->on_server_hello(**server_hello, payload);
    EXPECT_TRUE(finish) << finish.error().message();
    Bytes f;
    EXPECT_TRUE(wire::append_frame(f, *finish));
    conn.on_message(f);
    ciphers = *init->finish();
    return !link.closed;
  }

  void send(Connection& conn, const Bytes& payload) {
    Bytes f;
    ASSERT_TRUE(wire::append_frame(f, *ciphers->send.encrypt(payload)));
    conn.on_message(f);
  }

  std::optional<wire::Node> receive(FakeLink& link, std::size_t index) {
    if (index >= link.written.size()) return std::nullopt;
    EXPECT_TRUE(reader.feed(link.written[index]));
    auto frame = reader.next();
    if (!frame || !*frame) return std::nullopt;
    auto plain = ciphers->recv.decrypt(**frame);
    if (!plain) return std::nullopt;
    auto n = wire::decode_payload(*plain, wire::Dict::v3);
    return n ? std::optional<wire::Node>(*n) : std::nullopt;
  }
};

bool logged(const Network& net, std::string_view needle) {
  for (const auto& e : net.log_entries()) {
    if (e.text.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST(Connection, RegistrationGetsPairDeviceRefs) {
  Network net;
  FakeLink link;
  Connection conn(net, link, 1);
  Client c;
  ASSERT_TRUE(c.handshake(net, conn, link, c.registration_payload(true)));
  ASSERT_EQ(link.timers.size(), 1u);  // the first stanza waits (first_stanza_delay)
  link.fire();
  auto iq = c.receive(link, 1);
  ASSERT_TRUE(iq);
  ASSERT_NE(iq->child("pair-device"), nullptr);
  EXPECT_EQ(iq->child("pair-device")->children().size(), 6u);
  EXPECT_EQ(*iq->attr_jid("from"), Jid::server_jid());  // typed JID, as whatsmeow requires
}

TEST(Connection, TheFirstStanzaWaitsThePauseSetAtTheTimeOfTheHandshake) {
  Network net;
  FakeLink first, second;
  Connection a(net, first, 1), b(net, second, 2);
  Client ca, cb;
  ASSERT_TRUE(ca.handshake(net, a, first, ca.registration_payload(true)));
  ASSERT_EQ(first.delays.size(), 1u);
  EXPECT_EQ(first.delays[0], std::chrono::milliseconds(150));  // the default
  net.set_first_stanza_delay(std::chrono::milliseconds(7));
  ASSERT_TRUE(cb.handshake(net, b, second, cb.registration_payload(true)));
  ASSERT_EQ(second.delays.size(), 1u);
  EXPECT_EQ(second.delays[0], std::chrono::milliseconds(7));
}

TEST(Connection, BadSignedPreKeySignatureIsRejectedAndLogged) {
  Network net;
  FakeLink link;
  Connection conn(net, link, 1);
  Client c;
  EXPECT_FALSE(c.handshake(net, conn, link, c.registration_payload(false)));
  EXPECT_TRUE(logged(net, "signed prekey signature does not verify"));
}

TEST(Connection, MalformedNodeIsRejectedOthersKeepWorking) {
  Network net;
  FakeLink bad_link, good_link;
  Connection bad(net, bad_link, 1), good(net, good_link, 2);
  Client b, g;
  ASSERT_TRUE(b.handshake(net, bad, bad_link, b.registration_payload(true)));
  ASSERT_TRUE(g.handshake(net, good, good_link, g.registration_payload(true)));
  b.send(bad, Bytes{0x00, 0xf8, 0x05, 0x1e});  // a list of 5 with only its tag
  EXPECT_TRUE(bad_link.closed);
  EXPECT_TRUE(logged(net, "malformed node"));
  good_link.fire();
  EXPECT_TRUE(g.receive(good_link, 1).has_value());
  EXPECT_FALSE(good_link.closed);
}

TEST(Connection, StanzaBeforeLoginAndWrongDictionaryAreRejected) {
  Network net;
  FakeLink link;
  Connection conn(net, link, 1);
  Client c;
  ASSERT_TRUE(c.handshake(net, conn, link, c.registration_payload(true)));
  // <presence name> is tolerated during registration (stock clients send it); a message is not.
  c.send(conn, *wire::encode_payload(wire::Node{"presence", {{"name", "Alice"}}, {}}, wire::Dict::v3));
  EXPECT_FALSE(link.closed);
  c.send(conn, *wire::encode_payload(wire::Node{"message", {{"id", "1"}}, {}}, wire::Dict::v3));
  EXPECT_TRUE(link.closed);
  EXPECT_TRUE(logged(net, "<message> before login"));
  FakeLink l2;
  Connection c2(net, l2, 2);
  c2.on_message(Bytes{'W', 'A', 6, 7});
  EXPECT_TRUE(l2.closed);
  EXPECT_TRUE(logged(net, "unsupported token dictionary"));
}

TEST(Connection, UnknownLoginGetsFailure401) {
  Network net;
  ASSERT_TRUE(net.create_account("15550001111", "A"));
  FakeLink link;
  Connection conn(net, link, 1);
  Client c;
  pb::ClientPayload p;
  p.set_username(15550001111ull);
  p.set_device(3);
  p.mutable_useragent()->set_platform(pb::ClientPayload::UserAgent::WEB);
  p.mutable_useragent()->mutable_appversion()->set_primary(2);
  p.set_connecttype(pb::ClientPayload::WIFI_UNKNOWN);
  p.set_connectreason(pb::ClientPayload::USER_ACTIVATED);
  ASSERT_TRUE(c.handshake(net, conn, link, to_bytes(p.SerializeAsString())));
  link.fire();
  auto failure = c.receive(link, 1);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->tag, "failure");
  EXPECT_EQ(failure->attr_string("reason"), "401");
  EXPECT_TRUE(link.closed);
}

TEST(Network, AccountsAndScanValidation) {
  Network net;
  EXPECT_FALSE(net.create_account("123", "x"));
  EXPECT_FALSE(net.create_account("0155500011", "x"));
  auto a = net.create_account("15550001111", "Alice");
  ASSERT_TRUE(a);
  EXPECT_FALSE(net.create_account("15550001111", "again"));
  EXPECT_EQ((*a)->lid.size(), 15u);
  EXPECT_FALSE(net.scan("15550001111", "garbage"));
  EXPECT_FALSE(net.scan("15550001111", "2@nope,AAAA,BBBB,CCCC"));
  EXPECT_FALSE(net.scan("19999999999", "x"));
}

}  // namespace
}  // namespace wa::sim
