// SPDX-License-Identifier: MIT
// Certificate chain build/verify (protocol/README.md §2.1). The rules are whatsmeow's, the strictest client.
#include "wa/noise/cert.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <string>

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

// Chains whose two signatures verified, by exact bytes and root. A hit proves what the checks would prove:
// the same bytes under the same key give the same answer.
class VerifiedChains {
 public:
  bool contains(const crypto::PublicKey& root, ByteView chain) {
    std::lock_guard lock(mu_);
    return std::any_of(slots_.begin(), slots_.end(), [&](const Slot& s) {
      return s.used && s.root == root && s.chain.size() == chain.size() &&
             std::equal(chain.begin(), chain.end(), reinterpret_cast<const std::uint8_t*>(s.chain.data()));
    });
  }
  void add(const crypto::PublicKey& root, ByteView chain) {
    std::lock_guard lock(mu_);
    Slot& s = slots_[next_++ % slots_.size()];
    s.used = true;
    s.root = root;
    s.chain.assign(reinterpret_cast<const char*>(chain.data()), chain.size());
  }

 private:
  struct Slot {
    bool used = false;
    crypto::PublicKey root{};
    std::string chain;
  };
  std::mutex mu_;
  std::array<Slot, 8> slots_{};
  std::size_t next_ = 0;
};

VerifiedChains& verified_chains() {
  static VerifiedChains v;
  return v;
}

std::atomic<std::uint64_t> g_signature_checks{0};

bool checked(const crypto::PublicKey& key, const std::string& details, const std::string& signature) {
  g_signature_checks.fetch_add(1, std::memory_order_relaxed);
  return crypto::verify(key, as_bytes(details), as_bytes(signature));
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
  const bool known = verified_chains().contains(root, bytes);
  if (!known && !checked(root, inter.details(), inter.signature())) {
    return fail(errc::untrusted_cert, "intermediate not signed by the trusted root");
  }
  CertInfo info;
  WA_TRY(info.intermediate, from_details(inter.details(), "intermediate"));
  if (info.intermediate.issuer_serial != kRootIssuerSerial) {
    return fail(errc::wrong_issuer, "intermediate issuer serial " + std::to_string(info.intermediate.issuer_serial));
  }
  if (!known && !checked(info.intermediate.key, leaf.details(), leaf.signature())) {
    return fail(errc::bad_cert, "leaf not signed by the intermediate");
  }
  if (!known) verified_chains().add(root, bytes);
  WA_TRY(info.leaf, from_details(leaf.details(), "leaf"));
  if (info.leaf.issuer_serial != info.intermediate.serial) return fail(errc::wrong_issuer, "leaf issuer serial");
  if (info.leaf.key != server_static) return fail(errc::key_mismatch, "leaf key is not the server static key");
  if (!in_window(info.intermediate, now) || !in_window(info.leaf, now)) {
    return fail(errc::cert_expired, "now " + std::to_string(now));
  }
  return info;
}

std::uint64_t cert_signature_checks() noexcept { return g_signature_checks.load(std::memory_order_relaxed); }

}  // namespace wa::noise
