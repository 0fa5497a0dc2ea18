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

// A channel to `address` ("host:port"). Does not connect yet.
std::shared_ptr<grpc::Channel> MakeGovernorChannel(const std::string& address,
                                                   const ClientTls& tls);

}  // namespace taogate::rpc
