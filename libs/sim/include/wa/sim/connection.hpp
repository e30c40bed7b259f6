// SPDX-License-Identifier: MIT
// One client connection to wasim: frames, Noise handshake, transport, and the server's answers to each
// stanza. Pure: bytes come in through on_message, go out through the Link the socket shell provides.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "wa/core/bytes.hpp"
#include "wa/noise/handshake.hpp"
#include "wa/sim/network.hpp"
#include "wa/wire/frame.hpp"
#include "wa/wire/node.hpp"

namespace wa::sim {

/// What a connection needs from its socket; implemented by the shell, all calls on the network's thread.
class Link {
 public:
  virtual ~Link() = default;
  /// One websocket binary message.
  virtual void write(Bytes data) = 0;
  /// Close once pending writes are done. Idempotent.
  virtual void close() = 0;
  /// Runs fn after d on the same thread, unless the connection is gone by then.
  virtual void after(std::chrono::milliseconds d, std::function<void()> fn) = 0;
  /// Fault: closes the socket at once, without a websocket close.
  virtual void drop() = 0;
  /// Fault: stays open but goes silent: what arrives is discarded and nothing more is written.
  virtual void stall() = 0;
};

class Connection final {
 public:
  Connection(Network& net, Link& link, std::uint64_t id);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Bytes of one websocket message from the client.
  void on_message(ByteView data);
  /// Encrypts, frames and writes one stanza (after the handshake).
  void send_node(const wire::Node& node);
  /// Sends <stream:error code=...> and closes.
  void stream_error(std::string_view code);
  /// Sends <stream:error><conflict type=.../></stream:error> (replaced, device_removed) and closes.
  void stream_conflict(std::string_view type, std::string_view code = {});
  /// Faults (docs/wasim.md): see Link::drop and Link::stall.
  void drop() { phase_ = Phase::closed; link_.drop(); }
  void stall() { phase_ = Phase::closed; link_.stall(); }

  std::string name() const;
  bool logged_in() const noexcept { return phase_ == Phase::logged_in; }
  /// Logged in and its offline queue replayed: new stanzas go to it at once (before that they wait in
  /// the queue, so that a reconnecting device gets everything in order).
  bool live() const noexcept { return logged_in() && live_; }
  const Account* account() const noexcept { return account_; }
  std::uint16_t device() const noexcept { return device_; }
  const crypto::PublicKey& client_static() const noexcept { return client_static_; }

  /// Pairing (registration connections): the phone scanned this connection's QR.
  [[nodiscard]] Status on_scanned(Account& account, ByteView qr_identity, ByteView adv_secret);
  /// Phone-code pairing: the phone number this connection asked a code for (companion_hello), if any.
  std::optional<std::string> link_code_phone() const;
  /// The user typed code on the phone: the phone answers with primary_hello.
  [[nodiscard]] Status on_link_code_entered(Account& account, std::string_view code);

 private:
  enum class Phase { header, hello, finish, registration, logged_in, closed };
  struct Registration {
    std::uint32_t registration_id = 0;
    crypto::PublicKey identity{};
    SignedPreKey signed_prekey;
    std::string platform;
  };
  struct PendingPair {
    Account* account = nullptr;
    std::uint16_t device = 0;
    std::uint32_t key_index = 0;
    std::string details;  // ADVDeviceIdentity bytes
    std::string iq_id;
  };

  struct LinkCode {
    std::string phone;
    Bytes wrapped_companion_ephemeral;  // salt 32 || iv 16 || AES-CTR(code key, companion ephemeral)
    std::string ref;
    Account* account = nullptr;
    std::optional<crypto::KeyPair> primary_ephemeral;
    crypto::PublicKey companion_ephemeral{};
  };

  void reject(std::string why);
  void on_link_code_iq(const wire::Node& iq);
  void on_companion_finish(const wire::Node& iq, const wire::Node& reg);
  void on_frame(const Bytes& frame);
  Status on_client_payload(const Bytes& payload);
  void on_node(const wire::Node& node);
  void on_iq(const wire::Node& iq);
  void on_iq_result(const wire::Node& iq);
  void on_pair_device_sign(const wire::Node& iq, const wire::Node& sign);
  void on_prekey_upload(const wire::Node& iq);
  void on_digest(const wire::Node& iq);
  void on_rotate(const wire::Node& iq, const wire::Node& rotate);
  void on_presence(const wire::Node& p);
  void on_chatstate(const wire::Node& c);
  // routing.cpp: messages, receipts, device lists, key bundles, the phone's duties after login.
  void on_message(const wire::Node& m);
  void on_receipt(const wire::Node& r);
  void on_ack(const wire::Node& a);
  void acknowledged(std::string_view cls, std::string_view id);
  void key_share_done(std::string_view id);
  void on_usync(const wire::Node& iq);
  void on_bundle_fetch(const wire::Node& iq, const wire::Node& key);
  void on_active();
  void finish_offline();
  void phone_receive(Account& phone_owner, const Jid& from, const wire::Node& enc, const std::string& id);
  // groups.cpp: w:g2 iqs and group message routing.
  void on_group_iq(const wire::Node& iq);
  void route_group_message(const wire::Node& m, const Jid& group, const std::string& id, const std::string& type);
  Jid device_jid() const;

  void send_pair_device();
  void send_success();
  void iq_result(const wire::Node& req, wire::Content content = {});
  void iq_error(const wire::Node& req, int code, std::string_view text);

  Network& net_;
  Link& link_;
  std::uint64_t id_;
  Phase phase_ = Phase::header;
  wire::FrameReader reader_{wire::FrameReader::Role::server};
  wire::Dict dict_ = wire::Dict::v3;
  std::optional<noise::Responder> responder_;
  std::optional<noise::CipherPair> ciphers_;
  crypto::PublicKey client_static_{};
  std::optional<Registration> registration_;
  std::optional<PendingPair> pending_pair_;
  std::optional<LinkCode> link_code_;
  std::optional<std::string> pending_key_share_;  // id of the key-share message we wait to be acked
  std::vector<std::string> refs_;
  Account* account_ = nullptr;
  std::uint16_t device_ = 0;
  bool live_ = false;
};

}  // namespace wa::sim
