// SPDX-License-Identifier: MIT
// The service layer (docs/architecture.md row 4; docs/gateway.md): instances, each a WhatsApp number run
// by the engine; the durable per-instance send queue with Z-API's spacing; protocol events turned into
// Z-API webhook events in a durable outbox, delivered with retries, in order, signed, dead-lettered.
//
// Threading: every method runs on the executor given at construction (the gateway's io_context thread);
// engine events are posted onto it. Storage calls are synchronous SQLite calls on that thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "wa/core/result.hpp"
#include "wa/store/store.hpp"

namespace wa::service {

enum class errc {
  not_found = 1,      ///< no such instance, queued message or message
  invalid_argument,   ///< a value the caller sent is not acceptable; the context says which
  queue_full,         ///< the send queue is at its limit (1,000 while disconnected)
  already_connected,  ///< pairing asked while connected
  not_connected,      ///< needs a paired, connected number
  timeout,            ///< no answer from WhatsApp in time (QR, pairing code)
  storage,            ///< the database failed; nothing was accepted
  refused,            ///< WhatsApp refused the request (not an admin, not a member, ...); the context has its code
};
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

enum class Hook { delivery, received, message_status, connected, disconnected, presence };
inline constexpr std::size_t kHookCount = 6;

struct Options {
  std::string wa_url;
  std::array<std::uint8_t, 32> wa_root{};
  std::string wa_extra_ca_pem;          ///< trusted for wss besides the system roots
  unsigned engine_threads = 1;
  std::size_t connect_slots = 256;      ///< numbers connecting at once (protocol::Engine's connect gate)
  bool spacing = true;                  ///< Z-API spacing between sends (random 1-3 s, delayMessage); off for tests
  std::size_t queue_limit_disconnected = 1000;
  std::size_t queue_limit = 100000;     ///< per instance, connected or not
  bool webhook_allow_http = false;      ///< plain http:// webhook URLs (local use); https only otherwise
  std::string webhook_secret;           ///< HMAC-SHA256 key for the X-Zapd-Signature header; none when empty
  std::string webhook_extra_ca_pem;
  int webhook_max_attempts = 15;        ///< then the event goes to the dead letters
  std::chrono::milliseconds webhook_backoff_base{1000};
  std::chrono::milliseconds webhook_backoff_cap{600000};
  std::chrono::milliseconds webhook_timeout{10000};
  std::chrono::milliseconds pairing_wait{15000};  ///< how long qr-code/phone-code wait for WhatsApp
  std::chrono::hours message_retention{24 * 7};   ///< ids and statuses of messages (never their content)
  // Media (docs/api.md "Media").
  std::string media_dir;                 ///< received files go to <media_dir>/<instance>/; "" = not downloaded
  std::string public_url;                ///< base of the URLs received media are served at ("http://host:port")
  std::size_t media_max_bytes = std::size_t{64} << 20;  ///< a file to send or receive, at most
  std::chrono::hours media_retention{24 * 30};          ///< received files are deleted after this
  std::chrono::milliseconds media_timeout{120000};      ///< one download or upload
};

struct InstanceView {
  std::string id, token, name;
  std::int64_t created_ms = 0;
  std::array<std::string, kHookCount> hooks;
  bool notify_sent_by_me = false;
  bool connected = false;
  bool paired = false;  ///< has WhatsApp credentials (may be reconnecting)
  std::string phone;    ///< digits, when paired
  std::string lid;
  std::string push_name;
  std::string platform;
};

/// One send request, as the gateway validated it.
struct Send {
  enum class Kind { text, location, contact, reaction, remove_reaction, revoke, link, image, audio, video, document, sticker };
  Kind kind = Kind::text;
  std::string phone;                 ///< digits or "<digits>@lid"
  std::string message;               ///< text, or the reaction emoji
  std::string reply_to;              ///< messageId (a reply)
  std::string edit_id;               ///< editMessageId
  std::vector<std::string> mentioned;  ///< phone digits
  double latitude = 0, longitude = 0;
  std::string title, address;       ///< location; link: title
  std::string link_url, link_description;
  std::string contact_name, contact_phone;
  std::string target_id;             ///< reaction / revoke: the message it is about
  bool owner = true;                 ///< revoke: the message is ours
  int delay_message = -1;            ///< seconds 1-15, -1 = default spacing
  int delay_typing = 0;              ///< seconds 0-15
  // Media kinds: the file as an http(s) URL or a data: URI; message = the caption. Link: the preview image.
  std::string media;
  std::string file_name;             ///< document: the name shown
  std::string extension;             ///< document: the {extension} of the route
  bool view_once = false;
};

/// A group as the API shows it (phones are digits; the group id is "<digits>-group").
struct GroupView {
  std::string id, subject, owner, subject_owner, description;
  std::int64_t creation_ms = 0, subject_time_ms = 0;
  bool announce = false, locked = false;
  struct Member {
    std::string phone;
    bool admin = false, super_admin = false;
  };
  std::vector<Member> participants;
};

/// A group operation (the same kinds, in the same order, as protocol::GroupAction).
struct GroupRequest {
  enum class Kind { create, info, add, remove, promote, demote, subject, description, settings, invite_code, revoke_invite, leave, join };
  Kind kind = Kind::info;
  std::string group;                ///< "<digits>-group"
  std::string text;                 ///< create/subject: the name; description; join: the invite code
  std::vector<std::string> phones;  ///< participants
  std::string setting;              ///< announcement | not_announcement | locked | unlocked
};
struct GroupReply {
  GroupView view;                                             ///< create, info
  std::vector<std::pair<std::string, std::string>> results;  ///< phone -> "200" or an error code
  std::string code;                                           ///< the invite code; join: the group id
};
using GroupDone = std::function<void(Result<GroupReply>)>;

/// A received file zapd serves (GET /media/<instance>/<name>): where it is, not its bytes (the HTTP server
/// streams it from disk; a file may be 64 MB).
struct MediaFile {
  std::string path, mimetype;
};

struct SendIds {
  std::string zaap_id, message_id;
};

using SendDone = std::function<void(Result<SendIds>)>;

struct QueuedItem {
  std::string zaap_id, message_id, phone, message, kind;
  int delay_message = -1, delay_typing = 0;
  std::int64_t created_ms = 0;
};

struct QueuePage {
  std::vector<QueuedItem> items;
  std::string next;  ///< cursor for the next page; empty when there is none
};

struct DeadLetter {
  std::string event_id, hook, body, last_error;
  int attempts = 0;
};

class Service final {
 public:
  /// gw: instances, queues, outbox (zapd.db); keys: the engine's store (engine.db). Both must outlive the service.
  Service(boost::asio::any_io_executor ex, store::Store& gw, store::Store& keys, Options opt);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  /// Loads every instance, starts the paired ones, resumes queues and outboxes.
  [[nodiscard]] Status start();
  /// Stops every instance (their state stays in the store).
  void shutdown();
  /// Times the heap's free pages were given back to the OS (after numbers connected, and once a minute).
  std::uint64_t heap_trims() const;

