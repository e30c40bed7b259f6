// SPDX-License-Identifier: MIT
// wasim's simulated WhatsApp network: accounts with simulated primary phones, their linked companion
// devices, the server's Noise keys and certificate chain. Pure logic (no Asio): the socket shell
// (server.cpp) feeds bytes to Connection objects and runs on one thread, so nothing here locks.
// See docs/wasim.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "wa/core/bytes.hpp"
#include "wa/core/jid.hpp"
#include "wa/core/result.hpp"
#include "wa/crypto/curve.hpp"
#include "wa/noise/cert.hpp"
#include "wa/signal/protocol.hpp"
#include "wa/wire/node.hpp"

namespace wa::sim {

class Connection;

struct PreKey {
  std::uint32_t id = 0;
  crypto::PublicKey key{};
};
struct SignedPreKey {
  std::uint32_t id = 0;
  crypto::PublicKey key{};
  crypto::Signature signature{};
};

/// A linked companion device (a WhatsApp Web client such as Baileys or zapd).
struct Companion {
  std::uint16_t device = 0;
  crypto::PublicKey noise_key{};     ///< its Noise static key: logins must come from it
  crypto::PublicKey identity{};      ///< its Signal identity key
  std::uint32_t registration_id = 0;
  SignedPreKey signed_prekey;
  std::vector<PreKey> prekeys;       ///< one-time prekeys, consumed by bundle fetches
  std::string platform;
  std::string adv_details;           ///< ADVDeviceIdentity bytes the phone signed
  std::uint32_t key_index = 0;       ///< ADV key index, listed by usync
  std::uint64_t paired_at = 0;
  bool got_key_share = false;        ///< the phone sent it the app-state key share
  /// Stanzas routed to it and not yet acknowledged by it (<ack class id>): sent live when it is connected,
  /// and (re)sent with offline="1" at its next login until acked, as the real server's offline queue.
  std::deque<wire::Node> unacked;
  /// What was routed to it (newest last, at most 1000): "tag id from [type]" — the content is end-to-end
  /// encrypted, so this is what the server can show.
  std::deque<std::string> received;
  /// The last messages it acknowledged (at most 20), for the redeliver fault.
  std::deque<wire::Node> recently_acked;
  /// Fault: the next iqs with this xmlns are answered with this error code (one entry per iq).
  std::deque<std::pair<std::string, int>> failing_iqs;
  /// Fault: the server's acks of the next `delayed_acks` messages this device sends wait ack_delay first.
  std::size_t delayed_acks = 0;
  std::chrono::milliseconds ack_delay{0};
};

/// A message a simulated phone received and decrypted.
struct PhoneMessage {
  std::string id;
  std::string from;  ///< sending device JID
  std::string text;  ///< conversation / extendedText text, if any
  std::string kind;  ///< first field of the Message ("extendedTextMessage", "protocolMessage", ...)
  std::string chat;  ///< the group JID for a group message; "" for a 1:1 message
};

/// A stanza for the phone that arrived while it was offline.
struct PhoneInbound {
  Jid from;
  std::optional<wire::Node> enc;  ///< the 1:1 part (in a group: a sender-key distribution, when there is one)
  std::string id;
  // A group message: the group and its skmsg.
  std::optional<Jid> group;
  std::optional<wire::Node> skmsg;
};

/// The simulated primary phone (device 0): real Signal state so that companions can encrypt to it and it
/// can encrypt to them (the app-state key share, and messages sent through the control API).
struct Phone {
  std::unique_ptr<signal::MemoryStore> store;
  std::unique_ptr<signal::SignalProtocol> signal;
  crypto::KeyPair signed_prekey;
  crypto::Signature signed_prekey_signature{};
  std::deque<std::pair<std::uint32_t, crypto::PublicKey>> unused_prekeys;  ///< handed out once each
  Bytes app_state_key_id;    ///< the account's app-state sync key, shared with every companion
  Bytes app_state_key_data;
  std::deque<PhoneMessage> received;
  bool online = true;                 ///< offline phones keep what arrives and process it when back online
  std::deque<PhoneInbound> inbox;
  std::deque<std::pair<std::string, std::string>> chatstates;  ///< (from user JID, composing|recording|paused) seen by the phone
};

/// One WhatsApp account: a phone number, a LID, and its simulated primary phone (device 0).
struct Account {
  std::string phone;  ///< digits, the user part of PHONE@s.whatsapp.net
  std::string lid;    ///< digits, the user part of LID@lid
  std::string name;   ///< push name
  crypto::KeyPair identity;  ///< the phone's Signal identity; also the ADV account signature key
  std::uint32_t registration_id = 0;
  std::unique_ptr<Phone> handset;  ///< the simulated primary phone (device 0)
  std::map<std::uint16_t, Companion> companions;
  std::uint16_t next_device = 1;
  std::uint32_t next_key_index = 1;
  std::string presence = "unavailable";  ///< last presence any of its devices announced
  std::uint64_t last_seen = 0;
  std::set<std::pair<std::string, std::uint16_t>> presence_subscribers;  ///< (phone, device) subscribed to it
};

/// A group (protocol/README.md §7.5, §10): its members by phone digits, with their role.
struct Group {
  std::string id;                 ///< the user part of ID@g.us
  std::string subject, subject_owner;  ///< owner: phone digits
  std::uint64_t subject_time = 0, creation = 0;
  std::string creator;            ///< phone digits
  std::string description, description_id;
  bool announce = false, locked = false;
  std::string invite_code;
  std::map<std::string, std::string> members;  ///< phone -> "" | "admin" | "superadmin"
};

struct NetworkConfig {
  /// Pause after the handshake before the first stanza (pair-device or success). Stock baileys 6 derives
  /// its transport keys asynchronously after ClientFinish and loses a stanza that arrives first.
  std::chrono::milliseconds first_stanza_delay{150};
  /// Pause between the companion's ack of the app-state key share and the end-of-offline marker. Stock
  /// baileys 6 acks before it has stored the key; an offline marker that overtakes the store makes it buffer
  /// every later event until an app-state sync that never comes.
  std::chrono::milliseconds key_share_settle{400};
  std::size_t pair_refs = 6;
  std::function<std::uint64_t()> now;  ///< unix seconds; defaults to the system clock
};

/// A line wasim logged about a client: why something was rejected, or a protocol milestone.
struct LogEntry {
  std::uint64_t seq = 0;
  std::string connection;  ///< "c<id>" or the device JID once known
  std::string text;
};

class Network final {
 public:
  explicit Network(NetworkConfig cfg = {});
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  const NetworkConfig& config() const noexcept { return cfg_; }
  /// Changes the pause before a connection's first stanza for the handshakes that finish from now on
  /// (`POST /first-stanza-delay`).
  void set_first_stanza_delay(std::chrono::milliseconds d) noexcept { cfg_.first_stanza_delay = d; }
  std::uint64_t now() const { return cfg_.now(); }

