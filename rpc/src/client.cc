#include "taogate/rpc/client.h"

#include <fstream>
#include <sstream>

#include "taogate/common/strings.h"

namespace taogate::rpc {
namespace {

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat("cannot read ", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::StatusOr<ClientTls> LoadClientTls(const std::string& ca_file, const std::string& cert_file,
                                        const std::string& key_file) {
  ClientTls t;
  auto ca = ReadAll(ca_file);
  if (!ca.ok()) return ca.status();
  auto cert = ReadAll(cert_file);
  if (!cert.ok()) return cert.status();
  auto key = ReadAll(key_file);
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
