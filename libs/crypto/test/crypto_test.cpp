#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "wa/crypto/crypto.hpp"
#include "wa/crypto/curve.hpp"
#include "wa/crypto/media.hpp"

namespace wa::crypto {
namespace {

Bytes H(std::string_view s) { return *from_hex(s); }

TEST(Crypto, HkdfRfc5869Case1) {
  auto okm = hkdf_sha256(Bytes(22, 0x0b), H("000102030405060708090a0b0c"), H("f0f1f2f3f4f5f6f7f8f9"), 42);
  EXPECT_EQ(to_hex(okm.view()), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(Crypto, HmacRfc4231Case2) {
  EXPECT_EQ(to_hex(hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hmac_sha256(as_bytes("Jefe"), {as_bytes("what do ya "), as_bytes("want for nothing?")}),
            hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?")));
  EXPECT_EQ(to_hex(hmac_sha512(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))).substr(0, 32),
            "164b7a7bfcf819e2e395fbe73b56e0a3");
}

TEST(Crypto, Digests) {
  EXPECT_EQ(to_hex(sha256(as_bytes("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // buildHash of baileys 6.17.16's version string (protocol/README.md §4).
  EXPECT_EQ(to_hex(md5(as_bytes("2.3000.1019707846"))), "1c24b32925da6df1b1d672b61de4f238");
  // FIPS 180-1, appendix A.
  EXPECT_EQ(to_hex(sha1(as_bytes("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(Crypto, X25519Rfc7748) {
  auto alice = KeyPair::from_private(H("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  auto bob = KeyPair::from_private(H("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
  EXPECT_EQ(to_hex(alice.pub), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  EXPECT_EQ(to_hex(bob.pub), "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  auto s1 = shared_key(alice.priv, bob.pub);
  auto s2 = shared_key(bob.priv, alice.pub);
  ASSERT_TRUE(s1 && s2);
  EXPECT_EQ(to_hex(s1->view()), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  EXPECT_EQ(to_hex(s2->view()), to_hex(s1->view()));
  EXPECT_FALSE(shared_key(alice.priv, Bytes(32, 0)));  // low-order point
  EXPECT_FALSE(shared_key(alice.priv, Bytes(31, 1)));
  // From the key pair (the public half is not derived again): the same RFC 7748 secret, the same refusals.
  auto p1 = shared_key(alice, bob.pub);
  auto p2 = shared_key(bob, alice.pub);
  ASSERT_TRUE(p1 && p2);
  EXPECT_EQ(to_hex(p1->view()), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  EXPECT_EQ(to_hex(p2->view()), to_hex(p1->view()));
  EXPECT_FALSE(shared_key(alice, Bytes(32, 0)));
  EXPECT_FALSE(shared_key(alice, Bytes(31, 1)));
  for (int i = 0; i < 20; ++i) {  // random pairs agree with the private-key form
    auto a = KeyPair::generate(), b = KeyPair::generate();
    auto x = shared_key(a, b.pub), y = shared_key(b.priv, a.pub);
    ASSERT_TRUE(x && y);
    EXPECT_EQ(to_hex(x->view()), to_hex(y->view()));
  }
}

TEST(Crypto, XEdDSASignVerify) {
  auto kp = KeyPair::generate();
  auto sig = sign(kp.priv, as_bytes("hello"));
  ASSERT_TRUE(sig);
  EXPECT_TRUE(verify(kp.pub, as_bytes("hello"), *sig));
  EXPECT_FALSE(verify(kp.pub, as_bytes("hellO"), *sig));
  auto bad = *sig;
  bad[10] ^= 1;
  EXPECT_FALSE(verify(kp.pub, as_bytes("hello"), bad));
  EXPECT_FALSE(verify(KeyPair::generate().pub, as_bytes("hello"), *sig));
  EXPECT_FALSE(verify(kp.pub, as_bytes("hello"), ByteView(*sig).first(63)));
}

TEST(Crypto, AesGcmRoundTripAndTamper) {
  Bytes key(32, 7), iv(12, 1);
  auto ct = aes_gcm_encrypt(key, iv, as_bytes("aad"), as_bytes("secret"));
  ASSERT_TRUE(ct);
  EXPECT_EQ(ct->size(), 6u + 16u);
  EXPECT_EQ(as_chars(*aes_gcm_decrypt(key, iv, as_bytes("aad"), *ct)), "secret");
  EXPECT_EQ(aes_gcm_decrypt(key, iv, as_bytes("aaD"), *ct).error().code(), errc::auth_failed);
  auto t = *ct;
  t[0] ^= 1;
  EXPECT_EQ(aes_gcm_decrypt(key, iv, as_bytes("aad"), t).error().code(), errc::auth_failed);
  EXPECT_EQ(aes_gcm_decrypt(key, iv, {}, Bytes(5)).error().code(), errc::auth_failed);
  EXPECT_EQ(aes_gcm_encrypt(Bytes(16), iv, {}, {}).error().code(), errc::bad_key_size);
}

// The keyed context gives the same bytes as the one-shot function for every IV, survives a bad tag, and
// refuses the wrong direction.
TEST(Crypto, AesGcmKeyMatchesOneShotAcrossMessages) {
  Bytes key(32, 9);
  AesGcmKey enc(key, true), dec(key, false);
  ASSERT_TRUE(enc.valid() && dec.valid());
  for (std::uint8_t n = 0; n < 20; ++n) {
    Bytes iv(12, 0);
    iv[11] = n;
    const Bytes msg(static_cast<std::size_t>(n) * 37, static_cast<std::uint8_t>(n + 1));
    auto sealed = enc.seal(iv, msg);
    ASSERT_TRUE(sealed);
    EXPECT_EQ(*sealed, *aes_gcm_encrypt(key, iv, {}, msg)) << int(n);
    if (n % 5 == 3) {  // a tampered frame fails and the next one still opens
      Bytes bad = *sealed;
      bad.back() ^= 1;
      EXPECT_EQ(dec.open(iv, bad).error().code(), errc::auth_failed);
    }
    auto opened = dec.open(iv, *sealed);
    ASSERT_TRUE(opened) << int(n);
    EXPECT_EQ(*opened, msg);
  }
  EXPECT_FALSE(enc.open(Bytes(12), Bytes(20)));
  EXPECT_FALSE(dec.seal(Bytes(12), Bytes(3)));
  EXPECT_FALSE(AesGcmKey(Bytes(16), true).valid());
  EXPECT_FALSE(enc.seal(Bytes(11), Bytes(3)));
}

// Keys share one context per thread: interleaving many keys and directions on one thread, and the same keys
// on several threads at once, gives what each key alone gives.
TEST(Crypto, AesGcmKeysInterleavedOnOneThreadAndAcrossThreads) {
  std::vector<Bytes> keys;
  std::vector<AesGcmKey> enc, dec;
  for (std::uint8_t k = 0; k < 5; ++k) {
    keys.emplace_back(32, static_cast<std::uint8_t>(k + 1));
    enc.emplace_back(keys.back(), true);
    dec.emplace_back(keys.back(), false);
  }
  auto round = [&](int salt) {
    for (int n = 0; n < 40; ++n) {
      const std::size_t k = static_cast<std::size_t>((n * 3 + salt) % 5);
      Bytes iv(12, 0);
      iv[11] = static_cast<std::uint8_t>(n);
      iv[10] = static_cast<std::uint8_t>(salt);
      const Bytes msg(static_cast<std::size_t>(n) * 11, static_cast<std::uint8_t>(n ^ salt));
      auto sealed = enc[k].seal(iv, msg);
      if (!sealed || *sealed != *aes_gcm_encrypt(keys[k], iv, {}, msg)) return false;
      auto other = dec[(k + 1) % 5].open(iv, *sealed);  // the wrong key fails, and leaves nothing behind
      if (other || other.error().code() != errc::auth_failed) return false;
      auto opened = dec[k].open(iv, *sealed);
      if (!opened || *opened != msg) return false;
    }
    return true;
  };
  EXPECT_TRUE(round(0));
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 1; t <= 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        if (!round(t * 10 + i)) return;
      }
      ++good;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 4);
  AesGcmKey moved = std::move(enc[0]);  // a moved key keeps working
  EXPECT_TRUE(moved.seal(Bytes(12), Bytes(5)));
}

TEST(Crypto, AesCbcAndCtr) {
  Bytes key(32, 3), iv(16, 4);
  for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 1000u}) {
    Bytes p(n, 0x5a);
    auto c = aes_cbc_encrypt(key, iv, p);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->size(), (n / 16 + 1) * 16);
    EXPECT_EQ(*aes_cbc_decrypt(key, iv, *c), p);
  }
  EXPECT_EQ(aes_cbc_decrypt(key, iv, Bytes(15)).error().code(), errc::bad_padding);
  auto c = *aes_cbc_encrypt(key, iv, as_bytes("x"));
  c.back() ^= 0xff;
  EXPECT_FALSE(aes_cbc_decrypt(key, iv, c));
  auto x = aes_ctr(key, iv, as_bytes("counter mode"));
  EXPECT_EQ(as_chars(*aes_ctr(key, iv, *x)), "counter mode");
}

TEST(Media, RoundTripVerifiesEverything) {
  Bytes media_key(32, 9);
  Bytes plain(5000);
  for (std::size_t i = 0; i < plain.size(); ++i) plain[i] = static_cast<std::uint8_t>(i * 7);
  auto m = encrypt_media(plain, media_key, MediaType::image);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body.size(), (plain.size() / 16 + 1) * 16 + kMediaMacSize);
  EXPECT_EQ(m->file_sha256, sha256(plain));
  EXPECT_EQ(m->file_enc_sha256, sha256(m->body));
  MediaDigests d{m->file_sha256, m->file_enc_sha256};
  EXPECT_EQ(*decrypt_media(m->body, media_key, MediaType::image, d), plain);
  // Wrong type: other keys, so the MAC fails.
  EXPECT_EQ(decrypt_media(m->body, media_key, MediaType::video).error().code(), errc::auth_failed);
  auto t = m->body;
  t[3] ^= 1;
  EXPECT_EQ(decrypt_media(t, media_key, MediaType::image).error().code(), errc::auth_failed);
  EXPECT_EQ(decrypt_media(t, media_key, MediaType::image, d).error().code(), errc::hash_mismatch);
  EXPECT_EQ(media_hkdf_info(MediaType::ptt), "WhatsApp Audio Keys");
  EXPECT_EQ(media_type_from_name("document"), MediaType::document);
}

// Small requests come from a per-thread block of DRBG output (crypto.cpp): never the same bytes twice, across
// refills of the block, and large requests still work.
TEST(Crypto, RandomBytesAreNeverHandedOutTwice) {
  std::set<Bytes> seen;
  for (int i = 0; i < 3000; ++i) {  // 3000 x 16 bytes: dozens of refills of a 1 KB block
    const Bytes b = random_bytes(16);
    ASSERT_EQ(b.size(), 16u);
    EXPECT_TRUE(seen.insert(b).second) << "repeated at " << i;
  }
  const Bytes big = random_bytes(4096);
  EXPECT_EQ(big.size(), 4096u);
  EXPECT_NE(Bytes(big.begin(), big.begin() + 16), Bytes(big.begin() + 16, big.begin() + 32));
}

// A forked child must not hand out the bytes its parent will: the block is dropped in the child.
TEST(Crypto, AForkedChildDoesNotRepeatItsParentsRandomBytes) {
  (void)random_bytes(8);  // the block now holds unused bytes
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const Bytes b = random_bytes(32);
    const auto n = ::write(fds[1], b.data(), b.size());
    ::_exit(n == 32 ? 0 : 1);
  }
  ::close(fds[1]);
  const Bytes mine = random_bytes(32);
  Bytes child(32);
  std::size_t got = 0;
  while (got < child.size()) {
    const auto n = ::read(fds[0], child.data() + got, child.size() - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_EQ(got, 32u);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_NE(mine, child);
}

}  // namespace
}  // namespace wa::crypto
