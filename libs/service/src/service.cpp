// SPDX-License-Identifier: MIT
// The service: instances over the engine, the durable send queue and the durable webhook outbox.
// Everything here runs on one executor (the gateway's thread); the engine posts its events onto it.
// Records are JSON in the gateway store's key-value tables; queue and outbox keys are zero-padded
// sequence numbers, so key order is arrival order.
#include "wa/service/service.hpp"

#include "wa/core/bytes.hpp"
#include "wa/core/fifo.hpp"
#include "wa/core/jid.hpp"
#include "heap_trim.hpp"
#include "records.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/crypto/media.hpp"
#include "wa/service/media.hpp"
#include "wa/protocol/engine.hpp"
#include "wa/protocol/message.hpp"
#include "wa/webhook/poster.hpp"
#include "wa/webhook/url.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <system_error>
#include <unordered_map>

namespace wa::service {

namespace net = boost::asio;
using nlohmann::json;
using store::Table;
using namespace std::chrono_literals;

namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "wa.service"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::not_found: return "not found";
      case errc::invalid_argument: return "invalid argument";
      case errc::queue_full: return "queue full";
      case errc::already_connected: return "already connected";
      case errc::not_connected: return "not connected";
      case errc::timeout: return "timeout";
      case errc::storage: return "storage failure";
      case errc::refused: return "refused by WhatsApp";
    }
    return "unknown service error";
  }
};

constexpr std::array<const char*, kHookCount> kHookNames = {"delivery", "received", "message_status",
                                                             "connected", "disconnected", "presence"};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string random_hex(std::size_t bytes) { return to_hex(crypto::random_bytes(bytes)); }

std::string seq_key(std::uint64_t n) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(n));
  return buf;
}

// The number a seq_key() holds; 0 for a key that is not one.
std::uint64_t seq_of(const std::string& key) {
  std::uint64_t n = 0;
  const char* end = key.data() + key.size();
  const auto [at, ec] = std::from_chars(key.data(), end, n);
  return ec == std::errc() && at == end ? n : 0;
}

ByteView as_bytes(const std::string& s) { return ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }
std::string as_string(const Bytes& b) { return std::string(b.begin(), b.end()); }

detail::Unexpected storage_error(const Error& e) { return fail(errc::storage, e.context()); }

// "5511999990000@s.whatsapp.net" -> "5511999990000"; a group "1203...@g.us" -> "1203...-group" (Z-API's
// form); a LID keeps its server ("123@lid").
std::string phone_of(std::string_view jid) {
  auto j = Jid::parse(jid);
  if (!j) return std::string(jid);
  if (j->server() == Server::user) return j->user();
  if (j->server() == Server::group) return j->user() + "-group";
  return j->to_user().to_string();
}

std::string recipient_jid(const std::string& phone) {
  if (phone.find('@') != std::string::npos) return phone;
  if (phone.size() > 6 && phone.ends_with("-group")) return phone.substr(0, phone.size() - 6) + "@g.us";
  return phone + "@s.whatsapp.net";
}

bool is_group_jid(std::string_view jid) { return jid.ends_with("@g.us"); }

const char* kind_name(Send::Kind k) {
  switch (k) {
    case Send::Kind::text: return "text";
    case Send::Kind::location: return "location";
    case Send::Kind::contact: return "contact";
    case Send::Kind::reaction: return "reaction";
    case Send::Kind::remove_reaction: return "remove-reaction";
    case Send::Kind::revoke: return "delete";
    case Send::Kind::link: return "link";
    case Send::Kind::image: return "image";
    case Send::Kind::audio: return "audio";
    case Send::Kind::video: return "video";
    case Send::Kind::document: return "document";
    case Send::Kind::sticker: return "sticker";
  }
  return "text";
}

bool is_media(Send::Kind k) {
  return k == Send::Kind::image || k == Send::Kind::audio || k == Send::Kind::video || k == Send::Kind::document ||
         k == Send::Kind::sticker;
}
bool is_media_type(std::string_view t) {
  return t == "image" || t == "video" || t == "audio" || t == "document" || t == "sticker";
}

crypto::MediaType crypto_type(std::string_view t) {
  if (t == "video") return crypto::MediaType::video;
  if (t == "audio") return crypto::MediaType::audio;
  if (t == "document") return crypto::MediaType::document;
  if (t == "sticker") return crypto::MediaType::sticker;
  return crypto::MediaType::image;
}

// Baileys' MEDIA_PATH_MAP (protocol/README.md §9).
std::string_view upload_path(std::string_view t) {
  if (t == "video") return "/mms/video";
  if (t == "audio") return "/mms/audio";
  if (t == "document") return "/mms/document";
  return "/mms/image";
}

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

ByteView bytes_of(std::string_view s) { return ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }

// The length of an Ogg Opus stream in seconds: the last page's granule position at 48 kHz.
std::uint32_t ogg_opus_seconds(std::string_view b) {
  const auto at = b.rfind("OggS");
  if (at == std::string_view::npos || at + 14 > b.size()) return 0;
  std::uint64_t granule = 0;
  for (int i = 7; i >= 0; --i) granule = (granule << 8) | static_cast<unsigned char>(b[at + 6 + static_cast<std::size_t>(i)]);
  if (granule == ~std::uint64_t{0}) return 0;
  return static_cast<std::uint32_t>((granule + 47999) / 48000);
}

}  // namespace

const std::error_category& category() noexcept {
  static const Category c;
  return c;
}

struct Service::Impl {
  struct Waiter {
    std::shared_ptr<net::steady_timer> timer;
    PairingDone done;
    bool code = false;  // waiting for a pairing code rather than a QR
  };

  // A webhook event in the outbox, stored as records.hpp's EventRecord (id, hook, body, attempts, error).
  using Event = records::EventRecord;
  struct Outgoing {
    std::string key;
    std::optional<Event> event;  // nullopt: read it from the store when it reaches the head
  };
  static constexpr std::size_t kCachedEvents = 8;  // per instance

  struct Inst {
    InstanceView view;
    bool running = false;
    // The server's end-of-offline marker came on the current connection: what arrived while the number was
    // away has been handled (GET /instances/summary counts these).
    bool offline_drained = false;
    std::string qr, code;
    std::vector<Waiter> waiters;
    // Send queue.
    Fifo<std::string> queue;  // keys, in order
    std::string inflight_key, inflight_id;
    // The head in flight as read from the store once, for on_sent (its content goes when it is sent).
    // On the heap: a Send is about 580 bytes and only a number with a message in flight needs one.
    std::unique_ptr<Send> inflight_send;
    std::string inflight_zaap;
    std::int64_t inflight_indexed = 0;  // when the accept wrote its index entry (unix ms); 0: it did not
    void clear_inflight() {
      inflight_key.clear();
      inflight_id.clear();
      inflight_send.reset();
      inflight_zaap.clear();
      inflight_indexed = 0;
    }
    bool typing_shown = false;
    int prepare_failures = 0;  // in a row, for the message at the head (media: fetch, upload)
    std::size_t pending_sends = 0;  // accepted, waiting for the batch commit
    // Inbound messages in order per chat: while a received file downloads, that chat's later messages wait
    // behind it; other chats go on. Only chats with a download under way have an entry (its head).
    std::map<std::string, Fifo<protocol::Event>> inbound;
    std::chrono::steady_clock::time_point next_send_at{};
    std::unique_ptr<net::steady_timer> send_timer;  // only while armed: an idle number holds no timers
    // Outbox: keys in order; the first few records are kept parsed, so a healthy webhook costs no store reads.
    Fifo<Outgoing> outbox;
    std::uint64_t next_dead_seq = 1;
    bool delivering = false;
    std::unique_ptr<net::steady_timer> retry_timer;  // only while a webhook waits for its retry
  };

  Impl(net::any_io_executor e, store::Store& g, store::Store& k, Options o)
      : ex(std::move(e)), gw(g), keys(k), opt(std::move(o)), engine(k, opt.engine_threads, opt.connect_slots),
        poster(ex, webhook::PosterConfig{opt.webhook_timeout, opt.webhook_extra_ca_pem}),
        media_http(ex, webhook::PosterConfig{opt.media_timeout, opt.wa_extra_ca_pem}), rng(std::random_device{}()) {}

  net::any_io_executor ex;
  store::Store& gw;
  store::Store& keys;
  Options opt;
  protocol::Engine engine;
  webhook::Poster poster;
  webhook::Poster media_http;  // media sources, uploads and downloads (trusts the WhatsApp side's extra CA)
  std::map<std::string, Inst> insts;
  std::mt19937_64 rng;
  bool stopping = false;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  std::shared_ptr<net::steady_timer> prune_timer;
  // Free heap pages go back to the OS a second after numbers connected (a restart or pairings leave megabytes
  // of freed handshake memory between the live records) and once a minute.
  HeapTrimmer heap_trim{ex, std::chrono::seconds(1), std::chrono::minutes(1)};
  // Picture work (image and video thumbnails: decoding hostile files) runs here, off the service's thread,
  // so one large video does not hold back every instance's API and webhooks.
  net::thread_pool pictures{1};

  // Runs work() on the picture thread, then then(result) back on the service's thread (unless shut down).
  template <class Work, class Then>
  void off_loop(Work work, Then then) {
    std::weak_ptr<bool> alive_w = alive;
    net::post(pictures, [ex_ = ex, alive_w, work = std::move(work), then = std::move(then)]() mutable {
      auto r = work();
      net::post(ex_, [alive_w, r = std::move(r), then = std::move(then)]() mutable {
        if (alive_w.lock()) then(std::move(r));
      });
    });
  }

  // Every hour: the message index forgets what is older than the retention (ids and statuses only), and
  // received files older than theirs are deleted.
  void schedule_prune() {
    if (!prune_timer) prune_timer = std::make_shared<net::steady_timer>(ex);
    prune_timer->expires_after(std::chrono::hours(1));
    std::weak_ptr<bool> alive_w = alive;
    prune_timer->async_wait([this, alive_w](const boost::system::error_code& ec) {
      if (ec || !alive_w.lock() || stopping) return;
      start_index_prune();
      prune_media();
      schedule_prune();
    });
  }

  // A pass over the message index in key order, a slice of at most kPruneSlice entries per turn of the loop
  // (one scan and one transaction for the stale ones), the API's work in between. Entries of instances that are
  // gone go too: delete_instance leaves them to the pass, because the index is ordered by message id first
  // (store.hpp, key_first()) and one instance's entries are spread over all of it.
  struct IndexPrune {
    std::string after_key, after_device;  // where the next slice starts
    std::int64_t limit = 0;               // entries written before this (unix ms) go
  };
  static constexpr std::size_t kPruneSlice = 256;
  std::optional<IndexPrune> index_prune;

