// SPDX-License-Identifier: MIT
#include "wa/protocol/auth.hpp"

#include "bytes_util.hpp"
#include "wa.pb.h"
#include "wa/core/jid.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/signal/protocol.hpp"

namespace wa::protocol {
namespace {

using wire::Node;
using wire::NodeList;
using detail::be;
using detail::child_bytes;

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "wa.protocol"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::bad_stanza: return "malformed server stanza";
      case errc::hmac_mismatch: return "pair-success HMAC mismatch";
      case errc::signature_mismatch: return "pair-success account signature mismatch";
      case errc::not_registered: return "device is not paired";
      case errc::wrong_code: return "pairing code does not match";
      case errc::logged_out: return "logged out";
      case errc::replaced: return "connection replaced by another one of this device";
      case errc::connection_lost: return "connection lost";
      case errc::timeout: return "timed out";
      case errc::iq_error: return "server answered with an error";
      case errc::stopped: return "stopped";
    }
    return "unknown protocol error";
  }
};

constexpr std::uint8_t kAccountSigPrefix[2] = {6, 0};
constexpr std::uint8_t kAccountSigPrefixHosted[2] = {6, 5};
constexpr std::uint8_t kDeviceSigPrefix[2] = {6, 1};
constexpr std::string_view kCodeAlphabet = "123456789ABCDEFGHJKLMNPQRSTVWXYZ";
constexpr unsigned kLinkCodeIterations = 2u << 16;
constexpr std::string_view kBundleInfo = "link_code_pairing_key_bundle_encryption_key";
constexpr std::string_view kAdvSecretInfo = "adv_secret";

wa::detail::Unexpected bad(std::string why) { return fail(errc::bad_stanza, std::move(why)); }

Bytes bytes_of(const std::string& s) { return Bytes(s.begin(), s.end()); }
template <std::size_t N>
Bytes bytes_of(const ByteArray<N>& a) { return Bytes(a.begin(), a.end()); }

pb::ClientPayload base_payload(const ClientVersion& v) {
  pb::ClientPayload p;
  auto* ua = p.mutable_useragent();
  ua->set_platform(pb::ClientPayload::UserAgent::WEB);
  ua->mutable_appversion()->set_primary(v.primary);
  ua->mutable_appversion()->set_secondary(v.secondary);
  ua->mutable_appversion()->set_tertiary(v.tertiary);
  ua->set_mcc("000");
  ua->set_mnc("000");
  ua->set_osversion("0.1");
  ua->set_device("Desktop");
  ua->set_osbuildnumber("0.1");
  ua->set_releasechannel(pb::ClientPayload::UserAgent::RELEASE);
  ua->set_localelanguageiso6391("en");
  ua->set_localecountryiso31661alpha2("US");
  p.mutable_webinfo()->set_websubplatform(pb::ClientPayload::WebInfo::WEB_BROWSER);
  p.set_connecttype(pb::ClientPayload::WIFI_UNKNOWN);
  p.set_connectreason(pb::ClientPayload::USER_ACTIVATED);
  return p;
}

crypto::Signature sign_signed_prekey(const store::Credentials& c) {
  auto sig = crypto::sign(c.identity_priv, crypto::signal_public(c.signed_prekey_pub));
  WA_CHECK(sig.has_value());
  return *sig;
}

}  // namespace

const std::error_category& category() noexcept {
  static const Category c;
  return c;
}

std::string ClientVersion::to_string() const {
  return std::to_string(primary) + "." + std::to_string(secondary) + "." + std::to_string(tertiary);
}

NewDevice new_device(std::string device_id, std::uint64_t now) {
  NewDevice d;
  auto& c = d.creds;
  c.device_id = std::move(device_id);
  const auto noise = crypto::KeyPair::generate();
  c.noise_priv = noise.priv;
  c.noise_pub = noise.pub;
  const auto identity = crypto::KeyPair::generate();
  c.identity_priv = identity.priv;
  c.identity_pub = identity.pub;
  const Bytes r = crypto::random_bytes(2);
  c.registration_id = ((static_cast<std::uint32_t>(r[0]) << 8 | r[1]) & 0x3fff) + 1;  // 1..16384, as libsignal
  crypto::random_bytes(c.adv_secret.data(), c.adv_secret.size());
  c.signed_prekey_id = 0;
  d.signed_prekey_record = rotate_signed_prekey(c, now);
  c.next_prekey_id = 1;
  c.uploaded_prekey_id = 0;
  return d;
}

