// SPDX-License-Identifier: MIT
// wa-oracle: the C++ side of the oracle tests (tests/oracle). Line-oriented JSON over stdin/stdout so a
// Node.js script can drive our codecs against Baileys' own:
//   gen-nodes --dict D --count N --seed S   random nodes + our encoding, one JSON line each
//   decode-nodes --dict D                   hex lines in, {"node"} or {"error"} lines out
//   noise-responder --dict D                our Noise responder behind a line protocol (see noise_responder below)
//   media-encrypt TYPE KEYHEX IN OUT        prints {"fileSha256","fileEncSha256","fileLength"} (hex)
//   media-decrypt TYPE KEYHEX IN OUT [SHA256HEX ENCSHA256HEX]
//   signal-peer                             a Signal device (wa_signal) driven by JSON commands, see below
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "gen.hpp"
#include "node_json.hpp"
#include "wa.pb.h"
#include "wa/crypto/crypto.hpp"
#include "wa/crypto/media.hpp"
#include "wa/noise/handshake.hpp"
#include "wa/signal/protocol.hpp"
#include "wa/wire/codec.hpp"
#include "wa/wire/frame.hpp"

namespace {

using nlohmann::json;
using namespace wa;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string arg(const std::vector<std::string>& args, const std::string& name, const std::string& def) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == name) return args[i + 1];
  }
  return def;
}

wire::Dict dict_arg(const std::vector<std::string>& args) {
  return arg(args, "--dict", "3") == "2" ? wire::Dict::v2 : wire::Dict::v3;
}

int gen_nodes(const std::vector<std::string>& args) {
  const auto dict = dict_arg(args);
  const std::size_t count = std::stoul(arg(args, "--count", "100"));
  oracle::NodeGenerator gen(dict, std::stoull(arg(args, "--seed", "1")));
  for (std::size_t i = 0; i < count; ++i) {
    auto g = gen.next(i);
    Bytes out;
    auto st = wire::encode_node(g.node, dict, out);
    if (!st) {
      std::cerr << "encode failed: " << st.error().message() << "\n";
      return 1;
    }
    std::cout << dump(json{{"node", oracle::node_to_json(g.node)}, {"hex", to_hex(out)}, {"exact", g.exact}}) << "\n";
  }
  return 0;
}

int decode_nodes(const std::vector<std::string>& args) {
  const auto dict = dict_arg(args);
  std::string line;
  while (std::getline(std::cin, line)) {
    auto bytes = from_hex(line);
    if (!bytes) {
      std::cout << dump(json{{"error", bytes.error().message()}}) << "\n";
      continue;
    }
    auto node = wire::decode_node(*bytes, dict);
    if (node) {
      std::cout << dump(json{{"node", oracle::node_to_json(*node)}}) << "\n";
    } else {
      std::cout << dump(json{{"error", node.error().message()}}) << "\n";
    }
  }
  return 0;
}

