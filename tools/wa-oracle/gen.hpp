// SPDX-License-Identifier: MIT
// Random binary nodes for the codec parity test, restricted to what Baileys represents faithfully
// (docs/testing.md lists the restrictions and why).
#pragma once

#include <cstdint>
#include <random>

#include "wa/wire/dictionary.hpp"
#include "wa/wire/node.hpp"

namespace wa::oracle {

struct GeneratedNode {
  wire::Node node;
  bool exact = true;  ///< bytes must equal Baileys' encoding, and Baileys' encoding must decode back to node
};

class NodeGenerator final {
 public:
  NodeGenerator(wire::Dict dict, std::uint64_t seed) : dict_(dict), rng_(seed) {}
  GeneratedNode next(std::size_t index);

 private:
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(rng_() % n); }
  bool chance(unsigned percent) { return below(100) < percent; }
  std::string token();
  std::string string(bool allow_empty);
  std::string key();
  Jid jid();
  wire::Node node(std::size_t depth);

  wire::Dict dict_;
  std::mt19937_64 rng_;
  bool exact_ = true;
  bool big_ = false;
};

}  // namespace wa::oracle
