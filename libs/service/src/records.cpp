// SPDX-License-Identifier: MIT
#include "records.hpp"

#include <nlohmann/json.hpp>

#include "zapd.pb.h"

namespace wa::service::records {
namespace {

using nlohmann::json;

std::optional<json> parse_legacy(std::string_view bytes) {
  json j = json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

// A JSON value of the expected type, else the default (what nlohmann's value() would throw on).
template <class T>
T field(const json& j, const char* name, T def) {
  auto it = j.find(name);
  if (it == j.end()) return def;
  if constexpr (std::is_same_v<T, bool>) {
    return it->is_boolean() ? it->get<bool>() : def;
  } else if constexpr (std::is_same_v<T, std::string>) {
    return it->is_string() ? it->get<std::string>() : def;
  } else if constexpr (std::is_same_v<T, double>) {
    return it->is_number() ? it->get<double>() : def;
  } else {
    return it->is_number_integer() ? it->get<T>() : def;
  }
}

// A kind this zapd does not know (a record from a later version) makes the record unreadable, not a text.
bool known_kind(std::int64_t k) { return k >= 0 && k <= kLastSendKind; }

std::optional<Send> send_of_json(const json& j) {
  Send s;
  if (!j.is_object()) return std::nullopt;
  const auto kind = field<std::int64_t>(j, "kind", 0);
  if (!known_kind(kind)) return std::nullopt;
  s.kind = static_cast<Send::Kind>(kind);
  s.phone = field<std::string>(j, "phone", "");
  s.message = field<std::string>(j, "message", "");
  s.reply_to = field<std::string>(j, "reply_to", "");
  s.edit_id = field<std::string>(j, "edit_id", "");
  if (auto m = j.find("mentioned"); m != j.end() && m->is_array()) {
    for (const auto& v : *m) {
      if (v.is_string()) s.mentioned.push_back(v.get<std::string>());
    }
  }
  s.latitude = field<double>(j, "lat", 0.0);
  s.longitude = field<double>(j, "lng", 0.0);
  s.title = field<std::string>(j, "title", "");
  s.address = field<std::string>(j, "address", "");
  s.link_url = field<std::string>(j, "link_url", "");
  s.link_description = field<std::string>(j, "link_description", "");
  s.contact_name = field<std::string>(j, "contact_name", "");
  s.contact_phone = field<std::string>(j, "contact_phone", "");
  s.target_id = field<std::string>(j, "target_id", "");
  s.owner = field<bool>(j, "owner", true);
  s.delay_message = static_cast<int>(field<std::int64_t>(j, "delay_message", -1));
  s.delay_typing = static_cast<int>(field<std::int64_t>(j, "delay_typing", 0));
  s.media = field<std::string>(j, "media", "");
  s.file_name = field<std::string>(j, "file_name", "");
  s.extension = field<std::string>(j, "extension", "");
  s.view_once = field<bool>(j, "view_once", false);
  return s;
}

// Only what differs from the default is set: a text message's record holds its kind, phone and text.
void put_send(const Send& s, zapd::pb::Send& p) {
  if (s.kind != Send::Kind::text) p.set_kind(static_cast<std::int32_t>(s.kind));
  if (!s.phone.empty()) p.set_phone(s.phone);
  if (!s.message.empty()) p.set_message(s.message);
  if (!s.reply_to.empty()) p.set_reply_to(s.reply_to);
  if (!s.edit_id.empty()) p.set_edit_id(s.edit_id);
  for (const auto& m : s.mentioned) p.add_mentioned(m);
  if (s.latitude != 0.0) p.set_latitude(s.latitude);
  if (s.longitude != 0.0) p.set_longitude(s.longitude);
  if (!s.title.empty()) p.set_title(s.title);
  if (!s.address.empty()) p.set_address(s.address);
  if (!s.link_url.empty()) p.set_link_url(s.link_url);
  if (!s.link_description.empty()) p.set_link_description(s.link_description);
  if (!s.contact_name.empty()) p.set_contact_name(s.contact_name);
  if (!s.contact_phone.empty()) p.set_contact_phone(s.contact_phone);
  if (!s.target_id.empty()) p.set_target_id(s.target_id);
  if (!s.owner) p.set_owner(false);
  if (s.delay_message != -1) p.set_delay_message(s.delay_message);
  if (s.delay_typing != 0) p.set_delay_typing(s.delay_typing);
  if (!s.media.empty()) p.set_media(s.media);
  if (!s.file_name.empty()) p.set_file_name(s.file_name);
  if (!s.extension.empty()) p.set_extension(s.extension);
  if (s.view_once) p.set_view_once(true);
}

std::optional<Send> send_of(const zapd::pb::Send& p) {
  if (!known_kind(p.kind())) return std::nullopt;
  Send s;
  s.kind = static_cast<Send::Kind>(p.kind());
  s.phone = p.phone();
  s.message = p.message();
  s.reply_to = p.reply_to();
  s.edit_id = p.edit_id();
  s.mentioned.assign(p.mentioned().begin(), p.mentioned().end());
  s.latitude = p.latitude();
  s.longitude = p.longitude();
  s.title = p.title();
  s.address = p.address();
  s.link_url = p.link_url();
  s.link_description = p.link_description();
  s.contact_name = p.contact_name();
  s.contact_phone = p.contact_phone();
  s.target_id = p.target_id();
  s.owner = p.owner();
  s.delay_message = p.delay_message();
  s.delay_typing = p.delay_typing();
  s.media = p.media();
  s.file_name = p.file_name();
  s.extension = p.extension();
  s.view_once = p.view_once();
  return s;
}

template <class Message>
std::string with_version(const Message& m) {
  std::string out(1, kRecordV1);
  m.AppendToString(&out);
  return out;
}

template <class Message>
bool parse_v1(std::string_view bytes, Message& m) {
  if (bytes.empty() || bytes[0] != kRecordV1) return false;
  bytes.remove_prefix(1);
  return bytes.size() <= static_cast<std::size_t>(INT32_MAX) && m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

}  // namespace

std::string encode(const QueueRecord& r) {
  zapd::pb::QueueRecord p;
  if (!r.zaap.empty()) p.set_zaap(r.zaap);
  if (!r.mid.empty()) p.set_mid(r.mid);
  if (r.created != 0) p.set_created(r.created);
  if (r.indexed != 0) p.set_indexed(r.indexed);
  put_send(r.send, *p.mutable_send());
  return with_version(p);
}

std::optional<QueueRecord> decode_queue_record(std::string_view bytes) {
  QueueRecord r;
  if (!bytes.empty() && bytes[0] == '{') {
    auto j = parse_legacy(bytes);
    if (!j) return std::nullopt;
    r.zaap = field<std::string>(*j, "zaap", "");
    r.mid = field<std::string>(*j, "mid", "");
    r.created = field<std::int64_t>(*j, "created", 0);
    r.indexed = field<std::int64_t>(*j, "indexed", 0);
    auto s = j->find("send");
    if (s == j->end()) return std::nullopt;
    auto send = send_of_json(*s);
    if (!send) return std::nullopt;
    r.send = std::move(*send);
    return r;
  }
  zapd::pb::QueueRecord p;
  if (!parse_v1(bytes, p)) return std::nullopt;
  r.zaap = p.zaap();
  r.mid = p.mid();
  r.created = p.created();
  r.indexed = p.indexed();
  if (!p.has_send()) return std::nullopt;
  auto send = send_of(p.send());
  if (!send) return std::nullopt;
  r.send = std::move(*send);
  return r;
}

std::string encode(const EventRecord& e) {
  zapd::pb::EventRecord p;
  if (!e.id.empty()) p.set_id(e.id);
  if (e.hook != 0) p.set_hook(e.hook);
  if (!e.body.empty()) p.set_body(e.body);
  if (e.attempts != 0) p.set_attempts(e.attempts);
  if (!e.error.empty()) p.set_error(e.error);
  return with_version(p);
}

std::optional<EventRecord> decode_event_record(std::string_view bytes) {
  EventRecord e;
  if (!bytes.empty() && bytes[0] == '{') {
    auto j = parse_legacy(bytes);
    if (!j) return std::nullopt;
    e.id = field<std::string>(*j, "id", "");
    e.hook = static_cast<int>(field<std::int64_t>(*j, "hook", 0));
    e.body = field<std::string>(*j, "body", "");
    e.attempts = static_cast<int>(field<std::int64_t>(*j, "attempts", 0));
    e.error = field<std::string>(*j, "error", "");
    return e;
  }
  zapd::pb::EventRecord p;
  if (!parse_v1(bytes, p)) return std::nullopt;
  e.id = p.id();
  e.hook = p.hook();
  e.body = p.body();
  e.attempts = p.attempts();
  e.error = p.error();
  return e;
}

}  // namespace wa::service::records
