// Mints structurally valid, signed TAOs for tests: a fresh Ed25519 issuing
// key with a self-consistent (software-mode) issuer certificate.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "taogate/common/crypto.h"
#include "tao.pb.h"

namespace taogate::testing {

int64_t NowMs();

// The one valid TAO body of the tests and benchmarks: tcp 127.0.0.1:5432,
// actor spiffe://example.org/agent/reporter, node "node-a", cgroup 4242 in
// workload path /taogate/w1, db.read, one use, window now-1s..now+60s, random id
// and nonce. `issuer_key_id` all zero (the default) is what a signer that
// fills it in itself (keys::IssuingKeyManager::SignTao) expects.
v1::TaoBody ValidTaoBody(const std::array<uint8_t, 32>& issuer_key_id = {});

// The one issuer-certificate body: for `issuing_public_key` under the root
// whose key id is `root_key_id`, purpose tao-issuance, valid now-1m..now+1h.
v1::IssuerCertificateBody IssuerCertBody(const std::array<uint8_t, 32>& issuing_public_key,
                                         std::span<const uint8_t> root_key_id, bool software_mode);

class TestIssuer {
 public:
  TestIssuer();
  const crypto::Ed25519PrivateKey& key() const { return key_; }
  std::array<uint8_t, 32> public_key() const { return key_.PublicKey(); }
  const std::string& certificate() const { return certificate_; }

  // ValidTaoBody() naming this issuer's key.
  v1::TaoBody ValidBody() const;
  // Encodes and signs `body` (must be valid); aborts the test on failure.
  v1::Tao Sign(const v1::TaoBody& body) const;
  std::string SignToWire(const v1::TaoBody& body) const { return Sign(body).SerializeAsString(); }

 private:
  crypto::Ed25519PrivateKey key_;
  crypto::Ed25519PrivateKey root_;
  std::string certificate_;
};

}  // namespace taogate::testing
