// SPDX-License-Identifier: MIT
// Private to wasim: the simulated phone's Signal session with a companion device.
#pragma once

#include "wa/sim/network.hpp"

namespace wa::sim {

/// Starts the phone's session with companion `c` from the bundle it uploaded (consuming one of its
/// one-time prekeys) when there is none yet.
Status phone_session(Phone& p, const signal::Address& to, Companion& c);

/// What the phone lists for a decrypted (padded) Message: its kind and text, or why it could not be read.
void describe_plaintext(const Result<Bytes>& plain, PhoneMessage& pm);

}  // namespace wa::sim
