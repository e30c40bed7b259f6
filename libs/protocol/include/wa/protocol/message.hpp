// SPDX-License-Identifier: MIT
// Pure pieces of sending and receiving (protocol/README.md §7-§8): message ids, padding, the E2E
// Message for a text and its own-device copy, reading a decrypted Message, usync device lists and
// prekey bundles. No I/O.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "wa/core/bytes.hpp"
#include "wa/core/jid.hpp"
#include "wa/core/result.hpp"
#include "wa/signal/protocol.hpp"
#include "wa/wire/node.hpp"

namespace wa::protocol {

/// "3EB0" + 18 uppercase hex digits (22 characters), the form WhatsApp Web uses. The digits are the time in
/// milliseconds, then a part that starts at random each millisecond: every id is greater than the one the
/// process made before it, so the ids of a burst of accepts are neighbours in the gateway's message index
/// (store.hpp, key_first()).
std::string new_message_id();

/// A chat partner as callers name it: phone digits ("5511999990000") or a JID; a user JID comes back
/// (any device part dropped). Errors for anything else.
[[nodiscard]] Result<Jid> parse_recipient(std::string_view to);

/// WhatsApp padding: 1..15 bytes, each equal to the count.
Bytes pad(ByteView plain);
/// The padding removed; nullopt when the last byte is 0 or larger than the input.
std::optional<ByteView> unpad(ByteView padded);

/// Message{extendedTextMessage{text}} bytes (what WhatsApp Web sends for a text).
Bytes text_message(std::string_view text);

/// A message to send, by content kind. Which fields count depends on kind:
///  text:     text; quoted_id + quoted_participant (a reply), mentions (user JIDs); link_url (+ link_title,
///            link_description, link_thumbnail: a JPEG): a link preview
///  location: latitude, longitude, name, address
///  contact:  display_name, vcard
///  reaction: target (the message reacted to), text = the emoji ("" removes the reaction)
///  edit:     target (our own earlier text), text = the new text
///  revoke:   target (the message to delete for everyone)
///  media:    media (an uploaded file: image, video, audio, document or sticker), text = the caption;
///            quoted_id + quoted_participant (a reply)
struct Outbound {
  enum class Kind { text, location, contact, reaction, edit, revoke, media };
  /// A file already encrypted and uploaded (crypto/media.hpp, the media_conn hosts).
  struct Media {
    std::string type = "image";  ///< image, video, audio, document, sticker
    std::string url, direct_path, mimetype, file_name;
    Bytes media_key, file_sha256, file_enc_sha256, jpeg_thumbnail;
    std::uint64_t file_length = 0;
    std::uint32_t width = 0, height = 0, seconds = 0;
    bool ptt = false, view_once = false;
    std::int64_t key_timestamp = 0;  ///< unix seconds
  };
  struct Target {
    std::string chat;         ///< the conversation's JID
    std::string id;
    bool from_me = true;
    std::string participant;  ///< group messages from others: the author's JID
  };
  Kind kind = Kind::text;
  std::string text;
  std::string quoted_id, quoted_participant;
  std::vector<std::string> mentions;
  std::string link_url, link_title, link_description;
  Bytes link_thumbnail;
  double latitude = 0, longitude = 0;
  std::string name, address;
  std::string display_name, vcard;
  Target target;
  Media media;
};
/// The Message bytes for o.
Bytes build_message(const Outbound& o);
/// The <message type> attribute WhatsApp uses for it: "reaction", "media" or "text".
std::string_view stanza_type(const Outbound& o);
/// The <enc mediatype> attribute for media ("image", "ptt", "document", ...); "" otherwise.
std::string_view enc_media_type(const Outbound& o);
/// The <message edit> attribute: "1" for an edit, "7" for a revoke by its sender, "" for none.
std::string_view edit_attribute(const Outbound& o);
/// Message{deviceSentMessage{destinationJid, message}}: the copy for our own other devices.
Bytes device_sent_message(std::string_view destination_jid, ByteView message);

/// What a decrypted Message says.
struct Inbound {
  /// text, image, video, audio, document, sticker, location, contact, contacts, reaction, revoke, edit;
  /// any other content by its Message field name ("pollCreationMessage", ...); "unknown" when it does not parse.
  std::string kind;
  std::string text;          ///< text, caption, or an edit's new text
  /// Content details by name: quoted_id, quoted_participant, mentions (comma-separated JIDs), caption,
  /// mimetype, file_name, ptt, latitude, longitude, name, address, display_name, vcard, count,
  /// target_id, target_from_me, emoji; media: url, direct_path, media_key, file_sha256, file_enc_sha256
  /// (the byte fields in standard base64), file_length, width, height, seconds, view_once.
  std::vector<std::pair<std::string, std::string>> fields;
  std::string destination;   ///< deviceSentMessage: the chat our other device wrote to
  bool device_sent = false;
  bool protocol = false;     ///< protocolMessage (app-state key share, revoke, ...): not a user-visible message by itself
  Bytes message;             ///< the Message bytes (the inner one for deviceSentMessage)
  /// A senderKeyDistributionMessage riding along (group messages): the SKDM bytes and its group; a message
  /// that carries nothing else has an empty kind.
  Bytes sender_key_distribution;
  std::string sender_key_group;
};
Inbound parse_message(ByteView message);

/// Message{senderKeyDistributionMessage{groupId, axolotlSenderKeyDistributionMessage}}: what every member
/// device gets (1:1 encrypted) before it can read our skmsg in the group.
Bytes sender_key_distribution_message(std::string_view group_jid, ByteView skdm);

// ---- groups (protocol/README.md §10) ----------------------------------------------------------------------
struct GroupInfo {
  std::string jid;  ///< ID@g.us
  std::string subject, subject_owner, creator, description;
  std::uint64_t subject_time = 0, creation = 0;
  bool announce = false, locked = false;
  struct Member {
    std::string jid;
    std::string role;  ///< "", "admin", "superadmin"
  };
  std::vector<Member> members;
};
/// <group ...> of a w:g2 answer or notification.
[[nodiscard]] Result<GroupInfo> parse_group(const wire::Node& group);

/// One group operation (Engine::group).
struct GroupAction {
  enum class Kind { create, info, add, remove, promote, demote, subject, description, settings, invite_code, revoke_invite, leave, join };
  Kind kind = Kind::info;
  std::string group;                      ///< ID@g.us (not for create and join)
  std::string text;                       ///< create/subject: the subject; description; join: the invite code
  std::vector<std::string> participants;  ///< user JIDs (create, add, remove, promote, demote)
  std::string setting;                    ///< settings: announcement | not_announcement | locked | unlocked
};
struct GroupOutcome {
  GroupInfo info;                                             ///< create, info
  std::vector<std::pair<std::string, std::string>> results;  ///< add/remove/promote/demote: JID -> "200" or the error code
  std::string code;                                           ///< invite_code, revoke_invite: the code; join: the group JID
};
/// The w:g2 iq for an action.
wire::Node group_iq(const GroupAction& a);
[[nodiscard]] Result<GroupOutcome> parse_group_outcome(const GroupAction& a, const wire::Node& iq_result);

/// Where and how to upload and download media (protocol/README.md §9).
struct MediaConn {
  std::string auth;
  std::vector<std::string> hosts;  ///< hostname[:port]
  std::uint32_t ttl_seconds = 0;
};
/// <iq xmlns="w:m" type="set"><media_conn/></iq>.
wire::Node media_conn_iq();
[[nodiscard]] Result<MediaConn> parse_media_conn(const wire::Node& iq_result);

/// <iq xmlns="usync"> asking the device lists of users (user JIDs, no device).
wire::Node usync_devices_iq(const std::vector<Jid>& users);
/// user (digits) -> devices from a usync result: device 0, and other devices only with a key-index.
[[nodiscard]] Result<std::map<std::string, std::vector<std::uint16_t>>> parse_usync_devices(const wire::Node& iq_result);
/// <iq xmlns="encrypt" type="get"><key><user jid/>…</key></iq>.
wire::Node prekey_fetch_iq(const std::vector<Jid>& devices);
/// The bundles of an encrypt/key result, by the JID each <user> names.
[[nodiscard]] Result<std::vector<std::pair<Jid, signal::PreKeyBundle>>> parse_bundles(const wire::Node& iq_result);

}  // namespace wa::protocol
