// SPDX-License-Identifier: MIT
// Private to wasim: the simulated phone's Signal session with a companion device.
#pragma once

#include "wa/sim/network.hpp"

namespace wa::sim {

/// Starts the phone's session with companion `c` from the bundle it uploaded (consuming one of its
/// one-time prekeys) when there is none yet.
Status phone_session(Phone& p, const signal::Address& to, Companion& c);

/// The same with another account's phone (device 0), from the bundle the server hands out for it.
Status phone_session(Phone& p, Account& other);

/// One of the phone's one-time prekeys, handed out once; nullopt when they ran out.
std::optional<std::pair<std::uint32_t, crypto::PublicKey>> take_prekey(Phone& p);

/// What the phone lists for a decrypted (padded) Message: its kind and text, or why it could not be read.
void describe_plaintext(const Result<Bytes>& plain, PhoneMessage& pm);

/// The LID attributes the real server puts on a PN-addressed message stanza (Baileys 7 reads them in
/// extractAddressingContext): the author's LID as sender_lid (1:1) or participant_lid with
/// addressing_mode="pn" (groups); on the copy for the author's own devices also recipient_lid, the peer's.
void add_lid_attrs(wire::Node& stanza, const Account& author, const Account* peer, bool group);

}  // namespace wa::sim