Bytes rotate_signed_prekey(store::Credentials& c, std::uint64_t now) {
  const auto spk = crypto::KeyPair::generate();
  c.signed_prekey_id = (c.signed_prekey_id % 0xffffff) + 1;
  c.signed_prekey_pub = spk.pub;
  c.signed_prekey_sig = sign_signed_prekey(c);
  c.signed_prekey_created = now;
  return signal::signed_prekey_record(c.signed_prekey_id, spk, c.signed_prekey_sig, now * 1000);
}

Bytes registration_payload(const store::Credentials& c, const ClientVersion& v) {
  pb::ClientPayload p = base_payload(v);
  p.set_passive(false);
  p.set_pull(false);
  auto* d = p.mutable_devicepairingdata();
  const Bytes regid = be(c.registration_id, 4);
  d->set_eregid(regid.data(), regid.size());
  d->set_ekeytype(std::string(1, static_cast<char>(crypto::kDjbType)));
  d->set_eident(c.identity_pub.data(), c.identity_pub.size());
  const Bytes skid = be(c.signed_prekey_id, 3);
  d->set_eskeyid(skid.data(), skid.size());
  d->set_eskeyval(c.signed_prekey_pub.data(), c.signed_prekey_pub.size());
  d->set_eskeysig(c.signed_prekey_sig.data(), c.signed_prekey_sig.size());
  const auto hash = crypto::md5(as_bytes(v.to_string()));
  d->set_buildhash(hash.data(), hash.size());
  pb::DeviceProps props;
  props.set_os("zapd");
  props.mutable_version()->set_primary(0);
  props.mutable_version()->set_secondary(1);
  props.mutable_version()->set_tertiary(0);
  props.set_platformtype(pb::DeviceProps::DESKTOP);
  props.set_requirefullsync(false);
  d->set_deviceprops(props.SerializeAsString());
  return bytes_of(p.SerializeAsString());
}

Result<Bytes> login_payload(const store::Credentials& c, const ClientVersion& v) {
  auto jid = Jid::parse(c.jid);
  if (!jid || jid->server() != Server::user || jid->user().empty()) {
    return fail(errc::not_registered, "no paired JID in the credentials");
  }
  pb::ClientPayload p = base_payload(v);
  p.set_username(std::stoull(jid->user()));
  p.set_device(jid->device());
  p.set_passive(true);
  p.set_pull(true);
  p.set_liddbmigrated(!c.lid.empty());
  return bytes_of(p.SerializeAsString());
}

std::string qr_string(std::string_view ref, const store::Credentials& c) {
  std::string s(ref);
  s += ',';
  s += to_base64(c.noise_pub);
  s += ',';
  s += to_base64(c.identity_pub);
  s += ',';
  s += to_base64(c.adv_secret.view());
  return s;
}

