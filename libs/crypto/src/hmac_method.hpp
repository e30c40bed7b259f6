// SPDX-License-Identifier: MIT
// Internal to wa_crypto: a new HMAC-SHA256 context, not yet keyed (EVP_MAC_init with the key and no params).
#pragma once

#include <openssl/types.h>

namespace wa::crypto::internal {
EVP_MAC_CTX* new_hmac_sha256();
}  // namespace wa::crypto::internal