json client_payload_json(const Bytes& bytes) {
  pb::ClientPayload p;
  if (!p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return json{{"parse_error", true}};
  json j{{"passive", p.passive()}, {"pull", p.pull()}, {"has_username", p.has_username()},
         {"username", p.username()}, {"device", p.device()}, {"connectType", static_cast<int>(p.connecttype())},
         {"connectReason", static_cast<int>(p.connectreason())},
         {"has_pairing_data", p.has_devicepairingdata()}};
  if (p.has_useragent()) {
    const auto& ua = p.useragent();
    j["userAgent"] = {{"platform", static_cast<int>(ua.platform())},
                      {"version", std::to_string(ua.appversion().primary()) + "." +
                                      std::to_string(ua.appversion().secondary()) + "." +
                                      std::to_string(ua.appversion().tertiary())}};
  }
  return j;
}

// Line protocol: stdin lines are hex chunks of what the client wrote to its socket; every frame we
// process answers one JSON line: {"out": hex of bytes to deliver to the client, ...details}.
int noise_responder(const std::vector<std::string>& args) {
  const auto root = crypto::KeyPair::generate();
  const auto inter = crypto::KeyPair::generate();
  const auto server_static = crypto::KeyPair::generate();
  const std::uint64_t now = static_cast<std::uint64_t>(std::time(nullptr));
  noise::CertSpec inter_spec{1, 0, inter.pub, now - 86400, now + 86400 * 365};
  noise::CertSpec leaf_spec{2, 1, server_static.pub, now - 86400, now + 86400 * 30};
  if (arg(args, "--bad-issuer", "0") == "1") inter_spec.issuer_serial = 5;
  auto chain = noise::build_cert_chain(root.priv, inter_spec, inter.priv, leaf_spec);
  if (!chain) return 1;
  std::cout << dump(json{{"root", to_hex(root.pub)}, {"chain", to_hex(*chain)}}) << std::endl;

  wire::FrameReader reader(wire::FrameReader::Role::server);
  std::optional<noise::Responder> responder;
  std::optional<noise::CipherPair> ciphers;
  int stage = 0;
  std::string line;
  auto reply_error = [](const Error& e) { std::cout << dump(json{{"error", e.message()}}) << std::endl; };
  while (std::getline(std::cin, line)) {
    auto chunk = from_hex(line);
    if (!chunk || !reader.feed(*chunk)) {
      std::cout << dump(json{{"error", "bad chunk"}}) << std::endl;
      return 1;
    }
    for (;;) {
      auto frame = reader.next();
      if (!frame) return 1;
      if (!*frame) break;
      const Bytes& f = **frame;
      Bytes out;
      if (stage == 0) {
        responder.emplace(noise::ResponderConfig{server_static, *chain, std::nullopt}, *reader.dict());
        auto hello = responder->on_client_hello(f);
        if (!hello) { reply_error(hello.error()); return 1; }
        (void)wire::append_frame(out, *hello);
        std::cout << dump(json{{"out", to_hex(out)}, {"dict", static_cast<int>(*reader.dict())}}) << std::endl;
        stage = 1;
      } else if (stage == 1) {
        auto payload = responder->on_client_finish(f);
        if (!payload) { reply_error(payload.error()); return 1; }
        ciphers = *responder->finish();
        std::cout << dump(json{{"out", ""}, {"client_payload", client_payload_json(*payload)},
                               {"client_static", to_hex(responder->client_static())}})
                  << std::endl;
        stage = 2;
      } else {
        auto plain = ciphers->recv.decrypt(f);
        if (!plain) { reply_error(plain.error()); return 1; }
        auto node = wire::decode_payload(*plain, *reader.dict());
        if (!node) { reply_error(node.error()); continue; }
        // Echo the node back, encrypted, so the client decodes our encoding of what it sent.
        auto payload = wire::encode_payload(*node, *reader.dict());
        auto enc = ciphers->send.encrypt(*payload);
        (void)wire::append_frame(out, *enc);
        std::cout << dump(json{{"out", to_hex(out)}, {"node", oracle::node_to_json(*node)}}) << std::endl;
      }
    }
  }
  return 0;
}

std::optional<Bytes> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return Bytes(std::istreambuf_iterator<char>(in), {});
}
bool write_file(const std::string& path, ByteView b) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  return static_cast<bool>(out);
}

int media(bool encrypt, const std::vector<std::string>& a) {
  if (a.size() < 5) return 2;
  auto type = crypto::media_type_from_name(a[1]);
  auto key = from_hex(a[2]);
  auto in = read_file(a[3]);
  if (!type || !key || !in) {
    std::cerr << "bad media arguments\n";
    return 2;
  }
  if (encrypt) {
    auto m = crypto::encrypt_media(*in, *key, *type);
    if (!m || !write_file(a[4], m->body)) return 1;
    std::cout << dump(json{{"fileSha256", to_hex(m->file_sha256)}, {"fileEncSha256", to_hex(m->file_enc_sha256)},
                           {"fileLength", m->file_length}})
              << "\n";
    return 0;
  }
  crypto::MediaDigests d;
  if (a.size() >= 7) {
    auto s = from_hex(a[5]);
    auto e = from_hex(a[6]);
    if (!s || !e || s->size() != 32 || e->size() != 32) return 2;
    d.file_sha256.emplace();
    d.file_enc_sha256.emplace();
    std::copy(s->begin(), s->end(), d.file_sha256->begin());
    std::copy(e->begin(), e->end(), d.file_enc_sha256->begin());
  }
  auto plain = crypto::decrypt_media(*in, *key, *type, d);
  if (!plain) {
    std::cout << dump(json{{"error", plain.error().message()}}) << "\n";
    return 1;
  }
  if (!write_file(a[4], *plain)) return 1;
  std::cout << dump(json{{"ok", true}}) << "\n";
  return 0;
}

