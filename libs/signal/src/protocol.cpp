// SPDX-License-Identifier: MIT
// RAII over libsignal-protocol-c: store callbacks forward to a wa::signal::Store; every libsignal object is
// released by a scope guard; error codes become wa::signal::errc (protocol/README.md §12).
#include "wa/signal/protocol.hpp"

extern "C" {
#include <signal/curve.h>
#include <signal/group_cipher.h>
#include <signal/group_session_builder.h>
#include <signal/protocol.h>
#include <signal/session_builder.h>
#include <signal/session_cipher.h>
#include <signal/session_pre_key.h>
#include <signal/signal_protocol.h>
}

#include <algorithm>
#include <cstring>

#include "wa/crypto/signal_provider.hpp"

namespace wa::signal {
namespace {

// Owns one reference of a libsignal ref-counted object.
template <class T>
struct Ref {
  T* p = nullptr;
  Ref() = default;
  Ref(const Ref&) = delete;
  Ref& operator=(const Ref&) = delete;
  ~Ref() {
    if (p != nullptr) signal_type_unref(reinterpret_cast<signal_type_base*>(p));
  }
};
struct Buffer {
  signal_buffer* p = nullptr;
  ~Buffer() { signal_buffer_free(p); }
  Bytes bytes() const { return Bytes(signal_buffer_data(p), signal_buffer_data(p) + signal_buffer_len(p)); }
};

Address to_address(const signal_protocol_address* a) {
  return Address{std::string(a->name, a->name_len), static_cast<std::uint32_t>(a->device_id)};
}

struct CAddress {
  explicit CAddress(const Address& a) : name(a.name) {
    addr.name = name.c_str();
    addr.name_len = name.size();
    addr.device_id = static_cast<std::int32_t>(a.device);
  }
  std::string name;
  signal_protocol_address addr{};
};

struct CSenderKeyName {
  CSenderKeyName(const std::string& group, const Address& sender) : group_id(group), sender_addr(sender) {
    name.group_id = group_id.c_str();
    name.group_id_len = group_id.size();
    name.sender = sender_addr.addr;
  }
  std::string group_id;
  CAddress sender_addr;
  signal_protocol_sender_key_name name{};
};

Store& store_of(void* user) { return *static_cast<Store*>(user); }

int put(signal_buffer** out, const std::optional<Bytes>& b) {
  if (!b) return 0;
  *out = signal_buffer_create(b->data(), b->size());
  return *out != nullptr ? 1 : SG_ERR_NOMEM;
}

// --- store callbacks (libsignal's return conventions are noted per group) ---
// sessions: load returns 1 found / 0 not found; contains 1/0.
int load_session(signal_buffer** record, signal_buffer** user_record, const signal_protocol_address* a, void* u) {
  *user_record = nullptr;
  return put(record, store_of(u).load_session(to_address(a)));
}
int sub_devices(signal_int_list** sessions, const char* name, std::size_t len, void* u) {
  signal_int_list* list = signal_int_list_alloc();
  if (list == nullptr) return SG_ERR_NOMEM;
  const auto devices = store_of(u).sub_devices(std::string(name, len));
  for (auto d : devices) signal_int_list_push_back(list, static_cast<int>(d));
  *sessions = list;
  return static_cast<int>(devices.size());
}
int store_session(const signal_protocol_address* a, std::uint8_t* r, std::size_t n, std::uint8_t*, std::size_t, void* u) {
  store_of(u).store_session(to_address(a), ByteView(r, n));
  return 0;
}
int contains_session(const signal_protocol_address* a, void* u) {
  return store_of(u).load_session(to_address(a)).has_value() ? 1 : 0;
}
int delete_session(const signal_protocol_address* a, void* u) {
  store_of(u).delete_session(to_address(a));
  return 1;
}
int delete_all_sessions(const char* name, std::size_t len, void* u) {
  store_of(u).delete_all_sessions(std::string(name, len));
  return 0;
}
// prekeys: load returns SG_SUCCESS or SG_ERR_INVALID_KEY_ID.
int load_prekey(signal_buffer** record, std::uint32_t id, void* u) {
  const int r = put(record, store_of(u).load_prekey(id));
  return r == 1 ? SG_SUCCESS : (r == 0 ? SG_ERR_INVALID_KEY_ID : r);
}
int store_prekey(std::uint32_t id, std::uint8_t* r, std::size_t n, void* u) {
  store_of(u).store_prekey(id, ByteView(r, n));
  return 0;
}
int contains_prekey(std::uint32_t id, void* u) { return store_of(u).load_prekey(id).has_value() ? 1 : 0; }
int remove_prekey(std::uint32_t id, void* u) {
  store_of(u).remove_prekey(id);
  return 0;
}
int load_signed_prekey(signal_buffer** record, std::uint32_t id, void* u) {
  const int r = put(record, store_of(u).load_signed_prekey(id));
  return r == 1 ? SG_SUCCESS : (r == 0 ? SG_ERR_INVALID_KEY_ID : r);
}
int store_signed_prekey(std::uint32_t id, std::uint8_t* r, std::size_t n, void* u) {
  store_of(u).store_signed_prekey(id, ByteView(r, n));
  return 0;
}
int contains_signed_prekey(std::uint32_t id, void* u) {
  return store_of(u).load_signed_prekey(id).has_value() ? 1 : 0;
}
int remove_signed_prekey(std::uint32_t id, void* u) {
  store_of(u).remove_signed_prekey(id);
  return 0;
}
// identity: our pair as (05 || public, private); every peer identity is trusted, as Baileys and whatsmeow do.
int get_identity_key_pair(signal_buffer** pub, signal_buffer** priv, void* u) {
  const auto& kp = store_of(u).identity();
  const auto p33 = crypto::signal_public(kp.pub);
  *pub = signal_buffer_create(p33.data(), p33.size());
  *priv = signal_buffer_create(kp.priv.data(), kp.priv.size());
  return (*pub != nullptr && *priv != nullptr) ? 0 : SG_ERR_NOMEM;
}
int get_registration_id(void* u, std::uint32_t* id) {
  *id = store_of(u).registration_id();
  return 0;
}
int save_identity(const signal_protocol_address* a, std::uint8_t* key, std::size_t n, void* u) {
  if (key != nullptr) store_of(u).save_identity(to_address(a), ByteView(key, n));
  return 0;
}
int is_trusted_identity(const signal_protocol_address*, std::uint8_t*, std::size_t, void*) { return 1; }
// sender keys: load returns 1 found / 0 not found.
int store_sender_key(const signal_protocol_sender_key_name* k, std::uint8_t* r, std::size_t n, std::uint8_t*,
                     std::size_t, void* u) {
  store_of(u).store_sender_key(std::string(k->group_id, k->group_id_len), to_address(&k->sender), ByteView(r, n));
  return 0;
}
int load_sender_key(signal_buffer** record, signal_buffer** user_record, const signal_protocol_sender_key_name* k,
                    void* u) {
  *user_record = nullptr;
  return put(record, store_of(u).load_sender_key(std::string(k->group_id, k->group_id_len), to_address(&k->sender)));
}

Error sg_error(int code, const char* what) {
  errc e = errc::failed;
  switch (code) {
    case SG_ERR_NO_SESSION: e = errc::no_session; break;
    case SG_ERR_INVALID_MESSAGE:
    case SG_ERR_INVALID_MAC:
    case SG_ERR_INVALID_PROTO_BUF: e = errc::invalid_message; break;
    case SG_ERR_DUPLICATE_MESSAGE: e = errc::duplicate_message; break;
    case SG_ERR_INVALID_KEY: e = errc::invalid_key; break;
    case SG_ERR_INVALID_KEY_ID: e = errc::invalid_key_id; break;
    case SG_ERR_UNTRUSTED_IDENTITY: e = errc::untrusted_identity; break;
    case SG_ERR_LEGACY_MESSAGE:
    case SG_ERR_INVALID_VERSION: e = errc::legacy_message; break;
    default: break;
  }
  return Error{e, std::string(what) + " (libsignal " + std::to_string(code) + ")"};
}

Result<ec_public_key*> decode_point(const crypto::PublicKey& k) {
  const auto p33 = crypto::signal_public(k);
  ec_public_key* out = nullptr;
  const int rc = curve_decode_point(&out, p33.data(), p33.size(), crypto::shared_signal_context());
  if (rc != 0) return fail(sg_error(rc, "decode public key"));
  return out;
}

Result<ec_key_pair*> key_pair(const crypto::KeyPair& kp) {
  Ref<ec_public_key> pub;
  Ref<ec_private_key> priv;
  WA_TRY(pub.p, decode_point(kp.pub));
  int rc = curve_decode_private_point(&priv.p, kp.priv.data(), 32, crypto::shared_signal_context());
  if (rc != 0) return fail(sg_error(rc, "decode private key"));
  ec_key_pair* out = nullptr;
  rc = ec_key_pair_create(&out, pub.p, priv.p);
  if (rc != 0) return fail(sg_error(rc, "key pair"));
  return out;
}

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "signal"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::no_session: return "no session";
      case errc::invalid_message: return "invalid message";
      case errc::duplicate_message: return "duplicate message";
      case errc::invalid_key: return "invalid key";
      case errc::invalid_key_id: return "unknown prekey id";
      case errc::untrusted_identity: return "untrusted identity";
      case errc::legacy_message: return "unsupported message version";
      case errc::failed: return "libsignal failure";
    }
    return "unknown signal error";
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const Category c;
  return c;
}

