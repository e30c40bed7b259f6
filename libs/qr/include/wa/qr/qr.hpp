// SPDX-License-Identifier: MIT
// QR codes as pictures: the pairing QR string rendered to a PNG (libqrencode + libpng), for
// GET qr-code/image and for tools. Pure: bytes out, no I/O.
#pragma once

#include <string_view>

#include "wa/core/bytes.hpp"
#include "wa/core/result.hpp"

namespace wa::qr {

struct PngOptions {
  int scale = 8;   ///< pixels per module
  int margin = 4;  ///< quiet zone, in modules
};

/// A black-on-white greyscale PNG of text as a QR code (error correction level L, 8-bit mode).
[[nodiscard]] Result<Bytes> render_png(std::string_view text, PngOptions opt = {});

}  // namespace wa::qr
