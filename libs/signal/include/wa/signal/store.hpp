// SPDX-License-Identifier: MIT
// What libsignal-protocol-c asks of storage, as opaque records keyed by address (house-style §5.9).
// Synchronous by design: libsignal's callbacks cannot wait, so a Store runs inside one unit of work on one
// thread at a time (later: inside the database transaction that also persists the message).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "wa/core/bytes.hpp"
#include "wa/crypto/curve.hpp"

namespace wa::signal {

/// A Signal address: the JID user ("15550001111", "123456789012345" for a LID) and the device number.
struct Address {
  std::string name;
  std::uint32_t device = 0;
  friend auto operator<=>(const Address&, const Address&) = default;
};

class Store {
 public:
  virtual ~Store() = default;
  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  virtual std::optional<Bytes> load_session(const Address& a) = 0;
  virtual void store_session(const Address& a, ByteView record) = 0;
  virtual std::vector<std::uint32_t> sub_devices(const std::string& name) = 0;  ///< devices != 1 with a session
  virtual void delete_session(const Address& a) = 0;
  virtual void delete_all_sessions(const std::string& name) = 0;

  virtual std::optional<Bytes> load_prekey(std::uint32_t id) = 0;
  virtual void store_prekey(std::uint32_t id, ByteView record) = 0;
  virtual void remove_prekey(std::uint32_t id) = 0;
  virtual std::optional<Bytes> load_signed_prekey(std::uint32_t id) = 0;
  virtual void store_signed_prekey(std::uint32_t id, ByteView record) = 0;
  virtual void remove_signed_prekey(std::uint32_t id) = 0;

  virtual const crypto::KeyPair& identity() = 0;
  virtual std::uint32_t registration_id() = 0;
  /// Remembers a peer's identity key (33 bytes, 05-prefixed). WhatsApp clients trust changed identities.
  virtual void save_identity(const Address& a, ByteView key33) = 0;

  virtual std::optional<Bytes> load_sender_key(const std::string& group, const Address& sender) = 0;
  virtual void store_sender_key(const std::string& group, const Address& sender, ByteView record) = 0;
};

/// In-memory Store: wasim's phones and tests.
class MemoryStore final : public Store {
 public:
  MemoryStore(crypto::KeyPair identity, std::uint32_t registration_id)
      : identity_(std::move(identity)), registration_id_(registration_id) {}

  std::optional<Bytes> load_session(const Address& a) override { return find(sessions_, a); }
  void store_session(const Address& a, ByteView r) override { sessions_[a] = Bytes(r.begin(), r.end()); }
  std::vector<std::uint32_t> sub_devices(const std::string& name) override;
  void delete_session(const Address& a) override { sessions_.erase(a); }
  void delete_all_sessions(const std::string& name) override;
  std::optional<Bytes> load_prekey(std::uint32_t id) override { return find(prekeys_, id); }
  void store_prekey(std::uint32_t id, ByteView r) override { prekeys_[id] = Bytes(r.begin(), r.end()); }
  void remove_prekey(std::uint32_t id) override { prekeys_.erase(id); }
  std::optional<Bytes> load_signed_prekey(std::uint32_t id) override { return find(signed_, id); }
  void store_signed_prekey(std::uint32_t id, ByteView r) override { signed_[id] = Bytes(r.begin(), r.end()); }
  void remove_signed_prekey(std::uint32_t id) override { signed_.erase(id); }
  const crypto::KeyPair& identity() override { return identity_; }
  std::uint32_t registration_id() override { return registration_id_; }
  void save_identity(const Address& a, ByteView key33) override { identities_[a] = Bytes(key33.begin(), key33.end()); }
  std::optional<Bytes> load_sender_key(const std::string& g, const Address& s) override { return find(sender_keys_, std::pair{g, s}); }
  void store_sender_key(const std::string& g, const Address& s, ByteView r) override {
    sender_keys_[{g, s}] = Bytes(r.begin(), r.end());
  }
  std::size_t prekey_count() const noexcept { return prekeys_.size(); }

 private:
  template <class M, class K>
  static std::optional<Bytes> find(const M& m, const K& k) {
    auto it = m.find(k);
    if (it == m.end()) return std::nullopt;
    return it->second;
  }
  crypto::KeyPair identity_;
  std::uint32_t registration_id_;
  std::map<Address, Bytes> sessions_;
  std::map<std::uint32_t, Bytes> prekeys_;
  std::map<std::uint32_t, Bytes> signed_;
  std::map<Address, Bytes> identities_;
  std::map<std::pair<std::string, Address>, Bytes> sender_keys_;
};

}  // namespace wa::signal