  [[nodiscard]] Result<InstanceView> create_instance(std::string name, const std::array<std::string, kHookCount>& hooks);
  /// Every instance, oldest first, as views into the service's records: valid until the service changes
  /// (use them at once, on the service's thread). No copies: a list of 1,000 numbers is polled often.
  std::vector<const InstanceView*> instances() const;
  struct Counts {
    std::size_t total = 0, paired = 0, connected = 0;
    std::size_t offline_drained = 0;  ///< connected, and what came while they were away has been handled
  };
  /// How many instances there are, have WhatsApp credentials, are connected, and of those have had the
  /// server's end-of-offline marker: what a monitor polls, without the list (1,000 numbers are about 600 KB
  /// of JSON).
  Counts counts() const;
  /// The instance when token matches (constant time); nullopt for an unknown id or a wrong token alike.
  std::optional<InstanceView> authenticate(std::string_view id, std::string_view token) const;
  [[nodiscard]] Status delete_instance(const std::string& id);

  struct Pairing {
    bool connected = false;
    std::string value;  ///< the QR string or the pairing code
  };
  using PairingDone = std::function<void(Result<Pairing>)>;
  /// The current QR string (starting the instance when needed), or connected=true.
  void qr(const std::string& id, PairingDone done);
  /// A pairing code for phone (digits).
  void phone_code(const std::string& id, std::string phone, PairingDone done);
  [[nodiscard]] Status restart(const std::string& id);
  [[nodiscard]] Status disconnect(const std::string& id);

  /// Queues a message; done runs (on the service executor) once it is durable: in the queue, to be sent once
  /// under message_id. Requests that arrive together share one transaction (group commit).
  void send(const std::string& id, Send s, SendDone done);
  [[nodiscard]] Result<QueuePage> queue(const std::string& id, std::size_t page_size, const std::string& cursor) const;
  [[nodiscard]] Result<std::size_t> queue_count(const std::string& id) const;
  [[nodiscard]] Status queue_clear(const std::string& id);
  [[nodiscard]] Status queue_remove(const std::string& id, const std::string& zaap_id);

  /// url "" clears. Checked: http(s) URL, https unless allowed.
  [[nodiscard]] Status set_hook(const std::string& id, Hook h, const std::string& url);
  [[nodiscard]] Status set_notify_sent_by_me(const std::string& id, bool on);
  [[nodiscard]] Result<std::vector<DeadLetter>> dead_letters(const std::string& id) const;
  /// Moves every dead letter back to the outbox; returns how many.
  [[nodiscard]] Result<std::size_t> replay_dead_letters(const std::string& id);

  /// A group operation on WhatsApp; done runs on the service executor. not_connected when the number is not;
  /// invalid_argument when WhatsApp refused (the context says why); timeout when it did not answer.
  void group(const std::string& id, GroupRequest r, GroupDone done);
  /// The base of received media URLs, once the listen port is known.
  void set_public_url(std::string url);
  /// A received file by instance and name ("<32 hex>.<ext>"); not_found for anything else.
  [[nodiscard]] Result<MediaFile> media_file(const std::string& instance, const std::string& name) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace wa::service

template <>
struct std::is_error_code_enum<wa::service::errc> : std::true_type {};
