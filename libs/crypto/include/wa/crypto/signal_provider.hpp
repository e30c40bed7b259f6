// SPDX-License-Identifier: MIT
// libsignal-protocol-c's crypto provider implemented over OpenSSL 3, and a process-wide signal_context
// that uses it. The Signal wrapper library (wa_signal) and XEdDSA here share it.
#pragma once

extern "C" {
#include <signal/signal_protocol.h>
}

namespace wa::crypto {

/// A provider whose callbacks use OpenSSL (CSPRNG, HMAC-SHA256, SHA-512, AES-CBC/PKCS5, AES-CTR).
signal_crypto_provider openssl_signal_provider() noexcept;
/// A signal_context with that provider, created once; safe to use from any thread for curve operations.
signal_context* shared_signal_context();

}  // namespace wa::crypto
