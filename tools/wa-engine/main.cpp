// SPDX-License-Identifier: MIT
// wa-engine: engine clients driven by commands on stdin, events as JSON lines on stdout.
//   wa-engine --db PATH [--url ws://127.0.0.1:PORT/ws/chat] [--root HEX] [--tls-ca FILE] [--qr-png]
//             [--keepalive-ms N] [--keepalive-timeout-ms N] [--backoff-ms N] [--backoff-cap-ms N]
//             [--threads N] [--connect-slots N] [--all] [--iq-timeout-ms N] [--qr-first-ms N] [--qr-next-ms N]
//             [--signed-prekey-lifetime-s N]
// Commands: start ID | start-range PREFIX N | pair-phone ID PHONE | stop ID | devices | quit
//           send ID TO MSGID BASE64TEXT | receipt ID CHAT FROM TYPE ID1,ID2,... | inbox-done ID KEY
//           presence ID available|unavailable | subscribe ID JID | chatstate ID TO composing|recording|paused
// Message events are marked taken (Engine::inbox_done) once printed, unless --keep-inbox.
// Events:   {"device":ID,"event":KIND,"text":...,"lid":...,"code":N,"count":N[,"png":BASE64]}
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>

#include "wa/protocol/engine.hpp"
#include "wa/qr/qr.hpp"
#include "wa/store_sqlite/sqlite_store.hpp"

namespace {

std::mutex out_mu;
void print(const nlohmann::json& j) {
  std::lock_guard lock(out_mu);
  std::cout << j.dump() << std::endl;
}

int usage(const std::string& why) {
  std::cerr << "wa-engine: " << why << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string db;
  bool qr_png = false;
  bool all = false;
  bool keep_inbox = false;
  unsigned threads = 1;
  std::size_t connect_slots = wa::protocol::Engine::kDefaultConnectSlots;
  wa::protocol::ClientConfig cfg;
  cfg.url = "ws://127.0.0.1:8080/ws/chat";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "wa-engine: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    auto ms = [&] { return std::chrono::milliseconds(std::stoll(value())); };
    if (a == "--db") db = value();
    else if (a == "--url") cfg.url = value();
    else if (a == "--root") {
      auto k = wa::from_hex(value());
      if (!k || k->size() != 32) return usage("--root needs 64 hex digits");
      std::copy(k->begin(), k->end(), cfg.trusted_root.begin());
    } else if (a == "--tls-ca") {
      std::ifstream f(value());
      std::stringstream ss;
      ss << f.rdbuf();
      cfg.extra_ca_pem = ss.str();
    } else if (a == "--qr-png") qr_png = true;
    else if (a == "--all") all = true;
    else if (a == "--keep-inbox") keep_inbox = true;
    else if (a == "--threads") threads = static_cast<unsigned>(std::stoul(value()));
    else if (a == "--connect-slots") connect_slots = std::stoul(value());
    else if (a == "--keepalive-ms") cfg.keepalive_interval = ms();
    else if (a == "--keepalive-timeout-ms") cfg.keepalive_timeout = ms();
    else if (a == "--backoff-ms") cfg.backoff_base = ms();
    else if (a == "--backoff-cap-ms") cfg.backoff_cap = ms();
    else if (a == "--iq-timeout-ms") cfg.iq_timeout = ms();
    else if (a == "--qr-first-ms") cfg.qr_first = ms();
    else if (a == "--qr-next-ms") cfg.qr_next = ms();
    else if (a == "--signed-prekey-lifetime-s") cfg.signed_prekey_lifetime = std::chrono::seconds(std::stoll(value()));
    else return usage("unknown flag " + a);
  }
  if (db.empty()) return usage("--db is required");
  auto store = wa::store_sqlite::SqliteStore::open(db);
  if (!store) return usage("cannot open " + db + ": " + store.error().context());