Result<PairResult> handle_pair_success(const Node& ps, const store::Credentials& c) {
  const auto di = child_bytes(ps, "device-identity");
  const Node* dev = ps.child("device");
  const Jid* jid = dev == nullptr ? nullptr : dev->attr_jid("jid");
  if (!di || jid == nullptr) return bad("pair-success without device-identity or device jid");
  pb::ADVSignedDeviceIdentityHMAC container;
  if (!container.ParseFromArray(di->data(), static_cast<int>(di->size())) || !container.has_details() ||
      !container.has_hmac()) {
    return bad("device-identity does not parse");
  }
  const bool hosted_account = container.has_accounttype() && container.accounttype() == pb::HOSTED;
  Bytes hmac_input;
  if (hosted_account) hmac_input = {kAccountSigPrefixHosted[0], kAccountSigPrefixHosted[1]};
  append(hmac_input, as_bytes(container.details()));
  const auto mac = crypto::hmac_sha256(c.adv_secret.view(), hmac_input);
  if (!crypto::equal(mac, as_bytes(container.hmac()))) return fail(errc::hmac_mismatch, "pair-success HMAC");

  pb::ADVSignedDeviceIdentity signed_id;
  if (!signed_id.ParseFromString(container.details()) || signed_id.accountsignaturekey().size() != 32 ||
      signed_id.accountsignature().size() != 64) {
    return bad("signed device identity does not parse");
  }
  pb::ADVDeviceIdentity details;
  if (!details.ParseFromString(signed_id.details())) return bad("device identity details do not parse");
  const bool hosted_device = details.has_devicetype() && details.devicetype() == pb::HOSTED;
  Bytes msg = hosted_device ? Bytes{kAccountSigPrefixHosted[0], kAccountSigPrefixHosted[1]}
                            : Bytes{kAccountSigPrefix[0], kAccountSigPrefix[1]};
  append(msg, as_bytes(signed_id.details()));
  append(msg, c.identity_pub);
  if (!crypto::verify(as_bytes(signed_id.accountsignaturekey()), msg, as_bytes(signed_id.accountsignature()))) {
    return fail(errc::signature_mismatch, "account signature");
  }
  Bytes dmsg{kDeviceSigPrefix[0], kDeviceSigPrefix[1]};
  append(dmsg, as_bytes(signed_id.details()));
  append(dmsg, c.identity_pub);
  append(dmsg, as_bytes(signed_id.accountsignaturekey()));
  WA_TRY(auto dsig, crypto::sign(c.identity_priv, dmsg));
  signed_id.set_devicesignature(dsig.data(), dsig.size());

  PairResult r;
  r.jid = jid->to_string();
  if (const Jid* lid = dev->attr_jid("lid")) r.lid = lid->to_string();
  if (const Node* p = ps.child("platform")) r.platform = std::string(p->attr_string("name").value_or(""));
  r.account = bytes_of(signed_id.SerializeAsString());
  r.primary_identity = bytes_of(signed_id.accountsignaturekey());
  pb::ADVSignedDeviceIdentity answer = signed_id;
  answer.clear_accountsignaturekey();
  r.reply = Node{"pair-device-sign", {},
                 NodeList{Node{"device-identity", {{"key-index", std::to_string(details.keyindex())}},
                               bytes_of(answer.SerializeAsString())}}};
  return r;
}

LinkCode new_link_code(std::string_view phone) {
  LinkCode lc;
  const Bytes r = crypto::random_bytes(5);
  std::uint64_t bits = 0;
  for (auto b : r) bits = (bits << 8) | b;
  for (int i = 7; i >= 0; --i) lc.code += kCodeAlphabet[(bits >> (5 * i)) & 31];
  lc.ephemeral = crypto::KeyPair::generate();
  lc.phone = std::string(phone);
  return lc;
}

Result<Node> link_code_hello(const LinkCode& lc, const store::Credentials& c) {
  WA_TRY(auto jid, Jid::make(lc.phone, Server::user));
  const Bytes salt = crypto::random_bytes(32);
  const Bytes iv = crypto::random_bytes(16);
  const SecretBytes key = crypto::pbkdf2_sha256(as_bytes(lc.code), salt, kLinkCodeIterations, 32);
  WA_TRY(auto wrapped, crypto::aes_ctr(key.view(), iv, lc.ephemeral.pub));
  Bytes blob = salt;
  append(blob, iv);
  append(blob, wrapped);
  return Node{"link_code_companion_reg",
              {{"jid", jid}, {"stage", "companion_hello"}, {"should_show_push_notification", "true"}},
              NodeList{Node{"link_code_pairing_wrapped_companion_ephemeral_pub", {}, std::move(blob)},
                       Node{"companion_server_auth_key_pub", {}, bytes_of(c.noise_pub)},
                       Node{"companion_platform_id", {}, std::string("1")},
                       Node{"companion_platform_display", {}, std::string("zapd (Linux)")},
                       Node{"link_code_pairing_nonce", {}, Bytes{0}}}};
}