  void start_index_prune() {
    if (index_prune) return;  // the pass under way covers it
    IndexPrune p;
    p.limit = now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(opt.message_retention).count();
    index_prune = std::move(p);
    post_index_prune();
  }

  void post_index_prune() {
    std::weak_ptr<bool> alive_w = alive;
    net::post(ex, [this, alive_w] {
      if (alive_w.lock() && !stopping) index_prune_slice();
    });
  }

  // An entry goes when its instance is gone, when it is not a JSON object with a numeric "t", or when it is
  // older than the pass's limit.
  bool index_stale(const store::Record& r, std::int64_t limit) const {
    if (insts.count(r.device) == 0) return true;
    const json j = json::parse(r.value.begin(), r.value.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return true;
    const auto t = j.find("t");
    return t == j.end() || !t->is_number() || t->get<std::int64_t>() < limit;
  }

  void index_prune_slice() {
    if (!index_prune) return;
    if (!commit()) {  // the store fails: the next hourly pass starts over
      index_prune.reset();
      return;
    }
    IndexPrune& p = *index_prune;
    auto recs = gw.scan(Table::message_index, p.after_key, p.after_device, kPruneSlice);
    if (!recs) {
      index_prune.reset();
      return;
    }
    std::vector<std::pair<std::string, std::string>> stale;
    for (const auto& r : *recs) {
      if (index_stale(r, p.limit)) stale.emplace_back(r.device, r.key);
    }
    if (!recs->empty()) {
      p.after_key = recs->back().key;
      p.after_device = recs->back().device;
    }
    if (!stale.empty()) {
      (void)gw.transaction([&]() -> Status {
        for (const auto& [id, k] : stale) WA_TRY_STATUS(gw.remove(id, Table::message_index, k));
        return ok();
      });
    }
    if (recs->size() < kPruneSlice) {
      index_prune.reset();
      return;
    }
    post_index_prune();
  }

  Inst* find(const std::string& id) {
    auto it = insts.find(id);
    return it == insts.end() ? nullptr : &it->second;
  }

  // ---- records ---------------------------------------------------------------------------------------
  static json record_of(const InstanceView& v) {
    json hooks = json::object();
    for (std::size_t i = 0; i < kHookCount; ++i) hooks[kHookNames[i]] = v.hooks[i];
    return json{{"id", v.id}, {"token", v.token}, {"name", v.name}, {"created", v.created_ms}, {"hooks", hooks},
                {"notify_sent_by_me", v.notify_sent_by_me}};
  }
  static InstanceView view_of(const json& j) {
    InstanceView v;
    v.id = j.value("id", "");
    v.token = j.value("token", "");
    v.name = j.value("name", "");
    v.created_ms = j.value("created", std::int64_t{0});
    if (auto h = j.find("hooks"); h != j.end() && h->is_object()) {
      for (std::size_t i = 0; i < kHookCount; ++i) v.hooks[i] = h->value(kHookNames[i], "");
    }
    v.notify_sent_by_me = j.value("notify_sent_by_me", false);
    return v;
  }
  Status save(const Inst& in) {
    const std::string s = record_of(in.view).dump();
    if (auto st = gw.put("", Table::instance, in.view.id, as_bytes(s)); !st) return storage_error(st.error());
    return ok();
  }

  // ---- start and stop --------------------------------------------------------------------------------
  Status load() {
    auto ids = gw.keys("", Table::instance, "");
    if (!ids) return storage_error(ids.error());
    // The send queue and the outbox are ordered by key across instances (store.hpp, key_first()): one listing
    // of each, handed out by instance, in key order. Their keys come from one sequence, continued here.
    std::unordered_map<std::string, std::vector<std::string>> queued, outgoing;
    for (auto [table, into] : {std::pair{Table::send_queue, &queued}, std::pair{Table::outbox, &outgoing}}) {
      auto all = gw.all_keys(table);
      if (!all) return storage_error(all.error());
      for (auto& [dev, key] : *all) {
        next_seq = std::max(next_seq, seq_of(key) + 1);
        (*into)[dev].push_back(std::move(key));
      }
    }
    auto paired = keys.device_ids();
    if (!paired) return storage_error(paired.error());
    std::sort(paired->begin(), paired->end());  // looked up once per instance: at 10,000, a linear find costs 10^8 compares
    for (const auto& id : *ids) {
      auto rec = get_json("", Table::instance, id);
      if (!rec) {
        std::cerr << "zapd: instance record " << id << " is missing or corrupt; skipped\n";
        continue;
      }
      const json& j = *rec;
      Inst& in = insts[id];
      in.view = view_of(j);
      if (auto q = queued.find(id); q != queued.end()) in.queue.assign(q->second.begin(), q->second.end());
      if (auto o = outgoing.find(id); o != outgoing.end()) {
        for (auto& k : o->second) in.outbox.push_back(Outgoing{std::move(k), std::nullopt});
      }
      auto d = gw.keys(id, Table::dead_letter, "");
      if (d && !d->empty()) in.next_dead_seq = std::stoull(d->back()) + 1;
      if (std::binary_search(paired->begin(), paired->end(), id)) {
        if (auto c = keys.load_credentials(id); c && *c && (*c)->registered()) {
          in.view.paired = true;
          in.view.phone = phone_of((*c)->jid);
          in.view.lid = (*c)->lid;
          in.view.push_name = (*c)->push_name;
          in.view.platform = (*c)->platform;
          run(in);
        }
      }
      deliver(in);
    }
    return ok();
  }

  // Received files older than the media retention are deleted (by modification time).
  // On the picture thread: a walk of every received file is no work for the service's thread (at start-up it
  // used to come before the API answered).
  void prune_media() {
    if (opt.media_dir.empty()) return;
    off_loop(
        [dir = opt.media_dir, retention = opt.media_retention] {
          std::error_code ec;
          const auto limit = std::filesystem::file_time_type::clock::now() - retention;
          for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
               !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
            std::error_code fec;
            if (it->is_regular_file(fec) && it->last_write_time(fec) < limit) std::filesystem::remove(it->path(), fec);
          }
          return true;  // nothing to hand back: off_loop wants a result
        },
        [](bool) {});
  }

  protocol::ClientConfig client_config() const {
    protocol::ClientConfig c;
    c.url = opt.wa_url;
    std::copy(opt.wa_root.begin(), opt.wa_root.end(), c.trusted_root.begin());
    c.extra_ca_pem = opt.wa_extra_ca_pem;
    return c;
  }

  void run(Inst& in) {
    if (in.running) return;
    in.running = true;
    std::weak_ptr<bool> alive_w = alive;
    auto sink = [this, alive_w, ex = ex](const std::string& dev, const protocol::Event& ev) {
      net::post(ex, [this, alive_w, dev, ev] {
        if (auto a = alive_w.lock()) on_event(dev, ev);
      });
    };
    engine.start(in.view.id, client_config(), std::move(sink));
  }

  void stop(Inst& in) {
    if (!in.running) return;
    in.running = false;
    engine.stop(in.view.id);
    set_disconnected(in, "stopped", false);
  }

  // ---- engine events ---------------------------------------------------------------------------------
  void on_event(const std::string& id, const protocol::Event& ev) {
    Inst* in = find(id);
    if (in == nullptr || stopping) return;
    using K = protocol::EventKind;
    switch (ev.kind) {
      case K::qr:
        in->qr = ev.text;
        wake(*in, false);
        break;
      case K::pair_code:
        in->code = ev.text;
        wake(*in, true);
        break;
      case K::paired:
      case K::connected: {
        const bool was = in->view.connected;
        in->view.paired = true;
        in->view.phone = phone_of(ev.text);
        if (!ev.lid.empty()) in->view.lid = ev.lid;
        in->qr.clear();
        in->code.clear();
        if (ev.kind == K::connected) {
          in->view.connected = true;
          in->offline_drained = false;  // this connection's offline queue comes next
          heap_trim.poke();
          wake(*in, false);
          wake(*in, true);
          if (!was) {
            enqueue_event(*in, Hook::connected, json{{"type", "ConnectedCallback"}, {"instanceId", id}, {"connected", true},
                                               {"momment", now_ms()}, {"phone", in->view.phone}});
          }
          pump(*in);
        }
        break;
      }
      case K::disconnected: set_disconnected(*in, ev.text, true); break;
      case K::logged_out:
      case K::replaced:
        in->running = false;
        if (ev.kind == K::logged_out) {
          in->view.paired = false;
          in->view.phone.clear();
          in->view.lid.clear();
        }
        set_disconnected(*in, ev.kind == K::logged_out ? "Device has been logged out" : "Another connection took over", true,
                         true);
        break;
      case K::message: on_message(*in, ev); break;
      case K::sent: on_sent(*in, ev.id, {}); break;
      case K::send_failed: on_sent(*in, ev.id, ev.text); break;
      case K::receipt: on_receipt(*in, ev); break;
      case K::presence:
      case K::chatstate: {
        std::string status = ev.type;
        std::transform(status.begin(), status.end(), status.begin(), [](unsigned char c) { return std::toupper(c); });
        json body{{"type", "PresenceChatCallback"}, {"instanceId", id}, {"phone", phone_of(ev.chat.empty() ? ev.from : ev.chat)},
                  {"status", status}, {"lastSeen", nullptr}};
        if (ev.kind == K::presence && ev.timestamp != 0) body["lastSeen"] = ev.timestamp * 1000;
        enqueue_event(*in, Hook::presence, std::move(body));
        break;
      }
      case K::group: on_group_event(*in, ev); break;
      case K::offline_drained:
        if (in->view.connected) in->offline_drained = true;
        break;
      case K::error:
        std::cerr << "zapd: instance " << id << ": " << ev.text << '\n';
        break;
      default: break;
    }
  }

