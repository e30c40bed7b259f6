// SPDX-License-Identifier: MIT
// The pure parts of registering, pairing and logging in a companion device (protocol/README.md §4-§6):
// new credentials, the ClientPayloads, the QR string, pair-success checks, phone-code pairing crypto and
// prekey uploads. No I/O: the engine (client.cpp) moves these bytes and nodes over the socket.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "wa/core/bytes.hpp"
#include "wa/core/result.hpp"
#include "wa/crypto/curve.hpp"
#include "wa/store/store.hpp"
#include "wa/wire/node.hpp"

namespace wa::protocol {

enum class errc {
  bad_stanza = 1,         ///< a server stanza without a required part
  hmac_mismatch,          ///< pair-success HMAC does not match our ADV secret
  signature_mismatch,     ///< the account signature in pair-success does not verify
  not_registered,         ///< a login without a paired JID
  wrong_code,             ///< phone-code pairing: the primary's bundle does not fit our code
  logged_out,             ///< the server says this device is no longer linked
  replaced,               ///< another connection of this device took over
  connection_lost,        ///< socket closed, keepalive missed, or the server went silent
  timeout,                ///< an iq or connect deadline passed
  iq_error,               ///< the server answered an iq with type="error"
  stopped,                ///< the client was stopped
};
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

/// The WhatsApp Web version we announce (userAgent.appVersion, and MD5 of "a.b.c" as buildHash).
struct ClientVersion {
  std::uint32_t primary = 2;
  std::uint32_t secondary = 3000;
  std::uint32_t tertiary = 1043857760;
  std::string to_string() const;
  bool operator==(const ClientVersion&) const = default;
};

/// Prekeys: how many the server should hold at least, and how many one upload brings.
inline constexpr std::size_t kMinPreKeys = 5;
inline constexpr std::size_t kPreKeyUploadCount = 50;
/// Signed prekeys are rotated after this many seconds.
inline constexpr std::uint64_t kSignedPreKeyLifetime = 7 * 24 * 3600;

/// Fresh identity for a new device: noise key, Signal identity, registration id, signed prekey 1, ADV secret.
struct NewDevice {
  store::Credentials creds;
  Bytes signed_prekey_record;  ///< libsignal record for store::Table::signed_prekey, key "1"
};
NewDevice new_device(std::string device_id, std::uint64_t now);

/// A new signed prekey (rotation): record for the store and the credentials updated in place.
Bytes rotate_signed_prekey(store::Credentials& creds, std::uint64_t now);

/// ClientPayload bytes for a registration (unpaired) or a login (paired) handshake.
Bytes registration_payload(const store::Credentials& c, const ClientVersion& v);
[[nodiscard]] Result<Bytes> login_payload(const store::Credentials& c, const ClientVersion& v);

/// "REF,base64(noise pub),base64(identity pub),base64(adv secret)" as the phone expects in the QR code.
std::string qr_string(std::string_view ref, const store::Credentials& c);

/// What a verified pair-success taught us, and the <pair-device-sign> answer.
struct PairResult {
  std::string jid;        ///< our device JID
  std::string lid;        ///< our device LID (may be empty)
  std::string platform;   ///< the phone's platform
  Bytes account;          ///< ADVSignedDeviceIdentity with the account key (kept in the credentials)
  Bytes primary_identity; ///< the phone's identity key (32)
  wire::Node reply;       ///< <pair-device-sign><device-identity key-index>…</device-identity></pair-device-sign>
};
/// Checks the HMAC (with our ADV secret) and the account signature, and signs as the device.
[[nodiscard]] Result<PairResult> handle_pair_success(const wire::Node& pair_success, const store::Credentials& c);

/// Phone-code pairing, companion side (protocol/README.md §5.2).
struct LinkCode {
  std::string code;                ///< 8 characters from the Crockford-style alphabet, shown to the user
  crypto::KeyPair ephemeral;       ///< companion ephemeral, wrapped with the code
  std::string phone;               ///< digits
};
LinkCode new_link_code(std::string_view phone);
/// <link_code_companion_reg stage="companion_hello"> for the iq xmlns="md".
[[nodiscard]] Result<wire::Node> link_code_hello(const LinkCode& lc, const store::Credentials& c);
/// From <link_code_companion_reg stage="primary_hello">: the companion_finish element and the ADV secret.
struct LinkCodeFinish {
  wire::Node reg;
  SecretArray<32> adv_secret;
};
[[nodiscard]] Result<LinkCodeFinish> link_code_finish(const LinkCode& lc, const wire::Node& primary_hello,
                                                      const store::Credentials& c);

/// One-time prekeys to upload: records for the store (key = decimal id) and the <iq xmlns="encrypt"> content.
struct PreKeyBatch {
  std::vector<std::pair<std::uint32_t, Bytes>> records;
  wire::NodeList iq_content;  ///< registration, type, identity, list, skey
  std::uint32_t last_id = 0;
};
PreKeyBatch make_prekeys(const store::Credentials& c, std::uint32_t first_id, std::size_t count);

/// The <skey> element for the current signed prekey.
wire::Node signed_prekey_node(const store::Credentials& c);

}  // namespace wa::protocol

template <>
struct std::is_error_code_enum<wa::protocol::errc> : std::true_type {};
