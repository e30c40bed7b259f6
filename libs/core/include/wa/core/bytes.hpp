// SPDX-License-Identifier: MIT
// Byte containers: Bytes, ByteView, fixed-size arrays, SecretBytes (zeroed on free), hex helpers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wa/core/result.hpp"

namespace wa {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;
template <std::size_t N>
using ByteArray = std::array<std::uint8_t, N>;

inline ByteView as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_chars(ByteView b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline Bytes to_bytes(std::string_view s) { return {s.begin(), s.end()}; }
inline void append(Bytes& out, ByteView b) { out.insert(out.end(), b.begin(), b.end()); }

/// Overwrites memory in a way the optimiser may not remove.
void secure_zero(void* p, std::size_t n) noexcept;

/// Key material. Zeroed when destroyed or overwritten; never printed (operator<< shows "<redacted>").
template <std::size_t N>
class SecretArray final {
 public:
  SecretArray() noexcept { bytes_.fill(0); }
  explicit SecretArray(ByteView b) noexcept {
    bytes_.fill(0);
    for (std::size_t i = 0; i < N && i < b.size(); ++i) bytes_[i] = b[i];
  }
  SecretArray(const SecretArray&) = default;
  SecretArray& operator=(const SecretArray&) = default;
  ~SecretArray() { secure_zero(bytes_.data(), N); }
  std::uint8_t* data() noexcept { return bytes_.data(); }
  const std::uint8_t* data() const noexcept { return bytes_.data(); }
  static constexpr std::size_t size() noexcept { return N; }
  ByteView view() const noexcept { return {bytes_.data(), N}; }
  std::uint8_t& operator[](std::size_t i) noexcept { return bytes_[i]; }
  const std::uint8_t& operator[](std::size_t i) const noexcept { return bytes_[i]; }

 private:
  ByteArray<N> bytes_;
};

/// Variable-length key material, zeroed on free.
class SecretBytes final {
 public:
  SecretBytes() = default;
  explicit SecretBytes(ByteView b) : bytes_(b.begin(), b.end()) {}
  explicit SecretBytes(Bytes&& b) noexcept : bytes_(std::move(b)) {}
  SecretBytes(const SecretBytes&) = default;
  SecretBytes(SecretBytes&&) noexcept = default;
  SecretBytes& operator=(const SecretBytes& o) {
    if (this != &o) { wipe(); bytes_ = o.bytes_; }
    return *this;
  }
  SecretBytes& operator=(SecretBytes&& o) noexcept {
    if (this != &o) { wipe(); bytes_ = std::move(o.bytes_); }
    return *this;
  }
  ~SecretBytes() { wipe(); }
  ByteView view() const noexcept { return bytes_; }
  std::size_t size() const noexcept { return bytes_.size(); }
  const std::uint8_t* data() const noexcept { return bytes_.data(); }

 private:
  void wipe() noexcept { secure_zero(bytes_.data(), bytes_.size()); }
  Bytes bytes_;
};

std::string to_hex(ByteView b);
[[nodiscard]] Result<Bytes> from_hex(std::string_view s);

/// Standard base64 with padding (RFC 4648 §4); url = the URL-safe alphabet (§5), padding omitted.
std::string to_base64(ByteView b, bool url = false);
/// Accepts both alphabets, with or without padding; refuses anything else.
[[nodiscard]] Result<Bytes> from_base64(std::string_view s);

}  // namespace wa