  wa::protocol::Engine engine(**store, threads, connect_slots);
  auto sink = [qr_png, keep_inbox, &engine](const std::string& device, const wa::protocol::Event& e) {
    nlohmann::json j{{"device", device}, {"event", wa::protocol::to_string(e.kind)}, {"text", e.text}};
    if (!e.lid.empty()) j["lid"] = e.lid;
    if (e.code != 0) j["code"] = e.code;
    if (e.count != 0) j["count"] = e.count;
    if (!e.id.empty()) j["id"] = e.id;
    if (e.ids.size() > 1) j["ids"] = e.ids;
    if (!e.from.empty()) j["from"] = e.from;
    if (!e.chat.empty()) j["chat"] = e.chat;
    if (!e.type.empty()) j["type"] = e.type;
    if (!e.push_name.empty()) j["push_name"] = e.push_name;
    if (e.timestamp != 0) j["timestamp"] = e.timestamp;
    if (e.from_me) j["from_me"] = true;
    if (!e.inbox_key.empty()) j["inbox_key"] = e.inbox_key;
    if (!e.fields.empty()) {
      nlohmann::json f = nlohmann::json::object();
      for (const auto& [k, v] : e.fields) f[k] = v;
      j["fields"] = f;
    }
    if (e.kind == wa::protocol::EventKind::message) {
      // The text as base64 too, so that tests compare bytes exactly.
      j["text_b64"] = wa::to_base64(wa::as_bytes(e.text));
    }
    if (qr_png && e.kind == wa::protocol::EventKind::qr) {
      if (auto png = wa::qr::render_png(e.text)) j["png"] = wa::to_base64(*png);
    }
    print(j);
    if (e.kind == wa::protocol::EventKind::message && !keep_inbox) engine.inbox_done(device, e.inbox_key);
  };
  if (all) {
    auto ids = (*store)->device_ids();
    if (!ids) return usage("cannot list devices: " + ids.error().context());
    for (const auto& id : *ids) engine.start(id, cfg, sink);
    print({{"event", "started"}, {"count", ids->size()}});
  }
  print({{"event", "ready"}});
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd, id;
    in >> cmd >> id;
    if (cmd == "start" && !id.empty()) {
      engine.start(id, cfg, sink);
    } else if (cmd == "start-range" && !id.empty()) {
      std::size_t n = 0;
      in >> n;
      for (std::size_t k = 0; k < n; ++k) engine.start(id + std::to_string(k), cfg, sink);
    } else if (cmd == "pair-phone" && !id.empty()) {
      std::string phone;
      in >> phone;
      engine.pair_phone(id, phone);
    } else if (cmd == "send" && !id.empty()) {
      std::string to, msg_id, b64;
      in >> to >> msg_id >> b64;
      auto text = wa::from_base64(b64);
      if (!text) {
        print({{"event", "bad_command"}, {"text", "send: text is not base64"}});
        continue;
      }
      engine.send_text(id, to, std::string(wa::as_chars(*text)), msg_id);
    } else if (cmd == "receipt" && !id.empty()) {
      std::string chat, from, type, list;
      in >> chat >> from >> type >> list;
      std::vector<std::string> ids;
      for (std::size_t at = 0; at <= list.size();) {
        const auto comma = list.find(',', at);
        ids.push_back(list.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
        if (comma == std::string::npos) break;
        at = comma + 1;
      }
      engine.send_receipt(id, chat, from, ids, type);
    } else if (cmd == "presence" && !id.empty()) {
      std::string type;
      in >> type;
      engine.send_presence(id, type);
    } else if (cmd == "subscribe" && !id.empty()) {
      std::string jid;
      in >> jid;
      engine.subscribe_presence(id, jid);
    } else if (cmd == "chatstate" && !id.empty()) {
      std::string to, state;
      in >> to >> state;
      engine.send_chatstate(id, to, state);
    } else if (cmd == "inbox-done" && !id.empty()) {
      std::string key;
      in >> key;
      engine.inbox_done(id, key);
    } else if (cmd == "stop" && !id.empty()) {
      engine.stop(id);
    } else if (cmd == "devices") {
      print({{"event", "devices"}, {"count", engine.client_count()}, {"tls_contexts", engine.tls_contexts()},
             {"config_copies", engine.config_copies()}, {"qr_loops", engine.qr_loops()},
             {"connect_peak", engine.connect_peak()}, {"parked", engine.parked_connections()}});
    } else if (cmd == "quit") {
      break;
    } else if (!cmd.empty()) {
      print({{"event", "bad_command"}, {"text", line}});
    }
  }
  const std::size_t unfinished = engine.shutdown();
  print({{"event", "bye"}, {"unfinished", unfinished}});
  return 0;
}
