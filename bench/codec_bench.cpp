// SPDX-License-Identifier: MIT
// wa_bench_codec: Google Benchmark timings of the binary node codec (dictionaries 2 and 3) over a small set of
// realistic stanzas, and of the transport cipher (AES-256-GCM) per frame size. See docs/benchmarks.md.
//
//   wa_bench_codec [--benchmark_* flags]        the Google Benchmark suite
//   wa_bench_codec --corpus FILE --dict 2|3 [--warmup W] [--rounds R] [--reps K]
//       times encode_node and decode_node over a wa-oracle gen-nodes corpus (one JSON line per node, as
//       written by bench/codec_vs_baileys.mjs) and prints one JSON line:
//       {"encode_ns_per_node": median of K reps, "decode_ns_per_node": ..., ...}
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "node_json.hpp"
#include "wa/core/bytes.hpp"
#include "wa/core/jid.hpp"
#include "wa/noise/transport.hpp"
#include "wa/wire/codec.hpp"
#include "wa/wire/node.hpp"

namespace {

using namespace wa;
using wire::Attr;
using wire::Node;
using wire::NodeList;

// --- The stanza set ------------------------------------------------------------------------------------

Bytes random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

Jid user(std::string_view number) { return *Jid::make(number, Server::user); }
Jid device(std::string_view number, std::uint16_t dev) { return *Jid::make_device(number, Server::user, dev); }

Node enc(std::string type, std::size_t size, std::uint32_t seed) {
  return Node{"enc", {{"v", std::string("2")}, {"type", std::move(type)}}, random_bytes(size, seed)};
}

struct Stanza {
  std::string name;
  Node node;
};

std::vector<Stanza> stanzas() {
  std::vector<Stanza> out;

  // Outgoing 1:1 text message: one <enc> of about 200 bytes.
  out.push_back({"message_1to1",
                 Node{"message",
                      {{"id", std::string("3EB0C431B4A9A3D1F2E6")}, {"to", user("5511987654321")},
                       {"type", std::string("text")}},
                      NodeList{enc("msg", 200, 1)}}});

  // Group message: sender-key <enc> plus a <participants> fan-out of 5 pkmsg/msg copies.
  NodeList participants;
  for (std::uint16_t i = 0; i < 5; ++i) {
    participants.push_back(Node{"to",
                                {{"jid", device("55119876543" + std::to_string(10 + i), static_cast<std::uint16_t>(i % 3))}},
                                NodeList{enc(i % 2 == 0 ? "pkmsg" : "msg", i % 2 == 0 ? 340 : 200, 10u + i)}});
  }
  out.push_back({"message_group5",
                 Node{"message",
                      {{"id", std::string("3EB0F9E8D7C6B5A49382")}, {"to", *Jid::make("120363041234567890", Server::group)},
                       {"type", std::string("text")}},
                      NodeList{Node{"participants", {}, std::move(participants)}, enc("skmsg", 150, 2)}}});

  // Read receipt.
  out.push_back({"receipt",
                 Node{"receipt",
                      {{"id", std::string("3EB0C431B4A9A3D1F2E6")}, {"to", user("5511987654321")},
                       {"type", std::string("read")}, {"t", std::string("1764028800")}},
                      {}}});

  // Keep-alive ping.
  out.push_back({"iq_ping",
                 Node{"iq",
                      {{"id", std::string("64872.12345-7")}, {"to", Jid::server_jid()}, {"type", std::string("get")},
                       {"xmlns", std::string("w:p")}},
                      NodeList{Node{"ping", {}, {}}}}});

  // usync device query for 20 users.
  NodeList users;
  for (int i = 0; i < 20; ++i) users.push_back(Node{"user", {{"jid", user("5511900000" + std::to_string(100 + i * 37))}}, {}});
  out.push_back(
      {"iq_usync20",
       Node{"iq",
            {{"id", std::string("64872.12345-8")}, {"to", Jid::server_jid()}, {"type", std::string("get")},
             {"xmlns", std::string("usync")}},
            NodeList{Node{"usync",
                          {{"sid", std::string("1764028800123-1234567890-3")}, {"mode", std::string("query")},
                           {"last", std::string("true")}, {"index", std::string("0")}, {"context", std::string("message")}},
                          NodeList{Node{"query", {}, NodeList{Node{"devices", {{"version", std::string("2")}}, {}}}},
                                   Node{"list", {}, std::move(users)}}}}}});

  // A 64 KiB binary payload (a large <enc>, as a media-heavy or history-sync stanza carries).
  out.push_back({"binary_64k",
                 Node{"message",
                      {{"id", std::string("3EB0A1B2C3D4E5F60718")}, {"to", user("5511987654321")},
                       {"type", std::string("media")}},
                      NodeList{enc("msg", 64 * 1024, 3)}}});
  return out;
}

Bytes encode_or_die(const Node& n, wire::Dict dict) {
  Bytes out;
  auto st = wire::encode_node(n, dict, out);
  if (!st) {
    std::cerr << "encode failed: " << st.error().message() << "\n";
    std::exit(1);
  }
  return out;
}

void bm_encode(benchmark::State& state, const Node& node, wire::Dict dict) {
  const std::size_t size = encode_or_die(node, dict).size();
  for (auto _ : state) {
    Bytes out;  // a fresh buffer per stanza, as the sender builds one per frame
    auto st = wire::encode_node(node, dict, out);
    benchmark::DoNotOptimize(st);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
  state.counters["bytes_per_node"] = static_cast<double>(size);
}

void bm_decode(benchmark::State& state, const Node& node, wire::Dict dict) {
  const Bytes encoded = encode_or_die(node, dict);
  if (auto check = wire::decode_node(encoded, dict); !check || *check != node) {
    state.SkipWithError("decode does not round-trip");
    return;
  }
  for (auto _ : state) {
    auto n = wire::decode_node(encoded, dict);
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(encoded.size()));
  state.counters["bytes_per_node"] = static_cast<double>(encoded.size());
}

// --- Transport frames ---------------------------------------------------------------------------------

SecretArray<32> bench_key() {
  const Bytes k = random_bytes(32, 99);
  return SecretArray<32>(k);
}

void bm_frame_encrypt(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const Bytes plain = random_bytes(size, 7);
  const auto key = bench_key();
  noise::TransportCipher cipher(key);
  for (auto _ : state) {
    if (cipher.counter() >= 0xFFFFFFF0u) cipher = noise::TransportCipher(key);  // never in practice
    auto c = cipher.encrypt(plain);
    if (!c) {
      state.SkipWithError("encrypt failed");
      break;
    }
    benchmark::DoNotOptimize(c->data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}

void bm_frame_decrypt(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const Bytes plain = random_bytes(size, 7);
  const auto key = bench_key();
  // The receiver's counter must match the sender's: pre-encrypt a ring of frames (about 4 MiB) and restart
  // the receiving cipher whenever the ring wraps.
  const std::size_t ring = std::clamp<std::size_t>((4u << 20) / size, 16, 1024);
  std::vector<Bytes> frames;
  noise::TransportCipher sender(key);
  for (std::size_t i = 0; i < ring; ++i) frames.push_back(*sender.encrypt(plain));
  noise::TransportCipher receiver(key);
  std::size_t i = 0;
  for (auto _ : state) {
    if (i == ring) {
      i = 0;
      receiver = noise::TransportCipher(key);
    }
    auto p = receiver.decrypt(frames[i++]);
    if (!p) {
      state.SkipWithError("decrypt failed");
      break;
    }
    benchmark::DoNotOptimize(p->data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}

// --- Corpus mode (codec_vs_baileys.sh) ----------------------------------------------------------------

std::string arg(const std::vector<std::string>& args, const std::string& name, const std::string& def) {
  for (std::size_t k = 0; k + 1 < args.size(); ++k) {
    if (args[k] == name) return args[k + 1];
  }
  return def;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

int corpus_mode(const std::vector<std::string>& args) {
  const std::string path = arg(args, "--corpus", "");
  const wire::Dict dict = arg(args, "--dict", "3") == "2" ? wire::Dict::v2 : wire::Dict::v3;
  const long warmup = std::stol(arg(args, "--warmup", "2"));
  const long rounds = std::stol(arg(args, "--rounds", "10"));
  const long reps = std::stol(arg(args, "--reps", "5"));
  if (warmup < 0 || rounds < 1 || reps < 1) {
    std::cerr << "--warmup >= 0, --rounds >= 1, --reps >= 1\n";
    return 2;
  }

  std::ifstream in(path);
  if (!in) {
    std::cerr << "cannot read corpus " << path << "\n";
    return 2;
  }
  std::vector<Node> nodes;
  std::vector<Bytes> encoded;
  std::size_t total_bytes = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    auto node = oracle::node_from_json(j.at("node"));
    auto bytes = from_hex(j.at("hex").get<std::string>());
    if (!node || !bytes) {
      std::cerr << "bad corpus line " << nodes.size() + 1 << "\n";
      return 1;
    }
    // The corpus must be ours for this dictionary: re-encoding gives the same bytes.
    Bytes check;
    if (!wire::encode_node(*node, dict, check) || check != *bytes) {
      std::cerr << "corpus line " << nodes.size() + 1 << " does not re-encode to its hex (wrong --dict?)\n";
      return 1;
    }
    total_bytes += bytes->size();
    nodes.push_back(std::move(*node));
    encoded.push_back(std::move(*bytes));
  }
  if (nodes.empty()) {
    std::cerr << "empty corpus\n";
    return 1;
  }

  using Clock = std::chrono::steady_clock;
  auto encode_round = [&] {
    for (const auto& n : nodes) {
      Bytes out;
      auto st = wire::encode_node(n, dict, out);
      benchmark::DoNotOptimize(st);
      benchmark::DoNotOptimize(out.data());
      benchmark::ClobberMemory();
    }
  };
  auto decode_round = [&] {
    for (const auto& e : encoded) {
      auto n = wire::decode_node(e, dict);
      benchmark::DoNotOptimize(n);
    }
  };
  auto time_per_node = [&](auto&& round) {
    for (long w = 0; w < warmup; ++w) round();
    std::vector<double> per_node;
    for (long r = 0; r < reps; ++r) {
      const auto t0 = Clock::now();
      for (long k = 0; k < rounds; ++k) round();
      const auto ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
      per_node.push_back(ns / static_cast<double>(rounds) / static_cast<double>(nodes.size()));
    }
    return per_node;
  };
  const auto enc_ns = time_per_node(encode_round);
  const auto dec_ns = time_per_node(decode_round);

  const nlohmann::json result{
      {"side", "zapd"},
      {"dict", static_cast<int>(dict)},
      {"nodes", nodes.size()},
      {"bytes", total_bytes},
      {"warmup", warmup},
      {"rounds", rounds},
      {"reps", reps},
      {"encode_ns_per_node", median(enc_ns)},
      {"decode_ns_per_node", median(dec_ns)},
      {"encode_ns_per_node_min", *std::min_element(enc_ns.begin(), enc_ns.end())},
      {"decode_ns_per_node_min", *std::min_element(dec_ns.begin(), dec_ns.end())},
  };
  std::cout << result.dump() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (std::find(args.begin(), args.end(), "--corpus") != args.end()) return corpus_mode(args);

  // Registered here, not with BENCHMARK(), so the stanzas are built once and named per dictionary.
  static const std::vector<Stanza> set = stanzas();
  for (const auto dict : {wire::Dict::v2, wire::Dict::v3}) {
    const std::string d = dict == wire::Dict::v2 ? "dict2" : "dict3";
    for (const auto& s : set) {
      benchmark::RegisterBenchmark(("encode/" + d + "/" + s.name).c_str(), bm_encode, std::cref(s.node), dict);
    }
    for (const auto& s : set) {
      benchmark::RegisterBenchmark(("decode/" + d + "/" + s.name).c_str(), bm_decode, std::cref(s.node), dict);
    }
  }
  benchmark::RegisterBenchmark("frame_encrypt", bm_frame_encrypt)->Arg(64)->Arg(1024)->Arg(64 * 1024);
  benchmark::RegisterBenchmark("frame_decrypt", bm_frame_decrypt)->Arg(64)->Arg(1024)->Arg(64 * 1024);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