Bytes prekey_record(std::uint32_t id, const crypto::KeyPair& key) {
  Ref<ec_key_pair> kp;
  auto r = key_pair(key);
  WA_CHECK(r.has_value());
  kp.p = *r;
  Ref<session_pre_key> pk;
  WA_CHECK(session_pre_key_create(&pk.p, id, kp.p) == 0);
  Buffer b;
  WA_CHECK(session_pre_key_serialize(&b.p, pk.p) == 0);
  return b.bytes();
}

Bytes signed_prekey_record(std::uint32_t id, const crypto::KeyPair& key, const crypto::Signature& sig,
                           std::uint64_t timestamp_ms) {
  Ref<ec_key_pair> kp;
  auto r = key_pair(key);
  WA_CHECK(r.has_value());
  kp.p = *r;
  Ref<session_signed_pre_key> spk;
  WA_CHECK(session_signed_pre_key_create(&spk.p, id, timestamp_ms, kp.p, sig.data(), sig.size()) == 0);
  Buffer b;
  WA_CHECK(session_signed_pre_key_serialize(&b.p, spk.p) == 0);
  return b.bytes();
}

struct SignalProtocol::Impl {
  explicit Impl(Store& s) : store(s) {
    signal_context* ctx = crypto::shared_signal_context();
    WA_CHECK(signal_protocol_store_context_create(&stores, ctx) == 0);
    signal_protocol_session_store ss{&load_session, &sub_devices, &store_session, &contains_session,
                                     &delete_session, &delete_all_sessions, nullptr, &store};
    signal_protocol_pre_key_store ps{&load_prekey, &store_prekey, &contains_prekey, &remove_prekey, nullptr, &store};
    signal_protocol_signed_pre_key_store sps{&load_signed_prekey, &store_signed_prekey, &contains_signed_prekey,
                                             &remove_signed_prekey, nullptr, &store};
    signal_protocol_identity_key_store is{&get_identity_key_pair, &get_registration_id, &save_identity,
                                          &is_trusted_identity, nullptr, &store};
    signal_protocol_sender_key_store sks{&store_sender_key, &load_sender_key, nullptr, &store};
    WA_CHECK(signal_protocol_store_context_set_session_store(stores, &ss) == 0);
    WA_CHECK(signal_protocol_store_context_set_pre_key_store(stores, &ps) == 0);
    WA_CHECK(signal_protocol_store_context_set_signed_pre_key_store(stores, &sps) == 0);
    WA_CHECK(signal_protocol_store_context_set_identity_key_store(stores, &is) == 0);
    WA_CHECK(signal_protocol_store_context_set_sender_key_store(stores, &sks) == 0);
  }
  ~Impl() { signal_protocol_store_context_destroy(stores); }

