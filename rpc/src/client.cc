#include "taogate/rpc/client.h"

#include "taogate/rpc/tls_check.h"

namespace taogate::rpc {

absl::StatusOr<ClientTls> LoadClientTls(const std::string& ca_file, const std::string& cert_file,
                                        const std::string& key_file) {
  ClientTls t;
  auto ca = ReadPemFile(ca_file);
  if (!ca.ok()) return ca.status();
  auto cert = ReadPemFile(cert_file);
  if (!cert.ok()) return cert.status();
  auto key = ReadPemFile(key_file);
  if (!key.ok()) return key.status();
  t.ca_pem = *std::move(ca);
  t.cert_pem = *std::move(cert);
  t.key_pem = *std::move(key);
  return t;
}

std::shared_ptr<grpc::Channel> MakeGovernorChannel(const std::string& address,
                                                   const ClientTls& tls) {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = tls.ca_pem;
  o.pem_cert_chain = tls.cert_pem;
  o.pem_private_key = tls.key_pem;
  grpc::ChannelArguments args;
  if (!tls.server_name.empty()) args.SetSslTargetNameOverride(tls.server_name);
  // Each channel gets its own connection (benchmarks open many clients).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(o), args);
}

}  // namespace taogate::rpc
