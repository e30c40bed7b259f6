// SPDX-License-Identifier: MIT
// Storage interfaces of the engine (docs/architecture.md, row 1): what a linked device keeps between
// runs. Synchronous by design: implementations (store_sqlite, later PostgreSQL) are called on the
// engine's database executor, never on an I/O thread. Many devices share one store, keyed by device id.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "wa/core/bytes.hpp"
#include "wa/core/result.hpp"

namespace wa::store {

enum class errc {
  io = 1,         ///< the database failed (disk, lock, connection); the context has its message
  corrupt,        ///< a stored value that does not have the expected shape
  not_found,      ///< a device that is not in the store
  schema_too_new, ///< the database was written by a newer zapd
};
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

/// Everything a companion device needs to register or log in, and what pairing taught it.
struct Credentials {
  std::string device_id;  ///< the store key (a zapd instance id); not a WhatsApp value
  SecretArray<32> noise_priv;
  ByteArray<32> noise_pub{};
  SecretArray<32> identity_priv;
  ByteArray<32> identity_pub{};
  std::uint32_t registration_id = 0;
  std::uint32_t signed_prekey_id = 0;
  ByteArray<32> signed_prekey_pub{};
  ByteArray<64> signed_prekey_sig{};
  std::uint64_t signed_prekey_created = 0;  ///< unix seconds, for rotation
  SecretArray<32> adv_secret;
  std::uint32_t next_prekey_id = 1;          ///< the id the next generated one-time prekey gets
  std::uint32_t uploaded_prekey_id = 0;      ///< highest one-time prekey id the server has
  std::string jid;       ///< "PHONE:DEV@s.whatsapp.net" once paired; empty before
  std::string lid;       ///< "LID:DEV@lid" once known
  std::string platform;  ///< the primary phone's platform ("android", ...)
  std::string push_name;
  Bytes account;         ///< ADVSignedDeviceIdentity as received at pairing (with the account key)
  bool registered() const noexcept { return !jid.empty(); }
};

/// Per-device key-value tables for Signal and protocol state. Keys are strings chosen by the caller
/// (an address "user.device", a prekey id in decimal, "group\nuser.device" for sender keys, ...).
enum class Table : std::uint8_t {
  session = 0,
  prekey,
  signed_prekey,
  identity,       ///< peers' identity keys
  sender_key,
  device_list,    ///< usync results per user
  app_state_key,  ///< app-state sync keys by key id
  inbox,          ///< inbound messages persisted before their ack, until the consumer took them
  seen_ciphertext,  ///< SHA-256 of every decrypted ciphertext: a redelivery is never decrypted twice
  // The gateway's tables (service layer). "device" is "" for instance records, else the instance id.
  instance,       ///< instance id -> its settings (JSON)
  send_queue,     ///< zero-padded sequence -> a queued outbound message, deleted once the server took it
  outbox,         ///< zero-padded sequence -> a webhook event waiting for delivery
  dead_letter,    ///< zero-padded sequence -> a webhook event that could not be delivered
  message_index,  ///< message id -> what is kept after delivery (chat, direction, status; no content)
};
inline constexpr int kTableCount = 14;

/// send_queue, outbox and message_index are ordered by key, then device (every other table by device, then
/// key). The gateway gives their keys one order across its numbers (a global sequence; message ids that grow
/// with time), so that what one commit adds for many numbers lands on the same few pages instead of on one page
/// or more per number (docs/architecture.md, "Key-first tables"). A listing of one device in these tables reads
/// the whole table: the gateway reads them with all_keys() and scan() instead.
constexpr bool key_first(Table t) noexcept {
  return t == Table::send_queue || t == Table::outbox || t == Table::message_index;
}

/// One record of a table, with the device it belongs to (scan()).
struct Record {
  std::string device;
  std::string key;
  Bytes value;
};

class Store {
 public:
  virtual ~Store() = default;
  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  [[nodiscard]] virtual Result<std::vector<std::string>> device_ids() = 0;
  [[nodiscard]] virtual Result<std::optional<Credentials>> load_credentials(std::string_view device) = 0;
  [[nodiscard]] virtual Status save_credentials(const Credentials& c) = 0;
  /// Deletes the device's credentials and every record of it in every table (logout).
  [[nodiscard]] virtual Status delete_device(std::string_view device) = 0;

  [[nodiscard]] virtual Result<std::optional<Bytes>> get(std::string_view device, Table t, std::string_view key) = 0;
  [[nodiscard]] virtual Status put(std::string_view device, Table t, std::string_view key, ByteView value) = 0;
  [[nodiscard]] virtual Status remove(std::string_view device, Table t, std::string_view key) = 0;
  /// Keys of the device in t that start with prefix, in ascending order.
  [[nodiscard]] virtual Result<std::vector<std::string>> keys(std::string_view device, Table t, std::string_view prefix) = 0;
  [[nodiscard]] virtual Status remove_prefix(std::string_view device, Table t, std::string_view prefix) = 0;
  [[nodiscard]] virtual Result<std::size_t> count(std::string_view device, Table t) = 0;
  /// Every (device, key) of t, across devices, ordered by key, then device.
  [[nodiscard]] virtual Result<std::vector<std::pair<std::string, std::string>>> all_keys(Table t) = 0;
  /// At most limit records of t, across devices, in the order of all_keys(), after (after_key, after_device)
  /// (exclusive; two empty strings start at the beginning).
  [[nodiscard]] virtual Result<std::vector<Record>> scan(Table t, std::string_view after_key, std::string_view after_device,
                                                         std::size_t limit) = 0;

  /// Runs body in one transaction: committed when it returns ok, rolled back when it fails. Not reentrant.
  [[nodiscard]] virtual Status transaction(const std::function<Status()>& body) = 0;
};

}  // namespace wa::store

template <>
struct std::is_error_code_enum<wa::store::errc> : std::true_type {};
