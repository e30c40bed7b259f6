// SPDX-License-Identifier: MIT
// The engine: many WhatsApp companion devices in one process (protocol/README.md §1-§6). Each device is a
// client on its own strand of a shared io_context; storage and the heavy key work (prekey generation,
// pairing-code PBKDF2) run on one database executor, so no I/O thread ever waits on SQLite.
// A client connects, registers (QR or phone code) or logs in, keeps prekeys stocked, pings, and reconnects
// with capped exponential backoff and jitter; what happens is reported as Events.
// No Asio in this header: the io_context and threads are the engine's.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "wa/crypto/curve.hpp"
#include "wa/protocol/auth.hpp"
#include "wa/protocol/message.hpp"
#include "wa/store/store.hpp"

namespace wa::protocol {

struct ClientConfig {
  std::string url = "wss://web.whatsapp.com/ws/chat";  ///< ws:// or wss://host[:port][/path]
  crypto::PublicKey trusted_root{};                     ///< Noise certificate root; all zero = WhatsApp's
  std::string extra_ca_pem;                             ///< also trusted for wss (tests: wasim's certificate)
  ClientVersion version;
  std::string origin = "https://web.whatsapp.com";
  std::chrono::milliseconds connect_timeout{20000};     ///< TCP + TLS + websocket + Noise
  std::chrono::milliseconds iq_timeout{30000};
  std::chrono::milliseconds keepalive_interval{25000};  ///< a ping after this much time
  std::chrono::milliseconds keepalive_timeout{10000};   ///< no answer within this: the socket is dead
  std::chrono::milliseconds backoff_base{1000};         ///< first reconnect delay (doubling, with jitter)
  std::chrono::milliseconds backoff_cap{60000};
  std::chrono::milliseconds qr_first{60000};            ///< how long the first QR ref is shown
  std::chrono::milliseconds qr_next{20000};             ///< each later one
  std::chrono::seconds signed_prekey_lifetime{kSignedPreKeyLifetime};  ///< rotated at login when older
  bool operator==(const ClientConfig&) const = default;
};

enum class EventKind {
  qr,              ///< text: the QR string to show (rotates; a new event per ref)
  pair_code,       ///< text: the 8-character code to type on the phone
  paired,          ///< text: our device JID; lid
  connected,       ///< logged in; text: JID, lid
  disconnected,    ///< text: why; code: stream error / failure code when there was one
  logged_out,      ///< the device was unlinked: credentials wiped, the client stopped
  replaced,        ///< another connection took over: the client stopped
  prekeys_uploaded,  ///< count: how many
  signed_prekey_rotated,
  error,           ///< something failed that the client survives; text: what
  message,         ///< an inbound message, persisted before it was acknowledged: id, from, chat, type (content kind), text, timestamp, from_me, inbox_key
  sent,            ///< the server accepted our message: id, chat
  send_failed,     ///< a message that cannot be sent: id, chat, text = why
  receipt,         ///< id, ids (all ids), from, chat, type: delivery, read, played, sender, ...
  presence,        ///< from (user JID), type: available | unavailable; timestamp: last seen when known
  chatstate,       ///< from (user JID), chat, type: composing | recording | paused
  group,           ///< a group changed (w:gp2): chat = the group, type = create | add | remove | promote | demote |
                   ///< leave | subject | description | announcement | ..., from = who did it, ids = the participants,
                   ///< text = the subject (create, subject)
  offline_drained,  ///< the server's end-of-offline marker (<ib><offline count>): what arrived while this device
                    ///< was away has been handled, in order, before this event; count: how many stanzas it said
};
std::string_view to_string(EventKind k) noexcept;

struct Event {
  EventKind kind = EventKind::error;
  std::string text;
  std::string lid;
  int code = 0;
  std::size_t count = 0;
  // Messages and receipts.
  std::string id;
  std::vector<std::string> ids;
  std::string from;       ///< sending device JID
  std::string chat;       ///< the conversation (user JID of the peer)
  std::string type;       ///< message: content kind ("text", "imageMessage", ...); receipt: its type
  std::string push_name;
  std::uint64_t timestamp = 0;
  bool from_me = false;
  std::string inbox_key;  ///< message: pass to Engine::inbox_done once the event is safely taken
  std::vector<std::pair<std::string, std::string>> fields;  ///< message: content details (protocol::Inbound::fields)
};
/// Called on the client's strand: quick, and never calls back into the engine synchronously... except
/// through the Engine's thread-safe methods, which only post.
using EventSink = std::function<void(const std::string& device_id, const Event&)>;

class Engine final {
 public:
  /// store must outlive the engine. io_threads run the sockets; one more thread is the database executor.
  /// connect_slots: how many clients may be connecting (TCP, TLS, websocket, Noise) at once; the others wait
  /// their turn. A restart starts every number together; each handshake holds buffers until it completes.
  static constexpr std::size_t kDefaultConnectSlots = 256;
  /// With more slots than this, the number connecting at once adapts between this and connect_slots
  /// (src/connect_gate.hpp): this many when connecting is bound by the CPU, up to connect_slots when by round
  /// trips (a distant server).
  static constexpr std::size_t kConnectFloor = 16;
  Engine(store::Store& store, unsigned io_threads = 1, std::size_t connect_slots = kDefaultConnectSlots);
  ~Engine();  ///< stops every client and joins the threads
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Starts a client for device_id (created in the store if new: then it registers and shows QR codes).
  void start(const std::string& device_id, ClientConfig cfg, EventSink sink);
  /// Asks for a pairing code for phone (digits) instead of QR codes; the code comes as a pair_code event.
  void pair_phone(const std::string& device_id, std::string phone);
  /// Unlinks the device (the server is told when connected), wipes its credentials and keys, emits logged_out
  /// and stops the client. A later start registers anew.
  void logout(const std::string& device_id);
  /// Stops the client (its credentials stay).
  void stop(const std::string& device_id);
  /// Queues a text to `to` (phone digits or a user JID) with the caller's message id, kept through retries.
  /// Sent in order once logged in; the outcome comes as a `sent` or `send_failed` event.
  void send_text(const std::string& device_id, std::string to, std::string text, std::string message_id);
  /// Queues any content of message.hpp's Outbound (reply, mention, location, contact, reaction, edit, revoke)
  /// like send_text.
  void send_message(const std::string& device_id, std::string to, const Outbound& content, std::string message_id);
  /// A group operation (create, metadata, participants, subject, description, settings, invite, leave, join);
  /// done runs on an engine thread. Messages to a group go by send_message/send_text with the group JID.
  void group(const std::string& device_id, GroupAction action, std::function<void(Result<GroupOutcome>)> done);
  /// The media hosts and upload auth (protocol/README.md §9), from a cache or an iq; done runs on an engine
  /// thread, with an error when the client is not logged in.
  void media_conn(const std::string& device_id, std::function<void(Result<MediaConn>)> done);
  /// Sends a read or played receipt for messages of chat.
  void send_receipt(const std::string& device_id, std::string chat, std::string from, std::vector<std::string> ids,
                    std::string type);
  /// The consumer has durably taken the inbound message: its stored copy is deleted. Until then it is
  /// emitted again at every start of the client.
  void inbox_done(const std::string& device_id, std::string inbox_key);
  /// Our presence: "available" or "unavailable" (with the push name when we have one).
  void send_presence(const std::string& device_id, std::string type);
  /// Asks for jid's presence: a `presence` event now and at every change.
  void subscribe_presence(const std::string& device_id, std::string jid);
  /// Typing state in the chat with `to`: "composing", "recording" or "paused".
  void send_chatstate(const std::string& device_id, std::string to, std::string state);
  /// Stops every client; returns when all have wound down (sockets closed, queued turns given up), or after
  /// 5 s: how many had not by then (0 unless something is stuck).
  std::size_t shutdown();
  std::size_t client_count() const;
  /// How many TLS client contexts exist: one per distinct extra_ca_pem, shared by every client (tests).
  std::size_t tls_contexts() const;
  /// Distinct client configurations held (clients with equal ones share a copy).
  std::size_t config_copies() const;
  /// Clients showing QR codes now (a pairing in progress each; none once paired or disconnected).
  int qr_loops() const;
  /// The most clients that were connecting at once (never above connect_slots; tests).
  std::size_t connect_peak() const;
  /// Connected clients idle in their socket's wait, holding no coroutine (tests).
  int parked_connections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace wa::protocol
