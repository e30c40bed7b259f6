// SPDX-License-Identifier: MIT
// Certificate chain build/verify (protocol/README.md §2.1). The rules are whatsmeow's, the strictest client.
#include "wa/noise/cert.hpp"

#include "wa.pb.h"
#include "wa/noise/handshake.hpp"

namespace wa::noise {
namespace {

using Details = pb::CertChain::NoiseCertificate::Details;

Details to_details(const CertSpec& s) {
  Details d;
  d.set_serial(s.serial);
  d.set_issuerserial(s.issuer_serial);
  d.set_key(s.key.data(), s.key.size());
  d.set_notbefore(s.not_before);
  d.set_notafter(s.not_after);
  return d;
}

Result<CertSpec> from_details(const std::string& bytes, const char* which) {
  Details d;
  if (!d.ParseFromString(bytes)) return fail(errc::bad_cert, std::string(which) + " details do not parse");
  if (d.key().size() != 32) return fail(errc::bad_cert, std::string(which) + " key is not 32 bytes");
  CertSpec s;
  s.serial = d.serial();
  s.issuer_serial = d.issuerserial();
  std::copy(d.key().begin(), d.key().end(), s.key.begin());
  s.not_before = d.notbefore();
  s.not_after = d.notafter();
  return s;
}

bool in_window(const CertSpec& s, std::uint64_t now) {
  return (s.not_before == 0 || s.not_before <= now) && (s.not_after == 0 || now <= s.not_after);
}

}  // namespace

Result<Bytes> build_cert_chain(const crypto::PrivateKey& root, const CertSpec& intermediate,
                               const crypto::PrivateKey& intermediate_priv, const CertSpec& leaf) {
  pb::CertChain chain;
  const std::string inter_details = to_details(intermediate).SerializeAsString();
  const std::string leaf_details = to_details(leaf).SerializeAsString();
  WA_TRY(auto inter_sig, crypto::sign(root, as_bytes(inter_details)));
  WA_TRY(auto leaf_sig, crypto::sign(intermediate_priv, as_bytes(leaf_details)));
  chain.mutable_intermediate()->set_details(inter_details);
  chain.mutable_intermediate()->set_signature(inter_sig.data(), inter_sig.size());
  chain.mutable_leaf()->set_details(leaf_details);
  chain.mutable_leaf()->set_signature(leaf_sig.data(), leaf_sig.size());
  const std::string out = chain.SerializeAsString();
  return to_bytes(out);
}

Result<CertInfo> verify_cert_chain(ByteView bytes, const crypto::PublicKey& root,
                                   const crypto::PublicKey& server_static, std::uint64_t now) {
  pb::CertChain chain;
  if (!chain.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return fail(errc::bad_cert, "CertChain does not parse");
  }
  if (!chain.has_intermediate() || !chain.has_leaf()) return fail(errc::bad_cert, "missing certificate");
  const auto& inter = chain.intermediate();
  const auto& leaf = chain.leaf();
  if (!inter.has_details() || !leaf.has_details() || inter.signature().size() != 64 ||
      leaf.signature().size() != 64) {
    return fail(errc::bad_cert, "missing details or 64-byte signature");
  }
  if (!crypto::verify(root, as_bytes(inter.details()), as_bytes(inter.signature()))) {
    return fail(errc::untrusted_cert, "intermediate not signed by the trusted root");
  }
  CertInfo info;
  WA_TRY(info.intermediate, from_details(inter.details(), "intermediate"));
  if (info.intermediate.issuer_serial != kRootIssuerSerial) {
    return fail(errc::wrong_issuer, "intermediate issuer serial " + std::to_string(info.intermediate.issuer_serial));
  }
  if (!crypto::verify(info.intermediate.key, as_bytes(leaf.details()), as_bytes(leaf.signature()))) {
    return fail(errc::bad_cert, "leaf not signed by the intermediate");
  }
  WA_TRY(info.leaf, from_details(leaf.details(), "leaf"));
  if (info.leaf.issuer_serial != info.intermediate.serial) return fail(errc::wrong_issuer, "leaf issuer serial");
  if (info.leaf.key != server_static) return fail(errc::key_mismatch, "leaf key is not the server static key");
  if (!in_window(info.intermediate, now) || !in_window(info.leaf, now)) {
    return fail(errc::cert_expired, "now " + std::to_string(now));
  }
  return info;
}

}  // namespace wa::noise
