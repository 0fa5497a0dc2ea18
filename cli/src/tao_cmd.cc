// taogatectl tao inspect FILE: prints a TAO as JSON after checking its
// structure and its signature against the issuing key in its certificate.
#include <fstream>
#include <iostream>
#include <sstream>

#include "taogate/common/strings.h"
#include "command.h"
#include "taogate/common/crypto.h"
#include "taogate/tao/certificate.h"
#include "taogate/tao/codec.h"
#include "taogate/tao/json.h"
#include "taogate/tao/signing.h"

namespace taogate::cli {
namespace {

int Inspect(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(StrCat(path, ": cannot open"));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string wire = ss.str();
  auto tao = tao::DecodeTao(wire);
  if (!tao.ok()) return Fail(StrCat(path, ": malformed TAO: ", tao.status().message()));
  auto body = tao::DecodeBody(tao->body());  // validated by DecodeTao already
  auto cert = tao::DecodeIssuerCertificate(tao->issuer_certificate());
  if (!cert.ok()) return Fail(StrCat(path, ": malformed certificate: ", cert.status().message()));
  absl::Status sig =
      tao::VerifyTaoSignature(*tao, *body, crypto::AsBytes(cert->body.issuing_public_key()));
  if (!sig.ok()) return Fail(StrCat(path, ": bad signature: ", sig.message()));
  std::cout << tao::TaoToJson(*tao, *body) << "\n";
  return 0;
}

void Register(CLI::App& root) {
  auto* tao_cmd = root.add_subcommand("tao", "Inspect TAOs");
  tao_cmd->require_subcommand(1);
  auto* inspect = tao_cmd->add_subcommand(
      "inspect", "Print a TAO's fields as JSON; non-zero if malformed or badly signed");
  static std::string file;
  inspect->add_option("FILE", file, "TAO file (binary Tao encoding)")->required();
  inspect->callback([] { ExitCode() = Inspect(file); });
}

}  // namespace
TG_CLI_COMMAND(Register);
}  // namespace taogate::cli
