// SPDX-License-Identifier: MIT
// Noise XX with WhatsApp's conventions (protocol/README.md §2): the 32-byte protocol name is used unhashed
// as h and ck; the prologue is the 4-byte connection header; one counter for both directions during the
// handshake, reset by every MixKey; AAD = h; h absorbs every ciphertext.
#include "wa/noise/handshake.hpp"

#include <chrono>
#include <string>

#include "wa.pb.h"
#include "wa/crypto/crypto.hpp"
#include "wa/wire/frame.hpp"

namespace wa::noise {
namespace {

constexpr char kProtocolName[33] = "Noise_XX_25519_AESGCM_SHA256\0\0\0";  // exactly 32 bytes with 4 NULs
static_assert(sizeof(kProtocolName) == 33);

std::uint64_t system_now() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

Result<crypto::PublicKey> key32(const std::string& s, const char* what) {
  if (s.size() != 32) return fail(errc::bad_key, std::string(what) + " is " + std::to_string(s.size()) + " bytes");
  crypto::PublicKey k;
  std::copy(s.begin(), s.end(), k.begin());
  return k;
}

Result<SecretArray<32>> dh(const crypto::KeyPair& mine, const crypto::PublicKey& pub) {
  auto r = crypto::shared_key(mine, pub);
  if (!r) return fail(errc::bad_key, r.error().context());
  return r;
}

Result<pb::HandshakeMessage> parse(ByteView msg) {
  pb::HandshakeMessage m;
  if (!m.ParseFromArray(msg.data(), static_cast<int>(msg.size()))) {
    return fail(errc::bad_message, "HandshakeMessage does not parse");
  }
  return m;
}

Bytes serialize(const pb::HandshakeMessage& m) { return to_bytes(m.SerializeAsString()); }

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "noise"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::bad_message: return "bad handshake message";
      case errc::bad_key: return "bad key";
      case errc::decrypt_failed: return "handshake decryption failed";
      case errc::wrong_state: return "call out of order";
      case errc::untrusted_cert: return "certificate not signed by the trusted root";
      case errc::bad_cert: return "bad certificate";
      case errc::wrong_issuer: return "wrong certificate issuer";
      case errc::cert_expired: return "certificate outside its validity window";
      case errc::key_mismatch: return "certificate key is not the server key";
      case errc::counter_exhausted: return "nonce counter exhausted";
    }
    return "unknown noise error";
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const Category c;
  return c;
}

// --- SymmetricState ---------------------------------------------------------------------------------

SymmetricState::SymmetricState(wire::Dict dict) {
  std::copy_n(reinterpret_cast<const std::uint8_t*>(kProtocolName), 32, h_.begin());
  ck_ = SecretArray<32>(h_);
  k_ = SecretArray<32>(h_);
  const auto header = wire::connection_header(dict);
  mix_hash(header);
}

void SymmetricState::mix_hash(ByteView data) { h_ = crypto::sha256({ByteView(h_), data}); }

void SymmetricState::mix_key(ByteView ikm) {
  const SecretBytes out = crypto::hkdf_sha256(ikm, ck_.view(), {}, 64);
  ck_ = SecretArray<32>(out.view().first(32));
  k_ = SecretArray<32>(out.view().subspan(32, 32));
  n_ = 0;
}

Result<Bytes> SymmetricState::encrypt(ByteView plaintext) {
  const auto iv = noise_iv(n_);
  WA_TRY(Bytes c, crypto::aes_gcm_encrypt(k_.view(), iv, h_, plaintext));
  ++n_;
  mix_hash(c);
  return c;
}

Result<Bytes> SymmetricState::decrypt(ByteView ciphertext) {
  const auto iv = noise_iv(n_);
  auto p = crypto::aes_gcm_decrypt(k_.view(), iv, h_, ciphertext);
  if (!p) return fail(errc::decrypt_failed, p.error().context());
  ++n_;
  mix_hash(ciphertext);
  return p;
}

std::pair<SecretArray<32>, SecretArray<32>> SymmetricState::split() const {
  const SecretBytes out = crypto::hkdf_sha256({}, ck_.view(), {}, 64);
  return {SecretArray<32>(out.view().first(32)), SecretArray<32>(out.view().subspan(32, 32))};
}

// --- Initiator ---------------------------------------------------------------------------------------

Initiator::Initiator(InitiatorConfig cfg)
    : cfg_(std::move(cfg)), ss_(cfg_.dict), ephemeral_(cfg_.ephemeral ? *cfg_.ephemeral : crypto::KeyPair::generate()) {
  if (!cfg_.now) cfg_.now = &system_now;
}

Bytes Initiator::client_hello() {
  WA_CHECK(state_ == State::start);
  ss_.mix_hash(ephemeral_.pub);
  pb::HandshakeMessage m;
  m.mutable_clienthello()->set_ephemeral(ephemeral_.pub.data(), ephemeral_.pub.size());
  state_ = State::sent_hello;
  return serialize(m);
}