  Store& store;
  signal_protocol_store_context* stores = nullptr;
};

SignalProtocol::SignalProtocol(Store& store) : impl_(std::make_unique<Impl>(store)) {}
SignalProtocol::~SignalProtocol() = default;

Status SignalProtocol::process_bundle(const Address& peer, const PreKeyBundle& b) {
  Ref<ec_public_key> identity, signed_prekey, prekey;
  WA_TRY(identity.p, decode_point(b.identity));
  WA_TRY(signed_prekey.p, decode_point(b.signed_prekey));
  if (b.prekey_id) {
    WA_TRY(prekey.p, decode_point(b.prekey));
  }
  Ref<session_pre_key_bundle> bundle;
  int rc = session_pre_key_bundle_create(&bundle.p, b.registration_id, static_cast<int>(b.device),
                                         b.prekey_id.value_or(0), prekey.p, b.signed_prekey_id, signed_prekey.p,
                                         b.signed_prekey_signature.data(), b.signed_prekey_signature.size(), identity.p);
  if (rc != 0) return fail(sg_error(rc, "bundle"));
  CAddress a(peer);
  session_builder* builder = nullptr;
  rc = session_builder_create(&builder, impl_->stores, &a.addr, crypto::shared_signal_context());
  if (rc != 0) return fail(sg_error(rc, "session builder"));
  rc = session_builder_process_pre_key_bundle(builder, bundle.p);
  session_builder_free(builder);
  if (rc != 0) return fail(sg_error(rc, "process bundle"));
  return ok();
}