  // --- server identity -----------------------------------------------------------------------------
  const crypto::KeyPair& server_static() const noexcept { return static_key_; }
  const Bytes& cert_chain() const noexcept { return chain_; }
  const crypto::PublicKey& root_public() const noexcept { return root_.pub; }

  // --- accounts ------------------------------------------------------------------------------------
  /// Creates an account with a new phone identity and a random LID. Phone: 8 to 15 digits, unused.
  [[nodiscard]] Result<Account*> create_account(std::string_view phone, std::string_view name);
  Account* account(std::string_view phone);
  const std::map<std::string, std::unique_ptr<Account>>& accounts() const noexcept { return accounts_; }

  /// The account's phone scans a QR code shown by a companion (Baileys or whatsmeow form).
  [[nodiscard]] Status scan(std::string_view phone, std::string_view qr);
  /// The user types the 8-character code a companion showed (phone-code pairing, with or without '-').
  [[nodiscard]] Status enter_link_code(std::string_view phone, std::string_view code);
  /// Called by a connection once the companion signed the pairing: the device is linked.
  Companion& add_companion(Account& account, Companion c);
  /// Logs the companion out: closes its connections with a 401 stream error, forgets the device.
  [[nodiscard]] Status logout(std::string_view phone, std::uint16_t device);

