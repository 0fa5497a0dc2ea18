// taogatectl certs: a development CA for the governor's mTLS.
//   certs init DIR [--dns N]... [--ip A]...   ca.crt ca.key server.crt server.key
//   certs client DIR --uri URI --name NAME    NAME.crt NAME.key (URI SAN = identity)
// Keys are ECDSA P-256, written mode 0600. Development only: production uses
// its own PKI (e.g. SPIRE-issued SVIDs).
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "command.h"
#include "taogate/common/strings.h"
#include "taogate/governance/x509.h"

namespace taogate::cli {
namespace {

namespace fs = std::filesystem;
using governance::CertAndKey;

bool WriteFileMode(const fs::path& p, const std::string& data, mode_t mode) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  return out.good() && chmod(p.c_str(), mode) == 0;
}

bool WritePair(const fs::path& dir, const std::string& name, const CertAndKey& ck) {
  if (!WriteFileMode(dir / (name + ".crt"), ck.cert_pem, 0644) ||
      !WriteFileMode(dir / (name + ".key"), ck.key_pem, 0600)) {
    Fail(StrCat("cannot write ", (dir / name).string(), ".{crt,key}"));
    return false;
  }
  std::cout << (dir / (name + ".crt")).string() << "\n";
  return true;
}

bool ReadCa(const fs::path& dir, CertAndKey* ca) {
  std::ifstream c(dir / "ca.crt"), k(dir / "ca.key");
  if (!c || !k) {
    Fail(StrCat("no ca.crt/ca.key in ", dir.string(), " (run `taogatectl certs init` first)"));
    return false;
  }
  std::stringstream cs, ks;
  cs << c.rdbuf();
  ks << k.rdbuf();
  ca->cert_pem = cs.str();
  ca->key_pem = ks.str();
  return true;
}

int Init(const std::string& dir, std::vector<std::string> dns, std::vector<std::string> ips,
         int days) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (fs::exists(fs::path(dir) / "ca.key")) return Fail(StrCat(dir, "/ca.key exists; not overwriting"));
  auto ca = governance::CreateCa("taogate development CA", days);
  if (!ca.ok()) return Fail(std::string(ca.status().message()));
  if (dns.empty() && ips.empty()) {
    dns = {"localhost"};
    ips = {"127.0.0.1"};
  }
  governance::CertSpec s;
  s.common_name = "taogate-governor";
  s.dns = dns;
  s.ips = ips;
  s.server = true;
  s.days = days;
  auto server = governance::IssueCert(*ca, s);
  if (!server.ok()) return Fail(std::string(server.status().message()));
  if (!WritePair(dir, "ca", *ca) || !WritePair(dir, "server", *server)) return 1;
  return 0;
}

int Client(const std::string& dir, const std::string& uri, const std::string& name, int days) {
  if (uri.find("://") == std::string::npos) return Fail("--uri must be a URI, e.g. spiffe://example.org/agent/x");
  CertAndKey ca;
  if (!ReadCa(dir, &ca)) return 1;
  governance::CertSpec s;
  s.common_name = name;
  s.uris = {uri};
  s.days = days;
  auto c = governance::IssueCert(ca, s);
  if (!c.ok()) return Fail(std::string(c.status().message()));
  return WritePair(dir, name, *c) ? 0 : 1;
}

void RegisterCerts(CLI::App& root) {
  auto* certs = root.add_subcommand("certs", "Development CA for the governor's mTLS");
  certs->require_subcommand(1);
  static std::string dir, uri, name;
  static std::vector<std::string> dns, ips;
  static int days = 30;
  auto* init = certs->add_subcommand("init", "Create ca.{crt,key} and server.{crt,key} in DIR");
  init->add_option("dir", dir, "output directory")->required();
  init->add_option("--dns", dns, "server DNS SAN (default localhost)");
  init->add_option("--ip", ips, "server IP SAN (default 127.0.0.1)");
  init->add_option("--days", days, "validity in days");
  init->callback([] { ExitCode() = Init(dir, dns, ips, days); });
  auto* client = certs->add_subcommand("client", "Issue NAME.{crt,key} whose URI SAN is the identity");
  client->add_option("dir", dir, "CA directory (from certs init)")->required();
  client->add_option("--uri", uri, "identity, e.g. spiffe://example.org/agent/reporter")->required();
  client->add_option("--name", name, "file name stem")->required();
  client->add_option("--days", days, "validity in days");
  client->callback([] { ExitCode() = Client(dir, uri, name, days); });
}

}  // namespace

TG_CLI_COMMAND(RegisterCerts);

}  // namespace taogate::cli
