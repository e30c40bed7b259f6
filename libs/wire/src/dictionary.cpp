// SPDX-License-Identifier: MIT
// Token lookup tables built once per dictionary.
#include "wa/wire/dictionary.hpp"

#include <unordered_map>

#include "tokens.hpp"

namespace wa::wire {
namespace {

class Index final {
 public:
  explicit Index(const detail::TokenTable& t) : table_(t) {
    map_.reserve(t.single.size() + 4 * 256);
    for (std::size_t i = 1; i < t.single.size(); ++i) map_.emplace(t.single[i], TokenRef{-1, static_cast<std::uint8_t>(i)});
    for (std::size_t d = 0; d < t.doubles.size(); ++d) {
      for (std::size_t i = 0; i < t.doubles[d].size(); ++i) {
        map_.emplace(t.doubles[d][i], TokenRef{static_cast<std::int8_t>(d), static_cast<std::uint8_t>(i)});
      }
    }
  }
  std::optional<TokenRef> find(std::string_view s) const noexcept {
    auto it = map_.find(s);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }
  const detail::TokenTable& table() const noexcept { return table_; }

 private:
  const detail::TokenTable& table_;
  std::unordered_map<std::string_view, TokenRef> map_;
};

const Index& index(Dict d) {
  static const Index v2(detail::kTokensV2);
  static const Index v3(detail::kTokensV3);
  return d == Dict::v2 ? v2 : v3;
}

}  // namespace

std::optional<Dict> dict_from_byte(std::uint8_t b) noexcept {
  if (b == 2) return Dict::v2;
  if (b == 3) return Dict::v3;
  return std::nullopt;
}

std::optional<TokenRef> find_token(Dict d, std::string_view s) noexcept { return index(d).find(s); }

std::optional<std::string_view> single_token(Dict d, std::uint8_t i) noexcept {
  const auto& t = index(d).table();
  if (i == 0 || i >= t.single.size()) return std::nullopt;
  return t.single[i];
}

std::optional<std::string_view> double_token(Dict d, std::uint8_t dict, std::uint8_t i) noexcept {
  const auto& t = index(d).table();
  if (dict >= t.doubles.size() || i >= t.doubles[dict].size()) return std::nullopt;
  return t.doubles[dict][i];
}

}  // namespace wa::wire
