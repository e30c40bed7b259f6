// SPDX-License-Identifier: MIT
// Signal sessions and sender keys through libsignal-protocol-c, behind a small RAII wrapper
// (protocol/README.md §12). Wire formats are libsignal v3, as every WhatsApp client uses.
// WhatsApp's padding and message framing are the caller's; this layer sees opaque plaintext.
// @par Thread safety: one SignalProtocol (and its Store) per thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "wa/core/bytes.hpp"
#include "wa/core/result.hpp"
#include "wa/crypto/curve.hpp"
#include "wa/signal/store.hpp"

namespace wa::signal {

enum class errc {
  no_session = 1,      ///< encrypt or decrypt without a session (SG_ERR_NO_SESSION)
  invalid_message,     ///< ciphertext that does not parse or authenticate (SG_ERR_INVALID_MESSAGE/MAC)
  duplicate_message,   ///< a counter already used (SG_ERR_DUPLICATE_MESSAGE)
  invalid_key,         ///< a bad key or signature in a bundle (SG_ERR_INVALID_KEY)
  invalid_key_id,      ///< a prekey id we do not have (SG_ERR_INVALID_KEY_ID)
  untrusted_identity,  ///< SG_ERR_UNTRUSTED_IDENTITY
  legacy_message,      ///< a message version other than 3
  failed,              ///< any other libsignal error (its code in the context)
};
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

/// A device's keys as the server hands them out (raw 32-byte keys, as on the WhatsApp wire).
struct PreKeyBundle {
  std::uint32_t registration_id = 0;
  std::uint32_t device = 0;
  crypto::PublicKey identity{};
  std::uint32_t signed_prekey_id = 0;
  crypto::PublicKey signed_prekey{};
  crypto::Signature signed_prekey_signature{};
  std::optional<std::uint32_t> prekey_id;  ///< one-time prekey, when the server had one
  crypto::PublicKey prekey{};
};

enum class MessageType { msg, pkmsg };  ///< <enc type="msg"> or "pkmsg"
struct Ciphertext {
  MessageType type = MessageType::msg;
  Bytes data;
};

/// Serialized libsignal records for keys we generate (to put in a Store).
Bytes prekey_record(std::uint32_t id, const crypto::KeyPair& key);
Bytes signed_prekey_record(std::uint32_t id, const crypto::KeyPair& key, const crypto::Signature& sig,
                           std::uint64_t timestamp_ms);

class SignalProtocol final {
 public:
  explicit SignalProtocol(Store& store);
  ~SignalProtocol();
  SignalProtocol(const SignalProtocol&) = delete;
  SignalProtocol& operator=(const SignalProtocol&) = delete;

  /// X3DH from a fetched bundle: afterwards encrypt() makes pkmsg until the peer answers.
  [[nodiscard]] Status process_bundle(const Address& peer, const PreKeyBundle& bundle);
  bool has_session(const Address& peer);
  [[nodiscard]] Result<Ciphertext> encrypt(const Address& peer, ByteView plaintext);
  [[nodiscard]] Result<Bytes> decrypt(const Address& peer, MessageType type, ByteView ciphertext);

  /// Our SenderKeyDistributionMessage for group (creating our sender key on first use).
  [[nodiscard]] Result<Bytes> sender_key_distribution(const std::string& group, const Address& self);
  [[nodiscard]] Status process_sender_key_distribution(const std::string& group, const Address& sender, ByteView skdm);
  /// skmsg bytes.
  [[nodiscard]] Result<Bytes> group_encrypt(const std::string& group, const Address& self, ByteView plaintext);
  [[nodiscard]] Result<Bytes> group_decrypt(const std::string& group, const Address& sender, ByteView ciphertext);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wa::signal

template <>
struct std::is_error_code_enum<wa::signal::errc> : std::true_type {};