  /// A fault on the device's connections, on command (docs/wasim.md "Faults"). kind: drop, stall,
  /// stream-error (code 515, 503, 401, conflict), prekeys-low (keep `count` prekeys and notify),
  /// fail-iq (the next `count` iqs with xmlns `arg` get error `code`), delay-acks (the acks of the next
  /// `count` messages the device sends wait `ms`).
  [[nodiscard]] Status fault(std::string_view phone, std::uint16_t device, std::string_view kind,
                             std::string_view arg, int code, std::size_t count, std::uint32_t ms = 0);
  /// How long the server waits before acking the next message this device sends (the delay-acks fault).
  std::chrono::milliseconds take_ack_delay(Account& a, std::uint16_t device);
  /// The phone creates a group (as w:g2 create) with the named accounts; returns its id (digits).
  [[nodiscard]] Result<std::string> phone_create_group(std::string_view phone, std::string subject,
                                                       const std::vector<std::string>& participants);
  /// Drops every connection (the socket shell also refuses new ones for a while: a server restart).
  void drop_all();

  /// Delivers a stanza to a companion device: queued until acknowledged, sent now if it is connected.
  void deliver(Account& to, std::uint16_t device, wire::Node stanza);
  Account* account_by_jid(const Jid& jid);
  /// A message addressed to the account's phone (device 0): decrypted now, or kept until it is online.
  void phone_incoming(Account& owner, const Jid& from, const wire::Node& enc, const std::string& id);
  /// The phone goes offline (stops decrypting and confirming) or back online (processes what came meanwhile).
  [[nodiscard]] Status set_phone_online(std::string_view phone, bool online);
  /// The phone marks messages from another account as read or played: a receipt to the sender's companions.
  [[nodiscard]] Status phone_receipt(std::string_view phone, std::string_view from_phone,
                                     const std::vector<std::string>& ids, std::string_view type);
  /// Records that sender sent id; false when it already did (a resend is acked but not routed again).
  bool first_send(const std::string& sender, const std::string& id);
  /// The phone sends a text to another account (its companions) and to its own companions (as a
  /// deviceSentMessage), Signal-encrypted from device 0. Returns the message id.
  [[nodiscard]] Result<std::string> phone_send_text(std::string_view phone, std::string_view to, std::string_view text);
  /// What a phone sends through the control API: a text, or a file (uploaded to wasim's media store,
  /// encrypted as WhatsApp does) with its caption.
  struct PhoneContent {
    /// text, image, video, audio, document, sticker, location, contact, reaction, revoke, edit
    std::string kind = "text";
    std::string text;           ///< the text, the caption, the reaction's emoji ("" removes it) or an edit's new text
    std::string file;           ///< the file's bytes
    std::string mimetype, file_name;
    bool ptt = false;
    double latitude = 0, longitude = 0;
    std::string name, address;  ///< location: the place; contact: name = the display name
    std::string vcard;          ///< contact
    // reaction, revoke, edit: the message they are about (revoke and edit: the phone's own).
    std::string target_id;
    bool target_from_me = false;
    std::string target_participant;  ///< in a group, the target's author (digits) when not the phone
  };
  /// The phone sends content to a person (digits) or a group it is in (ID@g.us): to every companion of the
  /// recipient(s) and of its own account; in a group with a sender-key distribution then one skmsg.
  [[nodiscard]] Result<std::string> phone_send(std::string_view phone, std::string_view to, const PhoneContent& content);

  // --- presence and chatstate (ephemeral: sent to logged-in connections only, never queued) -----------
  /// An account's device announces available/unavailable: its subscribers' live devices are told.
  void set_presence(Account& a, std::string_view type);
  /// (phone, device) subscribes to target's presence; returns the current one to send back.
  void subscribe_presence(Account& target, const std::string& phone, std::uint16_t device);
  /// from's device (or its phone: device 0) types/records/pauses in the chat with `to`.
  [[nodiscard]] Status chatstate(Account& from, std::uint16_t from_device, const Jid& to, std::string_view state);
  /// Control API: the phone's own presence and chatstate.
  [[nodiscard]] Status phone_presence(std::string_view phone, std::string_view type);
  [[nodiscard]] Status phone_chatstate(std::string_view phone, std::string_view to, std::string_view state);
  wire::Node presence_node(const Account& a) const;

