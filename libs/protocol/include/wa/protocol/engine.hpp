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

#include "wa/crypto/curve.hpp"
#include "wa/protocol/auth.hpp"
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
};
std::string_view to_string(EventKind k) noexcept;

struct Event {
  EventKind kind = EventKind::error;
  std::string text;
  std::string lid;
  int code = 0;
  std::size_t count = 0;
};
/// Called on the client's strand: quick, and never calls back into the engine synchronously... except
/// through the Engine's thread-safe methods, which only post.
using EventSink = std::function<void(const std::string& device_id, const Event&)>;

class Engine final {
 public:
  /// store must outlive the engine. io_threads run the sockets; one more thread is the database executor.
  Engine(store::Store& store, unsigned io_threads = 1);
  ~Engine();  ///< stops every client and joins the threads
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Starts a client for device_id (created in the store if new: then it registers and shows QR codes).
  void start(const std::string& device_id, ClientConfig cfg, EventSink sink);
  /// Asks for a pairing code for phone (digits) instead of QR codes; the code comes as a pair_code event.
  void pair_phone(const std::string& device_id, std::string phone);
  /// Stops the client (its credentials stay).
  void stop(const std::string& device_id);
  /// Stops every client; returns when all sockets are closed.
  void shutdown();
  std::size_t client_count() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace wa::protocol
