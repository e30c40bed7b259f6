// SPDX-License-Identifier: MIT
// Private: the simulated phone's camera: the text of the QR code in a PNG picture (libpng + zbar).
#pragma once

#include <string>

#include "wa/core/bytes.hpp"
#include "wa/core/result.hpp"

namespace wa::sim::detail {

[[nodiscard]] Result<std::string> decode_qr_png(ByteView png);

}  // namespace wa::sim::detail