bool SignalProtocol::has_session(const Address& peer) { return impl_->store.load_session(peer).has_value(); }

Result<Ciphertext> SignalProtocol::encrypt(const Address& peer, ByteView plaintext) {
  // libsignal would encrypt with an empty record and fail with a generic code: say what is missing.
  if (!has_session(peer)) return fail(errc::no_session, peer.name + "." + std::to_string(peer.device));
  CAddress a(peer);
  session_cipher* cipher = nullptr;
  int rc = session_cipher_create(&cipher, impl_->stores, &a.addr, crypto::shared_signal_context());
  if (rc != 0) return fail(sg_error(rc, "session cipher"));
  Ref<ciphertext_message> msg;
  rc = session_cipher_encrypt(cipher, plaintext.data(), plaintext.size(), &msg.p);
  session_cipher_free(cipher);
  if (rc != 0) return fail(sg_error(rc, "encrypt"));
  signal_buffer* s = ciphertext_message_get_serialized(msg.p);
  Ciphertext out;
  out.type = ciphertext_message_get_type(msg.p) == CIPHERTEXT_PREKEY_TYPE ? MessageType::pkmsg : MessageType::msg;
  out.data.assign(signal_buffer_data(s), signal_buffer_data(s) + signal_buffer_len(s));
  return out;
}

Result<Bytes> SignalProtocol::decrypt(const Address& peer, MessageType type, ByteView ciphertext) {
  CAddress a(peer);
  signal_context* ctx = crypto::shared_signal_context();
  session_cipher* cipher = nullptr;
  int rc = session_cipher_create(&cipher, impl_->stores, &a.addr, ctx);
  if (rc != 0) return fail(sg_error(rc, "session cipher"));
  Buffer plain;
  if (type == MessageType::pkmsg) {
    Ref<pre_key_signal_message> m;
    rc = pre_key_signal_message_deserialize(&m.p, ciphertext.data(), ciphertext.size(), ctx);
    if (rc == 0) rc = session_cipher_decrypt_pre_key_signal_message(cipher, m.p, nullptr, &plain.p);
  } else {
    Ref<signal_message> m;
    rc = signal_message_deserialize(&m.p, ciphertext.data(), ciphertext.size(), ctx);
    if (rc == 0) rc = session_cipher_decrypt_signal_message(cipher, m.p, nullptr, &plain.p);
  }
  session_cipher_free(cipher);
  if (rc != 0) return fail(sg_error(rc, type == MessageType::pkmsg ? "decrypt pkmsg" : "decrypt msg"));
  return plain.bytes();
}

