// SPDX-License-Identifier: MIT
// Frame reassembly and the connection header (protocol/README.md §1).
#include "wa/wire/frame.hpp"

#include <string>

#include "wa/wire/errc.hpp"

namespace wa::wire {
namespace {
constexpr std::uint8_t kMagic[3] = {'W', 'A', 6};  // "WA" + protocol magic 6
constexpr std::uint8_t kRoutingIntro[4] = {'E', 'D', 0, 1};  // edge-routing intro, then u24 length + bytes
constexpr std::size_t kMaxRoutingInfo = 4096;
}  // namespace

ByteArray<4> connection_header(Dict dict) noexcept {
  return {kMagic[0], kMagic[1], kMagic[2], static_cast<std::uint8_t>(dict)};
}

Status append_frame(Bytes& out, ByteView payload) {
  if (payload.empty()) return fail(errc::invalid_node, "empty frame");
  if (payload.size() > kMaxFrameSize) return fail(errc::too_large, "frame of " + std::to_string(payload.size()));
  const auto n = payload.size();
  out.push_back(static_cast<std::uint8_t>(n >> 16));
  out.push_back(static_cast<std::uint8_t>(n >> 8));
  out.push_back(static_cast<std::uint8_t>(n));
  out.insert(out.end(), payload.begin(), payload.end());
  return ok();
}

Status FrameReader::feed(ByteView chunk) {
  if (error_) return fail(*error_);
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > (1u << 16) && pos_ * 2 > buf_.size()) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  buf_.insert(buf_.end(), chunk.begin(), chunk.end());
  if (expect_header_) {
    auto st = parse_header();
    if (!st) {
      error_ = st.error();
      return st;
    }
  }
  return ok();
}

Status FrameReader::parse_header() {
  const ByteView b(buf_.data() + pos_, buf_.size() - pos_);
  std::size_t off = 0;
  // Optional "ED" 0 1 <u24 len> <routing info> before the WA header.
  if (!b.empty() && b[0] == kRoutingIntro[0]) {
    for (std::size_t i = 0; i < 4; ++i) {
      if (i < b.size() && b[i] != kRoutingIntro[i]) return fail(errc::bad_header, "bad routing intro");
    }
    if (b.size() < 7) return ok();
    const std::size_t len = (std::size_t{b[4]} << 16) | (std::size_t{b[5]} << 8) | b[6];
    if (len > kMaxRoutingInfo) return fail(errc::bad_header, "routing info too long");
    off = 7 + len;
    if (b.size() < off) return ok();
  }
  for (std::size_t i = 0; i < 3; ++i) {
    if (off + i < b.size() && b[off + i] != kMagic[i]) return fail(errc::bad_header, "not a WA header");
  }
  if (b.size() < off + kConnectionHeaderSize) return ok();
  auto dict = dict_from_byte(b[off + 3]);
  if (!dict) return fail(errc::unsupported_dictionary, "dictionary " + std::to_string(b[off + 3]));
  dict_ = *dict;
  pos_ += off + kConnectionHeaderSize;
  expect_header_ = false;
  return ok();
}

Result<std::optional<Bytes>> FrameReader::next() {
  if (error_) return fail(*error_);
  if (expect_header_) return std::optional<Bytes>{};
  if (buffered() < kFrameLengthSize) return std::optional<Bytes>{};
  const std::uint8_t* p = buf_.data() + pos_;
  const std::size_t len = (std::size_t{p[0]} << 16) | (std::size_t{p[1]} << 8) | p[2];
  if (buffered() < kFrameLengthSize + len) return std::optional<Bytes>{};
  Bytes frame(p + kFrameLengthSize, p + kFrameLengthSize + len);
  pos_ += kFrameLengthSize + len;
  if (pos_ == buf_.size()) {  // all taken: give the memory back rather than keep the largest message's size
    Bytes().swap(buf_);
    pos_ = 0;
  }
  return std::optional<Bytes>{std::move(frame)};
}

}  // namespace wa::wire