  // --- connections ---------------------------------------------------------------------------------
  void attach(Connection* c);
  void detach(Connection* c);
  /// c has logged in as (its account, its device): indexed for routing (connections_of).
  void bind(Connection* c);
  void register_ref(const std::string& ref, Connection* c);
  std::size_t connection_count() const noexcept { return connections_.size(); }
  std::vector<Connection*> connections_of(std::string_view phone, std::uint16_t device) const;

  // --- groups (protocol/README.md §7.5, §10) -----------------------------------------------------------
  Group* group(std::string_view id);
  Group& create_group(std::string subject, const std::string& creator);
  const std::map<std::string, Group>& groups() const noexcept { return groups_; }
  std::map<std::string, Group>& groups_mut() noexcept { return groups_; }
  /// <group ...> as the w:g2 answers carry it.
  wire::Node group_node(const Group& g) const;
  /// A w:gp2 notification (child: create, add, remove, promote, demote, leave, subject, ...) to every device of
  /// every member, and of `extra` phones (a removed member learns it was removed).
  void notify_group(const Group& g, const std::string& actor_phone, wire::Node child, const std::vector<std::string>& extra = {});
  /// The phone (device 0) of a member receives a group message: its own enc (a SKDM), then the skmsg.
  void phone_group_incoming(Account& owner, const Jid& group, const Jid& from, const wire::Node* own, const wire::Node* skmsg,
                            const std::string& id);

  // --- media (protocol/README.md §9) ---------------------------------------------------------------
  /// "host:port" the media_conn answer names; set by the server that serves /mms and /v.
  void set_media_host(std::string host) { media_host_ = std::move(host); }
  const std::string& media_host() const noexcept { return media_host_; }
  const std::string& media_auth() const noexcept { return media_auth_; }
  /// Stores an uploaded body under its token (base64url of SHA-256(body), '=' padding optional) after
  /// checking the hash; returns the direct path to download it from. Oldest blobs go beyond kMediaCapacity.
  [[nodiscard]] Result<std::string> media_put(std::string_view token, std::string body);
  /// The body stored under the token of a direct path (/v/t62.7118-24/<token>?...), or nullptr.
  const std::string* media_get(std::string_view direct_path) const;
  static constexpr std::size_t kMediaCapacity = std::size_t{512} << 20;

  // --- log -----------------------------------------------------------------------------------------
  void log(std::string connection, std::string text);
  const std::deque<LogEntry>& log_entries() const noexcept { return log_; }

  std::string next_id(std::string_view prefix);

 private:
  NetworkConfig cfg_;
  crypto::KeyPair root_;
  crypto::KeyPair intermediate_;
  crypto::KeyPair static_key_;
  Bytes chain_;
  std::map<std::string, std::unique_ptr<Account>> accounts_;
  std::vector<Connection*> connections_;
  // Logged-in connections by "phone:device", and accounts by LID: routing looks them up per message, so
  // they must not cost a scan of every connection or account (10,000 devices, docs/benchmarks.md).
  std::unordered_map<std::string, std::vector<Connection*>> bound_;
  std::unordered_map<std::string, Account*> by_lid_;
  std::unordered_map<std::string, Connection*> refs_;
  std::deque<LogEntry> log_;
  std::unordered_map<std::string, std::uint64_t> sent_ids_;  // sender device + id -> insertion order
  std::deque<std::string> sent_order_;
  std::uint64_t log_seq_ = 0;
  std::map<std::string, Group> groups_;
  std::string media_host_ = "127.0.0.1";
  std::string media_auth_;
  std::unordered_map<std::string, std::string> media_;  // token (unpadded) -> encrypted body
  std::deque<std::string> media_order_;
  std::size_t media_bytes_ = 0;
  std::uint64_t ids_ = 0;
};

}  // namespace wa::sim
