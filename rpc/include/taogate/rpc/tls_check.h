// Checks of mTLS material before a daemon switches to it (certificate
// reload, docs/governor.md and docs/agent.md "Reload"): a new certificate and
// key are accepted only if they parse, belong together, are valid now and
// (given a CA bundle) chain to it. Pure functions over PEM text; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace taogate::rpc {

// What a ledger record says about a certificate.
struct CertInfo {
  std::string serial_hex;  // upper-case hex, as `openssl x509 -serial` prints it
  std::string not_after;   // RFC 3339 UTC, e.g. 2026-12-06T10:00:00Z
};

// `cert_pem`: the leaf first, then any intermediates. `key_pem`: its private
// key. `ca_pem`: if not empty and it holds the certificate that issued the
// top of the chain (by subject name), the chain must verify against it. A
// certificate from a CA the bundle does not name is not refused: a daemon's
// own CA file verifies its peers, and the peer (with its own CA file)
// decides about us; what is refused is a certificate that claims a known
// issuer and does not verify (a re-keyed CA, a forged or corrupt one).
// InvalidArgument saying which check failed: unparseable certificate or key,
// "private key does not match the certificate", expired / not yet valid,
// "does not chain to the CA bundle: <openssl reason>".
absl::StatusOr<CertInfo> CheckKeyPair(std::string_view cert_pem, std::string_view key_pem,
                                      std::string_view ca_pem);

// The whole file (a PEM file, a trust bundle): NotFound "cannot read PATH".
absl::StatusOr<std::string> ReadPemFile(const std::string& path);

// A PEM CA bundle: at least one certificate, every block parseable. Returns
// how many certificates it holds.
absl::StatusOr<int> CheckCaBundle(std::string_view ca_pem);

}  // namespace taogate::rpc
