// Mints structurally valid, signed TAOs for tests: a fresh Ed25519 issuing
// key with a self-consistent (software-mode) issuer certificate.
#pragma once

#include <string>

#include "taogate/common/crypto.h"
#include "tao.pb.h"

namespace taogate::testing {

int64_t NowMs();

class TestIssuer {
 public:
  TestIssuer();
  const crypto::Ed25519PrivateKey& key() const { return key_; }
  std::array<uint8_t, 32> public_key() const { return key_.PublicKey(); }
  const std::string& certificate() const { return certificate_; }

  // A valid body: tcp 127.0.0.1:5432, node "node-a", cgroup 4242 in workload
  // path /taogate/w1, window now..now+60s.
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