Result<Bytes> SignalProtocol::sender_key_distribution(const std::string& group, const Address& self) {
  CSenderKeyName name(group, self);
  group_session_builder* builder = nullptr;
  int rc = group_session_builder_create(&builder, impl_->stores, crypto::shared_signal_context());
  if (rc != 0) return fail(sg_error(rc, "group builder"));
  Ref<sender_key_distribution_message> skdm;
  rc = group_session_builder_create_session(builder, &skdm.p, &name.name);
  group_session_builder_free(builder);
  if (rc != 0) return fail(sg_error(rc, "create sender key"));
  signal_buffer* s = ciphertext_message_get_serialized(reinterpret_cast<ciphertext_message*>(skdm.p));
  return Bytes(signal_buffer_data(s), signal_buffer_data(s) + signal_buffer_len(s));
}

Status SignalProtocol::process_sender_key_distribution(const std::string& group, const Address& sender, ByteView data) {
  CSenderKeyName name(group, sender);
  signal_context* ctx = crypto::shared_signal_context();
  Ref<sender_key_distribution_message> skdm;
  int rc = sender_key_distribution_message_deserialize(&skdm.p, data.data(), data.size(), ctx);
  if (rc != 0) return fail(sg_error(rc, "parse sender key distribution"));
  group_session_builder* builder = nullptr;
  rc = group_session_builder_create(&builder, impl_->stores, ctx);
  if (rc != 0) return fail(sg_error(rc, "group builder"));
  rc = group_session_builder_process_session(builder, &name.name, skdm.p);
  group_session_builder_free(builder);
  if (rc != 0) return fail(sg_error(rc, "process sender key distribution"));
  return ok();
}

Result<Bytes> SignalProtocol::group_encrypt(const std::string& group, const Address& self, ByteView plaintext) {
  CSenderKeyName name(group, self);
  group_cipher* cipher = nullptr;
  int rc = group_cipher_create(&cipher, impl_->stores, &name.name, crypto::shared_signal_context());
  if (rc != 0) return fail(sg_error(rc, "group cipher"));
  Ref<ciphertext_message> msg;
  rc = group_cipher_encrypt(cipher, plaintext.data(), plaintext.size(), &msg.p);
  group_cipher_free(cipher);
  if (rc != 0) return fail(sg_error(rc, "group encrypt"));
  signal_buffer* s = ciphertext_message_get_serialized(msg.p);
  return Bytes(signal_buffer_data(s), signal_buffer_data(s) + signal_buffer_len(s));
}

Result<Bytes> SignalProtocol::group_decrypt(const std::string& group, const Address& sender, ByteView ciphertext) {
  CSenderKeyName name(group, sender);
  signal_context* ctx = crypto::shared_signal_context();
  Ref<sender_key_message> m;
  int rc = sender_key_message_deserialize(&m.p, ciphertext.data(), ciphertext.size(), ctx);
  if (rc != 0) return fail(sg_error(rc, "parse skmsg"));
  group_cipher* cipher = nullptr;
  rc = group_cipher_create(&cipher, impl_->stores, &name.name, ctx);
  if (rc != 0) return fail(sg_error(rc, "group cipher"));
  Buffer plain;
  rc = group_cipher_decrypt(cipher, m.p, nullptr, &plain.p);
  group_cipher_free(cipher);
  if (rc != 0) return fail(sg_error(rc, "group decrypt"));
  return plain.bytes();
}

std::vector<std::uint32_t> MemoryStore::sub_devices(const std::string& name) {
  std::vector<std::uint32_t> out;
  for (const auto& [a, r] : sessions_) {
    if (a.name == name && a.device != 1) out.push_back(a.device);
  }
  return out;
}

void MemoryStore::delete_all_sessions(const std::string& name) {
  std::erase_if(sessions_, [&](const auto& kv) { return kv.first.name == name; });
}

}  // namespace wa::signal
