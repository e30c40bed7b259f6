// SPDX-License-Identifier: MIT
// Private: the raw token tables (tokens_v2.cpp, tokens_v3.cpp).
#pragma once

#include <array>
#include <span>
#include <string_view>

namespace wa::wire::detail {

struct TokenTable {
  int version;
  std::span<const std::string_view> single;                 // index 0 is "" and never used as a token
  std::array<std::span<const std::string_view>, 4> doubles;  // dictionaries 0..3 (tags 236..239)
};

extern const TokenTable kTokensV2;
extern const TokenTable kTokensV3;

}  // namespace wa::wire::detail
