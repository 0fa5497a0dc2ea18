// Client side of the governor's mTLS gRPC API (taogatectl, agents, tests,
// benchmarks): a channel that presents a client certificate and verifies the
// governor's certificate against a CA bundle.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "taogate/rpc/status.h"  // FromGrpc, for every caller of a channel

namespace taogate::rpc {

struct ClientTls {
  std::string ca_pem;    // CA bundle that signed the governor's certificate
  std::string cert_pem;  // our client certificate (URI SAN = our identity)
  std::string key_pem;
  // Name to verify in the governor's certificate instead of the host part of
  // the address (e.g. "localhost" when dialing 127.0.0.1).
  std::string server_name;
};

// Reads ca/cert/key PEM files into a ClientTls. NotFound/InvalidArgument.
absl::StatusOr<ClientTls> LoadClientTls(const std::string& ca_file, const std::string& cert_file,
                                        const std::string& key_file);

// A governor address: "host:port" (a DNS name resolves to every address it
// has), or several replicas as "IP:port,IP:port,..." (IP literals, all IPv4
// or all IPv6 in brackets). InvalidArgument naming what is wrong.
absl::Status ValidateGovernorAddress(const std::string& address);

// A channel to `address` (ValidateGovernorAddress). With several replicas
// (a list, or a name with several addresses) calls go to the first that
// answers and move to the next when it goes away: gRPC's own resolver and
// pick_first load balancing. Every replica's certificate must be valid
// for tls.server_name (for a list without one: the first address's host).
// Does not connect yet.
std::shared_ptr<grpc::Channel> MakeGovernorChannel(const std::string& address,
                                                   const ClientTls& tls);

}  // namespace taogate::rpc
