// SPDX-License-Identifier: MIT
// signal::Store over the engine's store::Store for one device. Used on the database executor only,
// inside store transactions, so a Signal state change commits together with what caused it.
// Store failures cannot travel through libsignal's callbacks: the first one is remembered and the
// caller checks failed() and rolls the transaction back.
#pragma once

#include <optional>
#include <string>

#include "wa/signal/store.hpp"
#include "wa/store/store.hpp"

namespace wa::protocol::detail {

class DeviceSignalStore final : public signal::Store {
 public:
  DeviceSignalStore(store::Store& s, const store::Credentials& c);

  std::optional<Bytes> load_session(const signal::Address& a) override;
  void store_session(const signal::Address& a, ByteView record) override;
  std::vector<std::uint32_t> sub_devices(const std::string& name) override;
  void delete_session(const signal::Address& a) override;
  void delete_all_sessions(const std::string& name) override;
  std::optional<Bytes> load_prekey(std::uint32_t id) override;
  void store_prekey(std::uint32_t id, ByteView record) override;
  void remove_prekey(std::uint32_t id) override;
  std::optional<Bytes> load_signed_prekey(std::uint32_t id) override;
  void store_signed_prekey(std::uint32_t id, ByteView record) override;
  void remove_signed_prekey(std::uint32_t id) override;
  const crypto::KeyPair& identity() override { return identity_; }
  std::uint32_t registration_id() override { return registration_id_; }
  void save_identity(const signal::Address& a, ByteView key33) override;
  std::optional<Bytes> load_sender_key(const std::string& group, const signal::Address& sender) override;
  void store_sender_key(const std::string& group, const signal::Address& sender, ByteView record) override;
  /// Forgets a sender key (ours, when a group's membership shrank): the next group message makes a new one.
  void remove_sender_key(const std::string& group, const signal::Address& sender);

  /// The first store error since the last reset, if any.
  const std::optional<Error>& failed() const noexcept { return error_; }
  void reset() { error_.reset(); }

 private:
  static std::string key(const signal::Address& a) { return a.name + "." + std::to_string(a.device); }
  std::optional<Bytes> get(store::Table t, const std::string& k);
  void check(Status st);

  store::Store& s_;
  std::string device_;
  // The last session record read or written, by key. Encrypting reads a record three times in one job (the
  // caller's has_session, encrypt's own check, libsignal's load); an instance lives for one job on the database
  // executor, the only thread that writes sessions, and every session write of that job goes through it. Off
  // once the job has met a store error.
  std::string memo_key_;
  std::optional<Bytes> memo_;
  bool memo_valid_ = false;
  crypto::KeyPair identity_;
  std::uint32_t registration_id_;
  std::optional<Error> error_;
};

}  // namespace wa::protocol::detail