// signal-peer: one Signal device with a signed prekey (id 1) and one-time prekeys 1..5. One JSON command per
// line, one JSON answer per line (keys hex; addresses as "name" + "device"):
//   {"cmd":"bundle"} -> our bundle; {"cmd":"process_bundle","name","device","bundle":{...}}
//   {"cmd":"encrypt"|"decrypt","name","device",("plaintext"|"type","data")}
//   {"cmd":"skdm"|"process_skdm"|"group_encrypt"|"group_decrypt","group","name","device",...}
int signal_peer() {
  signal::MemoryStore store(crypto::KeyPair::generate(), 4242);
  const auto spk = crypto::KeyPair::generate();
  const auto sig = *crypto::sign(store.identity().priv, crypto::signal_public(spk.pub));
  store.store_signed_prekey(1, signal::signed_prekey_record(1, spk, sig, 1700000000000));
  std::vector<crypto::KeyPair> prekeys;
  for (std::uint32_t id = 1; id <= 5; ++id) {
    prekeys.push_back(crypto::KeyPair::generate());
    store.store_prekey(id, signal::prekey_record(id, prekeys.back()));
  }
  signal::SignalProtocol proto(store);
  auto key32 = [](const json& j) {
    crypto::PublicKey k{};
    auto b = from_hex(j.get<std::string>());
    if (b && b->size() == 33) b->erase(b->begin());  // accept 05-prefixed keys too
    if (b && b->size() == 32) std::copy(b->begin(), b->end(), k.begin());
    return k;
  };
  auto hex_arg = [](const json& j, const char* k) { return *from_hex(j.at(k).get<std::string>()); };
  std::string line;
  while (std::getline(std::cin, line)) {
    json out;
    try {
      const json in = json::parse(line);
      const std::string cmd = in.at("cmd");
      signal::Address peer{in.value("name", ""), in.value("device", 0u)};
      const std::string group = in.value("group", "");
      auto put = [&](const Result<Bytes>& r, const char* key) {
        if (r) out[key] = to_hex(*r);
        else out["error"] = r.error().message();
      };
      if (cmd == "bundle") {
        out = {{"registrationId", store.registration_id()},
               {"identity", to_hex(store.identity().pub)},
               {"signedPreKey", {{"id", 1}, {"public", to_hex(spk.pub)}, {"signature", to_hex(sig)}}},
               {"preKey", {{"id", 1}, {"public", to_hex(prekeys[0].pub)}}}};
      } else if (cmd == "process_bundle") {
        const json& b = in.at("bundle");
        signal::PreKeyBundle bundle;
        bundle.registration_id = b.at("registrationId");
        bundle.device = peer.device;
        bundle.identity = key32(b.at("identity"));
        bundle.signed_prekey_id = b.at("signedPreKey").at("id");
        bundle.signed_prekey = key32(b.at("signedPreKey").at("public"));
        auto s = *from_hex(b.at("signedPreKey").at("signature").get<std::string>());
        std::copy_n(s.begin(), std::min<std::size_t>(64, s.size()), bundle.signed_prekey_signature.begin());
        if (b.contains("preKey")) {
          bundle.prekey_id = b.at("preKey").at("id").get<std::uint32_t>();
          bundle.prekey = key32(b.at("preKey").at("public"));
        }
        auto st = proto.process_bundle(peer, bundle);
        out = st ? json{{"ok", true}} : json{{"error", st.error().message()}};
      } else if (cmd == "encrypt") {
        auto c = proto.encrypt(peer, hex_arg(in, "plaintext"));
        if (c) out = {{"type", c->type == signal::MessageType::pkmsg ? "pkmsg" : "msg"}, {"data", to_hex(c->data)}};
        else out = {{"error", c.error().message()}};
      } else if (cmd == "decrypt") {
        const auto type = in.at("type") == "pkmsg" ? signal::MessageType::pkmsg : signal::MessageType::msg;
        put(proto.decrypt(peer, type, hex_arg(in, "data")), "plaintext");
      } else if (cmd == "skdm") {
        put(proto.sender_key_distribution(group, peer), "data");
      } else if (cmd == "process_skdm") {
        auto st = proto.process_sender_key_distribution(group, peer, hex_arg(in, "data"));
        out = st ? json{{"ok", true}} : json{{"error", st.error().message()}};
      } else if (cmd == "group_encrypt") {
        put(proto.group_encrypt(group, peer, hex_arg(in, "plaintext")), "data");
      } else if (cmd == "group_decrypt") {
        put(proto.group_decrypt(group, peer, hex_arg(in, "data")), "plaintext");
      } else {
        out = {{"error", "unknown command"}};
      }
    } catch (const std::exception& e) {
      out = {{"error", std::string("bad command: ") + e.what()}};
    }
    std::cout << dump(out) << std::endl;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << "usage: wa-oracle gen-nodes|decode-nodes|noise-responder|media-encrypt|media-decrypt ...\n";
    return 2;
  }
  const std::string cmd = args[0];
  if (cmd == "gen-nodes") return gen_nodes(args);
  if (cmd == "decode-nodes") return decode_nodes(args);
  if (cmd == "noise-responder") return noise_responder(args);
  if (cmd == "media-encrypt") return media(true, args);
  if (cmd == "media-decrypt") return media(false, args);
  if (cmd == "signal-peer") return signal_peer();
  std::cerr << "unknown command " << cmd << "\n";
  return 2;
}
