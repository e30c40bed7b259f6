// SPDX-License-Identifier: MIT
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "wa/core/bytes.hpp"
#include "wa/core/errc.hpp"
#include "wa/core/result.hpp"

namespace wa {

Error& Error::wrap(std::string_view what) {
  std::string ctx(what);
  if (!context_.empty()) {
    ctx += ": ";
    ctx += context_;
  }
  context_ = std::move(ctx);
  return *this;
}

std::string Error::message() const {
  std::string m = code_.category().name();
  m += ": ";
  m += code_.message();
  if (!context_.empty()) {
    m += " (";
    m += context_;
    m += ")";
  }
  return m;
}

void detail_check_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "WA_CHECK failed: %s at %s:%d\n", what, file, line);
  std::abort();
}

void secure_zero(void* p, std::size_t n) noexcept {
  if (p == nullptr || n == 0) return;
  volatile auto* v = static_cast<volatile unsigned char*>(p);
  while (n-- > 0) *v++ = 0;
}

namespace core {
namespace {
class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "core"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::invalid_jid: return "invalid JID";
      case errc::invalid_hex: return "invalid hex";
      case errc::invalid_argument: return "invalid argument";
    }
    return "unknown core error";
  }
};
}  // namespace
const std::error_category& category() noexcept {
  static const Category c;
  return c;
}
}  // namespace core

std::string to_hex(ByteView b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(b.size() * 2, '\0');
  for (std::size_t i = 0; i < b.size(); ++i) {
    s[2 * i] = kDigits[b[i] >> 4];
    s[2 * i + 1] = kDigits[b[i] & 0x0F];
  }
  return s;
}

namespace {
int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Result<Bytes> from_hex(std::string_view s) {
  if (s.size() % 2 != 0) return fail(core::errc::invalid_hex, "odd length");
  Bytes out(s.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_value(s[2 * i]);
    const int lo = hex_value(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return fail(core::errc::invalid_hex, "bad character at " + std::to_string(2 * i));
    out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return out;
}

std::string to_base64(ByteView b, bool url) {
  static constexpr char kStd[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char* a = url ? kUrl : kStd;
  std::string out;
  out.reserve((b.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < b.size(); i += 3) {
    const unsigned v = (unsigned{b[i]} << 16) | (unsigned{b[i + 1]} << 8) | b[i + 2];
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    out += a[(v >> 6) & 63];
    out += a[v & 63];
  }
  if (i < b.size()) {
    const unsigned v = (unsigned{b[i]} << 16) | (i + 1 < b.size() ? unsigned{b[i + 1]} << 8 : 0u);
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    if (i + 1 < b.size()) out += a[(v >> 6) & 63];
    if (!url) out.append(i + 1 < b.size() ? 1 : 2, '=');
  }
  return out;
}

Result<Bytes> from_base64(std::string_view s) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::size_t end = s.size();
  while (end > 0 && s[end - 1] == '=' && s.size() - end < 2) --end;
  if ((s.size() != end && s.size() % 4 != 0) || end % 4 == 1) {
    return fail(core::errc::invalid_argument, "base64 length");
  }
  Bytes out;
  out.reserve(end * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < end; ++i) {
    const int v = value(s[i]);
    if (v < 0) return fail(core::errc::invalid_argument, "base64 character at " + std::to_string(i));
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return fail(core::errc::invalid_argument, "base64 trailing bits");
  return out;
}

}  // namespace wa