Result<LinkCodeFinish> link_code_finish(const LinkCode& lc, const Node& hello, const store::Credentials& c) {
  const auto ref = child_bytes(hello, "link_code_pairing_ref");
  const auto primary_identity = child_bytes(hello, "primary_identity_pub");
  const auto wrapped = child_bytes(hello, "link_code_pairing_wrapped_primary_ephemeral_pub");
  if (!ref || !primary_identity || primary_identity->size() != 32 || !wrapped || wrapped->size() != 80) {
    return bad("primary_hello needs a ref, a 32-byte identity and an 80-byte wrapped ephemeral");
  }
  const SecretBytes key = crypto::pbkdf2_sha256(as_bytes(lc.code), wrapped->first(32), kLinkCodeIterations, 32);
  WA_TRY(auto primary_eph, crypto::aes_ctr(key.view(), wrapped->subspan(32, 16), wrapped->subspan(48, 32)));
  auto shared = crypto::shared_key(lc.ephemeral.priv, primary_eph);
  if (!shared) return fail(errc::wrong_code, "primary ephemeral key is not a valid point");
  auto identity_shared = crypto::shared_key(c.identity_priv, *primary_identity);
  if (!identity_shared) return bad("primary identity key is not a valid point");
  const Bytes salt = crypto::random_bytes(32);
  const Bytes nonce = crypto::random_bytes(12);
  const Bytes random = crypto::random_bytes(32);
  const SecretBytes bundle_key = crypto::hkdf_sha256(shared->view(), salt, as_bytes(kBundleInfo), 32);
  Bytes plain = bytes_of(c.identity_pub);
  append(plain, *primary_identity);
  append(plain, random);
  WA_TRY(auto sealed, crypto::aes_gcm_encrypt(bundle_key.view(), nonce, {}, plain));
  Bytes bundle = salt;
  append(bundle, nonce);
  append(bundle, sealed);
  Bytes ikm(shared->view().begin(), shared->view().end());
  append(ikm, identity_shared->view());
  append(ikm, random);
  const SecretBytes adv = crypto::hkdf_sha256(ikm, {}, as_bytes(kAdvSecretInfo), 32);
  secure_zero(ikm.data(), ikm.size());
  WA_TRY(auto jid, Jid::make(lc.phone, Server::user));
  LinkCodeFinish f;
  f.adv_secret = SecretArray<32>(adv.view());
  f.reg = Node{"link_code_companion_reg",
               {{"jid", jid}, {"stage", "companion_finish"}},
               NodeList{Node{"link_code_pairing_wrapped_key_bundle", {}, std::move(bundle)},
                        Node{"companion_identity_public", {}, bytes_of(c.identity_pub)},
                        Node{"link_code_pairing_ref", {}, Bytes(ref->begin(), ref->end())}}};
  return f;
}

Node signed_prekey_node(const store::Credentials& c) {
  return Node{"skey", {},
              NodeList{Node{"id", {}, be(c.signed_prekey_id, 3)}, Node{"value", {}, bytes_of(c.signed_prekey_pub)},
                       Node{"signature", {}, bytes_of(c.signed_prekey_sig)}}};
}

PreKeyBatch make_prekeys(const store::Credentials& c, std::uint32_t first_id, std::size_t count) {
  PreKeyBatch b;
  NodeList keys;
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint32_t id = ((first_id - 1 + static_cast<std::uint32_t>(i)) % 0xffffff) + 1;  // 24-bit ids, 0 unused
    const auto kp = crypto::KeyPair::generate();
    b.records.emplace_back(id, signal::prekey_record(id, kp));
    keys.push_back(Node{"key", {}, NodeList{Node{"id", {}, be(id, 3)}, Node{"value", {}, bytes_of(kp.pub)}}});
    b.last_id = id;
  }
  b.iq_content = NodeList{Node{"registration", {}, be(c.registration_id, 4)},
                          Node{"type", {}, Bytes{crypto::kDjbType}},
                          Node{"identity", {}, bytes_of(c.identity_pub)},
                          Node{"list", {}, std::move(keys)},
                          signed_prekey_node(c)};
  return b;
}

}  // namespace wa::protocol