Result<Bytes> Initiator::on_server_hello(ByteView msg, ByteView client_payload) {
  if (state_ != State::sent_hello) return fail(errc::wrong_state, "on_server_hello");
  state_ = State::done;  // any failure below ends this handshake
  WA_TRY(auto m, parse(msg));
  if (!m.has_serverhello()) return fail(errc::bad_message, "no serverHello");
  const auto& sh = m.serverhello();
  WA_TRY(crypto::PublicKey server_eph, key32(sh.ephemeral(), "server ephemeral"));
  if (sh.static_().empty() || sh.payload().empty()) return fail(errc::bad_message, "serverHello lacks static or payload");
  ss_.mix_hash(server_eph);
  WA_TRY(auto ee, dh(ephemeral_, server_eph));
  ss_.mix_key(ee.view());
  WA_TRY(Bytes static_plain, ss_.decrypt(as_bytes(sh.static_())));
  WA_TRY(server_static_, key32(std::string(as_chars(static_plain)), "server static"));
  WA_TRY(auto es, dh(ephemeral_, server_static_));
  ss_.mix_key(es.view());
  WA_TRY(Bytes cert, ss_.decrypt(as_bytes(sh.payload())));
  WA_TRY(cert_, verify_cert_chain(cert, cfg_.trusted_root, server_static_, cfg_.now()));
  WA_TRY(Bytes c3, ss_.encrypt(cfg_.noise_key.pub));
  WA_TRY(auto se, dh(cfg_.noise_key, server_eph));
  ss_.mix_key(se.view());
  WA_TRY(Bytes c4, ss_.encrypt(client_payload));
  pb::HandshakeMessage out;
  out.mutable_clientfinish()->set_static_(c3.data(), c3.size());
  out.mutable_clientfinish()->set_payload(c4.data(), c4.size());
  state_ = State::sent_finish;
  return serialize(out);
}

Result<CipherPair> Initiator::finish() {
  if (state_ != State::sent_finish) return fail(errc::wrong_state, "finish");
  state_ = State::done;
  auto [first, second] = ss_.split();
  return CipherPair{TransportCipher(first), TransportCipher(second)};
}

// --- Responder ---------------------------------------------------------------------------------------

Responder::Responder(ResponderConfig cfg, wire::Dict dict)
    : cfg_(std::move(cfg)), ss_(dict), ephemeral_(cfg_.ephemeral ? *cfg_.ephemeral : crypto::KeyPair::generate()) {}

Result<Bytes> Responder::on_client_hello(ByteView msg) {
  if (state_ != State::start) return fail(errc::wrong_state, "on_client_hello");
  state_ = State::done;
  WA_TRY(auto m, parse(msg));
  if (!m.has_clienthello()) return fail(errc::bad_message, "no clientHello");
  WA_TRY(client_ephemeral_, key32(m.clienthello().ephemeral(), "client ephemeral"));
  ss_.mix_hash(client_ephemeral_);
  ss_.mix_hash(ephemeral_.pub);
  WA_TRY(auto ee, dh(ephemeral_, client_ephemeral_));
  ss_.mix_key(ee.view());
  WA_TRY(Bytes c1, ss_.encrypt(cfg_.static_key.pub));
  WA_TRY(auto se, dh(cfg_.static_key, client_ephemeral_));
  ss_.mix_key(se.view());
  WA_TRY(Bytes c2, ss_.encrypt(cfg_.cert_chain));
  pb::HandshakeMessage out;
  auto* sh = out.mutable_serverhello();
  sh->set_ephemeral(ephemeral_.pub.data(), ephemeral_.pub.size());
  sh->set_static_(c1.data(), c1.size());
  sh->set_payload(c2.data(), c2.size());
  state_ = State::sent_hello;
  return serialize(out);
}

Result<Bytes> Responder::on_client_finish(ByteView msg) {
  if (state_ != State::sent_hello) return fail(errc::wrong_state, "on_client_finish");
  state_ = State::done;
  WA_TRY(auto m, parse(msg));
  if (!m.has_clientfinish()) return fail(errc::bad_message, "no clientFinish");
  const auto& cf = m.clientfinish();
  WA_TRY(Bytes static_plain, ss_.decrypt(as_bytes(cf.static_())));
  WA_TRY(client_static_, key32(std::string(as_chars(static_plain)), "client static"));
  WA_TRY(auto se, dh(ephemeral_, client_static_));
  ss_.mix_key(se.view());
  WA_TRY(Bytes payload, ss_.decrypt(as_bytes(cf.payload())));
  state_ = State::got_finish;
  return payload;
}

Result<CipherPair> Responder::finish() {
  if (state_ != State::got_finish) return fail(errc::wrong_state, "finish");
  state_ = State::done;
  auto [first, second] = ss_.split();
  return CipherPair{TransportCipher(second), TransportCipher(first)};
}

// --- Transport ---------------------------------------------------------------------------------------

ByteArray<12> noise_iv(std::uint32_t n) noexcept {
  ByteArray<12> iv{};
  iv[8] = static_cast<std::uint8_t>(n >> 24);
  iv[9] = static_cast<std::uint8_t>(n >> 16);
  iv[10] = static_cast<std::uint8_t>(n >> 8);
  iv[11] = static_cast<std::uint8_t>(n);
  return iv;
}

Result<Bytes> TransportCipher::encrypt(ByteView plaintext) {
  if (counter_ > 0xFFFFFFFFull) return fail(errc::counter_exhausted, "send");
  if (!gcm_.valid() || !gcm_.encrypting()) gcm_ = crypto::AesGcmKey(key_.view(), true);
  WA_TRY(Bytes c, gcm_.seal(noise_iv(static_cast<std::uint32_t>(counter_)), plaintext));
  ++counter_;
  return c;
}

Result<Bytes> TransportCipher::decrypt(ByteView ciphertext) {
  if (counter_ > 0xFFFFFFFFull) return fail(errc::counter_exhausted, "receive");
  if (!gcm_.valid() || gcm_.encrypting()) gcm_ = crypto::AesGcmKey(key_.view(), false);
  auto p = gcm_.open(noise_iv(static_cast<std::uint32_t>(counter_)), ciphertext);
  if (!p) return fail(errc::decrypt_failed, "transport frame " + std::to_string(counter_));
  ++counter_;
  return p;
}

}  // namespace wa::noise
