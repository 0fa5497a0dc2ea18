// X.509 helpers for the governor's mTLS: a development CA (what
// `taogatectl certs` writes) and reading the actor identity out of a verified
// peer certificate. Keys are ECDSA P-256; certificates are X.509 v3 signed
// with SHA-256. Pure functions over PEM text; thread-safe.
//
// Development only: production deployments use their own PKI (e.g. SPIFFE
// SVIDs from SPIRE); the governor needs only the CA bundle, its own cert/key,
// and clients whose certificates carry exactly one URI SAN.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace taogate::governance {

struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;  // PKCS#8
};

struct CertSpec {
  std::string common_name;
  std::vector<std::string> uris;  // URI SANs, e.g. spiffe://example.org/agent/x
  std::vector<std::string> dns;   // DNS SANs
  std::vector<std::string> ips;   // IP SANs (literals)
  bool server = false;            // extendedKeyUsage serverAuth (else clientAuth)
  int days = 30;
  int not_before_offset_s = -60;  // tests make expired certs with negative days
};

// A server certificate spec (serverAuth) and a client one (clientAuth, one
// URI SAN = the identity).
CertSpec ServerSpec(std::string common_name, std::vector<std::string> dns,
                    std::vector<std::string> ips);
CertSpec ClientSpec(std::string common_name, std::string uri);

// A self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign).
absl::StatusOr<CertAndKey> CreateCa(std::string_view common_name, int days = 365);
// A leaf certificate signed by `ca`.
absl::StatusOr<CertAndKey> IssueCert(const CertAndKey& ca, const CertSpec& spec);

// The URI SANs of a PEM certificate, in order. InvalidArgument if the PEM
// does not parse.
absl::StatusOr<std::vector<std::string>> UriSansFromPem(std::string_view cert_pem);

}  // namespace taogate::governance
