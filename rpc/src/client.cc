#include "taogate/rpc/client.h"

#include <arpa/inet.h>

#include <vector>

#include "taogate/common/strings.h"
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

namespace {

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t comma; (comma = s.find(',', start)) != std::string::npos; start = comma + 1)
    out.push_back(s.substr(start, comma - start));
  out.push_back(s.substr(start));
  return out;
}

// "ipv4:" or "ipv6:" for an IP literal with a port, "" otherwise.
std::string IpScheme(const std::string& hostport) {
  size_t colon = hostport.rfind(':');
  if (colon == std::string::npos || colon + 1 == hostport.size()) return "";
  for (char ch : hostport.substr(colon + 1))
    if (ch < '0' || ch > '9') return "";
  std::string host = hostport.substr(0, colon);
  in6_addr a6{};
  in_addr a4{};
  if (host.size() > 2 && host.front() == '[' && host.back() == ']' &&
      inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a6) == 1)
    return "ipv6";
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) return "ipv4";
  return "";
}

}  // namespace

absl::Status ValidateGovernorAddress(const std::string& address) {
  if (address.find(',') == std::string::npos) {
    size_t colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == address.size())
      return absl::InvalidArgumentError(StrCat("governor address '", address, "': expected host:port"));
    return absl::OkStatus();
  }
  std::string scheme;
  for (const std::string& one : SplitList(address)) {
    std::string s = IpScheme(one);
    if (s.empty())
      return absl::InvalidArgumentError(
          StrCat("governor address list: '", one,
                 "' is not IP:port (several replicas are IP literals; for names use one DNS name "
                 "with several addresses)"));
    if (!scheme.empty() && s != scheme)
      return absl::InvalidArgumentError("governor address list: all IPv4 or all IPv6");
    scheme = s;
  }
  return absl::OkStatus();
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
  // Several replicas: gRPC's default pick_first uses the first that answers
  // and, once it goes away, tries them in order again on the next call (a
  // connection lost leaves the channel idle, not backing off: a governor
  // restarted on its address is used at once).
  std::string target = address;
  if (address.find(',') != std::string::npos) {
    const std::string first = SplitList(address).front();
    target = StrCat(IpScheme(first), ":", address);
    // The certificate is checked against one name for every replica: the
    // configured server name, else the first address's host.
    if (tls.server_name.empty()) {
      std::string host = first.substr(0, first.rfind(':'));
      if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
      args.SetSslTargetNameOverride(host);
    }
  }
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(o), args);
}

}  // namespace taogate::rpc