  // A group change as Z-API reports it: a ReceivedCallback with a notification (GROUP_CREATE,
  // GROUP_PARTICIPANT_ADD / _REMOVE / _LEAVE as documented; zapd names the other changes alike:
  // GROUP_PARTICIPANT_PROMOTE / _DEMOTE, GROUP_SUBJECT, GROUP_DESCRIPTION, GROUP_ANNOUNCEMENT, ...).
  void on_group_event(Inst& in, const protocol::Event& ev) {
    std::string kind = ev.type;
    std::transform(kind.begin(), kind.end(), kind.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    const bool participants = ev.type == "add" || ev.type == "remove" || ev.type == "leave" || ev.type == "promote" || ev.type == "demote";
    const std::string notification = ev.type == "create" ? "GROUP_CREATE" : participants ? "GROUP_PARTICIPANT_" + kind : "GROUP_" + kind;
    json params = json::array();
    for (const auto& j : ev.ids) params.push_back(phone_of(j));
    if (ev.type == "subject" || ev.type == "create") params = json::array({ev.text});
    const bool from_me = !ev.from.empty() && phone_of(ev.from) == in.view.phone;
    if (from_me && !in.view.notify_sent_by_me) return;
    enqueue_event(in, Hook::received,
                  json{{"type", "ReceivedCallback"}, {"instanceId", in.view.id}, {"messageId", ev.id},
                       {"phone", phone_of(ev.chat)}, {"connectedPhone", in.view.phone}, {"fromMe", from_me},
                       {"fromApi", false}, {"momment", static_cast<std::int64_t>(ev.timestamp) * 1000},
                       {"status", "RECEIVED"}, {"isGroup", true}, {"isNewsletter", false}, {"broadcast", false},
                       {"participantPhone", ev.from.empty() ? json(nullptr) : json(phone_of(ev.from))},
                       {"notification", notification}, {"notificationParameters", params}});
  }

  // ---- groups ------------------------------------------------------------------------------------------
  static GroupView group_view(const protocol::GroupInfo& g) {
    GroupView v;
    v.id = phone_of(g.jid);
    v.subject = g.subject;
    v.owner = phone_of(g.creator);
    v.subject_owner = phone_of(g.subject_owner);
    v.description = g.description;
    v.creation_ms = static_cast<std::int64_t>(g.creation) * 1000;
    v.subject_time_ms = static_cast<std::int64_t>(g.subject_time) * 1000;
    v.announce = g.announce;
    v.locked = g.locked;
    for (const auto& m : g.members) v.participants.push_back(GroupView::Member{phone_of(m.jid), !m.role.empty(), m.role == "superadmin"});
    return v;
  }

  void group(const std::string& id, GroupRequest r, GroupDone done) {
    Inst* in = find(id);
    if (in == nullptr) return done(fail(errc::not_found, "instance"));
    if (!in->view.connected) return done(fail(errc::not_connected, "the number is not connected"));
    protocol::GroupAction a;
    using K = protocol::GroupAction::Kind;
    a.kind = static_cast<K>(static_cast<int>(r.kind));
    a.group = r.group.empty() ? std::string() : recipient_jid(r.group);
    a.text = r.text;
    a.setting = r.setting;
    for (const auto& p : r.phones) a.participants.push_back(recipient_jid(p));
    std::weak_ptr<bool> alive_w = alive;
    engine.group(id, std::move(a), [this, alive_w, done = std::move(done)](Result<protocol::GroupOutcome> o) mutable {
      net::post(ex, [alive_w, done = std::move(done), o = std::move(o)]() mutable {
        if (!alive_w.lock()) return;
        if (!o) {
          const bool refused = o.error().code() == protocol::errc::iq_error;
          return done(fail(refused ? errc::refused : errc::timeout, o.error().context()));
        }
        GroupReply reply;
        if (!o->info.jid.empty()) reply.view = group_view(o->info);
        for (const auto& [jid, status] : o->results) reply.results.emplace_back(phone_of(jid), status);
        reply.code = o->code.find('@') != std::string::npos ? phone_of(o->code) : o->code;
        done(std::move(reply));
      });
    });
  }

  void set_disconnected(Inst& in, const std::string& why, bool notify, bool force = false) {
    const bool was = in.view.connected;
    in.view.connected = false;
    in.offline_drained = false;
    if (notify && (was || force)) {
      enqueue_event(in, Hook::disconnected, json{{"type", "DisconnectedCallback"}, {"instanceId", in.view.id},
                                           {"momment", now_ms()}, {"error", force ? why : "Device has been disconnected"},
                                           {"disconnected", true}});
    }
  }

  void wake(Inst& in, bool code) {
    std::vector<Waiter> keep;
    for (auto& w : in.waiters) {
      if (w.code != code && !in.view.connected) {
        keep.push_back(std::move(w));
        continue;
      }
      w.timer->cancel();
      Pairing p;
      p.connected = in.view.connected;
      p.value = in.view.connected ? "" : (code ? in.code : in.qr);
      auto done = std::move(w.done);
      net::post(ex, [done = std::move(done), p] { done(p); });
    }
    in.waiters = std::move(keep);
  }

  void wait_pairing(Inst& in, bool code, PairingDone done) {
    auto timer = std::make_shared<net::steady_timer>(ex, opt.pairing_wait);
    in.waiters.push_back(Waiter{timer, std::move(done), code});
    std::weak_ptr<bool> alive_w = alive;
    const std::string id = in.view.id;
    timer->async_wait([this, alive_w, id, timer](const boost::system::error_code& ec) {
      if (ec || !alive_w.lock()) return;
      Inst* i = find(id);
      if (i == nullptr) return;
      for (auto it = i->waiters.begin(); it != i->waiters.end(); ++it) {
        if (it->timer == timer) {
          auto d = std::move(it->done);
          i->waiters.erase(it);
          d(fail(errc::timeout, "WhatsApp did not answer in time"));
          return;
        }
      }
    });
  }

  // ---- inbound ---------------------------------------------------------------------------------------
  // A JSON record of the gateway store; nullopt when absent or not JSON (a corrupt record is skipped, not fatal).
  std::optional<json> get_json(const std::string& dev, Table t, const std::string& key) {
    auto v = read(dev, t, key);
    if (!v) return std::nullopt;
    json j = json::parse(*v, nullptr, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
  }
  std::optional<json> index_get(const std::string& id, const std::string& msg) { return get_json(id, Table::message_index, msg); }
  void index_put(const std::string& id, const std::string& msg, const json& j) {
    write(id, Table::message_index, msg, j.dump());
  }
  // What the index keeps of a message sent through the API.
  static json index_entry(const std::string& chat, const std::string& zaap, bool failed, std::int64_t t) {
    return json{{"chat", chat}, {"from_me", true}, {"api", true}, {"zaap", zaap}, {"failed", failed}, {"t", t}};
  }

  std::string field(const protocol::Event& ev, std::string_view name) {
    for (const auto& [k, v] : ev.fields) {
      if (k == name) return v;
    }
    return {};
  }

  // ---- received media ----------------------------------------------------------------------------------
  struct Saved {
    std::string url;  ///< where zapd serves the file; "" when it could not be downloaded
  };
  using SavedDone = std::function<void(Saved)>;

  void on_message(Inst& in, const protocol::Event& ev) {
    if (auto it = in.inbound.find(ev.chat); it != in.inbound.end()) {
      it->second.push_back(ev);  // behind the chat's download
      return;
    }
    if (!takes_download(in, ev)) return finish_message(in, ev, nullptr);
    in.inbound[ev.chat].push_back(ev);
    start_download(in, ev.chat);
  }

  bool takes_download(const Inst& in, const protocol::Event& ev) const {
    const bool wanted = !ev.from_me || in.view.notify_sent_by_me;
    return is_media_type(ev.type) && wanted && !opt.media_dir.empty() && !in.view.hooks[static_cast<std::size_t>(Hook::received)].empty();
  }

  // Downloads the file of the chat's head message; then that message goes out, and the chat's messages after
  // it, up to the next one with a file to download.
  void start_download(Inst& in, const std::string& chat) {
    std::weak_ptr<bool> alive_w = alive;
    const std::string id = in.view.id;
    download(id, in.inbound.at(chat).front(), [this, alive_w, id, chat](Saved saved) {
      if (!alive_w.lock() || stopping) return;
      Inst* i = find(id);
      if (i == nullptr) return;
      auto it = i->inbound.find(chat);
      if (it == i->inbound.end() || it->second.empty()) return;
      const protocol::Event e = std::move(it->second.front());
      it->second.pop_front();
      finish_message(*i, e, &saved);
      drain_chat(*i, chat);
    });
  }

  void drain_chat(Inst& in, const std::string& chat) {
    auto it = in.inbound.find(chat);
    while (it != in.inbound.end() && !it->second.empty() && !stopping) {
      if (takes_download(in, it->second.front())) return start_download(in, chat);
      const protocol::Event e = std::move(it->second.front());
      it->second.pop_front();
      finish_message(in, e, nullptr);
      it = in.inbound.find(chat);  // finish_message may have changed the map
    }
    if (it != in.inbound.end() && it->second.empty()) in.inbound.erase(it);
  }

  // Downloads a received file (its url, else each media host with its direct path), checks and decrypts it, and
  // keeps it under an unguessable name. Three rounds with a pause between them; then the event goes without it.
  struct Download {
    std::string id, type, mimetype, file_name;
    std::vector<std::string> urls;
    std::size_t next = 0;
    int round = 0;
    Bytes media_key;
    crypto::MediaDigests digests;
    SavedDone done;
  };

  void download(const std::string& id, const protocol::Event& ev, SavedDone done) {
    auto d = std::make_shared<Download>();
    d->id = id;
    d->type = ev.type;
    d->mimetype = field(ev, "mimetype");
    d->file_name = field(ev, "file_name");
    d->done = std::move(done);
    auto key = from_base64(field(ev, "media_key"));
    auto sha = from_base64(field(ev, "file_sha256"));
    auto enc_sha = from_base64(field(ev, "file_enc_sha256"));
    if (!key || key->size() != 32) return d->done(Saved{});
    d->media_key = std::move(*key);
    if (sha && sha->size() == 32) std::copy(sha->begin(), sha->end(), d->digests.file_sha256.emplace().begin());
    if (enc_sha && enc_sha->size() == 32) std::copy(enc_sha->begin(), enc_sha->end(), d->digests.file_enc_sha256.emplace().begin());
    const std::string url = field(ev, "url");
    if (url.rfind("https://", 0) == 0) d->urls.push_back(url);
    const std::string direct = field(ev, "direct_path");
    if (direct.empty() || direct[0] != '/') return try_download(d);
    std::weak_ptr<bool> alive_w = alive;
    engine.media_conn(id, [this, alive_w, d, direct](Result<protocol::MediaConn> mc) {
      net::post(ex, [this, alive_w, d, direct, mc = std::move(mc)] {
        if (!alive_w.lock()) return;
        if (mc) {
          for (const auto& h : mc->hosts) {
            const std::string u = "https://" + h + direct;
            if (std::find(d->urls.begin(), d->urls.end(), u) == d->urls.end()) d->urls.push_back(u);
          }
        }
        try_download(d);
      });
    });
  }

  void try_download(std::shared_ptr<Download> d) {
    if (d->next >= d->urls.size()) {
      if (++d->round >= 3 || d->urls.empty()) return d->done(Saved{});
      d->next = 0;
      auto timer = std::make_shared<net::steady_timer>(ex, std::chrono::seconds(d->round));
      std::weak_ptr<bool> alive_w = alive;
      timer->async_wait([this, alive_w, d, timer](const boost::system::error_code&) {
        if (alive_w.lock()) try_download(d);
      });
      return;
    }
    const std::string url = d->urls[d->next++];
    webhook::RequestOptions o;
    o.max_answer = opt.media_max_bytes + crypto::kMediaMacSize + 16;
    o.max_redirects = 3;
    std::weak_ptr<bool> alive_w = alive;
    media_http.request("GET", url, {}, {{"Origin", "https://web.whatsapp.com"}}, o, [this, alive_w, d](webhook::PostResult r) {
      if (!alive_w.lock()) return;
      if (!r.ok() || r.body.empty()) return try_download(d);
      auto plain = crypto::decrypt_media(bytes_of(r.body), d->media_key, crypto_type(d->type), d->digests);
      if (!plain) {
        std::cerr << "zapd: instance " << d->id << ": received " << d->type << " does not decrypt: " << plain.error().context() << '\n';
        return d->done(Saved{});  // a wrong key or hash will not get better by retrying
      }
      d->done(Saved{save_file(d->id, *plain, d->mimetype, d->file_name)});
    });
  }

  // Writes the file (to a temporary name, then renamed) and returns its public URL; "" when it cannot be written.
  std::string save_file(const std::string& id, const Bytes& bytes, const std::string& mimetype, const std::string& file_name) {
    std::string ext = media::extension_for(mimetype);
    if (ext == "bin" && !file_name.empty()) {
      const auto dot = file_name.rfind('.');
      std::string e = dot == std::string::npos ? "" : file_name.substr(dot + 1);
      if (!e.empty() && e.size() <= 8 && std::all_of(e.begin(), e.end(), [](unsigned char c) { return std::isalnum(c); })) {
        std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        ext = e;
      }
    }
    const std::string name = random_hex(16) + "." + ext;
    const std::filesystem::path dir = std::filesystem::path(opt.media_dir) / id;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    const auto tmp = dir / (name + ".part");
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
      if (!f) {
        std::filesystem::remove(tmp, ec);
        return {};
      }
    }
    std::filesystem::rename(tmp, dir / name, ec);
    if (ec) return {};
    return opt.public_url + "/media/" + id + "/" + name;
  }

  void finish_message(Inst& in, const protocol::Event& ev, const Saved* saved) {
    const std::string& id = in.view.id;
    auto known = index_get(id, ev.id);
    const bool from_api = known && known->value("api", false);
    const bool deliver_it = !ev.from_me || in.view.notify_sent_by_me;
    json body{{"type", "ReceivedCallback"}, {"instanceId", id}, {"messageId", ev.id}, {"phone", phone_of(ev.chat)},
              {"connectedPhone", in.view.phone}, {"fromMe", ev.from_me}, {"fromApi", from_api},
              {"momment", static_cast<std::int64_t>(ev.timestamp) * 1000}, {"status", ev.from_me ? "SENT" : "RECEIVED"},
              {"chatName", nullptr}, {"senderName", ev.push_name}, {"senderPhoto", nullptr}, {"photo", nullptr},
              {"isGroup", is_group_jid(ev.chat)}, {"isNewsletter", false}, {"broadcast", false}, {"isEdit", false},
              {"isStatusReply", false}, {"waitingMessage", false}, {"forwarded", false}, {"participantPhone", nullptr},
              {"participantLid", nullptr}, {"chatLid", nullptr}, {"senderLid", nullptr},
              {"referenceMessageId", nullptr}, {"messageExpirationSeconds", 0}};
    if (is_group_jid(ev.chat)) body["participantPhone"] = phone_of(ev.from);
    // LIDs as the server named them on the stanza ("<digits>@lid"); null when it named none.
    if (auto l = field(ev, "sender_lid"); !l.empty()) {
      body["senderLid"] = l;
      if (is_group_jid(ev.chat)) body["participantLid"] = l;
    }
    if (auto l = field(ev, "chat_lid"); !l.empty()) body["chatLid"] = l;
    if (auto q = field(ev, "quoted_id"); !q.empty()) body["referenceMessageId"] = q;
    const std::string& t = ev.type;
    if (t == "text") {
      body["text"] = json{{"message", ev.text}};
    } else if (t == "edit") {
      body["isEdit"] = true;
      body["messageId"] = field(ev, "target_id");
      body["text"] = json{{"message", ev.text}};
    } else if (t == "revoke") {
      body["notification"] = "REVOKE";
      body["referenceMessageId"] = field(ev, "target_id");
    } else if (t == "reaction") {
      const std::string target = field(ev, "target_id");
      // The key is written from the reactor's side: flip it, unless our index knows the message.
      bool target_mine = ev.from_me ? field(ev, "target_from_me") == "true" : field(ev, "target_from_me") != "true";
      if (auto k = index_get(id, target)) target_mine = k->value("from_me", target_mine);
      body["reaction"] = json{{"value", field(ev, "emoji")}, {"time", static_cast<std::int64_t>(ev.timestamp) * 1000},
                              {"reactionBy", phone_of(ev.from)},
                              {"referencedMessage", json{{"messageId", target}, {"fromMe", target_mine},
                                                         {"phone", phone_of(ev.chat)}, {"participant", nullptr}}}};
    } else if (t == "location") {
      body["location"] = json{{"latitude", std::strtod(field(ev, "latitude").c_str(), nullptr)},
                              {"longitude", std::strtod(field(ev, "longitude").c_str(), nullptr)},
                              {"name", field(ev, "name")}, {"address", field(ev, "address")}, {"url", ""}};
    } else if (t == "contact" || t == "contacts") {
      const std::string vcard = field(ev, "vcard");
      json phones = json::array();
      for (std::size_t at = vcard.find("waid="); at != std::string::npos; at = vcard.find("waid=", at + 5)) {
        const auto end = vcard.find_first_not_of("0123456789", at + 5);
        phones.push_back(vcard.substr(at + 5, end - at - 5));
      }
      body["contact"] = json{{"displayName", field(ev, "display_name")}, {"vCard", vcard}, {"phones", phones}};
    } else if (is_media_type(t)) {
      // The file as zapd serves it; null with downloadError when it could not be fetched, as Z-API does.
      const bool have = saved != nullptr && !saved->url.empty();
      json m{{"mimeType", field(ev, "mimetype")}, {"downloadError", !have}};
      m[t + "Url"] = have ? json(saved->url) : json(nullptr);
      if (t != "audio" && t != "sticker") m["caption"] = ev.text;
      const auto num = [&](std::string_view name) -> json {
        const std::string v = field(ev, name);
        return v.empty() ? json(nullptr) : json(std::strtoll(v.c_str(), nullptr, 10));
      };
      if (t == "image" || t == "video") {
        m["viewOnce"] = field(ev, "view_once") == "true";
        m["width"] = num("width");
        m["height"] = num("height");
        m["thumbnailUrl"] = nullptr;
      }
      if (t == "audio" || t == "video") m["seconds"] = num("seconds");
      if (t == "audio") {
        m["ptt"] = field(ev, "ptt") == "true";
        m["viewOnce"] = field(ev, "view_once") == "true";
      }
      if (t == "document") {
        m["fileName"] = field(ev, "file_name");
        m["title"] = field(ev, "title");
        m["pageCount"] = num("page_count");
        m["thumbnailUrl"] = nullptr;
      }
      body[t] = std::move(m);
    } else {
      body["unsupported"] = json{{"type", t}};
    }
    if (!known) index_put(id, ev.id, json{{"chat", ev.chat}, {"from", ev.from}, {"from_me", ev.from_me}, {"t", now_ms()}});
    if (deliver_it) enqueue_event(in, Hook::received, std::move(body));
    // Until the event is in the outbox (committed) the engine keeps its copy, and emits it again at the next
    // start: a failed write here, or a crash before the commit, loses nothing.
    when_committed([this, id, inbox_key = ev.inbox_key] { engine.inbox_done(id, inbox_key); });
  }

  void on_receipt(Inst& in, const protocol::Event& ev) {
    // A receipt can overtake the server's ack (both come on one read): a message the recipient has is sent.
    if (!in.inflight_id.empty() && std::find(ev.ids.begin(), ev.ids.end(), in.inflight_id) != ev.ids.end()) {
      const std::string id = in.inflight_id;  // a copy: on_sent clears inflight_id
      on_sent(in, id, {});
    }
    std::string status;
    if (ev.type == "delivery") status = "RECEIVED";
    else if (ev.type == "read") status = ev.from_me ? "READ_BY_ME" : "READ";
    else if (ev.type == "read-self") status = "READ_BY_ME";
    else if (ev.type == "played") status = "PLAYED";
    else return;
    if (!hooked(in, Hook::message_status)) return;  // nothing to build
    enqueue_event(in, Hook::message_status,
                  json{{"type", "MessageStatusCallback"}, {"instanceId", in.view.id}, {"status", status}, {"ids", ev.ids},
                       {"momment", ev.timestamp != 0 ? static_cast<std::int64_t>(ev.timestamp) * 1000 : now_ms()},
                       {"phoneDevice", 0}, {"phone", phone_of(ev.chat)}, {"isGroup", is_group_jid(ev.chat)},
                       {"participantPhone", is_group_jid(ev.chat) ? json(phone_of(ev.from)) : json(nullptr)}});
  }

  // ---- the send queue --------------------------------------------------------------------------------
  // Accepting sends: requests that arrive together (one turn of the event loop) are written in one
  // transaction and answered after it commits (group commit): durable before the answer, at a fraction of
  // a transaction each.
  struct PendingSend {
    std::string inst, key, value;
    SendIds ids;
    SendDone done;
    std::string index;  // the message index entry, committed with the accept
  };
  std::vector<PendingSend> send_batch;
  // Keys of the send queue and the outbox, one sequence for every instance: a commit's new records of many
  // instances are neighbours in those key-first tables (store.hpp). Continued from the store by load().
  std::uint64_t next_seq = 1;

  void send(const std::string& id, Send s, SendDone done) {
    Inst* in = find(id);
    if (in == nullptr) return done(fail(errc::not_found, "instance"));
    const std::size_t limit = in->view.connected ? opt.queue_limit : std::min(opt.queue_limit, opt.queue_limit_disconnected);
    if (in->queue.size() + in->pending_sends >= limit) {
      return done(fail(errc::queue_full, in->view.connected ? "the queue holds " + std::to_string(limit) + " messages"
                                                           : "the number is disconnected and its queue holds " +
                                                                 std::to_string(limit) + " messages"));
    }
    SendIds ids{random_hex(16), protocol::new_message_id()};
    const std::string key = seq_key(next_seq++);
    const std::int64_t now = now_ms();
    // The index entry goes with the accept, not with the send: message ids grow with time (new_message_id()),
    // so a batch of accepts appends to the index's last pages, where entries written as messages leave (in the
    // order numbers' queues drain) landed on a page each. "indexed" tells on_sent it need not write it again.
    std::string index = index_entry(recipient_jid(s.phone), ids.zaap_id, false, now).dump();
    std::string item = records::encode(records::QueueRecord{ids.zaap_id, ids.message_id, now, now, std::move(s)});
    ++in->pending_sends;
    send_batch.push_back(PendingSend{id, key, std::move(item), std::move(ids), std::move(done), std::move(index)});
    schedule_commit();
  }

  // ---- group commit ----------------------------------------------------------------------------------
  // The writes of one turn of the event loop (accepted sends, a sent message's bookkeeping, webhook events,
  // deliveries done, the message index) go to the store together, in one transaction, on the next turn.
  // Whatever must not happen before they are durable runs after the commit: answering an accepted send,
  // POSTing a webhook event, telling the engine a received message is safe. Reads see the pending writes.
  // Writes outside the hot paths (instances, queue edits, dead-letter replays) commit the batch first, then
  // go to the store directly.
  using WriteKey = std::tuple<std::string, Table, std::string>;
  std::map<WriteKey, std::optional<std::string>> pending_writes;  // nullopt: remove
  std::vector<std::function<void()>> after_commit;
  bool commit_posted = false;
  bool commit_failing = false;  // the last commit failed: retried by commit_timer
  std::shared_ptr<net::steady_timer> commit_timer;

  void write(const std::string& dev, Table t, const std::string& key, std::string value) {
    pending_writes.insert_or_assign(WriteKey{dev, t, key}, std::move(value));
    schedule_commit();
  }
  void erase(const std::string& dev, Table t, const std::string& key) {
    pending_writes.insert_or_assign(WriteKey{dev, t, key}, std::nullopt);
    schedule_commit();
  }
  void when_committed(std::function<void()> f) {
    after_commit.push_back(std::move(f));
    schedule_commit();
  }
  std::optional<std::string> read(const std::string& dev, Table t, const std::string& key) {
    if (auto it = pending_writes.find(WriteKey{dev, t, key}); it != pending_writes.end()) return it->second;
    auto v = gw.get(dev, t, key);
    if (!v || !*v) return std::nullopt;
    return as_string(**v);
  }

  // While the store fails, writes wait for the retry timer; accepted sends still try at once (their callers
  // are waiting for an answer, and get a storage error if the store still fails).
  void schedule_commit() {
    if (commit_posted || (commit_failing && send_batch.empty())) return;
    commit_posted = true;
    std::weak_ptr<bool> alive_w = alive;
    net::post(ex, [this, alive_w] {
      if (alive_w.lock()) commit();
    });
  }

  // Commits what is pending; false when the store failed (accepted sends of this batch are then refused, the
  // other writes stay pending and are tried again every second).
  bool commit() {
    commit_posted = false;
    std::vector<PendingSend> batch = std::move(send_batch);
    send_batch.clear();
    if (batch.empty() && pending_writes.empty() && after_commit.empty()) return true;
    auto st = gw.transaction([&]() -> Status {
      for (const auto& [k, v] : pending_writes) {
        const auto& [dev, t, key] = k;
        if (v) {
          WA_TRY_STATUS(gw.put(dev, t, key, as_bytes(*v)));
        } else {
          WA_TRY_STATUS(gw.remove(dev, t, key));
        }
      }
      for (const auto& p : batch) {
        if (find(p.inst) != nullptr) {
          WA_TRY_STATUS(gw.put(p.inst, Table::send_queue, p.key, as_bytes(p.value)));
          WA_TRY_STATUS(gw.put(p.inst, Table::message_index, p.ids.message_id, as_bytes(p.index)));
        }
      }
      return ok();
    });
    if (!st) {
      std::cerr << "zapd: store commit failed (retrying every second): " << st.error().context() << '\n';
      if (!commit_failing) {
        commit_failing = true;
        if (!commit_timer) commit_timer = std::make_shared<net::steady_timer>(ex);
        commit_timer->expires_after(1s);
        std::weak_ptr<bool> alive_w = alive;
        commit_timer->async_wait([this, alive_w](const boost::system::error_code& ec) {
          if (ec || !alive_w.lock()) return;
          commit_failing = false;
          (void)commit();
        });
      }
    } else {
      pending_writes.clear();
    }
    std::vector<std::string> touched;
    for (auto& p : batch) {
      Inst* in = find(p.inst);
      if (in != nullptr) --in->pending_sends;
      if (!st) {
        p.done(storage_error(st.error()));
        continue;
      }
      if (in == nullptr) {
        p.done(fail(errc::not_found, "instance"));
        continue;
      }
      in->queue.push_back(p.key);
      if (std::find(touched.begin(), touched.end(), p.inst) == touched.end()) touched.push_back(p.inst);
      p.done(std::move(p.ids));
    }
    if (!st) return false;
    std::vector<std::function<void()>> then = std::move(after_commit);
    after_commit.clear();
    for (auto& f : then) f();
    for (const auto& id : touched) {
      if (Inst* in = find(id)) pump(*in);
    }
    return true;
  }

  // A queued message's record; nullopt when absent or unreadable (a corrupt record is skipped, not fatal).
  std::optional<records::QueueRecord> queue_item(const std::string& id, const std::string& key) {
    auto v = read(id, Table::send_queue, key);
    if (!v) return std::nullopt;
    return records::decode_queue_record(*v);
  }
  // A queued message removed before it was sent, with the index entry its accept wrote (mid: the message id
  // from its queue record, "" when the record had none). Runs inside the caller's transaction.
  Status unqueue(const std::string& id, const std::string& key, const std::string& mid) {
    WA_TRY_STATUS(gw.remove(id, Table::send_queue, key));
    if (!mid.empty()) WA_TRY_STATUS(gw.remove(id, Table::message_index, mid));
    return ok();
  }
  static std::string mid_of(const std::optional<records::QueueRecord>& item) { return item ? item->mid : ""; }

  std::chrono::milliseconds spacing(const Send& s) {
    if (!opt.spacing) return 0ms;
    if (s.delay_message >= 1) return std::chrono::seconds(s.delay_message);
    std::uniform_int_distribution<int> d(1000, 3000);
    return std::chrono::milliseconds(d(rng));
  }

  // Sends the head of the queue when the instance is connected, nothing is in flight and the spacing has passed.
  void pump(Inst& in) {
    if (!in.view.connected || !in.inflight_key.empty() || in.queue.empty() || stopping) return;
    const auto now = std::chrono::steady_clock::now();
    if (now < in.next_send_at) return arm(in, in.next_send_at);
    const std::string key = in.queue.front();
    auto item = queue_item(in.view.id, key);
    if (!item) {  // gone (deleted) or corrupt: skip it
      erase(in.view.id, Table::send_queue, key);
      in.queue.pop_front();
      return pump(in);
    }
    Send s = std::move(item->send);
    const std::string to = recipient_jid(s.phone);
    if (s.delay_typing > 0 && !in.typing_shown && opt.spacing) {
      in.typing_shown = true;
      engine.send_chatstate(in.view.id, to, "composing");
      return arm(in, now + std::chrono::seconds(s.delay_typing));
    }
    in.typing_shown = false;
    in.inflight_key = key;
    in.inflight_id = std::move(item->mid);
    in.inflight_zaap = std::move(item->zaap);
    in.inflight_indexed = item->indexed;
    in.inflight_send = std::make_unique<Send>(s);
    in.inflight_send->media.clear();  // a data: URI can be megabytes; on_sent needs only the recipient
    std::weak_ptr<bool> alive_w = alive;
    const std::string id = in.view.id, mid = in.inflight_id;
    if (s.kind == Send::Kind::link && !s.media.empty()) {
      // The preview image: fetched and made a thumbnail. It only decorates the message, which goes without
      // it when the image cannot be had.
      const std::string src = s.media;
      protocol::Outbound o = outbound(in, s);
      fetch_file(src, kPreviewMaxBytes, 20s, [this, alive_w, id, key, mid, to, o](Fetched f) mutable {
        if (!alive_w.lock()) return;
        Inst* i = find(id);
        if (i == nullptr || i->inflight_key != key) return;
        auto made = [picture = std::move(f.bytes)] { return media::jpeg_thumbnail(picture, kPreviewSide); };
        off_loop(made, [this, id, key, mid, to, o, error = f.error](std::optional<std::string> thumb) mutable {
          Inst* j = find(id);
          if (j == nullptr || j->inflight_key != key) return;
          if (thumb) {
            o.link_thumbnail.assign(thumb->begin(), thumb->end());
          } else {
            std::cerr << "zapd: instance " << id << ": link preview of " << mid << " goes without its image: "
                      << (error.empty() ? "not a JPEG or PNG picture" : error) << '\n';
          }
          engine.send_message(id, to, o, mid);
        });
      });
      return;
    }
    if (!is_media(s.kind)) return engine.send_message(in.view.id, to, outbound(in, s), in.inflight_id);
    // Media: fetched, encrypted and uploaded first; the head stays in flight meanwhile.
    // The message in flight cannot change (queue_remove refuses it, queue_clear keeps it): its fields are kept
    // here, without the file, which goes to prepare_media alone.
    Send head = s;
    head.media.clear();
    prepare_media(id, std::move(s), [this, alive_w, id, key, mid, to, head](Result<protocol::Outbound::Media> m, bool permanent) {
      if (!alive_w.lock()) return;
      Inst* i = find(id);
      if (i == nullptr || i->inflight_key != key) return;  // deleted meanwhile
      if (!m) {
        std::cerr << "zapd: instance " << id << ": media for " << mid << ": " << m.error().context() << '\n';
        if (!permanent && ++i->prepare_failures < 4) {
          // Try again later (not connected, a media host down, ...): the message keeps its place and id.
          i->clear_inflight();
          i->next_send_at = std::chrono::steady_clock::now() + std::chrono::seconds(2 << i->prepare_failures);
          return pump(*i);
        }
        i->prepare_failures = 0;
        return on_sent(*i, mid, m.error().context());
      }
      i->prepare_failures = 0;
      protocol::Outbound o = outbound(*i, head);
      o.media = std::move(*m);
      engine.send_message(id, to, o, mid);
    });
  }

  // ---- media to send ---------------------------------------------------------------------------------
  using PrepareDone = std::function<void(Result<protocol::Outbound::Media>, bool permanent)>;
  struct Prepare {
    std::string id;
    Send s;
    std::string bytes, declared;  // the file, and the mimetype its source named
    protocol::Outbound::Media media;
    crypto::EncryptedMedia enc;
    std::vector<std::string> hosts;
    std::string auth;
    std::size_t next_host = 0;
    PrepareDone done;
  };

  // A file named by a data: URI or an http(s) URL: its bytes and the mimetype its source declared, or why
  // not (permanent: a bad URI, a 4xx answer or a file over max; else a network error or 5xx). A timeout of
  // 0 is the media poster's (media_timeout).
  struct Fetched {
    std::string bytes, declared, error;
    bool permanent = false;
  };
  static constexpr std::size_t kPreviewMaxBytes = std::size_t{8} << 20;
  static constexpr unsigned kPreviewSide = 192;  // the link preview thumbnail's longest side, as WhatsApp Web's

  void fetch_file(std::string src, std::size_t max, std::chrono::milliseconds timeout, std::function<void(Fetched)> done) {
    if (media::is_data_uri(src)) {
      Fetched f;
      auto d = media::parse_data_uri(src);
      if (!d) {
        f.error = "the data: URI does not decode";
        f.permanent = true;
      } else if (d->bytes.size() > max) {
        f.error = "the file is larger than " + std::to_string(max >> 20) + " MiB";
        f.permanent = true;
      } else {
        f.bytes = std::move(d->bytes);
        f.declared = d->mimetype;
      }
      return done(std::move(f));
    }
    webhook::RequestOptions o;
    o.max_answer = max;
    o.max_redirects = 5;
    o.timeout = timeout;
    std::weak_ptr<bool> alive_w = alive;
    media_http.request("GET", src, {}, {}, o, [alive_w, max, done = std::move(done)](webhook::PostResult r) {
      if (!alive_w.lock()) return;
      Fetched f;
      if (r.too_large) {
        f.error = "the file is larger than " + std::to_string(max >> 20) + " MiB";
        f.permanent = true;
      } else if (r.status == 0) {
        f.error = "fetching the file: " + r.error;
      } else if (!r.ok()) {
        f.error = "fetching the file: HTTP " + std::to_string(r.status);
        f.permanent = r.status < 500;
      } else {
        f.bytes = std::move(r.body);
        f.declared = media::bare_mimetype(r.content_type);
        if (f.declared == "application/octet-stream" || f.declared == "binary/octet-stream") f.declared.clear();
      }
      done(std::move(f));
    });
  }

  void prepare_media(const std::string& id, Send s, PrepareDone done) {
    auto p = std::make_shared<Prepare>();
    p->id = id;
    p->s = std::move(s);
    p->done = std::move(done);
    std::string src = std::move(p->s.media);  // one copy of the file (or its URL) is enough
    fetch_file(std::move(src), opt.media_max_bytes, 0ms, [this, p](Fetched f) {  // 0: media_timeout
      if (!f.error.empty()) return p->done(fail(errc::invalid_argument, f.error), f.permanent);
      p->bytes = std::move(f.bytes);
      p->declared = std::move(f.declared);
      describe(p);
    });
  }

  // Type, mimetype, dimensions, length and thumbnail (on the picture thread); then the media hosts.
  // (fetch_file has already refused files over media_max_bytes.)
  void describe(std::shared_ptr<Prepare> p) {
    if (p->bytes.empty()) return p->done(fail(errc::invalid_argument, "the file is empty"), true);
    // Nothing else touches p until the work is done.
    off_loop(
        [p] {
          describe_file(p.get());
          return true;
        },
        [this, p](bool) { find_media_hosts(p); });
  }

  static void describe_file(Prepare* p) {
    auto& md = p->media;
    const Send& s = p->s;
    const std::string sniffed = media::sniff_mimetype(p->bytes);
    md.type = kind_name(s.kind);
    switch (s.kind) {
      case Send::Kind::image: md.mimetype = !sniffed.empty() ? sniffed : !p->declared.empty() ? p->declared : "image/jpeg"; break;
      case Send::Kind::sticker: md.mimetype = "image/webp"; break;
      case Send::Kind::video: md.mimetype = sniffed.rfind("video/", 0) == 0 ? sniffed : !p->declared.empty() ? p->declared : "video/mp4"; break;
      case Send::Kind::audio:
        md.mimetype = !sniffed.empty() ? sniffed : !p->declared.empty() ? p->declared : "audio/mpeg";
        // Opus in Ogg goes as a voice note (Z-API's send-audio); other formats as an audio file.
        md.ptt = md.mimetype.rfind("audio/ogg", 0) == 0;
        if (md.ptt) {
          md.mimetype = "audio/ogg; codecs=opus";
          md.seconds = ogg_opus_seconds(p->bytes);
        }
        break;
      default: {
        const std::string by_ext = media::mimetype_for_extension(s.extension);
        md.mimetype = by_ext != "application/octet-stream" ? by_ext : !p->declared.empty() ? p->declared : !sniffed.empty() ? sniffed : by_ext;
        std::string name = s.file_name.empty() ? "file" : s.file_name;
        const std::string suffix = "." + s.extension;
        if (name.size() < suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) name += suffix;
        md.file_name = name;
        break;
      }
    }
    if (s.kind == Send::Kind::image || s.kind == Send::Kind::sticker) {
      if (auto d = media::image_dimensions(p->bytes)) {
        md.width = d->width;
        md.height = d->height;
      }
    }
    if (s.kind == Send::Kind::video) {
      if (auto v = media::mp4_info(p->bytes)) {
        md.width = v->width;
        md.height = v->height;
        md.seconds = v->seconds;
      }
      // The first frame as the preview (MP4, QuickTime and 3GP with the usual codecs).
      if (auto t = media::video_thumbnail(p->bytes)) md.jpeg_thumbnail.assign(t->begin(), t->end());
    }
    if (s.kind == Send::Kind::image) {  // the preview shown before the download (JPEG and PNG sources)
      if (auto t = media::jpeg_thumbnail(p->bytes)) md.jpeg_thumbnail.assign(t->begin(), t->end());
    }
    md.view_once = s.view_once && (s.kind == Send::Kind::image || s.kind == Send::Kind::video || s.kind == Send::Kind::audio);
  }

  void find_media_hosts(std::shared_ptr<Prepare> p) {
    std::weak_ptr<bool> alive_w = alive;
    engine.media_conn(p->id, [this, alive_w, p](Result<protocol::MediaConn> mc) {
      net::post(ex, [this, alive_w, p, mc = std::move(mc)] {
        if (!alive_w.lock()) return;
        if (!mc) return p->done(fail(mc.error()), false);
        p->hosts = mc->hosts;
        p->auth = mc->auth;
        encrypt_and_upload(p);
      });
    });
  }

  void encrypt_and_upload(std::shared_ptr<Prepare> p) {
    const Bytes key = crypto::random_bytes(32);
    auto enc = crypto::encrypt_media(bytes_of(p->bytes), key, crypto_type(p->media.type));
    if (!enc) return p->done(fail(enc.error()), true);
    p->enc = std::move(*enc);
    p->bytes = std::string();  // the plaintext is no longer needed
    p->media.media_key = key;
    p->media.file_sha256.assign(p->enc.file_sha256.begin(), p->enc.file_sha256.end());
    p->media.file_enc_sha256.assign(p->enc.file_enc_sha256.begin(), p->enc.file_enc_sha256.end());
    p->media.file_length = p->enc.file_length;
    p->media.key_timestamp = now_ms() / 1000;
    upload(p);
  }

  // POST to each media host in turn until one answers with where the file is.
  void upload(std::shared_ptr<Prepare> p) {
    if (p->next_host >= p->hosts.size()) return p->done(fail(errc::not_connected, "no media host took the upload"), false);
    const std::string& host = p->hosts[p->next_host++];
    const std::string token = to_base64(p->enc.file_enc_sha256, true);
    const std::string url = "https://" + host + std::string(upload_path(p->media.type)) + "/" + token + "?auth=" + url_encode(p->auth) +
                            "&token=" + token;
    webhook::RequestOptions o;
    o.content_type = "application/octet-stream";
    std::weak_ptr<bool> alive_w = alive;
    std::string body(p->enc.body.begin(), p->enc.body.end());
    media_http.request("POST", url, std::move(body), {{"Origin", "https://web.whatsapp.com"}}, o,
                       [this, alive_w, p, host](webhook::PostResult r) {
                         if (!alive_w.lock()) return;
                         const json j = json::parse(r.body, nullptr, false);
                         const bool good = r.ok() && j.is_object() && j.contains("direct_path") && j["direct_path"].is_string();
                         if (!good) {
                           std::cerr << "zapd: instance " << p->id << ": upload to " << host << " failed: "
                                     << (r.status != 0 ? "HTTP " + std::to_string(r.status) : r.error) << '\n';
                           return upload(p);
                         }
                         p->media.direct_path = j["direct_path"].get<std::string>();
                         p->media.url = j.contains("url") && j["url"].is_string() ? j["url"].get<std::string>()
                                                                                  : "https://" + host + p->media.direct_path;
                         p->done(std::move(p->media), false);
                       });
  }

  void arm(Inst& in, std::chrono::steady_clock::time_point at) {
    if (!in.send_timer) in.send_timer = std::make_unique<net::steady_timer>(ex);
    in.send_timer->expires_at(at);
    std::weak_ptr<bool> alive_w = alive;
    const std::string id = in.view.id;
    in.send_timer->async_wait([this, alive_w, id](const boost::system::error_code& ec) {
      if (ec || !alive_w.lock()) return;
      if (Inst* i = find(id)) {
        i->send_timer.reset();  // its wait is over (Asio freed it before this call); pump() arms a new one if needed
        pump(*i);
      }
    });
  }

  protocol::Outbound outbound(Inst& in, const Send& s) {
    protocol::Outbound o;
    const std::string chat = recipient_jid(s.phone);
    auto target = [&](const std::string& mid, bool default_from_me) {
      protocol::Outbound::Target t;
      t.chat = chat;
      t.id = mid;
      t.from_me = default_from_me;
      if (auto j = index_get(in.view.id, mid)) t.from_me = j->value("from_me", default_from_me);
      return t;
    };
    auto quote = [&] {
      if (s.reply_to.empty()) return;
      o.quoted_id = s.reply_to;
      // The quoted message's author: us, the peer, or (from the index) whoever wrote it.
      auto j = index_get(in.view.id, s.reply_to);
      o.quoted_participant = chat;
      if (j && j->value("from_me", false)) {
        o.quoted_participant = in.view.phone + "@s.whatsapp.net";
      } else if (j) {
        if (auto from = Jid::parse(j->value("from", ""))) o.quoted_participant = from->to_user().to_string();
      }
    };
    switch (s.kind) {
      case Send::Kind::link:
        o.text = s.message;
        o.link_url = s.link_url;
        o.link_title = s.title;
        o.link_description = s.link_description;
        quote();
        break;
      case Send::Kind::text:
        if (!s.edit_id.empty()) {
          o.kind = protocol::Outbound::Kind::edit;
          o.target = target(s.edit_id, true);
          o.text = s.message;
          break;
        }
        o.text = s.message;
        quote();
        for (const auto& m : s.mentioned) o.mentions.push_back(recipient_jid(m));
        break;
      case Send::Kind::image:
      case Send::Kind::audio:
      case Send::Kind::video:
      case Send::Kind::document:
      case Send::Kind::sticker:
        // The file itself is added by the caller once uploaded.
        o.kind = protocol::Outbound::Kind::media;
        o.text = s.message;
        quote();
        break;
      case Send::Kind::location:
        o.kind = protocol::Outbound::Kind::location;
        o.latitude = s.latitude;
        o.longitude = s.longitude;
        o.name = s.title;
        o.address = s.address;
        break;
      case Send::Kind::contact:
        o.kind = protocol::Outbound::Kind::contact;
        o.display_name = s.contact_name;
        o.vcard = "BEGIN:VCARD\nVERSION:3.0\nN:;" + s.contact_name + ";;;\nFN:" + s.contact_name + "\nTEL;type=CELL;waid=" +
                  s.contact_phone + ":+" + s.contact_phone + "\nEND:VCARD";
        break;
      case Send::Kind::reaction:
      case Send::Kind::remove_reaction:
        o.kind = protocol::Outbound::Kind::reaction;
        o.target = target(s.target_id, false);
        o.text = s.kind == Send::Kind::reaction ? s.message : "";
        break;
      case Send::Kind::revoke:
        o.kind = protocol::Outbound::Kind::revoke;
        o.target = target(s.target_id, s.owner);
        break;
    }
    return o;
  }

  void on_sent(Inst& in, std::string mid, const std::string& error) {
    if (in.inflight_id != mid || in.inflight_key.empty()) return;
    const std::string key = in.inflight_key;
    std::unique_ptr<Send> sent = std::move(in.inflight_send);
    const std::string zaap = std::move(in.inflight_zaap);
    const std::int64_t indexed = in.inflight_indexed;
    in.clear_inflight();
    if (!in.queue.empty() && in.queue.front() == key) in.queue.pop_front();
    if (sent) {
      const Send& s = *sent;
      // One commit: the content goes, the ids stay (bounded time) for replies, reactions, edits and statuses,
      // and the webhook events are in the outbox; a crash leaves all of it or none.
      erase(in.view.id, Table::send_queue, key);
      // The accept wrote the entry; written again when the send failed, when it was queued before zapd wrote
      // entries with accepts, or when it waited so long that a prune pass may have taken the entry.
      const std::int64_t now = now_ms();
      const auto half_retention = std::chrono::duration_cast<std::chrono::milliseconds>(opt.message_retention).count() / 2;
      if (!error.empty() || indexed == 0 || now - indexed > half_retention) {
        index_put(in.view.id, mid, index_entry(recipient_jid(s.phone), zaap, !error.empty(), now));
      }
      if (hooked(in, Hook::delivery)) {
        json d{{"type", "DeliveryCallback"}, {"instanceId", in.view.id}, {"phone", s.phone}, {"zaapId", zaap}, {"messageId", mid}};
        if (!error.empty()) d["error"] = error;
        enqueue_event(in, Hook::delivery, d);
      }
      if (error.empty() && hooked(in, Hook::message_status)) {
        enqueue_event(in, Hook::message_status,
                      json{{"type", "MessageStatusCallback"}, {"instanceId", in.view.id}, {"status", "SENT"},
                           {"ids", json::array({mid})}, {"momment", now_ms()}, {"phoneDevice", 0},
                           {"phone", s.phone}, {"isGroup", is_group_jid(recipient_jid(s.phone))}});
      }
      in.next_send_at = std::chrono::steady_clock::now() + spacing(s);
    }
    pump(in);
  }

  // ---- the webhook outbox ----------------------------------------------------------------------------
  static std::string event_record(const Event& e) { return records::encode(e); }
  // An outbox or dead-letter record; nullopt when absent or unreadable.
  std::optional<Event> event_at(const std::string& id, Table t, const std::string& key) {
    auto v = read(id, t, key);
    if (!v) return std::nullopt;
    return records::decode_event_record(*v);
  }

  // Events are stored only when their webhook is set; the URL is looked up again at delivery time. An event
  // joins the instance's outbox once committed, so nothing is POSTed that a crash could take back.
  static bool hooked(const Inst& in, Hook h) { return !in.view.hooks[static_cast<std::size_t>(h)].empty(); }
  void enqueue_event(Inst& in, Hook h, const json& body) {
    if (!hooked(in, h)) return;
    const std::string key = seq_key(next_seq++);
    Event e{random_hex(16), static_cast<int>(h), body.dump(), 0, ""};
    write(in.view.id, Table::outbox, key, event_record(e));
    when_committed([this, id = in.view.id, key, e = std::move(e)]() mutable {
      Inst* i = find(id);
      if (i == nullptr) return;
      const bool keep = i->outbox.size() < kCachedEvents;
      i->outbox.push_back(Outgoing{key, keep ? std::optional<Event>(std::move(e)) : std::nullopt});
      deliver(*i);
    });
  }

  // Delivers the head of the outbox, one at a time per instance (so per chat, in order).
  void deliver(Inst& in) {
    if (in.delivering || in.outbox.empty() || stopping) return;
    Outgoing& head = in.outbox.front();
    const std::string key = head.key;
    if (!head.event) {
      head.event = event_at(in.view.id, Table::outbox, key);
    }
    if (!head.event) {  // gone or corrupt
      erase(in.view.id, Table::outbox, key);
      in.outbox.pop_front();
      return deliver(in);
    }
    const Event& e = *head.event;
    const int hook = e.hook;
    const std::string url = hook >= 0 && hook < static_cast<int>(kHookCount) ? in.view.hooks[static_cast<std::size_t>(hook)] : "";
    if (url.empty()) {  // the webhook was removed since: the event has nowhere to go
      erase(in.view.id, Table::outbox, key);
      in.outbox.pop_front();
      return deliver(in);
    }
    in.delivering = true;
    std::string body = e.body;
    webhook::Poster::Headers headers{{"X-Zapd-Event-Id", e.id}, {"X-Zapd-Attempt", std::to_string(e.attempts + 1)}};
    if (!opt.webhook_secret.empty()) {
      headers.emplace_back("X-Zapd-Signature", "sha256=" + to_hex(crypto::hmac_sha256(as_bytes(opt.webhook_secret), as_bytes(body))));
    }
    std::weak_ptr<bool> alive_w = alive;
    const std::string id = in.view.id;
    poster.post(url, std::move(body), std::move(headers), [this, alive_w, id, key](webhook::PostResult r) {
      if (!alive_w.lock()) return;
      Inst* i = find(id);
      if (i == nullptr) return;
      i->delivering = false;
      delivered(*i, key, r);
    });
  }

  void delivered(Inst& in, const std::string& key, const webhook::PostResult& r) {
    if (in.outbox.empty() || in.outbox.front().key != key || !in.outbox.front().event) return deliver(in);  // cleared meanwhile
    if (r.ok()) {
      erase(in.view.id, Table::outbox, key);  // the content goes with it
      in.outbox.pop_front();
      return deliver(in);
    }
    Event& e = *in.outbox.front().event;
    e.attempts += 1;
    e.error = r.status != 0 ? "HTTP " + std::to_string(r.status) : r.error;
    if (e.attempts >= opt.webhook_max_attempts) {
      write(in.view.id, Table::dead_letter, seq_key(in.next_dead_seq++), event_record(e));
      erase(in.view.id, Table::outbox, key);
      in.outbox.pop_front();
      return deliver(in);
    }
    write(in.view.id, Table::outbox, key, event_record(e));
    // Capped exponential backoff with jitter: uniform in [d/2, d], d = min(cap, base * 2^(attempts-1)).
    const double d = std::min<double>(static_cast<double>(opt.webhook_backoff_cap.count()),
                                      static_cast<double>(opt.webhook_backoff_base.count()) * std::pow(2.0, e.attempts - 1));
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    in.delivering = true;
    if (!in.retry_timer) in.retry_timer = std::make_unique<net::steady_timer>(ex);
    in.retry_timer->expires_after(std::chrono::milliseconds(static_cast<std::int64_t>(d * jitter(rng))));
    std::weak_ptr<bool> alive_w = alive;
    const std::string id = in.view.id;
    in.retry_timer->async_wait([this, alive_w, id](const boost::system::error_code&) {
      if (!alive_w.lock()) return;
      if (Inst* i = find(id)) {
        i->retry_timer.reset();
        i->delivering = false;
        deliver(*i);
      }
    });
  }
};

// ---- public API ----------------------------------------------------------------------------------------

Service::Service(net::any_io_executor ex, store::Store& gw, store::Store& keys, Options opt)
    : impl_(std::make_unique<Impl>(std::move(ex), gw, keys, std::move(opt))) {}

Service::~Service() { shutdown(); }

Status Service::start() {
  WA_TRY_STATUS(impl_->load());
  impl_->prune_media();
  impl_->start_index_prune();  // in slices, after every instance has started
  impl_->schedule_prune();
  impl_->heap_trim.start();
  return ok();
}

std::uint64_t Service::heap_trims() const { return impl_->heap_trim.trims(); }

void Service::shutdown() {
  if (impl_->stopping) return;
  impl_->stopping = true;
  (void)impl_->commit();  // what the last turn wrote (nothing waits on it any more but the store)
  if (impl_->prune_timer) impl_->prune_timer->cancel();
  impl_->heap_trim.stop();
  for (auto& [_, in] : impl_->insts) {
    if (in.send_timer) in.send_timer->cancel();
    if (in.retry_timer) in.retry_timer->cancel();
    for (auto& w : in.waiters) w.timer->cancel();
  }
  impl_->engine.shutdown();
  *impl_->alive = false;
  impl_->alive = std::make_shared<bool>(false);
}

Result<InstanceView> Service::create_instance(std::string name, const std::array<std::string, kHookCount>& hooks) {
  for (const auto& h : hooks) {
    if (h.empty()) continue;
    auto u = webhook::parse_url(h);
    if (!u || (!u->tls && !impl_->opt.webhook_allow_http)) return fail(errc::invalid_argument, "webhook URL");
  }
  InstanceView v;
  v.id = to_hex(crypto::random_bytes(16));
  for (auto& c : v.id) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  v.token = to_hex(crypto::random_bytes(12));
  for (auto& c : v.token) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  v.name = std::move(name);
  v.created_ms = now_ms();
  v.hooks = hooks;
  Impl::Inst& in = impl_->insts[v.id];
  in.view = v;
  if (auto st = impl_->save(in); !st) {
    impl_->insts.erase(v.id);
    return fail(st.error());
  }
  return v;
}

std::vector<const InstanceView*> Service::instances() const {
  std::vector<const InstanceView*> out;
  out.reserve(impl_->insts.size());
  for (const auto& [_, in] : impl_->insts) out.push_back(&in.view);
  // Oldest first; the id (the map's order) breaks ties, so pages are stable.
  std::stable_sort(out.begin(), out.end(), [](const auto* a, const auto* b) { return a->created_ms < b->created_ms; });
  return out;
}

Service::Counts Service::counts() const {
  Counts c;
  for (const auto& [_, in] : impl_->insts) {
    ++c.total;
    if (in.view.paired) ++c.paired;
    if (in.view.connected) ++c.connected;
    if (in.offline_drained) ++c.offline_drained;  // only ever set while connected (set_disconnected clears it)
  }
  return c;
}

std::optional<InstanceView> Service::authenticate(std::string_view id, std::string_view token) const {
  auto it = impl_->insts.find(std::string(id));
  // Compare against something of the same shape when the id is unknown, so both failures cost the same.
  static const std::string kNone(24, '\0');
  const std::string& expected = it == impl_->insts.end() ? kNone : it->second.view.token;
  const bool same = crypto::equal(std::string_view(expected), token);
  if (!same || it == impl_->insts.end()) return std::nullopt;
  return it->second.view;
}

Status Service::delete_instance(const std::string& id) {
  Impl::Inst* in = impl_->find(id);
  if (in == nullptr) return fail(errc::not_found, "instance");
  if (in->send_timer) in->send_timer->cancel();
  if (in->retry_timer) in->retry_timer->cancel();
  impl_->engine.stop(id);
  if (!impl_->commit()) return fail(errc::storage, "commit");
  auto st = impl_->gw.transaction([&]() -> Status {
    WA_TRY_STATUS(impl_->gw.remove("", Table::instance, id));
    // The message index (no content: ids, chats, statuses) is left to a prune pass, started below.
    for (Table t : {Table::send_queue, Table::outbox, Table::dead_letter}) WA_TRY_STATUS(impl_->gw.remove_prefix(id, t, ""));
    return ok();
  });
  if (!st) return storage_error(st.error());
  for (auto& w : in->waiters) w.timer->cancel();
  impl_->insts.erase(id);
  impl_->start_index_prune();  // takes its index entries
  if (!impl_->opt.media_dir.empty()) {  // its received files go with it
    std::error_code ec;
    std::filesystem::remove_all(std::filesystem::path(impl_->opt.media_dir) / id, ec);
  }
  // The engine's keys go too; it stopped the client first (posted), so wipe on the next turn.
  auto& keys = impl_->keys;
  net::post(impl_->ex, [&keys, id] { (void)keys.delete_device(id); });
  return ok();
}

void Service::qr(const std::string& id, PairingDone done) {
  Impl::Inst* in = impl_->find(id);
  if (in == nullptr) return done(fail(errc::not_found, "instance"));
  if (in->view.connected) return done(Pairing{true, {}});
  if (in->view.paired && in->running) return done(fail(errc::not_connected, "paired; reconnecting"));
  impl_->run(*in);
  if (!in->qr.empty()) return done(Pairing{false, in->qr});
  impl_->wait_pairing(*in, false, std::move(done));
}

void Service::phone_code(const std::string& id, std::string phone, PairingDone done) {
  Impl::Inst* in = impl_->find(id);
  if (in == nullptr) return done(fail(errc::not_found, "instance"));
  if (in->view.connected) return done(Pairing{true, {}});
  impl_->run(*in);
  in->code.clear();
  impl_->engine.pair_phone(id, std::move(phone));
  impl_->wait_pairing(*in, true, std::move(done));
}

Status Service::restart(const std::string& id) {
  Impl::Inst* in = impl_->find(id);
  if (in == nullptr) return fail(errc::not_found, "instance");
  const bool paired = in->view.paired;
  impl_->stop(*in);
  in->clear_inflight();
  if (paired) impl_->run(*in);
  return ok();
}

Status Service::disconnect(const std::string& id) {
  Impl::Inst* in = impl_->find(id);
  if (in == nullptr) return fail(errc::not_found, "instance");
  if (in->running) {
    impl_->engine.logout(id);
  } else {
    (void)impl_->keys.delete_device(id);
    in->view.paired = false;
  }
  return ok();
}

void Service::send(const std::string& id, Send s, SendDone done) { impl_->send(id, std::move(s), std::move(done)); }

Result<QueuePage> Service::queue(const std::string& id, std::size_t page_size, const std::string& cursor) const {
  Impl::Inst* in = impl_->find(id);
  if (in == nullptr) return fail(errc::not_found, "instance");
  QueuePage page;
  std::string last;
  bool more = false;
  for (const auto& key : in->queue) {
    if (!cursor.empty() && key <= cursor) continue;
    if (page.items.size() == page_size) {
      more = true;
      break;
    }
    auto j = impl_->queue_item(id, key);
    if (!j) continue;
    const Send& s = j->send;
    page.items.push_back(QueuedItem{j->zaap, j->mid, s.phone, s.message, kind_name(s.kind), s.delay_message, s.delay_typing, j->created});
    last = key;
  }
  if (more) page.next = last;
  return page;
}

Result<std::size_t> Service::queue_count(const std::string& id) const {
  Impl::Inst* in = impl_->find(id);
  if (in == nullptr) return fail(errc::not_found, "instance");
  return in->queue.size();
}

Status Service::queue_clear(const std::string& id) {
  Impl::Inst* in = impl_->find(id);
  if (in == nullptr) return fail(errc::not_found, "instance");
  // The message in flight is already with the engine: it stays (it will be reported as sent).
  // One transaction: the queue is cleared whole or not at all.
  Fifo<std::string> keep;
  auto st = impl_->gw.transaction([&]() -> Status {
    for (const auto& k : in->queue) {
      if (k == in->inflight_key) {
        keep.push_back(k);
        continue;
      }
      WA_TRY_STATUS(impl_->unqueue(id, k, Impl::mid_of(impl_->queue_item(id, k))));
    }
    return ok();
  });
  if (!st) return storage_error(st.error());
  in->queue = std::move(keep);
  return ok();
}

Status Service::queue_remove(const std::string& id, const std::string& zaap_id) {
  Impl::Inst* in = impl_->find(id);
  if (in == nullptr) return fail(errc::not_found, "instance");
  for (auto it = in->queue.begin(); it != in->queue.end(); ++it) {
    auto j = impl_->queue_item(id, *it);
    if (!j || j->zaap != zaap_id) continue;
    if (*it == in->inflight_key) return fail(errc::invalid_argument, "the message is being sent");
    const std::string mid = Impl::mid_of(j);
    if (auto st = impl_->gw.transaction([&] { return impl_->unqueue(id, *it, mid); }); !st) return storage_error(st.error());
    in->queue.erase(it);
    return ok();
  }
  return fail(errc::not_found, "queued message");
}

Status Service::set_hook(const std::string& id, Hook h, const std::string& url) {
  Impl::Inst* in = impl_->find(id);
  if (in == nullptr) return fail(errc::not_found, "instance");
  if (!url.empty()) {
    auto u = webhook::parse_url(url);
    if (!u) return fail(errc::invalid_argument, "not an http(s) URL");
    if (!u->tls && !impl_->opt.webhook_allow_http) return fail(errc::invalid_argument, "webhook URLs must be https");
  }
  in->view.hooks[static_cast<std::size_t>(h)] = url;
  WA_TRY_STATUS(impl_->save(*in));
  impl_->deliver(*in);
  return ok();
}

Status Service::set_notify_sent_by_me(const std::string& id, bool on) {
  Impl::Inst* in = impl_->find(id);
  if (in == nullptr) return fail(errc::not_found, "instance");
  in->view.notify_sent_by_me = on;
  return impl_->save(*in);
}

Result<std::vector<DeadLetter>> Service::dead_letters(const std::string& id) const {
  Impl::Inst* in = impl_->find(id);
  if (in == nullptr) return fail(errc::not_found, "instance");
  if (!impl_->commit()) return fail(errc::storage, "commit");
  auto ks = impl_->gw.keys(id, Table::dead_letter, "");
  if (!ks) return storage_error(ks.error());
  std::vector<DeadLetter> out;
  for (const auto& k : *ks) {
    auto found = impl_->event_at(id, Table::dead_letter, k);
    if (!found) continue;
    const int h = found->hook;
    out.push_back(DeadLetter{found->id, h >= 0 && h < static_cast<int>(kHookCount) ? kHookNames[static_cast<std::size_t>(h)] : "",
                             found->body, found->error, found->attempts});
  }
  return out;
}

void Service::group(const std::string& id, GroupRequest r, GroupDone done) { impl_->group(id, std::move(r), std::move(done)); }

void Service::set_public_url(std::string url) { impl_->opt.public_url = std::move(url); }

Result<MediaFile> Service::media_file(const std::string& instance, const std::string& name) const {
  // <32 lower-case hex>.<1-8 alphanumerics>: nothing else can name a file, so no path leaves the directory.
  const auto dot = name.find('.');
  const bool well_formed = dot == 32 && name.size() > 33 && name.size() <= 41 &&
                           std::all_of(name.begin(), name.begin() + 32, [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) && !std::isupper(static_cast<unsigned char>(c)); }) &&
                           std::all_of(name.begin() + 33, name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
  if (impl_->opt.media_dir.empty() || !well_formed || impl_->insts.find(instance) == impl_->insts.end()) {
    return fail(errc::not_found, "media");
  }
  const auto path = std::filesystem::path(impl_->opt.media_dir) / instance / name;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return fail(errc::not_found, "media");
  MediaFile out;
  out.path = path.string();
  out.mimetype = media::mimetype_for_extension(name.substr(33));
  return out;
}

Result<std::size_t> Service::replay_dead_letters(const std::string& id) {
  Impl::Inst* in = impl_->find(id);
  if (in == nullptr) return fail(errc::not_found, "instance");
  if (!impl_->commit()) return fail(errc::storage, "commit");
  auto ks = impl_->gw.keys(id, Table::dead_letter, "");
  if (!ks) return storage_error(ks.error());
  // Letters move to the outbox in transactions of up to 512 (a day of an unreachable endpoint leaves
  // thousands; one transaction each cost a commit each). A chunk moves whole or not at all.
  constexpr std::size_t kChunk = 512;
  std::size_t n = 0;
  for (std::size_t from = 0; from < ks->size(); from += kChunk) {
    const std::size_t to = std::min(ks->size(), from + kChunk);
    std::vector<std::string> moved;  // outbox keys, in order
    std::uint64_t seq = impl_->next_seq;
    auto st = impl_->gw.transaction([&]() -> Status {
      for (std::size_t i = from; i < to; ++i) {
        const std::string& k = (*ks)[i];
        auto found = impl_->event_at(id, Table::dead_letter, k);
        if (!found) continue;
        found->attempts = 0;
        const std::string s = Impl::event_record(*found);
        std::string okey = seq_key(seq++);
        WA_TRY_STATUS(impl_->gw.put(id, Table::outbox, okey, as_bytes(s)));
        WA_TRY_STATUS(impl_->gw.remove(id, Table::dead_letter, k));
        moved.push_back(std::move(okey));
      }
      return ok();
    });
    if (!st) {
      impl_->deliver(*in);  // what moved in earlier chunks
      return storage_error(st.error());
    }
    impl_->next_seq = seq;
    for (auto& okey : moved) in->outbox.push_back(Impl::Outgoing{std::move(okey), std::nullopt});
    n += moved.size();
  }
  impl_->deliver(*in);
  return n;
}

}  // namespace wa::service
